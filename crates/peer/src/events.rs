//! Commit events for local subscribers (the gateway and the CLI wait on them): one
//! [`BlockEvent`] per committed block, listing every transaction's code and, for valid
//! transactions, the events their contract emitted.
//!
//! Delivery is a bounded broadcast: each subscriber has its own queue of
//! [`EVENT_SUBSCRIBER_QUEUE_MAX`](crate::limits::EVENT_SUBSCRIBER_QUEUE_MAX) blocks; one that
//! falls further behind loses the oldest and is told how many it missed, so a slow
//! subscriber never holds up the committer. It can then re-read the blocks from the ledger.

use std::sync::Arc;

use netsettle_protocol::{ContractEvent, ContractId, Payload, TxId, ValidationCode};
use netsettle_smcrypto::Hash;

use crate::validator::ValidatedBlock;

/// One transaction's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxEvent {
    /// The transaction id.
    pub tx_id: TxId,
    /// Its position in the block.
    pub index: u32,
    /// The verdict.
    pub code: ValidationCode,
    /// The contract it invoked; `None` for config transactions.
    pub contract: Option<ContractId>,
    /// Events its contract emitted; empty unless the transaction is valid.
    pub events: Vec<ContractEvent>,
}

/// A committed block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockEvent {
    /// Block number.
    pub number: u64,
    /// Block hash.
    pub hash: Hash,
    /// Per transaction, in block order.
    pub txs: Vec<TxEvent>,
    /// Whether this block put a new channel configuration in force.
    pub config_changed: bool,
}

impl BlockEvent {
    /// The event for a block just committed.
    pub fn from_validated(validated: &ValidatedBlock) -> Arc<Self> {
        let block = &validated.block;
        let txs = block
            .data
            .iter()
            .zip(&block.metadata.validation_codes)
            .zip(&validated.tx_ids)
            .zip(0u32..)
            .map(|(((envelope, code), tx_id), index)| {
                let (contract, events) = match &envelope.payload {
                    Payload::Transaction(tx) => (
                        Some(tx.proposal.contract.clone()),
                        if code.is_valid() {
                            tx.response.action.events.clone()
                        } else {
                            Vec::new()
                        },
                    ),
                    Payload::Config { .. } | Payload::ConfigUpdate { .. } => (None, Vec::new()),
                };
                TxEvent {
                    tx_id: *tx_id,
                    index,
                    code: *code,
                    contract,
                    events,
                }
            })
            .collect();
        Arc::new(BlockEvent {
            number: block.header.number,
            hash: block.hash(),
            txs,
            config_changed: validated.new_config.is_some(),
        })
    }

    /// The outcome of `tx_id` in this block, if it is here.
    pub fn tx(&self, tx_id: &TxId) -> Option<&TxEvent> {
        self.txs.iter().find(|tx| tx.tx_id == *tx_id)
    }
}
