//! The gateway's errors: [`GatewayError`] for starting it, [`ApiError`] for one request,
//! answered as `{"error": "...", "code": N}` with `N` the HTTP status.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// Why the gateway could not start or stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GatewayError {
    /// The listen address could not be bound.
    #[error("binding {address}: {source}")]
    Bind {
        /// The address.
        address: std::net::SocketAddr,
        /// The socket error.
        source: std::io::Error,
    },
    /// The channel config gives no usable client trust (no roots, a bad CRL).
    #[error("channel trust: {0}")]
    Trust(String),
    /// The gateway's TLS identity or a signing identity could not be loaded.
    #[error("identity: {0}")]
    Identity(String),
}

/// A request's failure: an HTTP status and a one-line reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{status}: {message}")]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// Why, for the caller.
    pub message: String,
}

impl ApiError {
    /// An error with `status`.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
        }
    }

    /// 400: the request is malformed.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    /// 403: the caller may not do this.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, message)
    }

    /// 404: nothing there.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    /// 502: a peer or orderer behind the gateway failed.
    pub fn upstream(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_GATEWAY, message)
    }

    /// 503: the gateway cannot do this now (no submission path, too many subscribers).
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, message)
    }

    /// 500: the node's own failure (ledger read).
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }

    /// A contract's answer status (HTTP style) as an API error; anything outside
    /// 400–599 becomes 502.
    pub fn from_contract(status: u32, message: &str) -> Self {
        let status = u16::try_from(status)
            .ok()
            .and_then(|code| StatusCode::from_u16(code).ok())
            .filter(|code| code.is_client_error() || code.is_server_error())
            .unwrap_or(StatusCode::BAD_GATEWAY);
        Self::new(status, format!("contract: {message}"))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({
            "error": self.message,
            "code": self.status.as_u16(),
        });
        (self.status, Json(body)).into_response()
    }
}

impl From<netsettle_ledger::LedgerError> for ApiError {
    fn from(error: netsettle_ledger::LedgerError) -> Self {
        Self::internal(format!("ledger: {error}"))
    }
}
