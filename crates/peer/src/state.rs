//! The committed state the peer's cores read: one trait, so the simulator and the block
//! validator run the same way over a RocksDB snapshot in the node and in tests.

use netsettle_ledger::VersionedValue;
use netsettle_ledger::{HistoryEntry, Ledger, LedgerError, Page, StateEntry, StateSnapshot};
use netsettle_protocol::TxId;
use netsettle_smcrypto::Hash;

/// Read access to committed state at one state height.
pub trait StateRead {
    /// Number of blocks whose writes this view holds.
    fn state_height(&self) -> u64;
    /// Hash of the last block whose writes this view holds; `None` before the genesis
    /// block.
    fn last_block_hash(&self) -> Option<Hash>;
    /// The value and version of `key` in `namespace`.
    fn state(&self, namespace: &str, key: &str) -> Result<Option<VersionedValue>, LedgerError>;
    /// Keys of `namespace` in `[start, end)` (empty `end`: to the end of the namespace;
    /// empty `start`: from the first simple key), in key order, at most `limit`.
    fn state_range(
        &self,
        namespace: &str,
        start: &str,
        end: &str,
        limit: usize,
    ) -> Result<Page<StateEntry, String>, LedgerError>;
    /// Committed writes to `key`, oldest first, at most `limit`, none from blocks beyond
    /// this view.
    fn history(
        &self,
        namespace: &str,
        key: &str,
        limit: usize,
    ) -> Result<Vec<HistoryEntry>, LedgerError>;
    /// Whether a transaction with this id is already on the ledger (valid or not).
    fn contains_transaction(&self, tx_id: &TxId) -> Result<bool, LedgerError>;
}

/// A [`Ledger`] seen through one [`StateSnapshot`]: state reads come from the snapshot,
/// history and transaction lookups from the ledger, cut off at the snapshot's height.
#[derive(Debug)]
pub struct LedgerView<'a> {
    ledger: &'a Ledger,
    snapshot: StateSnapshot<'a>,
}

impl<'a> LedgerView<'a> {
    /// A view of the ledger's state as of now.
    pub fn new(ledger: &'a Ledger) -> Result<Self, LedgerError> {
        Ok(LedgerView {
            ledger,
            snapshot: ledger.snapshot()?,
        })
    }

    /// The ledger underneath.
    pub fn ledger(&self) -> &'a Ledger {
        self.ledger
    }
}

impl StateRead for LedgerView<'_> {
    fn state_height(&self) -> u64 {
        self.snapshot.state_info().height
    }

    fn last_block_hash(&self) -> Option<Hash> {
        self.snapshot.state_info().current_hash
    }

    fn state(&self, namespace: &str, key: &str) -> Result<Option<VersionedValue>, LedgerError> {
        self.snapshot.state(namespace, key)
    }

    fn state_range(
        &self,
        namespace: &str,
        start: &str,
        end: &str,
        limit: usize,
    ) -> Result<Page<StateEntry, String>, LedgerError> {
        self.snapshot
            .state_range(namespace, start, end, None, limit)
    }

    fn history(
        &self,
        namespace: &str,
        key: &str,
        limit: usize,
    ) -> Result<Vec<HistoryEntry>, LedgerError> {
        let height = self.state_height();
        let page = self.ledger.history(namespace, key, None, limit)?;
        // History is read live; entries from blocks committed after the snapshot was
        // taken would make two simulations of one proposal disagree.
        Ok(page
            .entries
            .into_iter()
            .filter(|entry| entry.version.block < height)
            .collect())
    }

    fn contains_transaction(&self, tx_id: &TxId) -> Result<bool, LedgerError> {
        self.ledger.contains_transaction(tx_id)
    }
}
