//! The small messages around the ordering service, as in Fabric's AtomicBroadcast:
//! clients broadcast envelopes and get a status back; peers and clients ask to be
//! delivered blocks from a position, with a signed request the orderer checks against the
//! channel's Readers policy; operators ask an orderer for its status or a leader
//! transfer (`orderer-admin`).

use netsettle_smcrypto::{PrivateKey, PublicKey, Signature};

use crate::block::Block;
use crate::codec::{Wire, check_count, check_len, check_non_empty, decode, domain, signing_bytes};
use crate::error::{CodecError, InvalidMessage, ProtocolError};
use crate::header::{Identity, Nonce, Timestamp, check_name};
use crate::limits::{
    ADMIN_REFUSAL_BYTES_MAX, ADMIN_STATUS_IDS_MAX, BROADCAST_BATCH_BYTES_MAX,
    BROADCAST_BATCH_ENVELOPES_MAX, BROADCAST_BATCH_RESPONSE_BYTES_MAX, CONTROL_MESSAGE_BYTES_MAX,
    ENVELOPE_BYTES_MAX, FRAME_BYTES_MAX, NODE_ID_TEXT_BYTES_MAX, RESPONSE_MESSAGE_BYTES_MAX,
};
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
    /// Human-readable detail; on success, the id of the transaction that landed.
    pub info: String,
    /// The network id (text form) of the Raft leader as the answering orderer knows it,
    /// `None` when it knows none. Clients send their next broadcast there first, which
    /// saves a follower's forwarding hop; it is a hint from one orderer, never trusted
    /// beyond the client's own list of orderers.
    pub leader: Option<String>,
}

impl Wire for BroadcastResponse {
    const NAME: &'static str = "broadcast response";
    const BYTES_MAX: usize = CONTROL_MESSAGE_BYTES_MAX;

    fn check(&self) -> Result<(), InvalidMessage> {
        check_len(
            "broadcast info",
            self.info.len(),
            RESPONSE_MESSAGE_BYTES_MAX,
        )?;
        check_len(
            "broadcast leader hint",
            self.leader.as_ref().map_or(0, String::len),
            NODE_ID_TEXT_BYTES_MAX,
        )
    }
}

impl BroadcastResponse {
    /// Decodes an orderer's answer, also from an orderer built before answers named the
    /// leader (its answer lacks `leader`, read as `None`), so a client of this build works
    /// with older orderers, as the benches' before-and-after runs need. The two layouts
    /// cannot be mistaken for each other: the newer one has the option's tag byte after
    /// `info`, which the older one lacks.
    pub fn decode_any(bytes: &[u8]) -> Result<BroadcastResponse, CodecError> {
        decode::<BroadcastResponse>(bytes).or_else(|error| {
            decode::<BroadcastResponseWithoutLeader>(bytes)
                .map(|older| BroadcastResponse {
                    status: older.status,
                    info: older.info,
                    leader: None,
                })
                .map_err(|_| error)
        })
    }
}

/// [`BroadcastResponse`] as orderers built before the leader hint encode it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct BroadcastResponseWithoutLeader {
    status: BroadcastStatus,
    info: String,
}

impl Wire for BroadcastResponseWithoutLeader {
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

/// Several envelopes for one orderer in one `orderer-broadcast-batch` request, each as its
/// encoding (`encode(Envelope)`), in order. The envelopes stay opaque here: the orderer
/// decodes each on its own, so one malformed envelope is refused alone, as if it had been
/// broadcast by itself. Between 1 and [`BROADCAST_BATCH_ENVELOPES_MAX`] of them, each at
/// most an envelope's limit.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BroadcastBatch {
    /// The envelopes' encodings.
    #[serde(with = "crate::codec::bytes_list")]
    pub envelopes: Vec<Vec<u8>>,
}

impl Wire for BroadcastBatch {
    const NAME: &'static str = "broadcast batch";
    const BYTES_MAX: usize = BROADCAST_BATCH_BYTES_MAX;

    fn check(&self) -> Result<(), InvalidMessage> {
        check_non_empty("broadcast batch", self.envelopes.len())?;
        check_count(
            "envelopes in a broadcast batch",
            self.envelopes.len(),
            BROADCAST_BATCH_ENVELOPES_MAX,
        )?;
        self.envelopes.iter().try_for_each(|envelope| {
            check_len(
                "envelope in a broadcast batch",
                envelope.len(),
                ENVELOPE_BYTES_MAX,
            )
        })
    }
}

/// The answer to a [`BroadcastBatch`]: one [`BroadcastResponse`] per envelope, in the
/// batch's order.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BroadcastBatchResponse(pub Vec<BroadcastResponse>);

impl Wire for BroadcastBatchResponse {
    const NAME: &'static str = "broadcast batch response";
    const BYTES_MAX: usize = BROADCAST_BATCH_RESPONSE_BYTES_MAX;

    fn check(&self) -> Result<(), InvalidMessage> {
        check_count(
            "responses to a broadcast batch",
            self.0.len(),
            BROADCAST_BATCH_ENVELOPES_MAX,
        )?;
        self.0.iter().try_for_each(BroadcastResponse::check)
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

/// What an operator asks an orderer.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub enum AdminRequest {
    /// The orderer's Raft and chain state.
    Status,
    /// Hand Raft leadership to consenter `to` (forwarded to the leader).
    TransferLeader {
        /// The consenter id to lead next.
        to: u64,
    },
}

impl Wire for AdminRequest {
    const NAME: &'static str = "orderer admin request";
    const BYTES_MAX: usize = 64;

    fn check(&self) -> Result<(), InvalidMessage> {
        Ok(())
    }
}

/// One orderer's state as it sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OrdererStatus {
    /// This orderer's consenter id.
    pub consenter_id: u64,
    /// The Raft leader it knows (0: none).
    pub leader_id: u64,
    /// The Raft term.
    pub term: u64,
    /// Blocks in its chain.
    pub height: u64,
    /// The last Raft log index applied.
    pub applied_index: u64,
    /// The index of its latest Raft snapshot.
    pub snapshot_index: u64,
    /// Raft voters (the applied conf state).
    pub voters: Vec<u64>,
    /// Raft learners.
    pub learners: Vec<u64>,
    /// The consenters of the channel configuration in force.
    pub consenters: Vec<u64>,
    /// The sequence of the configuration in force.
    pub config_sequence: u64,
    /// Whether it is fetching blocks from another orderer before applying more.
    pub catching_up: bool,
    /// Envelopes committed in the Raft log and not yet cut into a block.
    pub pending_envelopes: u64,
}

impl OrdererStatus {
    /// Whether the configuration in force lists this orderer (false once removed).
    pub fn is_consenter(&self) -> bool {
        self.consenters.contains(&self.consenter_id)
    }
}

/// An orderer's answer.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub enum AdminReply {
    /// The state asked for.
    Status(OrdererStatus),
    /// The transfer was handed to Raft; `leader` led when it was asked.
    TransferRequested {
        /// The leader at the time.
        leader: u64,
    },
    /// The request cannot be carried out, and why.
    Refused(String),
}

impl Wire for AdminReply {
    const NAME: &'static str = "orderer admin reply";
    const BYTES_MAX: usize = CONTROL_MESSAGE_BYTES_MAX;

    fn check(&self) -> Result<(), InvalidMessage> {
        match self {
            AdminReply::Status(status) => {
                for (what, ids) in [
                    ("status voters", &status.voters),
                    ("status learners", &status.learners),
                    ("status consenters", &status.consenters),
                ] {
                    if ids.len() > ADMIN_STATUS_IDS_MAX {
                        return Err(InvalidMessage::TooMany {
                            what,
                            max: ADMIN_STATUS_IDS_MAX,
                            actual: ids.len(),
                        });
                    }
                }
                Ok(())
            }
            AdminReply::TransferRequested { .. } => Ok(()),
            AdminReply::Refused(reason) if reason.len() > ADMIN_REFUSAL_BYTES_MAX => {
                Err(InvalidMessage::TooLong {
                    what: "admin refusal",
                    max: ADMIN_REFUSAL_BYTES_MAX,
                    actual: reason.len(),
                })
            }
            AdminReply::Refused(_) => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::encode;

    #[test]
    fn a_broadcast_answer_of_an_older_orderer_still_decodes() {
        let older = encode(&BroadcastResponseWithoutLeader {
            status: BroadcastStatus::ServiceUnavailable,
            info: "no leader".to_owned(),
        })
        .unwrap();
        let expected = BroadcastResponse {
            status: BroadcastStatus::ServiceUnavailable,
            info: "no leader".to_owned(),
            leader: None,
        };
        assert!(decode::<BroadcastResponse>(&older).is_err());
        assert_eq!(BroadcastResponse::decode_any(&older).unwrap(), expected);
        // The current layout, with and without a hint.
        let named = BroadcastResponse {
            leader: Some("leader".to_owned()),
            ..expected.clone()
        };
        for response in [expected, named] {
            let bytes = encode(&response).unwrap();
            assert_eq!(BroadcastResponse::decode_any(&bytes).unwrap(), response);
        }
        // Neither layout: refused.
        let mut garbled = older.clone();
        garbled.extend_from_slice(&[1, 2]);
        assert!(BroadcastResponse::decode_any(&garbled).is_err());
        garbled.truncate(older.len().saturating_sub(1));
        assert!(BroadcastResponse::decode_any(&garbled).is_err());
    }

    #[test]
    fn a_broadcast_batch_round_trips_and_its_bounds_are_enforced() {
        let batch = BroadcastBatch {
            envelopes: vec![vec![1, 2, 3], Vec::new(), vec![9; 100]],
        };
        let bytes = encode(&batch).unwrap();
        assert_eq!(decode::<BroadcastBatch>(&bytes).unwrap(), batch);
        // Compact: a length prefix and the raw bytes per envelope.
        assert_eq!(bytes.len(), 1 + 8 + 3 * 8 + 3 + 100);
        let empty = BroadcastBatch {
            envelopes: Vec::new(),
        };
        assert!(matches!(empty.check(), Err(InvalidMessage::Empty { .. })));
        let over = BroadcastBatch {
            envelopes: vec![vec![1]; BROADCAST_BATCH_ENVELOPES_MAX + 1],
        };
        assert!(matches!(
            over.check(),
            Err(InvalidMessage::TooMany { actual, .. }) if actual == BROADCAST_BATCH_ENVELOPES_MAX + 1
        ));
        assert!(encode(&over).is_err());
        // A length prefix claiming more than arrived is refused before any allocation.
        let mut lying = bytes.clone();
        lying[9..17].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(decode::<BroadcastBatch>(&lying).is_err());
        let answer = BroadcastBatchResponse(vec![
            BroadcastResponse {
                status: BroadcastStatus::Success,
                info: "tx".to_owned(),
                leader: None,
            };
            BROADCAST_BATCH_ENVELOPES_MAX
        ]);
        let bytes = encode(&answer).unwrap();
        assert_eq!(decode::<BroadcastBatchResponse>(&bytes).unwrap(), answer);
    }

    #[test]
    fn an_oversize_leader_hint_is_refused() {
        let response = BroadcastResponse {
            status: BroadcastStatus::Success,
            info: String::new(),
            leader: Some("x".repeat(NODE_ID_TEXT_BYTES_MAX + 1)),
        };
        assert!(matches!(
            encode(&response),
            Err(CodecError::Invalid {
                source: InvalidMessage::TooLong { .. },
                ..
            })
        ));
    }
}
