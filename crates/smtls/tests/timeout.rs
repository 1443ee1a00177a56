//! A peer that connects but never speaks TLS cannot hold a handshake open past
//! `HANDSHAKE_TIMEOUT`, on either side. Time is paused, so tokio advances the clock as
//! soon as both ends are idle and the test takes no real ten seconds.

use netsettle_smtls::{HANDSHAKE_TIMEOUT, TlsError, accept, client_config, connect, server_config};
use netsettle_testkit::pki::{TestOrg, anchors, no_revocation, now_unix};
use tokio::net::{TcpListener, TcpStream};

#[tokio::test(start_paused = true)]
async fn silent_server_times_out_client() {
    let ca = TestOrg::at("carrier-a", now_unix());
    let client_cfg = client_config(
        &ca.node_tls("client0", "client0.carrier-a.net"),
        &anchors(&[&ca]),
        no_revocation(),
    )
    .unwrap();
    // The kernel completes the TCP handshake from the backlog; nobody ever answers the
    // ClientHello.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let started = tokio::time::Instant::now();
    let result = connect(&client_cfg, addr, "peer0.carrier-a.net").await;
    assert!(
        matches!(result, Err(TlsError::HandshakeTimeout { seconds }) if seconds == HANDSHAKE_TIMEOUT.as_secs()),
        "{result:?}"
    );
    assert!(started.elapsed() >= HANDSHAKE_TIMEOUT);
    drop(listener);
}

#[tokio::test(start_paused = true)]
async fn silent_client_times_out_server() {
    let ca = TestOrg::at("carrier-a", now_unix());
    let server_cfg = server_config(
        &ca.node_tls("peer0", "peer0.carrier-a.net"),
        &anchors(&[&ca]),
        no_revocation(),
    )
    .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let _silent = TcpStream::connect(addr).await.unwrap();
    let (tcp, _) = listener.accept().await.unwrap();
    let result = accept(&server_cfg, tcp).await;
    assert!(
        matches!(result, Err(TlsError::HandshakeTimeout { .. })),
        "{result:?}"
    );
}
