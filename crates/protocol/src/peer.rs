//! The small messages around a peer, for clients: the answer to an endorsement request
//! and the commit status of a transaction. (The request of an endorsement is a
//! [`SignedProposal`](crate::SignedProposal); blocks travel in a
//! [`BlockBatch`](crate::BlockBatch); service names are in `services`.)

use crate::codec::{Wire, check_len};
use crate::error::InvalidMessage;
use crate::header::TxId;
use crate::limits::{
    CONTROL_MESSAGE_BYTES_MAX, PROPOSAL_RESPONSE_BYTES_MAX, RESPONSE_MESSAGE_BYTES_MAX,
};
use crate::proposal::ProposalResponse;
use crate::validation::ValidationCode;

/// A peer's answer to a signed proposal.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum EndorseReply {
    /// Simulated and signed.
    Endorsed(Box<ProposalResponse>),
    /// Not endorsed: the proposal failed a check (status 400/403) or the contract refused
    /// it (its own status, e.g. 409 for a wrong state), or the peer is busy (503).
    Refused {
        /// HTTP-like status.
        status: u32,
        /// Why, for the caller.
        message: String,
    },
}

impl Wire for EndorseReply {
    const NAME: &'static str = "endorse reply";
    const BYTES_MAX: usize = PROPOSAL_RESPONSE_BYTES_MAX;

    fn check(&self) -> Result<(), InvalidMessage> {
        match self {
            EndorseReply::Endorsed(response) => response.check(),
            EndorseReply::Refused { message, .. } => {
                check_len("refusal message", message.len(), RESPONSE_MESSAGE_BYTES_MAX)
            }
        }
    }
}

/// Ask a peer whether a transaction committed, waiting up to `wait_ms` for it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TxStatusRequest {
    /// The transaction.
    pub tx_id: TxId,
    /// How long the peer may wait for the transaction to commit before answering
    /// [`TxStatus::NotCommitted`]; the peer caps it.
    pub wait_ms: u64,
}

impl Wire for TxStatusRequest {
    const NAME: &'static str = "tx status request";
    const BYTES_MAX: usize = CONTROL_MESSAGE_BYTES_MAX;

    fn check(&self) -> Result<(), InvalidMessage> {
        Ok(())
    }
}

/// Where a transaction stands on one peer.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum TxStatus {
    /// In a committed block, with the code the peer's validation gave it (only
    /// [`ValidationCode::Valid`] transactions changed state).
    Committed {
        /// Block number.
        block: u64,
        /// Index within the block.
        tx: u32,
        /// Validation code.
        code: ValidationCode,
    },
    /// Not in any block this peer committed (yet).
    NotCommitted {
        /// The peer's height when it answered.
        height: u64,
    },
}

impl Wire for TxStatus {
    const NAME: &'static str = "tx status";
    const BYTES_MAX: usize = CONTROL_MESSAGE_BYTES_MAX;

    fn check(&self) -> Result<(), InvalidMessage> {
        Ok(())
    }
}
