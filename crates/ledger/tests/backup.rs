//! `backup` takes a copy that verifies while a writer keeps committing; `restore` checks
//! what it puts in place and changes nothing when it refuses; `Ledger::open` refuses a
//! ledger whose recent blocks are damaged.
//!
//! Damage is made through a raw RocksDB handle on a closed database, as in `verify.rs`.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use common::{ChainBuilder, put};
use netsettle_ledger::{
    BackupError, Corruption, LEDGER_DIR, Ledger, LedgerError, MANIFEST_FILE, RestoreOptions,
    backup, compare, restore, verify,
};
use netsettle_protocol::ValidationCode;

const COLUMNS: [&str; 7] = [
    "blocks",
    "block_hashes",
    "tx_index",
    "state",
    "history",
    "meta",
    "outbox",
];

/// Most blocks the background writer commits, so the test ends even if the backup hangs.
const WRITER_BLOCKS_MAX: u64 = 2_000;

/// Commits `n` blocks of two writes each onto `ledger`, continuing `chain`.
fn commit_blocks(ledger: &Ledger, chain: &mut ChainBuilder, n: u64) {
    for _ in 0..n {
        let number = chain.blocks.len();
        let block = chain
            .push(&[(
                vec![
                    put(&format!("k{number}"), b"value"),
                    put("shared", &number.to_be_bytes()),
                ],
                ValidationCode::Valid,
            )])
            .clone();
        ledger.commit_block(&block).unwrap();
    }
}

/// A closed ledger of genesis plus `n` blocks at `dir`.
fn build(dir: &Path, n: u64) {
    let mut chain = ChainBuilder::new();
    let ledger = Ledger::open(dir).unwrap();
    ledger.commit_block(&chain.blocks[0].clone()).unwrap();
    commit_blocks(&ledger, &mut chain, n);
}

/// Runs `damage` on the raw database of the closed ledger at `dir`.
fn with_raw_db(dir: &Path, damage: impl FnOnce(&rocksdb::DB)) {
    let db = rocksdb::DB::open_cf(&rocksdb::Options::default(), dir, COLUMNS).unwrap();
    damage(&db);
}

/// Flips one byte in the middle of block `number`'s stored bytes.
fn flip_block_byte(dir: &Path, number: u64) {
    with_raw_db(dir, |db| {
        let blocks = db.cf_handle("blocks").unwrap();
        let key = number.to_be_bytes();
        let mut bytes = db.get_cf(blocks, key).unwrap().unwrap();
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0x01;
        db.put_cf(blocks, key, bytes).unwrap();
    });
}

/// Every file name and size under `dir`, to show a refused restore changed nothing.
fn listing(dir: &Path) -> Vec<(String, u64)> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| {
            let entry = entry.unwrap();
            let name = entry.file_name().to_string_lossy().into_owned();
            (name, entry.metadata().unwrap().len())
        })
        .collect();
    files.sort();
    files
}

#[test]
fn a_backup_taken_while_blocks_commit_verifies_at_a_height_in_between() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("source");
    let ledger = Arc::new(Ledger::open(&source).unwrap());
    let mut chain = ChainBuilder::new();
    ledger.commit_block(&chain.blocks[0].clone()).unwrap();
    commit_blocks(&ledger, &mut chain, 10);

    let stop = Arc::new(AtomicBool::new(false));
    let (started_tx, started_rx) = std::sync::mpsc::sync_channel(1);
    let writer = {
        let (ledger, stop) = (Arc::clone(&ledger), Arc::clone(&stop));
        std::thread::spawn(move || {
            for committed in 0..WRITER_BLOCKS_MAX {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                commit_blocks(&ledger, &mut chain, 1);
                if committed == 5 {
                    started_tx.send(()).unwrap();
                }
            }
        })
    };
    // The writer is committing when the copy starts, and until it ends.
    started_rx.recv().unwrap();
    let before = ledger.chain_info().unwrap().height;
    let out = dir.path().join("backup");
    let manifest = backup(&source, &out).unwrap();
    let after = ledger.chain_info().unwrap().height;
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();

    assert!(
        (before..=after).contains(&manifest.height),
        "backup height {} outside {before}..={after}",
        manifest.height
    );
    let report = verify(&out.join(LEDGER_DIR)).unwrap();
    assert!(report.is_ok(), "{:?}", report.fault);
    assert_eq!(report.chain.height, manifest.height);
    assert_eq!(report.chain.current_hash, Some(manifest.last_hash));
    assert_eq!(manifest.channel, "settlement");
    let copied = Ledger::open_read_only(&out.join(LEDGER_DIR)).unwrap();
    let last = manifest.height - 1;
    assert_eq!(copied.block(last).unwrap(), ledger.block(last).unwrap());
}

#[test]
fn a_backup_never_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("source");
    build(&source, 3);
    let out = dir.path().join("backup");
    std::fs::create_dir(&out).unwrap();
    std::fs::write(out.join("keep"), b"mine").unwrap();
    let refused = backup(&source, &out).unwrap_err();
    assert!(
        matches!(refused, BackupError::OutExists { .. }),
        "{refused}"
    );
    assert_eq!(std::fs::read(out.join("keep")).unwrap(), b"mine");
}

#[test]
fn a_backup_of_no_ledger_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("backup");
    assert!(backup(&dir.path().join("absent"), &out).is_err());
    assert!(!out.exists());
}

#[test]
fn restore_puts_a_verified_copy_in_place_and_moves_the_old_ledger_aside() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("source");
    build(&source, 4);
    let out = dir.path().join("backup");
    let manifest = backup(&source, &out).unwrap();

    // Onto an absent directory (its parents gone too, as on a wiped node): no force needed.
    let fresh = dir.path().join("wiped/data/ledger");
    let restored = restore(&out, &fresh, &RestoreOptions::default()).unwrap();
    assert_eq!(restored.manifest, manifest);
    assert!(restored.moved_aside.is_empty());
    assert!(compare(&source, &fresh).unwrap().difference.is_none());
    // The restored ledger opens read-write and takes blocks.
    drop(Ledger::open(&fresh).unwrap());

    // Onto a ledger with data: refused without force, nothing changed.
    let busy = dir.path().join("busy");
    build(&busy, 1);
    let files = listing(&busy);
    let refused = restore(&out, &busy, &RestoreOptions::default()).unwrap_err();
    assert!(
        matches!(refused, BackupError::TargetNotEmpty { .. }),
        "{refused}"
    );
    assert_eq!(listing(&busy), files);
    assert_eq!(
        Ledger::open_read_only(&busy)
            .unwrap()
            .chain_info()
            .unwrap()
            .height,
        2
    );

    // With force, and an orderer's Raft store beside it: both moved aside, not deleted.
    let raft = dir.path().join("raft");
    std::fs::create_dir(&raft).unwrap();
    std::fs::write(raft.join("votes"), b"term 7").unwrap();
    let options = RestoreOptions {
        force: true,
        raft_dir: Some(raft.clone()),
    };
    let restored = restore(&out, &busy, &options).unwrap();
    assert_eq!(restored.moved_aside.len(), 2);
    let old = &restored.moved_aside[0];
    assert_eq!(
        Ledger::open_read_only(old)
            .unwrap()
            .chain_info()
            .unwrap()
            .height,
        2
    );
    assert_eq!(
        std::fs::read(restored.moved_aside[1].join("votes")).unwrap(),
        b"term 7"
    );
    assert!(!raft.exists());
    let height = Ledger::open_read_only(&busy)
        .unwrap()
        .chain_info()
        .unwrap()
        .height;
    assert_eq!(height, manifest.height);
}

#[test]
fn restore_refuses_a_tampered_backup_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("source");
    build(&source, 4);
    let out = dir.path().join("backup");
    backup(&source, &out).unwrap();
    let target = dir.path().join("target");
    build(&target, 1);
    let files = listing(&target);
    let force = RestoreOptions {
        force: true,
        raft_dir: None,
    };

    // A block's bytes altered in the backup.
    flip_block_byte(&out.join(LEDGER_DIR), 2);
    let refused = restore(&out, &target, &force).unwrap_err();
    assert!(
        matches!(refused, BackupError::Unverified { .. }),
        "{refused}"
    );
    assert_eq!(listing(&target), files);
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        3,
        "no staging left"
    );

    // The manifest altered on an intact backup.
    let out = dir.path().join("backup2");
    backup(&source, &out).unwrap();
    let manifest = std::fs::read_to_string(out.join(MANIFEST_FILE)).unwrap();
    std::fs::write(
        out.join(MANIFEST_FILE),
        manifest.replace("height 5", "height 9"),
    )
    .unwrap();
    let refused = restore(&out, &target, &force).unwrap_err();
    assert!(
        matches!(refused, BackupError::ManifestMismatch { .. }),
        "{refused}"
    );
    assert_eq!(listing(&target), files);

    // A staging copy left by an interrupted restore is in the way.
    let staging = dir.path().join("target.restoring");
    std::fs::create_dir(&staging).unwrap();
    let out_intact = dir.path().join("backup3");
    backup(&source, &out_intact).unwrap();
    let refused = restore(&out_intact, &target, &force).unwrap_err();
    assert!(
        matches!(refused, BackupError::StagingExists { .. }),
        "{refused}"
    );
    assert_eq!(listing(&target), files);
    std::fs::remove_dir(&staging).unwrap();

    // No manifest: not a backup.
    std::fs::remove_file(out.join(MANIFEST_FILE)).unwrap();
    let refused = restore(&out, &target, &force).unwrap_err();
    assert!(matches!(refused, BackupError::Io { .. }), "{refused}");
    assert_eq!(listing(&target), files);
}

#[test]
fn open_refuses_a_ledger_with_a_damaged_recent_block() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path(), 5);
    // Not the last block (the chain record's hash check catches that one already): the
    // block below it, which only the recent-chain check at open looks at.
    flip_block_byte(dir.path(), 4);
    let refused = Ledger::open(dir.path()).unwrap_err();
    assert!(
        matches!(
            refused,
            LedgerError::Corrupt(
                Corruption::BrokenChain { .. }
                    | Corruption::DataHashMismatch { .. }
                    | Corruption::UndecodableBlock { .. }
            )
        ),
        "{refused}"
    );
}
