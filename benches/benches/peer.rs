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
    Block, ContractId, Envelope, KvWrite, NamespaceReadWriteSet, Policy, Principal, Proposal,
    ReadWriteSet, SignaturePolicy, ValidationCode, encode,
};
use netsettle_smcrypto::x509::Role;
use netsettle_smcrypto::{BatchVerifier, sm3};
use netsettle_testkit::block::{genesis_block, next_block};
use netsettle_testkit::channel::{MOBILE, UNICOM, channel_config, consenter};
use netsettle_testkit::tx::{header, transaction};
use netsettle_testkit::{Member, TestOrg};

const TXS_PER_BLOCK: usize = 50;
const WORKING_SET_KEYS: u64 = 10_000;
const VALUE_BYTES: usize = 128;

/// Both carriers' endorsing peers, Unicom's client and orderer, the ledger, and the
/// chain so far.
struct Bench {
    client: Member,
    peers: [Member; 2],
    orderer: Member,
    channel: ChannelState,
    validator: Validator,
    ledger: Ledger,
    _dir: tempfile::TempDir,
    last: Block,
    next_tx: u64,
}

impl Bench {
    fn new() -> Self {
        let unicom = TestOrg::new(UNICOM);
        let mobile = TestOrg::new(MOBILE);
        let orderer = unicom.member("orderer0", Role::Orderer);
        let config = channel_config(&[&unicom, &mobile], vec![consenter(1, &orderer)]);
        let genesis = genesis_block(&orderer, &config);
        let validator = Validator::new(BatchVerifier::with_available_parallelism());
        let (validated, channel) = validator.validate_genesis(&genesis).expect("genesis");
        let dir = tempfile::tempdir().expect("tempdir");
        let ledger = Ledger::open(dir.path()).expect("ledger");
        committer::commit(&ledger, &validated).expect("commit genesis");
        let mut bench = Bench {
            client: unicom.member("client", Role::Client),
            peers: [
                unicom.member("peer0", Role::Peer),
                mobile.member("peer0", Role::Peer),
            ],
            orderer,
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

    /// A transaction of `contract` writing `writes` into its namespace, endorsed by both
    /// carriers' peers.
    fn tx(&mut self, contract: &str, writes: Vec<KvWrite>) -> Envelope {
        let seed = self.next_tx;
        self.next_tx += 1;
        let proposal = Proposal {
            header: header(&self.client.identity(), seed),
            contract: ContractId {
                name: contract.to_owned(),
                version: "1".to_owned(),
            },
            function: "put".to_owned(),
            args: Vec::new(),
        };
        let rw_set = ReadWriteSet {
            namespaces: vec![NamespaceReadWriteSet {
                namespace: contract.to_owned(),
                reads: Vec::new(),
                range_queries: Vec::new(),
                writes,
            }],
        };
        let [unicom_peer, mobile_peer] = &self.peers;
        transaction(&proposal, &self.client, rw_set, &[unicom_peer, mobile_peer])
    }

    fn definition_tx(&mut self) -> Envelope {
        let peer = |msp_id: &str| {
            SignaturePolicy::SignedBy(Principal {
                msp_id: msp_id.to_owned(),
                role: netsettle_protocol::Role::Peer,
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
        next_block(&self.orderer, &self.last, envelopes)
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
