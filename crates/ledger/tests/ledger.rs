//! Commit, reopen and query: the ledger's behaviour through its public API, on real
//! RocksDB directories in temporary folders.

mod common;

use common::{ChainBuilder, NAMESPACE, delete, put};
use netsettle_ledger::{BlockRejected, CompositeKey, DataHash, Ledger, LedgerError, verify};
use netsettle_protocol::{Page, StateEntry, ValidationCode, Version};
use netsettle_smcrypto::Hash;

use ValidationCode::{MvccReadConflict, NotValidated, Valid};

fn commit_all(ledger: &Ledger, chain: &ChainBuilder) {
    let height = ledger.chain_info().unwrap().height;
    for block in chain.blocks.iter().skip(usize::try_from(height).unwrap()) {
        ledger.commit_block(block).unwrap();
    }
}

fn keys(page: &Page<StateEntry, String>) -> Vec<&str> {
    page.entries
        .iter()
        .map(|entry| entry.key.as_str())
        .collect()
}

#[test]
fn commit_and_reopen_keeps_blocks_state_and_indexes() {
    let dir = tempfile::tempdir().unwrap();
    let mut chain = ChainBuilder::new();
    chain.push(&[
        (vec![put("a", b"1"), put("b", b"2")], Valid),
        (vec![put("c", b"3")], MvccReadConflict),
    ]);
    chain.push(&[(vec![put("a", b"10"), delete("b")], Valid)]);
    {
        let ledger = Ledger::open(dir.path()).unwrap();
        assert_eq!(ledger.chain_info().unwrap().height, 0);
        commit_all(&ledger, &chain);
    }
    let ledger = Ledger::open(dir.path()).unwrap();
    let info = ledger.chain_info().unwrap();
    assert_eq!(info.height, 3);
    assert_eq!(info.current_hash, Some(chain.blocks[2].hash()));
    assert_eq!(ledger.state_info().unwrap(), info);

    for block in &chain.blocks {
        let number = block.header.number;
        assert_eq!(ledger.block(number).unwrap().as_ref(), Some(block));
        assert_eq!(
            ledger.block_by_hash(&block.hash()).unwrap().as_ref(),
            Some(block)
        );
    }
    assert_eq!(ledger.block(3).unwrap(), None);
    assert_eq!(ledger.block_by_hash(&Hash::default()).unwrap(), None);

    let a = ledger.state(NAMESPACE, "a").unwrap().unwrap();
    assert_eq!(a.value, b"10");
    assert_eq!(a.version, Version { block: 2, tx: 0 });
    assert_eq!(ledger.state(NAMESPACE, "b").unwrap(), None, "deleted");
    assert_eq!(
        ledger.state(NAMESPACE, "c").unwrap(),
        None,
        "invalid tx not applied"
    );

    let invalid = &chain.blocks[1].data[1];
    let location = ledger.transaction(&invalid.tx_id()).unwrap().unwrap();
    assert_eq!((location.block, location.index), (1, 1));
    assert_eq!(location.code, MvccReadConflict);
    let (envelope, _) = ledger
        .transaction_envelope(&invalid.tx_id())
        .unwrap()
        .unwrap();
    assert_eq!(&envelope, invalid);

    let report = verify(dir.path()).unwrap();
    assert!(report.is_ok(), "{:?}", report.fault);
    assert_eq!(report.blocks_checked, 3);
    assert_eq!(report.state_digest, ledger.state_digest().unwrap());
}

#[test]
fn blocks_that_do_not_extend_the_chain_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let mut chain = ChainBuilder::new();
    chain.push(&[(vec![put("a", b"1")], Valid)]);
    chain.push(&[(vec![put("a", b"2")], Valid)]);
    let ledger = Ledger::open(dir.path()).unwrap();
    ledger.commit_block(&chain.blocks[0]).unwrap();

    let skipped = ledger.commit_block(&chain.blocks[2]);
    assert!(matches!(
        skipped,
        Err(LedgerError::Rejected(BlockRejected::WrongNumber {
            number: 2,
            height: 1
        }))
    ));

    let mut forked = chain.blocks[1].clone();
    forked.header.previous_hash = Hash([7; 32]);
    assert!(matches!(
        ledger.commit_block(&forked),
        Err(LedgerError::Rejected(BlockRejected::WrongPreviousHash {
            number: 1
        }))
    ));

    let mut tampered = chain.blocks[1].clone();
    tampered.data.push(tampered.data[0].clone());
    tampered.metadata.validation_codes.push(Valid);
    assert!(matches!(
        ledger.commit_block(&tampered),
        Err(LedgerError::Rejected(BlockRejected::WrongDataHash {
            number: 1
        }))
    ));

    let mut unvalidated = chain.blocks[1].clone();
    unvalidated.metadata.validation_codes.clear();
    assert!(matches!(
        ledger.commit_block(&unvalidated),
        Err(LedgerError::Rejected(
            BlockRejected::ValidationCodeCount { .. }
        ))
    ));

    assert_eq!(
        ledger.chain_info().unwrap().height,
        1,
        "nothing was written"
    );
    ledger.commit_block(&chain.blocks[1]).unwrap();
}

#[test]
fn a_valid_duplicate_transaction_id_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let mut chain = ChainBuilder::new();
    chain.push(&[(vec![put("a", b"1")], Valid)]);
    let replay = chain.blocks[1].data[0].clone();
    chain.push_envelopes(vec![replay.clone()], vec![Valid]);
    let ledger = Ledger::open(dir.path()).unwrap();
    ledger.commit_block(&chain.blocks[0]).unwrap();
    ledger.commit_block(&chain.blocks[1]).unwrap();
    assert!(matches!(
        ledger.commit_block(&chain.blocks[2]),
        Err(LedgerError::Rejected(BlockRejected::DuplicateValidTx {
            number: 2,
            index: 0
        }))
    ));

    // Marked as a duplicate by the peer, it commits, and the index keeps the first.
    let mut marked = chain.blocks[2].clone();
    marked.metadata.validation_codes = vec![ValidationCode::DuplicateTxId];
    ledger.commit_block(&marked).unwrap();
    let location = ledger.transaction(&replay.tx_id()).unwrap().unwrap();
    assert_eq!((location.block, location.code), (1, Valid));
    let report = verify(dir.path()).unwrap();
    assert!(report.is_ok(), "{:?}", report.fault);
}

#[test]
fn range_scans_and_history_span_many_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let mut chain = ChainBuilder::new();
    // 40 blocks; block n writes key k{n % 10} (so each key is rewritten 4 times), a
    // composite key per (period, n), and deletes k{n % 10 - 1} every fifth block.
    for n in 1..=40u64 {
        let period = if n.is_multiple_of(2) {
            "2026-10"
        } else {
            "2026-11"
        };
        let line = CompositeKey::new("line", &[period, &format!("{n:03}")]).unwrap();
        let line_key = String::from_utf8(line.as_bytes().to_vec()).unwrap();
        let mut writes = vec![
            put(&format!("k{}", n % 10), format!("v{n}").as_bytes()),
            put(&line_key, &n.to_be_bytes()),
        ];
        if n.is_multiple_of(5) {
            writes.push(delete(&format!("k{}", (n + 9) % 10)));
        }
        chain.push(&[
            (writes, Valid),
            (vec![put("never", b"x")], MvccReadConflict),
        ]);
    }
    let ledger = Ledger::open(dir.path()).unwrap();
    commit_all(&ledger, &chain);

    // Range over simple keys: composite keys never show up, pages join up exactly.
    let all = ledger.state_range(NAMESPACE, "", "", None, 100).unwrap();
    assert_eq!(all.next, None);
    let expected: Vec<String> = (0..10)
        .map(|i| format!("k{i}"))
        .filter(|key| ledger.state(NAMESPACE, key).unwrap().is_some())
        .collect();
    assert_eq!(keys(&all), expected);
    assert!(expected.len() >= 5, "most keys survive the deletes");
    let first = ledger.state_range(NAMESPACE, "", "", None, 3).unwrap();
    assert_eq!(first.entries.len(), 3);
    let rest = ledger
        .state_range(NAMESPACE, "", "", first.next.as_deref(), 100)
        .unwrap();
    assert_eq!([keys(&first), keys(&rest)].concat(), keys(&all));
    let bounded = ledger
        .state_range(NAMESPACE, "k2", "k5", None, 100)
        .unwrap();
    // k4 was last deleted by block 35.
    assert_eq!(keys(&bounded), vec!["k2", "k3"]);

    // Composite prefix: exactly the lines of one period, in key order.
    let october = CompositeKey::prefix("line", &["2026-10"]).unwrap();
    let lines = ledger
        .state_by_prefix(NAMESPACE, &october, None, 100)
        .unwrap();
    assert_eq!(lines.entries.len(), 20);
    for (entry, n) in lines.entries.iter().zip((2..=40).step_by(2)) {
        let (kind, attributes) = CompositeKey::split(entry.key.as_bytes()).unwrap();
        assert_eq!(
            (kind, attributes),
            ("line", vec!["2026-10", &format!("{n:03}")[..]])
        );
        assert_eq!(entry.value.value, u64::to_be_bytes(n));
        assert_eq!(entry.value.version, Version { block: n, tx: 0 });
    }
    let page = ledger
        .state_by_prefix(NAMESPACE, &october, None, 7)
        .unwrap();
    let next = ledger
        .state_by_prefix(NAMESPACE, &october, page.next.as_deref(), 100)
        .unwrap();
    assert_eq!(page.entries.len() + next.entries.len(), 20);
    assert_eq!(next.entries.first(), lines.entries.get(7));

    let history = ledger.history(NAMESPACE, "k4", None, 100).unwrap();
    let versions: Vec<u64> = history.entries.iter().map(|e| e.version.block).collect();
    // k4 is written by 4, 14, 24, 34 and deleted by n with (n + 9) % 10 == 4: n = 5, 15,
    // 25, 35.
    assert_eq!(versions, vec![4, 5, 14, 15, 24, 25, 34, 35]);
    for entry in &history.entries {
        let expected = (entry.version.block % 10 == 4).then(|| format!("v{}", entry.version.block));
        assert_eq!(
            entry.value.as_deref(),
            expected.as_deref().map(str::as_bytes)
        );
        let block = &chain.blocks[usize::try_from(entry.version.block).unwrap()];
        assert_eq!(entry.tx_id, block.data[0].tx_id());
    }
    let paged = ledger.history(NAMESPACE, "k4", None, 3).unwrap();
    let after = ledger.history(NAMESPACE, "k4", paged.next, 100).unwrap();
    assert_eq!(paged.entries.len() + after.entries.len(), 8);
    assert_eq!(after.entries.first(), history.entries.get(3));
    assert!(
        ledger
            .history(NAMESPACE, "never", None, 10)
            .unwrap()
            .entries
            .is_empty()
    );

    assert!(matches!(
        ledger.state_range(NAMESPACE, "", "", None, 0),
        Err(LedgerError::PageTooLarge { .. })
    ));
    let report = verify(dir.path()).unwrap();
    assert!(report.is_ok(), "{:?}", report.fault);
}

#[test]
fn appended_blocks_reach_the_state_on_open_and_reset_rebuilds_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut chain = ChainBuilder::new();
    for n in 1..=6u64 {
        chain.push(&[(
            vec![
                put(&format!("k{n}"), b"v"),
                put("counter", &n.to_be_bytes()),
            ],
            Valid,
        )]);
    }
    let digest_full = {
        let ledger = Ledger::open(dir.path()).unwrap();
        ledger.commit_block(&chain.blocks[0]).unwrap();
        ledger.commit_block(&chain.blocks[1]).unwrap();
        // A peer that stores blocks first: the state stays at 2.
        for block in &chain.blocks[2..] {
            ledger.append_block(block).unwrap();
        }
        assert_eq!(ledger.chain_info().unwrap().height, 7);
        assert_eq!(ledger.state_info().unwrap().height, 2);
        assert_eq!(ledger.state(NAMESPACE, "k3").unwrap(), None);
        // Verify replays only what the savepoint claims, so a lagging state passes.
        let report = verify(dir.path()).unwrap();
        assert!(report.is_ok(), "{:?}", report.fault);
        ledger.state_digest().unwrap()
    };
    let ledger = Ledger::open(dir.path()).unwrap();
    assert_eq!(ledger.state_info().unwrap(), ledger.chain_info().unwrap());
    let counter = ledger.state(NAMESPACE, "counter").unwrap().unwrap();
    assert_eq!(counter.value, 6u64.to_be_bytes());
    let digest = ledger.state_digest().unwrap();
    assert_ne!(digest, digest_full);

    assert_eq!(ledger.reset_state().unwrap(), 7);
    assert_eq!(ledger.state_digest().unwrap(), digest);
    assert_eq!(
        ledger
            .history(NAMESPACE, "counter", None, 100)
            .unwrap()
            .entries
            .len(),
        6
    );
    let report = verify(dir.path()).unwrap();
    assert!(report.is_ok(), "{:?}", report.fault);
}

#[test]
fn orderer_copies_without_codes_stop_the_state_until_validated() {
    let dir = tempfile::tempdir().unwrap();
    let mut chain = ChainBuilder::new();
    chain.push(&[(vec![put("a", b"1")], NotValidated)]);
    let mut unvalidated = chain.blocks[1].clone();
    unvalidated.metadata.validation_codes.clear();
    let ledger = Ledger::open(dir.path()).unwrap();
    ledger.commit_block(&chain.blocks[0]).unwrap();
    ledger.append_block(&unvalidated).unwrap();
    assert_eq!(ledger.apply_pending_state().unwrap(), 1);
    let location = ledger
        .transaction(&unvalidated.data[0].tx_id())
        .unwrap()
        .unwrap();
    assert_eq!(location.code, NotValidated);
    chain.push(&[(vec![put("b", b"2")], Valid)]);
    assert!(matches!(
        ledger.commit_block(&chain.blocks[2]),
        Err(LedgerError::Rejected(BlockRejected::StateBehind {
            state_height: 1,
            height: 2
        }))
    ));
    // A validated block with NOT_VALIDATED codes is refused by commit.
    assert!(matches!(
        ledger.commit_block(&chain.blocks[1]),
        Err(LedgerError::Rejected(_))
    ));
}

#[test]
fn read_only_handles_refuse_writes() {
    let dir = tempfile::tempdir().unwrap();
    let chain = ChainBuilder::new();
    {
        let ledger = Ledger::open(dir.path()).unwrap();
        ledger.commit_block(&chain.blocks[0]).unwrap();
    }
    let reader = Ledger::open_read_only(dir.path()).unwrap();
    assert_eq!(reader.chain_info().unwrap().height, 1);
    assert!(matches!(
        reader.commit_block(&chain.blocks[0]),
        Err(LedgerError::ReadOnly)
    ));
    let missing = dir.path().join("missing");
    assert!(Ledger::open_read_only(&missing).is_err());
}

#[test]
fn a_snapshot_does_not_see_later_commits() {
    let dir = tempfile::tempdir().unwrap();
    let mut chain = ChainBuilder::new();
    chain.push(&[(vec![put("a", b"old"), put("b", b"1")], Valid)]);
    chain.push(&[(vec![put("a", b"new"), delete("b"), put("c", b"2")], Valid)]);
    let ledger = Ledger::open(dir.path()).unwrap();
    ledger.commit_block(&chain.blocks[0]).unwrap();
    ledger.commit_block(&chain.blocks[1]).unwrap();
    let snapshot = ledger.snapshot().unwrap();
    ledger.commit_block(&chain.blocks[2]).unwrap();

    assert_eq!(snapshot.state_info().height, 2);
    assert_eq!(
        snapshot.state(NAMESPACE, "a").unwrap().unwrap().value,
        b"old"
    );
    let page = snapshot.state_range(NAMESPACE, "", "", None, 10).unwrap();
    assert_eq!(keys(&page), vec!["a", "b"]);
    assert_eq!(ledger.state(NAMESPACE, "a").unwrap().unwrap().value, b"new");
    let page = ledger.state_range(NAMESPACE, "", "", None, 10).unwrap();
    assert_eq!(keys(&page), vec!["a", "c"]);
}

#[test]
fn the_config_in_force_is_the_one_the_last_block_names() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::open(dir.path()).unwrap();
    assert_eq!(ledger.config_in_force().unwrap(), None);
    let in_force = |ledger: &Ledger| {
        let (config, number) = ledger.config_in_force().unwrap().unwrap();
        (config.sequence, number)
    };

    let mut chain = ChainBuilder::new();
    commit_all(&ledger, &chain);
    let genesis_sequence = chain.blocks[0].config().unwrap().sequence;
    assert_eq!(in_force(&ledger), (genesis_sequence, 0));

    chain.push(&[(vec![put("a", b"1")], Valid)]);
    commit_all(&ledger, &chain);
    assert_eq!(in_force(&ledger), (genesis_sequence, 0));

    chain.push_config(genesis_sequence + 1);
    commit_all(&ledger, &chain);
    assert_eq!(in_force(&ledger), (genesis_sequence + 1, 2));

    chain.push(&[(vec![put("a", b"2")], Valid)]);
    commit_all(&ledger, &chain);
    assert_eq!(in_force(&ledger), (genesis_sequence + 1, 2));
    assert_eq!(
        chain.blocks[3].config(),
        None,
        "a transaction block carries no config"
    );
}

#[test]
fn a_block_built_by_its_caller_is_indexed_by_the_ids_it_gives_and_a_wrong_count_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut chain = ChainBuilder::new();
    chain.push(&[
        (vec![put("a", b"1")], NotValidated),
        (vec![put("b", b"2")], NotValidated),
    ]);
    let mut built = chain.blocks[1].clone();
    built.metadata.validation_codes.clear();
    let ids: Vec<_> = built.data.iter().map(|envelope| envelope.tx_id()).collect();
    let ledger = Ledger::open(dir.path()).unwrap();
    ledger.commit_block(&chain.blocks[0]).unwrap();
    assert!(matches!(
        ledger.append_built_block(&built, &ids[..1]),
        Err(LedgerError::Rejected(BlockRejected::TxIdsMismatch {
            number: 1,
            envelopes: 2,
            ids: 1
        }))
    ));
    assert_eq!(ledger.chain_info().unwrap().height, 1, "nothing written");
    ledger.append_built_block(&built, &ids).unwrap();
    for (index, tx_id) in ids.iter().enumerate() {
        let location = ledger.transaction(tx_id).unwrap().unwrap();
        assert_eq!(
            (location.block, location.index),
            (1, u32::try_from(index).unwrap())
        );
    }
}

#[test]
fn a_block_committed_with_its_ids_is_indexed_by_them_and_a_wrong_count_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut chain = ChainBuilder::new();
    chain.push(&[
        (vec![put("a", b"1")], Valid),
        (vec![put("b", b"2")], MvccReadConflict),
    ]);
    let block = &chain.blocks[1];
    let ids: Vec<_> = block.data.iter().map(|envelope| envelope.tx_id()).collect();
    let ledger = Ledger::open(dir.path()).unwrap();
    ledger.commit_block(&chain.blocks[0]).unwrap();
    for wrong in [&ids[..1], &[ids[0], ids[1], ids[0]][..]] {
        assert!(matches!(
            ledger.commit_block_with_ids(block, DataHash::Verify, wrong),
            Err(LedgerError::Rejected(BlockRejected::TxIdsMismatch {
                number: 1,
                envelopes: 2,
                ..
            }))
        ));
    }
    assert_eq!(ledger.chain_info().unwrap().height, 1, "no block written");
    assert_eq!(
        ledger.state(NAMESPACE, "a").unwrap(),
        None,
        "no state written"
    );
    assert!(
        ledger.transaction(&ids[0]).unwrap().is_none(),
        "no index written"
    );

    let info = ledger
        .commit_block_with_ids(block, DataHash::Verify, &ids)
        .unwrap();
    assert_eq!(info.height, 2);
    assert_eq!(ledger.state_info().unwrap(), info);
    assert_eq!(ledger.state(NAMESPACE, "a").unwrap().unwrap().value, b"1");
    assert_eq!(
        ledger.state(NAMESPACE, "b").unwrap(),
        None,
        "invalid tx not applied"
    );
    for (index, (tx_id, code)) in ids.iter().zip([Valid, MvccReadConflict]).enumerate() {
        let location = ledger.transaction(tx_id).unwrap().unwrap();
        assert_eq!(
            (location.block, location.index, location.code),
            (1, u32::try_from(index).unwrap(), code)
        );
    }
}
