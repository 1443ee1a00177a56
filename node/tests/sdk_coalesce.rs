//! The client's broadcast coalescer (`BroadcastCoalescer`, what `Gateway::broadcast`
//! sends through) over real networks on 127.0.0.1, in one process: many concurrent
//! envelopes to a real orderer go in fewer requests than envelopes, each answered with its
//! own status; a stand-in orderer that serves only `orderer-broadcast` (an orderer built
//! before batches) refuses the batch service once and then gets every envelope one by one.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use netsettle_client::BroadcastCoalescer;
use netsettle_client::limits::BROADCAST_BATCHES_IN_FLIGHT_MAX;
use netsettle_net::{ChannelTrust, InboundRequest, NetConfig, Network, NodeId};
use netsettle_orderer::OrdererService;
use netsettle_orderer::net::{NetTransport, serve};
use netsettle_orderer::stats::OrdererStats;
use netsettle_protocol::{
    BROADCAST_SERVICE, BatchPolicy, BroadcastResponse, BroadcastStatus, Role, encode,
};
use netsettle_testkit::ordering::service_config;
use netsettle_testkit::{Consortium, Member};

/// Marks failure only; every wait ends on the event itself.
const DEADLINE: Duration = Duration::from_secs(60);
/// Envelopes sent at once.
const ENVELOPES: u64 = 200;

fn trust(consortium: &Consortium) -> ChannelTrust {
    ChannelTrust::new(
        &consortium.config,
        &[Role::Orderer, Role::Client, Role::Peer, Role::Admin],
    )
    .unwrap()
}

async fn start_network(member: &Member, trust: &ChannelTrust) -> Network {
    let config = NetConfig::new(
        member.tls_identity(),
        trust.clone(),
        "127.0.0.1:0".parse().unwrap(),
    );
    Network::start(config).await.unwrap()
}

/// Sends every payload through `coalescer` to `orderer` at once; the answers in order.
async fn send_all(
    coalescer: &Arc<BroadcastCoalescer>,
    orderer: NodeId,
    payloads: Vec<Vec<u8>>,
) -> Vec<BroadcastResponse> {
    let tasks: Vec<_> = payloads
        .into_iter()
        .map(|payload| {
            let coalescer = Arc::clone(coalescer);
            tokio::spawn(async move { coalescer.send(orderer, payload).await })
        })
        .collect();
    let mut answers = Vec::new();
    for task in tasks {
        let answer = tokio::time::timeout(DEADLINE, task)
            .await
            .expect("no answer");
        answers.push(answer.unwrap().unwrap());
    }
    answers
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_envelopes_share_requests_and_each_gets_its_own_answer() {
    let dir = tempfile::tempdir().unwrap();
    let consortium = Consortium::with_orderers(1, 0, BatchPolicy::default());
    let trust = trust(&consortium);
    let orderer_net = start_network(consortium.orderer_id(1), &trust).await;
    let transport = NetTransport::new(orderer_net.handle(), &consortium.config).unwrap();
    let orderer = OrdererService::spawn(
        service_config(&consortium, 1, dir.path(), 20),
        Arc::new(transport),
    )
    .unwrap();
    serve(&orderer_net.handle(), &orderer).unwrap();
    tokio::time::timeout(DEADLINE, orderer.leader().wait_for(|l| *l != 0))
        .await
        .expect("no leader")
        .unwrap();
    let client = start_network(&consortium.mobile_client, &trust).await;
    let target = orderer_net.node_id();
    client
        .handle()
        .add_address(target, orderer_net.listen_addr())
        .await
        .unwrap();
    let coalescer = Arc::new(BroadcastCoalescer::new(client.handle()));

    // Valid envelopes, and every 50th one malformed: each gets its own verdict.
    let envelopes: Vec<_> = (1..=ENVELOPES)
        .map(|seed| consortium.ordering_envelope(&consortium.mobile_client, seed, 256))
        .collect();
    let payloads = (0..)
        .zip(&envelopes)
        .map(|(i, envelope)| match i % 50 {
            7 => vec![1, 2, 3],
            _ => encode(envelope).unwrap(),
        })
        .collect();
    let answers = send_all(&coalescer, target, payloads).await;
    for ((i, envelope), answer) in (0..).zip(&envelopes).zip(&answers) {
        if i % 50 == 7 {
            assert_eq!(
                answer.status,
                BroadcastStatus::BadRequest,
                "{}",
                answer.info
            );
        } else {
            assert_eq!(answer.status, BroadcastStatus::Success, "{}", answer.info);
            assert_eq!(answer.info, envelope.tx_id().to_string());
        }
    }
    let stats = coalescer.stats();
    assert_eq!(stats.envelopes, ENVELOPES);
    assert!(
        stats.singles + stats.batches < ENVELOPES && stats.batches >= 1,
        "{stats:?}"
    );
    assert_eq!(
        OrdererStats::get(&orderer.stats().broadcast_batches),
        stats.batches
    );

    drop(coalescer);
    client.shutdown().await;
    orderer.shutdown().await;
    orderer_net.shutdown().await;
}

/// An orderer of a build before batches: serves only `orderer-broadcast` and answers each
/// envelope with its own bytes as the info. While `holding`, it holds its answers until
/// it holds as many requests as the coalescer keeps in flight, so the envelopes sent
/// meanwhile queue up (and would go as a batch); then it answers them and stops holding.
struct StandIn {
    network: Network,
    singles: Arc<AtomicU64>,
    holding: Arc<AtomicBool>,
}

fn answer_with_payload(mut request: InboundRequest) -> impl Future<Output = ()> {
    let payload = std::mem::take(&mut request.payload);
    let answer = BroadcastResponse {
        status: BroadcastStatus::Success,
        info: String::from_utf8(payload).unwrap(),
        leader: None,
    };
    async move {
        let _ = request.respond(encode(&answer).unwrap()).await;
    }
}

async fn start_stand_in(member: &Member, trust: &ChannelTrust) -> StandIn {
    let network = start_network(member, trust).await;
    let mut requests = network
        .handle()
        .serve(BROADCAST_SERVICE, &[Role::Client])
        .unwrap();
    let singles = Arc::new(AtomicU64::new(0));
    let holding = Arc::new(AtomicBool::new(true));
    let (count, hold) = (Arc::clone(&singles), Arc::clone(&holding));
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Some(request) = requests.recv().await {
            count.fetch_add(1, Ordering::Relaxed);
            if !hold.load(Ordering::Relaxed) {
                answer_with_payload(request).await;
                continue;
            }
            held.push(request);
            if held.len() >= BROADCAST_BATCHES_IN_FLIGHT_MAX {
                hold.store(false, Ordering::Relaxed);
                for request in held.drain(..) {
                    answer_with_payload(request).await;
                }
            }
        }
    });
    StandIn {
        network,
        singles,
        holding,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_orderer_without_batches_gets_every_envelope_one_by_one() {
    let consortium = Consortium::with_orderers(1, 0, BatchPolicy::default());
    let trust = trust(&consortium);
    let stand_in = start_stand_in(consortium.orderer_id(1), &trust).await;
    let client = start_network(&consortium.mobile_client, &trust).await;
    let target = stand_in.network.node_id();
    client
        .handle()
        .add_address(target, stand_in.network.listen_addr())
        .await
        .unwrap();
    let coalescer = Arc::new(BroadcastCoalescer::new(client.handle()));

    let payloads: Vec<Vec<u8>> = (0..ENVELOPES)
        .map(|i| format!("envelope {i}").into_bytes())
        .collect();
    let answers = send_all(&coalescer, target, payloads.clone()).await;
    for (payload, answer) in payloads.iter().zip(&answers) {
        assert_eq!(answer.status, BroadcastStatus::Success);
        assert_eq!(answer.info.as_bytes(), payload.as_slice());
    }
    // The envelopes queued behind the held ones went as a batch (or a few, sent before
    // the first refusal came back): refused, they were sent one by one, and every
    // envelope reached the orderer exactly once.
    let stats = coalescer.stats();
    let batches = stats.batches;
    assert!(batches >= 1, "{stats:?}");
    assert_eq!(stats.singles, ENVELOPES, "{stats:?}");
    assert_eq!(stand_in.singles.load(Ordering::Relaxed), ENVELOPES);

    // Remembered: envelopes queue up behind held ones again, and no batch is tried.
    stand_in.holding.store(true, Ordering::Relaxed);
    let more: Vec<Vec<u8>> = (ENVELOPES..2 * ENVELOPES)
        .map(|i| format!("envelope {i}").into_bytes())
        .collect();
    let answers = send_all(&coalescer, target, more.clone()).await;
    for (payload, answer) in more.iter().zip(&answers) {
        assert_eq!(answer.info.as_bytes(), payload.as_slice());
    }
    let stats = coalescer.stats();
    assert_eq!(stats.batches, batches, "{stats:?}");
    assert_eq!(stats.singles, 2 * ENVELOPES, "{stats:?}");
    assert!(!stand_in.holding.load(Ordering::Relaxed));
    assert_eq!(stand_in.singles.load(Ordering::Relaxed), 2 * ENVELOPES);

    drop(coalescer);
    client.shutdown().await;
    stand_in.network.shutdown().await;
}
