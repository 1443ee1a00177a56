//! Five orderers in one process, each with its own `netsettle-net` network on 127.0.0.1
//! (libp2p over SM-TLS) and RocksDB directories: Raft and catch-up over the network, a
//! client broadcasting over the `orderer-broadcast` service (a follower's answer names the
//! leader), identical ledgers, and a
//! leader crash; many concurrent broadcasts from one client, followed by a peer that
//! long-polls `orderer-blocks`; the largest Raft request crossing the network.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use netsettle_net::{ChannelTrust, NetConfig, Network};
use netsettle_orderer::limits::RAFT_REQUEST_BYTES_MAX;
use netsettle_orderer::net::{NetTransport, serve};
use netsettle_orderer::{OrdererHandle, OrdererService};
use netsettle_protocol::limits::FRAME_BYTES_MAX;
use netsettle_protocol::{
    BROADCAST_SERVICE, BatchPolicy, BlockBatch, BlockRange, BroadcastResponse, BroadcastStatus,
    ORDERER_BLOCKS_SERVICE, Role, decode, encode,
};
use netsettle_testkit::ordering::service_config;
use netsettle_testkit::{Consortium, Member};

/// Marks failure only; every wait ends on the event itself.
const DEADLINE: Duration = Duration::from_secs(60);

async fn start_network(member: &Member, trust: &ChannelTrust) -> Network {
    let config = NetConfig::new(
        member.tls_identity(),
        trust.clone(),
        "127.0.0.1:0".parse().unwrap(),
    );
    Network::start(config).await.unwrap()
}

async fn wait_height(handle: &OrdererHandle, height: u64) {
    let mut heights = handle.height();
    tokio::time::timeout(DEADLINE, heights.wait_for(|h| *h >= height))
        .await
        .expect("height not reached in time")
        .unwrap();
}

async fn wait_leader(handles: &BTreeMap<u64, OrdererHandle>, not: Option<u64>) -> u64 {
    let mut leader = 0;
    for handle in handles.values() {
        let mut known = handle.leader();
        let seen = tokio::time::timeout(DEADLINE, known.wait_for(|l| *l != 0 && Some(*l) != not))
            .await
            .expect("no leader")
            .unwrap();
        leader = *seen;
    }
    leader
}

fn trust(consortium: &Consortium) -> ChannelTrust {
    ChannelTrust::new(
        &consortium.config,
        &[Role::Orderer, Role::Client, Role::Peer, Role::Admin],
    )
    .unwrap()
}

/// Five orderers, each on its own network, connected to each other and serving.
struct Cluster {
    networks: BTreeMap<u64, Network>,
    handles: BTreeMap<u64, OrdererHandle>,
    transports: BTreeMap<u64, NetTransport>,
}

async fn start_cluster(dir: &std::path::Path, consortium: &Consortium) -> Cluster {
    let trust = trust(consortium);
    let mut networks = BTreeMap::new();
    for id in 1..=5u64 {
        let member = &consortium.orderer_id(id);
        networks.insert(id, start_network(member, &trust).await);
    }
    for (id, network) in &networks {
        for (other, peer) in &networks {
            if id != other {
                network
                    .handle()
                    .add_address(peer.node_id(), peer.listen_addr())
                    .await
                    .unwrap();
            }
        }
    }
    let mut handles = BTreeMap::new();
    let mut transports = BTreeMap::new();
    for (id, network) in &networks {
        let config = service_config(consortium, *id, dir, 50);
        let transport = NetTransport::new(network.handle(), &consortium.config).unwrap();
        let handle = OrdererService::spawn(config, Arc::new(transport.clone())).unwrap();
        serve(&network.handle(), &handle).unwrap();
        handles.insert(*id, handle);
        transports.insert(*id, transport);
    }
    Cluster {
        networks,
        handles,
        transports,
    }
}

impl Cluster {
    async fn shutdown(self) {
        for handle in self.handles.values() {
            handle.shutdown().await;
        }
        for network in self.networks.into_values() {
            network.shutdown().await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_orderers_over_sm_tls_order_and_survive_a_leader_crash() {
    let dir = tempfile::tempdir().unwrap();
    let consortium = Consortium::with_orderers(5, 0, BatchPolicy::default());
    let trust = trust(&consortium);
    let Cluster {
        mut networks,
        mut handles,
        ..
    } = start_cluster(dir.path(), &consortium).await;
    let leader = wait_leader(&handles, None).await;

    // A client of the other carrier broadcasts over the network to a follower.
    let client = start_network(&consortium.mobile_client, &trust).await;
    let follower = (1..=5).find(|id| *id != leader).unwrap();
    let target = &networks[&follower];
    client
        .handle()
        .add_address(target.node_id(), target.listen_addr())
        .await
        .unwrap();
    let envelope = consortium.ordering_envelope(&consortium.mobile_client, 0, 512);
    let response = tokio::time::timeout(
        DEADLINE,
        client.handle().request(
            target.node_id(),
            BROADCAST_SERVICE,
            encode(&envelope).unwrap(),
        ),
    )
    .await
    .unwrap()
    .unwrap();
    let response: BroadcastResponse = decode(&response).unwrap();
    assert_eq!(
        response.status,
        BroadcastStatus::Success,
        "{}",
        response.info
    );
    // The follower names the leader, so the client's next broadcast skips the hop; a
    // refusal names it too.
    let leader_name = Some(networks[&leader].node_id().to_string());
    assert_eq!(response.leader, leader_name);
    let refused = client
        .handle()
        .request(target.node_id(), BROADCAST_SERVICE, vec![1, 2, 3])
        .await
        .unwrap();
    let refused: BroadcastResponse = decode(&refused).unwrap();
    assert_eq!(refused.status, BroadcastStatus::BadRequest);
    assert_eq!(refused.leader, leader_name);

    let mut tasks = Vec::new();
    for seq in 1..60u64 {
        let handle = handles[&(seq % 5 + 1)].clone();
        let envelope = consortium.ordering_envelope(&consortium.unicom_client, seq, 1024);
        tasks.push(tokio::spawn(
            async move { handle.broadcast(envelope).await },
        ));
    }
    for task in tasks {
        let ack = tokio::time::timeout(DEADLINE, task).await.unwrap().unwrap();
        assert!(ack.is_ok(), "{ack:?}");
    }
    for handle in handles.values() {
        wait_height(handle, 3).await;
    }

    // Crash the leader: the others elect a new one and keep ordering.
    let crashed = handles.remove(&leader).unwrap();
    crashed.shutdown().await;
    networks.remove(&leader).unwrap().shutdown().await;
    let new_leader = wait_leader(&handles, Some(leader)).await;
    assert_ne!(new_leader, leader);
    let survivor = handles.values().next().unwrap().clone();
    for seq in 100..110u64 {
        let envelope = consortium.ordering_envelope(&consortium.unicom_client, seq, 256);
        survivor.broadcast(envelope).await.unwrap();
    }
    for handle in handles.values() {
        wait_height(handle, 4).await;
    }
    let hashes = |handle: &OrdererHandle| -> Vec<_> {
        (0..4)
            .map(|n| handle.ledger().block(n).unwrap().unwrap().hash())
            .collect()
    };
    let expected = hashes(&survivor);
    for handle in handles.values() {
        assert_eq!(hashes(handle), expected);
    }
    assert_eq!(
        crashed.ledger().block(2).unwrap().unwrap().hash(),
        expected[2]
    );
    for handle in handles.values() {
        handle.shutdown().await;
    }
    for network in networks.into_values() {
        network.shutdown().await;
    }
    client.shutdown().await;
}

/// Broadcasts one client keeps in flight at once: several times the network's streams
/// per node, so the client's requests must queue (not break the connection) and the
/// orderers' Raft traffic must keep up.
const BROADCASTS_IN_FLIGHT: u64 = 256;
/// Transactions broadcast in the load test.
const BROADCASTS: u64 = 600;
/// The load test fails beyond this: far above what a working cluster needs even on a
/// busy machine (one ack per Raft heartbeat would take minutes).
const BROADCASTS_DEADLINE: Duration = Duration::from_secs(90);

/// A client broadcasts over SM-TLS to one follower with hundreds in flight: every one is
/// acknowledged, within a generous bound. Before Raft messages were sent in order and in
/// batches, and before the network queued requests beyond its stream limit, this failed
/// with "connection closed before a response" and `NotOrderedInTime`, at about one
/// block per heartbeat. A peer long-polling `orderer-blocks` meanwhile receives every
/// block in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundreds_of_concurrent_broadcasts_over_sm_tls_are_all_ordered() {
    let dir = tempfile::tempdir().unwrap();
    let consortium = Consortium::with_orderers(5, 0, BatchPolicy::default());
    let trust = trust(&consortium);
    let cluster = start_cluster(dir.path(), &consortium).await;
    let leader = wait_leader(&cluster.handles, None).await;
    let follower = (1..=5).find(|id| *id != leader).unwrap();
    let target = &cluster.networks[&follower];
    let client = start_network(&consortium.unicom_client, &trust).await;
    let peer = start_network(&consortium.unicom_peer, &trust).await;
    for network in [&client, &peer] {
        network
            .handle()
            .add_address(target.node_id(), target.listen_addr())
            .await
            .unwrap();
    }
    let start_height = *cluster.handles[&follower].height().borrow();

    // The peer follows the chain by long poll: one request at a time from its height.
    let follow = {
        let net = peer.handle();
        let orderer = target.node_id();
        tokio::spawn(async move {
            let mut blocks = Vec::new();
            let mut transactions = 0u64;
            let mut next = start_height;
            while transactions < BROADCASTS {
                let request = encode(&BlockRange::starting_at(next, 64)).unwrap();
                let bytes = net
                    .request(orderer, ORDERER_BLOCKS_SERVICE, request)
                    .await
                    .unwrap();
                let batch: BlockBatch = decode(&bytes).unwrap();
                for block in batch.0 {
                    assert_eq!(block.header.number, next);
                    transactions += u64::try_from(block.data.len()).unwrap();
                    next += 1;
                    blocks.push(block.hash());
                }
            }
            blocks
        })
    };

    let envelopes: Vec<_> = (0..BROADCASTS)
        .map(|seq| consortium.ordering_envelope(&consortium.unicom_client, 1_000 + seq, 1024))
        .collect();
    let slots = Arc::new(tokio::sync::Semaphore::new(BROADCASTS_IN_FLIGHT as usize));
    let broadcasts = async {
        let mut calls = Vec::new();
        for envelope in envelopes {
            let permit = Arc::clone(&slots).acquire_owned().await.unwrap();
            let net = client.handle();
            let orderer = target.node_id();
            calls.push(tokio::spawn(async move {
                let _permit = permit;
                let bytes = encode(&envelope).unwrap();
                let response = net.request(orderer, BROADCAST_SERVICE, bytes).await;
                decode::<BroadcastResponse>(&response.unwrap()).unwrap()
            }));
        }
        for call in calls {
            let response = call.await.unwrap();
            assert_eq!(
                response.status,
                BroadcastStatus::Success,
                "{}",
                response.info
            );
        }
    };
    tokio::time::timeout(BROADCASTS_DEADLINE, broadcasts)
        .await
        .expect("every broadcast acknowledged in time");
    let followed = tokio::time::timeout(DEADLINE, follow)
        .await
        .expect("the peer saw every transaction")
        .unwrap();
    let height = start_height + u64::try_from(followed.len()).unwrap();
    for handle in cluster.handles.values() {
        wait_height(handle, height).await;
        for (offset, hash) in followed.iter().enumerate() {
            let number = start_height + u64::try_from(offset).unwrap();
            assert_eq!(
                handle.ledger().block(number).unwrap().unwrap().hash(),
                *hash
            );
        }
    }
    let stats = cluster.transports[&leader].stats();
    assert_eq!(stats.messages_dropped, 0, "{stats:?}");
    assert!(
        stats.messages_sent > stats.requests_sent,
        "batched: {stats:?}"
    );
    client.shutdown().await;
    peer.shutdown().await;
    cluster.shutdown().await;
}

/// The largest Raft message, a snapshot carrying an almost full pending batch and the
/// channel config, is more than a block: the transport refuses a network that could not
/// carry it (the network's old default limit, one block frame) and accepts the default.
/// (Sending one for real takes longer than the request timeout in a debug build: SM4
/// runs unoptimised there.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_transport_needs_a_network_that_carries_the_largest_raft_request() {
    let consortium = Consortium::with_orderers(1, 0, BatchPolicy::default());
    let trust = trust(&consortium);
    let member = &consortium.orderers[0];
    let default = start_network(member, &trust).await;
    assert!(default.handle().limits().message_bytes_max >= RAFT_REQUEST_BYTES_MAX);
    NetTransport::new(default.handle(), &consortium.config).unwrap();
    default.shutdown().await;

    let mut config = NetConfig::new(
        member.tls_identity(),
        trust.clone(),
        "127.0.0.1:0".parse().unwrap(),
    );
    config.limits.message_bytes_max = FRAME_BYTES_MAX;
    let small = Network::start(config).await.unwrap();
    let error = NetTransport::new(small.handle(), &consortium.config).unwrap_err();
    assert!(error.to_string().contains("Raft snapshot"), "{error}");
    small.shutdown().await;
}
