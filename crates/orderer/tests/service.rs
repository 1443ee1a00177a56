//! Five orderer services in one process, each with its own RocksDB ledger and Raft log in
//! a temporary directory, connected by an in-memory transport: broadcast, block cutting,
//! identical ledgers, deliver with a signed request, and a restart from disk.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use netsettle_orderer::{
    CoreConfig, FetchFuture, OrdererHandle, OrdererService, ServiceConfig, Signer, Transport,
};
use netsettle_protocol::limits::NONCE_BYTES;
use netsettle_protocol::{
    BatchPolicy, DeliverRequest, DeliverResponse, DeliverStatus, Nonce, SeekPosition,
    SignedDeliverRequest, Timestamp,
};
use netsettle_testkit::Consortium;

/// Marks failure only; every wait below ends on the event itself.
const DEADLINE: Duration = Duration::from_secs(60);

#[derive(Default)]
struct MemTransport {
    handles: RwLock<HashMap<u64, OrdererHandle>>,
}

impl MemTransport {
    fn handle(&self, id: u64) -> Option<OrdererHandle> {
        self.handles.read().unwrap().get(&id).cloned()
    }
}

struct Routed(Arc<MemTransport>);

impl Transport for Routed {
    fn send_raft(&self, to: u64, message: Vec<u8>) {
        if let Some(handle) = self.0.handle(to) {
            handle.raft_message(&message);
        }
    }

    fn fetch_blocks(&self, from: u64, start: u64, end: u64) -> FetchFuture {
        let handle = self.0.handle(from);
        Box::pin(async move {
            let handle = handle.ok_or_else(|| format!("orderer {from} is down"))?;
            handle.blocks(start, end).map_err(|e| e.to_string())
        })
    }
}

fn service_config(consortium: &Consortium, id: u64, dir: &std::path::Path) -> ServiceConfig {
    let member = consortium.orderer_id(id).clone();
    let mut core = CoreConfig::new(id);
    core.tick_ms = 20;
    ServiceConfig {
        core,
        signer: Signer {
            identity: member.identity(),
            key: member.key,
        },
        genesis: consortium.genesis.clone(),
        data_dir: dir.join(format!("orderer{id}")),
    }
}

async fn wait_height(handle: &OrdererHandle, height: u64) {
    let mut heights = handle.height();
    tokio::time::timeout(DEADLINE, heights.wait_for(|h| *h >= height))
        .await
        .expect("height not reached in time")
        .unwrap();
}

fn now_ms() -> u64 {
    u64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_services_order_deliver_and_restart_from_disk() {
    let dir = tempfile::tempdir().unwrap();
    let consortium = Consortium::with_orderers(5, 0, BatchPolicy::default());
    let transport = Arc::new(MemTransport::default());
    for id in 1..=5 {
        let handle = OrdererService::spawn(
            service_config(&consortium, id, dir.path()),
            Arc::new(Routed(Arc::clone(&transport))),
        )
        .unwrap();
        transport.handles.write().unwrap().insert(id, handle);
    }
    let first = transport.handle(1).unwrap();
    let leader = first.leader();
    // Every orderer must know the leader before it can forward to it.
    for id in 1..=5 {
        let mut known = transport.handle(id).unwrap().leader();
        tokio::time::timeout(DEADLINE, known.wait_for(|l| *l != 0))
            .await
            .expect("no leader")
            .unwrap();
    }

    // 120 concurrent broadcasts spread over all five orderers.
    let mut tasks = Vec::new();
    for seq in 0..120u64 {
        let handle = transport.handle(seq % 5 + 1).unwrap();
        let envelope = consortium.ordering_envelope(&consortium.unicom_client, seq, 1024);
        tasks.push(tokio::spawn(
            async move { handle.broadcast(envelope).await },
        ));
    }
    for task in tasks {
        let ack = tokio::time::timeout(DEADLINE, task).await.unwrap().unwrap();
        assert!(ack.is_ok(), "{ack:?}");
    }
    // Genesis, 50, 50, then 20 after the batch timeout.
    for id in 1..=5 {
        wait_height(&transport.handle(id).unwrap(), 4).await;
    }
    let hashes = |id: u64| -> Vec<_> {
        let handle = transport.handle(id).unwrap();
        (0..4)
            .map(|n| handle.ledger().block(n).unwrap().unwrap().hash())
            .collect()
    };
    for id in 2..=5 {
        assert_eq!(hashes(id), hashes(1), "orderer {id} differs");
    }

    // Deliver blocks 0..=3 to a client of the other carrier.
    let client = &consortium.mobile_client;
    let request = SignedDeliverRequest::sign(
        &client.key,
        DeliverRequest {
            channel: "settlement".to_owned(),
            requester: client.identity(),
            nonce: Nonce([7; NONCE_BYTES]),
            timestamp: Timestamp {
                unix_time_ms: now_ms(),
            },
            start: SeekPosition::Oldest,
            stop: Some(SeekPosition::Specified(3)),
        },
    )
    .unwrap();
    let mut stream = first.deliver(request).unwrap();
    let mut numbers = Vec::new();
    loop {
        match tokio::time::timeout(DEADLINE, stream.recv()).await.unwrap() {
            Some(DeliverResponse::Block(block)) => numbers.push(block.header.number),
            Some(DeliverResponse::Status(status)) => {
                assert_eq!(status, DeliverStatus::Success);
                break;
            }
            None => panic!("stream ended without a status"),
        }
    }
    assert_eq!(numbers, vec![0, 1, 2, 3]);

    // Stop a follower, order more without it, restart it from its directories.
    let follower = (2..=5).find(|id| *id != *leader.borrow()).unwrap();
    let stopped = transport
        .handles
        .write()
        .unwrap()
        .remove(&follower)
        .unwrap();
    stopped.shutdown().await;
    drop(stopped);
    let survivor = (1..=5).find(|id| *id != follower).unwrap();
    let handle = transport.handle(survivor).unwrap();
    for seq in 1_000..1_050u64 {
        let envelope = consortium.ordering_envelope(&consortium.unicom_client, seq, 256);
        handle.broadcast(envelope).await.unwrap();
    }
    wait_height(&handle, 5).await;
    let restarted = OrdererService::spawn(
        service_config(&consortium, follower, dir.path()),
        Arc::new(Routed(Arc::clone(&transport))),
    )
    .unwrap();
    assert!(*restarted.height().borrow() >= 4, "blocks survived on disk");
    transport
        .handles
        .write()
        .unwrap()
        .insert(follower, restarted.clone());
    wait_height(&restarted, 5).await;
    assert_eq!(
        restarted.ledger().block(4).unwrap().unwrap().hash(),
        handle.ledger().block(4).unwrap().unwrap().hash()
    );
    let handles: Vec<OrdererHandle> = transport
        .handles
        .read()
        .unwrap()
        .values()
        .cloned()
        .collect();
    for handle in handles {
        handle.shutdown().await;
    }
}
