//! Peer block validation and commit: blocks of 50 endorsed transactions (the mission's
//! block-cutting size), each signed by a client and endorsed by both carriers' peers, so
//! every block carries 150 SM2 signatures, all checked in one parallel batch.
//!
//! Two figures, in transactions per second:
//! - `validate`: `Validator::validate_block` alone (certificates from the MSP cache,
//!   signatures, endorsement policy, duplicate-id and MVCC lookups) on the next block;
//! - `validate_commit`: validation plus `Ledger::commit_block` (one synced batch), block
//!   after block, as the committer runs.
//!
//! Each transaction blind-writes one key of a 10 000-key working set with a 128-byte
//! value under the contract `bench`, whose definition requires both peers. Generating and
//! signing the blocks runs outside the timed sections.
//!
//! Run: `cargo bench -p netsettle-benches --bench peer`.

use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use netsettle_ledger::Ledger;
use netsettle_msp::ChannelState;
use netsettle_peer::LedgerView;
use netsettle_peer::committer;
use netsettle_peer::lifecycle::ContractDefinition;
use netsettle_peer::lifecycle::{LIFECYCLE_NAMESPACE, definition_key};
use netsettle_peer::validator::{ValidatedBlock, Validator};
use netsettle_protocol::{
    BatchPolicy, Block, ChannelConfig, ChannelPolicies, ConfigEnvelope, Consenter, ContractAction,
    ContractId, CryptoPolicy, Endorsement, Endpoint, Envelope, Header, Identity, KvWrite,
    NamespaceReadWriteSet, Nonce, OrdererConfig, OrgConfig, Payload, Policy, Principal, Proposal,
    ProposalResponsePayload, ReadWriteSet, Response, Role, RoleOus, SignaturePolicy, Timestamp,
    Transaction, ValidationCode, encode,
};
use netsettle_smcrypto::x509::{self, CertificateParams, SubjectName};
use netsettle_smcrypto::{BatchVerifier, Hash, PrivateKey, sm3};

const TXS_PER_BLOCK: usize = 50;
const WORKING_SET_KEYS: u64 = 10_000;
const VALUE_BYTES: usize = 128;
const NOW: i64 = 1_795_000_000;
const NOW_MS: u64 = 1_795_000_000_000;
const YEAR: i64 = 365 * 86_400;

struct Member {
    key: PrivateKey,
    identity: Identity,
}

struct Org {
    config: OrgConfig,
    peer: Member,
    client: Member,
    orderer: Member,
}

fn subject(name: &str, msp_id: &str) -> SubjectName {
    SubjectName {
        common_name: format!("{name}.{msp_id}"),
        organization: Some(msp_id.to_owned()),
        organizational_units: Vec::new(),
        country: Some("CN".to_owned()),
    }
}

fn org(msp_id: &str) -> Org {
    let ca_key = PrivateKey::generate();
    let ca_params = CertificateParams::ca(subject("ca", msp_id), None, NOW - YEAR, NOW + YEAR)
        .expect("CA params");
    let ca_cert = x509::self_signed(&ca_params, &ca_key).expect("CA cert");
    let member = |name: &str, role: x509::Role| {
        let key = PrivateKey::generate();
        let params =
            CertificateParams::end_entity(subject(name, msp_id), role, NOW - YEAR, NOW + YEAR)
                .expect("params");
        let cert = x509::issue(&params, key.public_key(), &ca_cert, &ca_key).expect("cert");
        let identity = Identity {
            msp_id: msp_id.to_owned(),
            cert_der: cert.der().to_vec(),
        };
        Member { key, identity }
    };
    Org {
        config: OrgConfig {
            msp_id: msp_id.to_owned(),
            root_certs_der: vec![ca_cert.der().to_vec()],
            intermediate_certs_der: Vec::new(),
            crls_der: Vec::new(),
            tls_root_certs_der: vec![ca_cert.der().to_vec()],
            role_ous: RoleOus::default(),
            anchor_peers: Vec::new(),
            orderer_endpoints: Vec::new(),
            policies: netsettle_msp::default_org_policies(msp_id),
        },
        peer: member("peer0", x509::Role::Peer),
        client: member("client", x509::Role::Client),
        orderer: member("orderer0", x509::Role::Orderer),
    }
}

/// Both carriers, the ledger, and the chain so far.
struct Bench {
    unicom: Org,
    mobile: Org,
    channel: ChannelState,
    validator: Validator,
    ledger: Ledger,
    _dir: tempfile::TempDir,
    last: Block,
    next_tx: u64,
}

fn header(creator: &Identity, seed: u64) -> Header {
    let digest = sm3(&seed.to_le_bytes());
    let mut nonce = [0u8; 24];
    nonce.copy_from_slice(digest.as_bytes().get(..24).expect("32-byte digest"));
    Header {
        channel: "settlement".to_owned(),
        creator: creator.clone(),
        nonce: Nonce(nonce),
        timestamp: Timestamp {
            unix_time_ms: NOW_MS,
        },
    }
}

impl Bench {
    fn new() -> Self {
        let unicom = org("UnicomMSP");
        let mobile = org("MobileMSP");
        let config = ChannelConfig {
            channel: "settlement".to_owned(),
            sequence: 0,
            orgs: vec![mobile.config.clone(), unicom.config.clone()],
            orderer: OrdererConfig {
                consenters: vec![Consenter {
                    id: 1,
                    msp_id: "UnicomMSP".to_owned(),
                    endpoint: Endpoint {
                        host: "127.0.0.1".to_owned(),
                        port: 7050,
                    },
                    tls_cert_der: unicom.orderer.identity.cert_der.clone(),
                }],
                batch: BatchPolicy::default(),
            },
            policies: ChannelPolicies::default(),
            crypto: CryptoPolicy::default(),
            capabilities: vec!["V1_0".to_owned()],
        };
        let orderer = &unicom.orderer;
        let payload = Payload::Config {
            header: header(&orderer.identity, 0),
            config: Box::new(ConfigEnvelope {
                config,
                last_update: None,
            }),
        };
        let envelope = Envelope::sign(&orderer.key, payload).expect("sign");
        let mut genesis = Block::new(0, Hash::default(), vec![envelope], 0).expect("block");
        genesis
            .sign(&orderer.key, orderer.identity.clone())
            .expect("sign");
        let validator = Validator::new(BatchVerifier::with_available_parallelism());
        let (validated, channel) = validator.validate_genesis(&genesis).expect("genesis");
        let dir = tempfile::tempdir().expect("tempdir");
        let ledger = Ledger::open(dir.path()).expect("ledger");
        committer::commit(&ledger, &validated).expect("commit genesis");
        let mut bench = Bench {
            unicom,
            mobile,
            channel,
            validator,
            ledger,
            _dir: dir,
            last: validated.block,
            next_tx: 1,
        };
        let definition = bench.definition_tx();
        let block = bench.block(vec![definition]);
        bench.commit(&block);
        bench
    }

    /// An endorsed transaction of `contract` writing `writes` into its namespace.
    fn tx(&mut self, contract: &str, writes: Vec<KvWrite>) -> Envelope {
        let client = &self.unicom.client;
        let seed = self.next_tx;
        self.next_tx += 1;
        let proposal = Proposal {
            header: header(&client.identity, seed),
            contract: ContractId {
                name: contract.to_owned(),
                version: "1".to_owned(),
            },
            function: "put".to_owned(),
            args: Vec::new(),
        };
        let response = ProposalResponsePayload {
            proposal_hash: proposal.hash().expect("hash"),
            action: ContractAction {
                contract: proposal.contract.clone(),
                rw_set: ReadWriteSet {
                    namespaces: vec![NamespaceReadWriteSet {
                        namespace: contract.to_owned(),
                        reads: Vec::new(),
                        range_queries: Vec::new(),
                        writes,
                    }],
                },
                response: Response {
                    status: 200,
                    message: String::new(),
                    payload: Vec::new(),
                },
                events: Vec::new(),
            },
        };
        let endorsements = [&self.unicom.peer, &self.mobile.peer]
            .iter()
            .map(|peer| {
                Endorsement::sign(&peer.key, peer.identity.clone(), &response).expect("endorse")
            })
            .collect();
        let tx = Transaction {
            proposal,
            response,
            endorsements,
        };
        Envelope::sign(&client.key, Payload::Transaction(Box::new(tx))).expect("sign")
    }

    fn definition_tx(&mut self) -> Envelope {
        let peer = |msp_id: &str| {
            SignaturePolicy::SignedBy(Principal {
                msp_id: msp_id.to_owned(),
                role: Role::Peer,
            })
        };
        let definition = ContractDefinition {
            name: "bench".to_owned(),
            version: "1".to_owned(),
            sequence: 1,
            endorsement_policy: Policy::Signature(SignaturePolicy::And(vec![
                peer("UnicomMSP"),
                peer("MobileMSP"),
            ])),
            package_digest: sm3(b"bench"),
        };
        let write = KvWrite {
            key: definition_key("bench").expect("key"),
            value: Some(encode(&definition).expect("encode")),
        };
        self.tx(LIFECYCLE_NAMESPACE, vec![write])
    }

    fn block(&self, envelopes: Vec<Envelope>) -> Block {
        let mut block =
            Block::new(self.last.header.number + 1, self.last.hash(), envelopes, 0).expect("block");
        let orderer = &self.unicom.orderer;
        block
            .sign(&orderer.key, orderer.identity.clone())
            .expect("sign");
        block
    }

    /// The next block of 50 blind writes (not yet committed).
    fn next_block(&mut self) -> Block {
        let envelopes = (0..TXS_PER_BLOCK)
            .map(|_| {
                let key = format!("k{:05}", self.next_tx % WORKING_SET_KEYS);
                let value = vec![0x5a; VALUE_BYTES];
                self.tx(
                    "bench",
                    vec![KvWrite {
                        key,
                        value: Some(value),
                    }],
                )
            })
            .collect();
        self.block(envelopes)
    }

    fn validate(&self, block: &Block) -> ValidatedBlock {
        let view = LedgerView::new(&self.ledger).expect("view");
        let validated = self
            .validator
            .validate_block(&self.channel, &view, block)
            .expect("validate");
        assert!(
            validated
                .block
                .metadata
                .validation_codes
                .iter()
                .all(|code| *code == ValidationCode::Valid),
            "bench transactions must be valid"
        );
        validated
    }

    fn commit(&mut self, block: &Block) {
        let validated = self.validate(block);
        committer::commit(&self.ledger, &validated).expect("commit");
        self.last = validated.block;
    }
}

fn peer_blocks(c: &mut Criterion) {
    let mut bench = Bench::new();
    let mut group = c.benchmark_group("peer");
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(10));
    group.throughput(Throughput::Elements(TXS_PER_BLOCK as u64));
    let next = bench.next_block();
    group.bench_function("validate", |b| {
        b.iter(|| bench.validate(&next));
    });
    group.bench_function("validate_commit", |b| {
        b.iter_custom(|iters| {
            let blocks: Vec<Block> = (0..iters)
                .map(|_| {
                    let block = bench.next_block();
                    // Blocks chain on the previous generated one, committed or not.
                    bench.last = block.clone();
                    block
                })
                .collect();
            // Rewind to the committed tip, then commit the generated blocks in order.
            let height = bench.ledger.chain_info().expect("info").height;
            bench.last = bench
                .ledger
                .block(height - 1)
                .expect("read")
                .expect("tip block");
            let start = Instant::now();
            for block in &blocks {
                bench.commit(block);
            }
            start.elapsed()
        });
    });
    group.finish();
}

criterion_group!(benches, peer_blocks);
criterion_main!(benches);
