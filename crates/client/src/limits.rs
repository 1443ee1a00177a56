//! The client's own limits: files it reads and how long it waits.

use std::time::Duration;

/// Largest connection profile read (a profile lists a few dozen nodes).
pub const PROFILE_BYTES_MAX: usize = 64 * 1024;
/// How long one status request may wait at the peer.
pub const STATUS_WAIT: Duration = Duration::from_secs(10);
/// Status requests per peer before a commit wait gives up: ordering takes at most the
/// batch timeout plus a round trip, so a few long waits are plenty.
pub const STATUS_REQUESTS_MAX: u32 = 6;
/// Status batch requests in flight to one peer at once (`peer-tx-status-batch`, one
/// gateway's long polls): one names what is waited on, the other takes what comes while
/// the first is out, so a new wait need not sit behind a poll that has nothing to commit.
pub const STATUS_POLLS_IN_FLIGHT_MAX: usize = 2;
/// Transactions waited on at one peer at once, per gateway; beyond it new waits queue.
pub const STATUS_WAITING_MAX: usize = 4_096;
/// Waits queued for a peer's lane while it is full ([`STATUS_WAITING_MAX`]).
pub const STATUS_QUEUE_MAX: usize = 1_024;
/// Attempts at broadcasting while the ordering service has no leader.
pub const BROADCAST_ATTEMPTS_MAX: u32 = 20;
/// First pause between broadcast attempts; doubles up to [`BROADCAST_BACKOFF_MAX`].
pub const BROADCAST_BACKOFF_MIN: Duration = Duration::from_millis(100);
/// Longest pause between broadcast attempts.
pub const BROADCAST_BACKOFF_MAX: Duration = Duration::from_secs(1);

const _: () = assert!(BROADCAST_BACKOFF_MIN.as_millis() <= BROADCAST_BACKOFF_MAX.as_millis());

/// Broadcast requests (single or batch) in flight to one orderer at once
/// ([`crate::BroadcastCoalescer`]); what arrives meanwhile queues up and goes as batches.
/// Four full batches are 256 envelopes, the most an orderer admits into its checks at once
/// (`netsettle_orderer::limits::ENVELOPE_CHECKS_CONCURRENT_MAX`; `node/tests/sdk_coalesce.rs`
/// asserts the two agree when it builds): with eight, one client flooding the leader had envelopes
/// answered "busy" at the consensus bench's saturation level (session 30).
pub const BROADCAST_BATCHES_IN_FLIGHT_MAX: usize = 4;
/// Envelopes waiting for one orderer; beyond it, senders wait for room. Enough for every
/// request in flight to be a full batch twice over.
pub const BROADCAST_QUEUE_MAX: usize = 1_024;
/// Bytes of one batch request at most (and never more than half the network's message
/// limit): a few typical envelopes' worth of kilobytes each times a full batch, small
/// enough that one batch does not hold a stream long. A larger envelope goes alone.
pub const BROADCAST_BATCH_BYTES_TARGET: usize = 4 * 1024 * 1024;
/// How long a node's sending or polling task waits for something to do before it ends
/// (the next item starts it again).
pub const LANE_IDLE: Duration = Duration::from_secs(30);
/// Endorse batch requests in flight to one peer at once ([`crate::EndorseCoalescer`]);
/// what arrives meanwhile queues up and goes as batches. Four batches of up to 64 are
/// as many endorsements as the peer answers for one node at once
/// (`netsettle_peer::limits::CLIENT_REQUESTS_OPEN_PER_NODE_MAX`, 256).
pub const ENDORSE_BATCHES_IN_FLIGHT_MAX: usize = 4;
/// Proposals waiting for one peer; beyond it, senders wait for room.
pub const ENDORSE_QUEUE_MAX: usize = 1_024;
/// Bytes of one endorse batch request at most (and never more than half the network's
/// message limit): a larger proposal goes alone.
pub const ENDORSE_BATCH_BYTES_TARGET: usize = 4 * 1024 * 1024;

const _: () = assert!(ENDORSE_BATCHES_IN_FLIGHT_MAX >= 1);
const _: () = assert!(
    ENDORSE_QUEUE_MAX
        >= 2 * ENDORSE_BATCHES_IN_FLIGHT_MAX
            * netsettle_protocol::limits::ENDORSE_BATCH_PROPOSALS_MAX
);

const _: () = assert!(BROADCAST_BATCHES_IN_FLIGHT_MAX >= 1);
const _: () = assert!(
    BROADCAST_QUEUE_MAX
        >= 2 * BROADCAST_BATCHES_IN_FLIGHT_MAX
            * netsettle_protocol::limits::BROADCAST_BATCH_ENVELOPES_MAX
);
const _: () =
    assert!(BROADCAST_BATCH_BYTES_TARGET < netsettle_protocol::limits::BROADCAST_BATCH_BYTES_MAX);
/// Broadcasts during which an orderer that was named the leader but could not be reached
/// is not taken as a leader hint again (unless it answers first): long enough that a lying
/// hint costs little, short enough that a restarted leader is preferred again soon.
pub const HINT_SHUNNED_BROADCASTS: u32 = 64;

/// Openings kept per (channel, period, round) in the key store: one per sealing; a
/// carrier seals again only when a submission failed, so a handful is plenty.
pub const KEYSTORE_OPENINGS_MAX: usize = 16;
/// Largest key file read: the format line and [`KEYSTORE_OPENINGS_MAX`] lines of
/// `<32 hex> <32 hex>\n`.
pub const KEYSTORE_FILE_BYTES_MAX: usize = 32 + KEYSTORE_OPENINGS_MAX * 66;
/// Lines or audit entries asked for per page (the contract caps pages at 1,000).
pub const PAGE_ENTRIES: u64 = 1_000;
/// Pages read before a listing gives up: a period has at most 200,000 lines, i.e. 200
/// pages; more means the answers do not advance.
pub const PAGES_MAX: u32 = 1_000;
