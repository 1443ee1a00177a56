//! Every size the ledger accepts or reads back, in one place, with the relations between
//! them checked at compile time.
//!
//! Values read from RocksDB are checked against these before anything is allocated for
//! them, so a corrupted length field or an oversized record reports an error instead of
//! exhausting memory.

/// Longest namespace (contract name) in bytes. Namespaces are length-prefixed with two
/// bytes in every key, so this must stay below 65 536.
pub const NAMESPACE_BYTES_MAX: usize = 256;

/// Longest state key in bytes, simple or composite. History keys carry the key length in
/// two bytes, so this must stay below 65 536.
pub const KEY_BYTES_MAX: usize = 4 * 1024;

/// Longest object type or attribute of a composite key, in bytes.
pub const COMPOSITE_PART_BYTES_MAX: usize = 256;

/// Most attributes in one composite key.
pub const COMPOSITE_ATTRIBUTES_MAX: usize = 16;

/// Most entries one range, prefix or history query returns; callers page with the
/// returned continuation key.
pub const PAGE_ENTRIES_MAX: usize = 10_000;

/// Most entries `verify` rebuilds in memory when it replays the world state from blocks.
/// Each entry costs the key plus about 100 bytes, so this bounds `verify` to roughly 2 GB.
pub const VERIFY_STATE_ENTRIES_MAX: usize = 20_000_000;

// The two-byte namespace length prefix and the two-byte key length in history keys.
const _: () = assert!(NAMESPACE_BYTES_MAX <= u16::MAX as usize);
const _: () = assert!(KEY_BYTES_MAX <= u16::MAX as usize);
// A composite key is checked against KEY_BYTES_MAX as a whole; one part alone (plus the
// leading marker and separators) must at least fit.
const _: () = assert!(COMPOSITE_PART_BYTES_MAX + 3 <= KEY_BYTES_MAX);
