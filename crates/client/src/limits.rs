//! The client's own limits: files it reads and how long it waits.

use std::time::Duration;

/// Largest connection profile read (a profile lists a few dozen nodes).
pub const PROFILE_BYTES_MAX: usize = 64 * 1024;
/// How long one status request may wait at the peer.
pub const STATUS_WAIT: Duration = Duration::from_secs(10);
/// Status requests per peer before a commit wait gives up: ordering takes at most the
/// batch timeout plus a round trip, so a few long waits are plenty.
pub const STATUS_REQUESTS_MAX: u32 = 6;
/// Attempts at broadcasting while the ordering service has no leader.
pub const BROADCAST_ATTEMPTS_MAX: u32 = 20;
/// First pause between broadcast attempts; doubles up to [`BROADCAST_BACKOFF_MAX`].
pub const BROADCAST_BACKOFF_MIN: Duration = Duration::from_millis(100);
/// Longest pause between broadcast attempts.
pub const BROADCAST_BACKOFF_MAX: Duration = Duration::from_secs(1);

const _: () = assert!(BROADCAST_BACKOFF_MIN.as_millis() <= BROADCAST_BACKOFF_MAX.as_millis());
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
