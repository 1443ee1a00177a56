//! An HTTP/1.1 client for the console's tests: one request per connection on 127.0.0.1,
//! bounded in time, and what the tests read from an answer (cookies, the form token).
// Each test file uses part of this module; the rest is dead code in that file's crate.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;

/// How long one exchange may take before the test fails (a page or an action of the
/// process test is a few contract calls).
pub const DEADLINE: Duration = Duration::from_secs(60);

/// A console answer.
pub struct Answer {
    pub status: StatusCode,
    pub headers: hyper::HeaderMap,
    pub body: String,
}

impl Answer {
    /// The whole `Set-Cookie` value of cookie `name`, attributes included.
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all(hyper::header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with(&format!("{name}=")))
            .map(str::to_owned)
    }

    /// `name=value` of cookie `name`, for a `Cookie` header.
    pub fn cookie_pair(&self, name: &str) -> Option<String> {
        let cookie = self.cookie(name)?;
        cookie.split(';').next().map(str::to_owned)
    }

    /// The form token (hidden field `csrf`) of the page.
    pub fn csrf(&self) -> String {
        let marker = "name=\"csrf\" value=\"";
        let start = self.body.find(marker).expect("a csrf field") + marker.len();
        let end = self.body[start..].find('"').expect("its end");
        self.body[start..start + end].to_owned()
    }
}

/// One request with `headers` on a fresh connection to `addr`.
pub async fn exchange(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, String)],
    body: Vec<u8>,
) -> Answer {
    let exchange = async {
        let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
            .await
            .expect("handshake");
        tokio::spawn(connection);
        let mut builder = Request::builder()
            .method(method)
            .uri(path)
            .header("host", addr.to_string());
        for (name, value) in headers {
            builder = builder.header(*name, value);
        }
        let response = sender
            .send_request(builder.body(Full::new(Bytes::from(body))).expect("request"))
            .await
            .expect("response");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        Answer {
            status,
            headers,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        }
    };
    tokio::time::timeout(DEADLINE, exchange)
        .await
        .expect("answered in time")
}

/// A form post's body.
pub fn form(fields: &[(&str, &str)]) -> Vec<u8> {
    serde_urlencoded::to_string(fields)
        .expect("form")
        .into_bytes()
}
