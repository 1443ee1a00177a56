//! Broadcasts to one orderer coalesced into few requests: what a client has ready for an
//! orderer while its earlier requests travel goes as one `orderer-broadcast-batch`
//! request instead of one `orderer-broadcast` request each, which saves the orderer (and
//! the client) the per-request cost of all but one: a stream, an admission, a timer, an
//! answer.
//!
//! Per orderer, a bounded queue of envelopes waiting to be sent and a task (a lane) that
//! takes the first one waiting, then a permit of [`BROADCAST_BATCHES_IN_FLIGHT_MAX`]
//! requests in flight to that orderer, then whatever else has queued up meanwhile (up to
//! [`BROADCAST_BATCH_ENVELOPES_MAX`] envelopes and a byte budget well under the network's
//! message limit), and sends them: one envelope as a plain `orderer-broadcast` request,
//! two or more as one batch. No timer waits for a batch to fill: under light load every
//! envelope goes at once, alone; batches form only while earlier requests are in flight.
//!
//! Each caller gets its own envelope's answer. A network error on a batch reaches every
//! envelope in it as that error; a batch answer with the wrong number of responses is an
//! error for every envelope in it ([`ClientError::BatchAnswer`]). An orderer that has no
//! batch service (built before it) is remembered and gets envelopes one by one from then
//! on. Batching never changes what an orderer accepts: it checks and answers each
//! envelope of a batch as if it had come alone.
//!
//! A lane starts with the first envelope for its orderer and ends after
//! [`BROADCAST_LANE_IDLE`] without one, or once the coalescer is dropped and its queue is
//! empty; requests in flight end with their answer or the network's request timeout.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use netsettle_net::{NetError, NetHandle, NodeId};
use netsettle_protocol::limits::BROADCAST_BATCH_ENVELOPES_MAX;
use netsettle_protocol::{
    BROADCAST_BATCH_SERVICE, BROADCAST_SERVICE, BroadcastBatch, BroadcastBatchResponse,
    BroadcastResponse, CodecError, decode, encode,
};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};

use crate::ClientError;
use crate::limits::{
    BROADCAST_BATCH_BYTES_TARGET, BROADCAST_BATCHES_IN_FLIGHT_MAX, BROADCAST_LANE_IDLE,
    BROADCAST_QUEUE_MAX,
};

/// How the network refuses a request for a service the node does not serve (the text of
/// `netsettle-net`'s refusal): an orderer built before batches.
const NO_SERVICE_REFUSAL: &str = "no service";
/// Bytes a batch encoding adds: the version byte and the envelope count.
const BATCH_HEADER_BYTES: usize = 1 + 8;
/// Bytes a batch encoding adds per envelope: its length prefix.
const ENVELOPE_PREFIX_BYTES: usize = 8;
/// Lanes one send starts at most: a second is needed only when the lane it found retired
/// (idle) just before the envelope reached its queue.
const LANE_STARTS_MAX: usize = 2;

/// What a coalescer sent so far, all orderers together.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CoalescerStats {
    /// Envelopes sent, in either kind of request (those of a batch an orderer refused as
    /// an unknown service count again when sent one by one).
    pub envelopes: u64,
    /// `orderer-broadcast` requests (one envelope each).
    pub singles: u64,
    /// `orderer-broadcast-batch` requests (two or more envelopes each).
    pub batches: u64,
}

#[derive(Debug, Default)]
struct Counters {
    envelopes: AtomicU64,
    singles: AtomicU64,
    batches: AtomicU64,
}

/// Why an envelope got no answer. Cloneable: one failure of a batch reaches each
/// envelope in it.
#[derive(Debug, Clone)]
enum Failure {
    Net(NetError),
    Codec(CodecError),
    Count {
        orderer: NodeId,
        envelopes: usize,
        responses: usize,
    },
}

impl From<Failure> for ClientError {
    fn from(failure: Failure) -> Self {
        match failure {
            Failure::Net(error) => ClientError::Net(error),
            Failure::Codec(error) => ClientError::Codec(error),
            Failure::Count {
                orderer,
                envelopes,
                responses,
            } => ClientError::BatchAnswer {
                orderer: orderer.to_string(),
                envelopes,
                responses,
            },
        }
    }
}

type Outcome = Result<BroadcastResponse, Failure>;

/// An envelope waiting in a lane, and where its answer goes.
struct Item {
    bytes: Vec<u8>,
    reply: oneshot::Sender<Outcome>,
}

/// What the lanes share with the coalescer. It holds no lane's sender, so dropping the
/// coalescer closes every queue and ends the lanes.
struct Shared {
    net: NetHandle,
    counters: Counters,
    /// Orderers that answered they have no batch service.
    singles_only: Mutex<HashSet<NodeId>>,
    /// Bytes of one batch request at most.
    batch_bytes_max: usize,
}

/// Sends broadcast envelopes to orderers, coalescing those that queue up for one
/// orderer into batch requests (see the module documentation).
pub struct BroadcastCoalescer {
    shared: Arc<Shared>,
    lanes: Mutex<HashMap<NodeId, mpsc::Sender<Item>>>,
}

impl BroadcastCoalescer {
    /// A coalescer sending through `net`. Batches stay within half the network's message
    /// limit (and [`BROADCAST_BATCH_BYTES_TARGET`]).
    pub fn new(net: NetHandle) -> Self {
        let batch_bytes_max = BROADCAST_BATCH_BYTES_TARGET.min(net.limits().message_bytes_max / 2);
        BroadcastCoalescer {
            shared: Arc::new(Shared {
                net,
                counters: Counters::default(),
                singles_only: Mutex::new(HashSet::new()),
                batch_bytes_max,
            }),
            lanes: Mutex::new(HashMap::new()),
        }
    }

    /// Sends one envelope (its encoding) to `orderer`, alone or in a batch with others
    /// queued for it, and returns that orderer's answer to this envelope.
    pub async fn send(
        &self,
        orderer: NodeId,
        envelope_bytes: Vec<u8>,
    ) -> Result<BroadcastResponse, ClientError> {
        let (reply, answer) = oneshot::channel();
        let mut item = Item {
            bytes: envelope_bytes,
            reply,
        };
        for _ in 0..LANE_STARTS_MAX {
            match self.lane(orderer).send(item).await {
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

    /// Sends one envelope to `orderer` in its own `orderer-broadcast` request, past the
    /// lanes: no batch, no cap on requests in flight but the network's own. For comparing
    /// against batching (the benches' `NETSETTLE_*_NO_BATCH`) and for callers that must
    /// not wait behind other envelopes.
    pub async fn send_alone(
        &self,
        orderer: NodeId,
        envelope_bytes: Vec<u8>,
    ) -> Result<BroadcastResponse, ClientError> {
        let lane = Lane {
            orderer,
            shared: Arc::clone(&self.shared),
        };
        lane.request_single(envelope_bytes)
            .await
            .map_err(ClientError::from)
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

    /// The queue of `orderer`'s lane, starting the lane if it has none or it retired.
    fn lane(&self, orderer: NodeId) -> mpsc::Sender<Item> {
        let mut lanes = lock(&self.lanes);
        if let Some(queue) = lanes.get(&orderer)
            && !queue.is_closed()
        {
            return queue.clone();
        }
        let (queue, items) = mpsc::channel(BROADCAST_QUEUE_MAX);
        lanes.insert(orderer, queue.clone());
        let lane = Lane {
            orderer,
            shared: Arc::clone(&self.shared),
        };
        tokio::spawn(lane.run(items));
        queue
    }
}

/// One orderer's sending task.
#[derive(Clone)]
struct Lane {
    orderer: NodeId,
    shared: Arc<Shared>,
}

impl Lane {
    async fn run(self, mut items: mpsc::Receiver<Item>) {
        let in_flight = Arc::new(Semaphore::new(BROADCAST_BATCHES_IN_FLIGHT_MAX));
        let mut next = None;
        loop {
            let first = match next.take() {
                Some(item) => item,
                None => match tokio::time::timeout(BROADCAST_LANE_IDLE, items.recv()).await {
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
            // While every permit is out, envelopes queue up: that is when batches form.
            let Ok(permit) = Arc::clone(&in_flight).acquire_owned().await else {
                break;
            };
            let (batch, rest) = self.take_batch(first, &mut items);
            next = rest;
            tokio::spawn(self.clone().send(batch, permit));
        }
    }

    /// `first` and what else is queued, within the batch limits; an envelope that would
    /// overflow the byte budget is handed back to start the next batch.
    fn take_batch(
        &self,
        first: Item,
        items: &mut mpsc::Receiver<Item>,
    ) -> (Vec<Item>, Option<Item>) {
        let mut bytes = BATCH_HEADER_BYTES
            .saturating_add(ENVELOPE_PREFIX_BYTES)
            .saturating_add(first.bytes.len());
        let mut batch = vec![first];
        while batch.len() < BROADCAST_BATCH_ENVELOPES_MAX {
            let Ok(item) = items.try_recv() else {
                break;
            };
            let after = bytes
                .saturating_add(ENVELOPE_PREFIX_BYTES)
                .saturating_add(item.bytes.len());
            if after > self.shared.batch_bytes_max {
                return (batch, Some(item));
            }
            bytes = after;
            batch.push(item);
        }
        (batch, None)
    }

    /// Sends `batch` (one request, or one per envelope for an orderer without batches)
    /// and answers each envelope's caller; `_permit` is held until all answers are in.
    async fn send(self, batch: Vec<Item>, _permit: OwnedSemaphorePermit) {
        let singles_only = lock(&self.shared.singles_only).contains(&self.orderer);
        if batch.len() == 1 || singles_only {
            self.send_singly(batch).await;
            return;
        }
        let (envelopes, replies): (Vec<_>, Vec<_>) = batch
            .into_iter()
            .map(|item| (item.bytes, item.reply))
            .unzip();
        let batch = BroadcastBatch { envelopes };
        match self.request_batch(&batch).await {
            Ok(BroadcastBatchResponse(responses)) if responses.len() == replies.len() => {
                for (reply, response) in replies.into_iter().zip(responses) {
                    let _ = reply.send(Ok(response));
                }
            }
            Ok(BroadcastBatchResponse(responses)) => {
                let failure = Failure::Count {
                    orderer: self.orderer,
                    envelopes: replies.len(),
                    responses: responses.len(),
                };
                tracing::warn!(orderer = %self.orderer, ?failure, "broadcast batch answer refused");
                answer_all(replies, &failure);
            }
            Err(Failure::Net(NetError::Refused { reason, .. }))
                if reason.starts_with(NO_SERVICE_REFUSAL) =>
            {
                tracing::info!(orderer = %self.orderer, "orderer has no batch service: sending one by one");
                lock(&self.shared.singles_only).insert(self.orderer);
                let items = batch
                    .envelopes
                    .into_iter()
                    .zip(replies)
                    .map(|(bytes, reply)| Item { bytes, reply })
                    .collect();
                self.send_singly(items).await;
            }
            Err(failure) => answer_all(replies, &failure),
        }
    }

    /// Each envelope in its own `orderer-broadcast` request, all at once.
    async fn send_singly(&self, items: Vec<Item>) {
        let requests = items.into_iter().map(|item| async move {
            let _ = item.reply.send(self.request_single(item.bytes).await);
        });
        futures::future::join_all(requests).await;
    }

    async fn request_single(&self, bytes: Vec<u8>) -> Outcome {
        let counters = &self.shared.counters;
        counters.singles.fetch_add(1, Ordering::Relaxed);
        counters.envelopes.fetch_add(1, Ordering::Relaxed);
        let reply = self
            .shared
            .net
            .request(self.orderer, BROADCAST_SERVICE, bytes)
            .await
            .map_err(Failure::Net)?;
        BroadcastResponse::decode_any(&reply).map_err(Failure::Codec)
    }

    async fn request_batch(
        &self,
        batch: &BroadcastBatch,
    ) -> Result<BroadcastBatchResponse, Failure> {
        let payload = encode(batch).map_err(Failure::Codec)?;
        let counters = &self.shared.counters;
        counters.batches.fetch_add(1, Ordering::Relaxed);
        let count = u64::try_from(batch.envelopes.len()).unwrap_or(u64::MAX);
        counters.envelopes.fetch_add(count, Ordering::Relaxed);
        let reply = self
            .shared
            .net
            .request(self.orderer, BROADCAST_BATCH_SERVICE, payload)
            .await
            .map_err(Failure::Net)?;
        decode::<BroadcastBatchResponse>(&reply).map_err(Failure::Codec)
    }
}

fn answer_all(replies: Vec<oneshot::Sender<Outcome>>, failure: &Failure) {
    for reply in replies {
        let _ = reply.send(Err(failure.clone()));
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}
