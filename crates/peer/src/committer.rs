//! Committing a validated block: one synced ledger batch, with paired assertions around
//! it. A failed assertion here means the peer's own bookkeeping is wrong; crashing beats
//! serving a ledger that may diverge from the other carrier's.

use netsettle_ledger::{ChainInfo, DataHash, Ledger, LedgerError};
use tracing::debug;

use crate::validator::ValidatedBlock;

/// Writes `validated` (block, indexes, valid writes, history) atomically.
pub fn commit(ledger: &Ledger, validated: &ValidatedBlock) -> Result<ChainInfo, LedgerError> {
    let block = &validated.block;
    assert_eq!(
        block.metadata.validation_codes.len(),
        block.data.len(),
        "a validated block carries one code per envelope"
    );
    let number = block.header.number;
    // The moment the block's batch goes to RocksDB; node/tests/peer_kill.rs kills a peer
    // on this line to prove a `kill -9` here leaves the ledger at a block boundary.
    debug!(number, txs = block.data.len(), "writing block");
    // Every `ValidatedBlock` comes from the validator, which checked the data hash on this
    // value (`validator::check_block_shape`) and derived each envelope's tx id; neither
    // is hashed a second time.
    let info = ledger.commit_block_with_ids(block, DataHash::CheckedByCaller, &validated.tx_ids)?;
    assert_eq!(info.height, number.saturating_add(1));
    assert_eq!(info.current_hash, Some(block.hash()));
    debug!(number, "block committed");
    Ok(info)
}
