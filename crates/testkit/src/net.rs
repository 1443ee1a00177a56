//! In-process `netsettle-net` nodes for tests: quick redials, a channel's trust, and a
//! wait for a connection event that fails at a deadline instead of hanging.

use std::net::SocketAddr;
use std::time::Duration;

use netsettle_net::{ChannelTrust, ConnectionEvent, NetConfig, NetLimits, Network};
use netsettle_protocol::{ChannelConfig, Role};
use netsettle_smtls::TlsIdentity;
use tokio::sync::broadcast;

use crate::WAIT_MAX;

/// The roles whose certificates may join a node-to-node network.
pub const NODE_ROLES: [Role; 2] = [Role::Peer, Role::Orderer];

/// Network limits for tests: quick redials, so restart tests finish fast.
pub fn test_limits() -> NetLimits {
    let mut limits = NetLimits::default();
    limits.redial_backoff_min = Duration::from_millis(100);
    limits.redial_backoff_max = Duration::from_millis(500);
    limits.request_timeout = Duration::from_secs(10);
    limits
}

/// A node config: `identity` on `listen`, trusting `config`'s peers and orderers, with
/// [`test_limits`].
pub fn net_config(identity: TlsIdentity, config: &ChannelConfig, listen: &str) -> NetConfig {
    let trust = ChannelTrust::new(config, &NODE_ROLES).expect("the config's trust loads");
    let listen: SocketAddr = listen.parse().expect("a socket address");
    let mut net = NetConfig::new(identity, trust, listen);
    net.limits = test_limits();
    net
}

/// Starts a node of [`net_config`].
pub async fn start(identity: TlsIdentity, config: &ChannelConfig, listen: &str) -> Network {
    Network::start(net_config(identity, config, listen))
        .await
        .expect("the network starts")
}

/// Waits for the first event `pick` accepts; fails after [`WAIT_MAX`].
pub async fn wait_for<T>(
    events: &mut broadcast::Receiver<ConnectionEvent>,
    what: &str,
    mut pick: impl FnMut(&ConnectionEvent) -> Option<T>,
) -> T {
    let wait = async {
        loop {
            match events.recv().await {
                Ok(event) => {
                    if let Some(found) = pick(&event) {
                        return found;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => {
                    panic!("events closed waiting for {what}")
                }
            }
        }
    };
    tokio::time::timeout(WAIT_MAX, wait)
        .await
        .unwrap_or_else(|_| panic!("no {what} within {WAIT_MAX:?}"))
}
