//! The committed state a contract is simulated against: one trait, so the simulator runs
//! the same way over a peer's RocksDB snapshot, over [`MemoryState`](crate::MemoryState)
//! in tests and the audit replay, and the peer's block validator reads versions through it
//! too.

use netsettle_protocol::{HistoryEntry, Page, StateEntry, TxId, VersionedValue};
use netsettle_smcrypto::Hash;

/// Read access to committed state at one state height. Every read of one value sees the
/// same height: a view never changes under a simulation.
pub trait StateRead {
    /// Why a read failed: storage trouble, or a namespace, key or limit the store refuses.
    type Error: std::error::Error;

    /// Number of blocks whose writes this view holds.
    fn state_height(&self) -> u64;
    /// Hash of the last block whose writes this view holds; `None` before the genesis
    /// block.
    fn last_block_hash(&self) -> Option<Hash>;
    /// The value and version of `key` in `namespace`.
    fn state(&self, namespace: &str, key: &str) -> Result<Option<VersionedValue>, Self::Error>;
    /// Keys of `namespace` in `[start, end)` (empty `end`: to the end of the namespace;
    /// empty `start`: from the first simple key, see
    /// [`in_simple_range`](netsettle_protocol::in_simple_range)), in key order, at most
    /// `limit`; `next` is set when the page is full.
    fn state_range(
        &self,
        namespace: &str,
        start: &str,
        end: &str,
        limit: usize,
    ) -> Result<Page<StateEntry, String>, Self::Error>;
    /// Committed writes to `key`, oldest first, at most `limit`, none from blocks beyond
    /// this view.
    fn history(
        &self,
        namespace: &str,
        key: &str,
        limit: usize,
    ) -> Result<Vec<HistoryEntry>, Self::Error>;
    /// Whether a transaction with this id is already on the ledger (valid or not).
    fn contains_transaction(&self, tx_id: &TxId) -> Result<bool, Self::Error>;
}
