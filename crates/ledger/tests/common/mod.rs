//! Test fixture shared by the ledger's integration tests: a one-organisation channel with
//! one orderer, and a chain builder that makes signed, validated blocks of transactions
//! writing chosen keys. Everything is deterministic except SM2 signature randomness, which
//! no test compares.

#![allow(dead_code)] // Each test binary uses a different part of the fixture.

use netsettle_protocol::{
    BatchPolicy, Block, ChannelConfig, ChannelPolicies, ConfigEnvelope, Consenter, ContractAction,
    ContractId, CryptoPolicy, Endorsement, Endpoint, Envelope, Header, Identity, KvWrite,
    NamespaceReadWriteSet, Nonce, OrdererConfig, OrgConfig, OrgPolicies, Payload, Policy, Proposal,
    ProposalResponsePayload, ReadWriteSet, Response, Role, RoleOus, Timestamp, Transaction,
    ValidationCode,
};
use netsettle_smcrypto::{Hash, PrivateKey, x509};

pub const CHANNEL: &str = "settlement";
pub const MSP_ID: &str = "UnicomMSP";
pub const NAMESPACE: &str = "settlement";

/// One write: key and new value (`None` deletes).
pub type Write = (String, Option<Vec<u8>>);

/// Keys and identities of the test channel.
pub struct Fixture {
    pub ca_key: PrivateKey,
    pub ca_cert_der: Vec<u8>,
    pub orderer_key: PrivateKey,
    pub orderer: Identity,
    pub client_key: PrivateKey,
    pub client: Identity,
}

impl Fixture {
    /// Fixed keys, so that a second process (the crash test's child) signs as the same
    /// orderer; certificates are made fresh (see [`Fixture::adopt_certificates`]).
    pub fn new() -> Self {
        let ca_key = PrivateKey::from_bytes(&[1; 32]).expect("valid scalar");
        let orderer_key = PrivateKey::from_bytes(&[2; 32]).expect("valid scalar");
        let client_key = PrivateKey::from_bytes(&[3; 32]).expect("valid scalar");
        let (ca_cert_der, orderer_cert_der) = certificates(&ca_key, &orderer_key);
        Fixture {
            ca_key,
            ca_cert_der,
            orderer_key,
            orderer: Identity {
                msp_id: MSP_ID.to_string(),
                cert_der: orderer_cert_der,
            },
            client_key,
            client: Identity {
                msp_id: MSP_ID.to_string(),
                // The ledger never checks client certificates; the peer does.
                cert_der: b"client certificate".to_vec(),
            },
        }
    }

    /// Takes the CA and orderer certificates from a stored genesis block, so blocks this
    /// fixture signs verify against that chain's configuration.
    pub fn adopt_certificates(&mut self, genesis: &Block) {
        let [envelope] = genesis.data.as_slice() else {
            panic!("genesis holds one envelope");
        };
        let Payload::Config { config, .. } = &envelope.payload else {
            panic!("genesis holds a config envelope");
        };
        self.ca_cert_der = config.config.orgs[0].root_certs_der[0].clone();
        self.orderer.cert_der = config.config.orderer.consenters[0].tls_cert_der.clone();
    }

    pub fn config(&self, sequence: u64) -> ChannelConfig {
        let member = Policy::signed_by(MSP_ID, Role::Member);
        ChannelConfig {
            channel: CHANNEL.to_string(),
            sequence,
            orgs: vec![OrgConfig {
                msp_id: MSP_ID.to_string(),
                root_certs_der: vec![self.ca_cert_der.clone()],
                intermediate_certs_der: Vec::new(),
                crls_der: Vec::new(),
                tls_root_certs_der: vec![self.ca_cert_der.clone()],
                role_ous: RoleOus::default(),
                anchor_peers: Vec::new(),
                orderer_endpoints: Vec::new(),
                policies: OrgPolicies {
                    readers: member.clone(),
                    writers: member.clone(),
                    admins: Policy::signed_by(MSP_ID, Role::Admin),
                    endorsement: Policy::signed_by(MSP_ID, Role::Peer),
                },
            }],
            orderer: OrdererConfig {
                consenters: vec![Consenter {
                    id: 1,
                    msp_id: MSP_ID.to_string(),
                    endpoint: Endpoint {
                        host: "orderer0.unicom.example".to_string(),
                        port: 7050,
                    },
                    tls_cert_der: self.orderer.cert_der.clone(),
                }],
                batch: BatchPolicy::default(),
            },
            policies: ChannelPolicies::default(),
            crypto: CryptoPolicy::default(),
            capabilities: vec!["V1_0".to_string()],
        }
    }

    fn header(&self, nonce: u64) -> Header {
        let mut bytes = [0u8; 24];
        bytes[..8].copy_from_slice(&nonce.to_be_bytes());
        Header {
            channel: CHANNEL.to_string(),
            creator: self.client.clone(),
            nonce: Nonce(bytes),
            timestamp: Timestamp {
                unix_time_ms: 1_790_000_000_000 + nonce,
            },
        }
    }

    /// A config envelope putting `config` in force.
    pub fn config_envelope(&self, nonce: u64, config: ChannelConfig) -> Envelope {
        let payload = Payload::Config {
            header: Header {
                creator: self.orderer.clone(),
                ..self.header(nonce)
            },
            config: Box::new(ConfigEnvelope {
                config,
                last_update: None,
            }),
        };
        Envelope::sign(&self.orderer_key, payload).expect("config envelope signs")
    }

    /// An endorsed transaction writing `writes` in [`NAMESPACE`], padded with `arg_bytes`
    /// of argument so tests and benches can size it.
    pub fn transaction(&self, nonce: u64, writes: &[Write], arg_bytes: usize) -> Envelope {
        let contract = ContractId {
            name: NAMESPACE.to_string(),
            version: "1.0".to_string(),
        };
        let proposal = Proposal {
            header: self.header(nonce),
            contract: contract.clone(),
            function: "put".to_string(),
            args: vec![vec![0x5a; arg_bytes]],
        };
        let mut writes: Vec<KvWrite> = writes
            .iter()
            .map(|(key, value)| KvWrite {
                key: key.clone(),
                value: value.clone(),
            })
            .collect();
        writes.sort_by(|a, b| a.key.cmp(&b.key));
        writes.dedup_by(|later, earlier| later.key == earlier.key);
        let payload = ProposalResponsePayload {
            proposal_hash: proposal.hash().expect("proposal hashes"),
            action: ContractAction {
                contract,
                rw_set: ReadWriteSet {
                    namespaces: vec![NamespaceReadWriteSet {
                        namespace: NAMESPACE.to_string(),
                        reads: Vec::new(),
                        range_queries: Vec::new(),
                        writes,
                    }],
                },
                response: Response {
                    status: Response::OK,
                    message: "OK".to_string(),
                    payload: Vec::new(),
                },
                events: Vec::new(),
            },
        };
        // The client endorses its own transaction here: the ledger checks no policy.
        let endorsement =
            Endorsement::sign(&self.client_key, self.client.clone(), &payload).expect("endorses");
        let transaction = Transaction {
            proposal,
            response: payload,
            endorsements: vec![endorsement],
        };
        Envelope::sign(
            &self.client_key,
            Payload::Transaction(Box::new(transaction)),
        )
        .expect("signs")
    }

    /// A signed block after `previous` (number and hash) with `codes` set.
    pub fn block(
        &self,
        number: u64,
        previous_hash: Hash,
        data: Vec<Envelope>,
        last_config_index: u64,
        codes: Vec<ValidationCode>,
    ) -> Block {
        let mut block =
            Block::new(number, previous_hash, data, last_config_index).expect("block builds");
        block
            .sign(&self.orderer_key, self.orderer.clone())
            .expect("block signs");
        block.metadata.validation_codes = codes;
        block
    }

    /// The genesis block: the channel configuration, validated.
    pub fn genesis(&self) -> Block {
        let envelope = self.config_envelope(0, self.config(0));
        self.block(
            0,
            Hash::default(),
            vec![envelope],
            0,
            vec![ValidationCode::Valid],
        )
    }
}

/// A chain under construction: the fixture, the blocks so far, and a nonce counter.
pub struct ChainBuilder {
    pub fixture: Fixture,
    pub blocks: Vec<Block>,
    /// Last nonce used; raise it to keep a forked chain's transaction ids distinct.
    pub nonce: u64,
    last_config: u64,
}

impl ChainBuilder {
    pub fn new() -> Self {
        let fixture = Fixture::new();
        let genesis = fixture.genesis();
        ChainBuilder {
            fixture,
            blocks: vec![genesis],
            nonce: 1,
            last_config: 0,
        }
    }

    pub fn next_nonce(&mut self) -> u64 {
        self.nonce += 1;
        self.nonce
    }

    /// Appends a block of one transaction per entry of `txs`, with the given codes.
    pub fn push(&mut self, txs: &[(Vec<Write>, ValidationCode)]) -> &Block {
        let data = txs
            .iter()
            .map(|(writes, _)| {
                let nonce = self.next_nonce();
                self.fixture.transaction(nonce, writes, 16)
            })
            .collect();
        let codes = txs.iter().map(|(_, code)| *code).collect();
        self.push_envelopes(data, codes)
    }

    pub fn push_envelopes(&mut self, data: Vec<Envelope>, codes: Vec<ValidationCode>) -> &Block {
        let previous = self.blocks.last().expect("genesis is always there");
        let number = previous.header.number + 1;
        let block = self
            .fixture
            .block(number, previous.hash(), data, self.last_config, codes);
        self.blocks.push(block);
        self.blocks.last().expect("just pushed")
    }

    /// Appends a config block with a new sequence number.
    pub fn push_config(&mut self, sequence: u64) -> &Block {
        let nonce = self.next_nonce();
        let envelope = self
            .fixture
            .config_envelope(nonce, self.fixture.config(sequence));
        let previous = self.blocks.last().expect("genesis is always there");
        let number = previous.header.number + 1;
        self.last_config = number;
        let block = self.fixture.block(
            number,
            previous.hash(),
            vec![envelope],
            number,
            vec![ValidationCode::Valid],
        );
        self.blocks.push(block);
        self.blocks.last().expect("just pushed")
    }
}

/// One write of `value` to `key`.
pub fn put(key: &str, value: &[u8]) -> Write {
    (key.to_string(), Some(value.to_vec()))
}

/// One delete of `key`.
pub fn delete(key: &str) -> Write {
    (key.to_string(), None)
}

/// A self-signed CA certificate and an orderer certificate it issued, valid 2026–2036.
fn certificates(ca_key: &PrivateKey, orderer_key: &PrivateKey) -> (Vec<u8>, Vec<u8>) {
    const NOT_BEFORE: i64 = 1_767_225_600; // 2026-01-01T00:00:00Z
    const NOT_AFTER: i64 = NOT_BEFORE + 10 * 365 * 86_400;
    let name = |common_name: &str| x509::SubjectName {
        common_name: common_name.to_string(),
        organization: Some(MSP_ID.to_string()),
        organizational_units: Vec::new(),
        country: Some("CN".to_string()),
    };
    let ca_params = x509::CertificateParams::ca(name("ca.unicom"), None, NOT_BEFORE, NOT_AFTER)
        .expect("CA params");
    let ca = x509::self_signed(&ca_params, ca_key).expect("CA certificate");
    let orderer_params = x509::CertificateParams::end_entity(
        name("orderer0.unicom"),
        x509::Role::Orderer,
        NOT_BEFORE,
        NOT_AFTER,
    )
    .expect("orderer params");
    let orderer = x509::issue(&orderer_params, orderer_key.public_key(), &ca, ca_key)
        .expect("orderer certificate");
    (ca.der().to_vec(), orderer.der().to_vec())
}
