//! The enrollment service: accepts SM-TLS connections, reads request frames, and answers
//! each from the [`Authority`]. A connection without a client certificate may only enroll;
//! everything else needs a certificate this CA issued (and an admin's for register and
//! revoke).
//!
//! Bounds: at most [`CONNECTIONS_MAX`] connections at once and
//! [`CONNECTIONS_PER_SOURCE_MAX`] from one address; a new connection beyond either bound
//! evicts the oldest (of that address, then of all), so idle connections cannot lock out
//! real clients. [`REQUESTS_PER_CONNECTION_MAX`] requests per connection, and
//! [`FRAME_TIMEOUT`] for each frame. Wrong enrollment secrets make their source address
//! wait, with a backoff per address and per (address, registration)
//! ([`EnrollThrottle`]); they never lock the registration. The authority sits behind one
//! mutex and its disk work runs on the blocking pool, so requests are applied one at a
//! time, in arrival order.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rustls::ServerConfig;
use tokio::io::AsyncWriteExt as _;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{AbortHandle, JoinSet};
use tokio_rustls::TlsAcceptor;

use netsettle_smcrypto::x509::{Certificate, CertificateRequest};
use netsettle_smtls::{HANDSHAKE_TIMEOUT, TlsError, TlsIdentity, TrustAnchors};

use crate::authority::{Authority, Caller, Registration, RevokeTarget};
use crate::limits::{
    CONNECTIONS_MAX, CONNECTIONS_PER_SOURCE_MAX, ENROLL_BACKOFF_MAX,
    ENROLL_FAILURES_FREE_PER_REGISTRATION, ENROLL_FAILURES_FREE_PER_SOURCE,
    ENROLL_THROTTLE_ENTRIES_MAX, FRAME_TIMEOUT, REQUESTS_PER_CONNECTION_MAX,
};
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
    throttle: Mutex<EnrollThrottle>,
}

/// Serve enrollment requests on `listener` until `shutdown` completes. Connections still
/// open then are dropped; every request that was answered had already been persisted.
pub async fn serve(
    config: ServeConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> Result<(), CaError> {
    let authority = Authority::open(&config.dir, now_unix()?)?;
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
        throttle: Mutex::new(EnrollThrottle::default()),
    });
    let slots = Arc::new(ConnectionSlots::default());
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
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
                let slot = ConnectionSlots::admit(&slots, peer.ip());
                let id = slot.id;
                let abort = connections.spawn(async move {
                    let _slot = slot;
                    if let Err(err) = handle_connection(tcp, peer.ip(), tls_config, shared).await {
                        tracing::info!(%peer, "CA connection ended: {err}");
                    }
                });
                slots.set_abort(id, abort);
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
    source: IpAddr,
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
            Ok(request) => answer(&shared, peer.clone(), source, request).await,
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

async fn answer(
    shared: &Arc<Shared>,
    peer: Option<Certificate>,
    source: IpAddr,
    request: Request,
) -> Response {
    let operation = request.operation();
    let enrolling = match &request {
        Request::Enroll { name, .. } => Some(name.clone()),
        _ => None,
    };
    if let Some(name) = &enrolling {
        let throttle = shared.throttle.lock().unwrap_or_else(|e| e.into_inner());
        if let Err(wait) = throttle.check(source, name, Instant::now()) {
            tracing::info!(%source, %name, ?wait, "enrollment throttled");
            return Response::Refused(Refusal::EnrollmentThrottled {
                retry_after_seconds: wait.as_secs().saturating_add(1),
            });
        }
    }
    let response = apply(shared, peer, request).await;
    if let Some(name) = &enrolling {
        let mut throttle = shared.throttle.lock().unwrap_or_else(|e| e.into_inner());
        match &response {
            Response::Refused(Refusal::WrongSecret { .. }) => {
                tracing::warn!(%source, %name, "wrong enrollment secret");
                throttle.failed(source, name, Instant::now());
            }
            Response::Enrolled { .. } => throttle.succeeded(source, name),
            _ => {}
        }
    }
    tracing::debug!(operation, %source, "CA request answered");
    response
}

async fn apply(shared: &Arc<Shared>, peer: Option<Certificate>, request: Request) -> Response {
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
        // Revocation and re-enrollment (which supersedes) both change the revoked set.
        if matches!(
            response,
            Response::Revoked { .. } | Response::Enrolled { .. }
        ) {
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

/// Connections being served, oldest first: at most [`CONNECTIONS_MAX`], and
/// [`CONNECTIONS_PER_SOURCE_MAX`] from one address; a new one beyond either evicts the
/// oldest (of its address first). Clients open one connection per call, so the oldest is
/// the one most likely idle.
#[derive(Debug, Default)]
struct ConnectionSlots {
    state: Mutex<SlotState>,
}

#[derive(Debug, Default)]
struct SlotState {
    next_id: u64,
    entries: VecDeque<(u64, IpAddr, Option<AbortHandle>)>,
}

/// A connection's slot, freed when its task ends (or is aborted).
struct Slot {
    slots: Arc<ConnectionSlots>,
    id: u64,
}

impl ConnectionSlots {
    fn admit(slots: &Arc<Self>, source: IpAddr) -> Slot {
        let mut state = slots.state.lock().unwrap_or_else(|e| e.into_inner());
        let from_source = state.entries.iter().filter(|e| e.1 == source).count();
        if from_source >= CONNECTIONS_PER_SOURCE_MAX
            && let Some(index) = state.entries.iter().position(|e| e.1 == source)
            && let Some(evicted) = state.entries.remove(index)
        {
            tracing::info!(%source, "connection evicted: too many from this address");
            evict(evicted);
        }
        while state.entries.len() >= CONNECTIONS_MAX {
            let Some(evicted) = state.entries.pop_front() else {
                break;
            };
            tracing::info!(source = %evicted.1, "connection evicted: connections full");
            evict(evicted);
        }
        let id = state.next_id;
        state.next_id = state.next_id.wrapping_add(1);
        state.entries.push_back((id, source, None));
        Slot {
            slots: Arc::clone(slots),
            id,
        }
    }

    fn set_abort(&self, id: u64, abort: AbortHandle) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(entry) = state.entries.iter_mut().find(|e| e.0 == id) {
            entry.2 = Some(abort);
        }
    }
}

fn evict((_, _, abort): (u64, IpAddr, Option<AbortHandle>)) {
    if let Some(abort) = abort {
        abort.abort();
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut state = self.slots.state.lock().unwrap_or_else(|e| e.into_inner());
        state.entries.retain(|e| e.0 != self.id);
    }
}

/// Wrong enrollment secrets per source address and per (address, registration). After
/// the free attempts, each further wrong secret doubles the wait (from one second, up to
/// [`ENROLL_BACKOFF_MAX`]) before that address may try again. Only addresses that
/// guessed wrong wait: the registration's holder, elsewhere, enrolls at once.
#[derive(Debug, Default)]
pub(crate) struct EnrollThrottle {
    by_source: HashMap<IpAddr, Backoff>,
    by_registration: HashMap<(IpAddr, String), Backoff>,
}

#[derive(Debug, Clone, Copy)]
struct Backoff {
    failures: u32,
    retry_at: Option<Instant>,
}

impl Backoff {
    fn wait(&self, now: Instant) -> Option<Duration> {
        self.retry_at
            .and_then(|at| at.checked_duration_since(now))
            .filter(|wait| !wait.is_zero())
    }

    fn fail(&mut self, free: u32, now: Instant) {
        self.failures = self.failures.saturating_add(1);
        if self.failures >= free {
            let doublings = (self.failures - free).min(16);
            let wait = Duration::from_secs(1u64 << doublings).min(ENROLL_BACKOFF_MAX);
            self.retry_at = Some(now + wait);
        }
    }
}

impl EnrollThrottle {
    /// `Err(wait)` when `source` must wait before trying `name` again.
    pub(crate) fn check(&self, source: IpAddr, name: &str, now: Instant) -> Result<(), Duration> {
        let by_source = self.by_source.get(&source).and_then(|b| b.wait(now));
        let by_registration = self
            .by_registration
            .get(&(source, name.to_owned()))
            .and_then(|b| b.wait(now));
        match by_source.max(by_registration) {
            Some(wait) => Err(wait),
            None => Ok(()),
        }
    }

    /// `source` tried a wrong secret for `name`.
    pub(crate) fn failed(&mut self, source: IpAddr, name: &str, now: Instant) {
        bounded_entry(&mut self.by_source, source, now).fail(ENROLL_FAILURES_FREE_PER_SOURCE, now);
        bounded_entry(&mut self.by_registration, (source, name.to_owned()), now)
            .fail(ENROLL_FAILURES_FREE_PER_REGISTRATION, now);
    }

    /// `source` enrolled `name`: its wrong guesses at that registration are forgotten.
    pub(crate) fn succeeded(&mut self, source: IpAddr, name: &str) {
        self.by_registration.remove(&(source, name.to_owned()));
    }
}

/// The entry for `key`, making room first when the table is full: entries whose wait
/// is over go first, then (as a last resort) the whole table.
fn bounded_entry<K: std::hash::Hash + Eq>(
    table: &mut HashMap<K, Backoff>,
    key: K,
    now: Instant,
) -> &mut Backoff {
    if !table.contains_key(&key) && table.len() >= ENROLL_THROTTLE_ENTRIES_MAX {
        table.retain(|_, backoff| backoff.wait(now).is_some());
        if table.len() >= ENROLL_THROTTLE_ENTRIES_MAX {
            tracing::warn!("enrollment throttle table full; forgotten");
            table.clear();
        }
    }
    table.entry(key).or_insert(Backoff {
        failures: 0,
        retry_at: None,
    })
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
