//! Real-socket tests on 127.0.0.1: a mutual SM-TLS handshake with a 10 MiB echo, and
//! every rejection the issue names (unknown CA, expired certificate, wrong server name,
//! client without a certificate, revoked certificate), checked on both ends.

use std::sync::Arc;
use std::time::Duration;

use netsettle_smcrypto::x509::{Certificate, Role};
use netsettle_smtls::{
    CrlRevocation, DetectedBy, HandshakeFailure, RevocationError, Sm2ServerVerifier, TlsError,
    TlsIdentity, client_config, connect, provider_arc, server_config,
};
use netsettle_testkit::WAIT_MAX;
use netsettle_testkit::pki::{DAY, TestOrg, anchors, no_revocation, now_unix, serve_one};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

const ECHO_BYTES: usize = 10 * 1024 * 1024;
/// Deadline for the 10 MiB echo: in the unoptimised test build SM4-GCM costs about seven
/// CPU-seconds for it, and CI shares two cores with other builds.
const BULK_WAIT_MAX: Duration = Duration::from_secs(300);

/// A node certificate of `ca` naming `dns` that expired yesterday, after 29 days.
fn expired_node(ca: &TestOrg, name: &str, dns: &str) -> TlsIdentity {
    ca.member_with(name, Role::Peer, |params| {
        params.dns_names = vec![dns.to_owned()];
        params.not_before_unix = ca.now - 30 * DAY;
        params.not_after_unix = ca.now - DAY;
    })
    .tls_identity()
}

fn failure(result: &Result<impl Sized, TlsError>) -> Option<(HandshakeFailure, DetectedBy)> {
    match result {
        Ok(_) => None,
        Err(err) => err.handshake_failure(),
    }
}

#[tokio::test]
async fn mutual_handshake_and_10_mib_echo() {
    tokio::time::timeout(BULK_WAIT_MAX, async {
        let carrier_a = TestOrg::at("carrier-a", now_unix());
        let carrier_b = TestOrg::at("carrier-b", now_unix());
        let trust = anchors(&[&carrier_a, &carrier_b]);
        let server_identity = carrier_a.node_tls("peer0.carrier-a", "peer0.carrier-a.net");
        let client_identity = carrier_b.node_tls("peer0.carrier-b", "peer0.carrier-b.net");
        let server_cfg = server_config(&server_identity, &trust, no_revocation()).unwrap();
        let client_cfg = client_config(&client_identity, &trust, no_revocation()).unwrap();

        let (addr, server) = serve_one(server_cfg).await;
        let echo = tokio::spawn(async move {
            let stream = server.await.unwrap().unwrap();
            let peer = stream.peer().certificate().clone();
            let (mut reader, mut writer) = tokio::io::split(stream);
            let copied = tokio::io::copy(&mut reader, &mut writer).await.unwrap();
            writer.shutdown().await.unwrap();
            (peer, copied)
        });

        let client = connect(&client_cfg, addr, "peer0.carrier-a.net")
            .await
            .unwrap();
        assert_eq!(client.peer().certificate(), server_identity.leaf());
        let payload: Vec<u8> = (0..ECHO_BYTES)
            .map(|i| (i.wrapping_mul(31) ^ (i >> 11)) as u8)
            .collect();
        let (mut reader, mut writer) = tokio::io::split(client);
        let to_send = payload.clone();
        let sender = tokio::spawn(async move {
            writer.write_all(&to_send).await.unwrap();
            writer.shutdown().await.unwrap();
        });
        let mut received = Vec::with_capacity(ECHO_BYTES);
        reader.read_to_end(&mut received).await.unwrap();
        sender.await.unwrap();

        let (server_saw, copied) = echo.await.unwrap();
        assert_eq!(&server_saw, client_identity.leaf());
        assert_eq!(copied, ECHO_BYTES as u64);
        assert_eq!(received.len(), ECHO_BYTES);
        assert!(received == payload, "echoed bytes differ");
    })
    .await
    .expect("test exceeded its deadline");
}

#[tokio::test]
async fn ip_address_server_name_matches_ip_san() {
    tokio::time::timeout(WAIT_MAX, async {
        let ca = TestOrg::at("carrier-a", now_unix());
        let trust = anchors(&[&ca]);
        let server_cfg = server_config(
            &ca.node_tls("orderer0", "orderer0.carrier-a.net"),
            &trust,
            no_revocation(),
        )
        .unwrap();
        let client_cfg = client_config(
            &ca.node_tls("client0", "client0.carrier-a.net"),
            &trust,
            no_revocation(),
        )
        .unwrap();
        let (addr, server) = serve_one(server_cfg).await;
        let mut client = connect(&client_cfg, addr, "127.0.0.1").await.unwrap();
        let mut server = server.await.unwrap().unwrap();
        client.write_all(b"ping").await.unwrap();
        let mut buf = [0u8; 4];
        server.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"ping");
        assert_eq!(
            server.peer().certificate().common_name().as_deref(),
            Some("client0.carrier-a")
        );
    })
    .await
    .expect("test exceeded its deadline");
}

#[tokio::test]
async fn server_from_unknown_ca_is_rejected_by_client() {
    tokio::time::timeout(WAIT_MAX, async {
        let ours = TestOrg::at("carrier-a", now_unix());
        let stranger = TestOrg::at("carrier-x", now_unix());
        // The server trusts both, the client only its own carrier.
        let server_cfg = server_config(
            &stranger.node_tls("peer0.x", "peer0.carrier-x.net"),
            &anchors(&[&ours, &stranger]),
            no_revocation(),
        )
        .unwrap();
        let client_cfg = client_config(
            &ours.node_tls("client0", "client0.carrier-a.net"),
            &anchors(&[&ours]),
            no_revocation(),
        )
        .unwrap();
        let (addr, server) = serve_one(server_cfg).await;
        let client = connect(&client_cfg, addr, "peer0.carrier-x.net").await;
        let err = client.as_ref().unwrap_err();
        assert_eq!(
            failure(&client),
            Some((HandshakeFailure::UnknownCa, DetectedBy::Us)),
            "{err}"
        );
        assert!(err.to_string().contains("unknown CA"), "{err}");
        let server = server.await.unwrap();
        assert_eq!(
            failure(&server),
            Some((HandshakeFailure::UnknownCa, DetectedBy::Peer))
        );
    })
    .await
    .expect("test exceeded its deadline");
}

#[tokio::test]
async fn client_from_unknown_ca_is_rejected_by_server() {
    tokio::time::timeout(WAIT_MAX, async {
        let ours = TestOrg::at("carrier-a", now_unix());
        let stranger = TestOrg::at("carrier-x", now_unix());
        let server_cfg = server_config(
            &ours.node_tls("peer0", "peer0.carrier-a.net"),
            &anchors(&[&ours]),
            no_revocation(),
        )
        .unwrap();
        let client_cfg = client_config(
            &stranger.node_tls("client.x", "client.carrier-x.net"),
            &anchors(&[&ours, &stranger]),
            no_revocation(),
        )
        .unwrap();
        let (addr, server) = serve_one(server_cfg).await;
        let client = connect(&client_cfg, addr, "peer0.carrier-a.net").await;
        let server = server.await.unwrap();
        assert_eq!(
            failure(&server),
            Some((HandshakeFailure::UnknownCa, DetectedBy::Us))
        );
        // TLS 1.3: the client finished first, so it learns of the rejection on read.
        let mut client = client.unwrap();
        let read = client.read(&mut [0u8; 16]).await.map_err(TlsError::from_io);
        assert_eq!(
            failure(&read),
            Some((HandshakeFailure::UnknownCa, DetectedBy::Peer))
        );
    })
    .await
    .expect("test exceeded its deadline");
}

#[tokio::test]
async fn expired_server_certificate_is_rejected() {
    tokio::time::timeout(WAIT_MAX, async {
        let ca = TestOrg::at("carrier-a", now_unix());
        let trust = anchors(&[&ca]);
        let expired = expired_node(&ca, "peer0", "peer0.carrier-a.net");
        let server_cfg = server_config(&expired, &trust, no_revocation()).unwrap();
        let client_cfg = client_config(
            &ca.node_tls("client0", "client0.carrier-a.net"),
            &trust,
            no_revocation(),
        )
        .unwrap();
        let (addr, server) = serve_one(server_cfg).await;
        let client = connect(&client_cfg, addr, "peer0.carrier-a.net").await;
        let err = client.as_ref().unwrap_err();
        assert_eq!(
            failure(&client),
            Some((HandshakeFailure::Expired, DetectedBy::Us)),
            "{err}"
        );
        assert!(err.to_string().contains("expired"), "{err}");
        assert_eq!(
            failure(&server.await.unwrap()),
            Some((HandshakeFailure::Expired, DetectedBy::Peer))
        );
    })
    .await
    .expect("test exceeded its deadline");
}

#[tokio::test]
async fn expired_client_certificate_is_rejected() {
    tokio::time::timeout(WAIT_MAX, async {
        let ca = TestOrg::at("carrier-a", now_unix());
        let trust = anchors(&[&ca]);
        let expired = expired_node(&ca, "client0", "client0.carrier-a.net");
        let server_cfg = server_config(
            &ca.node_tls("peer0", "peer0.carrier-a.net"),
            &trust,
            no_revocation(),
        )
        .unwrap();
        let client_cfg = client_config(&expired, &trust, no_revocation()).unwrap();
        let (addr, server) = serve_one(server_cfg).await;
        let mut client = connect(&client_cfg, addr, "peer0.carrier-a.net")
            .await
            .unwrap();
        assert_eq!(
            failure(&server.await.unwrap()),
            Some((HandshakeFailure::Expired, DetectedBy::Us))
        );
        let read = client.read(&mut [0u8; 16]).await.map_err(TlsError::from_io);
        assert_eq!(
            failure(&read),
            Some((HandshakeFailure::Expired, DetectedBy::Peer))
        );
    })
    .await
    .expect("test exceeded its deadline");
}

#[tokio::test]
async fn wrong_server_name_is_rejected() {
    tokio::time::timeout(WAIT_MAX, async {
        let ca = TestOrg::at("carrier-a", now_unix());
        let trust = anchors(&[&ca]);
        let server_cfg = server_config(
            &ca.node_tls("peer0", "peer0.carrier-a.net"),
            &trust,
            no_revocation(),
        )
        .unwrap();
        let client_cfg = client_config(
            &ca.node_tls("client0", "client0.carrier-a.net"),
            &trust,
            no_revocation(),
        )
        .unwrap();
        let (addr, server) = serve_one(server_cfg).await;
        let client = connect(&client_cfg, addr, "peer1.carrier-a.net").await;
        let err = client.as_ref().unwrap_err();
        assert_eq!(
            failure(&client),
            Some((HandshakeFailure::NameMismatch, DetectedBy::Us)),
            "{err}"
        );
        assert!(
            err.to_string().contains("peer0.carrier-a.net"),
            "error should list the presented names: {err}"
        );
        assert_eq!(
            failure(&server.await.unwrap()),
            Some((HandshakeFailure::BadCertificate, DetectedBy::Peer))
        );

        // An IP address the certificate does not carry fails the same way.
        let server_cfg = server_config(
            &ca.node_tls("peer0", "peer0.carrier-a.net"),
            &trust,
            no_revocation(),
        )
        .unwrap();
        let (addr, _server) = serve_one(server_cfg).await;
        let by_ip = connect_to(&client_cfg, addr, "127.0.0.2").await;
        assert_eq!(
            failure(&by_ip),
            Some((HandshakeFailure::NameMismatch, DetectedBy::Us))
        );
    })
    .await
    .expect("test exceeded its deadline");
}

/// Dial `addr` but verify the server under `name`.
async fn connect_to(
    config: &Arc<rustls::ClientConfig>,
    addr: std::net::SocketAddr,
    name: &str,
) -> Result<netsettle_smtls::TlsStream<tokio::net::TcpStream>, TlsError> {
    let tcp = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(TlsError::Io)?;
    netsettle_smtls::connect_stream(config, tcp, name).await
}

#[tokio::test]
async fn client_without_certificate_is_rejected() {
    tokio::time::timeout(WAIT_MAX, async {
        let ca = TestOrg::at("carrier-a", now_unix());
        let trust = anchors(&[&ca]);
        let server_cfg = server_config(
            &ca.node_tls("peer0", "peer0.carrier-a.net"),
            &trust,
            no_revocation(),
        )
        .unwrap();
        // A client that verifies the server properly but has no certificate to offer.
        let client_cfg = Arc::new(
            rustls::ClientConfig::builder_with_provider(provider_arc())
                .with_protocol_versions(&[&rustls::version::TLS13])
                .unwrap()
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(Sm2ServerVerifier::new(
                    trust.clone(),
                    no_revocation(),
                )))
                .with_no_client_auth(),
        );
        let (addr, server) = serve_one(server_cfg).await;
        let mut client = connect(&client_cfg, addr, "peer0.carrier-a.net")
            .await
            .unwrap();
        let server = server.await.unwrap();
        let err = server.as_ref().unwrap_err();
        assert_eq!(
            failure(&server),
            Some((HandshakeFailure::NoClientCertificate, DetectedBy::Us)),
            "{err}"
        );
        assert!(err.to_string().contains("no certificate"), "{err}");
        let read = client.read(&mut [0u8; 16]).await.map_err(TlsError::from_io);
        assert_eq!(
            failure(&read),
            Some((HandshakeFailure::NoClientCertificate, DetectedBy::Peer))
        );
    })
    .await
    .expect("test exceeded its deadline");
}

#[tokio::test]
async fn revocation_hook_rejects_listed_certificate() {
    tokio::time::timeout(WAIT_MAX, async {
        let ca = TestOrg::at("carrier-a", now_unix());
        let trust = anchors(&[&ca]);
        let client_identity = ca.node_tls("client0", "client0.carrier-a.net");
        let revoked_serial = client_identity.leaf().serial().to_vec();
        let issuer_seen = Arc::new(std::sync::Mutex::new(None::<Certificate>));
        let seen = Arc::clone(&issuer_seen);
        let revocation = Arc::new(move |cert: &Certificate, issuer: &Certificate, _at: i64| {
            *seen.lock().unwrap() = Some(issuer.clone());
            Ok::<bool, RevocationError>(cert.serial() == revoked_serial.as_slice())
        });
        let server_cfg = server_config(
            &ca.node_tls("peer0", "peer0.carrier-a.net"),
            &trust,
            revocation,
        )
        .unwrap();
        let client_cfg = client_config(&client_identity, &trust, no_revocation()).unwrap();
        let (addr, server) = serve_one(server_cfg).await;
        let mut client = connect(&client_cfg, addr, "peer0.carrier-a.net")
            .await
            .unwrap();
        assert_eq!(
            failure(&server.await.unwrap()),
            Some((HandshakeFailure::Revoked, DetectedBy::Us))
        );
        assert_eq!(issuer_seen.lock().unwrap().as_ref(), Some(&ca.ca_cert));
        let read = client.read(&mut [0u8; 16]).await.map_err(TlsError::from_io);
        assert_eq!(
            failure(&read),
            Some((HandshakeFailure::Revoked, DetectedBy::Peer))
        );
    })
    .await
    .expect("test exceeded its deadline");
}

#[tokio::test]
async fn undetermined_revocation_status_rejects() {
    tokio::time::timeout(WAIT_MAX, async {
        let ca = TestOrg::at("carrier-a", now_unix());
        let trust = anchors(&[&ca]);
        let failing = Arc::new(|_: &Certificate, _: &Certificate, _: i64| {
            Err::<bool, RevocationError>(RevocationError::NoCrl {
                issuer: "carrier-a root CA".to_owned(),
            })
        });
        let server_cfg = server_config(
            &ca.node_tls("peer0", "peer0.carrier-a.net"),
            &trust,
            no_revocation(),
        )
        .unwrap();
        let client_cfg = client_config(
            &ca.node_tls("client0", "client0.carrier-a.net"),
            &trust,
            failing,
        )
        .unwrap();
        let (addr, _server) = serve_one(server_cfg).await;
        let client = connect(&client_cfg, addr, "peer0.carrier-a.net").await;
        let err = client.as_ref().unwrap_err();
        assert_eq!(
            failure(&client),
            Some((HandshakeFailure::RevocationUnknown, DetectedBy::Us)),
            "{err}"
        );
        assert!(
            err.to_string().contains("revocation status unknown"),
            "{err}"
        );
    })
    .await
    .expect("test exceeded its deadline");
}

#[tokio::test]
async fn crl_revocation_rejects_revoked_client_over_sockets() {
    tokio::time::timeout(WAIT_MAX, async {
        let ca = TestOrg::at("carrier-a", now_unix());
        let trust = anchors(&[&ca]);
        let revoked_client = ca.node_tls("client0", "client0.carrier-a.net");
        let crl = ca.crl_of(&[revoked_client.leaf()]);
        let revocation = Arc::new(CrlRevocation::new(vec![crl]));
        let server_cfg = server_config(
            &ca.node_tls("peer0", "peer0.carrier-a.net"),
            &trust,
            revocation.clone(),
        )
        .unwrap();

        // A client the CRL does not list gets through.
        let good_cfg = client_config(
            &ca.node_tls("client1", "client1.carrier-a.net"),
            &trust,
            revocation.clone(),
        )
        .unwrap();
        let (addr, server) = serve_one(server_cfg.clone()).await;
        let _good = connect(&good_cfg, addr, "peer0.carrier-a.net")
            .await
            .unwrap();
        assert!(server.await.unwrap().is_ok());

        let bad_cfg = client_config(&revoked_client, &trust, revocation).unwrap();
        let (addr, server) = serve_one(server_cfg).await;
        let mut bad = connect(&bad_cfg, addr, "peer0.carrier-a.net")
            .await
            .unwrap();
        assert_eq!(
            failure(&server.await.unwrap()),
            Some((HandshakeFailure::Revoked, DetectedBy::Us))
        );
        let read = bad.read(&mut [0u8; 16]).await.map_err(TlsError::from_io);
        assert_eq!(
            failure(&read),
            Some((HandshakeFailure::Revoked, DetectedBy::Peer))
        );
    })
    .await
    .expect("test exceeded its deadline");
}
