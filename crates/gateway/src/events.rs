//! Server-Sent Events: the channel's contract events and block events, in ledger order,
//! from a given height, resumable without loss or repetition.
//!
//! Within block `B` the stream carries the contract events of its valid transactions in
//! transaction and emission order, ids `B-T-E` (block, transaction index, event index),
//! then one `block` event, id `B-end`, listing every transaction's validation code. So an
//! id names a position: resuming after `B-T-E` continues with the next event of block
//! `B`, resuming after `B-end` with block `B + 1`. `?from=H` starts at the first event of
//! block `H`. The ids are the text form of the SDK's `EventCursor` (`netsettle-client`),
//! so a cursor either side saved resumes on the other.
//!
//! Each subscriber has a task that reads committed blocks from the ledger at its own pace
//! (the committer never waits for it) into a queue of
//! [`SSE_BUFFER_EVENTS_MAX`](crate::limits::SSE_BUFFER_EVENTS_MAX) events; a queue that
//! stays full for the configured stall time (at most
//! [`SSE_STALL_MAX`](crate::limits::SSE_STALL_MAX)) ends the stream with an
//! `error` event, and the client resumes with `Last-Event-ID`.

use core::convert::Infallible;
use core::fmt;
use core::str::FromStr;
use core::time::Duration;

use axum::response::sse::Event;
use futures::Stream;
use netsettle_peer::service::PeerHandle;
use netsettle_protocol::{Block, Payload};
use tokio::sync::{OwnedSemaphorePermit, mpsc, oneshot};

use crate::limits::SSE_BUFFER_EVENTS_MAX;

/// A position in the event stream: a block, and within it a contract event (`Some`) or
/// the block event that closes it (`None`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    /// The block.
    pub block: u64,
    /// `(transaction index, event index)` of a contract event; `None` for the block event.
    pub event: Option<(u32, u32)>,
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.event {
            Some((tx, event)) => write!(f, "{}-{tx}-{event}", self.block),
            None => write!(f, "{}-end", self.block),
        }
    }
}

impl FromStr for Cursor {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || format!("event id {text:?} is neither BLOCK-end nor BLOCK-TX-EVENT");
        let mut parts = text.trim().split('-');
        let block = parts.next().and_then(|p| p.parse().ok()).ok_or_else(bad)?;
        let event = match (parts.next(), parts.next(), parts.next()) {
            (Some("end"), None, None) => None,
            (Some(tx), Some(event), None) => Some((
                tx.parse().map_err(|_| bad())?,
                event.parse().map_err(|_| bad())?,
            )),
            _ => return Err(bad()),
        };
        Ok(Cursor { block, event })
    }
}

/// Where a subscription starts: the first event after which position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// Every event of this block and later.
    From(u64),
    /// The events after this one.
    After(Cursor),
}

impl Start {
    fn first_block(self) -> u64 {
        match self {
            Start::From(block) => block,
            Start::After(Cursor { block, event: None }) => block.saturating_add(1),
            Start::After(Cursor { block, .. }) => block,
        }
    }

    /// Whether the event at `cursor` comes after the start.
    fn admits(self, cursor: Cursor) -> bool {
        match self {
            Start::From(block) => cursor.block >= block,
            Start::After(after) => position(cursor) > position(after),
        }
    }
}

/// A total order on cursors: contract events before their block's event.
fn position(cursor: Cursor) -> (u64, u8, u32, u32) {
    match cursor.event {
        Some((tx, event)) => (cursor.block, 0, tx, event),
        None => (cursor.block, 1, 0, 0),
    }
}

/// One stream event: its id, SSE event name and JSON data.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamEvent {
    /// The cursor.
    pub id: Cursor,
    /// `contract` or `block`.
    pub kind: &'static str,
    /// The event's JSON.
    pub data: serde_json::Value,
}

/// The stream events of a committed block, in order.
pub fn block_events(block: &Block) -> Vec<StreamEvent> {
    let number = block.header.number;
    let codes = &block.metadata.validation_codes;
    let mut out = Vec::new();
    let mut txs = Vec::with_capacity(block.data.len());
    for ((envelope, code), tx_index) in block.data.iter().zip(codes).zip(0u32..) {
        let tx_id = envelope.tx_id().to_string();
        txs.push(serde_json::json!({ "tx_id": tx_id, "index": tx_index, "code": code.as_str() }));
        let Payload::Transaction(tx) = &envelope.payload else {
            continue;
        };
        if !code.is_valid() {
            continue;
        }
        for (event, event_index) in tx.response.action.events.iter().zip(0u32..) {
            let payload = serde_json::from_slice::<serde_json::Value>(&event.payload)
                .unwrap_or_else(|_| serde_json::json!({ "hex": hex::encode(&event.payload) }));
            out.push(StreamEvent {
                id: Cursor {
                    block: number,
                    event: Some((tx_index, event_index)),
                },
                kind: "contract",
                data: serde_json::json!({
                    "block": number,
                    "tx_id": tx_id,
                    "tx_index": tx_index,
                    "event_index": event_index,
                    "contract": tx.proposal.contract.name,
                    "name": event.name,
                    "payload": payload,
                }),
            });
        }
    }
    out.push(StreamEvent {
        id: Cursor {
            block: number,
            event: None,
        },
        kind: "block",
        data: serde_json::json!({
            "number": number,
            "hash": block.hash().to_string(),
            "timestamp_ms": block.header.timestamp.unix_time_ms,
            "txs": txs,
        }),
    });
    out
}

/// Starts a subscriber: its reader task and the SSE stream the response sends. `permit`
/// is the subscriber's slot, held until both end.
pub fn subscribe(
    peer: PeerHandle,
    start: Start,
    permit: OwnedSemaphorePermit,
    stall: Duration,
) -> impl Stream<Item = Result<Event, Infallible>> {
    let (events_rx, error_rx) = start_reader(peer, start, stall, SSE_BUFFER_EVENTS_MAX);
    let state = (events_rx, Some(error_rx), permit);
    futures::stream::unfold(state, |(mut events, error, permit)| async move {
        let mut error = error?;
        tokio::select! {
            biased;
            reason = &mut error => {
                let reason = reason.unwrap_or_else(|_| "the event reader stopped".to_owned());
                let event = Event::default()
                    .event("error")
                    .data(serde_json::json!({ "error": reason }).to_string());
                Some((Ok::<Event, Infallible>(event), (events, None, permit)))
            }
            next = events.recv() => {
                let next = next?;
                Some((Ok::<Event, Infallible>(to_sse(&next)), (events, Some(error), permit)))
            }
        }
    })
}

/// Spawns a subscriber's reader with a queue of `buffer` events; returns the queue and
/// where the reader reports why it stopped early.
fn start_reader(
    peer: PeerHandle,
    start: Start,
    stall: Duration,
    buffer: usize,
) -> (mpsc::Receiver<StreamEvent>, oneshot::Receiver<String>) {
    let (events_tx, events_rx) = mpsc::channel(buffer.max(1));
    let (error_tx, error_rx) = oneshot::channel();
    let queue = Queue {
        events: events_tx,
        error: error_tx,
        stall,
    };
    tokio::spawn(read_blocks(peer, start, queue));
    (events_rx, error_rx)
}

fn to_sse(event: &StreamEvent) -> Event {
    Event::default()
        .id(event.id.to_string())
        .event(event.kind)
        .data(event.data.to_string())
}

/// A subscriber's side of the reader: its bounded queue, where a stop is reported, and
/// how long the queue may stay full.
struct Queue {
    events: mpsc::Sender<StreamEvent>,
    error: oneshot::Sender<String>,
    stall: Duration,
}

/// Reads blocks from the ledger from `start` on, as they commit, into the queue, until
/// the subscriber leaves, the peer stops, or the subscriber stalls (reported on `error`).
async fn read_blocks(peer: PeerHandle, start: Start, queue: Queue) {
    let Queue {
        events,
        error,
        stall,
    } = queue;
    let mut number = start.first_block();
    loop {
        let waited = tokio::select! {
            () = events.closed() => return,
            reached = peer.wait_for_height(number.saturating_add(1)) => reached,
        };
        if !waited {
            let _ = error.send("the peer stopped".to_owned());
            return;
        }
        let block = match peer.ledger().block(number) {
            Ok(Some(block)) => block,
            Ok(None) | Err(_) => {
                let _ = error.send(format!("block {number} could not be read"));
                return;
            }
        };
        for event in block_events(&block) {
            if !start.admits(event.id) {
                continue;
            }
            match tokio::time::timeout(stall, events.send(event)).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => return,
                Err(_) => {
                    let _ = error.send(format!(
                        "subscriber too slow: its queue stayed full for {} ms; resume with Last-Event-ID",
                        stall.as_millis()
                    ));
                    return;
                }
            }
        }
        number = number.saturating_add(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A subscriber that never reads is dropped once its queue stayed full for the stall
    /// time, with the reason; another subscriber keeps receiving every event and the
    /// peer commits on without waiting for either.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_stalled_subscriber_is_dropped_and_the_others_go_on() {
        use netsettle_testkit::WAIT_MAX;
        let net = netsettle_testkit::Consortium::new();
        let dir = tempfile::tempdir().unwrap();
        let (peer, blocks) =
            netsettle_testkit::peer::start_peer(&net, &net.unicom_peer, dir.path(), false);
        let stall = Duration::from_millis(100);
        let (stalled, stalled_error) = start_reader(peer.clone(), Start::From(1), stall, 2);
        let (mut follower, follower_error) = start_reader(peer.clone(), Start::From(1), stall, 2);
        let chain = netsettle_testkit::peer::chain(&net, net.orderer(), 6);
        for (number, block) in chain.iter().enumerate().skip(1) {
            blocks.send(block.clone()).await.unwrap();
            let event = tokio::time::timeout(WAIT_MAX, follower.recv())
                .await
                .expect("the follower is served in time")
                .expect("an event");
            assert_eq!(event.id.to_string(), format!("{number}-end"));
        }
        assert!(
            peer.wait_for_height(7).await,
            "the peer committed every block"
        );
        let reason = tokio::time::timeout(WAIT_MAX, stalled_error)
            .await
            .expect("the stalled subscriber is dropped in time")
            .expect("with a reason");
        assert!(reason.contains("too slow"), "{reason}");
        // Its queue holds what it had room for, then ends: the reader is gone.
        let mut stalled = stalled;
        let mut queued = Vec::new();
        while let Some(event) = stalled.recv().await {
            queued.push(event.id.to_string());
        }
        assert_eq!(queued, ["1-end", "2-end"]);
        // The follower's reader is still there, waiting for block 7.
        assert!(!follower.is_closed());
        drop(follower_error);
    }

    #[test]
    fn cursors_round_trip_and_order() {
        for text in ["0-end", "17-end", "5-0-0", "5-3-12"] {
            assert_eq!(text.parse::<Cursor>().unwrap().to_string(), text);
        }
        for bad in [
            "", "x", "5", "5-1", "5-1-2-3", "-1", "5--1", "5-a-1", "5-END",
        ] {
            assert!(bad.parse::<Cursor>().is_err(), "{bad}");
        }
        let after = Start::After("5-1-0".parse().unwrap());
        assert_eq!(after.first_block(), 5);
        assert!(!after.admits("5-0-3".parse().unwrap()));
        assert!(!after.admits("5-1-0".parse().unwrap()));
        assert!(after.admits("5-1-1".parse().unwrap()));
        assert!(after.admits("5-end".parse().unwrap()));
        assert!(after.admits("6-0-0".parse().unwrap()));
        let after_block = Start::After("5-end".parse().unwrap());
        assert_eq!(after_block.first_block(), 6);
        assert!(!after_block.admits("5-end".parse().unwrap()));
        assert!(Start::From(5).admits("5-0-0".parse().unwrap()));
        assert!(!Start::From(5).admits("4-end".parse().unwrap()));
    }
}
