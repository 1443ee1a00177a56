//! The ordering service over `netsettle-net`: a [`Transport`] that sends Raft messages and
//! catch-up fetches as request–response calls between consenters, and the serving side
//! ([`serve`]) that answers them and takes broadcasts from clients and peers.
//!
//! | service             | callers (roles)          | request                 | response                     |
//! |---------------------|--------------------------|-------------------------|------------------------------|
//! | `orderer-raft`      | orderer                  | raft-rs `Message` bytes | empty                        |
//! | `orderer-blocks`    | orderer, peer            | `start ‖ end`, u64 BE   | [`BlockBatch`]               |
//! | `orderer-broadcast` | client, peer, admin      | `encode(Envelope)`      | `encode(BroadcastResponse)`  |
//!
//! Consenters are named by the [`NodeId`] of the TLS certificate the channel config lists
//! for them, so a Raft message can only reach (and only come from) the consenter the
//! config names: the network layer checks the certificate in the handshake.

use std::collections::HashMap;
use std::sync::Arc;

use netsettle_net::{InboundRequest, NetError, NetHandle, NodeId};
use netsettle_protocol::limits::FRAME_BYTES_MAX;
use netsettle_protocol::{
    Block, BroadcastResponse, BroadcastStatus, ChannelConfig, Envelope, InvalidMessage, Role, Wire,
    decode, encode,
};
use netsettle_smcrypto::x509::Certificate;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

use crate::error::OrdererError;
use crate::limits::{
    BLOCK_FETCH_REQUEST_BYTES, BROADCAST_INFO_BYTES_MAX, CATCH_UP_BLOCKS_MAX,
    RAFT_SENDS_IN_FLIGHT_MAX,
};
use crate::service::{FetchFuture, OrdererHandle, Transport};

/// Raft messages between consenters.
pub const RAFT_SERVICE: &str = "orderer-raft";
/// Blocks by number, for catch-up.
pub const BLOCKS_SERVICE: &str = "orderer-blocks";
/// Broadcast of one envelope.
pub const BROADCAST_SERVICE: &str = "orderer-broadcast";

/// Blocks answering one fetch, in order.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BlockBatch(pub Vec<Block>);

impl Wire for BlockBatch {
    const NAME: &'static str = "block batch";
    const BYTES_MAX: usize = FRAME_BYTES_MAX;

    fn check(&self) -> Result<(), InvalidMessage> {
        let max = usize::try_from(CATCH_UP_BLOCKS_MAX).unwrap_or(usize::MAX);
        if self.0.len() > max {
            return Err(InvalidMessage::TooMany {
                what: "blocks in a batch",
                max,
                actual: self.0.len(),
            });
        }
        self.0.iter().try_for_each(Block::check)
    }
}

/// The network id of every consenter of `config`, from its TLS certificate.
pub fn consenter_nodes(config: &ChannelConfig) -> Result<HashMap<u64, NodeId>, OrdererError> {
    config
        .orderer
        .consenters
        .iter()
        .map(|consenter| {
            let certificate = Certificate::from_der(&consenter.tls_cert_der).map_err(|e| {
                OrdererError::Config(format!("consenter {} TLS certificate: {e}", consenter.id))
            })?;
            Ok((consenter.id, NodeId::from_certificate(&certificate)))
        })
        .collect()
}

/// [`Transport`] over a running `netsettle-net` network.
#[derive(Debug, Clone)]
pub struct NetTransport {
    net: NetHandle,
    nodes: Arc<HashMap<u64, NodeId>>,
    sends: Arc<Semaphore>,
}

impl NetTransport {
    /// A transport reaching the consenters of `config` through `net`. The node adds
    /// their addresses to the network (known peers); this only names them.
    pub fn new(net: NetHandle, config: &ChannelConfig) -> Result<Self, OrdererError> {
        Ok(NetTransport {
            net,
            nodes: Arc::new(consenter_nodes(config)?),
            sends: Arc::new(Semaphore::new(RAFT_SENDS_IN_FLIGHT_MAX)),
        })
    }
}

impl Transport for NetTransport {
    fn send_raft(&self, to: u64, message: Vec<u8>) {
        let Some(node) = self.nodes.get(&to).copied() else {
            tracing::warn!(to, "raft message for an unknown consenter dropped");
            return;
        };
        // Raft retransmits: when too many sends are in flight, drop rather than queue.
        let Ok(permit) = Arc::clone(&self.sends).try_acquire_owned() else {
            tracing::debug!(to, "raft send dropped: too many in flight");
            return;
        };
        let net = self.net.clone();
        tokio::spawn(async move {
            let _permit = permit;
            if let Err(error) = net.request(node, RAFT_SERVICE, message).await {
                tracing::debug!(to, %error, "raft send failed");
            }
        });
    }

    fn fetch_blocks(&self, from: u64, start: u64, end: u64) -> FetchFuture {
        let node = self.nodes.get(&from).copied();
        let net = self.net.clone();
        Box::pin(async move {
            let node = node.ok_or_else(|| format!("consenter {from} is unknown"))?;
            let mut request = Vec::with_capacity(BLOCK_FETCH_REQUEST_BYTES);
            request.extend_from_slice(&start.to_be_bytes());
            request.extend_from_slice(&end.to_be_bytes());
            let response = net
                .request(node, BLOCKS_SERVICE, request)
                .await
                .map_err(|e| e.to_string())?;
            let batch: BlockBatch = decode(&response).map_err(|e| e.to_string())?;
            Ok(batch.0)
        })
    }
}

/// Serves the orderer's three services on `net` until the network stops; returns the
/// serving tasks.
pub fn serve(net: &NetHandle, orderer: &OrdererHandle) -> Result<Vec<JoinHandle<()>>, NetError> {
    let mut raft = net.serve(RAFT_SERVICE, &[Role::Orderer])?;
    let mut blocks = net.serve(BLOCKS_SERVICE, &[Role::Orderer, Role::Peer])?;
    let mut broadcasts = net.serve(BROADCAST_SERVICE, &[Role::Client, Role::Peer, Role::Admin])?;
    let raft_orderer = orderer.clone();
    let raft_task = tokio::spawn(async move {
        while let Some(request) = raft.recv().await {
            raft_orderer.raft_message(&request.payload);
            let _ = request.respond(Vec::new()).await;
        }
    });
    let blocks_orderer = orderer.clone();
    let blocks_task = tokio::spawn(async move {
        while let Some(request) = blocks.recv().await {
            answer_blocks(&blocks_orderer, request).await;
        }
    });
    let broadcast_orderer = orderer.clone();
    let broadcast_task = tokio::spawn(async move {
        while let Some(request) = broadcasts.recv().await {
            let orderer = broadcast_orderer.clone();
            // Each broadcast waits for its entry to commit; answer them concurrently.
            tokio::spawn(async move { answer_broadcast(&orderer, request).await });
        }
    });
    Ok(vec![raft_task, blocks_task, broadcast_task])
}

async fn answer_blocks(orderer: &OrdererHandle, request: InboundRequest) {
    let range = <[u8; BLOCK_FETCH_REQUEST_BYTES]>::try_from(request.payload.as_slice())
        .ok()
        .and_then(|bytes| {
            let (start, end) = bytes.split_at(8);
            Some((
                u64::from_be_bytes(start.try_into().ok()?),
                u64::from_be_bytes(end.try_into().ok()?),
            ))
        });
    let Some((start, end)) = range else {
        let _ = request.refuse("block request must be 16 bytes").await;
        return;
    };
    let encoded = orderer
        .blocks(start, end)
        .map_err(|e| e.to_string())
        .and_then(|blocks| encode(&BlockBatch(blocks)).map_err(|e| e.to_string()));
    let _ = match encoded {
        Ok(bytes) => request.respond(bytes).await,
        Err(reason) => request.refuse(reason).await,
    };
}

async fn answer_broadcast(orderer: &OrdererHandle, request: InboundRequest) {
    let response = match decode::<Envelope>(&request.payload) {
        Ok(envelope) => match orderer.broadcast(envelope).await {
            Ok(_) => BroadcastResponse {
                status: BroadcastStatus::Success,
                info: String::new(),
            },
            Err(error) => BroadcastResponse {
                status: error.status(),
                info: bounded(error.to_string()),
            },
        },
        Err(error) => BroadcastResponse {
            status: BroadcastStatus::BadRequest,
            info: bounded(error.to_string()),
        },
    };
    let _ = match encode(&response) {
        Ok(bytes) => request.respond(bytes).await,
        Err(error) => request.refuse(error.to_string()).await,
    };
}

/// `info` cut at a character boundary to fit a broadcast response.
fn bounded(mut info: String) -> String {
    if info.len() > BROADCAST_INFO_BYTES_MAX {
        let mut end = BROADCAST_INFO_BYTES_MAX;
        while !info.is_char_boundary(end) {
            end -= 1;
        }
        info.truncate(end);
    }
    info
}
