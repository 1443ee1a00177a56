//! Ledger commit throughput: blocks of 50 transactions of about 1 KiB each (the mission's
//! block-cutting size), committed with `Ledger::commit_block`, so every block is one
//! `WriteBatch` written with `sync` (WAL `fsync`) before the next starts.
//!
//! Reported as blocks per second (`blocks`) and as encoded-block bytes per second
//! (`bytes`). Each transaction writes one key of a 10 000-key working set, so the world
//! state stops growing and compaction reaches a steady state.
//!
//! Generating signed transactions costs far more than committing them, so one envelope
//! is signed once and then cloned with a fresh nonce (hence a fresh transaction id) and a
//! fresh write. The copies' signatures no longer verify, which the ledger never checks
//! (the peer does, before commit); the bytes committed are the same size and shape as
//! real ones. Block generation runs outside the timed section.
//!
//! Run: `cargo bench -p netsettle-benches --bench ledger`. The ledger lives in a temporary
//! directory, so the figure depends on that file system's `fsync` latency.

use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use netsettle_ledger::Ledger;
use netsettle_protocol::{
    Block, ContractAction, ContractId, Endorsement, Envelope, Header, Identity, KvWrite,
    NamespaceReadWriteSet, Nonce, Payload, Proposal, ProposalResponsePayload, ReadWriteSet,
    Response, Timestamp, Transaction, ValidationCode, encode,
};
use netsettle_smcrypto::{Hash, PrivateKey};

const TXS_PER_BLOCK: usize = 50;
const TX_BYTES: usize = 1024;
const WORKING_SET_KEYS: u64 = 10_000;
const VALUE_BYTES: usize = 128;
/// About the size of a real SM2 certificate with a few extensions.
const CERT_BYTES: usize = 560;

/// Makes consecutive blocks of fresh transactions from one signed template.
struct Generator {
    orderer_key: PrivateKey,
    orderer: Identity,
    template: Envelope,
    next_nonce: u64,
    number: u64,
    previous_hash: Hash,
}

impl Generator {
    fn new() -> Self {
        let key = PrivateKey::generate();
        let creator = Identity {
            msp_id: "UnicomMSP".to_string(),
            cert_der: vec![0x30; CERT_BYTES],
        };
        let unpadded = envelope(&key, &creator, 0);
        let overhead = encode(&unpadded).expect("encodes").len();
        let template = envelope(&key, &creator, TX_BYTES.saturating_sub(overhead));
        Generator {
            orderer_key: PrivateKey::generate(),
            orderer: Identity {
                msp_id: "UnicomMSP".to_string(),
                cert_der: vec![0x30; CERT_BYTES],
            },
            template,
            next_nonce: 0,
            number: 0,
            previous_hash: Hash::default(),
        }
    }

    fn next_transaction(&mut self) -> Envelope {
        self.next_nonce += 1;
        let nonce = self.next_nonce;
        let mut envelope = self.template.clone();
        let Payload::Transaction(transaction) = &mut envelope.payload else {
            unreachable!("the template is a transaction");
        };
        transaction.proposal.header.nonce.0[..8].copy_from_slice(&nonce.to_be_bytes());
        let write = &mut transaction.response.action.rw_set.namespaces[0].writes[0];
        write.key = format!("line{:05}", nonce % WORKING_SET_KEYS);
        write.value = Some(vec![u8::try_from(nonce % 251).expect("< 256"); VALUE_BYTES]);
        envelope
    }

    fn next_block(&mut self) -> Block {
        let data = (0..TXS_PER_BLOCK)
            .map(|_| self.next_transaction())
            .collect();
        let mut block = Block::new(self.number, self.previous_hash, data, 0).expect("block");
        block
            .sign(&self.orderer_key, self.orderer.clone())
            .expect("signs");
        block.metadata.validation_codes = vec![ValidationCode::Valid; TXS_PER_BLOCK];
        self.number += 1;
        self.previous_hash = block.hash();
        block
    }
}

fn envelope(key: &PrivateKey, creator: &Identity, arg_bytes: usize) -> Envelope {
    let contract = ContractId {
        name: "settlement".to_string(),
        version: "1.0".to_string(),
    };
    let proposal = Proposal {
        header: Header {
            channel: "settlement".to_string(),
            creator: creator.clone(),
            nonce: Nonce([0; 24]),
            timestamp: Timestamp {
                unix_time_ms: 1_790_000_000_000,
            },
        },
        contract: contract.clone(),
        function: "upload".to_string(),
        args: vec![vec![0x5a; arg_bytes]],
    };
    let payload = ProposalResponsePayload {
        proposal_hash: proposal.hash().expect("hashes"),
        action: ContractAction {
            contract,
            rw_set: ReadWriteSet {
                namespaces: vec![NamespaceReadWriteSet {
                    namespace: "settlement".to_string(),
                    reads: Vec::new(),
                    range_queries: Vec::new(),
                    writes: vec![KvWrite {
                        key: "line00000".to_string(),
                        value: Some(vec![0; VALUE_BYTES]),
                    }],
                }],
            },
            response: Response {
                status: Response::OK,
                message: String::new(),
                payload: Vec::new(),
            },
            events: Vec::new(),
        },
    };
    let endorsement = Endorsement::sign(key, creator.clone(), &payload).expect("endorses");
    let transaction = Transaction {
        proposal,
        response: payload,
        endorsements: vec![endorsement],
    };
    Envelope::sign(key, Payload::Transaction(Box::new(transaction))).expect("signs")
}

fn commit_blocks(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let ledger = Ledger::open(dir.path()).expect("ledger opens");
    let mut generator = Generator::new();
    let block_bytes = encode(&generator.next_block()).expect("encodes").len();
    // The measured block was only generated; restart the chain at 0.
    generator.number = 0;
    generator.previous_hash = Hash::default();
    eprintln!(
        "ledger bench: {TXS_PER_BLOCK} transactions of {} bytes, {block_bytes} bytes per block",
        encode(&generator.next_transaction())
            .expect("encodes")
            .len()
    );

    let mut group = c.benchmark_group("ledger_commit_50x1KiB_sync");
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(2));
    group.measurement_time(Duration::from_secs(10));
    for (name, throughput) in [
        ("blocks", Throughput::Elements(1)),
        (
            "bytes",
            Throughput::Bytes(u64::try_from(block_bytes).expect("fits")),
        ),
    ] {
        group.throughput(throughput);
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let blocks: Vec<Block> = (0..iters).map(|_| generator.next_block()).collect();
                let start = Instant::now();
                for block in &blocks {
                    ledger.commit_block(block).expect("commits");
                }
                start.elapsed()
            });
        });
    }
    group.finish();
}

criterion_group!(benches, commit_blocks);
criterion_main!(benches);
