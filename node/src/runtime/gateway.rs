//! The HTTP gateway's wiring (`netsettle-gateway`) beside the peer role: the node's TLS
//! identity for the handshake, the carrier's connection profile for endorsing at both
//! carriers and ordering, and the settlement and finance identities it signs with for
//! the carrier's own users.

use std::net::SocketAddr;

use anyhow::{Context as _, Result};
use netsettle_client::{ConnectionProfile, Gateway as ClientGateway};
use netsettle_gateway::{Backend, GatewayLimits, Signers};
use netsettle_peer::service::PeerHandle;
use netsettle_smtls::TlsIdentity;
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::NodeContext;
use super::config::GatewayRoleConfig;

/// Starts the gateway as a role of the node; its listening address.
pub(super) async fn start(
    context: &NodeContext,
    config: &GatewayRoleConfig,
    peer: &PeerHandle,
    shutdown: &watch::Receiver<bool>,
    roles: &mut JoinSet<Result<()>>,
) -> Result<SocketAddr> {
    let layout = netsettle_msp::IdentityLayout::new(&context.config.identity.dir);
    let tls = TlsIdentity::from_pem_files(&layout.tls_cert(), &layout.tls_key())
        .with_context(|| format!("gateway: the TLS identity in {}", layout.root().display()))?;
    let profile = ConnectionProfile::load(&config.profile)
        .with_context(|| format!("gateway: profile {}", config.profile.display()))?;
    let settlement = profile
        .signer(&config.settlement_identity)
        .context("gateway: the settlement identity")?;
    let finance = config
        .finance_identity
        .as_deref()
        .map(|dir| profile.signer(dir))
        .transpose()
        .context("gateway: the finance identity")?;
    anyhow::ensure!(
        settlement.identity().msp_id == context.identity.msp_id,
        "gateway: the profile is {}'s, the node is {}'s",
        settlement.identity().msp_id,
        context.identity.msp_id
    );
    let client = ClientGateway::connect(profile.gateway_config(&config.settlement_identity)?)
        .await
        .context("gateway: connecting to the consortium")?;
    let backend = Backend {
        peer: peer.clone(),
        client: Some(std::sync::Arc::new(client)),
        signers: Signers {
            settlement,
            finance,
        },
        contract: netsettle_protocol::ContractId {
            name: netsettle_settlement::contract::CONTRACT_NAME.to_owned(),
            version: netsettle_settlement::contract::CONTRACT_VERSION.to_owned(),
        },
    };
    let defaults = GatewayLimits::default();
    let limits = GatewayLimits {
        connections_max: config.connections_max.unwrap_or(defaults.connections_max),
        connections_per_address_max: config
            .connections_per_address_max
            .unwrap_or(defaults.connections_per_address_max),
        body_bytes_max: config.body_bytes_max.unwrap_or(defaults.body_bytes_max),
        sse_subscribers_max: config
            .sse_subscribers_max
            .unwrap_or(defaults.sse_subscribers_max),
        ..defaults
    };
    let running = netsettle_gateway::start(config.listen, tls, backend, limits, shutdown.clone())
        .await
        .context("gateway")?;
    for task in running.tasks {
        roles.spawn(async move {
            task.await.context("a gateway task failed")?;
            Ok(())
        });
    }
    Ok(running.local_addr)
}
