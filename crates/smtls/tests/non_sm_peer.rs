//! Peers that do not speak RFC 8998 must fail the handshake with a clear
//! "no common algorithms" error, never fall back to something else.
//!
//! The system OpenSSL 3.0 has no SM TLS 1.3 at all, so `openssl s_client -tls1_3` is a
//! real foreign peer offering only AES/ChaCha suites, X25519/NIST groups and
//! RSA/ECDSA/EdDSA signatures. Two rustls clients built from our own parts isolate the
//! other two mismatches rustls can hit: a cipher suite we do not have (with curveSM2
//! offered, so the group check passes) and signature schemes without `sm2sig_sm3`.

use std::process::Stdio;
use std::sync::Arc;

use netsettle_smtls::{
    DetectedBy, HandshakeFailure, Sm2ServerVerifier, TLS13_SM4_GCM_SM3, TlsError, TlsIdentity,
    TrustAnchors, client_config, connect, provider, server_config,
};
use netsettle_testkit::WAIT_MAX;
use netsettle_testkit::pki::{TestOrg, anchors, no_revocation, now_unix, serve_one};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CipherSuite, CipherSuiteCommon, DigitallySignedStruct, PeerIncompatible, SignatureScheme,
    SupportedCipherSuite, Tls13CipherSuite,
};
use tokio::io::AsyncReadExt as _;
use tokio::process::Command;

fn failure(result: &Result<impl Sized, TlsError>) -> Option<(HandshakeFailure, DetectedBy)> {
    result.as_ref().err().and_then(TlsError::handshake_failure)
}

fn rustls_cause(result: &Result<impl Sized, TlsError>) -> Option<&rustls::Error> {
    match result {
        Err(TlsError::Handshake { source, .. }) => Some(source),
        _ => None,
    }
}

fn setup() -> (TestOrg, TrustAnchors, TlsIdentity) {
    let ca = TestOrg::at("carrier-a", now_unix());
    let trust = anchors(&[&ca]);
    let server_identity = ca.node_tls("peer0", "peer0.carrier-a.net");
    (ca, trust, server_identity)
}

#[tokio::test]
async fn openssl_s_client_without_sm_suites_is_refused() {
    tokio::time::timeout(WAIT_MAX, async {
        let (_ca, trust, server_identity) = setup();
        let (addr, server) = serve_one(server_config(&server_identity, &trust, no_revocation()).unwrap()).await;

        let spawned = Command::new("openssl")
            .args(["s_client", "-tls1_3", "-connect", &addr.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn();
        let child = match spawned {
            Ok(child) => child,
            Err(err) => panic!(
                "cannot run the system `openssl` ({err}); this test needs OpenSSL 3 as a non-SM TLS peer: run scripts/setup.sh"
            ),
        };

        let server = server.await.unwrap();
        let err = server.as_ref().unwrap_err();
        assert_eq!(failure(&server), Some((HandshakeFailure::NoCommonAlgorithms, DetectedBy::Us)), "{err}");
        // OpenSSL offers only X25519/NIST/FFDHE groups, so rustls stops at the group check,
        // before comparing cipher suites.
        assert_eq!(
            rustls_cause(&server),
            Some(&rustls::Error::PeerIncompatible(PeerIncompatible::NoKxGroupsInCommon))
        );
        assert!(err.to_string().contains("TLS_SM4_GCM_SM3"), "error should say what we accept: {err}");

        let output = child.wait_with_output().await.unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(!output.status.success(), "openssl should fail the handshake:\n{text}");
        assert!(text.contains("handshake failure"), "openssl should report our handshake_failure alert:\n{text}");
    })
    .await
    .expect("test exceeded its deadline");
}

/// Our provider, but with its one suite relabelled as TLS13_AES_128_GCM_SHA256: the client
/// offers curveSM2 (so the group check passes) and only a suite we do not have.
fn provider_offering_only_aes_suite() -> Arc<CryptoProvider> {
    let sm = TLS13_SM4_GCM_SM3.tls13().unwrap();
    let relabelled: &'static Tls13CipherSuite = Box::leak(Box::new(Tls13CipherSuite {
        common: CipherSuiteCommon {
            suite: CipherSuite::TLS13_AES_128_GCM_SHA256,
            hash_provider: sm.common.hash_provider,
            confidentiality_limit: sm.common.confidentiality_limit,
        },
        hkdf_provider: sm.hkdf_provider,
        aead_alg: sm.aead_alg,
        quic: None,
    }));
    let mut p = provider();
    p.cipher_suites = vec![SupportedCipherSuite::Tls13(relabelled)];
    Arc::new(p)
}

#[tokio::test]
async fn client_offering_only_aes_suite_is_refused() {
    tokio::time::timeout(WAIT_MAX, async {
        let (_ca, trust, server_identity) = setup();
        let (addr, server) =
            serve_one(server_config(&server_identity, &trust, no_revocation()).unwrap()).await;
        let client_cfg = Arc::new(
            rustls::ClientConfig::builder_with_provider(provider_offering_only_aes_suite())
                .with_protocol_versions(&[&rustls::version::TLS13])
                .unwrap()
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(Sm2ServerVerifier::new(
                    trust.clone(),
                    no_revocation(),
                )))
                .with_no_client_auth(),
        );
        let client = connect(&client_cfg, addr, "peer0.carrier-a.net").await;
        let server = server.await.unwrap();
        assert_eq!(
            failure(&server),
            Some((HandshakeFailure::NoCommonAlgorithms, DetectedBy::Us))
        );
        assert_eq!(
            rustls_cause(&server),
            Some(&rustls::Error::PeerIncompatible(
                PeerIncompatible::NoCipherSuitesInCommon
            ))
        );
        assert_eq!(
            failure(&client),
            Some((HandshakeFailure::NoCommonAlgorithms, DetectedBy::Peer))
        );
    })
    .await
    .expect("test exceeded its deadline");
}

/// Verifies like ours but advertises only ECDSA, as a client without SM2 support would.
#[derive(Debug)]
struct EcdsaOnly(Sm2ServerVerifier);

impl ServerCertVerifier for EcdsaOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        vec![
            SignatureScheme::ECDSA_NISTP256_SHA256,
            SignatureScheme::ED25519,
        ]
    }
}

#[tokio::test]
async fn client_accepting_only_ecdsa_signatures_is_refused() {
    tokio::time::timeout(WAIT_MAX, async {
        let (ca, trust, server_identity) = setup();
        let (addr, server) =
            serve_one(server_config(&server_identity, &trust, no_revocation()).unwrap()).await;
        let mut client_cfg = (*client_config(
            &ca.node_tls("client0", "client0.carrier-a.net"),
            &trust,
            no_revocation(),
        )
        .unwrap())
        .clone();
        client_cfg
            .dangerous()
            .set_certificate_verifier(Arc::new(EcdsaOnly(Sm2ServerVerifier::new(
                trust.clone(),
                no_revocation(),
            ))));
        let client = connect(&Arc::new(client_cfg), addr, "peer0.carrier-a.net").await;
        let server = server.await.unwrap();
        assert_eq!(
            failure(&server),
            Some((HandshakeFailure::NoCommonAlgorithms, DetectedBy::Us))
        );
        assert_eq!(
            rustls_cause(&server),
            Some(&rustls::Error::PeerIncompatible(
                PeerIncompatible::NoSignatureSchemesInCommon
            ))
        );
        assert_eq!(
            failure(&client),
            Some((HandshakeFailure::NoCommonAlgorithms, DetectedBy::Peer))
        );
    })
    .await
    .expect("test exceeded its deadline");
}

#[tokio::test]
async fn plaintext_peer_is_a_protocol_error_not_a_hang() {
    tokio::time::timeout(WAIT_MAX, async {
        let (_ca, trust, server_identity) = setup();
        let (addr, server) =
            serve_one(server_config(&server_identity, &trust, no_revocation()).unwrap()).await;
        let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        tokio::io::AsyncWriteExt::write_all(&mut tcp, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let server = server.await.unwrap();
        assert_eq!(
            failure(&server),
            Some((HandshakeFailure::Protocol, DetectedBy::Us))
        );
        // The server answers with an alert and closes; reading drains to EOF.
        let mut rest = Vec::new();
        tcp.read_to_end(&mut rest).await.unwrap();
    })
    .await
    .expect("test exceeded its deadline");
}
