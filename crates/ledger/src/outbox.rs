//! The notifier's outbox: notices waiting to be sent, sent, or given up on, in the
//! ledger's RocksDB (column `outbox`), so that they survive a restart.
//!
//! The notifier derives notices from committed blocks. [`Outbox::enqueue`] writes the
//! derivation cursor (the next block to derive from) and the notices derived from the
//! blocks before it in **one synced batch**: after a crash, either both are on disk or
//! neither, so a block's notices are never lost (the cursor did not move) nor enqueued
//! twice (it did). Notice ids are unique in the outbox: enqueuing an id already present
//! adds nothing, which also makes a block derived twice harmless. The delivery marks
//! ([`Outbox::mark_sent`], [`Outbox::mark_retry`], [`Outbox::mark_failed`]) are synced
//! writes too, made right after each attempt.
//!
//! Bounded: at most `entries_max` entries (at most [`OUTBOX_ENTRIES_MAX`]); an enqueue
//! that would pass it first deletes the oldest finished (sent or failed) entries, and
//! is refused with [`OutboxError::Full`] when only pending ones are left.
//!
//! The ledger stores the payload as opaque bytes: what a notice is, and how it is sent,
//! is the notifier's business (`netsettle-gateway`). Only the notifier writes this column;
//! the peer's committer never touches it, and the notifier never touches the others.
//!
//! | key                  | value                                                          |
//! |----------------------|----------------------------------------------------------------|
//! | `0x00`               | header: `cursor? ‖ next_seq ‖ entries` (see [`Header`])        |
//! | `0x01 ‖ id`          | `seq: u64 BE`                                                  |
//! | `0x02 ‖ seq: u64 BE` | `state ‖ attempts ‖ created ‖ next attempt ‖ id ‖ error ‖ payload` |

use std::sync::MutexGuard;

use crate::error::{Corruption, LedgerError};
use crate::ledger::Ledger;
use crate::limits::{
    OUTBOX_ENTRIES_MAX, OUTBOX_ENTRY_BYTES_MAX, OUTBOX_ERROR_BYTES_MAX, OUTBOX_ID_BYTES_MAX,
    OUTBOX_PAYLOAD_BYTES_MAX, PAGE_ENTRIES_MAX,
};
use crate::store::{Batch, Column};

const HEADER_KEY: &[u8] = &[0x00];
const ID_PREFIX: u8 = 0x01;
const ENTRY_PREFIX: u8 = 0x02;

/// Where an outbox entry stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum OutboxState {
    /// Not delivered yet; the next attempt is due at `next_attempt_ms`.
    Pending,
    /// Delivered (the endpoint answered 2xx).
    Sent,
    /// Given up on after too many attempts or too long.
    Failed,
}

impl OutboxState {
    /// The lower-case name (`pending`, `sent`, `failed`).
    pub fn as_str(self) -> &'static str {
        match self {
            OutboxState::Pending => "pending",
            OutboxState::Sent => "sent",
            OutboxState::Failed => "failed",
        }
    }

    fn to_byte(self) -> u8 {
        match self {
            OutboxState::Pending => 0,
            OutboxState::Sent => 1,
            OutboxState::Failed => 2,
        }
    }

    fn from_byte(byte: u8) -> Option<OutboxState> {
        match byte {
            0 => Some(OutboxState::Pending),
            1 => Some(OutboxState::Sent),
            2 => Some(OutboxState::Failed),
            _ => None,
        }
    }
}

/// A notice to enqueue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewNotice {
    /// Unique in the outbox; an id already present is not enqueued again.
    pub id: String,
    /// What to send, opaque to the ledger.
    pub payload: Vec<u8>,
    /// When it was derived, Unix ms; the first attempt is due then.
    pub created_ms: i64,
}

/// One stored notice and its delivery state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEntry {
    /// Position in the outbox, increasing with each enqueue.
    pub seq: u64,
    /// The notice id.
    pub id: String,
    /// Pending, sent or failed.
    pub state: OutboxState,
    /// Attempts made so far.
    pub attempts: u32,
    /// When it was enqueued, Unix ms.
    pub created_ms: i64,
    /// When the next attempt is due (pending), or when it was sent or given up (Unix ms).
    pub next_attempt_ms: i64,
    /// Why the last attempt failed, if it did.
    pub last_error: Option<String>,
    /// What to send.
    pub payload: Vec<u8>,
}

/// What one [`Outbox::enqueue`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enqueued {
    /// The entries added, in order.
    pub added: Vec<OutboxEntry>,
    /// Notices not added because their id was already present.
    pub duplicates: usize,
    /// Finished entries deleted to make room.
    pub pruned: usize,
}

/// Why an outbox operation was refused. Nothing was written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OutboxError {
    /// A notice id is empty or longer than [`OUTBOX_ID_BYTES_MAX`].
    #[error("notice id of {len} bytes is empty or over the {OUTBOX_ID_BYTES_MAX}-byte limit")]
    BadId {
        /// Its length.
        len: usize,
    },
    /// A payload is longer than [`OUTBOX_PAYLOAD_BYTES_MAX`].
    #[error("notice payload of {len} bytes is over the {OUTBOX_PAYLOAD_BYTES_MAX}-byte limit")]
    PayloadTooLarge {
        /// Its length.
        len: usize,
    },
    /// The outbox holds `entries_max` entries and none is finished: wait for deliveries.
    #[error("outbox full: {entries_max} entries, none sent or failed to make room")]
    Full {
        /// The bound in force.
        entries_max: usize,
    },
    /// No entry has this sequence number (it was pruned, or never existed).
    #[error("no outbox entry {seq}")]
    UnknownEntry {
        /// The sequence number asked for.
        seq: u64,
    },
    /// The entry is already sent or failed.
    #[error("outbox entry {seq} is already {}", state.as_str())]
    NotPending {
        /// The sequence number.
        seq: u64,
        /// Its state.
        state: OutboxState,
    },
    /// The cursor would move backwards.
    #[error("outbox cursor cannot move back from {current} to {requested}")]
    CursorBackwards {
        /// The stored cursor.
        current: u64,
        /// The cursor passed.
        requested: u64,
    },
}

/// The header record: the derivation cursor, the next sequence number and the count of
/// entries, all changed in the batches that change what they describe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Header {
    cursor: Option<u64>,
    next_seq: u64,
    entries: u64,
}

impl Header {
    const BYTES: usize = 1 + 8 + 8 + 8;

    fn encode(&self) -> [u8; Header::BYTES] {
        let mut out = [0u8; Header::BYTES];
        out[0] = u8::from(self.cursor.is_some());
        out[1..9].copy_from_slice(&self.cursor.unwrap_or(0).to_be_bytes());
        out[9..17].copy_from_slice(&self.next_seq.to_be_bytes());
        out[17..25].copy_from_slice(&self.entries.to_be_bytes());
        out
    }

    fn decode(bytes: &[u8]) -> Result<Header, Corruption> {
        let malformed = || malformed("header: wrong length or flag");
        let bytes: &[u8; Header::BYTES] = bytes.try_into().map_err(|_| malformed())?;
        let word = |at: usize| {
            let mut word = [0u8; 8];
            word.copy_from_slice(&bytes[at..at + 8]);
            u64::from_be_bytes(word)
        };
        let cursor = match bytes[0] {
            0 => None,
            1 => Some(word(1)),
            _ => return Err(malformed()),
        };
        Ok(Header {
            cursor,
            next_seq: word(9),
            entries: word(17),
        })
    }
}

fn malformed(what: &str) -> Corruption {
    Corruption::Malformed {
        column: "outbox",
        what: what.to_owned(),
    }
}

fn id_key(id: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(1 + id.len());
    key.push(ID_PREFIX);
    key.extend_from_slice(id.as_bytes());
    key
}

fn entry_key(seq: u64) -> [u8; 9] {
    let mut key = [ENTRY_PREFIX; 9];
    key[1..].copy_from_slice(&seq.to_be_bytes());
    key
}

fn encode_entry(entry: &OutboxEntry) -> Vec<u8> {
    let error = entry.last_error.as_deref().unwrap_or("");
    // Paired with the checks in `decode_entry`: what is written is what may be read.
    assert!(entry.id.len() <= OUTBOX_ID_BYTES_MAX);
    assert!(error.len() <= OUTBOX_ERROR_BYTES_MAX);
    assert!(entry.payload.len() <= OUTBOX_PAYLOAD_BYTES_MAX);
    let mut out = Vec::with_capacity(25 + 4 + entry.id.len() + error.len() + entry.payload.len());
    out.push(entry.state.to_byte());
    out.extend_from_slice(&entry.attempts.to_be_bytes());
    out.extend_from_slice(&entry.created_ms.to_be_bytes());
    out.extend_from_slice(&entry.next_attempt_ms.to_be_bytes());
    for text in [entry.id.as_str(), error] {
        let len = u16::try_from(text.len()).unwrap_or(u16::MAX);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(text.as_bytes());
    }
    out.extend_from_slice(&entry.payload);
    assert!(out.len() <= OUTBOX_ENTRY_BYTES_MAX);
    out
}

/// Reads fixed-size fields off the front of a record.
struct Reader<'b> {
    rest: &'b [u8],
}

impl<'b> Reader<'b> {
    fn take(&mut self, n: usize) -> Result<&'b [u8], Corruption> {
        if self.rest.len() < n {
            return Err(malformed("entry: truncated"));
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], Corruption> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn text(&mut self, max: usize) -> Result<String, Corruption> {
        let len = usize::from(u16::from_be_bytes(self.array()?));
        if len > max {
            return Err(malformed("entry: text over its limit"));
        }
        let bytes = self.take(len)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| malformed("entry: text not UTF-8"))
    }
}

fn decode_entry(key: &[u8], value: &[u8]) -> Result<OutboxEntry, Corruption> {
    let seq_bytes: [u8; 8] = key
        .get(1..)
        .and_then(|rest| rest.try_into().ok())
        .ok_or_else(|| malformed("entry key: wrong length"))?;
    let mut reader = Reader { rest: value };
    let [state] = reader.array::<1>()?;
    let state = OutboxState::from_byte(state).ok_or_else(|| malformed("entry: bad state"))?;
    let attempts = u32::from_be_bytes(reader.array()?);
    let created_ms = i64::from_be_bytes(reader.array()?);
    let next_attempt_ms = i64::from_be_bytes(reader.array()?);
    let id = reader.text(OUTBOX_ID_BYTES_MAX)?;
    let error = reader.text(OUTBOX_ERROR_BYTES_MAX)?;
    let payload = reader.rest.to_vec();
    if payload.len() > OUTBOX_PAYLOAD_BYTES_MAX {
        return Err(malformed("entry: payload over its limit"));
    }
    Ok(OutboxEntry {
        seq: u64::from_be_bytes(seq_bytes),
        id,
        state,
        attempts,
        created_ms,
        next_attempt_ms,
        last_error: (!error.is_empty()).then_some(error),
        payload,
    })
}

/// `text` cut to at most [`OUTBOX_ERROR_BYTES_MAX`] bytes at a character boundary.
fn clip_error(text: &str) -> String {
    let mut end = text.len().min(OUTBOX_ERROR_BYTES_MAX);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

/// How many outbox entries are in each state ([`Outbox::counts`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutboxCounts {
    /// Entries not delivered yet.
    pub pending: u64,
    /// Entries delivered.
    pub sent: u64,
    /// Entries given up on.
    pub failed: u64,
}

/// The outbox of a ledger (see the module docs). Obtained with [`Ledger::outbox`].
#[derive(Debug, Clone, Copy)]
pub struct Outbox<'l> {
    ledger: &'l Ledger,
}

impl Ledger {
    /// The notifier's outbox in this ledger's database.
    pub fn outbox(&self) -> Outbox<'_> {
        Outbox { ledger: self }
    }
}

impl<'l> Outbox<'l> {
    /// The next block to derive notices from; `None` before the first enqueue.
    pub fn cursor(&self) -> Result<Option<u64>, LedgerError> {
        Ok(self.header()?.cursor)
    }

    /// How many entries the outbox holds.
    pub fn entries(&self) -> Result<u64, LedgerError> {
        Ok(self.header()?.entries)
    }

    /// How many entries are pending, sent and failed. Reads only each entry's state byte
    /// (no payload is copied), for the node's metrics.
    pub fn counts(&self) -> Result<OutboxCounts, LedgerError> {
        let mut counts = OutboxCounts::default();
        if !self.ledger.store.has_column(Column::Outbox) {
            return Ok(counts);
        }
        self.ledger.store.scan(
            Column::Outbox,
            &[ENTRY_PREFIX],
            Some(&[ENTRY_PREFIX + 1]),
            OUTBOX_ENTRY_BYTES_MAX,
            |_key, value| {
                let state = value
                    .first()
                    .copied()
                    .and_then(OutboxState::from_byte)
                    .ok_or_else(|| malformed("entry: bad state"))?;
                let count = match state {
                    OutboxState::Pending => &mut counts.pending,
                    OutboxState::Sent => &mut counts.sent,
                    OutboxState::Failed => &mut counts.failed,
                };
                *count = count.saturating_add(1);
                Ok(true)
            },
        )?;
        Ok(counts)
    }

    /// Adds `notices` whose ids are not present yet and, if `cursor` is given, moves the
    /// derivation cursor to it, in one synced batch. Makes room by deleting the oldest
    /// finished entries when the outbox would hold more than `entries_max` (capped at
    /// [`OUTBOX_ENTRIES_MAX`]). Refused as a whole (nothing written) on a bad notice, a
    /// cursor moving back, or no room.
    pub fn enqueue(
        &self,
        cursor: Option<u64>,
        notices: &[NewNotice],
        entries_max: usize,
    ) -> Result<Enqueued, LedgerError> {
        let entries_max = entries_max.min(OUTBOX_ENTRIES_MAX);
        for notice in notices {
            check_notice(notice)?;
        }
        let _writer = self.lock()?;
        let mut header = self.header()?;
        if let (Some(current), Some(requested)) = (header.cursor, cursor)
            && requested < current
        {
            return Err(OutboxError::CursorBackwards { current, requested }.into());
        }
        let store = &self.ledger.store;
        let mut batch = store.batch();
        let (added, duplicates) = self.add_new(&mut batch, &mut header, notices)?;
        let n_added = u64::try_from(added.len()).unwrap_or(u64::MAX);
        let entries_after = header.entries.saturating_add(n_added);
        let room_needed = entries_after.saturating_sub(u64::try_from(entries_max).unwrap_or(0));
        let pruned = self.prune_finished(&mut batch, room_needed)?;
        if pruned < room_needed {
            return Err(OutboxError::Full { entries_max }.into());
        }
        header.entries = entries_after - pruned;
        let cursor_after = cursor.or(header.cursor);
        if added.is_empty() && pruned == 0 && cursor_after == header.cursor {
            // Nothing new (a reminder timer looking again): no write, no fsync.
            return Ok(Enqueued {
                added,
                duplicates,
                pruned: 0,
            });
        }
        header.cursor = cursor_after;
        store.put(&mut batch, Column::Outbox, HEADER_KEY, &header.encode())?;
        store.write(batch)?;
        // Paired with the header built above: what was written reads back.
        assert_eq!(self.header()?, header, "outbox header read back differs");
        Ok(Enqueued {
            added,
            duplicates,
            pruned: usize::try_from(pruned).unwrap_or(usize::MAX),
        })
    }

    /// Adds to `batch` an entry for each notice whose id is not present yet, numbering
    /// them from `header.next_seq`; the entries added and the duplicates skipped.
    fn add_new(
        &self,
        batch: &mut Batch,
        header: &mut Header,
        notices: &[NewNotice],
    ) -> Result<(Vec<OutboxEntry>, usize), LedgerError> {
        let store = &self.ledger.store;
        let mut added: Vec<OutboxEntry> = Vec::new();
        let mut duplicates = 0usize;
        for notice in notices {
            let seen_in_batch = added.iter().any(|entry| entry.id == notice.id);
            if seen_in_batch || store.contains(Column::Outbox, &id_key(&notice.id))? {
                duplicates += 1;
                continue;
            }
            let entry = OutboxEntry {
                seq: header.next_seq,
                id: notice.id.clone(),
                state: OutboxState::Pending,
                attempts: 0,
                created_ms: notice.created_ms,
                next_attempt_ms: notice.created_ms,
                last_error: None,
                payload: notice.payload.clone(),
            };
            store.put(
                batch,
                Column::Outbox,
                &id_key(&entry.id),
                &entry.seq.to_be_bytes(),
            )?;
            store.put(
                batch,
                Column::Outbox,
                &entry_key(entry.seq),
                &encode_entry(&entry),
            )?;
            header.next_seq = header
                .next_seq
                .checked_add(1)
                .ok_or(malformed("seq overflow"))?;
            added.push(entry);
        }
        Ok((added, duplicates))
    }

    /// Adds to `batch` the deletion of up to `n` of the oldest finished entries; how many.
    fn prune_finished(&self, batch: &mut Batch, n: u64) -> Result<u64, LedgerError> {
        if n == 0 {
            return Ok(0);
        }
        let store = &self.ledger.store;
        let mut doomed = Vec::new();
        store.scan(
            Column::Outbox,
            &[ENTRY_PREFIX],
            Some(&[ENTRY_PREFIX + 1]),
            OUTBOX_ENTRY_BYTES_MAX,
            |key, value| {
                let entry = decode_entry(key, value)?;
                if entry.state != OutboxState::Pending {
                    doomed.push(entry);
                }
                Ok(u64::try_from(doomed.len()).unwrap_or(u64::MAX) < n)
            },
        )?;
        for entry in &doomed {
            store.delete(batch, Column::Outbox, &entry_key(entry.seq))?;
            store.delete(batch, Column::Outbox, &id_key(&entry.id))?;
        }
        Ok(u64::try_from(doomed.len()).unwrap_or(u64::MAX))
    }

    /// The entry `seq`, if present.
    pub fn get(&self, seq: u64) -> Result<Option<OutboxEntry>, LedgerError> {
        if !self.ledger.store.has_column(Column::Outbox) {
            return Ok(None);
        }
        let key = entry_key(seq);
        let value = self
            .ledger
            .store
            .get(Column::Outbox, &key, OUTBOX_ENTRY_BYTES_MAX)?;
        Ok(value.map(|value| decode_entry(&key, &value)).transpose()?)
    }

    /// Up to `limit` entries (at most [`PAGE_ENTRIES_MAX`]) from sequence number `from`
    /// on, in order, those in `state` only if given.
    pub fn list(
        &self,
        state: Option<OutboxState>,
        from: u64,
        limit: usize,
    ) -> Result<Vec<OutboxEntry>, LedgerError> {
        if limit > PAGE_ENTRIES_MAX {
            return Err(LedgerError::PageTooLarge {
                requested: limit,
                max: PAGE_ENTRIES_MAX,
            });
        }
        let mut out = Vec::new();
        if limit == 0 || !self.ledger.store.has_column(Column::Outbox) {
            return Ok(out);
        }
        self.ledger.store.scan(
            Column::Outbox,
            &entry_key(from),
            Some(&[ENTRY_PREFIX + 1]),
            OUTBOX_ENTRY_BYTES_MAX,
            |key, value| {
                let entry = decode_entry(key, value)?;
                if state.is_none_or(|state| state == entry.state) {
                    out.push(entry);
                }
                Ok(out.len() < limit)
            },
        )?;
        Ok(out)
    }

    /// Records that entry `seq` was delivered at `at_ms`.
    pub fn mark_sent(&self, seq: u64, at_ms: i64) -> Result<OutboxEntry, LedgerError> {
        self.update(seq, |entry| {
            entry.state = OutboxState::Sent;
            entry.attempts = entry.attempts.saturating_add(1);
            entry.next_attempt_ms = at_ms;
            entry.last_error = None;
        })
    }

    /// Records a failed attempt of entry `seq`, to be tried again at `next_attempt_ms`.
    pub fn mark_retry(
        &self,
        seq: u64,
        next_attempt_ms: i64,
        error: &str,
    ) -> Result<OutboxEntry, LedgerError> {
        self.update(seq, |entry| {
            entry.attempts = entry.attempts.saturating_add(1);
            entry.next_attempt_ms = next_attempt_ms;
            entry.last_error = Some(clip_error(error));
        })
    }

    /// Records a last failed attempt of entry `seq` at `at_ms`: no more attempts.
    pub fn mark_failed(
        &self,
        seq: u64,
        at_ms: i64,
        error: &str,
    ) -> Result<OutboxEntry, LedgerError> {
        self.update(seq, |entry| {
            entry.state = OutboxState::Failed;
            entry.attempts = entry.attempts.saturating_add(1);
            entry.next_attempt_ms = at_ms;
            entry.last_error = Some(clip_error(error));
        })
    }

    /// Changes a pending entry with `change` and writes it back, synced.
    fn update(
        &self,
        seq: u64,
        change: impl FnOnce(&mut OutboxEntry),
    ) -> Result<OutboxEntry, LedgerError> {
        let _writer = self.lock()?;
        let mut entry = self.get(seq)?.ok_or(OutboxError::UnknownEntry { seq })?;
        if entry.state != OutboxState::Pending {
            return Err(OutboxError::NotPending {
                seq,
                state: entry.state,
            }
            .into());
        }
        change(&mut entry);
        let store = &self.ledger.store;
        let mut batch = store.batch();
        store.put(
            &mut batch,
            Column::Outbox,
            &entry_key(seq),
            &encode_entry(&entry),
        )?;
        store.write(batch)?;
        Ok(entry)
    }

    fn header(&self) -> Result<Header, LedgerError> {
        if !self.ledger.store.has_column(Column::Outbox) {
            return Ok(Header::default());
        }
        let bytes = self
            .ledger
            .store
            .get(Column::Outbox, HEADER_KEY, Header::BYTES)?;
        Ok(bytes
            .map(|bytes| Header::decode(&bytes))
            .transpose()?
            .unwrap_or_default())
    }

    fn lock(&self) -> Result<MutexGuard<'l, ()>, LedgerError> {
        self.ledger.check_writable()?;
        // Enqueue and marks read, change and write back; one at a time.
        self.ledger
            .outbox_writer
            .lock()
            .map_err(|_| LedgerError::Poisoned)
    }
}

fn check_notice(notice: &NewNotice) -> Result<(), OutboxError> {
    let len = notice.id.len();
    if len == 0 || len > OUTBOX_ID_BYTES_MAX {
        return Err(OutboxError::BadId { len });
    }
    let len = notice.payload.len();
    if len > OUTBOX_PAYLOAD_BYTES_MAX {
        return Err(OutboxError::PayloadTooLarge { len });
    }
    Ok(())
}
