//! The HTTP side: an accept loop with a connection limit, the axum routes, sessions and
//! CSRF checks, security headers on every answer.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use netsettle_client::Settlement;
use netsettle_client::notice::NOTICE_BYTES_MAX;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio_rustls::TlsAcceptor;

use crate::actions;
use crate::auth::{Throttle, Users};
use crate::config::{ConsoleConfig, Role};
use crate::error::ConsoleError;
use crate::html;
use crate::limits::{
    BODY_BYTES_MAX, CONNECTIONS_MAX, FIELD_BYTES_MAX, FIELDS_MAX, HEADER_READ_TIMEOUT,
    PERIODS_DEADLINES_MAX, TLS_HANDSHAKE_TIMEOUT,
};
use crate::notices::{self, NoticeStore};
use crate::period_routes;
use crate::session::{Session, Sessions, tokens_equal};
use crate::tls;
use crate::upstream::Upstream;

/// Cookie naming the session.
pub const SESSION_COOKIE: &str = "ns_session";
/// Cookie naming the login form's token.
pub const PRE_COOKIE: &str = "ns_login";

/// What every request handler shares.
pub(crate) struct Shared {
    users: Users,
    pub(crate) sessions: Mutex<Sessions>,
    throttle: Mutex<Throttle>,
    pub(crate) upstream: Upstream,
    pub(crate) notice_keys: Vec<netsettle_smcrypto::PublicKey>,
    pub(crate) notices: Mutex<NoticeStore>,
    secure_cookies: bool,
}

/// A running console.
pub struct Console {
    addr: SocketAddr,
    notices_addr: Option<SocketAddr>,
    tls: bool,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
    hook_task: Option<tokio::task::JoinHandle<()>>,
}

impl Console {
    /// Binds the listener and serves until [`Console::shutdown`].
    pub async fn start(config: ConsoleConfig) -> Result<Console, ConsoleError> {
        // Checked again here (the config checks it too): plain HTTP only on loopback.
        let acceptor = match &config.tls {
            Some(tls) => Some(tls::acceptor(tls)?),
            None if !config.listen.ip().is_loopback() => {
                return Err(ConsoleError::PlainNotLoopback(config.listen));
            }
            None => None,
        };
        let (listener, addr) = bind(config.listen).await?;
        let hook_listener = match config.notices_listen {
            Some(listen) => Some(bind(listen).await?),
            None => None,
        };
        let shared = Arc::new(Shared {
            users: Users::new(&config.users)?,
            sessions: Mutex::new(Sessions::new(
                config.session_idle(),
                config.session_absolute(),
            )),
            throttle: Mutex::new(Throttle::default()),
            upstream: Upstream::new(&config),
            notice_keys: notices::trusted_keys(&config.notice_signers)?,
            notices: Mutex::new(NoticeStore::default()),
            secure_cookies: acceptor.is_some(),
        });
        let (stop, stopped) = watch::channel(false);
        let tls = acceptor.is_some();
        let notices_addr = hook_listener.as_ref().map(|(_, addr)| *addr);
        let hook_task = hook_listener.map(|(listener, hook_addr)| {
            tracing::info!(%hook_addr, "console notices hook listening (plain HTTP)");
            let router = hook_router(Arc::clone(&shared));
            tokio::spawn(accept_loop(listener, None, router, stopped.clone()))
        });
        let task = tokio::spawn(accept_loop(listener, acceptor, router(shared), stopped));
        tracing::info!(%addr, tls, "console listening");
        Ok(Console {
            addr,
            notices_addr,
            tls,
            stop,
            task,
            hook_task,
        })
    }

    /// The address of the separate notices hook listener, if configured.
    pub fn notices_addr(&self) -> Option<SocketAddr> {
        self.notices_addr
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL browsers use: `https://ADDR` under TLS, else `http://ADDR`.
    pub fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// Stops accepting and waits for the connections to end.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
        if let Some(hook_task) = self.hook_task {
            let _ = hook_task.await;
        }
    }
}

async fn bind(listen: SocketAddr) -> Result<(TcpListener, SocketAddr), ConsoleError> {
    let error = |source| ConsoleError::Listen {
        addr: listen,
        source,
    };
    let listener = TcpListener::bind(listen).await.map_err(error)?;
    let addr = listener.local_addr().map_err(error)?;
    Ok((listener, addr))
}

/// The notices listener's routes: the hook alone (the node's sender speaks plain HTTP;
/// a signed notice needs no session, and nothing else is served here).
fn hook_router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route(
            "/hooks/notices",
            post(notices::hook).layer(DefaultBodyLimit::max(NOTICE_BYTES_MAX)),
        )
        .fallback(not_found)
        .layer(axum::middleware::map_response(security_headers))
        .with_state(shared)
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/login", get(login_page).post(login))
        .route("/logout", post(logout))
        .route("/", get(periods_page))
        .route("/console.css", get(stylesheet))
        .route("/periods/{period}", get(period_routes::period_page))
        .route("/periods/{period}/timeline", get(period_routes::timeline))
        .route(
            "/periods/{period}/export.csv",
            get(period_routes::export_csv),
        )
        .route(
            "/periods/{period}/export.json",
            get(period_routes::export_json),
        )
        .route("/periods/{period}/{step}", post(actions::act))
        .route("/notices", get(notices::page))
        .route(
            "/hooks/notices",
            post(notices::hook).layer(DefaultBodyLimit::max(NOTICE_BYTES_MAX)),
        )
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(BODY_BYTES_MAX))
        .layer(axum::middleware::map_response(security_headers))
        .with_state(shared)
}

async fn accept_loop(
    listener: TcpListener,
    acceptor: Option<TlsAcceptor>,
    router: Router,
    mut stopped: watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(CONNECTIONS_MAX));
    let mut tasks = tokio::task::JoinSet::new();
    loop {
        let (tcp, remote) = tokio::select! {
            _ = stopped.wait_for(|stop| *stop) => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::warn!(%error, "console accept");
                    continue;
                }
            },
        };
        while tasks.try_join_next().is_some() {}
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            tracing::info!(%remote, "console connection limit reached; closing");
            continue;
        };
        let router = router.clone().layer(axum::Extension(Remote(remote.ip())));
        let acceptor = acceptor.clone();
        tasks.spawn(async move {
            let _slot = slot;
            let served = match acceptor {
                None => serve(tcp, router).await,
                Some(acceptor) => {
                    match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                        Ok(Ok(tls)) => serve(tls, router).await,
                        Ok(Err(error)) => {
                            tracing::debug!(%remote, %error, "console TLS handshake failed");
                            return;
                        }
                        Err(_) => {
                            tracing::debug!(%remote, "console TLS handshake timed out");
                            return;
                        }
                    }
                }
            };
            if let Err(error) = served {
                tracing::debug!(%remote, %error, "console connection ended");
            }
        });
    }
    tasks.shutdown().await;
}

/// Serves HTTP/1.1 on one connection, plain or TLS.
async fn serve<Io>(io: Io, router: Router) -> Result<(), hyper::Error>
where
    Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .serve_connection(TokioIo::new(io), TowerToHyperService::new(router))
        .await
}

/// The client's address, for the login throttle.
#[derive(Clone, Copy)]
struct Remote(IpAddr);

async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    let set = [
        (header::CONTENT_SECURITY_POLICY, "default-src 'self'"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "same-origin"),
        (header::CACHE_CONTROL, "no-store"),
    ];
    for (name, value) in set {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

pub(crate) fn html_response(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        body,
    )
        .into_response()
}

pub(crate) fn error_page(status: StatusCode, detail: &str) -> Response {
    let title = status.canonical_reason().unwrap_or("error");
    html_response(status, html::error(title, detail))
}

pub(crate) fn redirect(to: &str) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, to)]).into_response()
}

async fn stylesheet() -> Response {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        html::STYLESHEET,
    )
        .into_response()
}

async fn not_found() -> Response {
    error_page(StatusCode::NOT_FOUND, "no such page")
}

/// The value of cookie `name`, if the request carries it.
fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

fn set_cookie(shared: &Shared, name: &str, value: &str, max_age: Option<u64>) -> String {
    let secure = if shared.secure_cookies {
        "; Secure"
    } else {
        ""
    };
    let age = max_age
        .map(|s| format!("; Max-Age={s}"))
        .unwrap_or_default();
    format!("{name}={value}; HttpOnly; SameSite=Strict; Path=/{secure}{age}")
}

/// A request refused before it did anything: the status and the page's one line.
pub(crate) struct Refused(pub(crate) StatusCode, pub(crate) &'static str);

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        error_page(self.0, self.1)
    }
}

/// A form body: at most [`FIELDS_MAX`] fields of at most [`FIELD_BYTES_MAX`] each.
pub(crate) fn form(body: &[u8]) -> Result<Vec<(String, String)>, Refused> {
    let fields: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
        .map_err(|_| Refused(StatusCode::BAD_REQUEST, "the form is not valid"))?;
    if fields.len() > FIELDS_MAX || fields.iter().any(|(_, v)| v.len() > FIELD_BYTES_MAX) {
        return Err(Refused(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too many or too large form fields",
        ));
    }
    Ok(fields)
}

pub(crate) fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, v)| v.as_str())
}

/// The live session of the request, if any.
pub(crate) fn session(shared: &Shared, headers: &HeaderMap) -> Option<(String, Session)> {
    let token = cookie(headers, SESSION_COOKIE)?;
    let mut sessions = shared.sessions.lock().ok()?;
    let session = sessions.get(token, Instant::now())?;
    Some((token.to_owned(), session))
}

/// The session of a POST whose form carries its CSRF token, or the 403 to answer.
pub(crate) fn checked_post(
    shared: &Shared,
    headers: &HeaderMap,
    fields: &[(String, String)],
) -> Result<(String, Session), Refused> {
    let Some((token, session)) = session(shared, headers) else {
        return Err(Refused(
            StatusCode::FORBIDDEN,
            "not logged in, or the session expired",
        ));
    };
    match field(fields, "csrf") {
        Some(csrf) if tokens_equal(csrf, &session.csrf) => Ok((token, session)),
        _ => Err(Refused(
            StatusCode::FORBIDDEN,
            "the form's CSRF token is missing or wrong",
        )),
    }
}

async fn login_page(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    let now = Instant::now();
    let Ok(mut sessions) = shared.sessions.lock() else {
        return error_page(StatusCode::INTERNAL_SERVER_ERROR, "session store poisoned");
    };
    let existing = cookie(&headers, PRE_COOKIE).filter(|t| sessions.pre_valid(t, now));
    let token = match existing {
        Some(token) => token.to_owned(),
        None => match sessions.create_pre(now) {
            Ok(token) => token,
            Err(error) => return error_page(StatusCode::INTERNAL_SERVER_ERROR, &error.to_string()),
        },
    };
    drop(sessions);
    let cookie = set_cookie(&shared, PRE_COOKIE, &token, None);
    let mut response = html_response(StatusCode::OK, html::login(&token, None));
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

async fn login(
    State(shared): State<Arc<Shared>>,
    axum::Extension(Remote(addr)): axum::Extension<Remote>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let fields = match form(&body) {
        Ok(fields) => fields,
        Err(refused) => return refused.into_response(),
    };
    let now = Instant::now();
    let pre_ok = match (cookie(&headers, PRE_COOKIE), field(&fields, "csrf")) {
        (Some(cookie), Some(csrf)) if tokens_equal(cookie, csrf) => shared
            .sessions
            .lock()
            .map(|mut s| s.pre_valid(cookie, now))
            .unwrap_or(false),
        _ => false,
    };
    if !pre_ok {
        return error_page(
            StatusCode::FORBIDDEN,
            "the login form's CSRF token is missing or wrong; reload the login page",
        );
    }
    let name = field(&fields, "name").unwrap_or_default();
    let password = field(&fields, "password").unwrap_or_default();
    let allowed = shared
        .throttle
        .lock()
        .map(|mut t| t.allowed(name, addr, now))
        .unwrap_or(false);
    if !allowed {
        tracing::warn!(user = name, %addr, "login throttled");
        return html_response(
            StatusCode::TOO_MANY_REQUESTS,
            html::login(
                field(&fields, "csrf").unwrap_or_default(),
                Some("too many failed logins; try again later"),
            ),
        );
    }
    let Some(role) = shared.users.verify(name, password) else {
        if let Ok(mut throttle) = shared.throttle.lock() {
            throttle.failed(name, addr, now);
        }
        tracing::info!(user = name, %addr, "login failed");
        return html_response(
            StatusCode::UNAUTHORIZED,
            html::login(
                field(&fields, "csrf").unwrap_or_default(),
                Some("wrong name or password"),
            ),
        );
    };
    start_session(&shared, name, role, addr, now)
}

fn start_session(shared: &Shared, name: &str, role: Role, addr: IpAddr, now: Instant) -> Response {
    if let Ok(mut throttle) = shared.throttle.lock() {
        throttle.succeeded(name, addr);
    }
    let token = match shared
        .sessions
        .lock()
        .map(|mut s| s.create(name, role, now))
    {
        Ok(Ok(token)) => token,
        Ok(Err(error)) => return error_page(StatusCode::INTERNAL_SERVER_ERROR, &error.to_string()),
        Err(_) => return error_page(StatusCode::INTERNAL_SERVER_ERROR, "session store poisoned"),
    };
    tracing::info!(user = name, role = role.name(), %addr, "logged in");
    let mut response = redirect("/");
    if let Ok(value) = HeaderValue::from_str(&set_cookie(shared, SESSION_COOKIE, &token, None)) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

async fn logout(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let fields = match form(&body) {
        Ok(fields) => fields,
        Err(refused) => return refused.into_response(),
    };
    let (token, session) = match checked_post(&shared, &headers, &fields) {
        Ok(found) => found,
        Err(refused) => return refused.into_response(),
    };
    if let Ok(mut sessions) = shared.sessions.lock() {
        sessions.remove(&token);
    }
    tracing::info!(user = session.user, "logged out");
    let mut response = redirect("/login");
    if let Ok(value) = HeaderValue::from_str(&set_cookie(&shared, SESSION_COOKIE, "", Some(0))) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

async fn periods_page(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    let Some((_, session)) = session(&shared, &headers) else {
        return redirect("/login");
    };
    let (gateway, signer) = match shared.upstream.connection(session.role).await {
        Ok(connection) => connection,
        Err(error) => return period_routes::upstream_error("connecting", &error),
    };
    let sdk = Settlement::new(gateway, signer);
    let rows = match sdk.periods().await {
        Ok(rows) => rows,
        Err(error) => return period_routes::upstream_error("periods_list", &error),
    };
    // The deadlines of the most recent periods (`period_get` each; older ones are settled
    // history and show none).
    let mut deadlines = vec![(None, None); rows.len()];
    let recent = rows.len().saturating_sub(PERIODS_DEADLINES_MAX);
    for (row, slot) in rows.iter().zip(deadlines.iter_mut()).skip(recent) {
        match sdk.status(row.period).await {
            Ok(view) => {
                *slot = (
                    view.status.upload_deadline_ms,
                    view.status.reveal_deadline_ms,
                )
            }
            Err(error) => return period_routes::upstream_error("period_get", &error),
        }
    }
    let user = (
        session.user.as_str(),
        session.role.name(),
        session.csrf.as_str(),
    );
    html_response(StatusCode::OK, html::periods(&rows, &deadlines, user))
}
