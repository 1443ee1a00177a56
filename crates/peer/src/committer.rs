//! Committing a validated block: one synced ledger batch, with paired assertions around
//! it. A failed assertion here means the peer's own bookkeeping is wrong; crashing beats
//! serving a ledger that may diverge from the other carrier's.

use netsettle_ledger::{ChainInfo, Ledger, LedgerError};

use crate::validator::ValidatedBlock;

/// Writes `validated` (block, indexes, valid writes, history) atomically.
pub fn commit(ledger: &Ledger, validated: &ValidatedBlock) -> Result<ChainInfo, LedgerError> {
    let block = &validated.block;
    assert_eq!(
        block.metadata.validation_codes.len(),
        block.data.len(),
        "a validated block carries one code per envelope"
    );
    let info = ledger.commit_block(block)?;
    assert_eq!(info.height, block.header.number.saturating_add(1));
    assert_eq!(info.current_hash, Some(block.hash()));
    Ok(info)
}
