//! One delivery attempt: a fresh HTTP/1.1 connection to a plain-HTTP endpoint, one
//! request, the response status, all within the attempt timeout. 2xx is delivered;
//! anything else (another status, a refused or reset connection, no answer in time) is a
//! failed attempt with a short reason for the outbox. The response body is never read.

use core::time::Duration;

use axum::body::Bytes;
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use netsettle_client::notice::{Notice, sign_notice};
use netsettle_smcrypto::PrivateKey;
use tokio::net::TcpStream;

use super::config::{Channel, Endpoint};
use super::limits::RESPONSE_HEAD_BYTES_MAX;
use super::sms::Values;

/// A request ready to send.
#[derive(Debug, Clone)]
pub(crate) struct Request {
    method: &'static str,
    endpoint: Endpoint,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

/// The request that delivers `notice` (whose JSON is `body`, as stored) over `channel`,
/// signed now (`now_ms`) with the node's `key` for a webhook.
pub(crate) fn build(
    channel: &Channel,
    notice: &Notice,
    body: &[u8],
    key: &PrivateKey,
    now_ms: i64,
) -> Request {
    match channel {
        Channel::Webhook(endpoint) => {
            let mut headers: Vec<(String, String)> = sign_notice(key, &notice.id, now_ms, body)
                .into_iter()
                .map(|(name, value)| (name.to_owned(), value))
                .collect();
            headers.push(("content-type".to_owned(), "application/json".to_owned()));
            Request {
                method: "POST",
                endpoint: endpoint.clone(),
                path: endpoint.path.clone(),
                headers,
                body: body.to_vec(),
            }
        }
        Channel::Sms {
            endpoint,
            phones,
            template,
        } => {
            let phone = phones.join(",");
            let values = Values {
                phone: &phone,
                text: &notice.text,
                id: &notice.id,
                period: notice.period.as_deref().unwrap_or(""),
                kind: &notice.kind,
            };
            Request {
                method: template.method(),
                endpoint: endpoint.clone(),
                path: template.path(&values),
                headers: template.headers(),
                body: template.body(&values).into_bytes(),
            }
        }
    }
}

/// Sends `request`; `Ok` on a 2xx answer within `timeout`, else why not.
pub(crate) async fn attempt(request: Request, timeout: Duration) -> Result<(), String> {
    match tokio::time::timeout(timeout, exchange(request)).await {
        Err(_) => Err(format!("no answer within {} ms", timeout.as_millis())),
        Ok(Ok(status)) if (200..300).contains(&status) => Ok(()),
        Ok(Ok(status)) => Err(format!("HTTP {status}")),
        Ok(Err(reason)) => Err(reason),
    }
}

async fn exchange(request: Request) -> Result<u16, String> {
    let endpoint = &request.endpoint;
    let stream = TcpStream::connect((endpoint.host.as_str(), endpoint.port))
        .await
        .map_err(|error| format!("connect {}: {error}", endpoint.authority))?;
    let (mut sender, connection) = hyper::client::conn::http1::Builder::new()
        .max_buf_size(RESPONSE_HEAD_BYTES_MAX)
        .handshake::<_, Full<Bytes>>(TokioIo::new(stream))
        .await
        .map_err(|error| format!("http: {error}"))?;
    let mut builder = hyper::Request::builder()
        .method(request.method)
        .uri(request.path.as_str())
        .header(hyper::header::HOST, endpoint.authority.as_str());
    for (name, value) in &request.headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    let http_request = builder
        .body(Full::new(Bytes::from(request.body)))
        .map_err(|error| format!("request: {error}"))?;
    // The connection is driven alongside the request and dropped with it: one request
    // per connection, nothing left behind after an attempt (or its timeout).
    let response = sender.send_request(http_request);
    tokio::pin!(response, connection);
    tokio::select! {
        biased;
        response = &mut response => response
            .map(|response| response.status().as_u16())
            .map_err(|error| format!("http: {error}")),
        ended = &mut connection => {
            // A server that closes right after answering ends the connection in the same
            // poll that hands the response over: the answer, if any, is waiting.
            match (response.await, ended) {
                (Ok(response), _) => Ok(response.status().as_u16()),
                (Err(_), Err(error)) | (Err(error), Ok(())) => Err(format!("http: {error}")),
            }
        }
    }
}
