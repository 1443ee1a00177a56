//! Every size the ledger accepts or reads back, in one place, with the relations between
//! them checked at compile time.
//!
//! Values read from RocksDB are checked against these before anything is allocated for
//! them, so a corrupted length field or an oversized record reports an error instead of
//! exhausting memory. Namespace, key and composite-key sizes are the protocol's
//! (`netsettle_protocol::limits`); the ledger only checks that its key encodings hold them.

use netsettle_protocol::limits::{KEY_BYTES_MAX, NAME_BYTES_MAX};

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
