//! `netsettle gateway call`: one HTTPS request to a carrier's HTTP gateway as that
//! carrier's system would make it (JSON over SM-TLS, the identity's TLS certificate as
//! client certificate), so operators, scripts and the demo can try the API
//! (docs/api/README.md) without writing a client. `--events N` follows the
//! Server-Sent Events route instead and prints N events.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use axum::body::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use netsettle_msp::IdentityLayout;
use netsettle_smtls::{NoRevocation, TlsIdentity, TrustAnchors};
use serde_json::Value;

/// Largest response body read (an export of a large period fits; the gateway's own
/// export limit is 64 MiB).
const RESPONSE_BYTES_MAX: usize = 64 * 1024 * 1024;

/// Largest request body sent (the gateway's own maximum).
const REQUEST_BYTES_MAX: usize = 64 * 1024 * 1024;

/// Largest single Server-Sent Event kept while it is being assembled.
const EVENT_BYTES_MAX: usize = 16 * 1024 * 1024;

/// Most events `--events` reads in one call.
const EVENTS_MAX: u64 = 100_000;

/// The default time for the whole call (a gateway-signed call waits for its commit).
const TIMEOUT_DEFAULT_SECS: u64 = 130;

/// Calls to a carrier's HTTP gateway.
#[derive(Debug, clap::Subcommand)]
pub enum GatewayCommand {
    /// One request: prints the status line and the JSON body (pretty); exits non-zero
    /// with the gateway's error message on HTTP 400 and above.
    Call(CallArgs),
}

#[derive(Debug, clap::Args)]
pub struct CallArgs {
    /// The gateway's address, HOST:PORT.
    #[arg(long)]
    gateway: String,
    /// The caller's identity directory: its `tls/cert.pem` and `tls/key.pem` are the
    /// client certificate.
    #[arg(long)]
    identity: PathBuf,
    /// Roots the gateway's certificate must chain to (PEM), repeatable; default the
    /// identity's own TLS root (`tls/ca.pem`).
    #[arg(long = "ca")]
    cas: Vec<PathBuf>,
    /// The HTTP method.
    #[arg(long, default_value = "GET", value_parser = ["GET", "POST"])]
    method: String,
    /// The request body: JSON, or `@FILE` to read it from a file.
    #[arg(long)]
    body: Option<String>,
    /// The name the gateway's certificate must carry (default: the host of --gateway).
    #[arg(long)]
    server_name: Option<String>,
    /// Read this many Server-Sent Events (a `/v1/events` path) and print them.
    #[arg(long)]
    events: Option<u64>,
    /// Seconds the whole call may take.
    #[arg(long, default_value_t = TIMEOUT_DEFAULT_SECS)]
    timeout: u64,
    /// The path and query, e.g. `/v1/settlement/periods`.
    path: String,
}

pub fn run(command: GatewayCommand) -> Result<()> {
    let GatewayCommand::Call(args) = command;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let timeout = Duration::from_secs(args.timeout);
    runtime.block_on(async {
        tokio::time::timeout(timeout, call(&args))
            .await
            .map_err(|_| anyhow::anyhow!("no answer from {} within {timeout:?}", args.gateway))?
    })
}

async fn call(args: &CallArgs) -> Result<()> {
    if !args.path.starts_with('/') {
        bail!("the path must start with '/': {}", args.path);
    }
    if args.events.is_some_and(|n| n == 0 || n > EVENTS_MAX) {
        bail!("--events takes 1 to {EVENTS_MAX}");
    }
    let body = request_body(args.body.as_deref())?;
    let config = client_config(&args.identity, &args.cas)?;
    let server_name = match &args.server_name {
        Some(name) => name.clone(),
        None => host_of(&args.gateway).to_owned(),
    };
    let tls = netsettle_smtls::connect(&config, args.gateway.as_str(), &server_name)
        .await
        .with_context(|| format!("SM-TLS handshake with the gateway at {}", args.gateway))?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .context("HTTP/1.1 with the gateway")?;
    tokio::spawn(connection);
    let request = Request::builder()
        .method(args.method.as_str())
        .uri(args.path.as_str())
        .header("host", server_name.as_str())
        .header("content-type", "application/json")
        .header("accept", "application/json")
        .body(Full::new(Bytes::from(body)))
        .context("building the request")?;
    let response = sender.send_request(request).await.with_context(|| {
        format!(
            "{} {}: the gateway closed the connection",
            args.method, args.path
        )
    })?;
    let status = response.status();
    if status.as_u16() >= 400 {
        let bytes = read_body(response).await.unwrap_or_default();
        bail!(
            "{} {}: HTTP {status}: {}",
            args.method,
            args.path,
            error_message(&bytes)
        );
    }
    println!("HTTP {status}");
    match args.events {
        Some(count) => print_events(response, count).await,
        None => print_body(&read_body(response).await?),
    }
}

/// The body to send: none, inline JSON, or JSON from `@FILE`; checked to be JSON so a
/// typo is caught here rather than as the gateway's 400.
fn request_body(body: Option<&str>) -> Result<Vec<u8>> {
    let Some(body) = body else {
        return Ok(Vec::new());
    };
    let bytes = match body.strip_prefix('@') {
        Some(file) => crate::shared::read_bounded(Path::new(file), REQUEST_BYTES_MAX)
            .with_context(|| format!("reading the body from {file}"))?,
        None => body.as_bytes().to_vec(),
    };
    serde_json::from_slice::<Value>(&bytes).context("the body is not JSON")?;
    Ok(bytes)
}

/// The identity's TLS certificate and key as client certificate; the given roots, or the
/// identity's TLS root.
fn client_config(identity: &Path, cas: &[PathBuf]) -> Result<Arc<rustls::ClientConfig>> {
    let layout = IdentityLayout::new(identity);
    let tls = TlsIdentity::from_pem_files(&layout.tls_cert(), &layout.tls_key())
        .with_context(|| format!("loading the TLS identity of {}", identity.display()))?;
    let roots = if cas.is_empty() {
        vec![layout.tls_ca_cert()]
    } else {
        cas.to_vec()
    };
    let anchors = TrustAnchors::from_pem_files(&roots).context("loading the trusted roots")?;
    Ok(netsettle_smtls::client_config(
        &tls,
        &anchors,
        Arc::new(NoRevocation),
    )?)
}

/// `HOST` of `HOST:PORT` (brackets of an IPv6 literal removed).
fn host_of(address: &str) -> &str {
    let host = address.rsplit_once(':').map_or(address, |(host, _)| host);
    host.trim_start_matches('[').trim_end_matches(']')
}

/// Reads a whole body, refusing one over [`RESPONSE_BYTES_MAX`].
async fn read_body(response: Response<Incoming>) -> Result<Vec<u8>> {
    let mut body = response.into_body();
    let mut bytes = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.context("reading the answer")?;
        if let Ok(data) = frame.into_data() {
            if bytes.len().saturating_add(data.len()) > RESPONSE_BYTES_MAX {
                bail!("the answer is over {RESPONSE_BYTES_MAX} bytes");
            }
            bytes.extend_from_slice(&data);
        }
    }
    Ok(bytes)
}

/// The gateway's `{"error": ...}` message, or the body as text when it is something else.
fn error_message(bytes: &[u8]) -> String {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(value) => match value.get("error").and_then(Value::as_str) {
            Some(message) => message.to_owned(),
            None => value.to_string(),
        },
        Err(_) => String::from_utf8_lossy(bytes).trim().replace('\n', " "),
    }
}

/// Pretty JSON, or the text as it came (the CSV export).
fn print_body(bytes: &[u8]) -> Result<()> {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(value) => println!("{}", serde_json::to_string_pretty(&value)?),
        Err(_) => print!("{}", String::from_utf8_lossy(bytes)),
    }
    Ok(())
}

/// Reads `count` events (heartbeat comments skipped) and prints each as one line:
/// `ID EVENT DATA`. Bytes are kept until an event is whole, so a character split across
/// two frames stays intact.
async fn print_events(response: Response<Incoming>, count: u64) -> Result<()> {
    let mut body = response.into_body();
    let mut pending: Vec<u8> = Vec::new();
    let mut printed = 0u64;
    while printed < count {
        let Some(frame) = body.frame().await else {
            bail!("the event stream ended after {printed} events");
        };
        let Ok(data) = frame.context("reading the event stream")?.into_data() else {
            continue;
        };
        pending.extend_from_slice(&data);
        while printed < count
            && let Some(end) = pending.windows(2).position(|pair| pair == b"\n\n")
        {
            let chunk: Vec<u8> = pending.drain(..end.saturating_add(2)).collect();
            let chunk = std::str::from_utf8(&chunk).context("an event that is not UTF-8")?;
            if let Some(line) = event_line(chunk) {
                println!("{line}");
                printed = printed.saturating_add(1);
            }
        }
        if pending.len() > EVENT_BYTES_MAX {
            bail!("an event over {EVENT_BYTES_MAX} bytes");
        }
    }
    Ok(())
}

/// One SSE event as `ID EVENT DATA`, or `None` for a comment (heartbeat).
fn event_line(chunk: &str) -> Option<String> {
    let (mut id, mut name, mut data) = ("", "", String::new());
    for line in chunk.lines() {
        if let Some(value) = line.strip_prefix("id:") {
            id = value.trim();
        } else if let Some(value) = line.strip_prefix("event:") {
            name = value.trim();
        } else if let Some(value) = line.strip_prefix("data:") {
            data.push_str(value.trim());
        }
    }
    (!name.is_empty()).then(|| format!("{id} {name} {data}"))
}
