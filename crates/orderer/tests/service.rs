//! Five orderer services in one process, each with its own RocksDB ledger and Raft log in
//! a temporary directory, connected by an in-memory transport: broadcast, block cutting,
//! identical ledgers, deliver with a signed request, and a restart from disk.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use netsettle_orderer::{OrdererHandle, OrdererService};
use netsettle_protocol::limits::NONCE_BYTES;
use netsettle_protocol::{
    BatchPolicy, DeliverRequest, DeliverResponse, DeliverStatus, Nonce, SeekPosition,
    SignedDeliverRequest, Timestamp,
};
use netsettle_testkit::Consortium;
use netsettle_testkit::ordering::{Routes, service_config};

/// Marks failure only; every wait below ends on the event itself.
const DEADLINE: Duration = Duration::from_secs(60);
/// A fast tick keeps elections and batch timeouts short.
const TICK_MS: u64 = 20;

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
    let transport = Routes::default();
    for id in 1..=5 {
        let handle = OrdererService::spawn(
            service_config(&consortium, id, dir.path(), TICK_MS),
            transport.transport(),
        )
        .unwrap();
        transport.insert(id, handle);
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
    let stopped = transport.remove(follower).unwrap();
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
        service_config(&consortium, follower, dir.path(), TICK_MS),
        transport.transport(),
    )
    .unwrap();
    assert!(*restarted.height().borrow() >= 4, "blocks survived on disk");
    transport.insert(follower, restarted.clone());
    wait_height(&restarted, 5).await;
    assert_eq!(
        restarted.ledger().block(4).unwrap().unwrap().hash(),
        handle.ledger().block(4).unwrap().unwrap().hash()
    );
    for handle in transport.all() {
        handle.shutdown().await;
    }
}
