//! The orderer role's wiring: find this node among the channel's consenters, start the
//! Raft ordering service (`netsettle_orderer`) with its storage under `DATA/orderer`, and
//! serve it and its admin service over the network.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context as _, Result, bail};
use netsettle_orderer::consenters::FollowingTransport;
use netsettle_orderer::{CoreConfig, OrdererHandle, OrdererService, ServiceConfig};
use netsettle_protocol::{Block, ChannelConfig};

use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

use super::NodeContext;
use super::config::OrdererRoleConfig;
use crate::shared::read_bounded;

/// Starts the orderer role: finds this node among the channel's consenters by its TLS
/// certificate (in the config in force on its chain, or the join block's for an orderer
/// added later), then runs the
/// Raft ordering service and its admin service over the network.
pub(super) fn start(
    context: &NodeContext,
    config: &OrdererRoleConfig,
    net: &netsettle_net::NetHandle,
    shutdown: &watch::Receiver<bool>,
    roles: &mut JoinSet<Result<()>>,
) -> Result<(OrdererHandle, u64)> {
    // The latest of: the config in force on this orderer's own chain (a restart after
    // its TLS certificate was renewed) and the join block's (a consenter added later,
    // before its chain reaches that block).
    let channel_config = match &config.join_block {
        Some(path) => {
            let joined = join_config(path, &context.channel_config.channel)?;
            if joined.sequence >= context.channel_config.sequence {
                joined
            } else {
                context.channel_config.clone()
            }
        }
        None => context.channel_config.clone(),
    };
    let consenters =
        netsettle_msp::consenter_nodes(&channel_config, netsettle_net::NodeId::from_public_key)?;
    let me = net.local_node();
    let consenter_id = consenters
        .iter()
        .find_map(|(id, node)| (*node == me).then_some(*id))
        .with_context(|| {
            format!(
                "this node's TLS certificate (node id {me}) is not a consenter of channel {} (config sequence {})",
                channel_config.channel, channel_config.sequence
            )
        })?;
    let mut core = CoreConfig::new(consenter_id);
    if let Some(tick_ms) = config.tick_ms {
        core.tick_ms = tick_ms;
    }
    if let Some(entries) = config.snapshot_interval_entries {
        if entries <= netsettle_orderer::limits::LOG_KEPT_BEHIND_SNAPSHOT_ENTRIES {
            bail!(
                "orderer.snapshot_interval_entries must be over {}",
                netsettle_orderer::limits::LOG_KEPT_BEHIND_SNAPSHOT_ENTRIES
            );
        }
        core.snapshot_interval_entries = entries;
    }
    if let Some(skew_secs) = config.envelope_time_skew_secs {
        let max = netsettle_protocol::limits::ENVELOPE_TIME_SKEW_SECS_MAX;
        if skew_secs > max {
            bail!("orderer.envelope_time_skew_secs must be at most {max}");
        }
        core.envelope_time_skew_secs = skew_secs;
    }
    let service_config = ServiceConfig {
        core,
        signer: netsettle_orderer::Signer {
            key: context.signing_key.clone(),
            identity: context.identity.clone(),
        },
        genesis: context.genesis.clone(),
        data_dir: context.config.data_dir.join("orderer"),
    };
    let transport = FollowingTransport::new(net.clone(), &channel_config)?;
    let orderer = OrdererService::spawn(service_config, Arc::new(transport))?;
    let mut tasks = netsettle_orderer::net::serve(net, &orderer)?;
    tasks.push(netsettle_orderer::admin::serve(net, &orderer)?);
    supervise(&orderer, tasks, shutdown, roles);
    tracing::info!(consenter_id, "orderer role started");
    Ok((orderer, consenter_id))
}

/// Makes the orderer's core thread and its service tasks roles of the node: one that
/// ends before shutdown (a storage error, a panic) ends the node with the reason, instead
/// of leaving a process that looks ready with a dead orderer.
fn supervise(
    orderer: &OrdererHandle,
    tasks: Vec<JoinHandle<()>>,
    shutdown: &watch::Receiver<bool>,
    roles: &mut JoinSet<Result<()>>,
) {
    let core = orderer.clone();
    let mut stop = shutdown.clone();
    roles.spawn(async move {
        tokio::select! {
            _ = stop.wait_for(|stop| *stop) => Ok(()),
            outcome = core.stopped() => match outcome {
                Ok(()) => Err(anyhow::anyhow!("orderer role: the core stopped")),
                Err(error) => Err(anyhow::Error::new(error).context("orderer role")),
            },
        }
    });
    for task in tasks {
        let mut stop = shutdown.clone();
        roles.spawn(async move {
            tokio::select! {
                _ = stop.wait_for(|stop| *stop) => Ok(()),
                ended = task => match ended {
                    Ok(()) => Err(anyhow::anyhow!("orderer role: a service task ended")),
                    Err(error) => Err(anyhow::anyhow!("orderer role: a service task failed: {error}")),
                },
            }
        });
    }
}

/// The configuration of the config block an added orderer joins with.
fn join_config(path: &Path, channel: &str) -> Result<ChannelConfig> {
    let bytes = read_bounded(path, netsettle_protocol::limits::BLOCK_BYTES_MAX)?;
    let block: Block = netsettle_protocol::decode(&bytes)
        .with_context(|| format!("decoding join block {}", path.display()))?;
    let config = block
        .config()
        .cloned()
        .with_context(|| format!("join block {} holds no configuration", path.display()))?;
    if config.channel != channel {
        bail!(
            "join block {} is for channel {:?}, not {channel:?}",
            path.display(),
            config.channel
        );
    }
    Ok(config)
}
