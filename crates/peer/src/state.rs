//! The committed state the peer's cores read: the ledger seen through the contract
//! crate's [`StateRead`], so the simulator and the block validator run over a RocksDB
//! snapshot exactly as they run over `netsettle_contract::MemoryState` in tests.

use netsettle_contract::StateRead;
use netsettle_ledger::{Ledger, LedgerError, StateSnapshot};
use netsettle_protocol::{HistoryEntry, Page, StateEntry, TxId, VersionedValue};
use netsettle_smcrypto::Hash;

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
    type Error = LedgerError;

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
