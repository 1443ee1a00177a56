//! Every bound of the ordering service in one place: queues, Raft batching, snapshots,
//! catch-up and delivery. Relations between them are asserted at compile time.

use netsettle_protocol::limits::{BLOCK_BYTES_MAX, ENVELOPE_BYTES_MAX};

const MIB: usize = 1024 * 1024;

/// Inputs (broadcasts, Raft messages, ticks, fetched blocks) queued for the core thread.
/// When full, Raft messages and ticks are dropped (Raft tolerates loss) and broadcasts get
/// `Busy`, so a flood cannot grow memory.
pub const INPUT_QUEUE_MAX: usize = 4_096;
/// Inputs the core handles in one batch before it processes the Raft `Ready`, so one
/// `fsync` covers many proposals.
pub const INPUT_BATCH_MAX: usize = 512;
/// Broadcasts accepted into Raft and waiting for their entry to be applied.
pub const WAITING_ACKS_MAX: usize = 8_192;
/// Broadcasts of one transaction waiting at one orderer for its entry to be applied:
/// the first, and retries that arrived while it was being ordered; more are `Busy`.
pub const WAITERS_PER_TRANSACTION_MAX: usize = 8;
/// Envelopes committed but not yet cut into a block. The batch policy cuts long before
/// this (at most `BLOCK_TX_MAX`), so it only guards against a bug.
pub const PENDING_ENVELOPES_MAX: usize = netsettle_protocol::limits::BLOCK_TX_MAX;

/// Envelopes one Raft entry carries at most: a leader under load proposes the
/// broadcasts of one input batch together, in entries of up to this many.
pub const PROPOSAL_ENVELOPES_MAX: usize = 64;
/// Bytes of envelopes one multi-envelope entry carries at most (a larger envelope is an
/// entry of its own); well within `LOG_ENTRY_BYTES_MAX`.
pub const PROPOSAL_BYTES_MAX: u64 = 4 * MIB as u64;
const _: () = assert!(PROPOSAL_BYTES_MAX as usize + 64 * 1024 <= LOG_ENTRY_BYTES_MAX);
const _: () = assert!(PROPOSAL_ENVELOPES_MAX <= INPUT_BATCH_MAX);

/// Bytes of Raft entries in one append message: one full envelope always fits.
pub const RAFT_MESSAGE_BYTES_MAX: u64 = 8 * MIB as u64;
/// Append messages in flight per follower.
pub const RAFT_INFLIGHT_MESSAGES_MAX: usize = 256;
/// Bytes of proposed entries not yet committed; beyond it proposals are refused (Busy),
/// which bounds the leader's memory when a quorum is slow.
pub const RAFT_UNCOMMITTED_BYTES_MAX: u64 = 256 * MIB as u64;
/// Bytes of committed entries handed out in one `Ready`.
pub const RAFT_COMMITTED_BYTES_PER_READY_MAX: u64 = 128 * MIB as u64;
/// A Raft message as it travels between consenters: one snapshot (pending batch and
/// chain position) or one append with a full envelope.
pub const RAFT_WIRE_BYTES_MAX: usize = SNAPSHOT_BYTES_MAX + 64 * 1024;

/// Default number of applied entries between two snapshots (and log compactions).
pub const SNAPSHOT_INTERVAL_ENTRIES_DEFAULT: u64 = 1_000;
/// Entries kept behind a snapshot, so a briefly lagging follower still gets entries
/// rather than a snapshot.
pub const LOG_KEPT_BEHIND_SNAPSHOT_ENTRIES: u64 = 200;

/// Blocks one catch-up request asks for; a block can be 100 MiB, so the response is
/// bounded by `CATCH_UP_RESPONSE_BYTES_MAX` too.
pub const CATCH_UP_BLOCKS_MAX: u64 = 64;
// An answer of that many blocks is a valid `BlockBatch`.
const _: () =
    assert!(CATCH_UP_BLOCKS_MAX <= netsettle_protocol::limits::BLOCK_BATCH_BLOCKS_MAX as u64);
/// Bytes of blocks in one catch-up response: at least one full block.
pub const CATCH_UP_RESPONSE_BYTES_MAX: usize = BLOCK_BYTES_MAX;

/// Blocks buffered per delivery stream before the reader waits for the consumer.
pub const DELIVER_QUEUE_MAX: usize = 16;
/// Concurrent delivery streams one orderer serves.
pub const DELIVER_STREAMS_MAX: usize = 256;

/// Ticks a broadcast may wait for its entry to be applied before the caller is told to
/// retry (safe: a retried transaction id is refused as a duplicate if the first landed).
pub const BROADCAST_WAIT_TICKS_DEFAULT: u64 = 50;

const _: () = assert!(INPUT_BATCH_MAX <= INPUT_QUEUE_MAX);
const _: () = assert!(ENVELOPE_BYTES_MAX as u64 <= RAFT_UNCOMMITTED_BYTES_MAX);
const _: () = assert!(ENVELOPE_BYTES_MAX as u64 <= RAFT_COMMITTED_BYTES_PER_READY_MAX);
const _: () = assert!(ENVELOPE_BYTES_MAX < RAFT_WIRE_BYTES_MAX);
const _: () = assert!(LOG_KEPT_BEHIND_SNAPSHOT_ENTRIES < SNAPSHOT_INTERVAL_ENTRIES_DEFAULT);
const _: () = assert!(BLOCK_BYTES_MAX <= CATCH_UP_RESPONSE_BYTES_MAX);

/// A state-machine snapshot: the chain position, the configuration in force and the
/// envelopes committed but not yet cut (at most one block's worth).
pub const SNAPSHOT_BYTES_MAX: usize = netsettle_protocol::limits::BLOCK_DATA_BYTES_MAX
    + netsettle_protocol::limits::CHANNEL_CONFIG_BYTES_MAX
    + netsettle_protocol::limits::BLOCK_OVERHEAD_BYTES_MAX;
/// One Raft log entry: an envelope (or a config envelope) and a few fields around it.
pub const LOG_ENTRY_BYTES_MAX: usize = ENVELOPE_BYTES_MAX + 4096;

const _: () = assert!(SNAPSHOT_BYTES_MAX < 256 * MIB);
const _: () = assert!(LOG_ENTRY_BYTES_MAX as u64 <= RAFT_UNCOMMITTED_BYTES_MAX);

/// How far a deliver request's timestamp may be from the orderer's clock, in seconds (as
/// Fabric's 15 minutes), so a captured request cannot be replayed much later.
pub const DELIVER_REQUEST_SKEW_SECS: u64 = 15 * 60;
/// How old the leader's last clock entry in the Raft log may be before it enters a new
/// one ahead of its next proposal: a block's time trails the leader's clock by at most
/// this (plus commit latency).
pub const CLOCK_STAMP_INTERVAL_MS: u64 = 1_000;
/// The encoded size of a clock entry is under this; followers decode only entries this
/// small when they check a leader's clock.
pub const CLOCK_ENTRY_BYTES_MAX: usize = 32;
/// Broadcast envelopes being checked (decoding, certificates, SM2) on the blocking pool
/// at once; more are refused as busy. Raft ticks and the network never wait for them.
pub const ENVELOPE_CHECKS_CONCURRENT_MAX: usize = 256;
/// Envelopes checked in one blocking-pool task (`checks`): every check that may be
/// waiting, so one batch can take them all.
pub const CHECK_BATCH_ENVELOPES_MAX: usize = ENVELOPE_CHECKS_CONCURRENT_MAX;
/// Check batches running at once (also at most the machine's cores): each runs on its own
/// blocking thread, so checks use every core while the next batch gathers.
pub const CHECK_BATCHES_CONCURRENT_MAX: usize = 8;
const _: () = assert!(CHECK_BATCHES_CONCURRENT_MAX >= 1);
const _: () = assert!(CHECK_BATCH_ENVELOPES_MAX <= ENVELOPE_CHECKS_CONCURRENT_MAX);

/// Ticks a catch-up request may stay unanswered before it is sent to another consenter.
pub const CATCH_UP_RETRY_TICKS: u64 = 10;

/// Raft messages queued for one consenter (`net::NetTransport`'s link to it); beyond
/// it, or beyond `RAFT_LINK_QUEUE_BYTES_MAX`, new ones are dropped (Raft retransmits)
/// rather than queued without bound.
pub const RAFT_LINK_QUEUE_MESSAGES_MAX: usize = 4_096;
/// Bytes of Raft messages queued for one consenter: room for the largest message twice.
pub const RAFT_LINK_QUEUE_BYTES_MAX: usize = 2 * RAFT_REQUEST_BYTES_MAX;
/// A link adds queued messages to an `orderer-raft` request while it stays within this
/// many bytes; a larger message (a snapshot, an append of a big envelope) goes alone.
pub const RAFT_BATCH_BYTES_TARGET: usize = 16 * MIB;
/// Raft messages in one `orderer-raft` request. The receiver steps each into the core's
/// input queue, so a batch must fit there with room to spare.
pub const RAFT_BATCH_MESSAGES_MAX: usize = 1_024;
/// Each message in an `orderer-raft` request is prefixed by its length, a u32 BE.
pub const RAFT_FRAME_PREFIX_BYTES: usize = 4;
/// The largest `orderer-raft` request: one message of `RAFT_WIRE_BYTES_MAX` alone (a
/// snapshot whose pending batch is nearly a full block, plus the channel config). The
/// network must carry it: `NetTransport::new` refuses a network whose message limit is
/// lower, and the default limit is asserted below.
pub const RAFT_REQUEST_BYTES_MAX: usize = RAFT_FRAME_PREFIX_BYTES + RAFT_WIRE_BYTES_MAX;

const _: () = assert!(RAFT_WIRE_BYTES_MAX <= u32::MAX as usize);
const _: () = assert!(RAFT_BATCH_BYTES_TARGET <= RAFT_REQUEST_BYTES_MAX);
const _: () = assert!(RAFT_REQUEST_BYTES_MAX <= netsettle_net::MESSAGE_BYTES_MAX_DEFAULT);
const _: () = assert!(RAFT_WIRE_BYTES_MAX <= RAFT_LINK_QUEUE_BYTES_MAX);
const _: () = assert!(RAFT_BATCH_MESSAGES_MAX <= RAFT_LINK_QUEUE_MESSAGES_MAX);
const _: () = assert!(2 * RAFT_BATCH_MESSAGES_MAX <= INPUT_QUEUE_MAX);
// A catch-up answer (at least one full block) fits the network's default message limit.
const _: () =
    assert!(CATCH_UP_RESPONSE_BYTES_MAX + 64 * 1024 <= netsettle_net::MESSAGE_BYTES_MAX_DEFAULT);

/// How long an `orderer-blocks` request for the next, not yet cut, block is held before
/// it is answered (empty): a peer asking again at once gets new blocks without polling.
/// Well under the network's request timeout (30 s by default).
pub const BLOCKS_LONG_POLL_MS: u64 = 1_500;
/// `orderer-blocks` requests being answered or held at once; beyond it they are refused
/// as busy. Each held one costs a task and a watch receiver.
pub const BLOCK_REQUESTS_OPEN_MAX: usize = 256;
/// Block reads for `orderer-blocks` answers in progress at once; each holds up to
/// `CATCH_UP_RESPONSE_BYTES_MAX` in memory.
pub const BLOCK_READS_CONCURRENT_MAX: usize = 2;

const _: () = assert!(BLOCKS_LONG_POLL_MS < 10_000);
/// Broadcast requests up to this size are decoded on the async worker that received them
/// (tens of microseconds at most, less than a thread hop); larger ones, up to a block's
/// worth, on the blocking pool.
pub const BROADCAST_DECODE_INLINE_BYTES_MAX: usize = 64 * 1024;
/// Batch requests (`orderer-broadcast-batch`) up to this size are decoded on the async
/// worker; decoding one copies its envelopes' bytes and parses nothing else (each envelope
/// is decoded on its own afterwards), so a full batch of typical envelopes (64 of a few
/// KiB) stays in place, and a batch of large ones goes to the blocking pool.
pub const BROADCAST_BATCH_DECODE_INLINE_BYTES_MAX: usize = MIB;
const _: () = assert!(BROADCAST_DECODE_INLINE_BYTES_MAX <= BROADCAST_BATCH_DECODE_INLINE_BYTES_MAX);
/// Bytes of the human-readable detail in a broadcast response sent over the network.
pub const BROADCAST_INFO_BYTES_MAX: usize = 1_024;

const _: () =
    assert!(BROADCAST_INFO_BYTES_MAX <= netsettle_protocol::limits::RESPONSE_MESSAGE_BYTES_MAX);

/// `orderer-deliver` requests answered or held at once; more are refused as busy.
pub const DELIVER_REQUESTS_OPEN_MAX: usize = 64;

/// How long a deliver answer that already holds a block waits for the next one before
/// it is sent (the stream reads blocks from the ledger one after another).
pub const DELIVER_NEXT_BLOCK_WAIT_MS: u64 = 20;
const _: () = assert!(DELIVER_NEXT_BLOCK_WAIT_MS < BLOCKS_LONG_POLL_MS);
