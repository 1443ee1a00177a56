//! Errors of the ordering service, one enum per caller: [`BroadcastError`] for a client
//! submitting an envelope, [`DeliverError`] for a client asking for blocks,
//! [`StorageError`] for the Raft log store, and [`OrdererError`] for starting and running
//! the service.

use netsettle_ledger::LedgerError;
use netsettle_msp::{ConfigUpdateError, MspError, PolicyError};
use netsettle_protocol::{BroadcastStatus, CodecError, DeliverStatus, TxId};

/// Why a broadcast envelope was not accepted. Each variant says whether retrying helps.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BroadcastError {
    /// The envelope does not decode or breaks a protocol limit. Do not retry.
    #[error("malformed envelope: {0}")]
    Malformed(String),
    /// The envelope names another channel. Do not retry.
    #[error("envelope for channel {got:?}, this orderer serves {expected:?}")]
    WrongChannel {
        /// This orderer's channel.
        expected: String,
        /// The envelope's channel.
        got: String,
    },
    /// The creator is not a valid member of the organisation it names (unknown org,
    /// expired, revoked, wrong CA). Do not retry.
    #[error("creator rejected: {0}")]
    Creator(MspError),
    /// The creator's signature does not verify. Do not retry.
    #[error("bad envelope signature")]
    BadSignature,
    /// The creator does not satisfy the channel's Writers policy. Do not retry.
    #[error("creator may not write on this channel: {0}")]
    Forbidden(PolicyError),
    /// The envelope is larger than the batch policy's absolute maximum. Do not retry.
    #[error("envelope of {bytes} bytes exceeds the block limit of {max} bytes")]
    TooLarge {
        /// Encoded size.
        bytes: u64,
        /// `absolute_bytes_max` of the batch policy.
        max: u64,
    },
    /// A transaction with this id is already in the chain or being ordered: a replay, or
    /// a retry of a submission that did land.
    #[error("transaction {0} is already ordered or being ordered")]
    Duplicate(TxId),
    /// Clients may not submit `Payload::Config`; orderers produce those from updates.
    #[error("config envelopes are produced by orderers; submit a config update instead")]
    ConfigEnvelope,
    /// The config update may not replace the configuration in force. Do not retry as is.
    #[error("config update rejected: {0}")]
    ConfigUpdate(ConfigUpdateError),
    /// The config update changes the consenter set in a way the ordering service does
    /// not allow. Do not retry as is.
    #[error("consenter change refused: {0}")]
    ConsenterChange(ConsenterChangeError),
    /// This orderer is not a consenter of the configuration in force (it was removed, or
    /// has not been added yet). Send to another orderer.
    #[error("this orderer is not a consenter of the channel; send to another orderer")]
    NotAConsenter,
    /// No Raft leader is known yet (an election is running). Retry shortly.
    #[error("no Raft leader yet (election in progress); retry shortly")]
    NoLeader,
    /// No leader for longer than an election takes: fewer than a quorum of consenters
    /// are reachable. Retry once consenters are back.
    #[error("no quorum: fewer than a majority of consenters are reachable")]
    NoQuorum,
    /// The orderer's queues are full. Retry later.
    #[error("orderer busy; retry later")]
    Busy,
    /// Accepted, but not ordered within the wait limit (leader change or quorum lost).
    /// Retrying the same envelope is safe: if the first attempt landed, the retry is
    /// refused as a duplicate.
    #[error("not ordered in time (leader change or quorum lost); retrying is safe")]
    NotOrderedInTime,
    /// The channel configuration changed while the envelope was being checked. Retry.
    #[error("channel configuration changed while checking; retry")]
    ConfigChanged,
    /// The ordering service is shutting down or has failed.
    #[error("ordering service stopped")]
    Stopped,
    /// The envelope's timestamp is further from this orderer's clock than the channel's
    /// bound (`OrdererConfig::envelope_time_skew_secs_max`): back-dated, forward-dated, or
    /// held too long after endorsement. Re-endorse with a fresh proposal.
    #[error(
        "envelope timestamp {timestamp_unix_ms} ms is more than {skew_secs_max} s from the orderer's clock ({now_unix_ms} ms)"
    )]
    TimestampOutOfRange {
        /// The envelope header's timestamp, unix milliseconds.
        timestamp_unix_ms: u64,
        /// This orderer's clock, unix milliseconds.
        now_unix_ms: u64,
        /// The bound in force, seconds.
        skew_secs_max: u64,
    },
}

impl BroadcastError {
    /// The status a broadcast response carries for this error.
    pub fn status(&self) -> BroadcastStatus {
        match self {
            BroadcastError::Malformed(_)
            | BroadcastError::WrongChannel { .. }
            | BroadcastError::BadSignature
            | BroadcastError::Duplicate(_)
            | BroadcastError::ConfigEnvelope
            | BroadcastError::ConfigUpdate(_)
            | BroadcastError::ConsenterChange(_)
            | BroadcastError::TimestampOutOfRange { .. } => BroadcastStatus::BadRequest,
            BroadcastError::Creator(_) | BroadcastError::Forbidden(_) => BroadcastStatus::Forbidden,
            BroadcastError::TooLarge { .. } => BroadcastStatus::RequestEntityTooLarge,
            BroadcastError::NotAConsenter
            | BroadcastError::NoLeader
            | BroadcastError::NoQuorum
            | BroadcastError::Busy
            | BroadcastError::NotOrderedInTime
            | BroadcastError::ConfigChanged
            | BroadcastError::Stopped => BroadcastStatus::ServiceUnavailable,
        }
    }
}

/// Why a delivery request was refused or a stream ended early.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DeliverError {
    /// The request is malformed, for another channel, stale, or its signature fails.
    #[error("bad deliver request: {0}")]
    BadRequest(String),
    /// The requester does not satisfy the channel's Readers policy.
    #[error("requester may not read this channel: {0}")]
    Forbidden(String),
    /// The requested range is empty or starts beyond a stop position that exists.
    #[error("requested blocks not found: {0}")]
    NotFound(String),
    /// Too many streams, or the orderer is stopping. Retry later.
    #[error("deliver unavailable: {0}")]
    Unavailable(String),
}

impl DeliverError {
    /// The status that ends the stream for this error.
    pub fn status(&self) -> DeliverStatus {
        match self {
            DeliverError::BadRequest(_) => DeliverStatus::BadRequest,
            DeliverError::Forbidden(_) => DeliverStatus::Forbidden,
            DeliverError::NotFound(_) => DeliverStatus::NotFound,
            DeliverError::Unavailable(_) => DeliverStatus::ServiceUnavailable,
        }
    }
}

/// Why an `orderer-raft` request was refused: only the consenters of the configuration
/// in force speak Raft, each only as itself. Nothing of a refused request is stepped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RaftRefusal {
    /// The sender's TLS certificate is not the one the configuration in force lists for
    /// any consenter: an orderer-role certificate that is not a consenter (minted, or of a
    /// removed consenter).
    #[error("{sender} is not a consenter of config {config_sequence}")]
    NotAConsenter {
        /// The sender's certificate subject and organisation.
        sender: String,
        /// The sequence of the configuration in force.
        config_sequence: u64,
    },
    /// A message claims to come from another consenter than the one that sent it.
    #[error("forged raft sender: consenter {sender} sent a message from {claimed}")]
    ForgedSender {
        /// The consenter id the authenticated sender has.
        sender: u64,
        /// The `from` the message claims.
        claimed: u64,
    },
    /// A message does not decode or is over the size limit.
    #[error("raft message refused: {0}")]
    Malformed(String),
    /// A snapshot that does not decode or does not fit this orderer's chain.
    #[error("raft snapshot refused: {0}")]
    BadSnapshot(String),
    /// The orderer's input queue is full or it stopped; Raft retransmits.
    #[error("orderer busy")]
    Busy,
}

/// Why a config update's change of the consenter set was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConsenterChangeError {
    /// More than one consenter added, removed or renewed in one update.
    #[error(
        "config update changes more than one consenter at once (added {added:?}, removed {removed:?}, renewed {renewed:?}); add, remove or renew one per update"
    )]
    MoreThanOne {
        /// Consenter ids the update adds.
        added: Vec<u64>,
        /// Consenter ids the update removes.
        removed: Vec<u64>,
        /// Consenter ids whose TLS certificate the update replaces.
        renewed: Vec<u64>,
    },
    /// The previous consenter change has not taken effect in Raft yet.
    #[error(
        "the previous consenter change is not in effect yet (Raft voters {voters:?}, consenters {consenters:?}); retry once it is"
    )]
    InProgress {
        /// Raft's voters now.
        voters: Vec<u64>,
        /// The consenters of the configuration in force.
        consenters: Vec<u64>,
    },
    /// A consenter kept by the update has another organisation: remove it and add it
    /// under a new id instead.
    #[error("consenter {id} keeps its id but changes organisation")]
    IdentityChanged {
        /// The consenter id.
        id: u64,
    },
    /// A consenter's new TLS certificate is not a renewal of its old one: it does not
    /// parse, names another node (common name), or is not issued by the consenter's
    /// organisation's TLS CAs.
    #[error("consenter {id}: new TLS certificate refused: {reason}")]
    RenewalRefused {
        /// The consenter id.
        id: u64,
        /// What is wrong with the new certificate.
        reason: String,
    },
    /// Two consenters share an id.
    #[error("config update lists a consenter id twice")]
    DuplicateId,
    /// The update removes the last consenter.
    #[error("config update removes the last consenter")]
    NoneLeft,
}

/// Why blocks another orderer sent for catch-up were refused. Nothing of a refused batch
/// is written; the orderer asks another consenter.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CatchUpError {
    /// The block is not the next one after the stored chain.
    #[error("fetched block {got} is not the next block {expected}")]
    WrongNumber {
        /// The stored chain's height.
        expected: u64,
        /// The block's number.
        got: u64,
    },
    /// The block's previous hash is not the stored chain's last hash.
    #[error("fetched block {number} does not link to the stored chain")]
    DoesNotLink {
        /// The block's number.
        number: u64,
    },
    /// The block's data does not hash to its header's data hash.
    #[error("fetched block {number}: data does not match the header's data hash")]
    DataHash {
        /// The block's number.
        number: u64,
    },
    /// The block carries no orderer signature.
    #[error("fetched block {number} carries no orderer signature")]
    Unsigned {
        /// The block's number.
        number: u64,
    },
    /// No signature is a valid one of a consenter of the configuration in force (bad
    /// signature, unknown or non-consenter orderer, not an orderer).
    #[error("fetched block {number} has no valid consenter signature: {reason}")]
    NoConsenterSignature {
        /// The block's number.
        number: u64,
        /// Why each signature was refused.
        reason: String,
    },
    /// The last block wanted does not have the hash the Raft state agreed on.
    #[error("fetched block {number} is not the block the Raft log agreed on")]
    NotTheAgreedChain {
        /// The block's number.
        number: u64,
    },
    /// A fetched config block holds no usable configuration.
    #[error("fetched config block {number}: {reason}")]
    BadConfig {
        /// The block's number.
        number: u64,
        /// What is wrong with it.
        reason: String,
    },
}

/// The Raft log store failed. The core cannot go on safely after a failed write: the
/// service stops rather than risk acknowledging what is not durable.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// RocksDB failed to open, read or write.
    #[error("raft log database: {0}")]
    Database(#[from] rocksdb::Error),
    /// A stored record does not decode: the directory is damaged or from another build.
    #[error("raft log record {what} is corrupt")]
    Corrupt {
        /// Which record.
        what: &'static str,
    },
    /// A log entry or snapshot could not be encoded or decoded.
    #[error("raft log codec: {0}")]
    Codec(#[from] CodecError),
}

/// Starting or running the ordering service failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OrdererError {
    /// The Raft log store failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The orderer's ledger failed.
    #[error("orderer ledger: {0}")]
    Ledger(#[from] LedgerError),
    /// raft-rs refused the configuration or failed.
    #[error("raft: {0}")]
    Raft(#[from] raft::Error),
    /// The genesis block or the ledger does not hold a usable channel configuration.
    #[error("channel configuration: {0}")]
    Config(String),
    /// This orderer is not one of the channel's consenters.
    #[error("consenter id {0} is not in the channel's consenter set")]
    NotAConsenter(u64),
    /// Building the channel's MSPs failed.
    #[error("channel MSPs: {0}")]
    Msp(#[from] MspError),
    /// A block could not be built or signed.
    #[error("block: {0}")]
    Block(String),
    /// The core thread ended on its own (storage failed or it panicked); the orderer
    /// orders nothing more.
    #[error("orderer core stopped: {0}")]
    CoreStopped(String),
}
