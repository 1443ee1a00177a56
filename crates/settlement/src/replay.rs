//! Re-derivation for audit: re-run a channel's settlement transactions, in ledger order,
//! through the contract on [`MemoryState`] (the peer's simulator over state in memory),
//! and read the result back. Because the
//! contract is deterministic, the final data re-derived (digest, totals, payer) must equal
//! the final data on the chain; any difference means the ledger or a peer is wrong.
//!
//! The caller (the node's audit command, or a test) reads the committed blocks, keeps the
//! transactions the peers marked valid for the settlement namespace, and turns each into a
//! [`RecordedCall`] with the creator as the channel's MSPs validated it. This module never
//! touches RocksDB.

use netsettle_contract::{ContractError, Creator, Invocation, MemoryState};
use netsettle_protocol::{Timestamp, TxId};

use crate::contract::CONTRACT_NAME;
use crate::contract::SettlementContract;
use crate::finance::FinalData;
use crate::store::final_key;
use crate::units::Period;

/// One committed, valid settlement transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedCall {
    /// The validated creator.
    pub creator: Creator,
    /// The transaction id.
    pub tx_id: TxId,
    /// The proposal time.
    pub timestamp: Timestamp,
    /// The function.
    pub function: String,
    /// Its arguments.
    pub args: Vec<Vec<u8>>,
}

/// A replay that refused a transaction the chain accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("transaction {index} ({function}) was valid on the chain but fails on replay: {error}")]
pub struct ReplayError {
    /// Position in the replayed sequence.
    pub index: usize,
    /// Its function.
    pub function: String,
    /// The contract's answer.
    pub error: ContractError,
}

/// Replays `calls` in order on a fresh in-memory state, one block per call.
pub fn replay(calls: impl IntoIterator<Item = RecordedCall>) -> Result<MemoryState, ReplayError> {
    let mut state = MemoryState::new();
    for (index, call) in calls.into_iter().enumerate() {
        let invocation = Invocation {
            channel: String::new(),
            namespace: CONTRACT_NAME.to_owned(),
            creator: call.creator,
            tx_id: call.tx_id,
            timestamp: call.timestamp,
        };
        state
            .execute(&SettlementContract, &invocation, &call.function, &call.args)
            .map_err(|error| ReplayError {
                index,
                function: call.function.clone(),
                error,
            })?;
    }
    Ok(state)
}

/// The final data of `period` in a replayed state, if the period reached final.
pub fn final_data(state: &MemoryState, period: Period) -> Option<FinalData> {
    let key = final_key(period).ok()?;
    netsettle_protocol::decode(&state.value(CONTRACT_NAME, &key)?.value).ok()
}
