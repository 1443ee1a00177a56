//! Test organisations with real SM2 CAs and certificates, and a two-carrier channel
//! config built from them.

#![allow(dead_code)]

use netsettle_msp::default_org_policies;
use netsettle_protocol::{
    BatchPolicy, ChannelConfig, ChannelPolicies, Consenter, CryptoPolicy, Endpoint, Identity,
    OrdererConfig, OrgConfig, RoleOus,
};
use netsettle_smcrypto::PrivateKey;
use netsettle_smcrypto::x509::{
    self, Certificate, CertificateParams, Crl, CrlEntry, CrlParams, RevocationReason, Role,
    SubjectName,
};

pub const NOW: i64 = 1_795_000_000;
pub const DAY: i64 = 86_400;

pub struct TestOrg {
    pub msp_id: String,
    pub ca_key: PrivateKey,
    pub ca_cert: Certificate,
    pub revoked: Vec<Certificate>,
}

pub struct Member {
    pub key: PrivateKey,
    pub cert: Certificate,
    pub msp_id: String,
}

impl Member {
    pub fn identity(&self) -> Identity {
        Identity {
            msp_id: self.msp_id.clone(),
            cert_der: self.cert.der().to_vec(),
        }
    }

    /// The same certificate presented under another organisation's MSP id.
    pub fn identity_as(&self, msp_id: &str) -> Identity {
        Identity {
            msp_id: msp_id.to_owned(),
            cert_der: self.cert.der().to_vec(),
        }
    }
}

fn subject(cn: &str, org: &str) -> SubjectName {
    SubjectName {
        common_name: cn.to_owned(),
        organization: Some(org.to_owned()),
        organizational_units: Vec::new(),
        country: Some("CN".to_owned()),
    }
}

impl TestOrg {
    pub fn new(msp_id: &str) -> Self {
        let ca_key = PrivateKey::generate();
        let params = CertificateParams::ca(
            subject(&format!("ca.{msp_id}"), msp_id),
            None,
            NOW - DAY,
            NOW + 3650 * DAY,
        )
        .unwrap();
        let ca_cert = x509::self_signed(&params, &ca_key).unwrap();
        TestOrg {
            msp_id: msp_id.to_owned(),
            ca_key,
            ca_cert,
            revoked: Vec::new(),
        }
    }

    pub fn member_valid(&self, name: &str, role: Role, not_before: i64, not_after: i64) -> Member {
        let key = PrivateKey::generate();
        let params = CertificateParams::end_entity(
            subject(&format!("{name}.{}", self.msp_id), &self.msp_id),
            role,
            not_before,
            not_after,
        )
        .unwrap();
        let cert = x509::issue(&params, key.public_key(), &self.ca_cert, &self.ca_key).unwrap();
        Member {
            key,
            cert,
            msp_id: self.msp_id.clone(),
        }
    }

    pub fn member(&self, name: &str, role: Role) -> Member {
        self.member_valid(name, role, NOW - DAY, NOW + 365 * DAY)
    }

    pub fn revoke(&mut self, member: &Member) {
        self.revoked.push(member.cert.clone());
    }

    pub fn crl(&self) -> Option<Crl> {
        if self.revoked.is_empty() {
            return None;
        }
        let entries = self
            .revoked
            .iter()
            .map(|cert| CrlEntry {
                serial: cert.serial().to_vec(),
                revoked_at_unix: NOW - 60,
                reason: Some(RevocationReason::KeyCompromise),
            })
            .collect();
        let params = CrlParams {
            crl_number: 1,
            this_update_unix: NOW - 60,
            next_update_unix: NOW + 7 * DAY,
            entries,
        };
        Some(x509::build_crl(&params, &self.ca_cert, &self.ca_key).unwrap())
    }

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

pub fn channel_config(orgs: &[&TestOrg]) -> ChannelConfig {
    let mut org_configs: Vec<OrgConfig> = orgs.iter().map(|org| org.org_config()).collect();
    org_configs.sort_by(|a, b| a.msp_id.cmp(&b.msp_id));
    let orderer_org = orgs.first().expect("at least one org");
    let orderer = orderer_org.member("orderer0", Role::Orderer);
    ChannelConfig {
        channel: "settlement".to_owned(),
        sequence: 0,
        orgs: org_configs,
        orderer: OrdererConfig {
            consenters: vec![Consenter {
                id: 1,
                msp_id: orderer_org.msp_id.clone(),
                endpoint: Endpoint {
                    host: "127.0.1.1".to_owned(),
                    port: 7050,
                },
                tls_cert_der: orderer.cert.der().to_vec(),
            }],
            batch: BatchPolicy::default(),
        },
        policies: ChannelPolicies::default(),
        crypto: CryptoPolicy::default(),
        capabilities: vec!["V1_0".to_owned()],
    }
}
