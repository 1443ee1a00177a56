//! The small messages around the ordering service, as in Fabric's AtomicBroadcast:
//! clients broadcast envelopes and get a status back; peers and clients ask to be
//! delivered blocks from a position, with a signed request the orderer checks against the
//! channel's Readers policy.

use netsettle_smcrypto::{PrivateKey, PublicKey, Signature};

use crate::block::Block;
use crate::codec::{Wire, check_len, domain, signing_bytes};
use crate::error::{InvalidMessage, ProtocolError};
use crate::header::{Identity, Nonce, Timestamp, check_name};
use crate::limits::{CONTROL_MESSAGE_BYTES_MAX, FRAME_BYTES_MAX, RESPONSE_MESSAGE_BYTES_MAX};
use crate::proposal::check_signature;

/// Outcome of a broadcast, with Fabric's HTTP-like meanings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub enum BroadcastStatus {
    /// Accepted for ordering (not yet in a block).
    Success,
    /// Malformed, wrong channel, or fails a check.
    BadRequest,
    /// The creator may not write on this channel.
    Forbidden,
    /// The channel does not exist on this orderer.
    NotFound,
    /// Larger than the batch policy's absolute maximum.
    RequestEntityTooLarge,
    /// No Raft leader right now, or the queue is full; retry later.
    ServiceUnavailable,
    /// The orderer failed internally.
    InternalServerError,
}

/// The orderer's answer to one broadcast envelope.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BroadcastResponse {
    /// Outcome.
    pub status: BroadcastStatus,
    /// Human-readable detail, empty on success.
    pub info: String,
}

impl Wire for BroadcastResponse {
    const NAME: &'static str = "broadcast response";
    const BYTES_MAX: usize = CONTROL_MESSAGE_BYTES_MAX;

    fn check(&self) -> Result<(), InvalidMessage> {
        check_len(
            "broadcast info",
            self.info.len(),
            RESPONSE_MESSAGE_BYTES_MAX,
        )
    }
}

/// Where delivery starts or stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum SeekPosition {
    /// The genesis block.
    Oldest,
    /// The latest block at the time the request is served.
    Newest,
    /// A given block number.
    Specified(u64),
}

/// A request for blocks of a channel.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DeliverRequest {
    /// The channel.
    pub channel: String,
    /// Who asks; must satisfy the channel's Readers policy.
    pub requester: Identity,
    /// Makes each request distinct, so a captured one cannot be replayed as-is once the
    /// orderer remembers recent nonces.
    pub nonce: Nonce,
    /// When it was made; the orderer refuses stale requests.
    pub timestamp: Timestamp,
    /// First block wanted.
    pub start: SeekPosition,
    /// Last block wanted, inclusive; `None` keeps streaming new blocks.
    pub stop: Option<SeekPosition>,
}

impl Wire for DeliverRequest {
    const NAME: &'static str = "deliver request";
    const BYTES_MAX: usize = CONTROL_MESSAGE_BYTES_MAX;

    fn check(&self) -> Result<(), InvalidMessage> {
        check_name("deliver channel", &self.channel)?;
        self.requester.check()
    }
}

/// A deliver request with the requester's SM2 signature over
/// `domain::DELIVER ‖ encode(request)`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SignedDeliverRequest {
    /// The request.
    pub request: DeliverRequest,
    /// The requester's signature.
    pub signature: Signature,
}

impl SignedDeliverRequest {
    /// Signs `request` with the requester's key.
    pub fn sign(key: &PrivateKey, request: DeliverRequest) -> Result<Self, ProtocolError> {
        let signature = key.sign(&signing_bytes(domain::DELIVER, &request)?);
        Ok(SignedDeliverRequest { request, signature })
    }

    /// Verifies the signature with the key the caller took from the requester's
    /// certificate.
    pub fn verify(&self, requester_key: &PublicKey) -> Result<(), ProtocolError> {
        let message = signing_bytes(domain::DELIVER, &self.request)?;
        requester_key
            .verify(&message, &self.signature)
            .map_err(|source| ProtocolError::Signature {
                what: "deliver request",
                source,
            })
    }
}

impl Wire for SignedDeliverRequest {
    const NAME: &'static str = "signed deliver request";
    const BYTES_MAX: usize = CONTROL_MESSAGE_BYTES_MAX;

    fn check(&self) -> Result<(), InvalidMessage> {
        self.request.check()?;
        check_signature(&self.signature)
    }
}

/// Why a delivery stream ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub enum DeliverStatus {
    /// Every requested block was sent.
    Success,
    /// The request is malformed or its signature does not verify.
    BadRequest,
    /// The requester may not read this channel.
    Forbidden,
    /// The channel or the start block does not exist.
    NotFound,
    /// The orderer cannot serve now; retry later.
    ServiceUnavailable,
}

/// One message of a delivery stream: a block, or the final status.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum DeliverResponse {
    /// The next block.
    Block(Block),
    /// The stream ends.
    Status(DeliverStatus),
}

impl Wire for DeliverResponse {
    const NAME: &'static str = "deliver response";
    const BYTES_MAX: usize = FRAME_BYTES_MAX;

    fn check(&self) -> Result<(), InvalidMessage> {
        match self {
            DeliverResponse::Block(block) => block.check(),
            DeliverResponse::Status(_) => Ok(()),
        }
    }
}

/// The network service of signed delivery (`netsettle_orderer::net` serves it): request
/// `encode(SignedDeliverRequest)`, response `encode(DeliverBatch)`.
pub const DELIVER_SERVICE: &str = "orderer-deliver";

/// Blocks in one `orderer-deliver` answer.
pub const DELIVER_BATCH_BLOCKS_MAX: usize = 16;

/// One answer of `orderer-deliver`: the next blocks of the requested range, at most
/// [`DELIVER_BATCH_BLOCKS_MAX`] and one maximum-size block's worth of bytes, and the status
/// once the stream ended (`None`: more may follow, ask again from the next block).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DeliverBatch {
    /// Consecutive blocks from the requested start.
    pub blocks: Vec<Block>,
    /// Why the stream ended, if it did.
    pub status: Option<DeliverStatus>,
}

impl Wire for DeliverBatch {
    const NAME: &'static str = "deliver batch";
    const BYTES_MAX: usize = FRAME_BYTES_MAX;

    fn check(&self) -> Result<(), InvalidMessage> {
        if self.blocks.len() > DELIVER_BATCH_BLOCKS_MAX {
            return Err(InvalidMessage::TooMany {
                what: "blocks in a deliver batch",
                max: DELIVER_BATCH_BLOCKS_MAX,
                actual: self.blocks.len(),
            });
        }
        self.blocks.iter().try_for_each(Block::check)
    }
}
