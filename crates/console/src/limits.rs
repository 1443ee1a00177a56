//! Every bound of the console in one place: a browser, a password guesser or a flood of
//! requests meets one of these before it meets memory.

use std::time::Duration;

/// Largest request body read, form or upload (an adjustment file included).
pub const BODY_BYTES_MAX: usize = 1024 * 1024;
/// Largest form field value (name, password, reason); an upload is the only larger field.
pub const FIELD_BYTES_MAX: usize = 4 * 1024;
/// Most fields a form may carry.
pub const FIELDS_MAX: usize = 32;
/// Most sessions held at once; a login beyond this drops the oldest.
pub const SESSIONS_MAX: usize = 1024;
/// Most pre-session (login form) tokens held at once.
pub const PRE_SESSIONS_MAX: usize = 4096;
/// How long a login form's token stays valid.
pub const PRE_SESSION_LIFETIME: Duration = Duration::from_secs(30 * 60);
/// Most users the config may list.
pub const USERS_MAX: usize = 256;
/// Longest user name (it is recorded on the chain as `on_behalf_of`, bounded there too).
pub const USER_NAME_BYTES_MAX: usize = 64;
/// Longest password accepted at login (argon2 takes any length; a megabyte one is a DoS).
pub const PASSWORD_BYTES_MAX: usize = 1024;
/// Failed logins per user and address before the pair is refused for the window.
pub const LOGIN_FAILURES_MAX: u32 = 5;
/// How long failures count against a user and address.
pub const LOGIN_FAILURE_WINDOW: Duration = Duration::from_secs(5 * 60);
/// Most user+address pairs the throttle tracks; beyond it the oldest is forgotten.
pub const THROTTLE_ENTRIES_MAX: usize = 4096;
/// Most connections served at once.
pub const CONNECTIONS_MAX: usize = 256;
/// Longest config file read.
pub const CONFIG_BYTES_MAX: u64 = 256 * 1024;

const _: () = assert!(FIELD_BYTES_MAX <= BODY_BYTES_MAX);
const _: () = assert!(PASSWORD_BYTES_MAX <= FIELD_BYTES_MAX);
const _: () = assert!(USER_NAME_BYTES_MAX <= FIELD_BYTES_MAX);
// A console user's name is recorded on the chain as `on_behalf_of`: it must always fit.
const _: () = assert!(USER_NAME_BYTES_MAX <= netsettle_settlement::limits::ACTING_USER_BYTES_MAX);
const _: () = assert!(SESSIONS_MAX <= PRE_SESSIONS_MAX);

/// Longest search text on the period page.
pub const QUERY_BYTES_MAX: usize = 128;
/// Most lines the period page renders; the search narrows a larger month.
pub const LINES_SHOWN_MAX: usize = 2000;
/// Most bars the chart draws.
pub const CHART_BARS_MAX: usize = 400;
/// Most timeline entries whose block is looked up on one page view.
pub const TIMELINE_LOCATED_MAX: usize = 500;
/// Most transaction → block answers remembered (committed blocks never change).
pub const BLOCK_CACHE_MAX: usize = 16 * 1024;

const _: () = assert!(QUERY_BYTES_MAX <= FIELD_BYTES_MAX);
const _: () = assert!(TIMELINE_LOCATED_MAX <= BLOCK_CACHE_MAX);

/// Longest flash message kept for the next page (a contract reason is at most 1 KiB).
pub const FLASH_BYTES_MAX: usize = 512;
/// Most adjustments an uploaded adjustments file may hold.
pub const ADJUSTMENTS_FILE_MAX: usize = 10_000;
/// Most parts a multipart upload may have (the file, the CSRF token, a few more).
pub const MULTIPART_PARTS_MAX: usize = 8;
/// Most pending adjustments the period page looks up and lists.
pub const PENDING_SHOWN_MAX: usize = 200;

const _: () = assert!(FLASH_BYTES_MAX <= FIELD_BYTES_MAX);

/// Notices kept for the notices page; older ones drop off.
pub const NOTICES_KEPT_MAX: usize = 200;
/// Notice ids remembered to drop a notice delivered again (the node's outbox retries
/// until it sees a 2xx, so a repeat comes soon after the first, well within this many).
pub const NOTICE_IDS_REMEMBERED_MAX: usize = 8192;

const _: () = assert!(NOTICES_KEPT_MAX <= NOTICE_IDS_REMEMBERED_MAX);

/// Largest TLS certificate chain or key file read.
pub const TLS_PEM_BYTES_MAX: usize = 256 * 1024;
/// How long a browser may take to finish the TLS handshake.
pub const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a connection may take to send a request's headers.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Most recent periods whose deadlines the periods page asks for (one query each).
pub const PERIODS_DEADLINES_MAX: usize = 36;
