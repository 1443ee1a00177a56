//! Five orderers in one process, each with its own `netsettle-net` network on 127.0.0.1
//! (libp2p over SM-TLS) and RocksDB directories: Raft and catch-up over the network, a
//! client broadcasting over the `orderer-broadcast` service, identical ledgers, and a
//! leader crash.

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use netsettle_net::{ChannelTrust, NetConfig, Network};
use netsettle_orderer::net::{BROADCAST_SERVICE, NetTransport, serve};
use netsettle_orderer::{CoreConfig, OrdererHandle, OrdererService, ServiceConfig, Signer};
use netsettle_protocol::{BatchPolicy, BroadcastResponse, BroadcastStatus, Role, decode, encode};
use netsettle_smcrypto::x509::Certificate;
use netsettle_smtls::TlsIdentity;
use support::{Consortium, Member};

/// Marks failure only; every wait ends on the event itself.
const DEADLINE: Duration = Duration::from_secs(60);

fn tls_identity(member: &Member) -> TlsIdentity {
    let certificate = Certificate::from_der(&member.identity.cert_der).unwrap();
    TlsIdentity::new(vec![certificate], member.key.clone()).unwrap()
}

async fn start_network(member: &Member, trust: &ChannelTrust) -> Network {
    let config = NetConfig::new(
        tls_identity(member),
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_orderers_over_sm_tls_order_and_survive_a_leader_crash() {
    let dir = tempfile::tempdir().unwrap();
    let consortium = Consortium::new(5, BatchPolicy::default());
    let trust = ChannelTrust::new(
        &consortium.config,
        &[Role::Orderer, Role::Client, Role::Peer, Role::Admin],
    )
    .unwrap();
    let mut networks = BTreeMap::new();
    for id in 1..=5u64 {
        let member = &consortium.orderers[usize::try_from(id - 1).unwrap()];
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
    for (id, network) in &networks {
        let member = consortium.orderers[usize::try_from(id - 1).unwrap()].clone();
        let mut core = CoreConfig::new(*id);
        core.tick_ms = 50;
        let config = ServiceConfig {
            core,
            signer: Signer {
                key: member.key,
                identity: member.identity,
            },
            genesis: consortium.genesis.clone(),
            data_dir: dir.path().join(format!("orderer{id}")),
        };
        let transport = NetTransport::new(network.handle(), &consortium.config).unwrap();
        let handle = OrdererService::spawn(config, Arc::new(transport)).unwrap();
        serve(&network.handle(), &handle).unwrap();
        handles.insert(*id, handle);
    }
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
    let envelope = consortium.transaction(&consortium.mobile_client, 0, 512);
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

    let mut tasks = Vec::new();
    for seq in 1..60u64 {
        let handle = handles[&(seq % 5 + 1)].clone();
        let envelope = consortium.transaction(&consortium.unicom_client, seq, 1024);
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
        let envelope = consortium.transaction(&consortium.unicom_client, seq, 256);
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
