//! The netsettle peer: runs native contracts to endorse proposals, validates and commits
//! the blocks the orderers cut, and manages the contract lifecycle.
//!
//! This first slice holds the contract interface ([`contract`]): the trait a native
//! contract implements and the context it runs in. The endorser, committer, lifecycle and
//! events build on it.
//!
//! What it leaves out: RocksDB (the ledger crate owns it), networking (the net crate), and
//! any particular contract (the settlement contract lives in `netsettle-settlement`).

pub mod contract;

pub use contract::{Context, Contract, ContractError, Creator, KeyModification};
