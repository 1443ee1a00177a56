//! The ledger's chain builder: a one-organisation channel (testkit's Unicom CA, one
//! orderer and one client with fixed keys) and signed, validated blocks of transactions
//! writing chosen keys. Everything is deterministic except SM2 signature randomness and
//! certificate serials, which no test compares.

#![allow(dead_code)] // Each test binary uses a different part of the fixture.

use netsettle_protocol::{
    Block, ChannelConfig, Envelope, KvWrite, NamespaceReadWriteSet, Payload, Proposal,
    ReadWriteSet, ValidationCode,
};
use netsettle_smcrypto::x509::{Certificate, Role};
use netsettle_smcrypto::{Hash, PrivateKey};
use netsettle_testkit::block::signed_block;
use netsettle_testkit::channel::{UNICOM, channel_config, consenter};
use netsettle_testkit::pki::{Member, NOW_MS, TestOrg};
use netsettle_testkit::tx::{config_envelope, header_at, transaction};

pub const NAMESPACE: &str = "settlement";

/// One write: key and new value (`None` deletes).
pub type Write = (String, Option<Vec<u8>>);

/// Unicom's CA, its one orderer and a client: the test channel.
pub struct Fixture {
    pub org: TestOrg,
    pub orderer: Member,
    pub client: Member,
}

impl Fixture {
    /// Fixed keys, so that a second process (the crash test's child) signs as the same
    /// orderer; certificates are made fresh (see [`Fixture::adopt_certificates`]).
    pub fn new() -> Self {
        let key = |byte: u8| PrivateKey::from_bytes(&[byte; 32]).expect("valid scalar");
        let org = TestOrg::with_ca_key(UNICOM, netsettle_testkit::pki::NOW, key(1));
        let orderer = org.member_keyed("orderer0", Role::Orderer, key(2), |_| {});
        let client = org.member_keyed("client", Role::Client, key(3), |_| {});
        Fixture {
            org,
            orderer,
            client,
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
        let der = |bytes: &[u8]| Certificate::from_der(bytes).expect("stored certificate");
        self.org.ca_cert = der(&config.config.orgs[0].root_certs_der[0]);
        self.orderer.cert = der(&config.config.orderer.consenters[0].tls_cert_der);
    }

    /// The channel config at `sequence`: Unicom alone, ordered by the fixture's orderer.
    pub fn config(&self, sequence: u64) -> ChannelConfig {
        let mut config = channel_config(&[&self.org], vec![consenter(1, &self.orderer)]);
        config.sequence = sequence;
        config
    }

    /// A config envelope putting `config` in force.
    pub fn config_envelope(&self, nonce: u64, config: ChannelConfig) -> Envelope {
        config_envelope(&self.orderer, nonce, config)
    }

    /// A transaction writing `writes` in [`NAMESPACE`], padded with `arg_bytes` of
    /// argument so tests can size it. The client endorses its own transaction: the
    /// ledger checks no policy.
    pub fn transaction(&self, nonce: u64, writes: &[Write], arg_bytes: usize) -> Envelope {
        let proposal = Proposal {
            header: header_at(&self.client.identity(), nonce, NOW_MS + nonce),
            contract: netsettle_protocol::ContractId {
                name: NAMESPACE.to_string(),
                version: "1.0".to_string(),
            },
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
        let rw_set = ReadWriteSet {
            namespaces: vec![NamespaceReadWriteSet {
                namespace: NAMESPACE.to_string(),
                reads: Vec::new(),
                range_queries: Vec::new(),
                writes,
            }],
        };
        transaction(&proposal, &self.client, rw_set, &[&self.client])
    }

    /// A signed block after `previous_hash` with `codes` set.
    pub fn block(
        &self,
        number: u64,
        previous_hash: Hash,
        data: Vec<Envelope>,
        last_config_index: u64,
        codes: Vec<ValidationCode>,
    ) -> Block {
        let mut block = signed_block(
            &self.orderer,
            number,
            previous_hash,
            data,
            last_config_index,
        );
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
