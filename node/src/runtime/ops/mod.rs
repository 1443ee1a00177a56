//! The operations listener (`[operations]`): what a running node shows its operators, over
//! plain HTTP/1.1 on the carrier's management network.
//!
//! - `/healthz`: 200 while the node runs its roles, 503 once it is shutting down.
//! - `/readyz`: 200 only when the roles have started, the ledger is open, the node is
//!   connected to other nodes and (for an orderer) a Raft leader is known; otherwise 503
//!   with a JSON body naming each check that failed.
//! - `/metrics`: the node's metrics in the Prometheus text format (`metrics`).
//!
//! Anything else is 404; a request with a body is refused (413) and a request head larger
//! than hyper's buffer is refused by hyper: these routes take no input. Connections are
//! bounded and time out while sending their head, like the console's listener. The
//! listener is plain HTTP on purpose: Prometheus and load balancers probe it, and it
//! carries nothing secret; it must never face the other carrier or the internet.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context as _, Result};
use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use netsettle_ledger::Ledger;
use netsettle_orderer::OrdererHandle;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

pub mod certs;
mod follow;
pub mod metrics;

use self::metrics::{Connections, Metrics};

/// Operations connections open at once; more are closed at accept. Scrapers and probes
/// hold one or two each.
const CONNECTIONS_MAX: usize = 32;
/// How long a client may take to send a request head.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest request body accepted: none (every route is a GET without input).
const REQUEST_BODY_BYTES_MAX: u64 = 0;

/// What `/readyz` looks at; each part is `None` when the node does not run that role.
pub struct Probes {
    /// Set once every role has started (the readiness line is out).
    pub started: AtomicBool,
    /// The peer's ledger, or the orderer's chain.
    pub ledger: Option<Arc<Ledger>>,
    /// The orderer role, whose Raft status names the leader.
    pub orderer: Option<OrdererHandle>,
    /// The node's connections, when it runs the network.
    pub connections: Option<Arc<Connections>>,
}

impl Probes {
    /// The checks that fail now, by name with the reason; empty when ready.
    fn not_ready(&self) -> Vec<(&'static str, String)> {
        let mut failed = Vec::new();
        if !self.started.load(Ordering::Acquire) {
            failed.push(("roles", "the roles are still starting".to_owned()));
        }
        if let Some(ledger) = &self.ledger
            && let Err(error) = ledger.chain_info()
        {
            failed.push(("ledger", format!("the ledger cannot be read: {error}")));
        }
        if let Some(connections) = &self.connections
            && connections.n_connected() == 0
        {
            failed.push(("peers", "connected to no other node".to_owned()));
        }
        if let Some(orderer) = &self.orderer
            && orderer.status().borrow().leader_id == 0
        {
            failed.push(("raft_leader", "no Raft leader known".to_owned()));
        }
        failed
    }
}

struct Shared {
    probes: Arc<Probes>,
    metrics: Arc<Metrics>,
    shutdown: watch::Receiver<bool>,
}

/// Binds the operations listener and serves it as a role of the node until `shutdown`.
/// The address it listens on (port 0 picks one).
pub async fn start(
    listen: SocketAddr,
    probes: Arc<Probes>,
    metrics: Arc<Metrics>,
    shutdown: &watch::Receiver<bool>,
    roles: &mut JoinSet<Result<()>>,
) -> Result<SocketAddr> {
    let listener = TcpListener::bind(listen)
        .await
        .with_context(|| format!("operations: binding {listen}"))?;
    let address = listener
        .local_addr()
        .context("reading the operations address")?;
    let router = router(Arc::new(Shared {
        probes,
        metrics,
        shutdown: shutdown.clone(),
    }));
    let stop = shutdown.clone();
    roles.spawn(async move {
        accept_loop(listener, router, stop).await;
        Ok(())
    });
    tracing::info!(%address, "operations listener started");
    Ok(address)
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .fallback(not_found)
        .layer(axum::middleware::from_fn(refuse_bodies))
        .with_state(shared)
}

async fn healthz(State(shared): State<Arc<Shared>>) -> Response {
    if *shared.shutdown.borrow() {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n").into_response();
    }
    (StatusCode::OK, "ok\n").into_response()
}

async fn readyz(State(shared): State<Arc<Shared>>) -> Response {
    let failed = shared.probes.not_ready();
    let checks: serde_json::Map<String, serde_json::Value> = failed
        .iter()
        .map(|(name, reason)| ((*name).to_owned(), serde_json::Value::from(reason.as_str())))
        .collect();
    let status = if failed.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = serde_json::json!({ "ready": failed.is_empty(), "not_ready": checks });
    (status, axum::Json(body)).into_response()
}

async fn metrics_text(State(shared): State<Arc<Shared>>) -> Response {
    // Some collectors read RocksDB (the notices outbox): off the async workers.
    let metrics = Arc::clone(&shared.metrics);
    match tokio::task::spawn_blocking(move || metrics.encode()).await {
        Ok(Ok(text)) => (
            [(header::CONTENT_TYPE, metrics::CONTENT_TYPE)],
            Body::from(text),
        )
            .into_response(),
        Ok(Err(error)) => {
            tracing::warn!(%error, "encoding the metrics failed");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
        Err(error) => {
            tracing::warn!(%error, "the metrics task failed");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

async fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "not found\n").into_response()
}

/// Every route is a GET without input: a request announcing a body (a length over
/// [`REQUEST_BODY_BYTES_MAX`], or a chunked one) is refused before any handler runs.
async fn refuse_bodies(request: Request<Body>, next: axum::middleware::Next) -> Response {
    let headers = request.headers();
    let length = headers.get(header::CONTENT_LENGTH).map(|value| {
        value
            .to_str()
            .ok()
            .and_then(|text| text.parse::<u64>().ok())
    });
    let oversize = match length {
        Some(Some(bytes)) => bytes > REQUEST_BODY_BYTES_MAX,
        Some(None) => true,
        None => headers.contains_key(header::TRANSFER_ENCODING),
    };
    if oversize {
        return (
            StatusCode::PAYLOAD_TOO_LARGE,
            "request bodies are refused\n",
        )
            .into_response();
    }
    next.run(request).await
}

async fn accept_loop(listener: TcpListener, router: Router, mut stopped: watch::Receiver<bool>) {
    let slots = Arc::new(Semaphore::new(CONNECTIONS_MAX));
    let mut tasks = JoinSet::new();
    loop {
        let (tcp, remote) = tokio::select! {
            _ = stopped.wait_for(|stop| *stop) => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::warn!(%error, "operations accept");
                    continue;
                }
            },
        };
        while tasks.try_join_next().is_some() {}
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            tracing::info!(%remote, "operations connection limit reached; closing");
            continue;
        };
        let service = TowerToHyperService::new(router.clone());
        tasks.spawn(async move {
            let _slot = slot;
            let served = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT)
                .serve_connection(TokioIo::new(tcp), service)
                .await;
            if let Err(error) = served {
                tracing::debug!(%remote, %error, "operations connection ended");
            }
        });
    }
    tasks.shutdown().await;
}
