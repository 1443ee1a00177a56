//! The console's notices hook over real sockets on 127.0.0.1 with a real HTTP client: a
//! node signing certificate written to a temporary file and configured as the trusted
//! notice signer, notices signed with its key as the node does
//! (`netsettle_client::sign_notice`). A good notice is kept once (its repeat answered 2xx
//! and dropped), shown on `GET /notices` as `li[data-notice=ID]`; a forged, tampered,
//! old, oversize, unsigned or mismatched one is refused and not shown.

use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use hyper::StatusCode;
use netsettle_client::{Notice, sign_notice};
use netsettle_console::{
    Console, ConsoleConfig, ConsoleError, PRE_COOKIE, SESSION_COOKIE, hash_password,
};
use netsettle_smcrypto::PrivateKey;
use netsettle_smcrypto::x509::{CertificateParams, Role, SubjectName, self_signed};

mod common;

use common::{Answer, exchange as request};

fn now_ms() -> i64 {
    let elapsed = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    i64::try_from(elapsed.as_millis()).unwrap()
}

/// A node signing key and its certificate, as PEM text.
fn node_key() -> (PrivateKey, String) {
    let key = PrivateKey::generate();
    let subject = SubjectName {
        common_name: "peer0.unicom.example".to_owned(),
        organization: Some("UnicomMSP".to_owned()),
        organizational_units: Vec::new(),
        country: Some("CN".to_owned()),
    };
    let now = now_ms() / 1000;
    let params =
        CertificateParams::end_entity(subject, Role::Peer, now - 3600, now + 3600).unwrap();
    let cert = self_signed(&params, &key).unwrap();
    (key, cert.to_pem())
}

fn config_text(signer: &std::path::Path) -> String {
    let hash = hash_password(b"alice's password").unwrap();
    format!(
        r#"listen = "127.0.0.1:0"
profile = "/nonexistent/profile.toml"
settlement_identity = "/nonexistent/settlement"
finance_identity = "/nonexistent/finance"
notice_signers = ["{}"]
[[users]]
name = "alice"
password_hash = "{hash}"
role = "settlement"
"#,
        signer.display()
    )
}

fn notice(id: &str) -> Notice {
    Notice {
        id: id.to_owned(),
        kind: "counterpart_uploaded".to_owned(),
        channel: "settlement".to_owned(),
        carrier: "UnicomMSP".to_owned(),
        period: Some("2026-10".to_owned()),
        text: "MobileMSP uploaded its 2026-10 report; upload yours".to_owned(),
        block: Some(12),
        tx_id: Some("ab".repeat(32)),
        at_ms: now_ms(),
        recipient: "console".to_owned(),
    }
}

/// The body and headers of `notice` signed by `key` at `signed_ms`.
fn signed(
    key: &PrivateKey,
    notice: &Notice,
    signed_ms: i64,
) -> (Vec<u8>, Vec<(&'static str, String)>) {
    let body = serde_json::to_vec(notice).unwrap();
    let mut headers: Vec<(&'static str, String)> =
        sign_notice(key, &notice.id, signed_ms, &body).into();
    headers.push(("content-type", "application/json".to_owned()));
    (body, headers)
}

async fn post(addr: SocketAddr, body: Vec<u8>, headers: &[(&str, String)]) -> Answer {
    request(addr, "POST", "/hooks/notices", headers, body).await
}

/// The notices page as logged-in `alice`.
async fn notices_page(addr: SocketAddr) -> String {
    let form = request(addr, "GET", "/login", &[], Vec::new()).await;
    let pre = form.cookie_pair(PRE_COOKIE).expect("pre-session cookie");
    let login = common::form(&[
        ("csrf", &form.csrf()),
        ("name", "alice"),
        ("password", "alice's password"),
    ]);
    let headers = [
        ("cookie", pre),
        (
            "content-type",
            "application/x-www-form-urlencoded".to_owned(),
        ),
    ];
    let answer = request(addr, "POST", "/login", &headers, login).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
    let session = answer.cookie_pair(SESSION_COOKIE).expect("session cookie");
    let page = request(addr, "GET", "/notices", &[("cookie", session)], Vec::new()).await;
    assert_eq!(page.status, StatusCode::OK);
    page.body
}

#[tokio::test]
async fn signed_notices_are_kept_once_and_others_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (key, pem) = node_key();
    let signer = dir.path().join("node-signer.pem");
    std::fs::write(&signer, pem).unwrap();
    let console = Console::start(ConsoleConfig::parse(&config_text(&signer)).unwrap())
        .await
        .unwrap();
    let addr = console.local_addr();

    let good = notice("12-0-1/console");
    let (body, headers) = signed(&key, &good, now_ms());
    let first = post(addr, body.clone(), &headers).await;
    assert_eq!(
        (first.status, first.body.as_str()),
        (StatusCode::OK, "received\n")
    );
    let again = post(addr, body, &headers).await;
    assert_eq!(
        (again.status, again.body.as_str()),
        (StatusCode::OK, "duplicate ignored\n")
    );

    // Forged (another key), tampered (body changed after signing), old, oversize,
    // unsigned, and an id header that is not the body's.
    let (other, _) = node_key();
    let (body, headers) = signed(&other, &notice("forged"), now_ms());
    assert_eq!(
        post(addr, body, &headers).await.status,
        StatusCode::UNAUTHORIZED
    );
    let (_, headers) = signed(&key, &notice("tampered"), now_ms());
    let mut changed = notice("tampered");
    changed.text = "pay to another account".to_owned();
    let body = serde_json::to_vec(&changed).unwrap();
    assert_eq!(
        post(addr, body, &headers).await.status,
        StatusCode::UNAUTHORIZED
    );
    let (body, headers) = signed(&key, &notice("old"), now_ms() - 10 * 60 * 1000);
    assert_eq!(
        post(addr, body, &headers).await.status,
        StatusCode::UNAUTHORIZED
    );
    let mut large = notice("large");
    large.text = "x".repeat(20 * 1024);
    let (body, headers) = signed(&key, &large, now_ms());
    assert_eq!(
        post(addr, body, &headers).await.status,
        StatusCode::PAYLOAD_TOO_LARGE
    );
    let unsigned = serde_json::to_vec(&notice("unsigned")).unwrap();
    let plain = [("content-type", "application/json".to_owned())];
    assert_eq!(
        post(addr, unsigned, &plain).await.status,
        StatusCode::BAD_REQUEST
    );
    let (body, mut headers) = signed(&key, &notice("body-id"), now_ms());
    headers[0].1 = "header-id".to_owned();
    let refused = post(addr, body, &headers).await;
    assert_ne!(refused.status, StatusCode::OK, "{}", refused.body);

    let page = notices_page(addr).await;
    assert_eq!(page.matches("<li data-notice=").count(), 1, "{page}");
    assert!(
        page.contains("<li data-notice=\"12-0-1/console\""),
        "{page}"
    );
    assert!(page.contains(&good.text));
    assert!(
        page.contains("<a href=\"/periods/2026-10\">2026-10</a>"),
        "{page}"
    );
    console.shutdown().await;
}

#[tokio::test]
async fn an_unreadable_signer_certificate_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.pem");
    let config = ConsoleConfig::parse(&config_text(&missing)).unwrap();
    let error = Console::start(config).await.err().expect("refused");
    assert!(
        matches!(error, ConsoleError::NoticeSigner { .. }),
        "{error}"
    );
}
