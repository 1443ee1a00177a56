//! Every size the ledger accepts or reads back, in one place, with the relations between
//! them checked at compile time.
//!
//! Values read from RocksDB are checked against these before anything is allocated for
//! them, so a corrupted length field or an oversized record reports an error instead of
//! exhausting memory. Namespace, key and composite-key sizes are the protocol's
//! (`netsettle_protocol::limits`); the ledger only checks that its key encodings hold them.

use netsettle_protocol::limits::{BLOCK_BYTES_MAX, KEY_BYTES_MAX, NAME_BYTES_MAX, VALUE_BYTES_MAX};

/// Most entries one range, prefix or history query returns; callers page with the
/// returned continuation key.
pub const PAGE_ENTRIES_MAX: usize = 10_000;

/// Most entries `verify` rebuilds in memory when it replays the world state from blocks.
/// Each entry costs the key plus about 100 bytes, so this bounds `verify` to roughly 2 GB.
pub const VERIFY_STATE_ENTRIES_MAX: usize = 20_000_000;

/// Most entries the notifier's outbox holds; its configured bound is capped here.
pub const OUTBOX_ENTRIES_MAX: usize = 100_000;

/// Longest notice id in the outbox.
pub const OUTBOX_ID_BYTES_MAX: usize = 512;

/// Longest stored error of a failed delivery attempt (longer ones are cut).
pub const OUTBOX_ERROR_BYTES_MAX: usize = 512;

/// Largest notice payload in the outbox: a notice body (16 KiB at most) and its routing.
pub const OUTBOX_PAYLOAD_BYTES_MAX: usize = 32 * 1024;

/// Largest outbox entry record: the fixed fields, two length-prefixed texts, the payload.
pub const OUTBOX_ENTRY_BYTES_MAX: usize =
    25 + 2 + OUTBOX_ID_BYTES_MAX + 2 + OUTBOX_ERROR_BYTES_MAX + OUTBOX_PAYLOAD_BYTES_MAX;

// Outbox pages are ordinary pages; the texts' two-byte length prefixes hold them.
const _: () = assert!(OUTBOX_ID_BYTES_MAX <= u16::MAX as usize);
const _: () = assert!(OUTBOX_ERROR_BYTES_MAX <= u16::MAX as usize);

// The two-byte namespace length prefix and the two-byte key length in history keys.
const _: () = assert!(NAME_BYTES_MAX <= u16::MAX as usize);
const _: () = assert!(KEY_BYTES_MAX <= u16::MAX as usize);

/// Largest value a backup copies: a block, or a state value with its version prefix.
/// Anything longer is not something the ledger wrote, and the copy stops as corruption.
pub const BACKUP_VALUE_BYTES_MAX: usize = BLOCK_BYTES_MAX + VALUE_BYTES_MAX;

/// Bytes of keys and values a backup buffers before writing a batch to the copy, so
/// copying a ledger of any size holds at most this much (plus one value) in memory.
pub const BACKUP_BATCH_BYTES_MAX: usize = 8 << 20;

/// Times `backup` takes a fresh view of a running ledger after a failed attempt (a file
/// the node deleted under the copy, a copy that did not verify) before giving up.
pub const BACKUP_ATTEMPTS_MAX: u32 = 3;

/// Largest backup manifest `restore` reads: a few short lines and one path.
pub const BACKUP_MANIFEST_BYTES_MAX: usize = 8 << 10;

/// Blocks at the top of the chain that `Ledger::open` re-checks (hash links, data hashes,
/// hash index) on every open; see `Ledger::open` for why not all of them.
pub const OPEN_CHECK_BLOCKS: u64 = 64;

// Every value the ledger writes fits what a backup copies.
const _: () = assert!(BLOCK_BYTES_MAX <= BACKUP_VALUE_BYTES_MAX);
const _: () = assert!(VALUE_BYTES_MAX + 12 <= BACKUP_VALUE_BYTES_MAX);
const _: () = assert!(OUTBOX_ENTRY_BYTES_MAX <= BACKUP_VALUE_BYTES_MAX);
