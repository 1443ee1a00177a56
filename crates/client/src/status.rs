//! Commit waits at one peer gathered into few long polls: every transaction a client is
//! waiting on at a peer goes into one `peer-tx-status-batch` request, which the peer
//! answers as soon as one of them is committed (or at the end of its wait), instead of
//! one `peer-tx-status` request held open per transaction. Under load a peer then
//! answers a couple of requests per block rather than one per transaction, and the
//! client holds a couple of streams per peer rather than one per waiting transaction.
//!
//! Per peer, a task (a lane) keeps the transactions waited on there, each with the
//! callers waiting for it and a deadline. It keeps at most
//! [`STATUS_POLLS_IN_FLIGHT_MAX`] polls in flight: each names the waited-on transactions
//! no other poll in flight names (up to `TX_STATUS_BATCH_IDS_MAX`), so a transaction
//! waited on while every poll is out goes with the next one, after the next commit.
//! An answer settles every transaction it reports committed (all its callers get the
//! block and code); the others go with the next poll, unless their deadline passed
//! ([`ClientError::NotCommitted`], as `STATUS_REQUESTS_MAX` single waits of
//! `STATUS_WAIT` would give) or nobody waits for them any more. A network error or a
//! malformed answer reaches every caller whose transaction was in that poll; a peer
//! without the batch service (built before it) is reported so the gateway waits there
//! one request per transaction, as before.
//!
//! Bounds: at most [`STATUS_WAITING_MAX`] transactions waited on per lane (beyond it new
//! callers wait for room in a queue of [`STATUS_QUEUE_MAX`]); a lane ends after
//! [`LANE_IDLE`] with nothing to wait for, or once the gateway is dropped.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use netsettle_net::{NetError, NetHandle, NodeId};
use netsettle_protocol::limits::TX_STATUS_BATCH_IDS_MAX;
use netsettle_protocol::{
    CodecError, TX_STATUS_BATCH_SERVICE, TxId, TxStatus, TxStatusBatch, TxStatusBatchRequest,
    ValidationCode, decode, encode,
};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use crate::ClientError;
use crate::coalesce::{LANE_STARTS_MAX, NO_SERVICE_REFUSAL, lock};
use crate::limits::{
    LANE_IDLE, STATUS_POLLS_IN_FLIGHT_MAX, STATUS_QUEUE_MAX, STATUS_REQUESTS_MAX, STATUS_WAIT,
    STATUS_WAITING_MAX,
};

/// Where a committed transaction is: its block and validation code.
pub(crate) type Commit = (u64, ValidationCode);

/// Why a wait in a lane ended without a commit. Cloneable: one failed poll reaches
/// every transaction in it.
#[derive(Debug, Clone)]
pub(crate) enum WaitFailure {
    /// The peer has no batch service (its refusal): wait there one request per
    /// transaction.
    NoBatchService(NetError),
    Net(NetError),
    Codec(CodecError),
    /// The answer did not have one status per id asked.
    Count {
        peer: NodeId,
        asked: usize,
        answered: usize,
    },
    /// Not committed by the wait's deadline.
    NotCommitted,
}

impl From<WaitFailure> for ClientError {
    fn from(failure: WaitFailure) -> Self {
        match failure {
            // The gateway waits one request per transaction instead; as an error it is
            // the peer's refusal.
            WaitFailure::NoBatchService(error) | WaitFailure::Net(error) => ClientError::Net(error),
            WaitFailure::Codec(error) => ClientError::Codec(error),
            WaitFailure::Count {
                peer,
                asked,
                answered,
            } => ClientError::StatusAnswer {
                peer: peer.to_string(),
                asked,
                answered,
            },
            WaitFailure::NotCommitted => ClientError::NotCommitted,
        }
    }
}

type Outcome = Result<Commit, WaitFailure>;

/// A caller waiting for a transaction.
struct Waiter {
    tx_id: TxId,
    reply: oneshot::Sender<Outcome>,
}

/// Waits for commits at peers, one lane per peer (see the module documentation).
pub(crate) struct StatusCoalescer {
    net: NetHandle,
    lanes: Mutex<HashMap<NodeId, mpsc::Sender<Waiter>>>,
    /// Peers that answered they have no batch service.
    singles_only: Mutex<HashSet<NodeId>>,
}

impl StatusCoalescer {
    pub(crate) fn new(net: NetHandle) -> Self {
        StatusCoalescer {
            net,
            lanes: Mutex::new(HashMap::new()),
            singles_only: Mutex::new(HashSet::new()),
        }
    }

    /// Whether `peer` is known to have no batch service.
    pub(crate) fn singles_only(&self, peer: NodeId) -> bool {
        lock(&self.singles_only).contains(&peer)
    }

    /// Waits until `peer` has committed `tx_id`: its block and validation code.
    pub(crate) async fn wait(&self, peer: NodeId, tx_id: TxId) -> Outcome {
        let (reply, answer) = oneshot::channel();
        let mut waiter = Waiter { tx_id, reply };
        for _ in 0..LANE_STARTS_MAX {
            match self.lane(peer).send(waiter).await {
                Ok(()) => {
                    // Dropped unanswered only when the runtime shuts down.
                    let outcome = answer
                        .await
                        .unwrap_or(Err(WaitFailure::Net(NetError::Shutdown)));
                    if matches!(outcome, Err(WaitFailure::NoBatchService(_))) {
                        lock(&self.singles_only).insert(peer);
                    }
                    return outcome;
                }
                // The lane retired (idle) meanwhile: the next call starts another.
                Err(mpsc::error::SendError(back)) => waiter = back,
            }
        }
        Err(WaitFailure::Net(NetError::Shutdown))
    }

    /// The queue of `peer`'s lane, starting the lane if it has none or it retired.
    fn lane(&self, peer: NodeId) -> mpsc::Sender<Waiter> {
        let mut lanes = lock(&self.lanes);
        if let Some(queue) = lanes.get(&peer)
            && !queue.is_closed()
        {
            return queue.clone();
        }
        let (queue, waiters) = mpsc::channel(STATUS_QUEUE_MAX);
        lanes.insert(peer, queue.clone());
        let lane = Lane {
            peer,
            net: self.net.clone(),
            waiting: HashMap::new(),
            unsent: Vec::new(),
        };
        tokio::spawn(lane.run(waiters));
        queue
    }
}

/// A transaction waited on in a lane.
struct Waited {
    replies: Vec<oneshot::Sender<Outcome>>,
    /// After it, a poll that finds it not committed ends its waits.
    deadline: Instant,
}

impl Waited {
    fn answer(self, outcome: &Outcome) {
        for reply in self.replies {
            let _ = reply.send(outcome.clone());
        }
    }

    /// Whether any caller still waits.
    fn wanted(&self) -> bool {
        self.replies.iter().any(|reply| !reply.is_closed())
    }
}

/// One peer's polling task.
struct Lane {
    peer: NodeId,
    net: NetHandle,
    waiting: HashMap<TxId, Waited>,
    /// Waited-on transactions no poll in flight names, in the order they came.
    unsent: Vec<TxId>,
}

/// A poll's ids and its answer.
type Polled = (Vec<TxId>, Result<TxStatusBatch, WaitFailure>);

impl Lane {
    async fn run(mut self, mut waiters: mpsc::Receiver<Waiter>) {
        let mut polls = FuturesUnordered::new();
        loop {
            while polls.len() < STATUS_POLLS_IN_FLIGHT_MAX && !self.unsent.is_empty() {
                let take = self.unsent.len().min(TX_STATUS_BATCH_IDS_MAX);
                let ids: Vec<TxId> = self.unsent.drain(..take).collect();
                polls.push(poll(self.net.clone(), self.peer, ids));
            }
            let idle = self.waiting.is_empty() && polls.is_empty();
            tokio::select! {
                waiter = waiters.recv(), if self.waiting.len() < STATUS_WAITING_MAX => match waiter {
                    Some(waiter) => self.add(waiter),
                    // The gateway is gone: nobody can wait any more.
                    None => break,
                },
                Some((ids, answer)) = polls.next(), if !polls.is_empty() => self.settle(ids, answer),
                () = tokio::time::sleep(LANE_IDLE), if idle => {
                    waiters.close();
                    // Whoever queued meanwhile is served before the lane ends.
                    while let Ok(waiter) = waiters.try_recv() {
                        self.add(waiter);
                    }
                    if self.waiting.is_empty() {
                        break;
                    }
                }
            }
        }
    }

    fn add(&mut self, waiter: Waiter) {
        match self.waiting.get_mut(&waiter.tx_id) {
            Some(waited) => waited.replies.push(waiter.reply),
            None => {
                let deadline = Instant::now() + STATUS_WAIT * STATUS_REQUESTS_MAX;
                self.waiting.insert(
                    waiter.tx_id,
                    Waited {
                        replies: vec![waiter.reply],
                        deadline,
                    },
                );
                self.unsent.push(waiter.tx_id);
            }
        }
    }

    /// Settles what a poll of `ids` answered and puts the rest back for the next poll.
    fn settle(&mut self, ids: Vec<TxId>, answer: Result<TxStatusBatch, WaitFailure>) {
        let statuses = match answer {
            Ok(TxStatusBatch { statuses }) if statuses.len() == ids.len() => statuses,
            Ok(TxStatusBatch { statuses }) => {
                let failure = WaitFailure::Count {
                    peer: self.peer,
                    asked: ids.len(),
                    answered: statuses.len(),
                };
                tracing::warn!(peer = %self.peer, ?failure, "status batch answer refused");
                self.fail(&ids, &failure);
                return;
            }
            Err(WaitFailure::Net(refusal @ NetError::Refused { .. })) if matches!(&refusal, NetError::Refused { reason, .. } if reason.starts_with(NO_SERVICE_REFUSAL)) =>
            {
                tracing::info!(peer = %self.peer, "peer has no status batch service: waiting one request per transaction");
                self.fail(&ids, &WaitFailure::NoBatchService(refusal));
                return;
            }
            Err(failure) => {
                self.fail(&ids, &failure);
                return;
            }
        };
        let now = Instant::now();
        for (tx_id, status) in ids.into_iter().zip(statuses) {
            let Some(waited) = self.waiting.remove(&tx_id) else {
                // A repeated id: settled at its first place.
                continue;
            };
            match status {
                TxStatus::Committed { block, code, .. } => waited.answer(&Ok((block, code))),
                TxStatus::NotCommitted { .. } if now >= waited.deadline => {
                    waited.answer(&Err(WaitFailure::NotCommitted));
                }
                TxStatus::NotCommitted { .. } if waited.wanted() => {
                    self.waiting.insert(tx_id, waited);
                    self.unsent.push(tx_id);
                }
                // Nobody waits for it any more.
                TxStatus::NotCommitted { .. } => {}
            }
        }
    }

    fn fail(&mut self, ids: &[TxId], failure: &WaitFailure) {
        for tx_id in ids {
            if let Some(waited) = self.waiting.remove(tx_id) {
                waited.answer(&Err(failure.clone()));
            }
        }
    }
}

/// One `peer-tx-status-batch` request for `ids`.
async fn poll(net: NetHandle, peer: NodeId, ids: Vec<TxId>) -> Polled {
    let request = TxStatusBatchRequest {
        tx_ids: ids,
        wait_ms: u64::try_from(STATUS_WAIT.as_millis()).unwrap_or(u64::MAX),
    };
    let answer = async {
        let payload = encode(&request).map_err(WaitFailure::Codec)?;
        let bytes = net
            .request(peer, TX_STATUS_BATCH_SERVICE, payload)
            .await
            .map_err(WaitFailure::Net)?;
        decode::<TxStatusBatch>(&bytes).map_err(WaitFailure::Codec)
    }
    .await;
    (request.tx_ids, answer)
}
