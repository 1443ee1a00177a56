//! Fixtures for netsettle's tests and benches, in one place so that every crate's tests
//! build organisations, certificates, messages and processes the same way.
//!
//! - [`pki`]: test CAs ([`TestOrg`]) issuing members of every role ([`Member`]), CRLs,
//!   TLS identities and trust anchors;
//! - [`channel`]: channel configs over them and the two carriers' [`Consortium`];
//! - [`tx`] and [`block`]: signed proposals, transactions (the envelope for ordering
//!   only among them), config envelopes and blocks;
//! - [`rng`]: a seeded generator for fault schedules;
//! - behind features: `arbitrary` (proptest strategies for every protocol message), `net`
//!   (in-process network nodes), `orderer` (orderer services in one process over an
//!   in-memory transport), `peer` (a peer over a temporary ledger and a key-value
//!   contract), `process` (the real `netsettle` binary on a loopback slot, and the
//!   orderer processes' harness with an admin client; `browser`: the staff console's
//!   process and chromedriver with headless Chromium; `sdk`: a carrier user through the
//!   Rust SDK; `clouds`: the carriers' clouds as network namespaces, as root).
//!
//! A dev-dependency only (`publish = false`): no production crate depends on it. Crates
//! below it in the graph use it from their integration tests (`tests/`), never from unit
//! tests inside `src/`, whose crate would be a second copy of the one testkit links.
//! Helpers panic with a message on failure: that is how a fixture fails a test.

#[cfg(feature = "arbitrary")]
pub mod arbitrary;
pub mod block;
#[cfg(feature = "process")]
pub mod browser;
pub mod channel;
#[cfg(feature = "process")]
pub mod clouds;
#[cfg(feature = "net")]
pub mod net;
#[cfg(feature = "process")]
pub mod orderers;
#[cfg(feature = "orderer")]
pub mod ordering;
#[cfg(feature = "peer")]
pub mod peer;
pub mod pki;
#[cfg(feature = "process")]
pub mod process;
pub mod rng;
#[cfg(feature = "process")]
pub mod sdk;
pub mod tx;

pub use channel::Consortium;
pub use pki::{Member, TestOrg};

/// Upper bound for anything a test waits on (a readiness line, an event, an answer);
/// reaching it marks failure, it never paces a test.
pub const WAIT_MAX: std::time::Duration = std::time::Duration::from_secs(60);
