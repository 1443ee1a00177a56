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
//! - [`net`]: the peer on `netsettle-net`: its services (`peer-endorse`,
//!   `peer-tx-status`, `peer-blocks`), deliver from orderers and peers, and gossip.
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
//! // over the network: the services, deliver (orderers first, then other peers by state
//! // transfer, with failover) and gossip, each task until shutdown:
//! let tasks = net::spawn(&network, &peer, &PeerNetConfig { msp_id, deliver_from, known_nodes },
//!                        blocks_tx, &shutdown_rx)?;
//! // The committer takes only the next block and validates it whatever its source.
//! // in-process callers:
//! let response = peer.endorse(signed_proposal).await?;   // EndorseError::Contract: no signature
//! let mut events = peer.subscribe();                     // BlockEvent per committed block
//! let blocks = peer.blocks_from(start)?;                 // serve state transfer
//! ```
//!
//! Another transport implements [`deliver::BlockSource`] (`fetch(endpoint, start, max)`)
//! and runs [`deliver::run`], [`gossip::judge`] and [`gossip::Intake`] the way [`net`]
//! does.
//!
//! What it leaves out: RocksDB (the ledger crate owns it), the transport itself (the net
//! crate; [`net`] only calls its API), and any particular contract (the settlement
//! contract lives in `netsettle-settlement`).

pub mod committer;
pub mod deliver;
pub mod endorser;
mod error;
pub mod events;
pub mod gossip;
pub mod lifecycle;
pub mod limits;
pub mod net;
pub mod own_endorsements;
pub mod service;
mod state;
pub mod stats;
pub mod validator;

pub use error::{EndorseError, PeerNetError, ProposalRejected};
pub use state::LedgerView;
