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

// The two-byte namespace length prefix and the two-byte key length in history keys.
const _: () = assert!(NAME_BYTES_MAX <= u16::MAX as usize);
const _: () = assert!(KEY_BYTES_MAX <= u16::MAX as usize);
