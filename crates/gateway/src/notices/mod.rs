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
//!
//! The durable outbox is the ledger's (`netsettle_ledger::Outbox`). What it leaves out for
//! now: HTTP delivery (webhook, SMS gateway), deadline reminders and the node wiring (see
//! `docs/ARCHITECTURE.md`, "Notices").

pub mod derive;
pub mod recipient;

pub use derive::{ContractEvent, Draft, Role, block_contract_events, derive};
pub use recipient::{Periods, Recipient, address};
