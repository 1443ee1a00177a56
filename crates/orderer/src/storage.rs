//! The Raft log store: entries, hard state, conf state and the latest snapshot, kept in
//! memory for raft-rs to read and, for a real orderer, written through to a RocksDB
//! database of its own (`<data dir>/raft`) with `sync` before the core acts on them.
//!
//! Layout of the database (default column family, one-byte key prefixes):
//!
//! | key                     | value                                   |
//! |-------------------------|-----------------------------------------|
//! | `e ‖ index: u64 BE`     | raft-rs `Entry`, protobuf               |
//! | `h`                     | `HardState`, protobuf                   |
//! | `s`                     | `Snapshot` (metadata + data), protobuf  |
//!
//! The conf state lives in the snapshot metadata: the conf state at the snapshot's index.
//! Membership changes after it are conf-change entries in the log, applied again (in
//! order, like every other entry) when the orderer restarts from the snapshot.
//!
//! Everything one `Ready` asks to persist (snapshot, new entries, hard state, and the
//! deletion of entries they replace) is one `WriteBatch` written with `sync`, so a crash
//! leaves either all of it or none. Entries stay in memory until compaction, which the
//! core runs after every snapshot, so memory is bounded by the snapshot interval.

use std::path::Path;

use protobuf::Message as _;
use raft::prelude::{ConfState, Entry, HardState, Snapshot};
use raft::{GetEntriesContext, RaftState, StorageError as RaftStorageError};

use crate::error::StorageError;

const ENTRY_PREFIX: u8 = b'e';
const HARD_STATE_KEY: &[u8] = b"h";
const SNAPSHOT_KEY: &[u8] = b"s";
/// A Raft entry's protobuf fields besides its data, its key and the batch record's
/// framing, rounded up: what `persist` reserves per entry on top of the data.
const ENTRY_FRAMING_BYTES: usize = 64;
/// The most one `persist` batch reserves up front; a bigger one grows past it.
const BATCH_RESERVE_BYTES_MAX: usize = 128 << 20;

fn entry_key(index: u64) -> [u8; 9] {
    let mut key = [ENTRY_PREFIX; 9];
    key[1..].copy_from_slice(&index.to_be_bytes());
    key
}

/// The Raft log of one orderer.
pub struct RaftStore {
    hard_state: HardState,
    snapshot: Snapshot,
    /// Contiguous entries: after the snapshot, plus up to `keep_entries` before it that a
    /// lagging follower may still be sent.
    entries: Vec<Entry>,
    db: Option<rocksdb::DB>,
}

impl std::fmt::Debug for RaftStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RaftStore")
            .field("snapshot_index", &self.snapshot_index())
            .field("last_index", &self.last_index())
            .field("durable", &self.db.is_some())
            .finish_non_exhaustive()
    }
}

impl RaftStore {
    /// A store in memory only, starting from `snapshot` (the bootstrap state of a new
    /// cluster member, or the in-memory cluster tests).
    pub fn memory(snapshot: Snapshot) -> Self {
        let hard_state = HardState {
            term: snapshot.get_metadata().term,
            commit: snapshot.get_metadata().index,
            ..HardState::default()
        };
        RaftStore {
            hard_state,
            snapshot,
            entries: Vec::new(),
            db: None,
        }
    }

    /// Opens the database at `path`, creating it from `bootstrap` when it holds no
    /// snapshot yet (a first start); otherwise loads snapshot, hard state and entries.
    pub fn open(path: &Path, bootstrap: Snapshot) -> Result<Self, StorageError> {
        let mut options = rocksdb::Options::default();
        options.create_if_missing(true);
        options.set_max_background_jobs(2);
        // Consensus state: a corrupt record must stop the orderer at open or read, not be
        // served to Raft (RocksDB then checks checksums and file consistency eagerly).
        options.set_paranoid_checks(true);
        let db = rocksdb::DB::open(&options, path)?;
        let Some(snapshot_bytes) = db.get(SNAPSHOT_KEY)? else {
            let mut store = RaftStore::memory(bootstrap);
            store.db = Some(db);
            store.write_all()?;
            return Ok(store);
        };
        let snapshot = Snapshot::parse_from_bytes(&snapshot_bytes)
            .map_err(|_| StorageError::Corrupt { what: "snapshot" })?;
        let hard_state = match db.get(HARD_STATE_KEY)? {
            Some(bytes) => HardState::parse_from_bytes(&bytes)
                .map_err(|_| StorageError::Corrupt { what: "hard state" })?,
            None => return Err(StorageError::Corrupt { what: "hard state" }),
        };
        let entries = load_entries(&db, snapshot.get_metadata().index)?;
        Ok(RaftStore {
            hard_state,
            snapshot,
            entries,
            db: Some(db),
        })
    }

    fn write_all(&mut self) -> Result<(), StorageError> {
        let snapshot = self.snapshot.clone();
        let hard_state = self.hard_state.clone();
        self.persist(Some(&snapshot), &[], Some(&hard_state))
    }

    /// Index of the latest snapshot.
    pub fn snapshot_index(&self) -> u64 {
        self.snapshot.get_metadata().index
    }

    /// The latest snapshot (the state machine restarts from it).
    pub fn latest_snapshot(&self) -> &Snapshot {
        &self.snapshot
    }

    /// The hard state as last persisted.
    pub fn hard_state(&self) -> &HardState {
        &self.hard_state
    }

    fn first_index(&self) -> u64 {
        self.entries
            .first()
            .map_or(self.snapshot_index().saturating_add(1), Entry::get_index)
    }

    fn last_index(&self) -> u64 {
        self.entries
            .last()
            .map_or(self.snapshot_index(), Entry::get_index)
    }

    /// Persists what one `Ready` holds, in one synced batch: a snapshot received from the
    /// leader (replacing every entry it covers), new entries (replacing any conflicting
    /// suffix), and the hard state.
    pub fn persist(
        &mut self,
        snapshot: Option<&Snapshot>,
        entries: &[Entry],
        hard_state: Option<&HardState>,
    ) -> Result<(), StorageError> {
        // Room for every entry's data and its framing up front: a multi-envelope entry is
        // hundreds of KiB, and a batch grown by doubling copies it again at each step.
        let reserve = entries
            .iter()
            .map(|entry| entry.get_data().len().saturating_add(ENTRY_FRAMING_BYTES))
            .fold(ENTRY_FRAMING_BYTES, usize::saturating_add)
            .min(BATCH_RESERVE_BYTES_MAX);
        let mut batch = rocksdb::WriteBatch::with_capacity_bytes(reserve);
        let last_before = self.last_index();
        if let Some(snapshot) = snapshot {
            let index = snapshot.get_metadata().index;
            batch.delete_range(
                entry_key(0),
                entry_key(last_before.max(index).saturating_add(1)),
            );
            batch.put(SNAPSHOT_KEY, encode_pb(snapshot, "snapshot")?);
        }
        if let Some(first) = entries.first() {
            // Entries at and after `first` are replaced.
            batch.delete_range(
                entry_key(first.get_index()),
                entry_key(last_before.saturating_add(1)),
            );
            for entry in entries {
                batch.put(entry_key(entry.get_index()), encode_pb(entry, "entry")?);
            }
        }
        let mut hard_state_after = hard_state.cloned();
        if let Some(snapshot) = snapshot {
            // raft-rs expects the commit index to cover an installed snapshot.
            let meta = snapshot.get_metadata();
            let hs = hard_state_after.get_or_insert_with(|| self.hard_state.clone());
            hs.term = hs.term.max(meta.term);
            hs.commit = hs.commit.max(meta.index);
        }
        if let Some(hs) = &hard_state_after {
            batch.put(HARD_STATE_KEY, encode_pb(hs, "hard state")?);
        }
        // Raft's safety needs the entries, the snapshot, and the term and vote on disk before
        // messages that depend on them leave; a moved commit index alone is learnt again
        // from the leader after a crash, so it is written without waiting for the disk.
        let must_sync = snapshot.is_some()
            || !entries.is_empty()
            || hard_state_after.as_ref().is_some_and(|hs| {
                hs.term != self.hard_state.term || hs.vote != self.hard_state.vote
            });
        if !batch.is_empty() {
            self.write(batch, must_sync)?;
        }

        if let Some(snapshot) = snapshot {
            // As in raft-rs's own storage, an installed snapshot replaces the whole log.
            self.snapshot = snapshot.clone();
            self.entries.clear();
        }
        self.append_in_memory(entries);
        if let Some(hs) = hard_state_after {
            self.hard_state = hs;
        }
        Ok(())
    }

    fn append_in_memory(&mut self, entries: &[Entry]) {
        let Some(first) = entries.first() else {
            return;
        };
        let first_index = first.get_index();
        assert!(
            first_index >= self.first_index(),
            "appending compacted entry {first_index}"
        );
        assert!(
            first_index <= self.last_index().saturating_add(1),
            "gap before entry {first_index}"
        );
        let keep = usize::try_from(first_index - self.first_index()).unwrap_or(usize::MAX);
        self.entries.truncate(keep);
        self.entries.extend_from_slice(entries);
        debug_assert!(
            self.entries
                .windows(2)
                .all(|pair| pair[1].get_index() == pair[0].get_index() + 1)
        );
    }

    /// Records a newer commit index (from a `LightReady`). Not synced: a commit index
    /// lost in a crash is learnt again from the leader.
    pub fn set_commit(&mut self, commit: u64) -> Result<(), StorageError> {
        self.hard_state.commit = commit;
        let mut batch = rocksdb::WriteBatch::default();
        batch.put(HARD_STATE_KEY, encode_pb(&self.hard_state, "hard state")?);
        self.write(batch, false)
    }

    /// Records a snapshot of the state machine at applied index `index` (which must be in
    /// the log), with Raft's conf state at that index, and drops entries more than
    /// `keep_entries` behind it.
    pub fn create_snapshot(
        &mut self,
        index: u64,
        data: Vec<u8>,
        conf_state: ConfState,
        keep_entries: u64,
    ) -> Result<(), StorageError> {
        assert!(index > self.snapshot_index(), "snapshot must move forward");
        assert!(
            index <= self.hard_state.commit,
            "snapshot of uncommitted state"
        );
        let term = raft::Storage::term(self, index).map_err(|_| StorageError::Corrupt {
            what: "snapshot term",
        })?;
        let mut snapshot = Snapshot::default();
        snapshot.set_data(data.into());
        let meta = snapshot.mut_metadata();
        meta.index = index;
        meta.term = term;
        assert!(
            !conf_state.voters.is_empty(),
            "snapshot without voters at {index}"
        );
        meta.set_conf_state(conf_state);

        let compact_to = index.saturating_sub(keep_entries).max(self.first_index());
        let mut batch = rocksdb::WriteBatch::default();
        batch.put(SNAPSHOT_KEY, encode_pb(&snapshot, "snapshot")?);
        batch.delete_range(entry_key(0), entry_key(compact_to));
        self.write(batch, true)?;
        // Entries between compact_to and index stay readable: raft-rs serves a lagging
        // follower from them instead of sending the snapshot.
        self.entries.retain(|entry| entry.get_index() >= compact_to);
        self.snapshot = snapshot;
        Ok(())
    }

    fn write(&self, batch: rocksdb::WriteBatch, sync: bool) -> Result<(), StorageError> {
        if let Some(db) = &self.db {
            let mut options = rocksdb::WriteOptions::default();
            options.set_sync(sync);
            db.write_opt(batch, &options)?;
        }
        Ok(())
    }
}

fn encode_pb(
    message: &impl protobuf::Message,
    what: &'static str,
) -> Result<Vec<u8>, StorageError> {
    message
        .write_to_bytes()
        .map_err(|_| StorageError::Corrupt { what })
}

fn load_entries(db: &rocksdb::DB, after: u64) -> Result<Vec<Entry>, StorageError> {
    let mut entries: Vec<Entry> = Vec::new();
    let start = entry_key(0);
    let iter = db.iterator(rocksdb::IteratorMode::From(
        &start,
        rocksdb::Direction::Forward,
    ));
    for item in iter {
        let (key, value) = item?;
        if key.first() != Some(&ENTRY_PREFIX) {
            break;
        }
        let entry =
            Entry::parse_from_bytes(&value).map_err(|_| StorageError::Corrupt { what: "entry" })?;
        if key.as_ref() != entry_key(entry.get_index()) {
            return Err(StorageError::Corrupt { what: "entry key" });
        }
        if let Some(last) = entries.last()
            && last.get_index().checked_add(1) != Some(entry.get_index())
        {
            return Err(StorageError::Corrupt {
                what: "entry sequence",
            });
        }
        entries.push(entry);
    }
    // Entries kept behind the snapshot for lagging followers are not needed after a
    // restart: raft-rs starts reading at the snapshot.
    entries.retain(|entry| entry.get_index() > after);
    if let Some(first) = entries.first()
        && first.get_index() != after.saturating_add(1)
    {
        return Err(StorageError::Corrupt {
            what: "entries do not follow the snapshot",
        });
    }
    Ok(entries)
}

impl raft::Storage for RaftStore {
    fn initial_state(&self) -> raft::Result<RaftState> {
        Ok(RaftState::new(
            self.hard_state.clone(),
            self.snapshot.get_metadata().get_conf_state().clone(),
        ))
    }

    fn entries(
        &self,
        low: u64,
        high: u64,
        max_size: impl Into<Option<u64>>,
        _context: GetEntriesContext,
    ) -> raft::Result<Vec<Entry>> {
        let first = self.first_index();
        if low < first {
            return Err(raft::Error::Store(RaftStorageError::Compacted));
        }
        if high > self.last_index().saturating_add(1) {
            return Err(raft::Error::Store(RaftStorageError::Unavailable));
        }
        let offset = |index: u64| usize::try_from(index - first).unwrap_or(usize::MAX);
        let slice = self
            .entries
            .get(offset(low)..offset(high))
            .ok_or(raft::Error::Store(RaftStorageError::Unavailable))?;
        let max_size = max_size.into().unwrap_or(u64::MAX);
        let mut out = Vec::new();
        let mut size = 0u64;
        for entry in slice {
            size = size.saturating_add(u64::from(entry.compute_size()));
            if !out.is_empty() && size > max_size {
                break;
            }
            out.push(entry.clone());
        }
        Ok(out)
    }

    fn term(&self, index: u64) -> raft::Result<u64> {
        let meta = self.snapshot.get_metadata();
        if index == meta.index {
            return Ok(meta.term);
        }
        let Some(first) = self.entries.first().map(Entry::get_index) else {
            return Err(if index < meta.index {
                raft::Error::Store(RaftStorageError::Compacted)
            } else {
                raft::Error::Store(RaftStorageError::Unavailable)
            });
        };
        if index < first {
            return Err(raft::Error::Store(RaftStorageError::Compacted));
        }
        usize::try_from(index - first)
            .ok()
            .and_then(|offset| self.entries.get(offset))
            .map(Entry::get_term)
            .ok_or(raft::Error::Store(RaftStorageError::Unavailable))
    }

    fn first_index(&self) -> raft::Result<u64> {
        Ok(self.first_index())
    }

    fn last_index(&self) -> raft::Result<u64> {
        Ok(self.last_index())
    }

    fn snapshot(&self, _request_index: u64, to: u64) -> raft::Result<Snapshot> {
        // A consenter added after the latest snapshot would refuse it (raft-rs drops a
        // snapshot whose conf state lacks the receiver); the core takes a new snapshot
        // after every membership change, and raft-rs asks again.
        let conf_state = self.snapshot.get_metadata().get_conf_state();
        if !conf_state.voters.contains(&to) && !conf_state.learners.contains(&to) {
            return Err(raft::Error::Store(
                RaftStorageError::SnapshotTemporarilyUnavailable,
            ));
        }
        Ok(self.snapshot.clone())
    }
}

/// The conf state of a new cluster: every consenter votes.
pub fn bootstrap_conf_state(voters: impl IntoIterator<Item = u64>) -> ConfState {
    let mut conf_state = ConfState::default();
    conf_state.mut_voters().extend(voters);
    conf_state
}
