//! Notices for the node's own carrier's staff: whose move it is in a settlement period.
//!
//! - [`derive`]: pure. From each committed block's settlement contract events it derives
//!   notice drafts ([`Draft`]) for the node's own carrier: the other side uploaded, both
//!   uploaded (reveal), reconciled with N disputed lines, adjustments proposed or decided
//!   by the other side, the other side confirmed, final, finance approval due, payment
//!   recorded, closed. No clock, socket or disk: the caller passes the block.
//! - [`recipient`]: who wants which draft (roles, periods), and the per-recipient
//!   [`Notice`](netsettle_client::notice::Notice) with an id stable across retries and
//!   restarts, so a receiver can drop a duplicate.
//! - [`config`]: the `[notices]` settings (recipients, channels, retry timing, bounds)
//!   and their validation; [`sms`]: the SMS platform's request template.
//! - [`notifier`]: the task beside the peer: follows committed blocks from the outbox
//!   cursor (the ledger's `netsettle_ledger::Outbox`), enqueues, and delivers over plain
//!   HTTP (`send`: a signed webhook POST, or the SMS template's request) with bounded
//!   concurrency, a per-attempt timeout, and capped jittered exponential backoff.
//! - [`remind`]: deadline reminders from the periods' status in the local world state
//!   (a deadline of ours nears or passed; the other side is late), on the notifier's
//!   timer, each once per period, round, carrier and threshold.
//! - [`limits`]: every bound.
//!
//! What it leaves out: HTTPS to ordinary-CA endpoints (our rustls provider has only the
//! SM suite; endpoints are inside the carrier's network). See `docs/ARCHITECTURE.md`,
//! "Notices", and `docs/notices.md` for the kinds.

pub mod config;
pub mod derive;
pub mod limits;
pub mod notifier;
pub mod recipient;
pub mod remind;
mod send;
pub mod sms;

pub use config::{ConfigError, NoticesConfig, Settings};
pub use derive::{ContractEvent, Draft, Role, block_contract_events, derive};
pub use notifier::{Notifier, NotifierError, Origin};
pub use recipient::{Periods, Recipient, address};
