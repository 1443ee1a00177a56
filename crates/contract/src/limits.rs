//! What one simulation may collect, with the relations to the protocol's limits checked
//! at compile time: an endorsed read–write set always encodes.

use netsettle_protocol::limits::{
    EVENTS_MAX, RANGE_QUERIES_MAX, RW_SET_ENTRIES_MAX, VALUE_BYTES_MAX,
};

/// Reads, writes and range-read entries one simulation may record (all namespaces): the
/// protocol's per-transaction limit, so an endorsed set always encodes.
pub const SIMULATION_ENTRIES_MAX: usize = RW_SET_ENTRIES_MAX;

/// Bytes of values one simulation may write. A settlement report is one large value;
/// this leaves room for it and a few small records beside it.
pub const SIMULATION_WRITE_BYTES_MAX: usize = VALUE_BYTES_MAX + 4 * 1024 * 1024;

/// Range queries one simulation may run.
pub const SIMULATION_RANGE_QUERIES_MAX: usize = RANGE_QUERIES_MAX;

/// Events one simulation may emit.
pub const SIMULATION_EVENTS_MAX: usize = EVENTS_MAX;

/// Most entries one range query may ask for. A state view must serve pages this large
/// (the peer checks it against the ledger's page size).
pub const RANGE_ENTRIES_MAX: usize = 10_000;

/// Most history entries one history read may ask for; like [`RANGE_ENTRIES_MAX`].
pub const HISTORY_ENTRIES_MAX: usize = 10_000;

const _: () = assert!(SIMULATION_RANGE_QUERIES_MAX <= RANGE_QUERIES_MAX);
const _: () = assert!(SIMULATION_EVENTS_MAX <= EVENTS_MAX);
const _: () = assert!(SIMULATION_ENTRIES_MAX <= RW_SET_ENTRIES_MAX);
// A range's reads are recorded in the read–write set: one full page must fit.
const _: () = assert!(RANGE_ENTRIES_MAX <= SIMULATION_ENTRIES_MAX);
// A single full-size value must fit in what one simulation may write.
const _: () = assert!(VALUE_BYTES_MAX <= SIMULATION_WRITE_BYTES_MAX);
