//! [`FollowingTransport`]: the network transport for a consenter set that changes. The
//! [`NetTransport`] names consenters by the channel config it was made from; when a
//! config block adds or removes a consenter, this wrapper makes a new one from the new
//! config (so Raft messages reach an added consenter, and none go to a removed one) and
//! gives the network the address the config lists for a consenter it did not know.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};

use netsettle_msp::consenter_nodes;
use netsettle_net::{NetHandle, NodeId};
use netsettle_protocol::ChannelConfig;

use crate::error::OrdererError;
use crate::net::NetTransport;
use crate::service::{FetchFuture, Transport};

/// A [`Transport`] over `netsettle-net` that follows the channel's consenters.
#[derive(Debug)]
pub struct FollowingTransport {
    net: NetHandle,
    inner: RwLock<Arc<NetTransport>>,
    /// The consenters `inner` reaches, by id.
    nodes: RwLock<BTreeMap<u64, NodeId>>,
}

impl FollowingTransport {
    /// A transport reaching the consenters of `config`, the configuration this orderer
    /// starts with (the genesis block's, or the config block that added it).
    pub fn new(net: NetHandle, config: &ChannelConfig) -> Result<Self, OrdererError> {
        Ok(FollowingTransport {
            inner: RwLock::new(Arc::new(NetTransport::new(net.clone(), config)?)),
            nodes: RwLock::new(consenter_nodes(config, NodeId::from_public_key)?),
            net,
        })
    }

    fn current(&self) -> Arc<NetTransport> {
        let inner = self
            .inner
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Arc::clone(&inner)
    }
}

impl Transport for FollowingTransport {
    fn send_raft(&self, to: u64, message: Vec<u8>) {
        self.current().send_raft(to, message);
    }

    fn fetch_blocks(&self, from: u64, start: u64, end: u64) -> FetchFuture {
        self.current().fetch_blocks(from, start, end)
    }

    fn consenters_changed(&self, config: &ChannelConfig) {
        let Ok(nodes) = consenter_nodes(config, NodeId::from_public_key) else {
            tracing::error!("new consenter set has a bad TLS certificate; keeping the old one");
            return;
        };
        let mut current = self
            .nodes
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if *current == nodes {
            return;
        }
        let transport = match NetTransport::new(self.net.clone(), config) {
            Ok(transport) => transport,
            Err(error) => {
                tracing::error!(%error, "new consenter set unusable; keeping the old one");
                return;
            }
        };
        *self
            .inner
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(transport);
        for consenter in &config.orderer.consenters {
            let Some(node) = nodes.get(&consenter.id).copied() else {
                continue;
            };
            if current.get(&consenter.id) == Some(&node) {
                continue;
            }
            let address = format!("{}:{}", consenter.endpoint.host, consenter.endpoint.port);
            let Ok(address) = address.parse::<SocketAddr>() else {
                tracing::warn!(id = consenter.id, %address, "new consenter's endpoint is not an address");
                continue;
            };
            tracing::info!(id = consenter.id, %address, "new consenter");
            let net = self.net.clone();
            // Called on the core thread, inside the runtime: the network task adds it.
            tokio::spawn(async move {
                if let Err(error) = net.add_address(node, address).await {
                    tracing::warn!(%error, "adding a new consenter's address");
                }
            });
        }
        *current = nodes;
    }
}
