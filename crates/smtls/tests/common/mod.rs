//! A throw-away two-carrier PKI for the socket tests: one SM2 root CA per carrier and
//! end-entity certificates issued through smcrypto's X.509 API, plus small helpers to run
//! a server and a client against each other on 127.0.0.1.

#![allow(dead_code)] // Each test binary uses a different subset of the helpers.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use netsettle_smcrypto::PrivateKey;
use netsettle_smcrypto::x509::{
    Certificate, CertificateParams, Crl, CrlEntry, CrlParams, Role, SubjectName, build_crl, issue,
    self_signed,
};
use netsettle_smtls::{
    NoRevocation, RevocationCheck, TlsError, TlsIdentity, TlsStream, TrustAnchors, accept,
};
use rustls::ServerConfig;
use tokio::net::{TcpListener, TcpStream};

/// Upper bound on any single test's network activity; reaching it is a failure, never a
/// synchronisation point.
pub const TEST_DEADLINE: Duration = Duration::from_secs(60);

/// Deadline for the 10 MiB echo: in the unoptimised test build SM4-GCM costs about seven
/// CPU-seconds for it, and CI shares two cores with other builds.
pub const BULK_TEST_DEADLINE: Duration = Duration::from_secs(300);

pub const DAY_SECS: i64 = 86_400;

pub fn now_unix() -> i64 {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    i64::try_from(secs).unwrap()
}

/// One carrier's certificate authority.
pub struct Ca {
    pub root: Certificate,
    key: PrivateKey,
}

impl Ca {
    pub fn new(carrier: &str) -> Ca {
        let key = PrivateKey::generate();
        let subject = SubjectName {
            common_name: format!("{carrier} root CA"),
            organization: Some(carrier.to_owned()),
            ..SubjectName::default()
        };
        let now = now_unix();
        let params =
            CertificateParams::ca(subject, Some(1), now - DAY_SECS, now + 365 * DAY_SECS).unwrap();
        let root = self_signed(&params, &key).unwrap();
        Ca { root, key }
    }

    /// A node identity valid from yesterday for a year, naming `dns` and 127.0.0.1.
    pub fn node(&self, common_name: &str, dns: &str) -> TlsIdentity {
        let now = now_unix();
        self.node_valid(common_name, dns, now - DAY_SECS, now + 365 * DAY_SECS)
    }

    pub fn node_valid(
        &self,
        common_name: &str,
        dns: &str,
        not_before: i64,
        not_after: i64,
    ) -> TlsIdentity {
        let key = PrivateKey::generate();
        let subject = SubjectName {
            common_name: common_name.to_owned(),
            organization: self.root.organization(),
            ..SubjectName::default()
        };
        let mut params =
            CertificateParams::end_entity(subject, Role::Peer, not_before, not_after).unwrap();
        params.dns_names = vec![dns.to_owned()];
        params.ip_addresses = vec![IpAddr::V4(Ipv4Addr::LOCALHOST)];
        let cert = issue(&params, key.public_key(), &self.root, &self.key).unwrap();
        TlsIdentity::new(vec![cert], key).unwrap()
    }
}

impl Ca {
    /// A CRL valid for a day that revokes `revoked`.
    pub fn crl(&self, revoked: &[&Certificate]) -> Crl {
        let now = now_unix();
        let params = CrlParams {
            this_update_unix: now - 60,
            next_update_unix: now + DAY_SECS,
            crl_number: 1,
            entries: revoked
                .iter()
                .map(|cert| CrlEntry {
                    serial: cert.serial().to_vec(),
                    revoked_at_unix: now - 60,
                    reason: None,
                })
                .collect(),
        };
        build_crl(&params, &self.root, &self.key).unwrap()
    }
}

pub fn anchors(cas: &[&Ca]) -> TrustAnchors {
    TrustAnchors::new(cas.iter().map(|ca| ca.root.clone()).collect()).unwrap()
}

pub fn no_revocation() -> Arc<dyn RevocationCheck> {
    Arc::new(NoRevocation)
}

/// Bind 127.0.0.1:0 and serve exactly one TLS handshake with `config`; the handle yields
/// the accepted stream or the server-side error.
pub async fn serve_one(
    config: Arc<ServerConfig>,
) -> (
    SocketAddr,
    tokio::task::JoinHandle<Result<TlsStream<TcpStream>, TlsError>>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let handle = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.map_err(TlsError::Io)?;
        accept(&config, tcp).await
    });
    (addr, handle)
}
