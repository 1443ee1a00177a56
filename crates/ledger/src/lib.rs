//! The netsettle ledger: block store, world state, key history and indexes, on RocksDB.
//!
//! This crate owns RocksDB; nothing else in netsettle opens the database. A peer commits
//! validated blocks with [`Ledger::commit_block`]; an orderer, or a peer catching up, can
//! store blocks first with [`Ledger::append_block`] and apply their writes to the world
//! state later. Queries serve the contract (state get, range, composite-key prefix), the
//! peer (transaction lookup for duplicate ids, MVCC versions) and auditors (history of a
//! key, blocks by number or hash). [`Ledger::snapshot`] gives a consistent view of the
//! state for one simulation or validation while commits go on. [`verify`] and [`compare`]
//! check a ledger directory from the outside, for `netsettle ledger verify|compare`;
//! [`backup`] copies a ledger a node may be writing and [`restore`] puts such a copy in
//! place, for `netsettle ledger backup|restore`.
//!
//! What it leaves out: validating transactions (signatures, endorsement policy, MVCC) is
//! the peer's job; the ledger stores the validation codes the peer decided and applies the
//! writes of transactions marked valid. Ordering and block delivery live elsewhere.
//!
//! # Column families
//!
//! | column         | key                                                       | value                                   |
//! |----------------|-----------------------------------------------------------|-----------------------------------------|
//! | `blocks`       | `number: u64 BE`                                          | the block, protocol codec               |
//! | `block_hashes` | header hash (32 bytes)                                    | `number: u64 BE`                        |
//! | `tx_index`     | transaction id (32 bytes)                                 | `block: u64 BE ‖ tx: u32 BE ‖ code: u8` |
//! | `state`        | `ns_len: u16 BE ‖ namespace ‖ key`                        | `block: u64 BE ‖ tx: u32 BE ‖ value`    |
//! | `history`      | `ns_len ‖ namespace ‖ key_len: u16 BE ‖ key ‖ block ‖ tx` | `0x00 ‖ SM3(value)` or `0x01` (delete)  |
//! | `meta`         | `chain`, `state_savepoint`, `format`                      | `height: u64 BE ‖ last hash`, version   |
//! | `outbox`       | header, notice ids, notices by sequence number            | see [`Outbox`]                          |
//!
//! Big-endian numbers make RocksDB's bytewise order the numeric order, so blocks iterate by
//! height and a key's history by (block, tx). Length prefixes make every prefix scan exact;
//! composite keys follow Fabric's `0x00 ‖ type ‖ 0x00 ‖ attr ‖ 0x00 …` layout, with `0x00`
//! forbidden inside parts (see [`CompositeKey`]). History records hold the SM3 digest of
//! the value rather than the value: the block holds the value, and [`Ledger::history`]
//! reads it from there, checking the digest.
//!
//! The `outbox` column is the notifier's (see [`Outbox`]): only it writes there, the
//! block paths above never touch it, and it is not part of the chain (`verify` and
//! `compare` ignore it).
//!
//! # What is atomic
//!
//! [`Ledger::commit_block`] writes the block, its hash index entry, the transaction index,
//! the valid writes to the world state, their history entries, the chain record and the
//! state savepoint in **one RocksDB `WriteBatch`, written with `sync`** (the WAL is
//! `fsync`ed before the call returns). A crash, `kill -9` included, either keeps the whole
//! block or none of it, so the ledger always reopens at a block boundary.
//!
//! [`Ledger::append_block`] writes only the block, the indexes and the chain record, also
//! as one synced batch; the state savepoint stays behind. State can also fall behind when
//! an operator deletes it with [`Ledger::reset_state`] (to rebuild it after a bug or a
//! format change). Whenever the savepoint is below the chain height, [`Ledger::open`]
//! replays the missing blocks' valid writes, one synced batch per block, so each replayed
//! block moves the savepoint forward atomically and an interrupted replay simply resumes.
//!
//! # Invariants
//!
//! Checked with paired assertions: before a batch is written (the block's number equals
//! the height, its previous hash equals the last hash, one validation code per
//! transaction) and again after reading back (the chain record read after the write equals
//! the one written; on open, the block at `height - 1` exists with the recorded hash and
//! no block exists at `height`, the savepoint is not above the height, and the top
//! [`limits::OPEN_CHECK_BLOCKS`] blocks decode, match their data hashes and the hash
//! index, and link to one another). Violations of
//! what was written in this process are bugs and panic; contradictions found on disk at
//! open are [`Corruption`] errors, so a damaged ledger is refused rather than served.
//!
//! # Tuning, and why
//!
//! - **Block cache:** one 64 MiB LRU cache shared by all column families, with index and
//!   filter blocks charged to it, so memory stays bounded however large the ledger grows.
//!   Endorsement and validation read state at random; block reads are rare and sequential.
//! - **Bloom filters** (10 bits per key, about 1% false positives) on `state`, `tx_index`
//!   and `block_hashes`, whose reads are point lookups, often of absent keys (duplicate
//!   transaction id checks, first writes of a key).
//! - **Compression:** lz4 on every level and for blob files. It is cheap on the commit path
//!   and enough for certificates and signature structures repeated across transactions.
//!   It is also the only codec compiled in: the `rocksdb` crate's defaults add snappy,
//!   zlib, bzip2 and zstd, C code that CI would compile from a cold cache for nothing.
//! - **Write buffer:** 32 MiB per column family. A 50-transaction block of 1 KiB
//!   transactions is about 60 KiB, so a memtable absorbs hundreds of blocks between
//!   flushes; larger memtables would only lengthen WAL replay after a crash. The WAL is
//!   capped at 256 MiB so small column families do not pin old log files.
//! - **Blob files** for the `blocks` column (values of 4 KiB and more): blocks are written
//!   once and read rarely, so keeping their bytes out of the LSM tree spares compaction
//!   from rewriting them.
//! - **Background jobs:** 2, matching the 2-core reference machines.
//! - **Sync:** every commit waits for the WAL `fsync`. This is what makes a committed block
//!   survive power loss, and it dominates commit latency (see the `ledger` bench).

mod backup;
mod error;
mod keys;
mod ledger;
pub mod limits;
mod meta;
mod outbox;
mod query;
mod records;
mod signers;
mod store;
mod verify;

pub use backup::{
    BackupError, BackupManifest, LEDGER_DIR, MANIFEST_FILE, RestoreOptions, Restored, backup,
    read_backup_manifest, restore,
};
pub use error::{BlockRejected, Corruption, LedgerError};
pub use keys::CompositeKey;
pub use ledger::{DataHash, Ledger};
pub use meta::ChainInfo;
pub use outbox::{
    Enqueued, NewNotice, Outbox, OutboxCounts, OutboxEntry, OutboxError, OutboxState,
};
pub use query::{StateSnapshot, TxLocation};
pub use verify::{
    Comparison, Difference, DifferenceKind, Fault, FaultKind, VerifyReport, compare, verify,
    verify_with_progress,
};
