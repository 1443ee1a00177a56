//! The peer role's wiring: builds the peer (the settlement contract installed, its
//! endorser and validator, the committer on the node's ledger) and starts its network
//! side, `netsettle_peer::net` (services, delivery from orderers and peers, gossip), with
//! what the node config says. Every task joins the node's set of roles.

use std::sync::Arc;

use anyhow::{Context as _, Result};
use netsettle_ledger::Ledger;
use netsettle_net::NetHandle;
use netsettle_peer::endorser::Endorser;
use netsettle_peer::lifecycle::ContractRegistry;
use netsettle_peer::net::{self as peer_net, PeerNetConfig};
use netsettle_peer::service::{self, PeerHandle, PeerParts};
use netsettle_peer::validator::Validator;
use netsettle_smcrypto::BatchVerifier;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

use super::NodeContext;

/// Blocks queued between delivery and the committer.
const BLOCK_QUEUE_MAX: usize = 64;

/// The running peer role.
pub struct PeerRole {
    /// The service handle.
    pub handle: PeerHandle,
}

/// Starts the peer on `ledger`: the committer, block delivery (orderers, gossip, state
/// transfer) and the client services.
pub fn start(
    context: &NodeContext,
    ledger: Arc<Ledger>,
    net: &NetHandle,
    shutdown: watch::Receiver<bool>,
    tasks: &mut JoinSet<Result<()>>,
) -> Result<PeerRole> {
    let mut registry = ContractRegistry::new();
    registry.install(Arc::new(netsettle_settlement::contract::SettlementContract))?;
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
    let config = PeerNetConfig {
        msp_id: context.identity.msp_id.clone(),
        deliver_from: context
            .config
            .peer
            .as_ref()
            .map(|peer| peer.deliver)
            .unwrap_or_default(),
        known_nodes: context
            .config
            .network
            .iter()
            .flat_map(|network| &network.peers)
            .filter_map(|known| Some((known.node_id.parse().ok()?, known.address)))
            .collect(),
    };
    for task in peer_net::spawn(net, &handle, &config, blocks_tx, &shutdown)? {
        tasks.spawn(async move {
            task.await
                .context("a peer network task failed")?
                .context("peer network")
        });
    }
    tracing::info!(height = handle.height(), "peer role started");
    Ok(PeerRole { handle })
}
