//! The node's network: libp2p over SM-TLS (`netsettle_net`), which the orderer and peer
//! roles serve their services on.

use anyhow::{Context as _, Result};
use netsettle_net::{ChannelTrust, NetConfig, Network, NodeId};
use netsettle_protocol::Role;
use netsettle_smtls::TlsIdentity;

use super::NodeContext;
use super::config::NetworkConfig;

/// The roles that may open a connection to a node; each service narrows it down.
pub(super) const CONNECTING_ROLES: [Role; 4] =
    [Role::Orderer, Role::Peer, Role::Client, Role::Admin];

/// Starts libp2p over SM-TLS with the node's TLS identity, trusting the channel's
/// organisations. Every role may connect at this level; each service names the roles it
/// serves.
pub(super) async fn start(context: &NodeContext, config: &NetworkConfig) -> Result<Network> {
    let layout = netsettle_msp::IdentityLayout::new(&context.config.identity.dir);
    let identity = TlsIdentity::from_pem_files(&layout.tls_cert(), &layout.tls_key())
        .with_context(|| format!("loading the TLS identity in {}", layout.root().display()))?;
    let trust = ChannelTrust::new(&context.channel_config, &CONNECTING_ROLES)?;
    let mut net_config = NetConfig::new(identity, trust, config.listen);
    net_config.external = config.external;
    for peer in &config.peers {
        let node_id: NodeId = peer
            .node_id
            .parse()
            .with_context(|| format!("network.peers: bad node id {:?}", peer.node_id))?;
        net_config.known_peers.push((node_id, peer.address));
    }
    Network::start(net_config)
        .await
        .with_context(|| format!("starting the network on {}", config.listen))
}
