//! The offline bootstrap of configs/unicom.toml and configs/mobile.toml, then the
//! bootstrapped CA served in-process over real sockets on 127.0.0.1:0: the bootstrapped
//! admin registers a new peer, which enrolls over SM-TLS without a certificate; a
//! certificate-less client can do nothing else; revocation by name reaches the CRL.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use netsettle_ca::{CaClient, CaError, Refusal, RevokeTarget, ServeConfig, Spec};
use netsettle_smcrypto::x509::{Certificate, Role, verify_chain};

fn spec_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("configs")
        .join(name)
}

fn now() -> i64 {
    netsettle_ca::now_unix().unwrap()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn mobile_spec_bootstraps_two_orderers_two_peers_and_users() {
    let out = tempfile::tempdir().unwrap();
    let spec = Spec::load(&spec_path("mobile.toml")).unwrap();
    let written = netsettle_ca::bootstrap(&spec, out.path(), now()).unwrap();
    let count = |role| {
        written
            .iter()
            .filter(|identity| identity.role == role)
            .count()
    };
    assert_eq!(count(Role::Orderer), 2);
    assert_eq!(count(Role::Peer), 2);
    assert_eq!(count(Role::Admin), 1);
    assert!(count(Role::Client) >= 1);
    let peer0 =
        Certificate::read_pem_file(&out.path().join("peers/peer0.mobile.example/tls/cert.pem"))
            .unwrap();
    assert_eq!(peer0.organization().as_deref(), Some("MobileMSP"));
    assert_eq!(
        peer0.ip_addresses(),
        ["127.0.2.20".parse::<std::net::IpAddr>().unwrap()]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bootstrapped_unicom_ca_serves_enrollment_over_sm_tls() {
    let out = tempfile::tempdir().unwrap();
    let spec = Spec::load(&spec_path("unicom.toml")).unwrap();
    let written = netsettle_ca::bootstrap(&spec, out.path(), now()).unwrap();
    assert_eq!(written.len(), 3 + 2 + 1 + 2);

    let root = Certificate::read_pem_file(&out.path().join("ca/ca.pem")).unwrap();
    let orderer = out.path().join("orderers/orderer0.unicom.example");
    for file in ["msp/cacerts/ca.pem", "msp/tlscacerts/ca.pem", "tls/ca.pem"] {
        assert_eq!(
            Certificate::read_pem_file(&orderer.join(file)).unwrap(),
            root
        );
    }
    assert_eq!(mode(&orderer.join("msp/keystore/key.pem")), 0o600);
    assert_eq!(mode(&orderer.join("tls/key.pem")), 0o600);
    assert_eq!(mode(&out.path().join("ca/ca.key")), 0o600);
    let tls = Certificate::read_pem_file(&orderer.join("tls/cert.pem")).unwrap();
    verify_chain(&tls, &[], std::slice::from_ref(&root), now()).unwrap();
    assert_eq!(tls.role().unwrap(), Some(Role::Orderer));
    assert_eq!(tls.dns_names(), ["orderer0.unicom.example".to_owned()]);
    assert_eq!(
        tls.ip_addresses(),
        ["127.0.1.10".parse::<std::net::IpAddr>().unwrap()]
    );
    assert!(out.path().join("msp/crls/crl.pem").exists());
    assert!(
        out.path()
            .join("users/finance@unicom.example/msp/signcerts/cert.pem")
            .exists()
    );

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(netsettle_ca::serve(
        ServeConfig {
            dir: out.path().join("ca"),
        },
        listener,
        async move {
            let _ = stopped.await;
        },
    ));

    let admin = CaClient::with_identity(
        &address,
        "localhost",
        root.clone(),
        &out.path().join("users/admin@unicom.example"),
    )
    .unwrap();
    let secret = admin
        .register(
            "peer2.unicom.example",
            Role::Peer,
            vec!["peer2.unicom.example".to_owned(), "127.0.1.22".to_owned()],
            vec![("zone".to_owned(), "north".to_owned())],
            None,
        )
        .await
        .unwrap();
    let anonymous = CaClient::anonymous(&address, "localhost", root.clone()).unwrap();
    let peer_dir = out.path().join("peers/peer2.unicom.example");
    let enrolled = anonymous
        .enroll("peer2.unicom.example", &secret, &peer_dir)
        .await
        .unwrap();
    verify_chain(&enrolled.tls_cert, &[], std::slice::from_ref(&root), now()).unwrap();
    assert!(
        enrolled
            .tls_cert
            .organizational_units()
            .contains(&"zone=north".to_owned())
    );

    match anonymous.crl().await {
        Err(CaError::Refused(Refusal::CertificateRequired { operation })) => {
            assert_eq!(operation, "crl");
        }
        other => panic!("anonymous CRL should be refused, got {other:?}"),
    }
    let (serials, crl) = admin
        .revoke(RevokeTarget::Name("orderer2.unicom.example".to_owned()), 5)
        .await
        .unwrap();
    assert_eq!(serials.len(), 2);
    let orderer2 = Certificate::read_pem_file(
        &out.path()
            .join("orderers/orderer2.unicom.example/tls/cert.pem"),
    )
    .unwrap();
    assert!(crl.is_revoked(orderer2.serial()));
    let peer = CaClient::with_identity(&address, "localhost", root.clone(), &peer_dir).unwrap();
    assert_eq!(
        peer.crl().await.unwrap().crl_number(),
        crl.crl_number().map(|n| n + 1)
    );

    // The revoked orderer's TLS certificate no longer gets through the handshake.
    let revoked = CaClient::with_identity(
        &address,
        "localhost",
        root.clone(),
        &out.path().join("orderers/orderer2.unicom.example"),
    )
    .unwrap();
    assert!(matches!(revoked.crl().await, Err(CaError::Tls(_))));

    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
}
