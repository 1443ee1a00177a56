//! The enrollment service: accepts SM-TLS connections, reads request frames, and answers
//! each from the [`Authority`]. A connection without a client certificate may only enroll;
//! everything else needs a certificate this CA issued (and an admin's for register and
//! revoke).
//!
//! Bounds: at most [`CONNECTIONS_MAX`] connections at once (further clients wait in the
//! listen backlog), [`REQUESTS_PER_CONNECTION_MAX`] requests per connection, and
//! [`FRAME_TIMEOUT`] for each frame. The authority sits behind one mutex and its disk work
//! runs on the blocking pool, so requests are applied one at a time, in arrival order.

use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use rustls::ServerConfig;
use tokio::io::AsyncWriteExt as _;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use netsettle_smcrypto::x509::{Certificate, CertificateRequest};
use netsettle_smtls::{HANDSHAKE_TIMEOUT, TlsError, TlsIdentity, TrustAnchors};

use crate::authority::{Authority, Caller, Registration, RevokeTarget};
use crate::limits::{CONNECTIONS_MAX, FRAME_TIMEOUT, REQUESTS_PER_CONNECTION_MAX};
use crate::tls::RevokedSerials;
use crate::wire::{self, Request, Response};
use crate::{CaError, Refusal};

/// What the service needs to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServeConfig {
    /// The CA directory (see the crate docs for its layout).
    pub dir: PathBuf,
}

struct Shared {
    authority: Mutex<Authority>,
    revoked: RevokedSerials,
}

/// Serve enrollment requests on `listener` until `shutdown` completes. Connections still
/// open then are dropped; every request that was answered had already been persisted.
pub async fn serve(
    config: ServeConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> Result<(), CaError> {
    let authority = Authority::open(&config.dir)?;
    let layout = authority.layout().clone();
    let identity = TlsIdentity::from_pem_files(&layout.server_tls_cert(), &layout.server_tls_key())
        .map_err(|err| CaError::Tls(err.into()))?;
    let trust = TrustAnchors::new(vec![authority.certificate().clone()])
        .map_err(|err| CaError::Tls(err.into()))?;
    let revoked = RevokedSerials::default();
    revoked.set(authority.registry().revoked_serials());
    let tls_config = crate::tls::server_config(&identity, &trust, Arc::new(revoked.clone()))?;
    let shared = Arc::new(Shared {
        authority: Mutex::new(authority),
        revoked,
    });
    let slots = Arc::new(Semaphore::new(CONNECTIONS_MAX));
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            () = &mut shutdown => break,
            permit = Arc::clone(&slots).acquire_owned() => permit,
        };
        let Ok(permit) = permit else { break };
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        // Reap finished connection tasks so the set stays as small as the live ones.
        while connections.try_join_next().is_some() {}
        match accepted {
            Ok((tcp, peer)) => {
                let tls_config = Arc::clone(&tls_config);
                let shared = Arc::clone(&shared);
                connections.spawn(async move {
                    if let Err(err) = handle_connection(tcp, tls_config, shared).await {
                        tracing::info!(%peer, "CA connection ended: {err}");
                    }
                    drop(permit);
                });
            }
            // Accept errors (e.g. too many open files) are transient: log and go on.
            Err(err) => tracing::warn!("accept failed: {err}"),
        }
    }
    connections.shutdown().await;
    Ok(())
}

async fn handle_connection(
    tcp: TcpStream,
    tls_config: Arc<ServerConfig>,
    shared: Arc<Shared>,
) -> Result<(), CaError> {
    tcp.set_nodelay(true)
        .map_err(|err| CaError::Tls(TlsError::Io(err)))?;
    let handshake = TlsAcceptor::from(tls_config).accept(tcp);
    let mut tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake).await {
        Ok(result) => result.map_err(|err| CaError::Tls(TlsError::from_io(err)))?,
        Err(_) => {
            return Err(CaError::Tls(TlsError::HandshakeTimeout {
                seconds: HANDSHAKE_TIMEOUT.as_secs(),
            }));
        }
    };
    let peer = match tls.get_ref().1.peer_certificates().and_then(<[_]>::first) {
        Some(der) => Some(Certificate::from_der(der.as_ref())?),
        None => None,
    };
    for _ in 0..REQUESTS_PER_CONNECTION_MAX {
        let read = wire::read_frame::<Request, _>(&mut tls);
        let body = match tokio::time::timeout(FRAME_TIMEOUT, read).await {
            Ok(Ok(Some(body))) => body,
            Ok(Ok(None)) => break,
            Ok(Err(err)) => return Err(err),
            Err(_) => return Err(CaError::Protocol("client idle too long".to_owned())),
        };
        let response = match wire::decode_body::<Request>(&body) {
            Ok(request) => answer(&shared, peer.clone(), request).await,
            Err(err) => Response::Refused(Refusal::BadRequest {
                detail: err.to_string(),
            }),
        };
        wire::write_message(&mut tls, &response).await?;
    }
    // Best effort close_notify; the client has its answers already.
    let _ = tls.shutdown().await;
    Ok(())
}

async fn answer(shared: &Arc<Shared>, peer: Option<Certificate>, request: Request) -> Response {
    let operation = request.operation();
    let shared = Arc::clone(shared);
    let task = tokio::task::spawn_blocking(move || {
        let now_unix = now_unix()?;
        // A panic while holding the lock happened between two registry saves; the
        // in-memory state may be ahead of the file, so refuse to continue on it.
        let mut authority = shared
            .authority
            .lock()
            .map_err(|_| internal("CA state poisoned by an earlier failure"))?;
        let caller = peer.as_ref().map_or(Caller::Anonymous, Caller::Certified);
        let response = handle(&mut authority, caller, request, now_unix)?;
        if matches!(response, Response::Revoked { .. }) {
            shared.revoked.set(authority.registry().revoked_serials());
        }
        Ok::<Response, CaError>(response)
    });
    let result = match task.await {
        Ok(result) => result,
        Err(err) => Err(internal(format!("request task failed: {err}"))),
    };
    match result {
        Ok(response) => {
            tracing::info!(operation, "CA request served");
            response
        }
        Err(CaError::Refused(refusal)) => {
            tracing::info!(operation, "CA request refused: {refusal}");
            Response::Refused(refusal)
        }
        Err(err) => {
            tracing::error!(operation, "CA request failed: {err}");
            Response::Refused(Refusal::Internal {
                detail: err.to_string(),
            })
        }
    }
}

/// Apply one request to the authority.
pub fn handle(
    authority: &mut Authority,
    caller: Caller<'_>,
    request: Request,
    now_unix: i64,
) -> Result<Response, CaError> {
    match request {
        Request::Register {
            name,
            role,
            hosts,
            attributes,
            secret,
        } => {
            let registration = Registration {
                name,
                role: role.into(),
                hosts,
                attributes: attributes_map(attributes)?,
                secret,
            };
            let secret = authority.register(caller, registration)?;
            Ok(Response::Registered { secret })
        }
        Request::Enroll {
            name,
            secret,
            sign_csr,
            tls_csr,
        } => {
            let (sign_csr, tls_csr) = parse_csrs(&sign_csr, &tls_csr)?;
            let enrollment = authority.enroll(&name, &secret, &sign_csr, &tls_csr, now_unix)?;
            Ok(enrolled(authority, &enrollment))
        }
        Request::Reenroll { sign_csr, tls_csr } => {
            let (sign_csr, tls_csr) = parse_csrs(&sign_csr, &tls_csr)?;
            let enrollment = authority.reenroll(caller, &sign_csr, &tls_csr, now_unix)?;
            Ok(enrolled(authority, &enrollment))
        }
        Request::RevokeSerial { serial, reason } => {
            revoked(authority.revoke(caller, &RevokeTarget::Serial(serial), reason, now_unix)?)
        }
        Request::RevokeName { name, reason } => {
            revoked(authority.revoke(caller, &RevokeTarget::Name(name), reason, now_unix)?)
        }
        Request::Crl => {
            if matches!(caller, Caller::Anonymous) {
                return Err(Refusal::CertificateRequired {
                    operation: "crl".to_owned(),
                }
                .into());
            }
            let crl = authority.crl(now_unix)?;
            Ok(Response::Crl {
                crl: crl.der().to_vec(),
            })
        }
    }
}

fn attributes_map(
    attributes: Vec<(String, String)>,
) -> Result<std::collections::BTreeMap<String, String>, CaError> {
    let mut map = std::collections::BTreeMap::new();
    for (key, value) in attributes {
        if map.insert(key.clone(), value).is_some() {
            return Err(Refusal::BadRequest {
                detail: format!("attribute {key:?} given twice"),
            }
            .into());
        }
    }
    Ok(map)
}

fn parse_csrs(
    sign_csr: &[u8],
    tls_csr: &[u8],
) -> Result<(CertificateRequest, CertificateRequest), CaError> {
    let parse = |der: &[u8], which: &str| {
        CertificateRequest::from_der(der).map_err(|err| {
            CaError::from(Refusal::BadRequest {
                detail: format!("{which} CSR: {err}"),
            })
        })
    };
    Ok((parse(sign_csr, "signing")?, parse(tls_csr, "TLS")?))
}

fn enrolled(authority: &Authority, enrollment: &crate::authority::Enrollment) -> Response {
    Response::Enrolled {
        sign_cert: enrollment.sign_cert.der().to_vec(),
        tls_cert: enrollment.tls_cert.der().to_vec(),
        ca_cert: authority.certificate().der().to_vec(),
    }
}

fn revoked(
    (serials, crl): (Vec<String>, netsettle_smcrypto::x509::Crl),
) -> Result<Response, CaError> {
    Ok(Response::Revoked {
        serials,
        crl: crl.der().to_vec(),
    })
}

fn internal(detail: impl Into<String>) -> CaError {
    CaError::Refused(Refusal::Internal {
        detail: detail.into(),
    })
}

/// Seconds since the Unix epoch.
pub fn now_unix() -> Result<i64, CaError> {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|_| CaError::invalid("system clock", "before 1970"))?
        .as_secs();
    i64::try_from(secs).map_err(|_| CaError::invalid("system clock", "out of range"))
}
