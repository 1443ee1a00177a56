//! Every bound of the notifier, with the relations between them checked at compile time.
//! The `[notices]` config may choose values up to these, never past them.

use core::time::Duration;

/// Recipients in one config.
pub const RECIPIENTS_MAX: usize = 64;

/// Longest URL or SMS template (body, path).
pub const TEMPLATE_BYTES_MAX: usize = 4 * 1024;

/// Longest time one delivery attempt may take.
pub const ATTEMPT_TIMEOUT_MAX: Duration = Duration::from_secs(60);

/// Longest retry delay.
pub const BACKOFF_MAX: Duration = Duration::from_secs(3_600);

/// Delivery attempts in flight at once, all recipients.
pub const IN_FLIGHT_MAX: usize = 64;

/// Delivery attempts in flight at once to one recipient: a dead endpoint holds at most
/// this many of the slots, whatever its backlog.
pub const IN_FLIGHT_PER_RECIPIENT_MAX: usize = 8;

/// Blocks derived between two looks at the deliveries, so a long catch-up after a restart
/// does not hold sending up.
pub const DERIVE_BLOCKS_PER_TURN_MAX: u64 = 64;

/// Largest response head read from an endpoint (hyper's read buffer): the status is all
/// the notifier needs.
pub const RESPONSE_HEAD_BYTES_MAX: usize = 16 * 1024;

/// How long in-flight attempts may finish after shutdown is asked, before they are
/// dropped (and sent again after the restart: receivers drop duplicates by id).
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// Period records the reminder timer reads per look (20 years of months).
pub const PERIODS_SCANNED_MAX: usize = 240;

/// Reminder thresholds one config may name.
pub const REMINDER_THRESHOLDS_MAX: usize = 8;

/// The earliest reminder threshold, hours before a deadline (30 days).
pub const REMINDER_HOURS_MAX: u64 = 720;

const _: () = assert!(PERIODS_SCANNED_MAX <= netsettle_ledger::limits::PAGE_ENTRIES_MAX);
const _: () = assert!(IN_FLIGHT_PER_RECIPIENT_MAX <= IN_FLIGHT_MAX);
const _: () = assert!(IN_FLIGHT_MAX <= netsettle_ledger::limits::PAGE_ENTRIES_MAX);
