//! The peer role on the network: the node wires `netsettle-peer` (which has no transport)
//! to `netsettle-net`.
//!
//! | service          | callers (roles)       | request                   | response            |
//! |------------------|-----------------------|---------------------------|---------------------|
//! | `peer-endorse`   | client, admin         | `encode(SignedProposal)`  | `encode(EndorseReply)` |
//! | `peer-tx-status` | client, admin, peer   | `encode(TxStatusRequest)` | `encode(TxStatus)`  |
//!
//! Blocks come from the channel's orderers (`orderer-blocks`, own carrier's consenters
//! first, failing over to the other carrier's), through `netsettle_peer::deliver`.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use netsettle_ledger::Ledger;
use netsettle_net::{InboundRequest, NetHandle, NodeId};
use netsettle_orderer::net::{BLOCKS_SERVICE, BlockBatch, consenter_nodes};
use netsettle_peer::deliver::{self, BlockSource, DeliverConfig};
use netsettle_peer::endorser::Endorser;
use netsettle_peer::lifecycle::ContractRegistry;
use netsettle_peer::service::{self, PeerHandle, PeerParts};
use netsettle_peer::validator::Validator;
use netsettle_protocol::{
    Block, ENDORSE_SERVICE, EndorseReply, Role, SignedProposal, TX_STATUS_SERVICE, TxStatus,
    TxStatusRequest, decode, encode,
};
use netsettle_smcrypto::BatchVerifier;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

use crate::node_cmd::NodeContext;

/// The longest a status request may wait for its transaction to commit.
const TX_STATUS_WAIT_MAX: Duration = Duration::from_secs(30);
/// Pause before asking an orderer again when it had no new block. Orderers answer at
/// once (no long-poll yet), so this bounds the polling rate.
const BLOCK_POLL_INTERVAL: Duration = Duration::from_millis(100);
/// Blocks queued between delivery and the committer.
const BLOCK_QUEUE_MAX: usize = 64;

/// The running peer role.
pub struct PeerRole {
    /// The service handle.
    pub handle: PeerHandle,
}

/// Starts the peer on `ledger`: the committer, delivery from the orderers and the
/// client services.
pub fn start(
    context: &NodeContext,
    ledger: Arc<Ledger>,
    net: &NetHandle,
    shutdown: watch::Receiver<bool>,
    tasks: &mut JoinSet<Result<()>>,
) -> Result<PeerRole> {
    let mut registry = ContractRegistry::new();
    registry.install(Arc::new(netsettle_settlement::SettlementContract))?;
    let endorser = Endorser::new(
        Arc::new(context.signing_key.clone()),
        context.identity.clone(),
        Arc::new(registry),
    );
    let (blocks_tx, blocks_rx) = mpsc::channel(BLOCK_QUEUE_MAX);
    let handle = service::spawn(PeerParts {
        ledger,
        genesis: context.genesis.clone(),
        endorser,
        validator: Validator::new(BatchVerifier::with_available_parallelism()),
        blocks: blocks_rx,
    })?;

    let source = OrdererBlocks::new(net.clone(), context)?;
    let deliver_peer = handle.clone();
    let deliver_shutdown = shutdown.clone();
    tasks.spawn(async move {
        deliver::run(
            source,
            DeliverConfig::default(),
            deliver_peer,
            blocks_tx,
            deliver_shutdown,
        )
        .await;
        Ok(())
    });

    let endorse = net.serve(ENDORSE_SERVICE, &[Role::Client, Role::Admin])?;
    let endorse_peer = handle.clone();
    tasks.spawn(serve_until(endorse, shutdown.clone(), move |request| {
        let peer = endorse_peer.clone();
        async move { answer_endorse(&peer, request).await }
    }));
    let status = net.serve(TX_STATUS_SERVICE, &[Role::Client, Role::Admin, Role::Peer])?;
    let status_peer = handle.clone();
    tasks.spawn(serve_until(status, shutdown, move |request| {
        let peer = status_peer.clone();
        async move { answer_tx_status(&peer, request).await }
    }));
    Ok(PeerRole { handle })
}

/// Answers each request on its own task until shutdown.
async fn serve_until<F, Fut>(
    mut requests: mpsc::Receiver<InboundRequest>,
    mut shutdown: watch::Receiver<bool>,
    answer: F,
) -> Result<()>
where
    F: Fn(InboundRequest) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    loop {
        tokio::select! {
            request = requests.recv() => match request {
                Some(request) => {
                    tokio::spawn(answer(request));
                }
                None => return Ok(()),
            },
            _ = shutdown.wait_for(|stop| *stop) => return Ok(()),
        }
    }
}

async fn answer_endorse(peer: &PeerHandle, request: InboundRequest) {
    let reply = match decode::<SignedProposal>(&request.payload) {
        Ok(signed) => match peer.endorse(signed).await {
            Ok(response) => EndorseReply::Endorsed(Box::new(response)),
            Err(error) => EndorseReply::Refused {
                status: endorse_status(&error),
                message: bounded(error.to_string()),
            },
        },
        Err(error) => EndorseReply::Refused {
            status: 400,
            message: bounded(error.to_string()),
        },
    };
    respond(request, encode(&reply)).await;
}

fn endorse_status(error: &netsettle_peer::EndorseError) -> u32 {
    use netsettle_peer::EndorseError;
    match error {
        EndorseError::Contract { status, .. } => *status,
        EndorseError::Rejected(_) => 403,
        EndorseError::Unavailable(_) => 503,
        _ => 500,
    }
}

async fn answer_tx_status(peer: &PeerHandle, request: InboundRequest) {
    let status = match decode::<TxStatusRequest>(&request.payload) {
        Ok(query) => tx_status(peer, &query).await,
        Err(error) => {
            let _ = request.refuse(error.to_string()).await;
            return;
        }
    };
    match status {
        Ok(status) => respond(request, encode(&status)).await,
        Err(error) => {
            let _ = request.refuse(format!("{error:#}")).await;
        }
    }
}

/// Looks the transaction up; if absent, waits (bounded) for a block that holds it.
async fn tx_status(peer: &PeerHandle, query: &TxStatusRequest) -> Result<TxStatus> {
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

fn committed(location: netsettle_ledger::TxLocation) -> TxStatus {
    TxStatus::Committed {
        block: location.block,
        tx: location.index,
        code: location.code,
    }
}

async fn respond(
    request: InboundRequest,
    encoded: Result<Vec<u8>, netsettle_protocol::CodecError>,
) {
    let _ = match encoded {
        Ok(bytes) => request.respond(bytes).await,
        Err(error) => request.refuse(error.to_string()).await,
    };
}

/// Cut a message to the protocol's response-message limit at a character boundary.
fn bounded(mut message: String) -> String {
    let max = netsettle_protocol::limits::RESPONSE_MESSAGE_BYTES_MAX;
    if message.len() > max {
        let mut end = max;
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        message.truncate(end);
    }
    message
}

/// The channel's orderers as a block source: this carrier's consenters first, then the
/// other carrier's.
struct OrdererBlocks {
    net: NetHandle,
    endpoints: Vec<NodeId>,
}

impl OrdererBlocks {
    fn new(net: NetHandle, context: &NodeContext) -> Result<Self> {
        let nodes = consenter_nodes(&context.channel_config)?;
        let mut consenters: Vec<_> = context.channel_config.orderer.consenters.iter().collect();
        // Own carrier first: inside the cloud, no DMZ hop.
        consenters.sort_by_key(|consenter| consenter.msp_id != context.identity.msp_id);
        let endpoints = consenters
            .iter()
            .filter_map(|consenter| nodes.get(&consenter.id).copied())
            .collect::<Vec<_>>();
        anyhow::ensure!(!endpoints.is_empty(), "the channel has no consenters");
        Ok(OrdererBlocks { net, endpoints })
    }
}

impl BlockSource for OrdererBlocks {
    fn n_endpoints(&self) -> usize {
        self.endpoints.len()
    }

    async fn fetch(&self, endpoint: usize, start: u64, max: usize) -> Result<Vec<Block>, String> {
        let node = *self
            .endpoints
            .get(endpoint)
            .ok_or_else(|| format!("no orderer endpoint {endpoint}"))?;
        let end = start.saturating_add(u64::try_from(max).unwrap_or(u64::MAX));
        let mut request = Vec::with_capacity(16);
        request.extend_from_slice(&start.to_be_bytes());
        request.extend_from_slice(&end.to_be_bytes());
        let response = self
            .net
            .request(node, BLOCKS_SERVICE, request)
            .await
            .map_err(|error| error.to_string())?;
        let batch: BlockBatch = decode(&response).map_err(|error| error.to_string())?;
        if batch.0.is_empty() {
            tokio::time::sleep(BLOCK_POLL_INTERVAL).await;
        }
        Ok(batch.0)
    }
}
