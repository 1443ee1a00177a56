//! The small messages around a peer, for clients: the answer to an endorsement request
//! and the commit status of a transaction. (The request of an endorsement is a
//! [`SignedProposal`](crate::SignedProposal); blocks travel in a
//! [`BlockBatch`](crate::BlockBatch); service names are in `services`.)

use crate::codec::{Wire, check_count, check_len, check_non_empty};
use crate::error::InvalidMessage;
use crate::header::TxId;
use crate::limits::{
    CONTROL_MESSAGE_BYTES_MAX, ENDORSE_BATCH_BYTES_MAX, ENDORSE_BATCH_PROPOSALS_MAX,
    ENDORSE_BATCH_REPLY_BYTES_MAX, PROPOSAL_BYTES_MAX, PROPOSAL_RESPONSE_BYTES_MAX,
    RESPONSE_MESSAGE_BYTES_MAX, TX_STATUS_BATCH_IDS_MAX,
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

/// Ask a peer where several transactions stand, waiting up to `wait_ms` until at least
/// one of them has committed (a long poll for many commit waits at once, instead of one
/// [`TxStatusRequest`] each).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TxStatusBatchRequest {
    /// The transactions, 1 to [`TX_STATUS_BATCH_IDS_MAX`]; a repeated id is answered
    /// at each of its places.
    pub tx_ids: Vec<TxId>,
    /// How long the peer may wait, while none of them has committed, before answering
    /// them all [`TxStatus::NotCommitted`]; the peer caps it.
    pub wait_ms: u64,
}

impl Wire for TxStatusBatchRequest {
    const NAME: &'static str = "tx status batch request";
    const BYTES_MAX: usize = CONTROL_MESSAGE_BYTES_MAX;

    fn check(&self) -> Result<(), InvalidMessage> {
        if self.tx_ids.is_empty() {
            return Err(InvalidMessage::Empty {
                what: "tx status batch ids",
            });
        }
        check_count(
            "tx status batch ids",
            self.tx_ids.len(),
            TX_STATUS_BATCH_IDS_MAX,
        )
    }
}

/// The answer to a [`TxStatusBatchRequest`]: one status per id asked, in its order.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TxStatusBatch {
    /// Where each transaction stands.
    pub statuses: Vec<TxStatus>,
}

impl Wire for TxStatusBatch {
    const NAME: &'static str = "tx status batch";
    const BYTES_MAX: usize = CONTROL_MESSAGE_BYTES_MAX;

    fn check(&self) -> Result<(), InvalidMessage> {
        check_count(
            "tx status batch",
            self.statuses.len(),
            TX_STATUS_BATCH_IDS_MAX,
        )
    }
}

/// Several signed proposals for one peer in one request (`peer-endorse-batch`), each as
/// its own encoding: the peer checks, simulates and answers each as if it had come alone
/// (`peer-endorse`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct EndorseBatch {
    /// The encodings of the signed proposals.
    #[serde(with = "crate::codec::bytes_list")]
    pub proposals: Vec<Vec<u8>>,
}

impl Wire for EndorseBatch {
    const NAME: &'static str = "endorse batch";
    const BYTES_MAX: usize = ENDORSE_BATCH_BYTES_MAX;

    fn check(&self) -> Result<(), InvalidMessage> {
        check_non_empty("endorse batch", self.proposals.len())?;
        check_count(
            "proposals in an endorse batch",
            self.proposals.len(),
            ENDORSE_BATCH_PROPOSALS_MAX,
        )?;
        self.proposals.iter().try_for_each(|proposal| {
            check_len(
                "proposal in an endorse batch",
                proposal.len(),
                PROPOSAL_BYTES_MAX,
            )
        })
    }
}

/// The answer to an [`EndorseBatch`]: one [`EndorseReply`] per proposal, in the batch's
/// order.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct EndorseBatchReply(pub Vec<EndorseReply>);

impl Wire for EndorseBatchReply {
    const NAME: &'static str = "endorse batch reply";
    const BYTES_MAX: usize = ENDORSE_BATCH_REPLY_BYTES_MAX;

    fn check(&self) -> Result<(), InvalidMessage> {
        check_count(
            "replies to an endorse batch",
            self.0.len(),
            ENDORSE_BATCH_PROPOSALS_MAX,
        )?;
        self.0.iter().try_for_each(EndorseReply::check)
    }
}
