//! The RocksDB handle: opening with the ledger's column families and tuning, bounded
//! reads, bounded scans, and synced batch writes. Nothing outside this module calls
//! RocksDB's read or write API, so every size check and the `sync` flag live here.

use std::path::Path;

use rocksdb::{
    BlockBasedOptions, Cache, ColumnFamily, ColumnFamilyDescriptor, DB, DBCompressionType, Options,
    ReadOptions, WriteBatch, WriteOptions,
};

use crate::error::{Corruption, LedgerError};
use crate::limits::{BACKUP_BATCH_BYTES_MAX, BACKUP_VALUE_BYTES_MAX};

/// The ledger's column families. See the crate docs for what each holds and how its keys
/// are encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Column {
    /// Block number (`u64` BE) → encoded block.
    Blocks,
    /// Block header hash → block number (`u64` BE).
    BlockHashes,
    /// Transaction id → `block: u64 BE ‖ tx: u32 BE ‖ validation code: u8`.
    TxIndex,
    /// `ns_len ‖ namespace ‖ key` → `block: u64 BE ‖ tx: u32 BE ‖ value`.
    State,
    /// `ns_len ‖ namespace ‖ key_len ‖ key ‖ block ‖ tx` → history record.
    History,
    /// Fixed names → chain info, state savepoint, format version.
    Meta,
    /// The notifier's outbox: its cursor, notices by sequence number, an index by id.
    Outbox,
}

impl Column {
    pub(crate) const ALL: [Column; 7] = [
        Column::Blocks,
        Column::BlockHashes,
        Column::TxIndex,
        Column::State,
        Column::History,
        Column::Meta,
        Column::Outbox,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Column::Blocks => "blocks",
            Column::BlockHashes => "block_hashes",
            Column::TxIndex => "tx_index",
            Column::State => "state",
            Column::History => "history",
            Column::Meta => "meta",
            Column::Outbox => "outbox",
        }
    }
}

/// Whether the ledger may write. Read-only handles (used by `verify` and `compare`) take
/// no lock, create nothing and never run recovery, so they can inspect a ledger a running
/// node holds open, or one that is damaged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Access {
    ReadWrite,
    ReadOnly,
}

/// Shared LRU block cache for all column families. Endorsement and validation read world
/// state at random, so state blocks are what the cache is for; 64 MiB holds the index,
/// filters and hot data blocks of a settlement channel's state many times over.
const BLOCK_CACHE_BYTES: usize = 64 << 20;

/// Memtable size per column family. Blocks of 50 transactions are tens of KiB, so 32 MiB
/// absorbs hundreds of blocks before a flush; larger memtables only lengthen WAL replay
/// after a crash.
const WRITE_BUFFER_BYTES: usize = 32 << 20;

/// Cap on the write-ahead log. Small column families (meta, hash index) would otherwise
/// pin old WAL files forever; past this size RocksDB flushes them so the WAL can go.
const WAL_BYTES_MAX: u64 = 256 << 20;

/// The most a write batch reserves up front; a bigger block's batch grows past it.
const BATCH_RESERVE_BYTES_MAX: usize = 128 << 20;

/// Values in the blocks column at least this large go to blob files (RocksDB's integrated
/// BlobDB), so compaction moves 20-byte references instead of re-writing whole blocks.
const BLOB_BYTES_MIN: u64 = 4 << 10;

/// File descriptors RocksDB may keep open; bounded so a long-lived node never runs into
/// the process limit shared with its network sockets.
const OPEN_FILES_MAX: i32 = 512;

pub(crate) struct Store {
    db: DB,
}

impl Store {
    /// Opens (and, read-write, creates) the ledger database at `path`.
    pub(crate) fn open(path: &Path, access: Access) -> Result<Self, LedgerError> {
        let cache = Cache::new_lru_cache(BLOCK_CACHE_BYTES);
        let db_options = db_options(access);
        // A read-only open cannot create a column family; a ledger written before the
        // outbox existed lacks it, and reads of a missing column find it empty.
        let existing = match access {
            Access::ReadWrite => None,
            Access::ReadOnly => Some(DB::list_cf(&db_options, path)?),
        };
        let descriptors = Column::ALL
            .iter()
            .filter(|column| {
                existing
                    .as_ref()
                    .is_none_or(|names| names.iter().any(|name| name == column.name()))
            })
            .map(|&column| {
                ColumnFamilyDescriptor::new(column.name(), column_options(column, &cache))
            });
        let db = match access {
            Access::ReadWrite => DB::open_cf_descriptors(&db_options, path, descriptors)?,
            Access::ReadOnly => {
                DB::open_cf_descriptors_read_only(&db_options, path, descriptors, false)?
            }
        };
        Ok(Store { db })
    }

    /// Opens the ledger at `primary` as a RocksDB *secondary* instance: a read-only
    /// follower that may run beside the process holding `primary` read-write, keeping its
    /// own info log in `secondary_dir`. Its view is fixed at open (it never calls
    /// `try_catch_up_with_primary`), which is what makes a copy through it consistent;
    /// see `backup` for why this and not a checkpoint.
    pub(crate) fn open_secondary(
        primary: &Path,
        secondary_dir: &Path,
    ) -> Result<Self, LedgerError> {
        let cache = Cache::new_lru_cache(BLOCK_CACHE_BYTES);
        let mut db_options = db_options(Access::ReadOnly);
        // Every table file is opened (and its descriptor kept) at open time, so a
        // compaction in the primary that deletes a file cannot pull it from under the
        // copy: RocksDB's documented precondition for secondaries.
        db_options.set_max_open_files(-1);
        let existing = DB::list_cf(&db_options, primary)?;
        let descriptors = Column::ALL
            .iter()
            .filter(|column| existing.iter().any(|name| name == column.name()))
            .map(|&column| {
                ColumnFamilyDescriptor::new(column.name(), column_options(column, &cache))
            });
        let db =
            DB::open_cf_descriptors_as_secondary(&db_options, primary, secondary_dir, descriptors)?;
        Ok(Store { db })
    }

    /// Copies every entry of `column` into `target` (a fresh database), in synced batches
    /// of at most `BACKUP_BATCH_BYTES_MAX`. Returns the entries copied.
    pub(crate) fn copy_column(&self, column: Column, target: &Store) -> Result<u64, LedgerError> {
        if !self.has_column(column) {
            return Ok(0);
        }
        let mut batch = target.batch();
        let mut batch_bytes = 0usize;
        let mut entries = 0u64;
        self.scan(column, &[], None, BACKUP_VALUE_BYTES_MAX, |key, value| {
            target.put(&mut batch, column, key, value)?;
            batch_bytes = batch_bytes
                .saturating_add(key.len())
                .saturating_add(value.len());
            entries = entries.saturating_add(1);
            if batch_bytes >= BACKUP_BATCH_BYTES_MAX {
                target.write(std::mem::replace(&mut batch, target.batch()))?;
                batch_bytes = 0;
            }
            Ok(true)
        })?;
        target.write(batch)?;
        Ok(entries)
    }

    /// Flushes every memtable to table files, so a copied database needs no WAL replay.
    pub(crate) fn flush(&self) -> Result<(), LedgerError> {
        for column in Column::ALL {
            self.db.flush_cf(self.handle(column)?)?;
        }
        Ok(())
    }

    /// Whether `column` exists (always, once opened read-write).
    pub(crate) fn has_column(&self, column: Column) -> bool {
        self.db.cf_handle(column.name()).is_some()
    }

    fn handle(&self, column: Column) -> Result<&ColumnFamily, LedgerError> {
        self.db.cf_handle(column.name()).ok_or(LedgerError::Corrupt(
            Corruption::MissingColumnFamily {
                name: column.name(),
            },
        ))
    }

    /// A point-in-time view: reads through it see no write made after it was taken.
    pub(crate) fn snapshot(&self) -> Snapshot<'_> {
        self.db.snapshot()
    }

    /// Reads one value, refusing (before copying it) any value longer than `bytes_max`.
    pub(crate) fn get(
        &self,
        column: Column,
        key: &[u8],
        bytes_max: usize,
    ) -> Result<Option<Vec<u8>>, LedgerError> {
        self.get_at(None, column, key, bytes_max)
    }

    /// [`Store::get`] through `view` if given, else at the latest write.
    pub(crate) fn get_at(
        &self,
        view: Option<&Snapshot<'_>>,
        column: Column,
        key: &[u8],
        bytes_max: usize,
    ) -> Result<Option<Vec<u8>>, LedgerError> {
        let handle = self.handle(column)?;
        let Some(pinned) = self
            .db
            .get_pinned_cf_opt(handle, key, &read_options(view))?
        else {
            return Ok(None);
        };
        if pinned.len() > bytes_max {
            return Err(LedgerError::Corrupt(Corruption::ValueTooLong {
                column: column.name(),
                len: pinned.len(),
                max: bytes_max,
            }));
        }
        Ok(Some(pinned.to_vec()))
    }

    /// Whether `key` is present, without copying its value.
    pub(crate) fn contains(&self, column: Column, key: &[u8]) -> Result<bool, LedgerError> {
        let handle = self.handle(column)?;
        Ok(self.db.get_pinned_cf(handle, key)?.is_some())
    }

    /// Visits the entries with `lower <= key < upper` in key order, stopping early when
    /// `visit` returns `false`. Values longer than `bytes_max` are reported as corruption
    /// before they are handed out.
    pub(crate) fn scan(
        &self,
        column: Column,
        lower: &[u8],
        upper: Option<&[u8]>,
        bytes_max: usize,
        visit: impl FnMut(&[u8], &[u8]) -> Result<bool, LedgerError>,
    ) -> Result<(), LedgerError> {
        self.scan_at(None, column, lower, upper, bytes_max, visit)
    }

    /// [`Store::scan`] through `view` if given, else at the latest write.
    pub(crate) fn scan_at(
        &self,
        view: Option<&Snapshot<'_>>,
        column: Column,
        lower: &[u8],
        upper: Option<&[u8]>,
        bytes_max: usize,
        mut visit: impl FnMut(&[u8], &[u8]) -> Result<bool, LedgerError>,
    ) -> Result<(), LedgerError> {
        let handle = self.handle(column)?;
        let mut read_options = read_options(view);
        if let Some(upper) = upper {
            read_options.set_iterate_upper_bound(upper.to_vec());
        }
        let mut iter = self.db.raw_iterator_cf_opt(handle, read_options);
        iter.seek(lower);
        while let Some((key, value)) = iter.item() {
            if value.len() > bytes_max {
                return Err(LedgerError::Corrupt(Corruption::ValueTooLong {
                    column: column.name(),
                    len: value.len(),
                    max: bytes_max,
                }));
            }
            if !visit(key, value)? {
                return Ok(());
            }
            iter.next();
        }
        // The loop ends when the iterator is invalid: the end of the range or an I/O or
        // checksum error, which only `status` tells apart.
        iter.status()?;
        Ok(())
    }

    /// The last key of `column`, if any.
    pub(crate) fn last_key(&self, column: Column) -> Result<Option<Vec<u8>>, LedgerError> {
        let handle = self.handle(column)?;
        let mut iter = self.db.raw_iterator_cf(handle);
        iter.seek_to_last();
        let key = iter.key().map(<[u8]>::to_vec);
        iter.status()?;
        Ok(key)
    }

    /// Writes `batch` atomically and waits until it is on disk (WAL `fsync`). After this
    /// returns, a crash cannot lose the batch; before it returns, a crash loses all of it.
    pub(crate) fn write(&self, batch: Batch) -> Result<(), LedgerError> {
        let mut write_options = WriteOptions::default();
        write_options.set_sync(true);
        self.db.write_opt(batch.inner, &write_options)?;
        Ok(())
    }

    /// Starts an empty batch bound to this store's column families.
    pub(crate) fn batch(&self) -> Batch {
        Batch {
            inner: WriteBatch::default(),
        }
    }

    /// Starts an empty batch with room for about `bytes` of keys and values, so a block's
    /// batch is not grown by doubling (each step a copy of everything so far and, past
    /// the allocator's mmap threshold, freshly faulted pages).
    pub(crate) fn batch_with_capacity(&self, bytes: usize) -> Batch {
        Batch {
            inner: WriteBatch::with_capacity_bytes(bytes.min(BATCH_RESERVE_BYTES_MAX)),
        }
    }

    /// Adds a put to `batch`.
    pub(crate) fn put(
        &self,
        batch: &mut Batch,
        column: Column,
        key: &[u8],
        value: &[u8],
    ) -> Result<(), LedgerError> {
        let handle = self.handle(column)?;
        batch.inner.put_cf(handle, key, value);
        Ok(())
    }

    /// Adds a deletion of the keys in `[from, to)` to `batch`.
    pub(crate) fn delete_range(
        &self,
        batch: &mut Batch,
        column: Column,
        from: &[u8],
        to: &[u8],
    ) -> Result<(), LedgerError> {
        let handle = self.handle(column)?;
        batch.inner.delete_range_cf(handle, from, to);
        Ok(())
    }

    /// Adds a delete to `batch`.
    pub(crate) fn delete(
        &self,
        batch: &mut Batch,
        column: Column,
        key: &[u8],
    ) -> Result<(), LedgerError> {
        let handle = self.handle(column)?;
        batch.inner.delete_cf(handle, key);
        Ok(())
    }
}

/// A RocksDB snapshot of the ledger's database.
pub(crate) type Snapshot<'a> = rocksdb::Snapshot<'a>;

fn read_options(view: Option<&Snapshot<'_>>) -> ReadOptions {
    let mut options = ReadOptions::default();
    if let Some(snapshot) = view {
        options.set_snapshot(snapshot);
    }
    options
}

/// A write batch under construction. Only [`Store::write`] applies it, always synced.
pub(crate) struct Batch {
    inner: WriteBatch,
}

fn db_options(access: Access) -> Options {
    let mut options = Options::default();
    let writable = access == Access::ReadWrite;
    options.create_if_missing(writable);
    options.create_missing_column_families(writable);
    // Fail the open on any inconsistency RocksDB can see, rather than serve a partial ledger.
    options.set_paranoid_checks(true);
    options.set_max_open_files(OPEN_FILES_MAX);
    options.set_max_total_wal_size(WAL_BYTES_MAX);
    // CI and the reference machines have 2 cores; two background jobs (one flush, one
    // compaction) keep compaction from starving block validation.
    options.set_max_background_jobs(2);
    // RocksDB's own info LOG files otherwise accumulate without bound.
    options.set_keep_log_file_num(4);
    options
}

fn column_options(column: Column, cache: &Cache) -> Options {
    let mut table = BlockBasedOptions::default();
    table.set_block_cache(cache);
    // Index and filter blocks count against the cache, so memory stays bounded by
    // BLOCK_CACHE_BYTES however large the ledger grows.
    table.set_cache_index_and_filter_blocks(true);
    let point_lookups = matches!(
        column,
        Column::BlockHashes | Column::TxIndex | Column::State
    );
    if point_lookups {
        // Duplicate-txid checks and MVCC reads mostly ask about keys that are absent or
        // in one file; a 10-bit Bloom filter (about 1% false positives) skips the rest.
        table.set_bloom_filter(10.0, false);
    }
    let mut options = Options::default();
    options.set_block_based_table_factory(&table);
    // lz4 is the one codec compiled in: cheap on CPU and enough for certificates and
    // signatures repeated across transactions. zstd's better ratio would cost compile time
    // in CI and CPU on the commit path.
    options.set_compression_type(DBCompressionType::Lz4);
    options.set_bottommost_compression_type(DBCompressionType::Lz4);
    options.set_write_buffer_size(WRITE_BUFFER_BYTES);
    options.set_level_compaction_dynamic_level_bytes(true);
    if column == Column::Blocks {
        // Blocks are written once and read rarely; keeping their bytes out of the LSM tree
        // means compaction never rewrites them.
        options.set_enable_blob_files(true);
        options.set_min_blob_size(BLOB_BYTES_MIN);
        options.set_blob_compression_type(DBCompressionType::Lz4);
    }
    options
}
