//! The netsettle HTTP gateway: JSON over HTTPS on SM-TLS for the carriers' systems
//! (mostly Java) and staff tools, served by the peer role when its config enables it.
//!
//! - [`auth`]: the client certificate is the caller's identity. The TLS handshake
//!   (TLS 1.3, `TLS_SM4_GCM_SM3` only, our rustls provider) requires it, chained to an
//!   MSP root of the channel config in force and not on an organisation's CRL; the
//!   channel's MSPs then name the [`Caller`] (organisation, role, CN, `name=value`
//!   attribute OUs such as `department=finance`).
//! - [`routes`]: the route table (see `docs/api/README.md` and `docs/api/openapi.json`).
//! - Submission, two ways as Fabric Gateway: caller-signed (prepare → the caller signs
//!   the proposal → endorse → the caller signs the payload → submit, or endorse from a
//!   `SignedProposal` the caller encoded itself; the caller's key never reaches the
//!   gateway, which never signs on this path) and
//!   gateway-signed (`POST /v1/settlement/{function}`: the carrier's settlement or
//!   finance identity signs for the carrier's own authenticated client users, the
//!   caller's CN goes into the request's `on_behalf_of`).
//! - Views: ledger reads straight from the peer's ledger (blocks, transactions, commit
//!   status, height), settlement views as contract queries at the local peer.
//! - [`events`]: Server-Sent Events from a height, ids `B-T-E` / `B-end`, resumable with
//!   `Last-Event-ID`.
//! - [`notices`]: notices for the carrier's own staff derived from committed settlement
//!   events (whose move it is) and deadline reminders, who receives which, and the
//!   notifier that keeps them in the ledger's outbox and delivers them (signed webhook,
//!   SMS platform request) with retries.
//! - [`server`]: the listener with connection limits; [`limits`]: every bound.
//!
//! What it leaves out: signing for anyone but its own carrier's authenticated users;
//! HTTP/2; serving without client certificates. Ordering and validation stay with the
//! orderers and peers: the gateway endorses and relays through `netsettle-client`.

pub mod auth;
mod error;
pub mod events;
mod extract;
mod ledger_views;
pub mod limits;
pub mod notices;
mod prepare;
pub mod routes;
pub mod server;
mod settlement_views;
mod state;
mod submit;

use std::net::SocketAddr;
use std::sync::Arc;

use netsettle_smtls::TlsIdentity;
use tokio::net::TcpListener;
use tokio::sync::watch;

pub use auth::{Authenticator, Caller};
pub use error::{ApiError, GatewayError};
pub use routes::{route_table, router};
pub use state::{Backend, GatewayLimits, Signers};
pub use submit::GATEWAY_SIGNED_FUNCTIONS;

/// A started gateway.
pub struct RunningGateway {
    /// The address it listens on.
    pub local_addr: SocketAddr,
    /// The listener and the channel follower; they end when the shutdown signal turns.
    pub tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// Binds `listen` and serves the gateway over `backend`, presenting `tls` (the node's
/// TLS identity) to callers, until `shutdown` turns true.
pub async fn start(
    listen: SocketAddr,
    tls: TlsIdentity,
    backend: Backend,
    limits: GatewayLimits,
    shutdown: watch::Receiver<bool>,
) -> Result<RunningGateway, GatewayError> {
    let peer = backend.peer.clone();
    let authenticator = Arc::new(Authenticator::new(tls, peer.channel())?);
    let listener = TcpListener::bind(listen)
        .await
        .map_err(|source| GatewayError::Bind {
            address: listen,
            source,
        })?;
    let local_addr = listener.local_addr().map_err(|source| GatewayError::Bind {
        address: listen,
        source,
    })?;
    let router = router(backend, limits);
    let follow = tokio::spawn(server::follow_channel(
        peer,
        Arc::clone(&authenticator),
        shutdown.clone(),
    ));
    let serve = tokio::spawn(server::serve(
        listener,
        authenticator,
        router,
        limits,
        shutdown,
    ));
    Ok(RunningGateway {
        local_addr,
        tasks: vec![serve, follow],
    })
}
