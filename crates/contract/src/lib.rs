//! The native contract interface, and what a contract needs to be run: the committed
//! state it reads and the simulator that records what it did.
//!
//! - The interface: the [`Contract`] trait a native contract implements, the [`Context`]
//!   it runs in, the [`Creator`] it sees, composite keys ([`composite_key`],
//!   [`prefix_end`]) and [`ContractError`].
//! - [`StateRead`]: the committed-state view at one height. A peer reads a RocksDB
//!   snapshot through it (`netsettle_peer::LedgerView`), [`MemoryState`] a `BTreeMap`.
//! - [`Simulator`]: the [`Context`] over a [`StateRead`] that records a canonical
//!   read–write set: read-your-writes, range reads with every committed key they
//!   returned, the last write per key, everything sorted by key. A peer endorses with it.
//! - [`MemoryState`]: committed state in memory that runs a contract through the
//!   [`Simulator`] and applies the writes of each successful call as a block of its own.
//!   Contract tests and the settlement audit replay run on it, so they see what a peer's
//!   endorsement would.
//! - [`limits`]: what one simulation may collect.
//!
//! What it leaves out: RocksDB (the ledger crate), endorsement, validation and the
//! lifecycle (the peer), and any clock: a contract's only time is the proposal's
//! timestamp.

mod contract;
pub mod limits;
mod memory;
mod simulator;
mod state;

pub use contract::{
    Context, Contract, ContractError, Creator, composite_key, prefix_end, split_composite_key,
};
pub use memory::{Execution, MemoryState, MemoryStateError};
pub use simulator::{Invocation, Simulation, Simulator};
pub use state::StateRead;
