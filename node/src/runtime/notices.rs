//! The notifier's wiring (`netsettle_gateway::notices`) beside the peer role: it follows
//! the peer's committed height over the peer's own ledger, whose `outbox` column it alone
//! writes, and signs webhooks with the node's signing key (the peer's MSP identity).

use std::sync::Arc;

use anyhow::{Context as _, Result};
use netsettle_gateway::notices::{Notifier, Origin, Settings};
use netsettle_ledger::Ledger;
use netsettle_peer::service::PeerHandle;
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::NodeContext;

/// Starts the notifier as a role of the node; it ends when `shutdown` turns.
pub(super) fn start(
    context: &NodeContext,
    settings: &Settings,
    ledger: &Arc<Ledger>,
    peer: &PeerHandle,
    shutdown: &watch::Receiver<bool>,
    roles: &mut JoinSet<Result<()>>,
) {
    let origin = Origin {
        carrier: context.identity.msp_id.clone(),
        channel: context.config.channel.name.clone(),
    };
    let notifier = Notifier::new(
        Arc::clone(ledger),
        settings.clone(),
        context.signing_key.clone(),
        origin,
    );
    let heights = peer.height_changes();
    let shutdown = shutdown.clone();
    roles.spawn(async move { notifier.run(heights, shutdown).await.context("notices") });
}
