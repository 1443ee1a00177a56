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
//! - [`OrdererService::spawn`] → [`OrdererHandle`]: the shell (core thread, bounded input
//!   queue, tick timer) and the API the node and the transport call.
//!
//! # Starting an orderer (what the node runtime does)
//!
//! ```text
//! let config = ServiceConfig {
//!     core: CoreConfig::new(consenter_id),        // 100 ms ticks, elections after 1-2 s
//!     signer: Signer { key, identity },           // the orderer's SM2 key and certificate
//!     genesis,                                    // the channel's genesis block
//!     data_dir,                                   // ledger/ and raft/ go under it
//! };
//! let orderer = OrdererService::spawn(config, Arc::new(my_transport))?;
//! // inbound, from the other consenters (e.g. crates/net services "raft", "blocks"):
//! orderer.raft_message(&bytes);                   // fire and forget
//! let blocks = orderer.blocks(start, end)?;       // answer a catch-up fetch
//! // clients and peers:
//! let ack = orderer.broadcast(envelope).await?;   // Ok once committed in the Raft log
//! let mut stream = orderer.deliver(signed_request)?;  // blocks, then a final status
//! orderer.shutdown().await;
//! ```
//!
//! Over `netsettle-net` (what the node should do), the transport and the serving side are
//! here already:
//!
//! ```text
//! let transport = net::NetTransport::new(network.handle(), &channel_config)?;
//! let orderer = OrdererService::spawn(config, Arc::new(transport))?;
//! net::serve(&network.handle(), &orderer)?;   // orderer-raft, -blocks, -broadcast, -deliver
//! admin::serve(&network.handle(), &orderer)?; // orderer-admin: status, leader transfer
//! ```
//!
//! (The node wraps the transport in [`consenters::FollowingTransport`] so that it follows
//! consenter changes.)
//!
//! The network must know the other consenters' addresses (`NetConfig::known_peers` or
//! `add_address`, with `netsettle_msp::consenter_nodes` giving their node ids). Any other
//! [`Transport`] maps consenter ids (the channel config's `Consenter::id`) to connections:
//! `send_raft(to, bytes)` must not block (drop when congested; Raft retransmits),
//! `fetch_blocks(from, start, end)` calls the other orderer's [`OrdererHandle::blocks`].
//! It must keep each consenter's messages in order and should batch them: the
//! [`net::NetTransport`] gives every consenter one bounded queue and one request at a
//! time carrying all that queued meanwhile, and `orderer-blocks` holds a request for the
//! next block until it is cut (a long poll; see the `net` module).
//!
//! # Guarantees
//!
//! - Every orderer's chain has the same block hashes: block contents are decided by the
//!   Raft log (see the `core` module docs for why this design).
//! - An acknowledged broadcast is in exactly one block; a broadcast that failed with
//!   `NotOrderedInTime` (or whose orderer stopped, or whose connection dropped) may be
//!   retried safely: if the first attempt landed, the retry is refused as `Duplicate`;
//!   sent to an orderer where the first attempt is still being ordered, it gets that
//!   attempt's answer.
//! - Three of five consenters down: broadcasts fail with `NoQuorum` (after two election
//!   timeouts without a leader; `NoLeader` before that).
//! - Blocks copied from another orderer (catch-up after a restart, a wipe, a snapshot, or
//!   a new consenter joining) are written only if they chain on, and each carries a valid
//!   SM2 signature of a consenter of the configuration in force at that point
//!   ([`verify_fetched_block`]); a bad batch is refused whole and asked of another
//!   consenter.
//! - Membership ([`membership`]): a config update adds or removes one consenter at a
//!   time; once its block is cut, the leader proposes the Raft conf change and every
//!   orderer applies it from the log. A new consenter starts from the genesis block (the
//!   node names its join config block) and catches up; a removed one stops taking
//!   broadcasts (`NotAConsenter`). [`admin`] serves the operator's status and leader
//!   transfer (`orderer-admin`).
//!
//! # Not done yet
//!
//! Learners (a new consenter votes as soon as the conf change applies, so adding one
//! while it is down raises the quorum without it), and joint consensus. A snapshot of up
//! to `limits::RAFT_WIRE_BYTES_MAX` (~117 MiB) travels as one request within the
//! network's request timeout (30 s by default); slow links would need it in chunks.

pub mod admin;
mod catch_up;
mod chain;
mod checks;
pub mod consenters;
mod core;
pub mod cutter;
mod entry;
mod error;
pub mod limits;
pub mod membership;
pub mod net;
mod service;
pub mod snapshot;
pub mod stats;
mod storage;
mod validate;

pub use catch_up::verify_fetched_block;
pub use chain::{Chain, ChainTip, MemChain};
pub use core::{
    Actions, BroadcastAck, CoreConfig, Event, FetchBlocks, OrdererCore, RequestId, Signer,
    bootstrap_snapshot, prepare_chain,
};
pub use entry::{LogEntry, SnapshotState};
pub use error::{
    BroadcastError, CatchUpError, ConsenterChangeError, DeliverError, OrdererError, RaftRefusal,
    StorageError,
};
pub use service::{
    FetchFuture, OrdererHandle, OrdererService, ServiceConfig, Transport, check_envelope_time,
};
pub use storage::RaftStore;
pub use validate::{VerifiedEnvelope, VerifiedKind, verify_deliver_request, verify_envelope};
