//! A carrier user through the Rust SDK, as process tests drive a month: the connection
//! (from the user's connection profile and identity directory), the signer and the key
//! store of sealed reports.

use std::path::Path;

use netsettle_client::{Gateway, KeyStore, Settlement, Signer};

/// One user of one carrier: connection, signer, key store.
pub struct SdkUser {
    /// The connection to the consortium.
    pub gateway: Gateway,
    /// The user's signing identity.
    pub signer: Signer,
    /// The keys of the user's sealed reports.
    pub keys: KeyStore,
}

impl SdkUser {
    /// Connects with `profile` and `identity` (paths relative to `dir`).
    pub async fn connect(dir: &Path, profile: &str, identity: &str) -> SdkUser {
        let (gateway, signer) = Gateway::from_profile(&dir.join(profile), &dir.join(identity))
            .await
            .expect("client connects");
        let keys = KeyStore::for_identity(&dir.join(identity)).expect("key store");
        SdkUser {
            gateway,
            signer,
            keys,
        }
    }

    /// The typed settlement calls, signed by this user.
    pub fn sdk(&self) -> Settlement<'_> {
        Settlement::new(&self.gateway, &self.signer)
    }
}

/// A stand-in node for SDK tests: `member`'s TLS identity on 127.0.0.1 (any port),
/// admitting `callers` of the channel; the test serves whatever services it fakes.
pub async fn stand_in(
    member: &crate::pki::Member,
    channel: &netsettle_protocol::ChannelConfig,
    callers: &[netsettle_protocol::Role],
) -> netsettle_net::Network {
    let trust = netsettle_net::ChannelTrust::new(channel, callers).expect("the trust loads");
    let listen = "127.0.0.1:0".parse().expect("a socket address");
    let config = netsettle_net::NetConfig::new(member.tls_identity(), trust, listen);
    netsettle_net::Network::start(config)
        .await
        .expect("the network starts")
}

/// A gateway of `client` on 127.0.0.1 whose profile lists only `peer` (a node of
/// `peer_member`'s organisation) and no orderer; the peer's endpoint.
pub async fn gateway_to_peer(
    consortium: &crate::channel::Consortium,
    client: &crate::pki::Member,
    peer: &netsettle_net::Network,
    peer_member: &crate::pki::Member,
) -> (Gateway, netsettle_client::Endpoint) {
    use netsettle_protocol::Role;
    let trust = netsettle_net::ChannelTrust::new(&consortium.config, &[Role::Peer, Role::Orderer])
        .expect("the trust loads");
    let listen = "127.0.0.1:0".parse().expect("a socket address");
    let mut net = netsettle_net::NetConfig::new(client.tls_identity(), trust, listen);
    net.known_peers.push((peer.node_id(), peer.listen_addr()));
    let endpoint = netsettle_client::Endpoint {
        msp_id: peer_member.msp_id.clone(),
        node_id: peer.node_id(),
    };
    let gateway = Gateway::connect(netsettle_client::GatewayConfig {
        net,
        channel: consortium.config.channel.clone(),
        peers: vec![endpoint.clone()],
        orderers: Vec::new(),
    })
    .await
    .expect("the gateway connects");
    (gateway, endpoint)
}
