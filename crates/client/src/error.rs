//! Why a client-side step failed.

use netsettle_protocol::ProtocolError;

/// A client-side failure, or the consortium's refusal as the client saw it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The system random source failed (nonce generation).
    #[error("random source failed: {0}")]
    Random(#[source] netsettle_smcrypto::CryptoError),
    /// The system clock is before 1970 or beyond what a timestamp holds.
    #[error("system clock unusable for a timestamp")]
    Clock,
    /// Encoding or signing a message failed (e.g. it exceeds a protocol limit).
    #[error(transparent)]
    Protocol(#[from] ProtocolError),
    /// No endorsement was collected.
    #[error("no endorsements to assemble")]
    NoEndorsements,
    /// An endorsement answers a different proposal.
    #[error("endorsement {index} answers another proposal")]
    WrongProposal {
        /// Position among the collected responses.
        index: usize,
    },
    /// The endorsing peer's contract refused the call.
    #[error("endorsement {index}: the contract answered {status}: {message}")]
    Refused {
        /// Position among the collected responses.
        index: usize,
        /// The contract's status code.
        status: u32,
        /// Its message.
        message: String,
    },
    /// Endorsers simulated different results (state differs between them, or the
    /// contract is not deterministic); the transaction would fail the endorsement policy.
    #[error("endorsement {index} differs from endorsement 0 ({what})")]
    Mismatch {
        /// Position of the first differing response.
        index: usize,
        /// Which part differs: `read-write set`, `response`, `events` or `contract`.
        what: &'static str,
    },
    /// The same peer endorsed twice.
    #[error("endorsement {index} repeats an earlier endorser")]
    DuplicateEndorser {
        /// Position of the repeated endorser.
        index: usize,
    },
    /// A peer refused to endorse.
    #[error("{peer} peer refused to endorse ({status}): {message}")]
    Endorsement {
        /// The peer's organisation.
        peer: String,
        /// HTTP-like status: the contract's own, or 403 for a refused proposal.
        status: u32,
        /// Why.
        message: String,
    },
    /// No peer of an organisation the transaction needs could be reached (each listed
    /// peer tried once, in the profile's order). Start one, or list another.
    #[error("no {org} peer reachable ({tried} tried; last: {last})")]
    OrgUnreachable {
        /// The organisation.
        org: String,
        /// How many of its peers were tried.
        tried: usize,
        /// Why the last one could not be reached.
        last: String,
    },
    /// A peer's endorsement names an endorser of another organisation than the peer's.
    #[error("a {asked} peer endorsed as {endorser}")]
    WrongEndorser {
        /// The organisation of the peer asked.
        asked: String,
        /// The organisation its endorsement names.
        endorser: String,
    },
    /// The orderers refused the transaction, or none accepted it in time.
    #[error("broadcast failed ({status}): {info}")]
    Broadcast {
        /// The orderer's status.
        status: String,
        /// Its explanation.
        info: String,
    },
    /// A node answered a batch (of broadcasts to an orderer, of proposals to a peer) with
    /// a different number of answers than items, so no item of the batch knows its
    /// answer. The node is faulty; for broadcasts, whether any envelope landed is unknown
    /// (a resubmission is refused as a duplicate if it did).
    #[error("{node} answered {answers} answers to a {service} request of {items} items")]
    BatchAnswer {
        /// The node (network id).
        node: String,
        /// The batch service.
        service: &'static str,
        /// Items in the batch.
        items: usize,
        /// Answers in its answer.
        answers: usize,
    },
    /// A peer's answer to a status batch did not give one status per transaction asked.
    #[error("peer {peer} answered {answered} statuses to a batch of {asked} transactions")]
    StatusAnswer {
        /// The peer (network id).
        peer: String,
        /// Transactions asked about.
        asked: usize,
        /// Statuses in its answer.
        answered: usize,
    },
    /// The transaction was ordered but did not show up as committed in time.
    #[error("the transaction was not committed in time")]
    NotCommitted,
    /// The network failed.
    #[error("network: {0}")]
    Net(#[from] netsettle_net::NetError),
    /// A reply could not be decoded.
    #[error("bad reply: {0}")]
    Codec(#[from] netsettle_protocol::CodecError),
    /// A profile, genesis block or identity file could not be read or parsed.
    #[error("{path}: {reason}")]
    File {
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The connection profile is inconsistent.
    #[error("connection profile: {reason}")]
    Profile {
        /// What is wrong.
        reason: String,
    },
    /// A config block was committed, but a peer marked it invalid (its configuration is
    /// not in force there).
    #[error("the config transaction {tx_id} was committed as {code} at a {peer} peer")]
    ConfigNotInForce {
        /// The config transaction.
        tx_id: netsettle_protocol::TxId,
        /// The peer's organisation.
        peer: String,
        /// The code it gave.
        code: netsettle_protocol::ValidationCode,
    },
    /// An endorsement's signature does not verify with its endorser's certificate.
    #[error("endorsement {index} does not verify: {reason}")]
    BadEndorsement {
        /// Position among the collected responses.
        index: usize,
        /// What failed.
        reason: String,
    },
    /// The contract refused a settlement call (or the peer refused its proposal): the
    /// contract's status code (400 malformed, 403 wrong carrier or role, 404 unknown,
    /// 409 wrong phase or stale version, 413 too large) and its one-line reason.
    #[error("{function} refused ({status}): {message}")]
    Contract {
        /// The contract function.
        function: String,
        /// The status code.
        status: u32,
        /// The contract's message.
        message: String,
    },
    /// The transaction was committed but marked invalid: it changed nothing.
    #[error("transaction {tx_id} was committed in block {block} as {code}: it changed nothing")]
    NotValid {
        /// The transaction.
        tx_id: netsettle_protocol::TxId,
        /// The block holding it.
        block: u64,
        /// The validation code.
        code: netsettle_protocol::ValidationCode,
    },
    /// The contract's answer is not what this client expects (a contract of another
    /// version).
    #[error("{function}: unexpected answer: {reason}")]
    Answer {
        /// The contract function.
        function: String,
        /// What did not parse.
        reason: String,
    },
    /// A request the client refuses before sending it (e.g. a report of another carrier,
    /// a reveal with no key kept).
    #[error("{0}")]
    Request(String),
    /// A report could not be read or sealed.
    #[error("report: {0}")]
    Report(#[from] netsettle_settlement::SettleError),
    /// The local key store refused or failed.
    #[error(transparent)]
    KeyStore(#[from] crate::keystore::KeyStoreError),
    /// An event stream ended: the orderer refused delivery, a block could not be checked,
    /// or the connection failed. Resume from the last cursor seen.
    #[error("event stream ended: {0}")]
    Events(String),
}

impl ClientError {
    /// The contract's (or the refusing peer's) status code, when the consortium refused
    /// the call, as opposed to the client or network failing.
    pub fn status(&self) -> Option<u32> {
        match self {
            Self::Contract { status, .. }
            | Self::Endorsement { status, .. }
            | Self::Refused { status, .. } => Some(*status),
            _ => None,
        }
    }
}
