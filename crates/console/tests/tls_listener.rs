//! The console's ordinary-TLS listener over real sockets on 127.0.0.1: a self-signed
//! ECDSA certificate (rcgen) for `localhost` and 127.0.0.1 configured as `[tls]`, a
//! rustls client (its `ring` provider) that trusts it. Pages are served over TLS with
//! `Secure` cookies; plain HTTP on that port, and a client that does not trust the
//! certificate, get nothing; a key that does not load refuses the start. The separate
//! plain-HTTP notices listener (`notices_listen`) takes a signed notice and serves
//! nothing else.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use netsettle_console::{Console, ConsoleConfig, ConsoleError, PRE_COOKIE};
use rustls::RootCertStore;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const DEADLINE: Duration = Duration::from_secs(30);

fn config(dir: &std::path::Path, cert: &str, key: &str) -> ConsoleConfig {
    std::fs::write(dir.join("console.crt"), cert).unwrap();
    std::fs::write(dir.join("console.key"), key).unwrap();
    let text = format!(
        r#"listen = "127.0.0.1:0"
profile = "/nonexistent/profile.toml"
settlement_identity = "/nonexistent/settlement"
finance_identity = "/nonexistent/finance"
[tls]
cert = "{}"
key = "{}"
"#,
        dir.join("console.crt").display(),
        dir.join("console.key").display()
    );
    ConsoleConfig::parse(&text).unwrap()
}

fn client(trusted: &CertificateDer<'static>) -> tokio_rustls::TlsConnector {
    let mut roots = RootCertStore::empty();
    roots.add(trusted.clone()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

async fn get_login(
    addr: SocketAddr,
    connector: &tokio_rustls::TlsConnector,
) -> Result<hyper::Response<hyper::body::Incoming>, String> {
    let tcp = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| e.to_string())?;
    let name = ServerName::try_from("localhost").unwrap();
    let tls = connector
        .connect(name, tcp)
        .await
        .map_err(|e| e.to_string())?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(connection);
    let request = Request::get("/login")
        .header("host", "localhost")
        .body(Empty::<Bytes>::new())
        .unwrap();
    sender
        .send_request(request)
        .await
        .map_err(|e| e.to_string())
}

#[tokio::test]
async fn pages_are_served_over_tls_with_secure_cookies() {
    let dir = tempfile::tempdir().unwrap();
    let issued =
        rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    let console = Console::start(config(
        dir.path(),
        &issued.cert.pem(),
        &issued.key_pair.serialize_pem(),
    ))
    .await
    .unwrap();
    let addr = console.local_addr();
    assert_eq!(console.url(), format!("https://{addr}"));

    let trusted = issued.cert.der().clone();
    let answer = tokio::time::timeout(DEADLINE, get_login(addr, &client(&trusted)))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    let cookie = answer.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        cookie.starts_with(PRE_COOKIE) && cookie.contains("; Secure"),
        "{cookie}"
    );
    let body = answer.into_body().collect().await.unwrap().to_bytes();
    assert!(String::from_utf8_lossy(&body).contains("id=\"login\""));

    // A client trusting another certificate: no handshake.
    let other = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let refused = tokio::time::timeout(DEADLINE, get_login(addr, &client(other.cert.der())))
        .await
        .unwrap();
    assert!(refused.is_err());

    // Plain HTTP on the TLS port: no HTTP answer, the connection is closed.
    let plain = async {
        let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        tcp.write_all(b"GET /login HTTP/1.1\r\nhost: localhost\r\n\r\n")
            .await
            .unwrap();
        let mut read = Vec::new();
        let _ = tcp.read_to_end(&mut read).await;
        read
    };
    let read = tokio::time::timeout(DEADLINE, plain).await.unwrap();
    assert!(
        !read.starts_with(b"HTTP/"),
        "{}",
        String::from_utf8_lossy(&read)
    );
    console.shutdown().await;
}

#[tokio::test]
async fn a_certificate_or_key_that_does_not_load_refuses_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let issued = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let other = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    for (cert, key) in [
        (issued.cert.pem(), "not a key".to_owned()),
        (
            "not a certificate".to_owned(),
            issued.key_pair.serialize_pem(),
        ),
        (issued.cert.pem(), other.key_pair.serialize_pem()),
    ] {
        let error = Console::start(config(dir.path(), &cert, &key))
            .await
            .err()
            .expect("refused");
        assert!(matches!(error, ConsoleError::Tls(_)), "{error}");
    }
    // With TLS configured, a non-loopback address is accepted by the config.
    let text = "listen = \"0.0.0.0:8443\"\nprofile = \"p\"\nsettlement_identity = \"s\"\n\
                finance_identity = \"f\"\n[tls]\ncert = \"c.pem\"\nkey = \"k.pem\"\n";
    assert!(ConsoleConfig::parse(text).is_ok());
}

#[tokio::test]
async fn the_notices_listener_serves_the_hook_alone_in_plain_http() {
    use netsettle_smcrypto::x509::{CertificateParams, Role, SubjectName, self_signed};
    let dir = tempfile::tempdir().unwrap();
    let key = netsettle_smcrypto::PrivateKey::generate();
    let subject = SubjectName {
        common_name: "peer0.unicom.example".to_owned(),
        organization: Some("UnicomMSP".to_owned()),
        organizational_units: Vec::new(),
        country: None,
    };
    let now_ms = i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap();
    let params =
        CertificateParams::end_entity(subject, Role::Peer, now_ms / 1000 - 60, now_ms / 1000 + 60)
            .unwrap();
    std::fs::write(
        dir.path().join("signer.pem"),
        self_signed(&params, &key).unwrap().to_pem(),
    )
    .unwrap();
    let issued = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let mut config = config(
        dir.path(),
        &issued.cert.pem(),
        &issued.key_pair.serialize_pem(),
    );
    config.notice_signers = vec![dir.path().join("signer.pem")];
    config.notices_listen = Some("127.0.0.1:0".parse().unwrap());
    let console = Console::start(config).await.unwrap();
    let hook = console.notices_addr().expect("the notices listener");

    let notice = netsettle_client::Notice {
        id: "7-0-1/console".to_owned(),
        kind: "reconciled".to_owned(),
        channel: "settlement".to_owned(),
        carrier: "UnicomMSP".to_owned(),
        period: Some("2026-10".to_owned()),
        text: "reconciled".to_owned(),
        block: Some(7),
        tx_id: None,
        at_ms: now_ms,
        recipient: "console".to_owned(),
    };
    let body = serde_json::to_vec(&notice).unwrap();
    let headers = netsettle_client::sign_notice(&key, &notice.id, now_ms, &body);
    let exchange = async {
        let tcp = tokio::net::TcpStream::connect(hook).await.unwrap();
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
            .await
            .unwrap();
        tokio::spawn(connection);
        let mut post = Request::post("/hooks/notices").header("host", hook.to_string());
        for (name, value) in &headers {
            post = post.header(*name, value);
        }
        let posted = sender
            .send_request(
                post.body(http_body_util::Full::new(Bytes::from(body)))
                    .unwrap(),
            )
            .await
            .unwrap();
        let page = Request::get("/login")
            .header("host", hook.to_string())
            .body(http_body_util::Full::new(Bytes::new()))
            .unwrap();
        let page = sender.send_request(page).await.unwrap();
        (posted.status(), page.status())
    };
    let (posted, page) = tokio::time::timeout(DEADLINE, exchange).await.unwrap();
    assert_eq!(posted, StatusCode::OK);
    assert_eq!(page, StatusCode::NOT_FOUND);
    console.shutdown().await;
}
