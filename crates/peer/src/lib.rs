//! The netsettle peer: runs native contracts to endorse proposals, validates and commits
//! the blocks the orderers cut (fetched from them or passed on by other peers), and
//! manages the contract lifecycle.
//!
//! The cores are pure functions over a committed-state view; the service shell owns the
//! I/O:
//!
//! - [`LedgerView`]: the committed-state view the cores read, a ledger snapshot seen
//!   through `netsettle_contract::StateRead`. The contract interface and the simulator
//!   the endorser runs contracts in are `netsettle-contract`'s.
//! - [`lifecycle`]: install (the [`lifecycle::ContractRegistry`]), approve and commit of contract
//!   definitions through the `_lifecycle` system contract.
//! - [`endorser`]: checks a signed proposal, simulates, signs the result.
//! - [`validator`]: `validate_block(channel, state, block)` → the block with its codes.
//! - [`committer`]: writes a validated block through the ledger.
//! - [`events`]: what subscribers learn of each committed block.
//! - [`deliver`]: pulls blocks from orderers (or other peers) with failover.
//! - [`gossip`]: judges a block another peer sent (accept, report the sender, or keep it
//!   until the gap before it closes); [`gossip::Intake`] routes the verdicts between
//!   commits.
//! - [`service`]: the tokio shell the node runtime spawns ([`service::spawn`] →
//!   [`service::PeerHandle`]).
//!
//! # Starting a peer (what the node runtime does)
//!
//! ```text
//! let mut registry = ContractRegistry::new();
//! registry.install(Arc::new(SettlementContract))?;        // install: name, version, digest
//! let endorser = Endorser::new(key, peer_identity, Arc::new(registry));
//! let (blocks_tx, blocks_rx) = mpsc::channel(limits::BLOCK_QUEUE_MAX);
//! let peer = service::spawn(PeerParts {
//!     ledger: Arc::new(Ledger::open(&dir)?),                 // joins from genesis if empty
//!     genesis,
//!     endorser,
//!     validator: Validator::new(BatchVerifier::with_available_parallelism()),
//!     blocks: blocks_rx,
//! })?;
//! // blocks: orderers first, then other peers (state transfer), with failover:
//! tokio::spawn(deliver::run(my_block_source, DeliverConfig::default(), peer.clone(),
//!                           blocks_tx.clone(), shutdown_rx));
//! // gossip: judge each block received on gossip::block_topic(channel) with
//! // gossip::judge(&peer.channel(), peer.tip()?, committed_hash, bytes), then
//! // intake.route(judged, len): Commit → accept, into `blocks_tx` too; Report → report
//! // the sender; Behind → wake state transfer. After each commit: publish the block if
//! // intake.committed(number), send intake.ready(peer.tip()?) to the committer.
//! // The committer takes only the next block and validates it whatever its source.
//! // clients and peers:
//! let response = peer.endorse(signed_proposal).await?;   // EndorseError::Contract: no signature
//! let mut events = peer.subscribe();                     // BlockEvent per committed block
//! let blocks = peer.blocks_from(start)?;                 // serve state transfer
//! ```
//!
//! `my_block_source` implements [`deliver::BlockSource`]: `fetch(endpoint, start, max)`
//! over the net crate, e.g. an orderer's `OrdererHandle::deliver` / `blocks` behind a
//! request-response service, or another peer's [`service::PeerHandle::blocks_from`] (state
//! transfer; bounded in blocks and bytes).
//!
//! What it leaves out: RocksDB (the ledger crate owns it), networking (the net crate), and
//! any particular contract (the settlement contract lives in `netsettle-settlement`).

pub mod committer;
pub mod deliver;
pub mod endorser;
mod error;
pub mod events;
pub mod gossip;
pub mod lifecycle;
pub mod limits;
pub mod service;
mod state;
pub mod validator;

pub use error::{EndorseError, ProposalRejected};
pub use state::LedgerView;
