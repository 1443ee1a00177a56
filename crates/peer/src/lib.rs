//! The netsettle peer: runs native contracts to endorse proposals, validates and commits
//! the blocks the orderers cut, and manages the contract lifecycle.
//!
//! - [`contract`]: the trait a native contract implements and the context it runs in.
//! - [`state`]: the committed-state view the cores read ([`LedgerView`] over a ledger
//!   snapshot).
//! - [`simulator`]: the [`Context`] that records a canonical read–write set; what the
//!   endorser runs contracts in, and what contract authors test against.
//!
//! What it leaves out: RocksDB (the ledger crate owns it), networking (the net crate), and
//! any particular contract (the settlement contract lives in `netsettle-settlement`).

pub mod contract;
pub mod limits;
pub mod simulator;
pub mod state;

pub use contract::{Context, Contract, ContractError, Creator, KeyModification};
pub use simulator::{Invocation, Simulation, Simulator};
pub use state::{LedgerView, StateRead};
