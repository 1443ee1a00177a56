//! The ordering service over `netsettle-net`: a [`Transport`] that sends Raft messages and
//! catch-up fetches as request–response calls between consenters, and the serving side
//! ([`serve`]) that answers them and takes broadcasts from clients and peers.
//!
//! | service             | callers (roles)          | request                        | response                    |
//! |---------------------|--------------------------|--------------------------------|-----------------------------|
//! | `orderer-raft`      | orderer                  | Raft messages, each `len:u32 BE ‖ bytes` | empty             |
//! | `orderer-blocks`    | orderer, peer            | `encode(BlockRange)`           | `encode(BlockBatch)`        |
//! | `orderer-broadcast` | client, peer, admin      | `encode(Envelope)`             | `encode(BroadcastResponse)` |
//! | `orderer-broadcast-batch` | client, peer, admin | `encode(BroadcastBatch)`     | `encode(BroadcastBatchResponse)` |
//! | `orderer-deliver`   | client, admin, peer, orderer | `encode(SignedDeliverRequest)` | `encode(DeliverBatch)` |
//!
//! (Service names and message types are `netsettle_protocol`'s, where every service is
//! listed.)
//!
//! Every `orderer-broadcast` answer names the Raft leader this orderer knows, by the node
//! id of its TLS certificate (`BroadcastResponse::leader`), so a client sends its next
//! broadcast there instead of through a follower's forwarding hop.
//!
//! `orderer-broadcast-batch` carries up to `BROADCAST_BATCH_ENVELOPES_MAX` envelopes for
//! this orderer in one request (a client's coalescer sends what queued up while its
//! earlier requests travelled), saving the per-request cost (stream, admission, answer)
//! of all but one. Each envelope goes exactly the way a single broadcast goes and gets its
//! own answer, in order: batching never changes what is accepted. A malformed, empty or
//! oversize batch is refused whole.
//!
//! `orderer-blocks` is for nodes (the TLS role is the check); `orderer-deliver` is the
//! signed delivery of the Deliver API: each request is signed by its requester and
//! checked against the channel's Readers policy (`netsettle orderer deliver` uses it).
//!
//! Consenters are named by the [`NodeId`] of the TLS certificate the channel config lists
//! for them, so a Raft message can only reach (and only come from) the consenter the
//! config names: the network layer checks the certificate in the handshake.
//!
//! # Raft messages: one link per consenter, in order, many per request
//!
//! Each consenter gets a bounded queue and one task that sends what has queued up as one
//! `orderer-raft` request and waits for its (empty) answer before sending the next. So
//! messages arrive in the order Raft produced them, and under load one request carries
//! every append, response and forwarded proposal produced while the previous one
//! travelled. One request per message instead (each its own task, racing the others)
//! reordered appends (the follower rejects them, the leader falls back to probing until
//! the next heartbeat) and opened a stream per forwarded proposal, hundreds at once under
//! load. A full queue drops the message (Raft retransmits); [`NetTransport::stats`]
//! counts what was sent and dropped.
//!
//! # Blocks: a long poll at the chain's head
//!
//! A request for blocks from the current height on (the next block, not cut yet) is held
//! until that block is written or `BLOCKS_LONG_POLL_MS` has passed, so a peer or a
//! lagging orderer gets a new block as soon as it exists instead of polling. Requests
//! being answered or held are bounded (`BLOCK_REQUESTS_OPEN_MAX`, beyond it: refused as
//! busy), and so are block reads in progress (`BLOCK_READS_CONCURRENT_MAX`, each up to a
//! full block of bytes).

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use netsettle_net::{InboundRequest, NetError, NetHandle, NodeId};
use netsettle_protocol::{
    BROADCAST_BATCH_SERVICE, BROADCAST_SERVICE, BlockBatch, BlockRange, BroadcastBatch,
    BroadcastBatchResponse, BroadcastResponse, BroadcastStatus, ChannelConfig,
    DELIVER_BATCH_BLOCKS_MAX, DELIVER_SERVICE, DeliverBatch, DeliverResponse, Envelope,
    ORDERER_BLOCKS_SERVICE, ORDERER_RAFT_SERVICE, Role, SignedDeliverRequest, decode, encode,
    limits::{BLOCK_BYTES_MAX, NODE_ID_TEXT_BYTES_MAX, truncate_text},
};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, watch};
use tokio::task::JoinHandle;

use crate::error::{OrdererError, RaftRefusal};
use crate::limits::{
    BLOCK_READS_CONCURRENT_MAX, BLOCK_REQUESTS_OPEN_MAX, BLOCKS_LONG_POLL_MS,
    BROADCAST_BATCH_DECODE_INLINE_BYTES_MAX, BROADCAST_DECODE_INLINE_BYTES_MAX,
    BROADCAST_INFO_BYTES_MAX, DELIVER_NEXT_BLOCK_WAIT_MS, DELIVER_REQUESTS_OPEN_MAX,
    ENVELOPE_CHECKS_CONCURRENT_MAX, RAFT_BATCH_BYTES_TARGET, RAFT_BATCH_MESSAGES_MAX,
    RAFT_FRAME_PREFIX_BYTES, RAFT_LINK_QUEUE_BYTES_MAX, RAFT_LINK_QUEUE_MESSAGES_MAX,
    RAFT_REQUEST_BYTES_MAX, RAFT_WIRE_BYTES_MAX,
};
use crate::service::{FetchFuture, OrdererHandle, Transport};

/// What the Raft links of a [`NetTransport`] did so far, all consenters together.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RaftSendStats {
    /// Messages handed to the network (in requests that were answered).
    pub messages_sent: u64,
    /// `orderer-raft` requests answered.
    pub requests_sent: u64,
    /// Requests that failed (unreachable consenter, refused, timed out); their messages
    /// are lost and Raft retransmits.
    pub requests_failed: u64,
    /// Messages dropped before sending: the consenter's queue was full.
    pub messages_dropped: u64,
}

#[derive(Debug, Default)]
struct Counters {
    messages_sent: AtomicU64,
    requests_sent: AtomicU64,
    requests_failed: AtomicU64,
    messages_dropped: AtomicU64,
}

impl Counters {
    fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

/// [`Transport`] over a running `netsettle-net` network.
#[derive(Debug, Clone)]
pub struct NetTransport {
    net: NetHandle,
    nodes: Arc<BTreeMap<u64, NodeId>>,
    links: Arc<Mutex<HashMap<u64, RaftLink>>>,
    counters: Arc<Counters>,
}

impl NetTransport {
    /// A transport reaching the consenters of `config` through `net`. The node adds
    /// their addresses to the network (known peers); this only names them. Refused when
    /// the network's message limit cannot carry the largest Raft message (a snapshot).
    pub fn new(net: NetHandle, config: &ChannelConfig) -> Result<Self, OrdererError> {
        let message_bytes_max = net.limits().message_bytes_max;
        if message_bytes_max < RAFT_REQUEST_BYTES_MAX {
            return Err(OrdererError::Config(format!(
                "the network's message limit of {message_bytes_max} bytes is below the \
                 {RAFT_REQUEST_BYTES_MAX} bytes a Raft snapshot may need"
            )));
        }
        Ok(NetTransport {
            net,
            nodes: Arc::new(netsettle_msp::consenter_nodes(
                config,
                NodeId::from_public_key,
            )?),
            links: Arc::default(),
            counters: Arc::default(),
        })
    }

    /// Counts of Raft messages sent and dropped so far.
    pub fn stats(&self) -> RaftSendStats {
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        RaftSendStats {
            messages_sent: load(&self.counters.messages_sent),
            requests_sent: load(&self.counters.requests_sent),
            requests_failed: load(&self.counters.requests_failed),
            messages_dropped: load(&self.counters.messages_dropped),
        }
    }

    fn drop_message(&self, to: u64, why: &'static str) {
        Counters::add(&self.counters.messages_dropped, 1);
        tracing::debug!(to, why, "raft message dropped");
    }
}

impl Transport for NetTransport {
    fn send_raft(&self, to: u64, message: Vec<u8>) {
        let Some(node) = self.nodes.get(&to).copied() else {
            tracing::warn!(to, "raft message for an unknown consenter dropped");
            return;
        };
        if message.len() > RAFT_WIRE_BYTES_MAX {
            // Cannot happen for messages raft-rs builds within our limits: a bug.
            tracing::error!(to, bytes = message.len(), "oversize raft message dropped");
            self.drop_message(to, "oversize");
            return;
        }
        let mut links = self.links.lock().unwrap_or_else(|e| e.into_inner());
        let link = match links.entry(to) {
            Entry::Occupied(entry) => entry.into_mut(),
            Entry::Vacant(entry) => {
                let Some(link) = RaftLink::start(self.net.clone(), to, node, &self.counters) else {
                    drop(links);
                    self.drop_message(to, "no runtime to send from");
                    return;
                };
                entry.insert(link)
            }
        };
        if !link.push(message) {
            drop(links);
            self.drop_message(to, "queue full");
        }
    }

    fn fetch_blocks(&self, from: u64, start: u64, end: u64) -> FetchFuture {
        let node = self.nodes.get(&from).copied();
        let net = self.net.clone();
        Box::pin(async move {
            let node = node.ok_or_else(|| format!("consenter {from} is unknown"))?;
            let request = encode(&BlockRange { start, end }).map_err(|e| e.to_string())?;
            let response = net
                .request(node, ORDERER_BLOCKS_SERVICE, request)
                .await
                .map_err(|e| e.to_string())?;
            let batch: BlockBatch = decode(&response).map_err(|e| e.to_string())?;
            Ok(batch.0)
        })
    }
}

/// One consenter's outgoing Raft messages: the queue its sending task drains.
#[derive(Debug)]
struct RaftLink {
    queue: mpsc::Sender<Vec<u8>>,
    queued_bytes: Arc<AtomicUsize>,
}

impl RaftLink {
    /// Starts the link's task; `None` outside a tokio runtime.
    fn start(net: NetHandle, to: u64, node: NodeId, counters: &Arc<Counters>) -> Option<Self> {
        let runtime = tokio::runtime::Handle::try_current().ok()?;
        let (queue, receiver) = mpsc::channel(RAFT_LINK_QUEUE_MESSAGES_MAX);
        let queued_bytes = Arc::new(AtomicUsize::new(0));
        let sender = LinkSender {
            net,
            to,
            node,
            receiver,
            queued_bytes: Arc::clone(&queued_bytes),
            counters: Arc::clone(counters),
            carried: None,
        };
        runtime.spawn(sender.run());
        Some(RaftLink {
            queue,
            queued_bytes,
        })
    }

    /// Queues `message`; false when the queue is full (in messages or bytes).
    fn push(&self, message: Vec<u8>) -> bool {
        let len = message.len();
        let reserved = self
            .queued_bytes
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |queued| {
                queued
                    .checked_add(len)
                    .filter(|total| *total <= RAFT_LINK_QUEUE_BYTES_MAX)
            })
            .is_ok();
        if !reserved {
            return false;
        }
        if self.queue.try_send(message).is_err() {
            self.queued_bytes.fetch_sub(len, Ordering::AcqRel);
            return false;
        }
        true
    }
}

/// The task behind a [`RaftLink`]: one `orderer-raft` request at a time, each carrying
/// every message queued meanwhile (up to `RAFT_BATCH_BYTES_TARGET`).
struct LinkSender {
    net: NetHandle,
    to: u64,
    node: NodeId,
    receiver: mpsc::Receiver<Vec<u8>>,
    queued_bytes: Arc<AtomicUsize>,
    counters: Arc<Counters>,
    /// A message taken from the queue that did not fit the last batch.
    carried: Option<Vec<u8>>,
}

/// Pause after a failed request, doubling up to the maximum while failures go on; what
/// queues meanwhile goes in the next request. Raft retransmits what the failure lost.
const LINK_RETRY_MIN: Duration = Duration::from_millis(50);
const LINK_RETRY_MAX: Duration = Duration::from_secs(1);

impl LinkSender {
    async fn run(mut self) {
        let mut retry = LINK_RETRY_MIN;
        while let Some((batch, n_messages)) = self.next_batch().await {
            match self
                .net
                .request(self.node, ORDERER_RAFT_SERVICE, batch)
                .await
            {
                Ok(_) => {
                    Counters::add(&self.counters.requests_sent, 1);
                    Counters::add(&self.counters.messages_sent, n_messages);
                    retry = LINK_RETRY_MIN;
                }
                Err(error) => {
                    Counters::add(&self.counters.requests_failed, 1);
                    tracing::debug!(to = self.to, %error, n_messages, "raft messages not delivered");
                    tokio::time::sleep(retry).await;
                    retry = retry.saturating_mul(2).min(LINK_RETRY_MAX);
                }
            }
        }
    }

    fn take(&self, message: Vec<u8>) -> Vec<u8> {
        self.queued_bytes.fetch_sub(message.len(), Ordering::AcqRel);
        message
    }

    /// Waits for a message, then adds whatever else is queued: the encoded batch and its
    /// message count. `None` once the transport is gone.
    async fn next_batch(&mut self) -> Option<(Vec<u8>, u64)> {
        let first = match self.carried.take() {
            Some(message) => message,
            None => {
                let message = self.receiver.recv().await?;
                self.take(message)
            }
        };
        let mut batch = RaftBatch::with_first(&first);
        while batch.n_messages < RAFT_BATCH_MESSAGES_MAX {
            let Ok(message) = self.receiver.try_recv() else {
                break;
            };
            let message = self.take(message);
            if !batch.fits(&message) {
                self.carried = Some(message);
                break;
            }
            batch.push(&message);
        }
        let n_messages = u64::try_from(batch.n_messages).unwrap_or(u64::MAX);
        Some((batch.bytes, n_messages))
    }
}

/// Raft messages in one `orderer-raft` request: `len:u32 BE ‖ message`, repeated.
struct RaftBatch {
    bytes: Vec<u8>,
    n_messages: usize,
}

impl RaftBatch {
    /// A batch holding `first`, whatever its size (up to `RAFT_WIRE_BYTES_MAX`).
    fn with_first(first: &[u8]) -> Self {
        let mut batch = RaftBatch {
            bytes: Vec::with_capacity(RAFT_FRAME_PREFIX_BYTES + first.len()),
            n_messages: 0,
        };
        batch.push(first);
        batch
    }

    /// Whether `message` may join without passing the batch target.
    fn fits(&self, message: &[u8]) -> bool {
        self.bytes.len() + RAFT_FRAME_PREFIX_BYTES + message.len() <= RAFT_BATCH_BYTES_TARGET
    }

    fn push(&mut self, message: &[u8]) {
        assert!(message.len() <= RAFT_WIRE_BYTES_MAX, "checked in send_raft");
        let len = u32::try_from(message.len()).expect("RAFT_WIRE_BYTES_MAX fits a u32");
        self.bytes.extend_from_slice(&len.to_be_bytes());
        self.bytes.extend_from_slice(message);
        self.n_messages += 1;
    }
}

/// The messages of an `orderer-raft` request, or why it is malformed.
fn split_raft_batch(mut bytes: &[u8]) -> Result<Vec<&[u8]>, String> {
    let mut messages = Vec::new();
    while !bytes.is_empty() {
        if messages.len() >= RAFT_BATCH_MESSAGES_MAX {
            return Err(format!(
                "more than {RAFT_BATCH_MESSAGES_MAX} raft messages in one request"
            ));
        }
        let Some((prefix, rest)) = bytes.split_first_chunk::<RAFT_FRAME_PREFIX_BYTES>() else {
            return Err("truncated raft message length".to_owned());
        };
        let len = usize::try_from(u32::from_be_bytes(*prefix)).unwrap_or(usize::MAX);
        if len > RAFT_WIRE_BYTES_MAX {
            return Err(format!("raft message of {len} bytes is over the limit"));
        }
        let Some((message, rest)) = rest.split_at_checked(len) else {
            return Err("truncated raft message".to_owned());
        };
        messages.push(message);
        bytes = rest;
    }
    Ok(messages)
}

/// Serves the orderer's services on `net` until the network stops; returns the
/// serving tasks.
pub fn serve(net: &NetHandle, orderer: &OrdererHandle) -> Result<Vec<JoinHandle<()>>, NetError> {
    let mut raft = net.serve(ORDERER_RAFT_SERVICE, &[Role::Orderer])?;
    let mut blocks = net.serve(ORDERER_BLOCKS_SERVICE, &[Role::Orderer, Role::Peer])?;
    let broadcasters = [Role::Client, Role::Peer, Role::Admin];
    let mut broadcasts = net.serve(BROADCAST_SERVICE, &broadcasters)?;
    let mut batches = net.serve(BROADCAST_BATCH_SERVICE, &broadcasters)?;
    let raft_orderer = orderer.clone();
    let raft_task = tokio::spawn(async move {
        let mut senders = RaftSenders::default();
        // One request at a time, so a consenter's messages are stepped in the order sent.
        while let Some(mut request) = raft.recv().await {
            let sender = match senders.consenter(&raft_orderer, &request.from.node_id) {
                Ok(id) => id,
                Err(config_sequence) => {
                    let refusal = RaftRefusal::NotAConsenter {
                        sender: format!("{} ({})", request.from.subject, request.from.msp_id),
                        config_sequence,
                    };
                    tracing::warn!(node = %request.from.node_id, %refusal, "orderer-raft request refused");
                    let _ = request.refuse(refusal.to_string()).await;
                    continue;
                }
            };
            // Splitting and decoding (up to a snapshot's worth) is CPU work: not on the
            // async workers that run the network and the tick timer.
            let payload = std::mem::take(&mut request.payload);
            let orderer = raft_orderer.clone();
            let outcome = tokio::task::spawn_blocking(move || {
                let messages = split_raft_batch(&payload).map_err(RaftRefusal::Malformed)?;
                orderer.raft_messages_from(sender, &messages)
            })
            .await
            .unwrap_or(Err(RaftRefusal::Busy));
            let _ = match outcome {
                Ok(()) => request.respond(Vec::new()).await,
                Err(refusal) => {
                    tracing::warn!(sender, node = %request.from.node_id, %refusal, "orderer-raft request refused");
                    request.refuse(refusal.to_string()).await
                }
            };
        }
    });
    let block_server = BlockServer {
        orderer: orderer.clone(),
        open: Arc::new(Semaphore::new(BLOCK_REQUESTS_OPEN_MAX)),
        reads: Arc::new(Semaphore::new(BLOCK_READS_CONCURRENT_MAX)),
    };
    let blocks_task = tokio::spawn(async move {
        while let Some(request) = blocks.recv().await {
            block_server.take(request).await;
        }
    });
    let mut delivers = net.serve(
        DELIVER_SERVICE,
        &[Role::Client, Role::Admin, Role::Peer, Role::Orderer],
    )?;
    let deliver_orderer = orderer.clone();
    let deliver_open = Arc::new(Semaphore::new(DELIVER_REQUESTS_OPEN_MAX));
    let deliver_task = tokio::spawn(async move {
        while let Some(request) = delivers.recv().await {
            let Ok(permit) = Arc::clone(&deliver_open).try_acquire_owned() else {
                let reason = format!("busy: {DELIVER_REQUESTS_OPEN_MAX} deliver requests open");
                let _ = request.refuse(reason).await;
                continue;
            };
            let orderer = deliver_orderer.clone();
            tokio::spawn(async move {
                let _permit = permit;
                answer_deliver(&orderer, request).await;
            });
        }
    });
    let shared = Broadcasts {
        orderer: orderer.clone(),
        decodes: Arc::new(Semaphore::new(ENVELOPE_CHECKS_CONCURRENT_MAX)),
        leader_name: Arc::new(LeaderName::default()),
    };
    let singles = shared.clone();
    let broadcast_task = tokio::spawn(async move {
        while let Some(request) = broadcasts.recv().await {
            let singles = singles.clone();
            // Each broadcast waits for its entry to commit; answer them concurrently.
            tokio::spawn(async move { answer_broadcast(&singles, request).await });
        }
    });
    let batch_task = tokio::spawn(async move {
        while let Some(request) = batches.recv().await {
            let shared = shared.clone();
            tokio::spawn(async move { answer_broadcast_batch(&shared, request).await });
        }
    });
    Ok(vec![
        raft_task,
        blocks_task,
        deliver_task,
        broadcast_task,
        batch_task,
    ])
}

/// Who may speak Raft: the consenters of the configuration in force, by the node id of
/// the TLS certificate the config lists for each, recomputed when the config changes.
#[derive(Default)]
struct RaftSenders {
    config_sequence: Option<u64>,
    by_node: HashMap<NodeId, u64>,
}

impl RaftSenders {
    /// The consenter id of `node` under the configuration in force, or that config's
    /// sequence when `node` is none of its consenters.
    fn consenter(&mut self, orderer: &OrdererHandle, node: &NodeId) -> Result<u64, u64> {
        let channel = orderer.channel();
        let sequence = channel.config.sequence;
        if self.config_sequence != Some(sequence) {
            self.by_node = consenters_by_node(&channel.config);
            self.config_sequence = Some(sequence);
        }
        self.by_node.get(node).copied().ok_or(sequence)
    }
}

/// The consenters of `config` by the node id of the TLS certificate it lists for each. A
/// consenter whose certificate does not parse is left out (the config checks refuse such
/// configs; this never trusts one).
fn consenters_by_node(config: &ChannelConfig) -> HashMap<NodeId, u64> {
    config
        .orderer
        .consenters
        .iter()
        .filter_map(|consenter| {
            netsettle_smcrypto::x509::Certificate::from_der(&consenter.tls_cert_der)
                .ok()
                .map(|cert| (NodeId::from_public_key(cert.public_key()), consenter.id))
        })
        .collect()
}

/// The Raft leader's network id in text form, as broadcast answers name it, recomputed
/// only when the leader or the configuration in force changes (naming it parses the
/// leader's certificate).
#[derive(Default)]
struct LeaderName {
    /// (config sequence, leader id, its name) of the last lookup.
    cached: Mutex<Option<(u64, u64, Option<String>)>>,
}

impl LeaderName {
    /// The leader `orderer` knows, by network id; `None` when it knows none.
    fn of(&self, orderer: &OrdererHandle) -> Option<String> {
        let leader = *orderer.leader().borrow();
        if leader == 0 {
            return None;
        }
        let channel = orderer.channel();
        let sequence = channel.config.sequence;
        let mut cached = self.cached.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((cached_sequence, cached_leader, name)) = &*cached
            && *cached_sequence == sequence
            && *cached_leader == leader
        {
            return name.clone();
        }
        let name = consenters_by_node(&channel.config)
            .into_iter()
            .find(|(_, id)| *id == leader)
            .map(|(node, _)| node.to_string())
            .filter(|text| text.len() <= NODE_ID_TEXT_BYTES_MAX);
        *cached = Some((sequence, leader, name.clone()));
        name
    }
}

/// Who `node` may speak Raft as under `config`: its consenter id, or why it may not (what
/// `orderer-raft` answers a node that is no consenter of the configuration in force: a
/// minted orderer certificate, a removed consenter).
pub fn raft_sender(config: &ChannelConfig, node: &NodeId) -> Result<u64, RaftRefusal> {
    consenters_by_node(config)
        .get(node)
        .copied()
        .ok_or_else(|| RaftRefusal::NotAConsenter {
            sender: node.to_string(),
            config_sequence: config.sequence,
        })
}

/// The `orderer-blocks` side: each request in a task of its own (bounded), held at the
/// chain's head until the next block exists or the long poll ends.
#[derive(Clone)]
struct BlockServer {
    orderer: OrdererHandle,
    /// Requests being answered or held.
    open: Arc<Semaphore>,
    /// Block reads (and encodings) in progress.
    reads: Arc<Semaphore>,
}

impl BlockServer {
    async fn take(&self, request: InboundRequest) {
        let Ok(permit) = Arc::clone(&self.open).try_acquire_owned() else {
            let reason = format!("busy: {BLOCK_REQUESTS_OPEN_MAX} block requests open");
            let _ = request.refuse(reason).await;
            return;
        };
        let server = self.clone();
        tokio::spawn(async move {
            let _permit = permit;
            server.answer(request).await;
        });
    }

    async fn answer(&self, mut request: InboundRequest) {
        let BlockRange { start, end } = match decode(&request.payload) {
            Ok(range) => range,
            Err(error) => {
                let _ = request.refuse(error.to_string()).await;
                return;
            }
        };
        if start < end {
            let wait = Duration::from_millis(BLOCKS_LONG_POLL_MS);
            tokio::select! {
                () = wait_for_block(self.orderer.height(), start, wait) => {}
                // The caller is gone: give its place back now, not at the poll's end.
                () = request.departed() => return,
            }
        }
        let Ok(_read) = self.reads.acquire().await else {
            return; // never closed
        };
        let orderer = self.orderer.clone();
        let encoded = tokio::task::spawn_blocking(move || {
            orderer
                .blocks(start, end)
                .map_err(|e| e.to_string())
                .and_then(|blocks| encode(&BlockBatch(blocks)).map_err(|e| e.to_string()))
        })
        .await
        .unwrap_or_else(|e| Err(format!("block read failed: {e}")));
        let _ = match encoded {
            Ok(bytes) => request.respond(bytes).await,
            Err(reason) => request.refuse(reason).await,
        };
    }
}

/// Returns once block `number` exists (the height passed it), the orderer stopped, or
/// `wait` has passed, whichever comes first.
async fn wait_for_block(mut heights: watch::Receiver<u64>, number: u64, wait: Duration) {
    let _ = tokio::time::timeout(wait, heights.wait_for(|height| *height > number)).await;
}

/// What answering a broadcast needs, shared by `orderer-broadcast` and
/// `orderer-broadcast-batch`.
#[derive(Clone)]
struct Broadcasts {
    orderer: OrdererHandle,
    /// Envelopes being decoded (one permit each, single or in a batch).
    decodes: Arc<Semaphore>,
    leader_name: Arc<LeaderName>,
}

/// `orderer-broadcast`: one envelope. With no decode permit free, the request is refused
/// as busy, as before batches existed.
async fn answer_broadcast(broadcasts: &Broadcasts, mut request: InboundRequest) {
    let Ok(permit) = Arc::clone(&broadcasts.decodes).try_acquire_owned() else {
        let reason = format!("busy: {ENVELOPE_CHECKS_CONCURRENT_MAX} broadcasts being decoded");
        let _ = request.refuse(reason).await;
        return;
    };
    let payload = std::mem::take(&mut request.payload);
    let response = broadcasts.one(permit, payload).await;
    let _ = match encode(&response) {
        Ok(bytes) => request.respond(bytes).await,
        Err(error) => request.refuse(error.to_string()).await,
    };
}

/// `orderer-broadcast-batch`: several envelopes, each going exactly the way a single
/// broadcast goes ([`Broadcasts::one`]), all at once, so they reach the checks together
/// and are checked as one batch. A malformed, empty or oversize batch is refused whole
/// and nothing of it is ordered; otherwise each envelope gets its own answer, in order,
/// and one refused envelope never affects the others. An envelope that finds no decode
/// permit free is answered `ServiceUnavailable` alone.
async fn answer_broadcast_batch(broadcasts: &Broadcasts, mut request: InboundRequest) {
    let payload = std::mem::take(&mut request.payload);
    let batch = match broadcasts.decode_batch(payload).await {
        Ok(batch) => batch,
        Err(reason) => {
            tracing::debug!(%reason, "broadcast batch refused");
            let _ = request.refuse(reason).await;
            return;
        }
    };
    broadcasts
        .orderer
        .stats()
        .broadcast_batches
        .fetch_add(1, Ordering::Relaxed);
    let answers = batch.envelopes.into_iter().map(|envelope| async move {
        match Arc::clone(&broadcasts.decodes).try_acquire_owned() {
            Ok(permit) => broadcasts.one(permit, envelope).await,
            Err(_) => broadcasts.named(BroadcastResponse {
                status: BroadcastStatus::ServiceUnavailable,
                info: format!("busy: {ENVELOPE_CHECKS_CONCURRENT_MAX} broadcasts being decoded"),
                leader: None,
            }),
        }
    });
    let answers = BroadcastBatchResponse(futures::future::join_all(answers).await);
    let _ = match encode(&answers) {
        Ok(bytes) => request.respond(bytes).await,
        Err(error) => request.refuse(error.to_string()).await,
    };
}

impl Broadcasts {
    /// The batch in `payload`, or why it is refused whole (malformed, empty, oversize, or
    /// busy). Decoding copies the envelopes' bytes (they stay encoded): in place for a
    /// batch of typical envelopes, on the blocking pool under a decode permit for a larger
    /// one (up to the network's message limit), as a large single envelope is.
    async fn decode_batch(&self, payload: Vec<u8>) -> Result<BroadcastBatch, String> {
        if payload.len() <= BROADCAST_BATCH_DECODE_INLINE_BYTES_MAX {
            return decode::<BroadcastBatch>(&payload).map_err(|error| error.to_string());
        }
        let Ok(permit) = Arc::clone(&self.decodes).try_acquire_owned() else {
            return Err(format!(
                "busy: {ENVELOPE_CHECKS_CONCURRENT_MAX} broadcasts being decoded"
            ));
        };
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            decode::<BroadcastBatch>(&payload)
        })
        .await
        .map_err(|error| error.to_string())
        .and_then(|decoded| decoded.map_err(|error| error.to_string()))
    }

    /// One envelope's way through the orderer, holding `permit` while it is decoded:
    /// decode, then [`OrdererHandle::broadcast_decoded`]; the answer names the leader.
    async fn one(&self, permit: OwnedSemaphorePermit, payload: Vec<u8>) -> BroadcastResponse {
        let encoded_bytes = payload.len();
        let decoded = if payload.len() <= BROADCAST_DECODE_INLINE_BYTES_MAX {
            // A few microseconds: cheaper here than a hop to another thread and back.
            let decoded = decode::<Envelope>(&payload).map_err(|error| error.to_string());
            drop(permit);
            decoded
        } else {
            // Decoding up to a block's worth of envelope is CPU work: off the async
            // workers, and bounded, since the blocking pool is not.
            tokio::task::spawn_blocking(move || {
                let _permit = permit;
                decode::<Envelope>(&payload)
            })
            .await
            .map_err(|error| error.to_string())
            .and_then(|decoded| decoded.map_err(|error| error.to_string()))
        };
        let response = match decoded {
            Ok(envelope) => match self
                .orderer
                .broadcast_decoded(envelope, encoded_bytes)
                .await
            {
                // The id that landed: for a config update, the config envelope the orderer
                // made of it, which the client then waits for at the peers.
                Ok(ack) => BroadcastResponse {
                    status: BroadcastStatus::Success,
                    info: ack.tx_id.to_string(),
                    leader: None,
                },
                Err(error) => BroadcastResponse {
                    status: error.status(),
                    info: truncate_text(error.to_string(), BROADCAST_INFO_BYTES_MAX),
                    leader: None,
                },
            },
            Err(error) => BroadcastResponse {
                status: BroadcastStatus::BadRequest,
                info: truncate_text(error, BROADCAST_INFO_BYTES_MAX),
                leader: None,
            },
        };
        self.named(response)
    }

    /// `response` naming the leader. Named after the outcome: a broadcast that waited
    /// through an election names the leader that ordered it.
    fn named(&self, response: BroadcastResponse) -> BroadcastResponse {
        BroadcastResponse {
            leader: self.leader_name.of(&self.orderer),
            ..response
        }
    }
}

/// `orderer-deliver`: checks the signed request (signature, Readers policy, freshness; see
/// [`OrdererHandle::deliver`]) and answers with the next blocks of its range, waiting up
/// to the long poll for the first one at the chain's head. Delivery over request–response
/// is a series of requests, each signed, each from the block after the last one received.
async fn answer_deliver(orderer: &OrdererHandle, mut request: InboundRequest) {
    let signed = match decode::<SignedDeliverRequest>(&request.payload) {
        Ok(signed) => signed,
        Err(error) => {
            let _ = request.refuse(error.to_string()).await;
            return;
        }
    };
    let batch = match orderer.deliver(signed) {
        Ok(stream) => tokio::select! {
            batch = collect_deliver(stream) => batch,
            // The caller is gone: give its place back now, not at the poll's end.
            () = request.departed() => return,
        },
        Err(error) => {
            tracing::debug!(%error, "deliver request refused");
            DeliverBatch {
                blocks: Vec::new(),
                status: Some(error.status()),
            }
        }
    };
    let _ = match encode(&batch) {
        Ok(bytes) => request.respond(bytes).await,
        Err(error) => request.refuse(error.to_string()).await,
    };
}

/// The next blocks of a delivery stream that fit one answer; dropping the stream ends it.
async fn collect_deliver(mut stream: mpsc::Receiver<DeliverResponse>) -> DeliverBatch {
    let mut batch = DeliverBatch {
        blocks: Vec::new(),
        status: None,
    };
    let mut bytes = 0usize;
    loop {
        let wait = if batch.blocks.is_empty() {
            Duration::from_millis(BLOCKS_LONG_POLL_MS)
        } else {
            Duration::from_millis(DELIVER_NEXT_BLOCK_WAIT_MS)
        };
        match tokio::time::timeout(wait, stream.recv()).await {
            Ok(Some(DeliverResponse::Block(block))) => {
                let size = encode(&block)
                    .map(|encoded| encoded.len())
                    .unwrap_or(usize::MAX);
                // One maximum-size block always fits; more only while they fit together.
                if !batch.blocks.is_empty() && bytes.saturating_add(size) > BLOCK_BYTES_MAX {
                    break; // the requester asks again from this block
                }
                bytes = bytes.saturating_add(size);
                batch.blocks.push(block);
                if batch.blocks.len() == DELIVER_BATCH_BLOCKS_MAX {
                    break;
                }
            }
            Ok(Some(DeliverResponse::Status(status))) => {
                batch.status = Some(status);
                break;
            }
            Ok(None) | Err(_) => break,
        }
    }
    batch
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch_of(messages: &[&[u8]]) -> RaftBatch {
        let (first, rest) = messages.split_first().expect("one message at least");
        let mut batch = RaftBatch::with_first(first);
        for message in rest {
            assert!(batch.fits(message));
            batch.push(message);
        }
        batch
    }

    #[test]
    fn raft_batches_split_back_into_their_messages_in_order() {
        let messages: [&[u8]; 4] = [b"append 1", b"", b"append 2", &[7; 300]];
        let batch = batch_of(&messages);
        assert_eq!(batch.n_messages, 4);
        assert_eq!(split_raft_batch(&batch.bytes).unwrap(), messages.to_vec());
        assert_eq!(split_raft_batch(&[]).unwrap(), Vec::<&[u8]>::new());
    }

    #[test]
    fn malformed_raft_batches_are_refused_without_panicking() {
        let batch = batch_of(&[b"vote", b"heartbeat"]);
        for cut in 1..batch.bytes.len() {
            let prefix = &batch.bytes[..cut];
            // Cutting exactly after the first message leaves a well-formed batch of one.
            if cut == RAFT_FRAME_PREFIX_BYTES + 4 {
                assert_eq!(split_raft_batch(prefix).unwrap(), vec![&b"vote"[..]]);
            } else {
                assert!(split_raft_batch(prefix).is_err(), "cut at {cut}");
            }
        }
        let oversize = u32::try_from(RAFT_WIRE_BYTES_MAX + 1)
            .unwrap()
            .to_be_bytes();
        let error = split_raft_batch(&oversize).unwrap_err();
        assert!(error.contains("over the limit"), "{error}");
        let mut many = Vec::new();
        for _ in 0..=RAFT_BATCH_MESSAGES_MAX {
            many.extend_from_slice(&0u32.to_be_bytes());
        }
        let error = split_raft_batch(&many).unwrap_err();
        assert!(error.contains("raft messages in one request"), "{error}");
    }

    #[test]
    fn a_batch_takes_messages_up_to_its_target_but_always_its_first() {
        let big = vec![0u8; RAFT_BATCH_BYTES_TARGET];
        let batch = RaftBatch::with_first(&big);
        assert_eq!(batch.bytes.len(), RAFT_FRAME_PREFIX_BYTES + big.len());
        assert!(!batch.fits(b"x"));
        let small = RaftBatch::with_first(b"x");
        assert!(small.fits(&vec![
            0u8;
            RAFT_BATCH_BYTES_TARGET
                - 2 * RAFT_FRAME_PREFIX_BYTES
                - 1
        ]));
        assert!(!small.fits(&vec![0u8; RAFT_BATCH_BYTES_TARGET]));
    }

    #[tokio::test]
    async fn a_long_poll_ends_when_the_block_exists_or_the_orderer_stops() {
        let forever = Duration::from_secs(3600);
        let deadline = Duration::from_secs(30);
        // Already there: no wait.
        let (_height, heights) = watch::channel(6u64);
        tokio::time::timeout(deadline, wait_for_block(heights, 5, forever))
            .await
            .expect("block 5 exists");
        // Written while waiting.
        let (height, heights) = watch::channel(5u64);
        let waiting = tokio::spawn(wait_for_block(heights, 5, forever));
        height.send_replace(6);
        tokio::time::timeout(deadline, waiting)
            .await
            .expect("woken by the new height")
            .unwrap();
        // The orderer stopped.
        let (height, heights) = watch::channel(5u64);
        let waiting = tokio::spawn(wait_for_block(heights, 5, forever));
        drop(height);
        tokio::time::timeout(deadline, waiting)
            .await
            .expect("woken by the stop")
            .unwrap();
        // Nothing happens: the poll ends with its wait.
        let (_height, heights) = watch::channel(5u64);
        tokio::time::timeout(deadline, wait_for_block(heights, 5, Duration::ZERO))
            .await
            .expect("a zero wait ends at once");
    }
}
