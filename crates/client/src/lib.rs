//! The netsettle client SDK: what a carrier's settlement system, its staff tools and the
//! CLI do on their own side of the execute–order–validate flow.
//!
//! A client holds its SM2 key; nothing here sends it anywhere. It builds and signs a
//! [`Proposal`](netsettle_protocol::Proposal) ([`Signer::propose`]), collects the endorsing
//! peers' responses, checks that they answer this proposal and agree byte for byte, and
//! signs the transaction envelope for the orderers ([`assemble`]).
//!
//! [`Gateway`] carries this over `netsettle-net` (libp2p over SM-TLS, the user's own TLS
//! certificate): endorse at one peer per carrier, broadcast to the orderers (retried while
//! they have no leader), wait on `peer-tx-status` until every endorser committed
//! ([`Gateway::submit`]). [`Gateway::submit_config`] does the same for a config update
//! that already carries the admins' approvals: the orderers check it against the
//! modification policies and cut it into a config block of its own; the gateway waits
//! until the submitting carrier's peers committed that block. [`ConnectionProfile`] reads
//! the carrier's connection profile and a user's identity directory
//! ([`Gateway::from_profile`]).
//!
//! What it leaves out: validating endorsers against the channel MSPs and the endorsement
//! policy is the committing peers' job (a client that assembles a transaction with too few
//! or wrong endorsements only gets it marked invalid); here the checks are the ones that
//! save a pointless round trip through ordering. The client trusts the peers and orderers
//! of the genesis block's organisations; it does not follow later config blocks.

mod assemble;
mod error;
mod gateway;
pub mod limits;
mod profile;
mod signer;

pub use assemble::{Endorsed, assemble};
pub use error::ClientError;
pub use gateway::{Committed, ConfigCommitted, Endpoint, Gateway, GatewayConfig};
pub use profile::{ConnectionProfile, ProfileNode};
pub use signer::Signer;
