//! Test organisations: an SM2 CA per carrier that issues certificates of every role
//! through smcrypto's X.509 API, revokes them, and describes itself as a channel
//! organisation, plus the TLS trust helpers the socket tests share.
//!
//! Time is a parameter: tests that hand `now` to the code under test use the fixed
//! [`NOW`]; tests on real sockets, where rustls reads the wall clock, make their
//! organisations [`TestOrg::at`] [`now_unix`]. Either way certificates are valid ten years
//! either side of that moment, so a test on the fixed clock also passes where the code
//! reads the wall clock (the orderer service, end-to-end tests).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use netsettle_msp::default_org_policies;
use netsettle_protocol::{Identity, OrgConfig, RoleOus};
use netsettle_smcrypto::PrivateKey;
use netsettle_smcrypto::x509::{
    self, Certificate, CertificateParams, Crl, CrlEntry, CrlParams, RevocationReason, Role,
    SubjectName,
};
use netsettle_smtls::{
    NoRevocation, RevocationCheck, TlsError, TlsIdentity, TlsStream, TrustAnchors, accept,
};
use tokio::net::{TcpListener, TcpStream};

/// The tests' fixed "now", unix seconds (2026-11-19).
pub const NOW: i64 = 1_795_000_000;
/// [`NOW`] in milliseconds, as transaction headers carry it.
pub const NOW_MS: u64 = 1_795_000_000_000;
/// One day in seconds.
pub const DAY: i64 = 86_400;
/// How far either side of its organisation's "now" a certificate is valid by default.
const VALIDITY: i64 = 3650 * DAY;

/// The wall clock, unix seconds: for organisations whose certificates rustls checks.
pub fn now_unix() -> i64 {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_secs();
    i64::try_from(secs).expect("unix seconds fit i64")
}

/// One carrier's certificate authority and the certificates it has revoked.
pub struct TestOrg {
    pub msp_id: String,
    pub ca_key: PrivateKey,
    pub ca_cert: Certificate,
    /// The moment the organisation's certificates are made around.
    pub now: i64,
    revoked: Vec<Certificate>,
}

/// A certificate of some role, its key, and the organisation (MSP id) that issued it.
#[derive(Clone)]
pub struct Member {
    pub key: PrivateKey,
    pub cert: Certificate,
    pub msp_id: String,
}

impl Member {
    /// The identity a message carries for this member.
    pub fn identity(&self) -> Identity {
        self.identity_as(&self.msp_id)
    }

    /// The same certificate presented under another organisation's MSP id.
    pub fn identity_as(&self, msp_id: &str) -> Identity {
        Identity {
            msp_id: msp_id.to_owned(),
            cert_der: self.cert.der().to_vec(),
        }
    }

    /// The certificate as a node's TLS identity (one certificate serves both).
    pub fn tls_identity(&self) -> TlsIdentity {
        TlsIdentity::new(vec![self.cert.clone()], self.key.clone()).expect("key matches cert")
    }
}

/// Subject `CN={common_name}, O={msp_id}, C=CN`.
fn subject(common_name: &str, msp_id: &str) -> SubjectName {
    SubjectName {
        common_name: common_name.to_owned(),
        organization: Some(msp_id.to_owned()),
        organizational_units: Vec::new(),
        country: Some("CN".to_owned()),
    }
}

impl TestOrg {
    /// A CA for `msp_id` on the fixed clock ([`NOW`]).
    pub fn new(msp_id: &str) -> Self {
        Self::at(msp_id, NOW)
    }

    /// A CA for `msp_id` whose certificates are made around `now`.
    pub fn at(msp_id: &str, now: i64) -> Self {
        Self::with_ca_key(msp_id, now, PrivateKey::generate())
    }

    /// [`TestOrg::at`] with a given CA key, for a test whose second process must
    /// re-create the same keys (certificates still differ: serials are random).
    pub fn with_ca_key(msp_id: &str, now: i64, ca_key: PrivateKey) -> Self {
        let params = CertificateParams::ca(
            subject(&format!("ca.{msp_id}"), msp_id),
            None,
            now - VALIDITY,
            now + VALIDITY,
        )
        .expect("CA parameters");
        let ca_cert = x509::self_signed(&params, &ca_key).expect("CA certificate");
        TestOrg {
            msp_id: msp_id.to_owned(),
            ca_key,
            ca_cert,
            now,
            revoked: Vec::new(),
        }
    }

    /// The CA `ca bootstrap` wrote under `ca_dir` (`ca.pem`, `ca.key`), minting around the
    /// clock's now: what a carrier that holds its own CA can issue (the adversary tests).
    pub fn from_ca_dir(msp_id: &str, ca_dir: &std::path::Path) -> Self {
        TestOrg {
            msp_id: msp_id.to_owned(),
            ca_key: PrivateKey::read_pkcs8_pem_file(&ca_dir.join("ca.key")).expect("the CA key"),
            ca_cert: Certificate::read_pem_file(&ca_dir.join("ca.pem")).expect("the CA cert"),
            now: now_unix(),
            revoked: Vec::new(),
        }
    }

    /// A member `CN={name}.{msp_id}` of `role`, naming 127.0.0.1 so that its certificate
    /// also serves as a TLS certificate.
    pub fn member(&self, name: &str, role: Role) -> Member {
        self.member_with(name, role, |_| {})
    }

    /// [`TestOrg::member`] valid from `not_before` to `not_after` (unix seconds).
    pub fn member_valid(&self, name: &str, role: Role, not_before: i64, not_after: i64) -> Member {
        self.member_with(name, role, |params| {
            params.not_before_unix = not_before;
            params.not_after_unix = not_after;
        })
    }

    /// [`TestOrg::member`] with the certificate parameters changed by `edit` first.
    pub fn member_with(
        &self,
        name: &str,
        role: Role,
        edit: impl FnOnce(&mut CertificateParams),
    ) -> Member {
        self.member_keyed(name, role, PrivateKey::generate(), edit)
    }

    /// [`TestOrg::member_with`] for a given key.
    pub fn member_keyed(
        &self,
        name: &str,
        role: Role,
        key: PrivateKey,
        edit: impl FnOnce(&mut CertificateParams),
    ) -> Member {
        let mut params = CertificateParams::end_entity(
            subject(&format!("{name}.{}", self.msp_id), &self.msp_id),
            role,
            self.now - VALIDITY,
            self.now + VALIDITY,
        )
        .expect("end-entity parameters");
        params.ip_addresses = vec![IpAddr::V4(Ipv4Addr::LOCALHOST)];
        edit(&mut params);
        let cert = x509::issue(&params, key.public_key(), &self.ca_cert, &self.ca_key)
            .expect("certificate issues");
        Member {
            key,
            cert,
            msp_id: self.msp_id.clone(),
        }
    }

    /// A peer's TLS identity naming `dns` and 127.0.0.1.
    pub fn node_tls(&self, name: &str, dns: &str) -> TlsIdentity {
        self.member_with(name, Role::Peer, |params| {
            params.dns_names = vec![dns.to_owned()];
        })
        .tls_identity()
    }

    /// Puts `cert` on the organisation's revocation list ([`TestOrg::crl`]).
    pub fn revoke(&mut self, cert: &Certificate) {
        self.revoked.push(cert.clone());
    }

    /// The CRL of every revoked certificate, if any is.
    pub fn crl(&self) -> Option<Crl> {
        if self.revoked.is_empty() {
            return None;
        }
        Some(self.crl_of(&self.revoked.iter().collect::<Vec<_>>()))
    }

    /// A CRL revoking exactly `revoked` (key compromise, a minute before "now"), valid
    /// for a week.
    pub fn crl_of(&self, revoked: &[&Certificate]) -> Crl {
        let entries = revoked
            .iter()
            .map(|cert| CrlEntry {
                serial: cert.serial().to_vec(),
                revoked_at_unix: self.now - 60,
                reason: Some(RevocationReason::KeyCompromise),
            })
            .collect();
        let params = CrlParams {
            crl_number: 1,
            this_update_unix: self.now - 60,
            next_update_unix: self.now + 7 * DAY,
            entries,
        };
        x509::build_crl(&params, &self.ca_cert, &self.ca_key).expect("CRL builds")
    }

    /// The organisation as a channel config lists it: its CA as signing and TLS root,
    /// its CRL, and the default policies.
    pub fn org_config(&self) -> OrgConfig {
        OrgConfig {
            msp_id: self.msp_id.clone(),
            root_certs_der: vec![self.ca_cert.der().to_vec()],
            intermediate_certs_der: Vec::new(),
            crls_der: self
                .crl()
                .map(|crl| vec![crl.der().to_vec()])
                .unwrap_or_default(),
            tls_root_certs_der: vec![self.ca_cert.der().to_vec()],
            role_ous: RoleOus::default(),
            anchor_peers: Vec::new(),
            orderer_endpoints: Vec::new(),
            policies: default_org_policies(&self.msp_id),
        }
    }
}

/// The TLS trust anchors of `orgs`' CAs.
pub fn anchors(orgs: &[&TestOrg]) -> TrustAnchors {
    TrustAnchors::new(orgs.iter().map(|org| org.ca_cert.clone()).collect()).expect("anchors")
}

/// A revocation check that revokes nothing.
pub fn no_revocation() -> Arc<dyn RevocationCheck> {
    Arc::new(NoRevocation)
}

/// Binds 127.0.0.1:0 and serves exactly one TLS handshake with `config`; the handle
/// yields the accepted stream or the server-side error.
pub async fn serve_one(
    config: Arc<rustls::ServerConfig>,
) -> (
    SocketAddr,
    tokio::task::JoinHandle<Result<TlsStream<TcpStream>, TlsError>>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("bound address");
    let handle = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.map_err(TlsError::Io)?;
        accept(&config, tcp).await
    });
    (addr, handle)
}
