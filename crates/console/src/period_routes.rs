//! The read-only routes of one period: its page, its timeline and the finance export.
//! Each reads the contract through the SDK as the user's role identity, and shows only
//! what those typed views hold.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use netsettle_client::settlement::PeriodView;
use netsettle_client::{ClientError, Settlement};
use netsettle_settlement::api::ExportFormat;
use netsettle_settlement::units::Period;

use netsettle_settlement::reconcile::ReconciledLine;
use netsettle_settlement::workflow::Adjustment;

use crate::html::Flash;
use crate::limits::{PENDING_SHOWN_MAX, TIMELINE_LOCATED_MAX};
use crate::period::Filter;
use crate::period_html::{self, Actions, PeriodPage, TimelineEntry};
use crate::server::{Refused, Shared, error_page, html_response, redirect, session};

/// The period of a path, or the 404 to answer.
fn parse_period(text: &str) -> Result<Period, Refused> {
    text.parse::<Period>().map_err(|_| {
        Refused(
            StatusCode::NOT_FOUND,
            "no such period: the path takes YYYY-MM",
        )
    })
}

/// The page for a failed upstream call: the contract's refusal (with its status) or an
/// unreachable consortium.
pub(crate) fn upstream_error(what: &str, error: &ClientError) -> Response {
    tracing::warn!(%error, what, "consortium call");
    let status = match error.status() {
        Some(404) => StatusCode::NOT_FOUND,
        Some(403) => StatusCode::FORBIDDEN,
        Some(409) => StatusCode::CONFLICT,
        Some(_) => StatusCode::BAD_REQUEST,
        None => StatusCode::BAD_GATEWAY,
    };
    error_page(status, &format!("{what}: {error}"))
}

/// What the period page shows, read through the SDK.
struct Loaded {
    view: PeriodView,
    lines: Option<Vec<ReconciledLine>>,
    pending: Vec<Adjustment>,
}

async fn load(sdk: &Settlement<'_>, period: Period, filter: &Filter) -> Result<Loaded, Response> {
    let view = sdk
        .status(period)
        .await
        .map_err(|error| upstream_error("period_get", &error))?;
    let reconciled = view.state.as_ref().is_some_and(|s| s.version > 0);
    let lines = if reconciled {
        let lines = sdk
            .lines(period, filter.open_only())
            .await
            .map_err(|error| upstream_error("lines_get", &error))?;
        Some(lines.lines)
    } else {
        None
    };
    let pending = pending(sdk, period, lines.as_deref())
        .await
        .map_err(|error| upstream_error("adjustment_get", &error))?;
    Ok(Loaded {
        view,
        lines,
        pending,
    })
}

/// `GET /periods/{period}`.
pub(crate) async fn period_page(
    State(shared): State<Arc<Shared>>,
    Path(period): Path<String>,
    Query(filter): Query<Filter>,
    headers: HeaderMap,
) -> Response {
    let Some((token, session)) = session(&shared, &headers) else {
        return redirect("/login");
    };
    let period = match parse_period(&period) {
        Ok(period) => period,
        Err(refused) => return refused.into_response(),
    };
    if filter.too_long() {
        return error_page(StatusCode::BAD_REQUEST, "the search text is too long");
    }
    let flash = shared
        .sessions
        .lock()
        .ok()
        .and_then(|mut sessions| sessions.take_flash(&token));
    let (gateway, signer) = match shared.upstream.connection(session.role).await {
        Ok(connection) => connection,
        Err(error) => return upstream_error("connecting", &error),
    };
    let sdk = Settlement::new(gateway, signer);
    let loaded = match load(&sdk, period, &filter).await {
        Ok(loaded) => loaded,
        Err(response) => return response,
    };
    let actions = Actions {
        role: session.role,
        own: loaded.view.side_of(sdk.msp_id()),
        pending: loaded.pending,
    };
    let name = period.to_string();
    let data = PeriodPage {
        period: &name,
        view: &loaded.view,
        lines: loaded.lines.as_deref(),
        filter: &filter,
        actions: &actions,
    };
    let user = (
        session.user.as_str(),
        session.role.name(),
        session.csrf.as_str(),
    );
    let flash = flash.as_ref().map(|(ok, text)| Flash {
        class: if *ok { "ok" } else { "error" },
        text,
    });
    match period_html::period_page(&data, user, flash) {
        Ok(body) => html_response(StatusCode::OK, body),
        Err(error) => error_page(StatusCode::INTERNAL_SERVER_ERROR, &error.to_string()),
    }
}

/// The adjustments the lines name as awaiting a decision (the first
/// [`PENDING_SHOWN_MAX`]).
async fn pending(
    sdk: &Settlement<'_>,
    period: Period,
    lines: Option<&[ReconciledLine]>,
) -> Result<Vec<Adjustment>, ClientError> {
    let ids = lines
        .unwrap_or_default()
        .iter()
        .filter_map(|line| line.pending_adjustment)
        .take(PENDING_SHOWN_MAX);
    let mut pending = Vec::new();
    for id in ids {
        pending.push(sdk.adjustment(period, id).await?);
    }
    Ok(pending)
}

/// `GET /periods/{period}/timeline`.
pub(crate) async fn timeline(
    State(shared): State<Arc<Shared>>,
    Path(period): Path<String>,
    headers: HeaderMap,
) -> Response {
    let Some((_, session)) = session(&shared, &headers) else {
        return redirect("/login");
    };
    let period = match parse_period(&period) {
        Ok(period) => period,
        Err(refused) => return refused.into_response(),
    };
    let (gateway, signer) = match shared.upstream.connection(session.role).await {
        Ok(connection) => connection,
        Err(error) => return upstream_error("connecting", &error),
    };
    let sdk = Settlement::new(gateway, signer);
    let entries = match sdk.audit_trail(period).await {
        Ok(entries) => entries,
        Err(error) => return upstream_error("audit_get", &error),
    };
    let mut located = Vec::with_capacity(entries.len());
    // Once no own peer answers, the rest is shown without blocks rather than waiting on
    // an unreachable peer once per entry.
    let mut lookups = true;
    for (index, entry) in entries.iter().enumerate() {
        let block = if lookups && index < TIMELINE_LOCATED_MAX {
            shared
                .upstream
                .block_of(gateway, sdk.msp_id(), entry.tx_id)
                .await
        } else {
            None
        };
        lookups &= block.is_some();
        located.push(TimelineEntry { entry, block });
    }
    let user = (
        session.user.as_str(),
        session.role.name(),
        session.csrf.as_str(),
    );
    html_response(
        StatusCode::OK,
        period_html::timeline(&period.to_string(), &located, user),
    )
}

/// `GET /periods/{period}/export.csv` and `export.json`: the contract's finance export,
/// as the SDK writes it (byte-identical for both carriers).
pub(crate) async fn export(
    shared: &Shared,
    headers: &HeaderMap,
    period: &str,
    format: ExportFormat,
) -> Response {
    let Some((_, session)) = session(shared, headers) else {
        return redirect("/login");
    };
    let period = match parse_period(period) {
        Ok(period) => period,
        Err(refused) => return refused.into_response(),
    };
    let (gateway, signer) = match shared.upstream.connection(session.role).await {
        Ok(connection) => connection,
        Err(error) => return upstream_error("connecting", &error),
    };
    let bytes = match Settlement::new(gateway, signer)
        .export(period, format)
        .await
    {
        Ok(bytes) => bytes,
        Err(error) => return upstream_error("export", &error),
    };
    let (content_type, extension) = match format {
        ExportFormat::Csv => ("text/csv; charset=utf-8", "csv"),
        ExportFormat::Json => ("application/json", "json"),
    };
    let disposition = format!("attachment; filename=\"settlement-{period}.{extension}\"");
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        bytes,
    )
        .into_response()
}

/// `GET /periods/{period}/export.csv`.
pub(crate) async fn export_csv(
    State(shared): State<Arc<Shared>>,
    Path(period): Path<String>,
    headers: HeaderMap,
) -> Response {
    export(&shared, &headers, &period, ExportFormat::Csv).await
}

/// `GET /periods/{period}/export.json`.
pub(crate) async fn export_json(
    State(shared): State<Arc<Shared>>,
    Path(period): Path<String>,
    headers: HeaderMap,
) -> Response {
    export(&shared, &headers, &period, ExportFormat::Json).await
}
