//! The notifier's outbox through the ledger's public API, on real RocksDB directories:
//! enqueue with the cursor, reopen without loss or duplicate, delivery marks, pruning,
//! refusals that change nothing, and a read-only view while the writer is open.

use netsettle_ledger::{Ledger, LedgerError, NewNotice, OutboxCounts, OutboxError, OutboxState};

fn notice(id: &str, created_ms: i64) -> NewNotice {
    NewNotice {
        id: id.to_owned(),
        payload: format!("{{\"id\":\"{id}\"}}").into_bytes(),
        created_ms,
    }
}

fn ids(ledger: &Ledger, state: Option<OutboxState>) -> Vec<String> {
    let entries = ledger.outbox().list(state, 0, 100).unwrap();
    entries.into_iter().map(|entry| entry.id).collect()
}

#[test]
fn enqueued_notices_and_cursor_survive_a_reopen_and_a_block_derived_twice_adds_nothing() {
    let dir = tempfile::tempdir().unwrap();
    {
        let ledger = Ledger::open(dir.path()).unwrap();
        assert_eq!(ledger.outbox().cursor().unwrap(), None);
        assert_eq!(ledger.outbox().counts().unwrap(), OutboxCounts::default());
        let batch = [notice("3-0-0:desk", 10), notice("3-1-0:desk", 10)];
        let done = ledger.outbox().enqueue(Some(4), &batch, 100).unwrap();
        assert_eq!(done.added.len(), 2);
        assert_eq!((done.added[0].seq, done.added[1].seq), (0, 1));
        assert_eq!(done.added[0].next_attempt_ms, 10);
    }
    let ledger = Ledger::open(dir.path()).unwrap();
    let outbox = ledger.outbox();
    assert_eq!(outbox.cursor().unwrap(), Some(4));
    assert_eq!(outbox.entries().unwrap(), 2);
    assert_eq!(outbox.counts().unwrap().pending, 2);
    assert_eq!(
        ids(&ledger, Some(OutboxState::Pending)),
        ["3-0-0:desk", "3-1-0:desk"]
    );

    // Block 3 derived again (say, the cursor write was lost): its ids are present.
    let again = [notice("3-1-0:desk", 11), notice("4-0-0:desk", 11)];
    let done = outbox.enqueue(Some(5), &again, 100).unwrap();
    assert_eq!(done.duplicates, 1);
    assert_eq!(done.added.len(), 1);
    assert_eq!(done.added[0].seq, 2);
    assert_eq!(
        ids(&ledger, None),
        ["3-0-0:desk", "3-1-0:desk", "4-0-0:desk"]
    );
    // A repeated id inside one batch counts once.
    let twice = [notice("5-0-0:desk", 12), notice("5-0-0:desk", 12)];
    let done = outbox.enqueue(None, &twice, 100).unwrap();
    assert_eq!((done.added.len(), done.duplicates), (1, 1));
    assert_eq!(
        outbox.cursor().unwrap(),
        Some(5),
        "no cursor given: it stays"
    );
}

#[test]
fn marks_record_attempts_and_only_pending_entries_change() {
    let dir = tempfile::tempdir().unwrap();
    {
        let ledger = Ledger::open(dir.path()).unwrap();
        let outbox = ledger.outbox();
        outbox
            .enqueue(Some(1), &[notice("a", 1), notice("b", 1)], 100)
            .unwrap();
        let retried = outbox.mark_retry(0, 500, "HTTP 503").unwrap();
        assert_eq!(retried.attempts, 1);
        assert_eq!(retried.state, OutboxState::Pending);
        assert_eq!(retried.last_error.as_deref(), Some("HTTP 503"));
        let sent = outbox.mark_sent(0, 600).unwrap();
        assert_eq!((sent.state, sent.attempts), (OutboxState::Sent, 2));
        assert_eq!(sent.last_error, None);
        let long = "é".repeat(1000);
        let failed = outbox.mark_failed(1, 700, &long).unwrap();
        assert_eq!(failed.state, OutboxState::Failed);
        assert!(failed.last_error.unwrap().len() <= 512);

        assert!(matches!(
            outbox.mark_sent(0, 800),
            Err(LedgerError::Outbox(OutboxError::NotPending {
                seq: 0,
                state: OutboxState::Sent
            }))
        ));
        assert!(matches!(
            outbox.mark_retry(9, 800, "x"),
            Err(LedgerError::Outbox(OutboxError::UnknownEntry { seq: 9 }))
        ));
    }
    let ledger = Ledger::open(dir.path()).unwrap();
    let entries = ledger.outbox().list(None, 0, 10).unwrap();
    assert_eq!(entries[0].state, OutboxState::Sent);
    assert_eq!(entries[0].next_attempt_ms, 600);
    assert_eq!(entries[1].state, OutboxState::Failed);
    assert_eq!(entries[1].attempts, 1);
    let counts = OutboxCounts {
        pending: 0,
        sent: 1,
        failed: 1,
    };
    assert_eq!(ledger.outbox().counts().unwrap(), counts);
    assert_eq!(
        ids(&ledger, Some(OutboxState::Pending)),
        Vec::<String>::new()
    );
}

#[test]
fn a_full_outbox_prunes_the_oldest_finished_entries_and_refuses_when_all_are_pending() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::open(dir.path()).unwrap();
    let outbox = ledger.outbox();
    let first = [notice("a", 1), notice("b", 1), notice("c", 1)];
    outbox.enqueue(Some(1), &first, 3).unwrap();
    outbox.mark_sent(0, 2).unwrap();
    outbox.mark_failed(2, 2, "gone").unwrap();

    let done = outbox.enqueue(Some(2), &[notice("d", 3)], 3).unwrap();
    assert_eq!(done.pruned, 1, "only the room needed is made");
    assert_eq!(ids(&ledger, None), ["b", "c", "d"]);
    let done = outbox.enqueue(Some(3), &[notice("e", 4)], 3).unwrap();
    assert_eq!(done.pruned, 1);
    assert_eq!(ids(&ledger, None), ["b", "d", "e"]);
    assert_eq!(outbox.entries().unwrap(), 3);

    // Only pending entries left: refused, and nothing moves.
    assert!(matches!(
        outbox.enqueue(Some(4), &[notice("f", 5)], 3),
        Err(LedgerError::Outbox(OutboxError::Full { entries_max: 3 }))
    ));
    assert_eq!(outbox.cursor().unwrap(), Some(3));
    assert_eq!(ids(&ledger, None), ["b", "d", "e"]);
    // A cursor-only move still fits.
    outbox.enqueue(Some(4), &[], 3).unwrap();
    assert_eq!(outbox.cursor().unwrap(), Some(4));
}

#[test]
fn bad_notices_and_a_cursor_moving_back_are_refused_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::open(dir.path()).unwrap();
    let outbox = ledger.outbox();
    outbox.enqueue(Some(7), &[notice("a", 1)], 10).unwrap();

    let empty_id = [notice("ok", 1), notice("", 1)];
    assert!(matches!(
        outbox.enqueue(Some(8), &empty_id, 10),
        Err(LedgerError::Outbox(OutboxError::BadId { len: 0 }))
    ));
    let long_id = [notice(&"x".repeat(513), 1)];
    assert!(matches!(
        outbox.enqueue(Some(8), &long_id, 10),
        Err(LedgerError::Outbox(OutboxError::BadId { len: 513 }))
    ));
    let mut big = notice("big", 1);
    big.payload = vec![b'x'; 32 * 1024 + 1];
    assert!(matches!(
        outbox.enqueue(Some(8), &[big], 10),
        Err(LedgerError::Outbox(OutboxError::PayloadTooLarge { .. }))
    ));
    assert!(matches!(
        outbox.enqueue(Some(6), &[notice("b", 1)], 10),
        Err(LedgerError::Outbox(OutboxError::CursorBackwards {
            current: 7,
            requested: 6
        }))
    ));
    assert_eq!(outbox.cursor().unwrap(), Some(7));
    assert_eq!(ids(&ledger, None), ["a"]);
    assert!(matches!(
        outbox.list(None, 0, 10_001),
        Err(LedgerError::PageTooLarge { .. })
    ));
}

#[test]
fn a_read_only_open_sees_the_outbox_of_a_running_writer_and_cannot_change_it() {
    let dir = tempfile::tempdir().unwrap();
    let writer = Ledger::open(dir.path()).unwrap();
    writer
        .outbox()
        .enqueue(Some(2), &[notice("a", 1), notice("b", 1)], 10)
        .unwrap();
    writer.outbox().mark_sent(1, 5).unwrap();

    let reader = Ledger::open_read_only(dir.path()).unwrap();
    assert_eq!(reader.outbox().cursor().unwrap(), Some(2));
    assert_eq!(ids(&reader, Some(OutboxState::Sent)), ["b"]);
    assert_eq!(ids(&reader, Some(OutboxState::Pending)), ["a"]);
    assert!(matches!(
        reader.outbox().mark_sent(0, 6),
        Err(LedgerError::ReadOnly)
    ));
    assert!(matches!(
        reader.outbox().enqueue(Some(3), &[], 10),
        Err(LedgerError::ReadOnly)
    ));
}
