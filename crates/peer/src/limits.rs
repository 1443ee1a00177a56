//! Every bound the peer enforces on its own work, in one place, with the relations between
//! them checked at compile time. Message sizes live in `netsettle_protocol::limits`; these
//! bound what one simulation may collect and how much the peer's queues may hold.

use netsettle_ledger::limits::PAGE_ENTRIES_MAX;
use netsettle_protocol::limits::{
    BLOCK_BYTES_MAX, EVENTS_MAX, FRAME_BYTES_MAX, RANGE_QUERIES_MAX, RW_SET_ENTRIES_MAX,
    VALUE_BYTES_MAX,
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

/// Most entries one range query may ask for (the ledger's page size).
pub const RANGE_ENTRIES_MAX: usize = PAGE_ENTRIES_MAX;

/// Most history entries one history read may ask for.
pub const HISTORY_ENTRIES_MAX: usize = PAGE_ENTRIES_MAX;

/// How far a proposal's timestamp may be from the endorser's clock, either way. Fabric
/// has no such window; here it bounds how long a captured proposal stays replayable to
/// an endorser (the ledger's duplicate-id check stops replays at commit).
pub const PROPOSAL_CLOCK_SKEW_MS_MAX: u64 = 15 * 60 * 1000;

/// Blocks waiting between the block source and the committer.
pub const BLOCK_QUEUE_MAX: usize = 16;

/// Blocks one deliver fetch hands to the committer; at most the committer's queue, so
/// a batch never waits on itself.
pub const DELIVER_BATCH_BLOCKS_MAX: usize = BLOCK_QUEUE_MAX;

/// Blocks one state-transfer request may return to another peer.
pub const STATE_TRANSFER_BLOCKS_MAX: usize = 16;

/// Encoded bytes of the blocks one state-transfer answer holds (beyond its first block):
/// the answer travels in one frame.
pub const STATE_TRANSFER_BYTES_MAX: usize = BLOCK_BYTES_MAX;

/// Blocks a peer keeps that arrived by gossip ahead of its ledger (waiting for the gap
/// before them to be filled).
pub const FUTURE_BLOCKS_MAX: usize = 64;

/// Bytes of those blocks: room for one block of the largest size.
pub const FUTURE_BLOCKS_BYTES_MAX: usize = BLOCK_BYTES_MAX;

/// Endorsement requests waiting for the endorser workers.
pub const ENDORSE_QUEUE_MAX: usize = 256;

/// Events buffered per subscriber; a subscriber that falls further behind is told it
/// lagged and must resynchronise from the ledger.
pub const EVENT_SUBSCRIBER_QUEUE_MAX: usize = 1_024;

/// Contracts one peer's registry may hold.
pub const CONTRACTS_MAX: usize = 64;

const _: () = assert!(DELIVER_BATCH_BLOCKS_MAX <= BLOCK_QUEUE_MAX);
const _: () = assert!(FUTURE_BLOCKS_MAX >= STATE_TRANSFER_BLOCKS_MAX);
// One answer (blocks plus their batch framing) fits in a frame.
const _: () = assert!(STATE_TRANSFER_BYTES_MAX < FRAME_BYTES_MAX);
const _: () = assert!(SIMULATION_RANGE_QUERIES_MAX <= RANGE_QUERIES_MAX);
const _: () = assert!(SIMULATION_EVENTS_MAX <= EVENTS_MAX);
const _: () = assert!(SIMULATION_ENTRIES_MAX <= RW_SET_ENTRIES_MAX);
const _: () = assert!(RANGE_ENTRIES_MAX <= PAGE_ENTRIES_MAX);
const _: () = assert!(HISTORY_ENTRIES_MAX <= PAGE_ENTRIES_MAX);
// A single full-size value must fit in what one simulation may write.
const _: () = assert!(VALUE_BYTES_MAX <= SIMULATION_WRITE_BYTES_MAX);
