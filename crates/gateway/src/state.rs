//! What the handlers work with: the local peer (ledger reads, queries, commit waits),
//! the client connection that endorses at both carriers and orders (absent on a
//! read-only gateway), the carrier's signing identities, and the runtime limits.

use core::time::Duration;
use std::sync::Arc;

use netsettle_client::{Gateway as ClientGateway, Signer};
use netsettle_peer::service::PeerHandle;
use netsettle_protocol::ContractId;
use tokio::sync::Semaphore;

use crate::limits;

/// The carrier's identities the gateway signs with for its own carrier's callers.
pub struct Signers {
    /// The settlement system's identity (department=settlement): workflow steps and
    /// the queries behind the settlement views.
    pub settlement: Signer,
    /// The finance identity (department=finance), used when the caller's certificate
    /// carries `department=finance`; `None`: finance callers are refused.
    pub finance: Option<Signer>,
}

/// The runtime bounds, each at most its maximum in [`crate::limits`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GatewayLimits {
    /// Open connections at once.
    pub connections_max: usize,
    /// Open connections from one source address.
    pub connections_per_address_max: usize,
    /// Largest request body (413 above).
    pub body_bytes_max: usize,
    /// Event-stream subscribers at once (503 above).
    pub sse_subscribers_max: usize,
    /// Time a new connection has for its TLS handshake and then for each request's
    /// headers; it is closed past it.
    pub header_read_timeout: Duration,
    /// How long a subscriber's event queue may stay full before it is dropped.
    pub sse_stall: Duration,
}

impl Default for GatewayLimits {
    fn default() -> Self {
        GatewayLimits {
            connections_max: limits::CONNECTIONS_MAX,
            connections_per_address_max: limits::CONNECTIONS_PER_ADDRESS_MAX,
            body_bytes_max: limits::REQUEST_BODY_BYTES_DEFAULT,
            sse_subscribers_max: limits::SSE_SUBSCRIBERS_MAX,
            header_read_timeout: limits::HEADER_READ_TIMEOUT,
            sse_stall: limits::SSE_STALL_MAX,
        }
    }
}

impl GatewayLimits {
    /// These limits, each capped at its maximum and at least 1 (a timeout at least
    /// [`limits::TIMEOUT_MIN`]).
    pub fn capped(self) -> Self {
        let cap = |value: usize, max: usize| value.clamp(1, max);
        let cap_time = |value: Duration, max: Duration| value.clamp(limits::TIMEOUT_MIN, max);
        GatewayLimits {
            connections_max: cap(self.connections_max, limits::CONNECTIONS_MAX),
            connections_per_address_max: cap(
                self.connections_per_address_max,
                limits::CONNECTIONS_PER_ADDRESS_MAX,
            ),
            body_bytes_max: cap(self.body_bytes_max, limits::REQUEST_BODY_BYTES_MAX),
            sse_subscribers_max: cap(self.sse_subscribers_max, limits::SSE_SUBSCRIBERS_MAX),
            header_read_timeout: cap_time(self.header_read_timeout, limits::HEADER_READ_TIMEOUT),
            sse_stall: cap_time(self.sse_stall, limits::SSE_STALL_MAX),
        }
    }
}

/// Everything behind the routes.
pub struct Backend {
    /// The peer this gateway runs beside.
    pub peer: PeerHandle,
    /// The connection that endorses at both carriers and broadcasts; `None` for a
    /// gateway that serves views and events only (submission routes answer 503).
    pub client: Option<Arc<ClientGateway>>,
    /// The carrier's signing identities.
    pub signers: Signers,
    /// The contract the settlement routes call.
    pub contract: ContractId,
}

impl Backend {
    /// The gateway's own organisation: its settlement identity's.
    pub fn msp_id(&self) -> &str {
        &self.signers.settlement.identity().msp_id
    }
}

/// The state every handler shares.
pub(crate) struct AppState {
    pub backend: Backend,
    pub limits: GatewayLimits,
    pub subscribers: Arc<Semaphore>,
}

pub(crate) type Shared = Arc<AppState>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configured_limits_are_capped_at_the_maxima() {
        let wild = GatewayLimits {
            connections_max: usize::MAX,
            connections_per_address_max: 0,
            body_bytes_max: usize::MAX,
            sse_subscribers_max: 3,
            header_read_timeout: Duration::from_secs(3600),
            sse_stall: Duration::ZERO,
        }
        .capped();
        assert_eq!(wild.connections_max, limits::CONNECTIONS_MAX);
        assert_eq!(wild.connections_per_address_max, 1);
        assert_eq!(wild.body_bytes_max, limits::REQUEST_BODY_BYTES_MAX);
        assert_eq!(wild.sse_subscribers_max, 3);
        assert_eq!(wild.header_read_timeout, limits::HEADER_READ_TIMEOUT);
        assert_eq!(wild.sse_stall, limits::TIMEOUT_MIN);
        assert_eq!(GatewayLimits::default().capped(), GatewayLimits::default());
    }
}
