//! The netsettle client SDK: what a carrier's settlement system, its staff tools and the
//! CLI do on their own side of the execute–order–validate flow.
//!
//! A client holds its SM2 key; nothing here sends it anywhere. It builds and signs a
//! [`Proposal`](netsettle_protocol::Proposal) ([`Signer::propose`]), collects the endorsing
//! peers' responses, checks that they answer this proposal and agree byte for byte, and
//! signs the transaction envelope for the orderers ([`assemble`]). Transports (libp2p to
//! peers and orderers, the HTTP gateway) sit on top of this core.
//!
//! What it leaves out: validating endorsers against the channel MSPs and the endorsement
//! policy is the committing peers' job (a client that assembles a transaction with too few
//! or wrong endorsements only gets it marked invalid); here the checks are the ones that
//! save a pointless round trip through ordering.

mod assemble;
mod error;
mod gateway;
mod signer;

pub use assemble::{Endorsed, assemble};
pub use error::ClientError;
pub use gateway::{Committed, Endpoint, Gateway, GatewayConfig};
pub use signer::Signer;
