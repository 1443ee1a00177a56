//! The node's network trust follows the channel: whenever a role puts a newer config in
//! force (the orderer applying a config block, the peer committing one), the TLS roots,
//! CRLs and roles of that config replace the network's ([`NetHandle::replace_trust`]):
//! new handshakes are judged by them and connections they no longer trust are closed,
//! without a restart. An orderer-only node follows its orderer, a peer its committer, a
//! node running both whichever is further (by config sequence).

use std::sync::Arc;

use anyhow::Result;
use netsettle_msp::ChannelState;
use netsettle_net::{ChannelTrust, NetError, NetHandle};
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::network::CONNECTING_ROLES;

/// A role's view of the config in force.
pub(super) type ConfigSource = watch::Receiver<Arc<ChannelState>>;

/// Starts following the roles' configs as a role of the node: it runs until shutdown,
/// and ends the node if the network it updates has stopped. `in_force` is the config
/// sequence the network started with.
pub(super) fn start(
    net: NetHandle,
    sources: [Option<ConfigSource>; 2],
    in_force: u64,
    shutdown: &watch::Receiver<bool>,
    roles: &mut JoinSet<Result<()>>,
) {
    let mut stop = shutdown.clone();
    roles.spawn(async move {
        tokio::select! {
            _ = stop.wait_for(|stop| *stop) => Ok(()),
            outcome = follow(net, sources, in_force) => outcome,
        }
    });
}

/// Puts each newer config's trust in force, for as long as a source is open. Fails only
/// when the network has shut down; a config whose trust cannot be built (which the
/// channel's own checks should make impossible) is logged and the trust in force kept.
async fn follow(
    net: NetHandle,
    mut sources: [Option<ConfigSource>; 2],
    mut in_force: u64,
) -> Result<()> {
    loop {
        if let Some(newest) = newest(&mut sources)
            && newest.config.sequence > in_force
        {
            if !put_in_force(&net, &newest).await? {
                tracing::error!(
                    sequence = newest.config.sequence,
                    "keeping the network trust in force"
                );
            }
            in_force = newest.config.sequence;
        }
        let [first, second] = &mut sources;
        if first.is_none() && second.is_none() {
            // The roles are gone; their supervisors report why. Wait for the shutdown.
            return std::future::pending().await;
        }
        tokio::select! {
            () = changed(first) => {}
            () = changed(second) => {}
        }
    }
}

/// Replaces the network's trust with `state`'s; `false` if the config gives no usable
/// trust (logged), an error if the network has stopped.
async fn put_in_force(net: &NetHandle, state: &ChannelState) -> Result<bool> {
    let sequence = state.config.sequence;
    let trust = match ChannelTrust::new(&state.config, &CONNECTING_ROLES) {
        Ok(trust) => trust,
        Err(error) => {
            tracing::error!(sequence, %error, "the new config gives no usable trust");
            return Ok(false);
        }
    };
    match net.replace_trust(trust).await {
        Ok(closed) => {
            tracing::info!(
                sequence,
                config_block = state.config_block,
                closed = closed.len(),
                "network trust follows the new channel config"
            );
            Ok(true)
        }
        Err(NetError::Shutdown) => anyhow::bail!("the network stopped"),
        Err(error) => {
            tracing::error!(sequence, %error, "replacing the network trust");
            Ok(false)
        }
    }
}

/// The newest config any open source has in force, marking each as seen.
fn newest(sources: &mut [Option<ConfigSource>]) -> Option<Arc<ChannelState>> {
    sources
        .iter_mut()
        .flatten()
        .map(|source| Arc::clone(&source.borrow_and_update()))
        .max_by_key(|state| state.config.sequence)
}

/// Waits until `source` changes; a closed source becomes `None`, and `None` never changes.
async fn changed(source: &mut Option<ConfigSource>) {
    match source {
        Some(receiver) => {
            if receiver.changed().await.is_err() {
                *source = None;
            }
        }
        None => std::future::pending().await,
    }
}
