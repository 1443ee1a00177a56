//! The route table: one list that builds the router and that the OpenAPI test checks
//! `docs/api/openapi.json` against, so the two cannot drift apart.

use std::sync::Arc;

use axum::Router;
use axum::routing::{MethodRouter, get, post};
use tokio::sync::Semaphore;

use crate::extract;
use crate::ledger_views;
use crate::prepare;
use crate::settlement_views;
use crate::state::{AppState, Backend, GatewayLimits, Shared};
use crate::submit;

/// Every route: method, path (axum and OpenAPI share the `{param}` syntax) and handler.
fn table() -> Vec<(&'static str, &'static str, MethodRouter<Shared>)> {
    vec![
        ("get", "/v1/identity", get(ledger_views::identity)),
        ("get", "/v1/chain", get(ledger_views::chain)),
        ("get", "/v1/blocks/{number}", get(ledger_views::block)),
        (
            "get",
            "/v1/transactions/{tx_id}",
            get(ledger_views::transaction),
        ),
        (
            "get",
            "/v1/transactions/{tx_id}/status",
            get(ledger_views::status),
        ),
        ("get", "/v1/events", get(ledger_views::events)),
        ("post", "/v1/proposals/prepare", post(prepare::prepare)),
        ("post", "/v1/proposals/endorse", post(submit::endorse)),
        ("post", "/v1/proposals/evaluate", post(submit::evaluate)),
        ("post", "/v1/transactions/submit", post(submit::submit)),
        ("post", "/v1/settlement/{function}", post(submit::invoke)),
        (
            "get",
            "/v1/settlement/agreement",
            get(settlement_views::agreement),
        ),
        (
            "get",
            "/v1/settlement/periods",
            get(settlement_views::periods),
        ),
        (
            "get",
            "/v1/settlement/periods/{period}",
            get(settlement_views::period),
        ),
        (
            "get",
            "/v1/settlement/periods/{period}/lines",
            get(settlement_views::lines),
        ),
        (
            "get",
            "/v1/settlement/periods/{period}/lines/{line_no}/history",
            get(settlement_views::line_history),
        ),
        (
            "get",
            "/v1/settlement/periods/{period}/adjustments/{adjustment_id}",
            get(settlement_views::adjustment),
        ),
        (
            "get",
            "/v1/settlement/periods/{period}/audit",
            get(settlement_views::audit),
        ),
        (
            "get",
            "/v1/settlement/periods/{period}/final",
            get(settlement_views::final_data),
        ),
        (
            "get",
            "/v1/settlement/periods/{period}/export",
            get(settlement_views::export),
        ),
    ]
}

/// Every route as `(method, path)`, lowercase method, in table order.
pub fn route_table() -> Vec<(&'static str, &'static str)> {
    table()
        .into_iter()
        .map(|(method, path, _)| (method, path))
        .collect()
}

/// The router over `backend` with `limits`; connections add the caller's
/// authentication as a request extension.
pub fn router(backend: Backend, limits: GatewayLimits) -> Router {
    let limits = limits.capped();
    let state = Arc::new(AppState {
        backend,
        limits,
        subscribers: Arc::new(Semaphore::new(limits.sse_subscribers_max)),
    });
    let mut router = Router::new();
    for (_, path, handler) in table() {
        router = router.route(path, handler);
    }
    router
        .fallback(extract::no_route)
        .layer(axum::middleware::from_fn(extract::timeout))
        .with_state(state)
}
