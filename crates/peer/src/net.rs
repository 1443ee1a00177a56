//! The peer on the network: its services over `netsettle-net` and the paths blocks take
//! to its committer. The node builds the peer ([`service::spawn`](crate::service::spawn))
//! and calls [`spawn`] with the network handle; everything below runs on its own tasks
//! until shutdown.
//!
//! | service          | callers (roles)       | request                   | response            |
//! |------------------|-----------------------|---------------------------|---------------------|
//! | `peer-endorse`   | client, admin         | `encode(SignedProposal)`  | `encode(EndorseReply)` |
//! | `peer-endorse-batch` | client, admin     | `encode(EndorseBatch)`    | `encode(EndorseBatchReply)` |
//! | `peer-tx-status` | client, admin, peer   | `encode(TxStatusRequest)` | `encode(TxStatus)`  |
//! | `peer-tx-status-batch` | client, admin, peer | `encode(TxStatusBatchRequest)` | `encode(TxStatusBatch)` |
//! | `peer-blocks`    | peer                  | `encode(BlockRange)`      | `encode(BlockBatch)` |
//!
//! (Service names and message types are `netsettle_protocol`'s, where every service is
//! listed.)
//!
//! Each service answers a bounded number of requests at once, in total and per calling
//! node ([`OpenRequests`], limits in `crate::limits`); beyond them callers are told the
//! service is busy. A status request waiting for its transaction lets go as soon as its
//! caller is gone ([`InboundRequest::departed`]). A status batch is a client's long poll
//! for all its commit waits at this peer: answered as soon as one of its transactions is
//! committed (or at the end of its wait), with where each one stands; a client needs only
//! a couple open, so few are admitted per caller.
//!
//! Blocks reach the committer by three paths, all into one bounded queue (the committer
//! takes the next block and drops the rest, so a block that arrives twice commits once):
//!
//! - deliver from the channel's orderers (`orderer-blocks`, own carrier's consenters
//!   first, failing over to the other carrier's), unless the peer is configured with
//!   [`DeliverFrom::Gossip`];
//! - gossip: every committed block is published on the channel's block topic
//!   ([`gossip::block_topic`]); received blocks are judged by [`gossip::judge`] and
//!   accepted (forwarded) or reported (the sender is penalised); blocks ahead of the
//!   ledger wait in a bounded buffer;
//! - state transfer (`peer-blocks`): when the orderers fail, or always for a gossip-only
//!   peer, deliver pulls from the other peers, the own carrier's first, then the other
//!   carrier's anchor peers. When the peer asked has nothing new, deliver moves to the
//!   next one as soon as a block from the future is gossiped, or when, every
//!   `PEER_POLL_INTERVAL` with nothing gossiped, another peer is found holding the block
//!   this peer lacks (anti-entropy).
//!
//! Which peers: the nodes this peer is connected to with the peer role. The network
//! keeps the nodes of the node config connected: the own carrier's inside its cloud, the
//! other carrier's at its DMZ. The channel config's anchor peers name the other carrier's
//! DMZ-published peer addresses; the peers configured at those addresses are asked first
//! among the other carrier's.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use netsettle_ledger::{LedgerError, TxLocation};
use netsettle_msp::consenter_nodes;
use netsettle_net::{ConnectionEvent, GossipMessage, InboundRequest, NetHandle, NodeId};
use netsettle_protocol::limits::{
    ENDORSE_ALONE_STATUS, ENDORSE_BATCH_REPLY_BYTES_MAX, RESPONSE_MESSAGE_BYTES_MAX, truncate_text,
};
use netsettle_protocol::{
    Block, BlockBatch, BlockRange, CodecError, ENDORSE_BATCH_SERVICE, ENDORSE_SERVICE,
    EndorseBatch, EndorseBatchReply, EndorseReply, ORDERER_BLOCKS_SERVICE, PEER_BLOCKS_SERVICE,
    Role, SignedProposal, TX_STATUS_BATCH_SERVICE, TX_STATUS_SERVICE, TxId, TxStatus,
    TxStatusBatch, TxStatusBatchRequest, TxStatusRequest, decode, encode,
};
use tokio::sync::{Notify, broadcast, mpsc, watch};
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

use crate::deliver::{self, BlockSource, DeliverConfig};
use crate::error::{EndorseError, PeerNetError};
use crate::gossip::{self, Intake, Route};
use crate::limits::{
    CLIENT_REQUESTS_OPEN_MAX, CLIENT_REQUESTS_OPEN_PER_NODE_MAX, ENDORSE_BATCHES_OPEN_MAX,
    ENDORSE_BATCHES_OPEN_PER_NODE_MAX, PEER_BLOCKS_OPEN_MAX, PEER_BLOCKS_OPEN_PER_NODE_MAX,
    STATUS_BATCHES_OPEN_MAX, STATUS_BATCHES_OPEN_PER_NODE_MAX,
};
use crate::service::PeerHandle;
use crate::stats::PeerStats;

/// The longest a status request may wait for its transaction to commit.
const TX_STATUS_WAIT_MAX: Duration = Duration::from_secs(30);
/// Pause before asking an orderer again when it had no new block. Orderers hold a request
/// at the chain's head until a block exists or their long poll ends; this bounds the
/// rate when one answers empty at once.
const BLOCK_POLL_INTERVAL: Duration = Duration::from_millis(100);
/// Pause before asking a peer again when it had no new block (anti-entropy: gossip
/// normally brings blocks first). A gossiped block from the future cuts it short.
const PEER_POLL_INTERVAL: Duration = Duration::from_secs(2);

/// Where a peer's blocks come from besides gossip (the node config's `deliver`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliverFrom {
    /// Pull from the orderers (own carrier's first), fall back to other peers; gossip too.
    #[default]
    Orderers,
    /// No orderer connection: blocks arrive by gossip, gaps are fetched from other peers.
    Gossip,
}

/// What the peer's network side needs from the node config.
#[derive(Debug, Clone)]
pub struct PeerNetConfig {
    /// This peer's organisation (its own carrier's orderers and peers come first).
    pub msp_id: String,
    /// Where blocks come from besides gossip.
    pub deliver_from: DeliverFrom,
    /// The nodes the node config keeps connected, with their addresses; those that are
    /// not consenters are the peers state transfer may ask.
    pub known_nodes: Vec<(NodeId, SocketAddr)>,
}

/// A task of the peer's network side; it runs until shutdown.
pub type PeerNetTask = JoinHandle<Result<(), PeerNetError>>;

/// Starts the peer's services (endorsement, commit status, state transfer) and the paths
/// blocks take to the committer through `blocks` (deliver from orderers and peers,
/// gossip), all until `shutdown`. The caller treats a task that ends before shutdown as
/// the end of the peer.
pub fn spawn(
    net: &NetHandle,
    peer: &PeerHandle,
    config: &PeerNetConfig,
    blocks: mpsc::Sender<Block>,
    shutdown: &watch::Receiver<bool>,
) -> Result<Vec<PeerNetTask>, PeerNetError> {
    let mut tasks = spawn_block_paths(net, peer, config, blocks, shutdown)?;
    tasks.extend(serve(net, peer, shutdown)?);
    Ok(tasks)
}

/// Starts the paths blocks take to the committer: deliver (orderers, then peers) and
/// gossip, sharing the committer's queue.
fn spawn_block_paths(
    net: &NetHandle,
    peer: &PeerHandle,
    config: &PeerNetConfig,
    blocks: mpsc::Sender<Block>,
    shutdown: &watch::Receiver<bool>,
) -> Result<Vec<PeerNetTask>, PeerNetError> {
    let gap = Arc::new(Notify::new());
    let source = Sources::new(net.clone(), config, peer.clone(), Arc::clone(&gap))?;
    info!(
        deliver_from = ?config.deliver_from,
        n_orderers = source.orderers.len(),
        n_peer_slots = source.peers.n_slots,
        "block sources"
    );
    let deliver_peer = peer.clone();
    let deliver_shutdown = shutdown.clone();
    let deliver_blocks = blocks.clone();
    let deliver = tokio::spawn(async move {
        deliver::run(
            source,
            DeliverConfig::default(),
            deliver_peer,
            deliver_blocks,
            deliver_shutdown,
        )
        .await;
        Ok(())
    });
    let gossip = tokio::spawn(gossip_blocks(
        net.clone(),
        peer.clone(),
        blocks,
        gap,
        shutdown.clone(),
    ));
    Ok(vec![deliver, gossip])
}

/// Serves endorsement, commit status and state transfer until shutdown.
fn serve(
    net: &NetHandle,
    peer: &PeerHandle,
    shutdown: &watch::Receiver<bool>,
) -> Result<Vec<PeerNetTask>, PeerNetError> {
    let client_bound =
        || OpenRequests::new(CLIENT_REQUESTS_OPEN_MAX, CLIENT_REQUESTS_OPEN_PER_NODE_MAX);
    let endorse = net.serve(ENDORSE_SERVICE, &[Role::Client, Role::Admin])?;
    let endorse_peer = peer.clone();
    let endorse = tokio::spawn(serve_until(
        endorse,
        client_bound(),
        shutdown.clone(),
        move |request| {
            let peer = endorse_peer.clone();
            async move { answer_endorse(&peer, request).await }
        },
    ));
    let endorse_batches = net.serve(ENDORSE_BATCH_SERVICE, &[Role::Client, Role::Admin])?;
    let batches_peer = peer.clone();
    let endorse_batches = tokio::spawn(serve_until(
        endorse_batches,
        OpenRequests::new(ENDORSE_BATCHES_OPEN_MAX, ENDORSE_BATCHES_OPEN_PER_NODE_MAX),
        shutdown.clone(),
        move |request| {
            let peer = batches_peer.clone();
            async move { answer_endorse_batch(&peer, request).await }
        },
    ));
    let status = net.serve(TX_STATUS_SERVICE, &[Role::Client, Role::Admin, Role::Peer])?;
    let status_peer = peer.clone();
    let status = tokio::spawn(serve_until(
        status,
        client_bound(),
        shutdown.clone(),
        move |request| {
            let peer = status_peer.clone();
            async move { answer_tx_status(&peer, request).await }
        },
    ));
    let batches = net.serve(
        TX_STATUS_BATCH_SERVICE,
        &[Role::Client, Role::Admin, Role::Peer],
    )?;
    let batches_peer = peer.clone();
    let batches = tokio::spawn(serve_until(
        batches,
        OpenRequests::new(STATUS_BATCHES_OPEN_MAX, STATUS_BATCHES_OPEN_PER_NODE_MAX),
        shutdown.clone(),
        move |request| {
            let peer = batches_peer.clone();
            async move { answer_tx_status_batch(&peer, request).await }
        },
    ));
    let blocks = net.serve(PEER_BLOCKS_SERVICE, &[Role::Peer])?;
    let blocks_peer = peer.clone();
    let blocks_bound = OpenRequests::new(PEER_BLOCKS_OPEN_MAX, PEER_BLOCKS_OPEN_PER_NODE_MAX);
    let blocks = tokio::spawn(serve_until(
        blocks,
        blocks_bound,
        shutdown.clone(),
        move |request| {
            let peer = blocks_peer.clone();
            async move { answer_blocks(&peer, request).await }
        },
    ));
    Ok(vec![endorse, endorse_batches, status, batches, blocks])
}

/// The gossip side of the peer: publishes every committed block on the channel's block
/// topic, judges the blocks other peers publish, hands the next one to the committer and
/// keeps those from the future until the gap before them closes.
async fn gossip_blocks(
    net: NetHandle,
    peer: PeerHandle,
    blocks: mpsc::Sender<Block>,
    gap: Arc<Notify>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), PeerNetError> {
    let topic = gossip::block_topic(&peer.channel().config.channel);
    // Subscribe to commits first: a block committed meanwhile is still published.
    let mut committed = peer.subscribe();
    // Only the channel's peers and orderers may gossip blocks; another role's message
    // is rejected by the network and counts against its sender.
    let mut messages = net
        .subscribe(&topic, &[Role::Peer, Role::Orderer])
        .await
        .map_err(|source| PeerNetError::Subscribe {
            topic: topic.clone(),
            source: Box::new(source),
        })?;
    let mut intake = Intake::new();
    loop {
        tokio::select! {
            message = messages.recv() => {
                let Some(message) = message else { return Ok(()) };
                on_gossiped_block(&net, &peer, &blocks, &mut intake, &gap, message).await;
            }
            event = committed.recv() => {
                match event {
                    Ok(event) => {
                        if intake.committed(event.number) {
                            publish_block(&net, &peer, &topic, event.number).await;
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(missed)) => {
                        debug!(missed, "commit events lagged; those blocks are not published");
                    }
                    Err(broadcast::error::RecvError::Closed) => return Ok(()),
                }
                forward_ready(&peer, &blocks, &mut intake).await;
            }
            () = stopped(&mut shutdown) => return Ok(()),
        }
    }
}

/// Resolves once shutdown is asked for (or its sender is gone).
async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

/// Judges one gossiped block (on the blocking pool: decoding and a signature check),
/// reports the verdict to the network and routes the block.
async fn on_gossiped_block(
    net: &NetHandle,
    peer: &PeerHandle,
    blocks: &mpsc::Sender<Block>,
    intake: &mut Intake,
    gap: &Notify,
    message: GossipMessage,
) {
    let judge_peer = peer.clone();
    let payload = message.payload.clone();
    let judged = tokio::task::spawn_blocking(move || {
        let tip = judge_peer.tip()?;
        let ledger = judge_peer.ledger();
        let committed_hash = |number| ledger.block(number).ok().flatten().map(|b| b.hash());
        Ok::<_, LedgerError>(gossip::judge(
            &judge_peer.channel(),
            tip,
            committed_hash,
            &payload,
        ))
    })
    .await;
    let judged = match judged {
        Ok(Ok(judged)) => judged,
        Ok(Err(error)) => {
            // Our own ledger failed: no verdict on the sender.
            warn!(%error, "gossiped block not judged");
            return;
        }
        Err(join_error) => {
            warn!(%join_error, "gossiped block not judged");
            return;
        }
    };
    let from = message.from;
    let verdict = match intake.route(judged, message.payload.len()) {
        Route::Commit(block) => {
            debug!(%from, number = block.header.number, "next block by gossip");
            PeerStats::add(&peer.stats().gossip_received_next, 1);
            let accepted = net.accept(&message).await;
            // A closed queue means the committer stopped; the node is going down.
            let _ = blocks.send(*block).await;
            accepted
        }
        Route::Accept => {
            PeerStats::add(&peer.stats().gossip_received_known, 1);
            net.accept(&message).await
        }
        Route::AcceptBehind => {
            debug!(%from, "block from the future by gossip");
            PeerStats::add(&peer.stats().gossip_received_ahead, 1);
            gap.notify_one();
            net.accept(&message).await
        }
        Route::Behind => {
            // Not judged, so no verdict: the network drops it unforwarded and unblamed.
            debug!(%from, "gossiped block under a config not committed yet");
            gap.notify_one();
            Ok(())
        }
        Route::Report(refusal) => {
            warn!(%from, %refusal, "gossiped block refused; sender reported");
            PeerStats::add(&peer.stats().gossip_received_refused, 1);
            net.report_invalid(&message).await
        }
    };
    if let Err(error) = verdict {
        debug!(%error, "gossip verdict not delivered");
    }
}

/// Hands the buffered blocks that now continue the ledger to the committer.
async fn forward_ready(peer: &PeerHandle, blocks: &mpsc::Sender<Block>, intake: &mut Intake) {
    let tip = match peer.tip() {
        Ok(tip) => tip,
        Err(error) => {
            warn!(%error, "reading the ledger tip");
            return;
        }
    };
    for block in intake.ready(tip) {
        if blocks.send(block).await.is_err() {
            return;
        }
    }
}

/// Publishes committed block `number` as stored (so every peer publishes the same bytes
/// and the network delivers it once).
async fn publish_block(net: &NetHandle, peer: &PeerHandle, topic: &str, number: u64) {
    let bytes = match peer.ledger().block_bytes(number) {
        Ok(Some(bytes)) => bytes,
        Ok(None) => return,
        Err(error) => {
            warn!(number, %error, "reading a committed block to gossip");
            return;
        }
    };
    if bytes.len() > net.limits().gossip_bytes_max {
        debug!(
            number,
            "block over the gossip limit; peers fetch it by state transfer"
        );
        return;
    }
    // Already seen (it came by gossip) or nobody subscribed yet: both are fine.
    if let Err(error) = net.publish(topic, bytes).await {
        debug!(number, %error, "block not gossiped");
    }
}

/// Serves committed blocks to peers catching up.
async fn answer_blocks(peer: &PeerHandle, request: InboundRequest) {
    let range: BlockRange = match decode(&request.payload) {
        Ok(range) => range,
        Err(error) => {
            let _ = request.refuse(error.to_string()).await;
            return;
        }
    };
    let serving = peer.clone();
    let read = tokio::task::spawn_blocking(move || serving.blocks_from(range.start)).await;
    let encoded = match read {
        Ok(Ok(mut blocks)) => {
            blocks.truncate(usize::try_from(range.len()).unwrap_or(usize::MAX));
            PeerStats::add(&peer.stats().state_transfer_blocks_served, blocks.len());
            encode(&BlockBatch(blocks)).map_err(|error| error.to_string())
        }
        Ok(Err(error)) => Err(error.to_string()),
        Err(join_error) => Err(join_error.to_string()),
    };
    let _ = match encoded {
        Ok(bytes) => request.respond(bytes).await,
        Err(reason) => request.refuse(reason).await,
    };
}

/// Answers each request on its own task until shutdown, at most `bound` at once.
async fn serve_until<F, Fut>(
    mut requests: mpsc::Receiver<InboundRequest>,
    bound: Arc<OpenRequests>,
    mut shutdown: watch::Receiver<bool>,
    answer: F,
) -> Result<(), PeerNetError>
where
    F: Fn(InboundRequest) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    loop {
        tokio::select! {
            request = requests.recv() => match request {
                Some(request) => match bound.enter(request.from.node_id, &request.from.msp_id) {
                    Ok(open) => {
                        let answering = answer(request);
                        tokio::spawn(async move {
                            answering.await;
                            drop(open);
                        });
                    }
                    Err(reason) => {
                        debug!(from = %request.from.node_id, service = %request.service, %reason, "request refused");
                        tokio::spawn(async move {
                            let _ = request.refuse(reason).await;
                        });
                    }
                },
                None => return Ok(()),
            },
            _ = shutdown.wait_for(|stop| *stop) => return Ok(()),
        }
    }
}

/// Requests of one service being answered: at most `total_max` at once, at most half of
/// them from the nodes of one organisation, and at most `per_node_max` from one calling
/// node, so neither a flood nor one slow caller can hold the service, and neither
/// carrier, however many identities its CA mints, can take the other's half.
#[derive(Debug)]
pub struct OpenRequests {
    total_max: usize,
    per_node_max: usize,
    per_org_max: usize,
    open: Mutex<Open>,
}

#[derive(Debug, Default)]
struct Open {
    by_node: HashMap<NodeId, usize>,
    by_org: HashMap<String, usize>,
    total: usize,
}

/// One request's place in [`OpenRequests`], given back when dropped.
#[derive(Debug)]
pub struct OpenRequest {
    bound: Arc<OpenRequests>,
    node: NodeId,
    org: String,
}

impl OpenRequests {
    /// A bound of `total_max` requests at once, half of them (at least `per_node_max`)
    /// from one organisation, `per_node_max` from one node.
    pub fn new(total_max: usize, per_node_max: usize) -> Arc<Self> {
        Arc::new(OpenRequests {
            total_max,
            per_node_max,
            per_org_max: (total_max / 2).max(per_node_max),
            open: Mutex::new(Open::default()),
        })
    }

    /// A place for one more request from `node` of organisation `org`, or why not.
    pub fn enter(self: &Arc<Self>, node: NodeId, org: &str) -> Result<OpenRequest, String> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        if open.total >= self.total_max {
            return Err(format!("busy: {} requests open", open.total));
        }
        let from_org = open.by_org.get(org).copied().unwrap_or(0);
        if from_org >= self.per_org_max {
            return Err(format!(
                "busy: {from_org} requests of this organisation open"
            ));
        }
        let from_node = open.by_node.get(&node).copied().unwrap_or(0);
        if from_node >= self.per_node_max {
            return Err(format!("busy: {from_node} requests of this node open"));
        }
        open.by_node.insert(node, from_node.saturating_add(1));
        open.by_org
            .insert(org.to_owned(), from_org.saturating_add(1));
        open.total = open.total.saturating_add(1);
        Ok(OpenRequest {
            bound: Arc::clone(self),
            node,
            org: org.to_owned(),
        })
    }

    /// Requests open now.
    pub fn n_open(&self) -> usize {
        self.open.lock().unwrap_or_else(|e| e.into_inner()).total
    }
}

impl Drop for OpenRequest {
    fn drop(&mut self) {
        let mut open = self.bound.open.lock().unwrap_or_else(|e| e.into_inner());
        let open = &mut *open;
        open.total = open.total.saturating_sub(1);
        if let Some(count) = open.by_node.get_mut(&self.node) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.by_node.remove(&self.node);
            }
        }
        if let Some(count) = open.by_org.get_mut(&self.org) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.by_org.remove(&self.org);
            }
        }
    }
}

async fn answer_endorse(peer: &PeerHandle, request: InboundRequest) {
    let reply = endorse_reply(peer, &request.payload).await;
    respond(request, encode(&reply)).await;
}

/// This peer's answer to the encoding of a signed proposal.
async fn endorse_reply(peer: &PeerHandle, payload: &[u8]) -> EndorseReply {
    match decode::<SignedProposal>(payload) {
        Ok(signed) => match peer.endorse(signed).await {
            Ok(response) => EndorseReply::Endorsed(Box::new(response)),
            Err(error) => EndorseReply::Refused {
                status: endorse_status(&error),
                message: truncate_text(error.to_string(), RESPONSE_MESSAGE_BYTES_MAX),
            },
        },
        Err(error) => EndorseReply::Refused {
            status: 400,
            message: truncate_text(error.to_string(), RESPONSE_MESSAGE_BYTES_MAX),
        },
    }
}

/// Endorses every proposal of a batch as if it had come alone, all at once on the
/// runtime's workers, and answers them in the batch's order.
async fn answer_endorse_batch(peer: &PeerHandle, mut request: InboundRequest) {
    let batch = match decode::<EndorseBatch>(&request.payload) {
        Ok(batch) => batch,
        Err(error) => {
            let _ = request.refuse(error.to_string()).await;
            return;
        }
    };
    let mut endorsing = tokio::task::JoinSet::new();
    for (index, proposal) in batch.proposals.into_iter().enumerate() {
        let peer = peer.clone();
        endorsing.spawn(async move { (index, endorse_reply(&peer, &proposal).await) });
    }
    let count = endorsing.len();
    let mut replies: Vec<Option<EndorseReply>> = vec![None; count];
    let collected = async {
        while let Some(joined) = endorsing.join_next().await {
            match joined {
                Ok((index, reply)) => {
                    if let Some(slot) = replies.get_mut(index) {
                        *slot = Some(reply);
                    }
                }
                Err(error) => warn!(%error, "an endorsement of a batch failed to run"),
            }
        }
    };
    tokio::select! {
        () = collected => {}
        // The caller is gone: stop endorsing for it (dropping the set aborts the rest).
        () = request.departed() => {
            debug!(from = %request.from.node_id, "endorse batch caller gone");
            return;
        }
    }
    let replies: Vec<EndorseReply> = replies
        .into_iter()
        .map(|reply| {
            reply.unwrap_or_else(|| EndorseReply::Refused {
                status: 500,
                message: "the endorsement did not run to its end".to_owned(),
            })
        })
        .collect();
    respond(request, encode_endorse_batch_reply(replies)).await;
}

/// The batch's answer; when the replies together are over the limit of one answer, the
/// largest are replaced by [`ENDORSE_ALONE_STATUS`] refusals until it fits, and their
/// callers ask for them alone.
fn encode_endorse_batch_reply(mut replies: Vec<EndorseReply>) -> Result<Vec<u8>, CodecError> {
    let whole = EndorseBatchReply(replies);
    match encode(&whole) {
        Err(CodecError::TooLarge { .. }) => {}
        encoded => return encoded,
    }
    replies = whole.0;
    let mut sizes: Vec<(usize, usize)> = replies
        .iter()
        .enumerate()
        .map(|(index, reply)| (encode(reply).map_or(usize::MAX, |bytes| bytes.len()), index))
        .collect();
    sizes.sort_unstable_by(|a, b| b.cmp(a));
    let budget = ENDORSE_BATCH_REPLY_BYTES_MAX / 2;
    let mut total: usize = sizes
        .iter()
        .map(|(size, _)| *size)
        .fold(0, usize::saturating_add);
    for (size, index) in sizes {
        if total <= budget {
            break;
        }
        if let Some(reply) = replies.get_mut(index) {
            *reply = EndorseReply::Refused {
                status: ENDORSE_ALONE_STATUS,
                message: "endorsement too large for a batch answer: ask for it alone".to_owned(),
            };
            total = total.saturating_sub(size);
        }
    }
    encode(&EndorseBatchReply(replies))
}

fn endorse_status(error: &EndorseError) -> u32 {
    match error {
        EndorseError::Contract { status, .. } => *status,
        EndorseError::Rejected(_) => 403,
        EndorseError::Unavailable(_) => 503,
        _ => 500,
    }
}

async fn answer_tx_status(peer: &PeerHandle, mut request: InboundRequest) {
    let query = match decode::<TxStatusRequest>(&request.payload) {
        Ok(query) => query,
        Err(error) => {
            let _ = request.refuse(error.to_string()).await;
            return;
        }
    };
    // A caller that is gone gets no answer: stop waiting and give its place back.
    let status = tokio::select! {
        status = tx_status(peer, &query) => status,
        () = request.departed() => {
            debug!(from = %request.from.node_id, "status caller gone");
            return;
        }
    };
    match status {
        Ok(status) => respond(request, encode(&status)).await,
        Err(error) => {
            let _ = request.refuse(error.to_string()).await;
        }
    }
}

/// Looks the transaction up; if absent, waits (bounded) for a block that holds it.
async fn tx_status(peer: &PeerHandle, query: &TxStatusRequest) -> Result<TxStatus, LedgerError> {
    // Subscribe before looking, so a commit between the two is not missed.
    let mut events = peer.subscribe();
    if let Some(location) = peer.ledger().transaction(&query.tx_id)? {
        return Ok(committed(location));
    }
    let wait = Duration::from_millis(query.wait_ms).min(TX_STATUS_WAIT_MAX);
    // Either outcome of the wait is settled by the ledger lookup below: a timeout, a
    // closed or lagging event stream, or the block that holds the transaction.
    let _ = tokio::time::timeout(wait, async {
        while let Ok(event) = events.recv().await {
            if event.txs.iter().any(|tx| tx.tx_id == query.tx_id) {
                return;
            }
        }
    })
    .await;
    Ok(match peer.ledger().transaction(&query.tx_id)? {
        Some(location) => committed(location),
        None => TxStatus::NotCommitted {
            height: peer.height(),
        },
    })
}

async fn answer_tx_status_batch(peer: &PeerHandle, mut request: InboundRequest) {
    let query = match decode::<TxStatusBatchRequest>(&request.payload) {
        Ok(query) => query,
        Err(error) => {
            let _ = request.refuse(error.to_string()).await;
            return;
        }
    };
    let statuses = tokio::select! {
        statuses = tx_statuses(peer, &query) => statuses,
        () = request.departed() => {
            debug!(from = %request.from.node_id, "status batch caller gone");
            return;
        }
    };
    match statuses {
        Ok(statuses) => respond(request, encode(&TxStatusBatch { statuses })).await,
        Err(error) => {
            let _ = request.refuse(error.to_string()).await;
        }
    }
}

/// Where each of the query's transactions stands; while none is committed, waits
/// (bounded) for the first block that holds one of them.
async fn tx_statuses(
    peer: &PeerHandle,
    query: &TxStatusBatchRequest,
) -> Result<Vec<TxStatus>, LedgerError> {
    // Subscribe before looking, so a commit between the two is not missed.
    let mut events = peer.subscribe();
    let found = look_up(peer, &query.tx_ids, |_| true)?;
    if found.iter().any(Option::is_some) {
        return Ok(statuses(peer, found));
    }
    let wanted: HashSet<&TxId> = query.tx_ids.iter().collect();
    let wait = Duration::from_millis(query.wait_ms).min(TX_STATUS_WAIT_MAX);
    // The first block holding any of them, or `None` when the wait ended otherwise (a
    // timeout, a closed or lagging event stream): then every id is looked up again.
    let hit = tokio::time::timeout(wait, async {
        while let Ok(event) = events.recv().await {
            let held: HashSet<TxId> = event
                .txs
                .iter()
                .filter(|tx| wanted.contains(&tx.tx_id))
                .map(|tx| tx.tx_id)
                .collect();
            if !held.is_empty() {
                return Some(held);
            }
        }
        None
    })
    .await
    .ok()
    .flatten();
    // Without a lag, nothing but the block that held some of them committed any of them
    // since the first look: only those are looked up again.
    let found = match hit {
        Some(held) => look_up(peer, &query.tx_ids, |tx_id| held.contains(tx_id))?,
        None => look_up(peer, &query.tx_ids, |_| true)?,
    };
    Ok(statuses(peer, found))
}

/// Each of `tx_ids` that `look` selects, looked up in the ledger; `None` for the others.
fn look_up(
    peer: &PeerHandle,
    tx_ids: &[TxId],
    look: impl Fn(&TxId) -> bool,
) -> Result<Vec<Option<TxLocation>>, LedgerError> {
    let ledger = peer.ledger();
    tx_ids
        .iter()
        .map(|tx_id| {
            if look(tx_id) {
                ledger.transaction(tx_id)
            } else {
                Ok(None)
            }
        })
        .collect()
}

fn statuses(peer: &PeerHandle, found: Vec<Option<TxLocation>>) -> Vec<TxStatus> {
    let height = peer.height();
    found
        .into_iter()
        .map(|location| match location {
            Some(location) => committed(location),
            None => TxStatus::NotCommitted { height },
        })
        .collect()
}

fn committed(location: TxLocation) -> TxStatus {
    TxStatus::Committed {
        block: location.block,
        tx: location.index,
        code: location.code,
    }
}

async fn respond(request: InboundRequest, encoded: Result<Vec<u8>, CodecError>) {
    let _ = match encoded {
        Ok(bytes) => request.respond(bytes).await,
        Err(error) => request.refuse(error.to_string()).await,
    };
}

/// Where deliver pulls blocks from: the channel's orderers (this carrier's consenters
/// first, none for a gossip-only peer), then the other peers (state transfer).
struct Sources {
    net: NetHandle,
    orderers: Vec<NodeId>,
    peers: PeerDirectory,
    gap: Arc<Notify>,
}

impl Sources {
    fn new(
        net: NetHandle,
        config: &PeerNetConfig,
        peer: PeerHandle,
        gap: Arc<Notify>,
    ) -> Result<Self, PeerNetError> {
        let channel = peer.channel();
        let nodes = consenter_nodes(&channel.config, NodeId::from_public_key)?;
        let orderers = match config.deliver_from {
            DeliverFrom::Gossip => Vec::new(),
            DeliverFrom::Orderers => {
                let mut consenters: Vec<_> = channel.config.orderer.consenters.iter().collect();
                // Own carrier first: inside the cloud, no DMZ hop.
                consenters.sort_by_key(|consenter| consenter.msp_id != config.msp_id);
                let orderers: Vec<NodeId> = consenters
                    .iter()
                    .filter_map(|consenter| nodes.get(&consenter.id).copied())
                    .collect();
                if orderers.is_empty() {
                    return Err(PeerNetError::NoConsenters);
                }
                orderers
            }
        };
        let consenter_ids: Vec<NodeId> = nodes.values().copied().collect();
        let peers = PeerDirectory::new(config, &consenter_ids, peer);
        Ok(Sources {
            net,
            orderers,
            peers,
            gap,
        })
    }

    /// One range request to `node`'s block service.
    async fn request_blocks(
        &self,
        node: NodeId,
        service: &str,
        start: u64,
        max: usize,
    ) -> Result<Vec<Block>, String> {
        let request =
            encode(&BlockRange::starting_at(start, max)).map_err(|error| error.to_string())?;
        let response = self
            .net
            .request(node, service, request)
            .await
            .map_err(|error| error.to_string())?;
        let batch: BlockBatch = decode(&response).map_err(|error| error.to_string())?;
        Ok(batch.0)
    }

    async fn fetch_from_orderer(
        &self,
        node: NodeId,
        start: u64,
        max: usize,
    ) -> Result<Vec<Block>, String> {
        let blocks = self
            .request_blocks(node, ORDERER_BLOCKS_SERVICE, start, max)
            .await?;
        PeerStats::add(
            &self.peers.peer.stats().orderer_blocks_fetched,
            blocks.len(),
        );
        if blocks.is_empty() {
            tokio::time::sleep(BLOCK_POLL_INTERVAL).await;
        }
        Ok(blocks)
    }

    async fn fetch_from_peer(
        &self,
        slot: usize,
        start: u64,
        max: usize,
    ) -> Result<Vec<Block>, String> {
        let node = self.peers.in_slot(&self.net, slot).await?;
        // A gap seen before this request is answered by this request.
        let gap = self.gap.notified();
        tokio::pin!(gap);
        gap.as_mut().enable();
        let blocks = self
            .request_blocks(node, PEER_BLOCKS_SERVICE, start, max)
            .await?;
        PeerStats::add(
            &self.peers.peer.stats().state_transfer_blocks_fetched,
            blocks.len(),
        );
        if blocks.is_empty() {
            tokio::select! {
                () = tokio::time::sleep(PEER_POLL_INTERVAL) => {}
                () = gap => {
                    return Err(format!(
                        "peer {node} has nothing from block {start} on, but later blocks were gossiped"
                    ));
                }
            }
            // Anti-entropy when nothing is gossiped: is another peer further on?
            if let Some(other) = self.peer_holding(start, node).await {
                return Err(format!(
                    "peer {node} has nothing from block {start} on, peer {other} has"
                ));
            }
        }
        Ok(blocks)
    }

    /// Another connected peer than `asked` that holds block `start`, if any.
    async fn peer_holding(&self, start: u64, asked: NodeId) -> Option<NodeId> {
        let peers = self.peers.connected_peers(&self.net).await.ok()?;
        for node in peers.into_iter().filter(|node| *node != asked) {
            let probe = self
                .request_blocks(node, PEER_BLOCKS_SERVICE, start, 1)
                .await;
            if probe.is_ok_and(|blocks| !blocks.is_empty()) {
                return Some(node);
            }
        }
        None
    }
}

impl BlockSource for Sources {
    fn n_endpoints(&self) -> usize {
        self.orderers.len().saturating_add(self.peers.n_slots)
    }

    async fn fetch(&self, endpoint: usize, start: u64, max: usize) -> Result<Vec<Block>, String> {
        match self.orderers.get(endpoint) {
            Some(node) => self.fetch_from_orderer(*node, start, max).await,
            None => {
                let slot = endpoint.saturating_sub(self.orderers.len());
                self.fetch_from_peer(slot, start, max).await
            }
        }
    }
}

/// The other peers this peer may fetch blocks from: those it is connected to, in order of
/// preference (own carrier, then the other carrier's anchor peers, then the rest).
struct PeerDirectory {
    /// Deliver endpoints reserved for peers: as many as the node config lists nodes that
    /// are not consenters (at least one, for peers that connect to us).
    n_slots: usize,
    own_msp_id: String,
    /// The configured nodes that are not consenters, with their addresses.
    configured: Vec<(NodeId, SocketAddr)>,
    /// The channel in force (anchor peers may change with a config update).
    peer: PeerHandle,
}

impl PeerDirectory {
    fn new(config: &PeerNetConfig, consenters: &[NodeId], peer: PeerHandle) -> Self {
        let configured: Vec<(NodeId, SocketAddr)> = config
            .known_nodes
            .iter()
            .filter(|(node, _)| !consenters.contains(node))
            .copied()
            .collect();
        let directory = PeerDirectory {
            n_slots: configured.len().max(1),
            own_msp_id: config.msp_id.clone(),
            configured,
            peer,
        };
        for (msp_id, address, node) in directory.anchors() {
            match node {
                Some(node) => info!(%msp_id, %address, %node, "anchor peer"),
                None => warn!(
                    %msp_id,
                    %address,
                    "anchor peer not in [[network.peers]]: the network dials nodes by id"
                ),
            }
        }
        directory
    }

    /// The other carriers' anchor peers in the channel config in force: organisation,
    /// address and the configured node at that address.
    fn anchors(&self) -> Vec<(String, String, Option<NodeId>)> {
        let channel = self.peer.channel();
        let mut anchors = Vec::new();
        for org in channel
            .config
            .orgs
            .iter()
            .filter(|org| org.msp_id != self.own_msp_id)
        {
            for endpoint in &org.anchor_peers {
                let address = format!("{}:{}", endpoint.host, endpoint.port);
                let node = self
                    .configured
                    .iter()
                    .find(|(_, configured)| configured.to_string() == address)
                    .map(|(node, _)| *node);
                anchors.push((org.msp_id.clone(), address, node));
            }
        }
        anchors
    }

    /// The peer in deliver slot `slot` among those connected now. With none connected
    /// yet (the network is still dialling) it waits, bounded, for the first one.
    async fn in_slot(&self, net: &NetHandle, slot: usize) -> Result<NodeId, String> {
        // Subscribe before looking, so a connection in between is not missed.
        let mut events = net.events();
        let mut peers = self.connected_peers(net).await?;
        if peers.is_empty() {
            let first_peer = async {
                loop {
                    match events.recv().await {
                        Ok(ConnectionEvent::Connected { peer, .. }) if peer.role == Role::Peer => {
                            return;
                        }
                        Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                        Err(broadcast::error::RecvError::Closed) => return,
                    }
                }
            };
            let _ = tokio::time::timeout(PEER_POLL_INTERVAL, first_peer).await;
            peers = self.connected_peers(net).await?;
        }
        peers
            .get(slot)
            .copied()
            .ok_or_else(|| format!("no connected peer for slot {slot}"))
    }

    /// The connected peers in order of preference.
    async fn connected_peers(&self, net: &NetHandle) -> Result<Vec<NodeId>, String> {
        let mut peers: Vec<_> = net
            .connected()
            .await
            .map_err(|error| error.to_string())?
            .into_iter()
            .filter(|remote| remote.role == Role::Peer)
            .collect();
        let anchors: Vec<NodeId> = self
            .anchors()
            .into_iter()
            .filter_map(|(_, _, node)| node)
            .collect();
        peers.sort_by_key(|remote| {
            let rank = if remote.msp_id == self.own_msp_id {
                0
            } else if anchors.contains(&remote.node_id) {
                1
            } else {
                2
            };
            (rank, remote.node_id.to_string())
        });
        Ok(peers.into_iter().map(|remote| remote.node_id).collect())
    }
}
