//! Two carriers' CAs with real SM2 certificates, a channel config over them, and helpers
//! that start in-process nodes on 127.0.x.y and wait for events with a deadline.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use netsettle_msp::default_org_policies;
use netsettle_net::{ChannelTrust, ConnectionEvent, NetConfig, NetLimits, Network};
use netsettle_protocol::{
    BatchPolicy, ChannelConfig, ChannelPolicies, Consenter, CryptoPolicy, Endpoint, OrdererConfig,
    OrgConfig, Role as ProtocolRole, RoleOus,
};
use netsettle_smcrypto::PrivateKey;
use netsettle_smcrypto::x509::{
    self, Certificate, CertificateParams, CrlEntry, CrlParams, RevocationReason, Role, SubjectName,
};
use netsettle_smtls::TlsIdentity;
use tokio::sync::broadcast;

/// Every wait in these tests ends by this deadline; reaching it is a failure.
pub const DEADLINE: Duration = Duration::from_secs(30);

pub fn now_unix() -> i64 {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    i64::try_from(secs).unwrap()
}

/// One carrier's CA.
pub struct Carrier {
    pub msp_id: String,
    ca_key: PrivateKey,
    pub ca_cert: Certificate,
    revoked: Vec<Certificate>,
}

fn name(cn: &str, org: &str) -> SubjectName {
    SubjectName {
        common_name: cn.to_owned(),
        organization: Some(org.to_owned()),
        organizational_units: Vec::new(),
        country: Some("CN".to_owned()),
    }
}

impl Carrier {
    pub fn new(msp_id: &str) -> Carrier {
        let ca_key = PrivateKey::generate();
        let now = now_unix();
        let params = CertificateParams::ca(
            name(&format!("ca.{msp_id}"), msp_id),
            None,
            now - 3600,
            now + 86_400 * 365,
        )
        .unwrap();
        let ca_cert = x509::self_signed(&params, &ca_key).unwrap();
        Carrier {
            msp_id: msp_id.to_owned(),
            ca_key,
            ca_cert,
            revoked: Vec::new(),
        }
    }

    /// A node's TLS identity (one certificate, serverAuth + clientAuth, role OU).
    pub fn node(&self, node_name: &str, role: Role) -> TlsIdentity {
        self.node_naming(node_name, role, vec!["127.0.0.1".parse().unwrap()])
    }

    /// A node identity whose certificate names exactly `ip_addresses`.
    pub fn node_naming(
        &self,
        node_name: &str,
        role: Role,
        ip_addresses: Vec<std::net::IpAddr>,
    ) -> TlsIdentity {
        let key = PrivateKey::generate();
        let now = now_unix();
        let mut params = CertificateParams::end_entity(
            name(&format!("{node_name}.{}", self.msp_id), &self.msp_id),
            role,
            now - 3600,
            now + 86_400 * 30,
        )
        .unwrap();
        params.ip_addresses = ip_addresses;
        let cert = x509::issue(&params, key.public_key(), &self.ca_cert, &self.ca_key).unwrap();
        TlsIdentity::new(vec![cert], key).unwrap()
    }

    pub fn revoke(&mut self, identity: &TlsIdentity) {
        self.revoked.push(identity.leaf().clone());
    }

    fn org_config(&self) -> OrgConfig {
        let crls_der = if self.revoked.is_empty() {
            Vec::new()
        } else {
            let now = now_unix();
            let entries = self
                .revoked
                .iter()
                .map(|cert| CrlEntry {
                    serial: cert.serial().to_vec(),
                    revoked_at_unix: now - 60,
                    reason: Some(RevocationReason::KeyCompromise),
                })
                .collect();
            let params = CrlParams {
                crl_number: 1,
                this_update_unix: now - 60,
                next_update_unix: now + 86_400,
                entries,
            };
            vec![
                x509::build_crl(&params, &self.ca_cert, &self.ca_key)
                    .unwrap()
                    .der()
                    .to_vec(),
            ]
        };
        OrgConfig {
            msp_id: self.msp_id.clone(),
            root_certs_der: vec![self.ca_cert.der().to_vec()],
            intermediate_certs_der: Vec::new(),
            crls_der,
            tls_root_certs_der: vec![self.ca_cert.der().to_vec()],
            role_ous: RoleOus::default(),
            anchor_peers: Vec::new(),
            orderer_endpoints: Vec::new(),
            policies: default_org_policies(&self.msp_id),
        }
    }
}

/// The channel config both carriers agreed on.
pub fn channel_config(carriers: &[&Carrier]) -> ChannelConfig {
    let mut orgs: Vec<OrgConfig> = carriers.iter().map(|c| c.org_config()).collect();
    orgs.sort_by(|a, b| a.msp_id.cmp(&b.msp_id));
    let orderer = carriers[0].node("orderer0", Role::Orderer);
    ChannelConfig {
        channel: "settlement".to_owned(),
        sequence: 0,
        orgs,
        orderer: OrdererConfig {
            consenters: vec![Consenter {
                id: 1,
                msp_id: carriers[0].msp_id.clone(),
                endpoint: Endpoint {
                    host: "127.0.1.10".to_owned(),
                    port: 7050,
                },
                tls_cert_der: orderer.leaf().der().to_vec(),
            }],
            batch: BatchPolicy::default(),
        },
        policies: ChannelPolicies::default(),
        crypto: CryptoPolicy::default(),
        capabilities: vec!["V1_0".to_owned()],
    }
}

pub const NODE_ROLES: [ProtocolRole; 2] = [ProtocolRole::Peer, ProtocolRole::Orderer];

/// Test limits: quick redials so restart tests finish fast.
pub fn test_limits() -> NetLimits {
    let mut limits = NetLimits::default();
    limits.redial_backoff_min = Duration::from_millis(100);
    limits.redial_backoff_max = Duration::from_millis(500);
    limits.request_timeout = Duration::from_secs(10);
    limits
}

pub fn net_config(identity: TlsIdentity, config: &ChannelConfig, listen: &str) -> NetConfig {
    let trust = ChannelTrust::new(config, &NODE_ROLES).unwrap();
    let mut net = NetConfig::new(identity, trust, listen.parse::<SocketAddr>().unwrap());
    net.limits = test_limits();
    net
}

pub async fn start(identity: TlsIdentity, config: &ChannelConfig, listen: &str) -> Network {
    Network::start(net_config(identity, config, listen))
        .await
        .unwrap()
}

/// Wait for the first event `pick` accepts; fail at the deadline.
pub async fn wait_for<T>(
    events: &mut broadcast::Receiver<ConnectionEvent>,
    what: &str,
    mut pick: impl FnMut(&ConnectionEvent) -> Option<T>,
) -> T {
    let wait = async {
        loop {
            match events.recv().await {
                Ok(event) => {
                    if let Some(found) = pick(&event) {
                        return found;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => {
                    panic!("events closed waiting for {what}")
                }
            }
        }
    };
    tokio::time::timeout(DEADLINE, wait)
        .await
        .unwrap_or_else(|_| panic!("no {what} within {DEADLINE:?}"))
}
