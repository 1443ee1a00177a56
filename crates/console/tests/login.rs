//! The console's login, sessions, CSRF checks and limits over real sockets on 127.0.0.1,
//! with a real HTTP client. No consortium: the pages tested here do not call it (the
//! console connects to the carrier's nodes on first use).

use std::net::SocketAddr;

use hyper::StatusCode;
use netsettle_console::{
    Console, ConsoleConfig, ConsoleError, PRE_COOKIE, SESSION_COOKIE, hash_password,
};

mod common;

use common::{Answer, exchange, form};

/// A form request with `cookies` on a fresh connection.
async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    cookies: &[&str],
    body: Vec<u8>,
) -> Answer {
    let mut headers = vec![(
        "content-type",
        "application/x-www-form-urlencoded".to_owned(),
    )];
    if !cookies.is_empty() {
        headers.push(("cookie", cookies.join("; ")));
    }
    exchange(addr, method, path, &headers, body).await
}

/// `name=value` of a Set-Cookie header, for the Cookie header.
fn pair(set_cookie: &str) -> String {
    set_cookie.split(';').next().expect("a pair").to_owned()
}

async fn start() -> Console {
    let settlement = hash_password(b"correct horse").expect("hash");
    let finance = hash_password(b"battery staple").expect("hash");
    let text = format!(
        r#"listen = "127.0.0.1:0"
profile = "/nonexistent/profile.toml"
settlement_identity = "/nonexistent/settlement"
finance_identity = "/nonexistent/finance"
[[users]]
name = "alice"
password_hash = "{settlement}"
role = "settlement"
[[users]]
name = "frank"
password_hash = "{finance}"
role = "finance"
"#
    );
    let config = ConsoleConfig::parse(&text).expect("config");
    Console::start(config).await.expect("console")
}

/// A login form's pre-session cookie and token.
async fn login_form(addr: SocketAddr) -> (String, String) {
    let page = request(addr, "GET", "/login", &[], Vec::new()).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("id=\"login\""));
    let cookie = page.cookie(PRE_COOKIE).expect("pre-session cookie");
    (pair(&cookie), page.csrf())
}

async fn log_in(addr: SocketAddr, name: &str, password: &str) -> Answer {
    let (cookie, csrf) = login_form(addr).await;
    let body = form(&[("csrf", &csrf), ("name", name), ("password", password)]);
    request(addr, "POST", "/login", &[&cookie], body).await
}

#[tokio::test]
async fn login_logout_and_csrf() {
    let console = start().await;
    let addr = console.local_addr();

    let page = request(addr, "GET", "/login", &[], Vec::new()).await;
    assert_eq!(
        page.headers["content-security-policy"],
        "default-src 'self'"
    );
    assert_eq!(page.headers["x-frame-options"], "DENY");
    assert_eq!(page.headers["cache-control"], "no-store");
    let pre = page.cookie(PRE_COOKIE).expect("pre cookie");
    assert!(pre.contains("HttpOnly") && pre.contains("SameSite=Strict") && pre.contains("Path=/"));

    // Without a session every page sends the browser to the login form.
    let home = request(addr, "GET", "/", &[], Vec::new()).await;
    assert_eq!(home.status, StatusCode::SEE_OTHER);
    assert_eq!(home.headers["location"], "/login");

    // The login form's token: missing, wrong, or without its cookie, it is refused.
    let (cookie, csrf) = login_form(addr).await;
    let no_token = form(&[("name", "alice"), ("password", "correct horse")]);
    assert_eq!(
        request(addr, "POST", "/login", &[&cookie], no_token)
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let wrong = form(&[
        ("csrf", "00"),
        ("name", "alice"),
        ("password", "correct horse"),
    ]);
    assert_eq!(
        request(addr, "POST", "/login", &[&cookie], wrong)
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let no_cookie = form(&[
        ("csrf", &csrf),
        ("name", "alice"),
        ("password", "correct horse"),
    ]);
    let refused = request(addr, "POST", "/login", &[], no_cookie).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(refused.cookie(SESSION_COOKIE).is_none());

    // Wrong password and unknown user look the same.
    let bad = log_in(addr, "alice", "wrong").await;
    assert_eq!(bad.status, StatusCode::UNAUTHORIZED);
    assert!(bad.cookie(SESSION_COOKIE).is_none());
    assert!(bad.body.contains("wrong name or password"));
    let unknown = log_in(addr, "mallory", "correct horse").await;
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);

    let good = log_in(addr, "alice", "correct horse").await;
    assert_eq!(good.status, StatusCode::SEE_OTHER);
    assert_eq!(good.headers["location"], "/");
    let session = good.cookie(SESSION_COOKIE).expect("session cookie");
    assert!(session.contains("HttpOnly") && session.contains("SameSite=Strict"));
    let session = pair(&session);
    let token = session.split_once('=').expect("pair").1;
    assert_eq!(token.len(), 64, "a 256-bit token in hex");

    let notices = request(addr, "GET", "/notices", &[&session], Vec::new()).await;
    assert_eq!(notices.status, StatusCode::OK);
    assert!(notices.body.contains("id=\"notices\""));
    assert!(notices.body.contains("alice (settlement)"));
    let csrf = notices.csrf();

    // Logout without or with a wrong CSRF token is refused and changes nothing.
    let missing = request(addr, "POST", "/logout", &[&session], Vec::new()).await;
    assert_eq!(missing.status, StatusCode::FORBIDDEN);
    let wrong = request(
        addr,
        "POST",
        "/logout",
        &[&session],
        form(&[("csrf", &"0".repeat(64))]),
    )
    .await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);
    assert_eq!(
        request(addr, "GET", "/notices", &[&session], Vec::new())
            .await
            .status,
        StatusCode::OK
    );

    let out = request(
        addr,
        "POST",
        "/logout",
        &[&session],
        form(&[("csrf", &csrf)]),
    )
    .await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert_eq!(out.headers["location"], "/login");
    let after = request(addr, "GET", "/notices", &[&session], Vec::new()).await;
    assert_eq!(
        after.status,
        StatusCode::SEE_OTHER,
        "the session is gone after logout"
    );

    console.shutdown().await;
}

#[tokio::test]
async fn repeated_failures_are_throttled() {
    let console = start().await;
    let addr = console.local_addr();
    for _ in 0..netsettle_console::limits::LOGIN_FAILURES_MAX {
        assert_eq!(
            log_in(addr, "frank", "guess").await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    // Even the right password is refused while the pair is throttled.
    let throttled = log_in(addr, "frank", "battery staple").await;
    assert_eq!(throttled.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(throttled.cookie(SESSION_COOKIE).is_none());
    // Another user from the same address is not.
    assert_eq!(
        log_in(addr, "alice", "correct horse").await.status,
        StatusCode::SEE_OTHER
    );
    console.shutdown().await;
}

#[tokio::test]
async fn oversize_bodies_and_fields_are_refused() {
    let console = start().await;
    let addr = console.local_addr();
    let (cookie, csrf) = login_form(addr).await;
    let huge = vec![b'a'; netsettle_console::limits::BODY_BYTES_MAX + 1];
    let refused = request(addr, "POST", "/login", &[&cookie], huge).await;
    assert_eq!(refused.status, StatusCode::PAYLOAD_TOO_LARGE);
    let long = "x".repeat(netsettle_console::limits::FIELD_BYTES_MAX + 1);
    let body = form(&[("csrf", &csrf), ("name", "alice"), ("password", &long)]);
    let refused = request(addr, "POST", "/login", &[&cookie], body).await;
    assert_eq!(refused.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(refused.cookie(SESSION_COOKIE).is_none());
    console.shutdown().await;
}

#[test]
fn configs_that_would_be_unsafe_are_refused() {
    let base = "profile = \"p\"\nsettlement_identity = \"s\"\nfinance_identity = \"f\"\n";
    let public = format!("listen = \"10.1.2.3:8080\"\n{base}");
    assert!(matches!(
        ConsoleConfig::parse(&public),
        Err(ConsoleError::PlainNotLoopback(_))
    ));
    let unknown = format!("listen = \"127.0.0.1:0\"\n{base}colour = \"red\"\n");
    assert!(matches!(
        ConsoleConfig::parse(&unknown),
        Err(ConsoleError::Config(_))
    ));
    let bad_hash = format!(
        "listen = \"127.0.0.1:0\"\n{base}[[users]]\nname = \"a\"\npassword_hash = \"plain\"\nrole = \"finance\"\n"
    );
    assert!(matches!(
        ConsoleConfig::parse(&bad_hash),
        Err(ConsoleError::Config(_))
    ));
    let bad_role = format!(
        "listen = \"127.0.0.1:0\"\n{base}[[users]]\nname = \"a\"\npassword_hash = \"x\"\nrole = \"admin\"\n"
    );
    assert!(matches!(
        ConsoleConfig::parse(&bad_role),
        Err(ConsoleError::Config(_))
    ));
    assert!(ConsoleConfig::parse(&format!("listen = \"127.0.0.1:0\"\n{base}")).is_ok());
}

#[tokio::test]
async fn the_stylesheet_is_served_without_a_session() {
    let console = start().await;
    let addr = console.local_addr();
    let css = request(addr, "GET", "/console.css", &[], Vec::new()).await;
    assert_eq!(css.status, StatusCode::OK);
    assert!(
        css.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/css")
    );
    assert!(css.body.contains("tr.disputed"));
    let login = request(addr, "GET", "/login", &[], Vec::new()).await;
    assert!(login.body.contains("href=\"/console.css\""));
    console.shutdown().await;
}
