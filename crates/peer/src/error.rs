//! Why the peer refused a proposal or a block. Per-transaction verdicts are not errors:
//! they are [`ValidationCode`](netsettle_protocol::ValidationCode)s recorded in the block.

use netsettle_ledger::LedgerError;
use netsettle_msp::{MspError, PolicyError};
use netsettle_net::NetError;
use netsettle_protocol::{InvalidMessage, ProtocolError, TxId};

/// A proposal the endorser will not simulate: the client's fault, with what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProposalRejected {
    /// The proposal breaks the protocol's limits or canonical form.
    #[error("malformed proposal: {0}")]
    Malformed(InvalidMessage),
    /// The proposal is for another channel.
    #[error("proposal for channel {got:?}, this peer serves {expected:?}")]
    WrongChannel {
        /// The channel served.
        expected: String,
        /// The proposal's channel.
        got: String,
    },
    /// The proposal's timestamp is too far from the endorser's clock.
    #[error("proposal time {proposal_ms} ms is more than {skew_ms_max} ms from now ({now_ms} ms)")]
    StaleTimestamp {
        /// The proposal's time.
        proposal_ms: u64,
        /// The endorser's time.
        now_ms: u64,
        /// The window allowed.
        skew_ms_max: u64,
    },
    /// The creator is not a valid member of the channel (unknown, expired, revoked).
    #[error("creator rejected: {0}")]
    Creator(MspError),
    /// The creator's signature over the proposal does not verify.
    #[error("the proposal signature does not verify")]
    BadSignature,
    /// The creator may not write on the channel.
    #[error("creator may not write on the channel: {0}")]
    NotWriter(PolicyError),
    /// A transaction with this id is already on the ledger (a replay).
    #[error("transaction {0} is already on the ledger")]
    DuplicateTxId(TxId),
    /// The contract is not defined on the channel, not installed here, or the proposal
    /// names another version than the one defined.
    #[error("contract {name:?} cannot run: {reason}")]
    UnknownContract {
        /// The contract named by the proposal.
        name: String,
        /// What is missing.
        reason: String,
    },
}

/// Why the endorser returned no endorsement.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EndorseError {
    /// The proposal was refused before the contract ran.
    #[error(transparent)]
    Rejected(#[from] ProposalRejected),
    /// The contract ran and returned an error; nothing is signed.
    #[error("contract returned {status}: {message}")]
    Contract {
        /// HTTP-style status (400–599).
        status: u32,
        /// The contract's message.
        message: String,
    },
    /// The contract's result does not fit the protocol's limits.
    #[error("the contract's result cannot be encoded: {0}")]
    Result(ProtocolError),
    /// Reading the committed state failed.
    #[error("ledger: {0}")]
    Ledger(#[from] LedgerError),
    /// The peer's service is shutting down or overloaded.
    #[error("the peer service is unavailable: {0}")]
    Unavailable(&'static str),
}

/// Why the peer's network side could not start or stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PeerNetError {
    /// The network refused to serve one of the peer's services (already served, or the
    /// network is shutting down).
    #[error("network: {0}")]
    Net(Box<NetError>),
    /// Subscribing to the channel's block topic failed.
    #[error("subscribing to {topic}: {source}")]
    Subscribe {
        /// The block topic.
        topic: String,
        /// What the network said.
        source: Box<NetError>,
    },
    /// A consenter's TLS certificate in the channel config does not parse.
    #[error("channel consenters: {0}")]
    Consenters(#[from] MspError),
    /// The peer pulls from the orderers, but the channel config names none it can reach.
    #[error("the channel has no consenters")]
    NoConsenters,
}

impl From<NetError> for PeerNetError {
    fn from(error: NetError) -> Self {
        // Boxed: the network's errors are large and these travel in every `Result`.
        PeerNetError::Net(Box::new(error))
    }
}
