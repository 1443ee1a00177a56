//! `verify` finds damage on disk, and `compare` finds where two ledgers part.
//!
//! Damage is made through a raw RocksDB handle on the closed ledger: the one place outside
//! the ledger crate that opens its database, and only in tests.

mod common;

use std::path::Path;

use common::{ChainBuilder, put};
use netsettle_ledger::{DifferenceKind, FaultKind, Ledger, compare, verify};
use netsettle_protocol::{ValidationCode, decode, encode};

const COLUMNS: [&str; 7] = [
    "blocks",
    "block_hashes",
    "tx_index",
    "state",
    "history",
    "meta",
    "outbox",
];

/// A ledger of six blocks (genesis, four transaction blocks, a config block, and one more).
fn build(dir: &Path) -> ChainBuilder {
    let mut chain = ChainBuilder::new();
    for n in 1..=4u64 {
        chain.push(&[
            (
                vec![
                    put(&format!("k{n}"), b"value"),
                    put("shared", &n.to_be_bytes()),
                ],
                ValidationCode::Valid,
            ),
            (vec![put("x", b"y")], ValidationCode::MvccReadConflict),
        ]);
    }
    chain.push_config(1);
    chain.push(&[(vec![put("after-config", b"1")], ValidationCode::Valid)]);
    let ledger = Ledger::open(dir).unwrap();
    for block in &chain.blocks {
        ledger.commit_block(block).unwrap();
    }
    chain
}

/// Runs `damage` on the raw database of the closed ledger at `dir`.
fn with_raw_db(dir: &Path, damage: impl FnOnce(&rocksdb::DB)) {
    let db = rocksdb::DB::open_cf(&rocksdb::Options::default(), dir, COLUMNS).unwrap();
    damage(&db);
}

fn cf<'a>(db: &'a rocksdb::DB, name: &str) -> &'a rocksdb::ColumnFamily {
    db.cf_handle(name).unwrap()
}

fn first_fault(dir: &Path) -> (Option<u64>, FaultKind) {
    let report = verify(dir).unwrap();
    let fault = report.fault.expect("verify must find the damage");
    (fault.block, fault.kind)
}

#[test]
fn an_intact_ledger_with_a_config_change_verifies() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path());
    let report = verify(dir.path()).unwrap();
    assert!(report.is_ok(), "{:?}", report.fault);
    assert_eq!(report.blocks_checked, 7);
    assert_eq!(report.transactions, 1 + 4 * 2 + 1 + 1);
}

#[test]
fn a_flipped_byte_in_a_stored_block_is_found() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path());
    with_raw_db(dir.path(), |db| {
        let key = 2u64.to_be_bytes();
        let mut bytes = db.get_cf(cf(db, "blocks"), key).unwrap().unwrap();
        // Somewhere in the envelopes: the header is the first 73 bytes after the
        // version byte, the metadata is at the end.
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0x01;
        db.put_cf(cf(db, "blocks"), key, bytes).unwrap();
    });
    let (block, kind) = first_fault(dir.path());
    assert_eq!(block, Some(2));
    assert!(
        matches!(
            kind,
            FaultKind::DataHashMismatch | FaultKind::Undecodable(_)
        ),
        "{kind}"
    );
}

#[test]
fn a_forged_orderer_signature_is_found() {
    let dir = tempfile::tempdir().unwrap();
    let chain = build(dir.path());
    with_raw_db(dir.path(), |db| {
        // Block 3 carrying block 2's signature: well formed, but over another header.
        let mut block: netsettle_protocol::Block = decode(
            &db.get_cf(cf(db, "blocks"), 3u64.to_be_bytes())
                .unwrap()
                .unwrap(),
        )
        .unwrap();
        block.metadata.signatures = chain.blocks[2].metadata.signatures.clone();
        db.put_cf(
            cf(db, "blocks"),
            3u64.to_be_bytes(),
            encode(&block).unwrap(),
        )
        .unwrap();
    });
    let (block, kind) = first_fault(dir.path());
    assert_eq!(block, Some(3));
    assert!(matches!(kind, FaultKind::BadOrdererSignature(_)), "{kind}");
}

#[test]
fn a_missing_block_is_found() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path());
    with_raw_db(dir.path(), |db| {
        db.delete_cf(cf(db, "blocks"), 4u64.to_be_bytes()).unwrap();
    });
    assert_eq!(first_fault(dir.path()), (Some(4), FaultKind::Missing));
    // The ledger refuses to open for writing only if the tip is damaged; here it opens,
    // and reading the block reports nothing rather than garbage.
    let ledger = Ledger::open_read_only(dir.path()).unwrap();
    assert_eq!(ledger.block(4).unwrap(), None);
}

#[test]
fn a_tampered_state_value_is_found() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path());
    let ledger = Ledger::open_read_only(dir.path()).unwrap();
    let before = ledger.state_digest().unwrap();
    drop(ledger);
    with_raw_db(dir.path(), |db| {
        let mut state_key = vec![0, 10];
        state_key.extend_from_slice(b"settlement");
        state_key.extend_from_slice(b"shared");
        let mut value = db.get_cf(cf(db, "state"), &state_key).unwrap().unwrap();
        *value.last_mut().unwrap() ^= 0xff;
        db.put_cf(cf(db, "state"), &state_key, value).unwrap();
    });
    let (block, kind) = first_fault(dir.path());
    assert_eq!(block, None);
    let FaultKind::StateMismatch { stored, replayed } = kind else {
        panic!("expected a state mismatch, got {kind}");
    };
    assert_eq!(replayed, before);
    assert_ne!(stored, before);
}

#[test]
fn a_damaged_index_or_history_is_found() {
    let dir = tempfile::tempdir().unwrap();
    let chain = build(dir.path());
    with_raw_db(dir.path(), |db| {
        let tx_id = chain.blocks[1].data[1].tx_id();
        let mut record = db
            .get_cf(cf(db, "tx_index"), tx_id.as_bytes())
            .unwrap()
            .unwrap();
        // Claim the invalid transaction was valid.
        *record.last_mut().unwrap() = ValidationCode::Valid.to_byte();
        db.put_cf(cf(db, "tx_index"), tx_id.as_bytes(), record)
            .unwrap();
    });
    let (block, kind) = first_fault(dir.path());
    assert_eq!(block, Some(1));
    assert!(
        matches!(kind, FaultKind::TxIndexMismatch { index: 1, .. }),
        "{kind}"
    );

    let dir = tempfile::tempdir().unwrap();
    build(dir.path());
    with_raw_db(dir.path(), |db| {
        let mut iter = db.raw_iterator_cf(cf(db, "history"));
        iter.seek_to_first();
        let key = iter.key().unwrap().to_vec();
        drop(iter);
        db.delete_cf(cf(db, "history"), key).unwrap();
    });
    let (_, kind) = first_fault(dir.path());
    assert!(matches!(kind, FaultKind::HistoryMismatch { .. }), "{kind}");
}

#[test]
fn compare_reports_the_first_differing_height() {
    let dir_a = tempfile::tempdir().unwrap();
    let dir_b = tempfile::tempdir().unwrap();
    let chain = build(dir_a.path());
    {
        let ledger = Ledger::open(dir_b.path()).unwrap();
        for block in &chain.blocks {
            ledger.commit_block(block).unwrap();
        }
    }
    let same = compare(dir_a.path(), dir_b.path()).unwrap();
    assert_eq!(same.difference, None);
    assert_eq!((same.height_a, same.height_b), (7, 7));

    // B gets one more block.
    let mut longer = ChainBuilder::new();
    longer.blocks = chain.blocks.clone();
    longer.push_config(2);
    {
        let ledger = Ledger::open(dir_b.path()).unwrap();
        ledger.commit_block(&longer.blocks[7]).unwrap();
    }
    let diff = compare(dir_a.path(), dir_b.path()).unwrap();
    let difference = diff.difference.unwrap();
    assert_eq!(difference.height, 7);
    assert_eq!(difference.kind, DifferenceKind::Missing { has: "B" });

    // C shares blocks 0..3 and then forks.
    let dir_c = tempfile::tempdir().unwrap();
    let mut fork = ChainBuilder::new();
    fork.blocks = chain.blocks[..3].to_vec();
    fork.nonce = 1_000_000;
    fork.push(&[(vec![put("fork", b"1")], ValidationCode::Valid)]);
    {
        let ledger = Ledger::open(dir_c.path()).unwrap();
        for block in &fork.blocks {
            ledger.commit_block(block).unwrap();
        }
    }
    let difference = compare(dir_a.path(), dir_c.path())
        .unwrap()
        .difference
        .unwrap();
    assert_eq!(difference.height, 3);
    assert!(matches!(difference.kind, DifferenceKind::Header { .. }));

    // Same blocks, one peer's state damaged.
    let dir_d = tempfile::tempdir().unwrap();
    {
        let ledger = Ledger::open(dir_d.path()).unwrap();
        for block in &chain.blocks {
            ledger.commit_block(block).unwrap();
        }
    }
    with_raw_db(dir_d.path(), |db| {
        let mut state_key = vec![0, 10];
        state_key.extend_from_slice(b"settlement");
        state_key.extend_from_slice(b"intruder");
        db.put_cf(cf(db, "state"), state_key, [0u8; 13]).unwrap();
    });
    let difference = compare(dir_a.path(), dir_d.path())
        .unwrap()
        .difference
        .unwrap();
    assert_eq!(difference.height, 7);
    assert!(matches!(difference.kind, DifferenceKind::State { .. }));

    // Same blocks, but a peer judged one transaction differently.
    let dir_e = tempfile::tempdir().unwrap();
    {
        let ledger = Ledger::open(dir_e.path()).unwrap();
        for block in &chain.blocks {
            let mut block = block.clone();
            if block.header.number == 2 {
                let first = &mut block.metadata.validation_codes[0];
                *first = if *first == ValidationCode::Valid {
                    ValidationCode::MvccReadConflict
                } else {
                    ValidationCode::Valid
                };
            }
            ledger.commit_block(&block).unwrap();
        }
    }
    let difference = compare(dir_a.path(), dir_e.path())
        .unwrap()
        .difference
        .unwrap();
    assert_eq!(difference.height, 2);
    assert_eq!(difference.kind, DifferenceKind::ValidationCodes);
}

#[test]
fn damaged_chain_records_are_found_and_refused() {
    for record in ["chain", "state_savepoint"] {
        let dir = tempfile::tempdir().unwrap();
        build(dir.path());
        with_raw_db(dir.path(), |db| {
            let mut value = db.get_cf(cf(db, "meta"), record).unwrap().unwrap();
            // Same height, another block's hash.
            *value.last_mut().unwrap() ^= 0x01;
            db.put_cf(cf(db, "meta"), record, value).unwrap();
        });
        let (block, kind) = first_fault(dir.path());
        assert_eq!(block, None, "{record}");
        assert!(matches!(kind, FaultKind::Metadata(_)), "{record}: {kind}");
        assert!(
            matches!(
                Ledger::open(dir.path()),
                Err(netsettle_ledger::LedgerError::Corrupt(_))
            ),
            "{record}: a read-write open must refuse the damaged ledger"
        );
    }
}
