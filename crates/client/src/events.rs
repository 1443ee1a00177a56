//! Following the chain: contract events of valid transactions and block events, in
//! block order, from a given height or after a resume cursor.
//!
//! Blocks come from the orderers' signed delivery (`orderer-deliver`, Readers policy);
//! an orderer's copy of a block carries no validation codes, so each transaction's code
//! is asked of a peer of the caller's own carrier (`peer-tx-status`, which waits while
//! that peer catches up). A transaction whose id that peer committed at another position
//! is a replayed copy, marked invalid as the committing peers mark it. Only valid
//! transactions' contract events are yielded.
//!
//! The stream reads nothing ahead of its caller: it holds at most one delivery batch
//! (16 blocks) of decoded events, and asks for the next batch only when those are taken.
//! It never reconnects by itself: on a network failure or a refused delivery it ends
//! with an error; the caller resumes with [`Gateway::events_after`] from the
//! [`EventCursor`] of the last event it handled, and gets every later event exactly once.
//!
//! What it leaves out: it trusts the caller's peer and the orderers of the profile (as
//! the rest of the client does) and checks a block only for continuity (its number) and
//! its data hash, not the orderers' signatures.

use std::collections::VecDeque;
use std::fmt;
use std::str::FromStr;

use netsettle_protocol::{
    Block, ContractId, DeliverStatus, Payload, TX_STATUS_SERVICE, TxId, TxStatus, TxStatusRequest,
    ValidationCode, decode, encode,
};
use netsettle_smcrypto::Hash;

use crate::limits::{STATUS_REQUESTS_MAX, STATUS_WAIT};
use crate::{ClientError, Endpoint, Gateway, Signer};

/// `tx_index` of a block event's cursor: after every transaction of the block.
pub const BLOCK_END: u32 = u32::MAX;

/// Where an event sits on the chain: block, transaction index, event index. Cursors
/// order as the events do; a block event's cursor is `(block, BLOCK_END, 0)`, after its
/// transactions' events. As text it is `block-tx-event` (`12-0-1`; a block event
/// `12-end`), usable as an SSE `Last-Event-ID`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EventCursor {
    /// The block number.
    pub block: u64,
    /// The transaction's index in the block, or [`BLOCK_END`] for the block event.
    pub tx_index: u32,
    /// The event's index among its transaction's events (0 for a block event).
    pub event_index: u32,
}

impl EventCursor {
    /// The cursor of block `block`'s event: after all its transactions' events.
    pub fn block_end(block: u64) -> Self {
        EventCursor {
            block,
            tx_index: BLOCK_END,
            event_index: 0,
        }
    }
}

impl fmt::Display for EventCursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.tx_index == BLOCK_END {
            write!(f, "{}-end", self.block)
        } else {
            write!(f, "{}-{}-{}", self.block, self.tx_index, self.event_index)
        }
    }
}

/// A cursor's text is not `block-tx-event` or `block-end`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("event cursor {0:?} is not BLOCK-TX-EVENT or BLOCK-end")]
pub struct BadCursor(pub String);

impl FromStr for EventCursor {
    type Err = BadCursor;

    fn from_str(text: &str) -> Result<Self, BadCursor> {
        let bad = || BadCursor(text.chars().take(64).collect());
        let mut parts = text.split('-');
        let number = |part: Option<&str>| -> Result<u64, BadCursor> {
            let part = part.ok_or_else(bad)?;
            // Digits only: no sign, no spaces, no empty field.
            if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            part.parse().map_err(|_| bad())
        };
        let block = number(parts.next())?;
        let cursor = match parts.next() {
            Some("end") => EventCursor::block_end(block),
            tx => {
                let tx_index = u32::try_from(number(tx)?).map_err(|_| bad())?;
                let event_index = u32::try_from(number(parts.next())?).map_err(|_| bad())?;
                if tx_index == BLOCK_END {
                    return Err(bad());
                }
                EventCursor {
                    block,
                    tx_index,
                    event_index,
                }
            }
        };
        match parts.next() {
            Some(_) => Err(bad()),
            None => Ok(cursor),
        }
    }
}

/// In JSON (and any serde format) a cursor is its text, as in an SSE id.
impl serde::Serialize for EventCursor {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for EventCursor {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// An event a contract emitted in a valid, committed transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContractEvent {
    /// The block.
    pub block: u64,
    /// The transaction's index in the block.
    pub tx_index: u32,
    /// The event's index among the transaction's events.
    pub event_index: u32,
    /// The transaction.
    pub tx_id: TxId,
    /// The contract that emitted it.
    pub contract: ContractId,
    /// Its name, e.g. `ReportUploaded`.
    pub name: String,
    /// Its data (JSON for the settlement contract).
    pub payload: Vec<u8>,
    /// The transaction's validation code (always valid: only those events are yielded).
    pub validation: ValidationCode,
}

impl ContractEvent {
    /// Where it sits, for resuming after it.
    pub fn cursor(&self) -> EventCursor {
        EventCursor {
            block: self.block,
            tx_index: self.tx_index,
            event_index: self.event_index,
        }
    }
}

/// One transaction of a block event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxOutcome {
    /// The transaction id.
    pub tx_id: TxId,
    /// Its index in the block.
    pub index: u32,
    /// Its validation code at the caller's peer.
    pub code: ValidationCode,
    /// The contract it invoked; `None` for a config transaction.
    pub contract: Option<ContractId>,
}

/// A committed block: every transaction's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockEvent {
    /// The block number.
    pub number: u64,
    /// The block (header) hash.
    pub hash: Hash,
    /// The transactions, in block order.
    pub txs: Vec<TxOutcome>,
    /// Whether it is a config block.
    pub config: bool,
}

/// What the stream yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainEvent {
    /// A contract event of a valid transaction.
    Contract(ContractEvent),
    /// A block, after its transactions' contract events.
    Block(BlockEvent),
}

impl ChainEvent {
    /// Where it sits, for resuming after it.
    pub fn cursor(&self) -> EventCursor {
        match self {
            ChainEvent::Contract(event) => event.cursor(),
            ChainEvent::Block(block) => EventCursor::block_end(block.number),
        }
    }
}

/// Events from a height or a cursor on; see the module documentation.
pub struct EventStream<'a> {
    gateway: &'a Gateway,
    signer: &'a Signer,
    /// The caller's own organisation's peers (else the first organisation's), asked for
    /// codes: the first reachable one.
    peers: Vec<Endpoint>,
    next_block: u64,
    after: Option<EventCursor>,
    pending: VecDeque<ChainEvent>,
    ended: bool,
}

impl Gateway {
    /// Every event from block `height` on (contract events of valid transactions, and
    /// one block event per block), read as `signer`.
    pub fn events<'a>(
        &'a self,
        signer: &'a Signer,
        height: u64,
    ) -> Result<EventStream<'a>, ClientError> {
        self.event_stream(signer, height, None)
    }

    /// Every event after `cursor` (the last one the caller handled).
    pub fn events_after<'a>(
        &'a self,
        signer: &'a Signer,
        cursor: EventCursor,
    ) -> Result<EventStream<'a>, ClientError> {
        self.event_stream(signer, cursor.block, Some(cursor))
    }

    fn event_stream<'a>(
        &'a self,
        signer: &'a Signer,
        height: u64,
        after: Option<EventCursor>,
    ) -> Result<EventStream<'a>, ClientError> {
        let own = &signer.identity().msp_id;
        let org = self
            .peers()
            .iter()
            .find(|peer| peer.msp_id == *own)
            .or_else(|| self.peers().first())
            .map(|peer| peer.msp_id.clone())
            .ok_or_else(|| ClientError::Events("the profile lists no peer".into()))?;
        let peers = self
            .peers()
            .iter()
            .filter(|peer| peer.msp_id == org)
            .cloned()
            .collect();
        Ok(EventStream {
            gateway: self,
            signer,
            peers,
            next_block: height,
            after,
            pending: VecDeque::new(),
            ended: false,
        })
    }
}

impl EventStream<'_> {
    /// The next event, waiting for new blocks as long as it takes; an error ends the
    /// stream (every later call fails too): resume from the last cursor handled.
    pub async fn next(&mut self) -> Result<ChainEvent, ClientError> {
        loop {
            if self.ended {
                return Err(ClientError::Events("the stream has ended".into()));
            }
            if let Some(event) = self.pending.pop_front() {
                return Ok(event);
            }
            if let Err(error) = self.fill().await {
                self.ended = true;
                return Err(error);
            }
        }
    }

    /// The height the stream reads next.
    pub fn next_height(&self) -> u64 {
        self.next_block
    }

    /// Fetches the next delivery batch and decodes its events into `pending`; an empty
    /// long poll leaves `pending` empty.
    async fn fill(&mut self) -> Result<(), ClientError> {
        let batch = self.deliver().await?;
        for block in batch.blocks {
            if block.header.number != self.next_block {
                return Err(ClientError::Events(format!(
                    "the orderer sent block {} where {} was due",
                    block.header.number, self.next_block
                )));
            }
            block
                .verify_data_hash()
                .map_err(|error| ClientError::Events(error.to_string()))?;
            self.decode_block(&block).await?;
            self.next_block = self.next_block.saturating_add(1);
        }
        match batch.status {
            None | Some(DeliverStatus::Success) => Ok(()),
            Some(status) => Err(ClientError::Events(format!(
                "the orderer ended delivery from block {}: {status:?}",
                self.next_block
            ))),
        }
    }

    /// One delivery batch from the first orderer that answers.
    async fn deliver(&self) -> Result<netsettle_protocol::DeliverBatch, ClientError> {
        let mut last = ClientError::Events("the profile lists no orderer".into());
        for orderer in self.gateway.orderers() {
            match self
                .gateway
                .deliver(self.signer, orderer, self.next_block, None)
                .await
            {
                Ok(batch) => return Ok(batch),
                Err(error) => {
                    tracing::debug!(orderer = %orderer.msp_id, %error, "deliver failed");
                    last = error;
                }
            }
        }
        Err(last)
    }

    /// Queues `block`'s contract events (valid transactions only) and its block event,
    /// skipping what is not after the resume cursor.
    async fn decode_block(&mut self, block: &Block) -> Result<(), ClientError> {
        let number = block.header.number;
        let mut txs = Vec::with_capacity(block.data.len());
        let mut queued = Vec::new();
        for (envelope, index) in block.data.iter().zip(0u32..) {
            let tx_id = envelope.tx_id();
            let code = self.code_of(&tx_id, number, index).await?;
            let contract = match &envelope.payload {
                Payload::Transaction(tx) => {
                    if code.is_valid() {
                        for (event, event_index) in tx.response.action.events.iter().zip(0u32..) {
                            queued.push(ChainEvent::Contract(ContractEvent {
                                block: number,
                                tx_index: index,
                                event_index,
                                tx_id,
                                contract: tx.response.action.contract.clone(),
                                name: event.name.clone(),
                                payload: event.payload.clone(),
                                validation: code,
                            }));
                        }
                    }
                    Some(tx.proposal.contract.clone())
                }
                _ => None,
            };
            txs.push(TxOutcome {
                tx_id,
                index,
                code,
                contract,
            });
        }
        queued.push(ChainEvent::Block(BlockEvent {
            number,
            hash: block.hash(),
            txs,
            config: block.config().is_some(),
        }));
        let after = self.after;
        self.pending.extend(
            queued
                .into_iter()
                .filter(|event| after.is_none_or(|after| event.cursor() > after)),
        );
        Ok(())
    }

    /// The code the caller's first reachable peer gave the transaction at (`block`,
    /// `index`), waiting while the peer has not committed it yet.
    async fn code_of(
        &self,
        tx_id: &TxId,
        block: u64,
        index: u32,
    ) -> Result<ValidationCode, ClientError> {
        let peers: Vec<&Endpoint> = self.peers.iter().collect();
        let org = peers.first().map_or("", |peer| peer.msp_id.as_str());
        let (_, code) = self
            .gateway
            .at_first_reachable(org, &peers, |peer| async move {
                self.code_at(&peer, tx_id, block, index).await
            })
            .await?;
        Ok(code)
    }

    /// [`EventStream::code_of`] at `peer`.
    async fn code_at(
        &self,
        peer: &Endpoint,
        tx_id: &TxId,
        block: u64,
        index: u32,
    ) -> Result<ValidationCode, ClientError> {
        let request = TxStatusRequest {
            tx_id: *tx_id,
            wait_ms: u64::try_from(STATUS_WAIT.as_millis()).unwrap_or(u64::MAX),
        };
        for _ in 0..STATUS_REQUESTS_MAX {
            let bytes = self
                .gateway
                .net_handle()
                .request(peer.node_id, TX_STATUS_SERVICE, encode(&request)?)
                .await?;
            match decode::<TxStatus>(&bytes)? {
                TxStatus::Committed {
                    block: at,
                    tx,
                    code,
                } if at == block && tx == index => {
                    return Ok(code);
                }
                // The id was committed at another position first: this copy is a replay.
                TxStatus::Committed { .. } => return Ok(ValidationCode::DuplicateTxId),
                TxStatus::NotCommitted { .. } => continue,
            }
        }
        Err(ClientError::Events(format!(
            "the {} peer has not committed block {block} in time",
            peer.msp_id
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_as_text_and_order_like_events() {
        let event = EventCursor {
            block: 12,
            tx_index: 0,
            event_index: 3,
        };
        assert_eq!(event.to_string(), "12-0-3");
        assert_eq!("12-0-3".parse::<EventCursor>().unwrap(), event);
        let end = EventCursor::block_end(12);
        assert_eq!(end.to_string(), "12-end");
        assert_eq!("12-end".parse::<EventCursor>().unwrap(), end);
        assert!(event < end);
        assert!(end < "13-0-0".parse().unwrap());
        assert!(
            "12-1-0".parse::<EventCursor>().unwrap() > "12-0-9".parse::<EventCursor>().unwrap()
        );
    }

    #[test]
    fn cursors_are_strings_in_json() {
        let cursor = EventCursor {
            block: 7,
            tx_index: 2,
            event_index: 0,
        };
        assert_eq!(serde_json::to_string(&cursor).unwrap(), "\"7-2-0\"");
        let back: EventCursor = serde_json::from_str("\"7-2-0\"").unwrap();
        assert_eq!(back, cursor);
        let end: EventCursor = serde_json::from_str("\"7-end\"").unwrap();
        assert_eq!(end, EventCursor::block_end(7));
        let refused = serde_json::from_str::<EventCursor>("\"7-2\"").unwrap_err();
        assert!(refused.to_string().contains("BLOCK-TX-EVENT"), "{refused}");
    }

    #[test]
    fn malformed_cursors_are_refused() {
        for bad in [
            "",
            "12",
            "12-",
            "12-0",
            "12-0-",
            "-1-0-0",
            "12-0-0-0",
            "12-x-0",
            "12-end-0",
            "+1-0-0",
            " 1-0-0",
            "1-4294967295-0",
            "1-4294967296-0",
            "99999999999999999999-0-0",
        ] {
            let refused = bad.parse::<EventCursor>().unwrap_err();
            assert!(refused.to_string().contains("BLOCK-TX-EVENT"), "{bad:?}");
        }
    }
}
