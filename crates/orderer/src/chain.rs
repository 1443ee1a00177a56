//! The orderer's block chain, as the core sees it: where it ends, whether a transaction id
//! is in it, and appending the next block. [`netsettle_ledger::Ledger`] is the real one;
//! [`MemChain`] serves the in-memory cluster tests.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use netsettle_ledger::{ChainInfo, Ledger, LedgerError};
use netsettle_protocol::{Block, TxId};
use netsettle_smcrypto::Hash;

/// Where a chain ends: its height and the hash of its last block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainTip {
    /// Number of blocks (the next block's number).
    pub height: u64,
    /// Header hash of the last block.
    pub last_hash: Hash,
}

/// The block chain an orderer writes. Appends are durable when they return.
pub trait Chain: Send + 'static {
    /// The tip; `None` for an empty chain.
    fn tip(&self) -> Result<Option<ChainTip>, LedgerError>;
    /// The number of the block holding a transaction with this id, if any. The core only
    /// counts blocks below its own (logical) tip: after a restart the stored chain can be
    /// ahead of the state being replayed.
    fn transaction_block(&self, tx_id: &TxId) -> Result<Option<u64>, LedgerError>;
    /// Block `number`, if stored.
    fn block(&self, number: u64) -> Result<Option<Block>, LedgerError>;
    /// Appends the next block (durably).
    fn append(&self, block: &Block) -> Result<(), LedgerError>;
    /// Appends the next block, which this orderer has just built from its envelopes,
    /// whose transaction ids are `tx_ids` in order (so neither its data hash nor the ids
    /// need a second computation). By default the same as `append`.
    fn append_built(&self, block: &Block, tx_ids: &[TxId]) -> Result<(), LedgerError> {
        let _ = tx_ids;
        self.append(block)
    }
}

fn tip_of(info: ChainInfo) -> Option<ChainTip> {
    info.current_hash.map(|last_hash| ChainTip {
        height: info.height,
        last_hash,
    })
}

impl Chain for Arc<Ledger> {
    fn tip(&self) -> Result<Option<ChainTip>, LedgerError> {
        Ok(tip_of(self.chain_info()?))
    }

    fn transaction_block(&self, tx_id: &TxId) -> Result<Option<u64>, LedgerError> {
        Ok(self.transaction(tx_id)?.map(|location| location.block))
    }

    fn block(&self, number: u64) -> Result<Option<Block>, LedgerError> {
        Ledger::block(self, number)
    }

    fn append(&self, block: &Block) -> Result<(), LedgerError> {
        self.append_block(block).map(|_| ())
    }

    fn append_built(&self, block: &Block, tx_ids: &[TxId]) -> Result<(), LedgerError> {
        self.append_built_block(block, tx_ids).map(|_| ())
    }
}

#[derive(Debug, Default)]
struct MemChainInner {
    blocks: Vec<Block>,
    tx_ids: HashMap<TxId, u64>,
}

/// A chain in memory, shared by clones (a test keeps one to read what the core wrote,
/// and hands it to a restarted core to model a node whose disk survived).
#[derive(Debug, Default, Clone)]
pub struct MemChain {
    inner: Arc<Mutex<MemChainInner>>,
}

impl MemChain {
    fn lock(&self) -> std::sync::MutexGuard<'_, MemChainInner> {
        // A poisoned lock means a test thread panicked holding it; the data is still a
        // consistent prefix of appends, so keep reading it.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// All blocks, in order.
    pub fn blocks(&self) -> Vec<Block> {
        self.lock().blocks.clone()
    }

    /// Number of blocks.
    pub fn height(&self) -> u64 {
        u64::try_from(self.lock().blocks.len()).unwrap_or(u64::MAX)
    }
}

impl Chain for MemChain {
    fn tip(&self) -> Result<Option<ChainTip>, LedgerError> {
        let inner = self.lock();
        Ok(inner.blocks.last().map(|block| ChainTip {
            height: block.header.number.saturating_add(1),
            last_hash: block.hash(),
        }))
    }

    fn transaction_block(&self, tx_id: &TxId) -> Result<Option<u64>, LedgerError> {
        Ok(self.lock().tx_ids.get(tx_id).copied())
    }

    fn block(&self, number: u64) -> Result<Option<Block>, LedgerError> {
        let inner = self.lock();
        Ok(usize::try_from(number)
            .ok()
            .and_then(|index| inner.blocks.get(index))
            .cloned())
    }

    fn append(&self, block: &Block) -> Result<(), LedgerError> {
        let mut inner = self.lock();
        let height = u64::try_from(inner.blocks.len()).unwrap_or(u64::MAX);
        assert_eq!(block.header.number, height, "append out of order");
        if let Some(last) = inner.blocks.last() {
            assert_eq!(block.header.previous_hash, last.hash(), "broken hash chain");
        }
        for envelope in &block.data {
            inner
                .tx_ids
                .entry(envelope.tx_id())
                .or_insert(block.header.number);
        }
        inner.blocks.push(block.clone());
        Ok(())
    }

    /// Checks what the core hands over against the block, so the in-memory clusters catch
    /// a data hash or an id carried wrongly through the batch.
    fn append_built(&self, block: &Block, tx_ids: &[TxId]) -> Result<(), LedgerError> {
        let derived: Vec<TxId> = block.data.iter().map(|envelope| envelope.tx_id()).collect();
        assert_eq!(tx_ids, derived.as_slice(), "carried transaction ids");
        assert!(block.verify_data_hash().is_ok(), "carried envelope hashes");
        self.append(block)
    }
}
