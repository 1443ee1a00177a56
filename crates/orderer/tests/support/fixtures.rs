//! Fixtures shared by the orderer's tests and its bench (`benches/benches/orderer.rs`
//! includes this file): two carriers with real SM2 CAs, a channel with n consenters,
//! signed transaction envelopes, a seeded generator.

#![allow(dead_code)]

use netsettle_msp::default_org_policies;
use netsettle_protocol::limits::NONCE_BYTES;
use netsettle_protocol::{
    BatchPolicy, Block, ChannelConfig, ChannelPolicies, ConfigEnvelope, ConfigSignature,
    ConfigUpdate, ConfigUpdateEnvelope, Consenter, ContractAction, ContractId, CryptoPolicy,
    Endorsement, Endpoint, Envelope, Header, Identity, Nonce, OrdererConfig, OrgConfig, Payload,
    Proposal, ProposalResponsePayload, ReadWriteSet, Response, RoleOus, Timestamp, Transaction,
};
use netsettle_smcrypto::x509::{self, Certificate, CertificateParams, Role, SubjectName};
use netsettle_smcrypto::{Hash, PrivateKey};

/// The time the tests run at, unix seconds (certificates are valid around it).
pub const NOW: i64 = 1_795_000_000;
const DAY: i64 = 86_400;

pub struct TestOrg {
    pub msp_id: String,
    ca_key: PrivateKey,
    ca_cert: Certificate,
}

#[derive(Clone)]
pub struct Member {
    pub key: PrivateKey,
    pub identity: Identity,
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
            NOW - 3650 * DAY,
            NOW + 3650 * DAY,
        )
        .unwrap();
        let ca_cert = x509::self_signed(&params, &ca_key).unwrap();
        TestOrg {
            msp_id: msp_id.to_owned(),
            ca_key,
            ca_cert,
        }
    }

    pub fn member(&self, name: &str, role: Role) -> Member {
        let key = PrivateKey::generate();
        let mut params = CertificateParams::end_entity(
            subject(&format!("{name}.{}", self.msp_id), &self.msp_id),
            role,
            // Wide enough for the service tests, which run on the real clock.
            NOW - 3650 * DAY,
            NOW + 3650 * DAY,
        )
        .unwrap();
        // The same certificate serves as the TLS certificate in the network tests.
        params.ip_addresses = vec!["127.0.0.1".parse().unwrap()];
        let cert = x509::issue(&params, key.public_key(), &self.ca_cert, &self.ca_key).unwrap();
        Member {
            key,
            identity: Identity {
                msp_id: self.msp_id.clone(),
                cert_der: cert.der().to_vec(),
            },
        }
    }

    fn org_config(&self) -> OrgConfig {
        OrgConfig {
            msp_id: self.msp_id.clone(),
            root_certs_der: vec![self.ca_cert.der().to_vec()],
            intermediate_certs_der: Vec::new(),
            crls_der: Vec::new(),
            tls_root_certs_der: vec![self.ca_cert.der().to_vec()],
            role_ous: RoleOus::default(),
            anchor_peers: Vec::new(),
            orderer_endpoints: Vec::new(),
            policies: default_org_policies(&self.msp_id),
        }
    }
}

/// The consortium: MobileMSP and UnicomMSP, `n_orderers` consenters (ids 1..=n, the
/// first three Unicom's), a client and a peer of each carrier, admins of each.
pub struct Consortium {
    pub orgs: Vec<TestOrg>,
    pub orderers: Vec<Member>,
    pub unicom_client: Member,
    pub mobile_client: Member,
    pub unicom_peer: Member,
    pub unicom_admin: Member,
    pub mobile_admin: Member,
    pub config: ChannelConfig,
    pub genesis: Block,
}

impl Consortium {
    pub fn new(n_orderers: u64, batch: BatchPolicy) -> Self {
        Self::with_spares(n_orderers, 0, batch)
    }

    /// `n_orderers` consenters plus `n_spares` orderers (ids after them) that have
    /// certificates but are not in the genesis config, to be added later.
    pub fn with_spares(n_orderers: u64, n_spares: u64, batch: BatchPolicy) -> Self {
        let mobile = TestOrg::new("MobileMSP");
        let unicom = TestOrg::new("UnicomMSP");
        let mut orderers = Vec::new();
        let mut consenters = Vec::new();
        for id in 1..=n_orderers + n_spares {
            let org = if id <= 3 { &unicom } else { &mobile };
            let member = org.member(&format!("orderer{id}"), Role::Orderer);
            if id <= n_orderers {
                consenters.push(consenter_entry(id, &org.msp_id, &member));
            }
            orderers.push(member);
        }
        let config = ChannelConfig {
            channel: "settlement".to_owned(),
            sequence: 0,
            orgs: vec![mobile.org_config(), unicom.org_config()],
            orderer: OrdererConfig { consenters, batch },
            policies: ChannelPolicies::default(),
            crypto: CryptoPolicy::default(),
            capabilities: vec!["V1_0".to_owned()],
        };
        let first = orderers.first().unwrap().clone();
        let config_envelope = Envelope::sign(
            &first.key,
            Payload::Config {
                header: header(&first.identity, 0),
                config: Box::new(ConfigEnvelope {
                    config: config.clone(),
                    last_update: None,
                }),
            },
        )
        .unwrap();
        let mut genesis = Block::new(0, Hash::default(), vec![config_envelope], 0).unwrap();
        genesis.sign(&first.key, first.identity.clone()).unwrap();
        Consortium {
            unicom_client: unicom.member("client1", Role::Client),
            mobile_client: mobile.member("client1", Role::Client),
            unicom_peer: unicom.member("peer0", Role::Peer),
            unicom_admin: unicom.member("admin", Role::Admin),
            mobile_admin: mobile.member("admin", Role::Admin),
            orgs: vec![mobile, unicom],
            orderers,
            config,
            genesis,
        }
    }

    /// The consenter entry a config lists for orderer `id`.
    pub fn consenter(&self, id: u64) -> Consenter {
        let member = &self.orderers[usize::try_from(id - 1).unwrap()];
        consenter_entry(id, &member.identity.msp_id, member)
    }

    /// A config update to `config` (its sequence set by the caller), approved by both
    /// carriers' admins and submitted by Unicom's, unique by `seq`.
    pub fn config_update(&self, config: ChannelConfig, seq: u64) -> Envelope {
        let update = ConfigUpdate {
            channel: config.channel.clone(),
            config,
        };
        let signatures = [&self.unicom_admin, &self.mobile_admin]
            .iter()
            .map(|admin| {
                ConfigSignature::sign(&admin.key, admin.identity.clone(), &update).unwrap()
            })
            .collect();
        let admin = &self.unicom_admin;
        Envelope::sign(
            &admin.key,
            Payload::ConfigUpdate {
                header: header(&admin.identity, seq),
                update: Box::new(ConfigUpdateEnvelope { update, signatures }),
            },
        )
        .unwrap()
    }

    /// A signed transaction envelope from `client`, unique by `seq`, with `pad_bytes` of
    /// argument bytes.
    pub fn transaction(&self, client: &Member, seq: u64, pad_bytes: usize) -> Envelope {
        let header = header(&client.identity, seq);
        let proposal = Proposal {
            header,
            contract: ContractId {
                name: "settlement".to_owned(),
                version: "1".to_owned(),
            },
            function: "upload".to_owned(),
            args: vec![vec![0x5a; pad_bytes]],
        };
        let response = ProposalResponsePayload {
            proposal_hash: proposal.hash().unwrap(),
            action: ContractAction {
                contract: proposal.contract.clone(),
                rw_set: ReadWriteSet {
                    namespaces: Vec::new(),
                },
                response: Response {
                    status: 200,
                    message: String::new(),
                    payload: Vec::new(),
                },
                events: Vec::new(),
            },
        };
        let endorsement = Endorsement::sign(
            &self.unicom_peer.key,
            self.unicom_peer.identity.clone(),
            &response,
        )
        .unwrap();
        Envelope::sign(
            &client.key,
            Payload::Transaction(Box::new(Transaction {
                proposal,
                response,
                endorsements: vec![endorsement],
            })),
        )
        .unwrap()
    }
}

fn consenter_entry(id: u64, msp_id: &str, member: &Member) -> Consenter {
    Consenter {
        id,
        msp_id: msp_id.to_owned(),
        endpoint: Endpoint {
            host: format!("127.0.0.{id}"),
            port: 7050,
        },
        tls_cert_der: member.identity.cert_der.clone(),
    }
}

/// A header whose nonce encodes `seq`, so ids are unique and reproducible.
pub fn header(creator: &Identity, seq: u64) -> Header {
    let mut nonce = [0u8; NONCE_BYTES];
    nonce[..8].copy_from_slice(&seq.to_le_bytes());
    Header {
        channel: "settlement".to_owned(),
        creator: creator.clone(),
        nonce: Nonce(nonce),
        timestamp: Timestamp {
            unix_time_ms: u64::try_from(NOW).unwrap() * 1000,
        },
    }
}

/// A small seeded generator (xorshift64*), so fault schedules repeat exactly.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.max(1))
    }

    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// True with probability `per_mille / 1000`.
    pub fn chance(&mut self, per_mille: u64) -> bool {
        self.next() % 1000 < per_mille
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}
