//! Request plumbing shared by the handlers: the authenticated caller, bounded JSON
//! bodies (413 above the limit, 400 for malformed JSON), the request timeout.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::limits::REQUEST_TIMEOUT;

/// The connection's authentication outcome, attached to every request on it: the caller,
/// or why the channel's MSPs do not vouch for the certificate the handshake verified.
#[derive(Debug, Clone)]
pub(crate) struct Authenticated(pub Arc<Result<Caller, String>>);

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let Some(Authenticated(outcome)) = parts.extensions.get::<Authenticated>() else {
            return Err(ApiError::forbidden("no authenticated client certificate"));
        };
        match outcome.as_ref() {
            Ok(caller) => Ok(caller.clone()),
            Err(reason) => Err(ApiError::forbidden(format!(
                "the channel does not vouch for this certificate: {reason}"
            ))),
        }
    }
}

/// Reads a JSON body of at most `bytes_max` bytes: a declared length over it is refused
/// before reading, a body growing past it as soon as it does.
pub(crate) async fn json_body<T: DeserializeOwned>(
    request: Request,
    bytes_max: usize,
) -> Result<T, ApiError> {
    check_declared_length(&request, bytes_max)?;
    let body: Body = request.into_body();
    let bytes = axum::body::to_bytes(body, bytes_max)
        .await
        .map_err(|error| body_error(&error, bytes_max))?;
    serde_json::from_slice(&bytes).map_err(|error| ApiError::bad_request(format!("JSON: {error}")))
}

fn body_error(error: &axum::Error, bytes_max: usize) -> ApiError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(current) = source {
        if current.is::<http_body_util::LengthLimitError>() {
            return too_large(bytes_max);
        }
        source = current.source();
    }
    ApiError::bad_request(format!("reading the body: {error}"))
}

fn too_large(bytes_max: usize) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("request body larger than {bytes_max} bytes"),
    )
}

/// Refuses a request whose declared length is over `bytes_max` before reading it.
fn check_declared_length(request: &Request, bytes_max: usize) -> Result<(), ApiError> {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    match declared {
        Some(length) if length > u64::try_from(bytes_max).unwrap_or(u64::MAX) => {
            Err(too_large(bytes_max))
        }
        _ => Ok(()),
    }
}

/// Answers 504 for a request not answered within [`REQUEST_TIMEOUT`]; a streaming
/// response (events) counts as answered once its headers are ready.
pub(crate) async fn timeout(request: Request, next: Next) -> Response {
    match tokio::time::timeout(REQUEST_TIMEOUT, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::new(
            StatusCode::GATEWAY_TIMEOUT,
            format!("no answer within {} s", REQUEST_TIMEOUT.as_secs()),
        )
        .into_response(),
    }
}

/// A JSON 404 for paths no route serves.
pub(crate) async fn no_route() -> ApiError {
    ApiError::not_found("no such route")
}
