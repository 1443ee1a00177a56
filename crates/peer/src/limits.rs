//! Every bound the peer enforces on its own work, in one place, with the relations between
//! them checked at compile time. Message sizes live in `netsettle_protocol::limits`, what
//! one simulation may collect in `netsettle_contract::limits`; these bound how much the
//! peer's queues may hold.

use netsettle_contract::limits::{HISTORY_ENTRIES_MAX, RANGE_ENTRIES_MAX};
use netsettle_ledger::limits::PAGE_ENTRIES_MAX;
use netsettle_protocol::limits::{BLOCK_BYTES_MAX, FRAME_BYTES_MAX};

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

/// Endorsements this peer signed that it remembers, so its validator need not verify them
/// again (`own_endorsements`): more than are endorsed while a block is being ordered at
/// the goal rate (600 tx/s for a few seconds); an evicted one only costs a verification.
/// About 200 bytes each, plus the signed bytes they keep.
pub const OWN_ENDORSEMENTS_MAX: usize = 8_192;
/// Signed bytes kept by those entries, all together (a typical upload's endorsement signs
/// about 2.4 KiB: 8,192 of them are 20 MiB); beyond it the oldest entries give way.
pub const OWN_ENDORSEMENTS_BYTES_MAX: usize = 32 * 1024 * 1024;
/// Signed bytes an entry keeps as they are; an entry for larger ones keeps their SM3 (the
/// check then hashes the bytes again instead of comparing them).
pub const OWN_ENDORSEMENT_KEPT_BYTES_MAX: usize = 64 * 1024;

const _: () = assert!(OWN_ENDORSEMENT_KEPT_BYTES_MAX <= OWN_ENDORSEMENTS_BYTES_MAX);

/// Contracts one peer's registry may hold.
pub const CONTRACTS_MAX: usize = 64;

const _: () = assert!(DELIVER_BATCH_BLOCKS_MAX <= BLOCK_QUEUE_MAX);
const _: () = assert!(FUTURE_BLOCKS_MAX >= STATE_TRANSFER_BLOCKS_MAX);
// One answer (blocks plus their batch framing) fits in a frame.
const _: () = assert!(STATE_TRANSFER_BYTES_MAX < FRAME_BYTES_MAX);
// The ledger serves every page a simulation may ask for (the simulation limits themselves
// are in `netsettle_contract::limits`).
const _: () = assert!(RANGE_ENTRIES_MAX <= PAGE_ENTRIES_MAX);
const _: () = assert!(HISTORY_ENTRIES_MAX <= PAGE_ENTRIES_MAX);

/// `peer-blocks` requests answered at once, all peers together: each reads and encodes
/// up to [`STATE_TRANSFER_BYTES_MAX`] on the blocking pool.
pub const PEER_BLOCKS_OPEN_MAX: usize = 8;
/// `peer-blocks` requests answered at once for one peer: deliver asks one peer at a time
/// and probes others one by one, so two is enough for an honest peer.
pub const PEER_BLOCKS_OPEN_PER_NODE_MAX: usize = 2;
/// `peer-endorse` and `peer-tx-status` requests answered (or, for a status, waited on)
/// at once, all callers together (half of them at most from one organisation's nodes).
pub const CLIENT_REQUESTS_OPEN_MAX: usize = 1024;
/// The same for one calling node: as many as a node puts on the wire to us at once
/// (`netsettle_net::NetLimits::streams_per_node_max`), so one client cannot hold them all.
pub const CLIENT_REQUESTS_OPEN_PER_NODE_MAX: usize = 256;

/// `peer-endorse-batch` requests answered at once, all callers together (half of them at
/// most from one organisation's nodes). Each holds up to `ENDORSE_BATCH_PROPOSALS_MAX`
/// endorsements; the network's inbound byte budget bounds what they hold in memory.
pub const ENDORSE_BATCHES_OPEN_MAX: usize = 64;
/// The same for one calling node: a gateway keeps
/// `netsettle_client::limits::ENDORSE_BATCHES_IN_FLIGHT_MAX` (4) in flight per peer; this
/// leaves room for a second process of the same identity.
pub const ENDORSE_BATCHES_OPEN_PER_NODE_MAX: usize = 8;
/// `peer-tx-status-batch` requests waited on at once, all callers together. Each asks
/// about up to `TX_STATUS_BATCH_IDS_MAX` transactions (a ledger lookup each), and one
/// client needs only a couple at a time for all its commit waits, so far fewer are
/// admitted than single status requests.
pub const STATUS_BATCHES_OPEN_MAX: usize = 256;
/// The same for one calling node: a gateway keeps
/// `netsettle_client::limits::STATUS_POLLS_IN_FLIGHT_MAX` (2) open per peer, so this
/// leaves room for several processes of one identity (which share a node id).
pub const STATUS_BATCHES_OPEN_PER_NODE_MAX: usize = 16;

const _: () = assert!(PEER_BLOCKS_OPEN_PER_NODE_MAX <= PEER_BLOCKS_OPEN_MAX);
const _: () = assert!(STATUS_BATCHES_OPEN_PER_NODE_MAX <= STATUS_BATCHES_OPEN_MAX);
const _: () = assert!(ENDORSE_BATCHES_OPEN_PER_NODE_MAX <= ENDORSE_BATCHES_OPEN_MAX);
// One organisation's half holds several gateways' batches in flight.
const _: () = assert!(ENDORSE_BATCHES_OPEN_MAX / 2 >= 4 * ENDORSE_BATCHES_OPEN_PER_NODE_MAX);
const _: () = assert!(CLIENT_REQUESTS_OPEN_PER_NODE_MAX <= CLIENT_REQUESTS_OPEN_MAX);
