//! The netsettle ordering service: one Raft group per channel (tikv's raft-rs) that orders
//! checked envelopes, cuts them into blocks exactly as the channel's batch policy says,
//! signs each block with the orderer's SM2 key and writes it to the orderer's ledger, so
//! that every orderer holds the same chain.
//!
//! What it leaves out: sockets (the node wires a transport to the service), reading
//! config files, and validating transactions beyond what ordering needs (endorsement
//! policies and read sets are the peer's job).
//!
//! # Layers
//!
//! - [`OrdererCore`]: the deterministic core, `on(Event) -> Actions`. Pure apart from its
//!   two storage ports, the [`RaftStore`] and the [`Chain`].
//! - [`cutter`]: block cutting as a pure function of envelopes and ticks.
//! - [`verify_envelope`] / [`verify_deliver_request`]: the checks before anything enters
//!   the log or a stream starts; run by callers in parallel.

mod chain;
mod core;
pub mod cutter;
mod entry;
mod error;
pub mod limits;
mod service;
mod storage;
mod validate;

pub use chain::{Chain, ChainTip, MemChain};
pub use core::{
    Actions, BroadcastAck, CoreConfig, Event, FetchBlocks, OrdererCore, RequestId, Signer,
    bootstrap_snapshot, config_of, prepare_chain,
};
pub use entry::{LogEntry, SnapshotState};
pub use error::{BroadcastError, DeliverError, OrdererError, StorageError};
pub use service::{FetchFuture, OrdererHandle, OrdererService, ServiceConfig, Transport};
pub use storage::RaftStore;
pub use validate::{
    ChannelState, VerifiedEnvelope, VerifiedKind, verify_deliver_request, verify_envelope,
};
