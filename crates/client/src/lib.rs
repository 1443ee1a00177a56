//! The netsettle client SDK: what a carrier's settlement system, its staff tools and the
//! CLI do on their own side of the execute–order–validate flow.
//!
//! A client holds its SM2 key; nothing here sends it anywhere. It builds and signs a
//! [`Proposal`](netsettle_protocol::Proposal) ([`Signer::propose`]), collects the endorsing
//! peers' responses, checks that they answer this proposal and agree byte for byte, and
//! signs the transaction envelope for the orderers ([`assemble`]).
//!
//! [`Gateway`] carries this over `netsettle-net` (libp2p over SM-TLS, the user's own TLS
//! certificate): endorse at one reachable peer per carrier, broadcast to the orderers (the Raft leader
//! first, as the orderers' answers name it: [`OrdererPreference`]; retried while they have
//! no leader), wait on `peer-tx-status` until every endorser committed
//! ([`Gateway::submit`]). [`Gateway::submit_config`] does the same for a config update
//! that already carries the admins' approvals: the orderers check it against the
//! modification policies and cut it into a config block of its own; the gateway waits
//! until the submitting carrier's peers committed that block. [`ConnectionProfile`] reads
//! the carrier's connection profile and a user's identity directory
//! ([`Gateway::from_profile`]).
//!
//! # Settlement SDK
//!
//! [`Settlement`] wraps a [`Gateway`] and a [`Signer`] with one typed method per
//! settlement contract function; no JSON in user code:
//!
//! ```no_run
//! # async fn month() -> Result<(), netsettle_client::ClientError> {
//! use std::path::Path;
//! use netsettle_client::{Gateway, KeyStore, Settlement};
//! let identity = Path::new("crypto/unicom/users/settlement@unicom.example");
//! let (gateway, signer) = Gateway::from_profile(Path::new("clients/unicommsp.toml"), identity).await?;
//! let keys = KeyStore::for_identity(identity)?;
//! let sdk = Settlement::new(&gateway, &signer);
//! let period = "2026-10".parse().expect("a period");
//! let csv = std::fs::read("unicom.csv").expect("the report");
//! let upload = sdk.upload_csv(period, &csv, &keys).await?; // sealed here, key kept in `keys`
//! println!("round {} in block {}, late: {}", upload.answer.round, upload.block, upload.answer.late);
//! let status = sdk.status(period).await?;                  // phase, whose move, who is late
//! if status.status.phase == netsettle_settlement::workflow::Phase::Revealing {
//!     sdk.reveal(period, &keys).await?;                    // finds its key itself
//! }
//! # Ok(()) }
//! ```
//!
//! Every contract function has its method: `propose_agreement` / `accept_agreement` /
//! `agreement`, `upload` / `upload_csv` (UTF-8, UTF-8 with a BOM or GBK files, converted
//! here), `reveal` / `reveal_when_ready` (waits for both uploads), `reset`, `status`,
//! `periods`, `lines`, `history`, `adjustment`, `dispute`, `adjust` / `adjust_many`,
//! `accept` / `reject` / `decide_many`, `confirm` (reads the current version itself) /
//! `confirm_version`, `approve`, `pay`, `ack`, `final_data`, `export` (all pages),
//! `audit_trail`. [`Settlement::acting_for`] records
//! the user a gateway signs for in every request (`on_behalf_of`).
//!
//! Submitted calls return [`Submitted`] (tx id, block, the contract's events, the typed
//! answer) once every endorser committed the transaction valid; a refusal is
//! [`ClientError::Contract`] with the contract's status code and one-line reason
//! ([`ClientError::status`]). Listings (`lines`, `audit_trail`, `export`) read every page.
//! [`KeyStore`] keeps each round's SM4 key and commitment salt in a private directory
//! (`<identity>/keys/`, 0700, files 0600, atomic writes) from before the upload until
//! the reveal.
//!
//! Broadcasts go through a [`BroadcastCoalescer`]: envelopes that queue up for one orderer
//! while the client's earlier requests to it travel go as one `orderer-broadcast-batch`
//! request, each still answered (and retried by [`Gateway::broadcast`]) on its own.
//! Endorsements go the same way through an [`EndorseCoalescer`] (`peer-endorse-batch`),
//! and the gateway's commit waits at one peer share long polls (`peer-tx-status-batch`,
//! answered at the first commit of any of them): under load a peer answers a few
//! requests per block instead of several per transaction.
//!
//! [`Gateway::events`] and [`Gateway::events_after`] follow the chain from a height or a
//! resume [`EventCursor`]: contract events of valid transactions and block events, in
//! block order ([`ChainEvent`]); the stream ends with an error on a disconnect and
//! resumes from the last cursor handled without gaps or repeats.
//!
//! [`notice`] is the signed webhook format of the notices a carrier's node sends its
//! staff: [`sign_notice`] on the node, [`verify_notice`] at a receiver.
//!
//! `examples/settle_month.rs` drives a month with both carriers' clients;
//! `examples/follow_events.rs` follows the events and resumes after a disconnect.
//!
//! What it leaves out: validating endorsers against the channel MSPs, verifying their
//! signatures ([`assemble_verified`] does) and the endorsement policy are the committing
//! peers' job (a client that assembles a transaction with too few
//! or wrong endorsements only gets it marked invalid); here the checks are the ones that
//! save a pointless round trip through ordering. The client trusts the peers and orderers
//! of the genesis block's organisations; it does not follow later config blocks.

mod assemble;
mod coalesce;
mod error;
pub mod events;
mod gateway;
pub mod keystore;
pub mod limits;
pub mod notice;
mod preference;
mod profile;
pub mod settlement;
mod signer;
mod status;

pub use assemble::{Endorsed, assemble, assemble_verified};
pub use coalesce::{
    BatchKind, BroadcastCoalescer, Broadcasts, Coalescer, CoalescerStats, EndorseCoalescer,
    Endorsements,
};
pub use error::ClientError;
pub use events::{ChainEvent, EventCursor, EventStream};
pub use gateway::{Committed, ConfigCommitted, Endpoint, Gateway, GatewayConfig};
pub use keystore::{KeyStore, KeyStoreError};
pub use notice::{Notice, NoticeError, sign_notice, verify_notice};
pub use preference::OrdererPreference;
pub use profile::{ConnectionProfile, ProfileNode};
pub use settlement::{Settlement, Submitted};
pub use signer::Signer;
