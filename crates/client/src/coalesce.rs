//! Requests to one node coalesced into few: what a client has ready for an orderer (a
//! broadcast) or a peer (an endorsement) while its earlier requests to that node travel
//! goes as one batch request (`orderer-broadcast-batch`, `peer-endorse-batch`) instead of
//! one request each (`orderer-broadcast`, `peer-endorse`), which saves the node (and the
//! client) the per-request cost of all but one: a stream, an admission, a task, a timer,
//! an answer. [`BroadcastCoalescer`] and [`EndorseCoalescer`] are the two kinds
//! ([`BatchKind`]).
//!
//! Per node, a bounded queue of items (encoded envelopes or signed proposals) waiting to
//! be sent and a task (a lane) that takes the first one waiting, then a permit of the
//! kind's requests in flight to that node, then whatever else has queued up meanwhile
//! (up to the kind's items per batch and a byte budget well under the network's message
//! limit), and sends them: one item as a plain request, two or more as one batch. No
//! timer waits for a batch to fill: under light load every item goes at once, alone;
//! batches form only while earlier requests are in flight.
//!
//! Each caller gets its own item's answer. A network error on a batch reaches every item
//! in it as that error; a batch answer with the wrong number of answers is an error for
//! every item in it ([`ClientError::BatchAnswer`]). A node that has no batch service
//! (built before it) is remembered and gets items one by one from then on. An answer
//! the kind marks as "ask alone" (a peer's endorsement that did not fit into the batch's
//! answer) is asked for again in a request of its own. Batching never changes what a
//! node accepts: it checks and answers each item of a batch as if it had come alone.
//!
//! A lane starts with the first item for its node and ends after [`LANE_IDLE`] without
//! one, or once the coalescer is dropped and its queue is empty; requests in flight end
//! with their answer or the network's request timeout.

use std::collections::{HashMap, HashSet};
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use netsettle_net::{NetError, NetHandle, NodeId};
use netsettle_protocol::limits::{
    BROADCAST_BATCH_ENVELOPES_MAX, ENDORSE_ALONE_STATUS, ENDORSE_BATCH_PROPOSALS_MAX,
};
use netsettle_protocol::{
    BROADCAST_BATCH_SERVICE, BROADCAST_SERVICE, BroadcastBatch, BroadcastBatchResponse,
    BroadcastResponse, CodecError, ENDORSE_BATCH_SERVICE, ENDORSE_SERVICE, EndorseBatch,
    EndorseBatchReply, EndorseReply, decode, encode,
};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};

use crate::ClientError;
use crate::limits::{
    BROADCAST_BATCH_BYTES_TARGET, BROADCAST_BATCHES_IN_FLIGHT_MAX, BROADCAST_QUEUE_MAX,
    ENDORSE_BATCH_BYTES_TARGET, ENDORSE_BATCHES_IN_FLIGHT_MAX, ENDORSE_QUEUE_MAX, LANE_IDLE,
};

/// How the network refuses a request for a service the node does not serve (the text of
/// `netsettle-net`'s refusal): a node built before batches.
pub(crate) const NO_SERVICE_REFUSAL: &str = "no service";
/// Bytes a batch encoding adds: the version byte and the item count.
const BATCH_HEADER_BYTES: usize = 1 + 8;
/// Bytes a batch encoding adds per item: its length prefix.
const ITEM_PREFIX_BYTES: usize = 8;
/// Lanes one send (or commit wait) starts at most: a second is needed only when the lane
/// it found retired (idle) just before the item reached its queue.
pub(crate) const LANE_STARTS_MAX: usize = 2;

/// One kind of request a [`Coalescer`] batches: its two services, how its batches are
/// encoded and its answers decoded, and its limits.
pub trait BatchKind: Send + Sync + 'static {
    /// The answer to one item.
    type Answer: Send + 'static;
    /// The service of one item per request.
    const SINGLE_SERVICE: &'static str;
    /// The service of several items per request.
    const BATCH_SERVICE: &'static str;
    /// Items in one batch at most.
    const ITEMS_MAX: usize;
    /// Requests in flight to one node at once.
    const IN_FLIGHT_MAX: usize;
    /// Items waiting for one node; beyond it, senders wait for room.
    const QUEUE_MAX: usize;
    /// Bytes of one batch request at most (and never more than half the network's
    /// message limit).
    const BYTES_TARGET: usize;

    /// The batch request of `items` (each an item's encoding), and the items back (for
    /// a node that turns out to have no batch service, or asks for some alone).
    fn encode_batch(items: Vec<Vec<u8>>) -> (Result<Vec<u8>, CodecError>, Vec<Vec<u8>>);
    /// The answer to a single request.
    fn decode_single(bytes: &[u8]) -> Result<Self::Answer, CodecError>;
    /// The answers to a batch request, in its order.
    fn decode_batch(bytes: &[u8]) -> Result<Vec<Self::Answer>, CodecError>;
    /// Whether the node answered this item of a batch with "ask for it alone".
    fn ask_alone(_answer: &Self::Answer) -> bool {
        false
    }
}

/// Broadcasts of envelopes to orderers.
#[derive(Debug)]
pub struct Broadcasts;

impl BatchKind for Broadcasts {
    type Answer = BroadcastResponse;
    const SINGLE_SERVICE: &'static str = BROADCAST_SERVICE;
    const BATCH_SERVICE: &'static str = BROADCAST_BATCH_SERVICE;
    const ITEMS_MAX: usize = BROADCAST_BATCH_ENVELOPES_MAX;
    const IN_FLIGHT_MAX: usize = BROADCAST_BATCHES_IN_FLIGHT_MAX;
    const QUEUE_MAX: usize = BROADCAST_QUEUE_MAX;
    const BYTES_TARGET: usize = BROADCAST_BATCH_BYTES_TARGET;

    fn encode_batch(envelopes: Vec<Vec<u8>>) -> (Result<Vec<u8>, CodecError>, Vec<Vec<u8>>) {
        let batch = BroadcastBatch { envelopes };
        (encode(&batch), batch.envelopes)
    }

    fn decode_single(bytes: &[u8]) -> Result<BroadcastResponse, CodecError> {
        BroadcastResponse::decode_any(bytes)
    }

    fn decode_batch(bytes: &[u8]) -> Result<Vec<BroadcastResponse>, CodecError> {
        decode::<BroadcastBatchResponse>(bytes).map(|answer| answer.0)
    }
}

/// Signed proposals for endorsement by peers.
#[derive(Debug)]
pub struct Endorsements;

impl BatchKind for Endorsements {
    type Answer = EndorseReply;
    const SINGLE_SERVICE: &'static str = ENDORSE_SERVICE;
    const BATCH_SERVICE: &'static str = ENDORSE_BATCH_SERVICE;
    const ITEMS_MAX: usize = ENDORSE_BATCH_PROPOSALS_MAX;
    const IN_FLIGHT_MAX: usize = ENDORSE_BATCHES_IN_FLIGHT_MAX;
    const QUEUE_MAX: usize = ENDORSE_QUEUE_MAX;
    const BYTES_TARGET: usize = ENDORSE_BATCH_BYTES_TARGET;

    fn encode_batch(proposals: Vec<Vec<u8>>) -> (Result<Vec<u8>, CodecError>, Vec<Vec<u8>>) {
        let batch = EndorseBatch { proposals };
        (encode(&batch), batch.proposals)
    }

    fn decode_single(bytes: &[u8]) -> Result<EndorseReply, CodecError> {
        decode(bytes)
    }

    fn decode_batch(bytes: &[u8]) -> Result<Vec<EndorseReply>, CodecError> {
        decode::<EndorseBatchReply>(bytes).map(|answer| answer.0)
    }

    fn ask_alone(answer: &EndorseReply) -> bool {
        matches!(answer, EndorseReply::Refused { status, .. } if *status == ENDORSE_ALONE_STATUS)
    }
}

/// Sends broadcasts to orderers, coalescing those that queue up for one orderer.
pub type BroadcastCoalescer = Coalescer<Broadcasts>;
/// Sends proposals to peers for endorsement, coalescing those that queue up for one peer.
pub type EndorseCoalescer = Coalescer<Endorsements>;

/// What a coalescer sent so far, all nodes together.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CoalescerStats {
    /// Items sent, in either kind of request (those of a batch a node refused as an
    /// unknown service, or answered "ask alone", count again when sent alone).
    pub envelopes: u64,
    /// Single requests (one item each).
    pub singles: u64,
    /// Batch requests (two or more items each).
    pub batches: u64,
}

#[derive(Debug, Default)]
struct Counters {
    envelopes: AtomicU64,
    singles: AtomicU64,
    batches: AtomicU64,
}

/// Why an item got no answer. Cloneable: one failure of a batch reaches each item in it.
#[derive(Debug, Clone)]
enum Failure {
    Net(NetError),
    Codec(CodecError),
    Count {
        node: NodeId,
        service: &'static str,
        items: usize,
        answers: usize,
    },
}

impl From<Failure> for ClientError {
    fn from(failure: Failure) -> Self {
        match failure {
            Failure::Net(error) => ClientError::Net(error),
            Failure::Codec(error) => ClientError::Codec(error),
            Failure::Count {
                node,
                service,
                items,
                answers,
            } => ClientError::BatchAnswer {
                node: node.to_string(),
                service,
                items,
                answers,
            },
        }
    }
}

type Outcome<A> = Result<A, Failure>;

/// An item waiting in a lane, and where its answer goes.
struct Item<A> {
    bytes: Vec<u8>,
    reply: oneshot::Sender<Outcome<A>>,
}

/// What the lanes share with the coalescer. It holds no lane's sender, so dropping the
/// coalescer closes every queue and ends the lanes.
struct Shared {
    net: NetHandle,
    counters: Counters,
    /// Nodes that answered they have no batch service.
    singles_only: Mutex<HashSet<NodeId>>,
    /// Bytes of one batch request at most.
    batch_bytes_max: usize,
}

/// Sends items of kind `K` to nodes, coalescing those that queue up for one node into
/// batch requests (see the module documentation).
pub struct Coalescer<K: BatchKind> {
    shared: Arc<Shared>,
    lanes: Mutex<HashMap<NodeId, mpsc::Sender<Item<K::Answer>>>>,
    kind: PhantomData<K>,
}

impl<K: BatchKind> Coalescer<K> {
    /// A coalescer sending through `net`. Batches stay within half the network's message
    /// limit (and the kind's byte target).
    pub fn new(net: NetHandle) -> Self {
        let batch_bytes_max = K::BYTES_TARGET.min(net.limits().message_bytes_max / 2);
        Coalescer {
            shared: Arc::new(Shared {
                net,
                counters: Counters::default(),
                singles_only: Mutex::new(HashSet::new()),
                batch_bytes_max,
            }),
            lanes: Mutex::new(HashMap::new()),
            kind: PhantomData,
        }
    }

    /// Sends one item (its encoding) to `node`, alone or in a batch with others queued
    /// for it, and returns that node's answer to this item.
    pub async fn send(&self, node: NodeId, bytes: Vec<u8>) -> Result<K::Answer, ClientError> {
        let (reply, answer) = oneshot::channel();
        let mut item = Item { bytes, reply };
        for _ in 0..LANE_STARTS_MAX {
            match self.lane(node).send(item).await {
                Ok(()) => {
                    // Dropped unanswered only when the runtime shuts down.
                    return answer
                        .await
                        .map_err(|_| ClientError::Net(NetError::Shutdown))?
                        .map_err(ClientError::from);
                }
                // The lane retired (idle) meanwhile: the next call starts another.
                Err(mpsc::error::SendError(back)) => item = back,
            }
        }
        Err(ClientError::Net(NetError::Shutdown))
    }

    /// Sends one item to `node` in a single request of its own, past the lanes: no
    /// batch, no cap on requests in flight but the network's own. For comparing against
    /// batching (the benches' `NETSETTLE_*_NO_BATCH`) and for callers that must not wait
    /// behind other items.
    pub async fn send_alone(&self, node: NodeId, bytes: Vec<u8>) -> Result<K::Answer, ClientError> {
        let lane = Lane::<K> {
            node,
            shared: Arc::clone(&self.shared),
            kind: PhantomData,
        };
        lane.request_single(bytes).await.map_err(ClientError::from)
    }

    /// What was sent so far.
    pub fn stats(&self) -> CoalescerStats {
        let read = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        let counters = &self.shared.counters;
        CoalescerStats {
            envelopes: read(&counters.envelopes),
            singles: read(&counters.singles),
            batches: read(&counters.batches),
        }
    }

    /// The queue of `node`'s lane, starting the lane if it has none or it retired.
    fn lane(&self, node: NodeId) -> mpsc::Sender<Item<K::Answer>> {
        let mut lanes = lock(&self.lanes);
        if let Some(queue) = lanes.get(&node)
            && !queue.is_closed()
        {
            return queue.clone();
        }
        let (queue, items) = mpsc::channel(K::QUEUE_MAX);
        lanes.insert(node, queue.clone());
        let lane = Lane::<K> {
            node,
            shared: Arc::clone(&self.shared),
            kind: PhantomData,
        };
        tokio::spawn(lane.run(items));
        queue
    }
}

/// A batch taken from a lane's queue, and the item that did not fit into it.
type Taken<A> = (Vec<Item<A>>, Option<Item<A>>);

/// One node's sending task.
struct Lane<K> {
    node: NodeId,
    shared: Arc<Shared>,
    kind: PhantomData<K>,
}

impl<K> Clone for Lane<K> {
    fn clone(&self) -> Self {
        Lane {
            node: self.node,
            shared: Arc::clone(&self.shared),
            kind: PhantomData,
        }
    }
}

impl<K: BatchKind> Lane<K> {
    async fn run(self, mut items: mpsc::Receiver<Item<K::Answer>>) {
        let in_flight = Arc::new(Semaphore::new(K::IN_FLIGHT_MAX));
        let mut next = None;
        loop {
            let first = match next.take() {
                Some(item) => item,
                None => match tokio::time::timeout(LANE_IDLE, items.recv()).await {
                    Ok(Some(item)) => item,
                    // The coalescer is gone (or the lane retired) and nothing is left.
                    Ok(None) => break,
                    // Idle: take no more, send what is still queued, then end.
                    Err(_) => {
                        items.close();
                        continue;
                    }
                },
            };
            // While every permit is out, items queue up: that is when batches form.
            let Ok(permit) = Arc::clone(&in_flight).acquire_owned().await else {
                break;
            };
            let (batch, rest) = self.take_batch(first, &mut items);
            next = rest;
            tokio::spawn(self.clone().send(batch, permit));
        }
    }

    /// `first` and what else is queued, within the batch limits; an item that would
    /// overflow the byte budget is handed back to start the next batch.
    fn take_batch(
        &self,
        first: Item<K::Answer>,
        items: &mut mpsc::Receiver<Item<K::Answer>>,
    ) -> Taken<K::Answer> {
        let mut bytes = BATCH_HEADER_BYTES
            .saturating_add(ITEM_PREFIX_BYTES)
            .saturating_add(first.bytes.len());
        let mut batch = vec![first];
        while batch.len() < K::ITEMS_MAX {
            let Ok(item) = items.try_recv() else {
                break;
            };
            let after = bytes
                .saturating_add(ITEM_PREFIX_BYTES)
                .saturating_add(item.bytes.len());
            if after > self.shared.batch_bytes_max {
                return (batch, Some(item));
            }
            bytes = after;
            batch.push(item);
        }
        (batch, None)
    }

    /// Sends `batch` (one request, or one per item for a node without batches) and
    /// answers each item's caller; `_permit` is held until all answers are in.
    async fn send(self, batch: Vec<Item<K::Answer>>, _permit: OwnedSemaphorePermit) {
        let singles_only = lock(&self.shared.singles_only).contains(&self.node);
        if batch.len() == 1 || singles_only {
            self.send_singly(batch).await;
            return;
        }
        let (items, replies): (Vec<_>, Vec<_>) = batch
            .into_iter()
            .map(|item| (item.bytes, item.reply))
            .unzip();
        let count = items.len();
        let (encoded, items) = K::encode_batch(items);
        let payload = match encoded {
            Ok(payload) => payload,
            // Encoding a batch fails only as encoding its items would: send them alone.
            Err(error) => {
                tracing::debug!(node = %self.node, %error, "batch not encoded; sending one by one");
                self.send_singly(rejoin(items, replies)).await;
                return;
            }
        };
        match self.request_batch(payload, count).await {
            Ok(answers) if answers.len() == replies.len() => {
                let mut alone = Vec::new();
                for ((bytes, reply), answer) in items.into_iter().zip(replies).zip(answers) {
                    if K::ask_alone(&answer) {
                        alone.push(Item { bytes, reply });
                    } else {
                        let _ = reply.send(Ok(answer));
                    }
                }
                if !alone.is_empty() {
                    tracing::debug!(node = %self.node, n = alone.len(), "asking alone for what a batch answer could not hold");
                    self.send_singly(alone).await;
                }
            }
            Ok(answers) => {
                let failure = Failure::Count {
                    node: self.node,
                    service: K::BATCH_SERVICE,
                    items: replies.len(),
                    answers: answers.len(),
                };
                tracing::warn!(node = %self.node, ?failure, "batch answer refused");
                answer_all(replies, &failure);
            }
            Err(Failure::Net(NetError::Refused { reason, .. }))
                if reason.starts_with(NO_SERVICE_REFUSAL) =>
            {
                tracing::info!(node = %self.node, service = K::BATCH_SERVICE, "node has no batch service: sending one by one");
                lock(&self.shared.singles_only).insert(self.node);
                self.send_singly(rejoin(items, replies)).await;
            }
            Err(failure) => answer_all(replies, &failure),
        }
    }

    /// Each item in its own single request, all at once.
    async fn send_singly(&self, items: Vec<Item<K::Answer>>) {
        let requests = items.into_iter().map(|item| async move {
            let _ = item.reply.send(self.request_single(item.bytes).await);
        });
        futures::future::join_all(requests).await;
    }

    async fn request_single(&self, bytes: Vec<u8>) -> Outcome<K::Answer> {
        let counters = &self.shared.counters;
        counters.singles.fetch_add(1, Ordering::Relaxed);
        counters.envelopes.fetch_add(1, Ordering::Relaxed);
        let reply = self
            .shared
            .net
            .request(self.node, K::SINGLE_SERVICE, bytes)
            .await
            .map_err(Failure::Net)?;
        K::decode_single(&reply).map_err(Failure::Codec)
    }

    async fn request_batch(
        &self,
        payload: Vec<u8>,
        count: usize,
    ) -> Result<Vec<K::Answer>, Failure> {
        let counters = &self.shared.counters;
        counters.batches.fetch_add(1, Ordering::Relaxed);
        let count = u64::try_from(count).unwrap_or(u64::MAX);
        counters.envelopes.fetch_add(count, Ordering::Relaxed);
        let reply = self
            .shared
            .net
            .request(self.node, K::BATCH_SERVICE, payload)
            .await
            .map_err(Failure::Net)?;
        K::decode_batch(&reply).map_err(Failure::Codec)
    }
}

fn rejoin<A>(items: Vec<Vec<u8>>, replies: Vec<oneshot::Sender<Outcome<A>>>) -> Vec<Item<A>> {
    items
        .into_iter()
        .zip(replies)
        .map(|(bytes, reply)| Item { bytes, reply })
        .collect()
}

fn answer_all<A>(replies: Vec<oneshot::Sender<Outcome<A>>>, failure: &Failure) {
    for reply in replies {
        let _ = reply.send(Err(failure.clone()));
    }
}

pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}
