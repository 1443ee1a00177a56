//! Every bound the gateway keeps, in one place (STYLE §2 "Limits on everything"). The
//! node config may lower the runtime ones ([`crate::GatewayLimits`]), never raise them
//! past these maxima.

use core::time::Duration;

/// Open connections at once, TLS handshakes included: past it a new TCP connection is
/// closed before the handshake, so a flood costs a socket accept and nothing more.
pub const CONNECTIONS_MAX: usize = 256;

/// Open connections from one source address: one misbehaving system cannot take every
/// slot from the others.
pub const CONNECTIONS_PER_ADDRESS_MAX: usize = 32;

/// Largest request body: a caller-signed envelope of a large upload (a 100,000-line
/// report sealed, hex-encoded) fits; anything larger is refused with 413 before it is
/// read further.
pub const REQUEST_BODY_BYTES_MAX: usize = 64 * 1024 * 1024;

/// The default body limit the config starts from: every JSON request of the workflow
/// and an ordinary upload fit in it.
pub const REQUEST_BODY_BYTES_DEFAULT: usize = 16 * 1024 * 1024;

/// hyper's read buffer, which bounds the request line and headers together (hyper's
/// minimum is 8 KiB).
pub const HEADER_BYTES_MAX: usize = 16 * 1024;

/// Longest time to answer one request (endorsement, ordering and the wait for the
/// commit included); event streams are exempt once their response has started.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);

/// Longest time a client may take for its TLS handshake, and then to send each
/// request's headers: a connection that sends nothing cannot hold a slot for long.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Shortest configurable timeout: a zero timeout would close every connection at once.
pub const TIMEOUT_MIN: Duration = Duration::from_millis(10);

/// Event-stream subscribers at once.
pub const SSE_SUBSCRIBERS_MAX: usize = 64;

/// Events queued for one subscriber between the task reading the ledger and its
/// connection.
pub const SSE_BUFFER_EVENTS_MAX: usize = 256;

/// Longest time a subscriber's queue may stay full before the subscriber is dropped with an
/// `error` event (it resumes with `Last-Event-ID`); the node never waits for it.
pub const SSE_STALL_MAX: Duration = Duration::from_secs(15);

/// Interval of the heartbeat comment lines that keep idle streams (and proxies) alive.
pub const SSE_HEARTBEAT: Duration = Duration::from_secs(15);

/// Lines or audit entries per page a view asks the contract for at most (its
/// `QUERY_LINES_MAX`).
pub const PAGE_LIMIT_MAX: u64 = 1_000;

/// Periods per page of the period list (the contract's `QUERY_PERIODS_MAX`).
pub const PERIODS_LIMIT_MAX: u64 = 120;

/// Largest export the gateway assembles from pages in memory.
pub const EXPORT_BYTES_MAX: usize = 64 * 1024 * 1024;

/// Pages an export reads at most (bounds the loop with the byte limit).
pub const EXPORT_PAGES_MAX: usize = 512;

/// Transaction ids listed per block in a block view (a block holds at most this many).
pub const BLOCK_TXS_MAX: usize = 10_000;

const _: () = assert!(REQUEST_BODY_BYTES_DEFAULT <= REQUEST_BODY_BYTES_MAX);
const _: () = assert!(CONNECTIONS_PER_ADDRESS_MAX <= CONNECTIONS_MAX);
const _: () = assert!(SSE_SUBSCRIBERS_MAX <= CONNECTIONS_MAX);
const _: () = assert!(HEADER_BYTES_MAX >= 8 * 1024);
