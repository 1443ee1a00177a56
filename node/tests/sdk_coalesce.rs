//! The client's broadcast coalescer (`BroadcastCoalescer`, what `Gateway::broadcast`
//! sends through) over real networks on 127.0.0.1, in one process: many concurrent
//! envelopes to a real orderer go in fewer requests than envelopes, each answered with its
//! own status; a stand-in orderer that serves only `orderer-broadcast` (an orderer built
//! before batches) refuses the batch service once and then gets every envelope one by one;
//! a faulty orderer answering a batch with a response missing fails each envelope of that
//! batch (and only those), without a panic or a mismatched answer.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use netsettle_client::limits::BROADCAST_BATCHES_IN_FLIGHT_MAX;
use netsettle_client::{BroadcastCoalescer, ClientError};
use netsettle_net::{ChannelTrust, InboundRequest, NetConfig, Network, NodeId};
use netsettle_orderer::OrdererService;
use netsettle_orderer::net::{NetTransport, serve};
use netsettle_orderer::stats::OrdererStats;
use netsettle_protocol::{
    BROADCAST_BATCH_SERVICE, BROADCAST_SERVICE, BatchPolicy, BroadcastBatch,
    BroadcastBatchResponse, BroadcastResponse, BroadcastStatus, Role, decode, encode,
};
use netsettle_testkit::ordering::service_config;
use netsettle_testkit::{Consortium, Member};

/// Marks failure only; every wait ends on the event itself.
const DEADLINE: Duration = Duration::from_secs(60);
/// Envelopes sent at once.
const ENVELOPES: u64 = 200;

// One client's full batches in flight to one orderer never outnumber the envelopes that
// orderer admits into its checks at once: beyond it, they would be answered "busy" (the
// consensus bench's saturation level found it, session 30). Checked when this test builds.
const _: () = assert!(
    BROADCAST_BATCHES_IN_FLIGHT_MAX * netsettle_protocol::limits::BROADCAST_BATCH_ENVELOPES_MAX
        <= netsettle_orderer::limits::ENVELOPE_CHECKS_CONCURRENT_MAX
);

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

/// Sends every payload through `coalescer` to `orderer` at once (each `alone`, or as the
/// coalescer batches them); the answers in order.
async fn send_all(
    coalescer: &Arc<BroadcastCoalescer>,
    orderer: NodeId,
    payloads: Vec<Vec<u8>>,
    alone: bool,
) -> Vec<BroadcastResponse> {
    let tasks: Vec<_> = payloads
        .into_iter()
        .map(|payload| {
            let coalescer = Arc::clone(coalescer);
            tokio::spawn(async move {
                if alone {
                    coalescer.send_alone(orderer, payload).await
                } else {
                    coalescer.send(orderer, payload).await
                }
            })
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
    let answers = send_all(&coalescer, target, payloads, false).await;
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

/// A stand-in orderer answering each envelope with its own bytes as the info. Without
/// `short_batches` it serves only `orderer-broadcast` (an orderer built before batches);
/// with it, it also serves `orderer-broadcast-batch` and answers every batch with one
/// response too few (a faulty orderer). While `holding`, it holds its single answers
/// until it holds as many requests as the coalescer keeps in flight or a batch arrives,
/// so the envelopes sent meanwhile queue up (and go as a batch); then it answers them and
/// stops holding.
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

/// One response fewer than the batch has envelopes.
async fn answer_short(request: InboundRequest) {
    let BroadcastBatch { mut envelopes } = decode(&request.payload).unwrap();
    envelopes.pop();
    let answers = envelopes
        .into_iter()
        .map(|envelope| BroadcastResponse {
            status: BroadcastStatus::Success,
            info: String::from_utf8(envelope).unwrap(),
            leader: None,
        })
        .collect();
    let _ = request
        .respond(encode(&BroadcastBatchResponse(answers)).unwrap())
        .await;
}

async fn start_stand_in(member: &Member, trust: &ChannelTrust, short_batches: bool) -> StandIn {
    let network = start_network(member, trust).await;
    let mut singles_in = network
        .handle()
        .serve(BROADCAST_SERVICE, &[Role::Client])
        .unwrap();
    let mut batches_in = if short_batches {
        Some(
            network
                .handle()
                .serve(BROADCAST_BATCH_SERVICE, &[Role::Client])
                .unwrap(),
        )
    } else {
        None
    };
    let singles = Arc::new(AtomicU64::new(0));
    let holding = Arc::new(AtomicBool::new(true));
    let (count, hold) = (Arc::clone(&singles), Arc::clone(&holding));
    tokio::spawn(async move {
        let mut held = Vec::new();
        loop {
            let batch = async {
                match batches_in.as_mut() {
                    Some(batches) => batches.recv().await,
                    None => std::future::pending().await,
                }
            };
            let release = tokio::select! {
                request = singles_in.recv() => {
                    let Some(request) = request else { return };
                    count.fetch_add(1, Ordering::Relaxed);
                    held.push(request);
                    held.len() >= BROADCAST_BATCHES_IN_FLIGHT_MAX
                }
                request = batch => {
                    let Some(request) = request else { return };
                    answer_short(request).await;
                    true
                }
            };
            if release || !hold.load(Ordering::Relaxed) {
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

/// The Mobile client's network, knowing `stand_in`'s address, and a coalescer on it.
async fn client_of(
    consortium: &Consortium,
    trust: &ChannelTrust,
    stand_in: &StandIn,
) -> (Network, NodeId, Arc<BroadcastCoalescer>) {
    let client = start_network(&consortium.mobile_client, trust).await;
    let target = stand_in.network.node_id();
    client
        .handle()
        .add_address(target, stand_in.network.listen_addr())
        .await
        .unwrap();
    let coalescer = Arc::new(BroadcastCoalescer::new(client.handle()));
    (client, target, coalescer)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_orderer_without_batches_gets_every_envelope_one_by_one() {
    let consortium = Consortium::with_orderers(1, 0, BatchPolicy::default());
    let trust = trust(&consortium);
    let stand_in = start_stand_in(consortium.orderer_id(1), &trust, false).await;
    let (client, target, coalescer) = client_of(&consortium, &trust, &stand_in).await;

    let payloads: Vec<Vec<u8>> = (0..ENVELOPES)
        .map(|i| format!("envelope {i}").into_bytes())
        .collect();
    let answers = send_all(&coalescer, target, payloads.clone(), false).await;
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
    let answers = send_all(&coalescer, target, more.clone(), false).await;
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

/// `send_alone` (the benches' `NETSETTLE_*_NO_BATCH`, `Gateway::set_broadcast_batching`):
/// every envelope in a request of its own, even to an orderer that serves batches and
/// while earlier requests are still unanswered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn envelopes_sent_alone_never_go_in_a_batch() {
    let consortium = Consortium::with_orderers(1, 0, BatchPolicy::default());
    let trust = trust(&consortium);
    // Serves batches, answering each one short: a batch would fail an envelope.
    let stand_in = start_stand_in(consortium.orderer_id(1), &trust, true).await;
    let (client, target, coalescer) = client_of(&consortium, &trust, &stand_in).await;

    let payloads: Vec<Vec<u8>> = (0..ENVELOPES)
        .map(|i| format!("alone {i}").into_bytes())
        .collect();
    let answers = send_all(&coalescer, target, payloads.clone(), true).await;
    for (payload, answer) in payloads.iter().zip(&answers) {
        assert_eq!(answer.status, BroadcastStatus::Success);
        assert_eq!(answer.info.as_bytes(), payload.as_slice());
    }
    let stats = coalescer.stats();
    assert_eq!(stats.batches, 0, "{stats:?}");
    assert_eq!(stats.singles, ENVELOPES, "{stats:?}");
    assert_eq!(stand_in.singles.load(Ordering::Relaxed), ENVELOPES);

    drop(coalescer);
    client.shutdown().await;
    stand_in.network.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_answer_with_a_response_missing_fails_each_of_its_envelopes() {
    let consortium = Consortium::with_orderers(1, 0, BatchPolicy::default());
    let trust = trust(&consortium);
    let stand_in = start_stand_in(consortium.orderer_id(1), &trust, true).await;
    let (client, target, coalescer) = client_of(&consortium, &trust, &stand_in).await;
    let tasks: Vec<_> = (0..ENVELOPES)
        .map(|i| {
            let coalescer = Arc::clone(&coalescer);
            let payload = format!("envelope {i}").into_bytes();
            tokio::spawn(async move { (payload.clone(), coalescer.send(target, payload).await) })
        })
        .collect();
    let mut failed = 0;
    for task in tasks {
        let (payload, answer) = tokio::time::timeout(DEADLINE, task)
            .await
            .expect("no answer")
            .unwrap();
        match answer {
            // A single's answer is its own.
            Ok(answer) => assert_eq!(answer.info.as_bytes(), payload.as_slice()),
            Err(ClientError::BatchAnswer {
                items,
                answers,
                service,
                ..
            }) => {
                assert_eq!(answers + 1, items);
                assert_eq!(service, "orderer-broadcast-batch");
                failed += 1;
            }
            Err(error) => panic!("{error}"),
        }
    }
    // Every envelope of a batch failed, none other; the orderer is not given up on.
    let stats = coalescer.stats();
    assert!(stats.batches >= 1, "{stats:?}");
    assert_eq!(failed, stats.envelopes - stats.singles, "{stats:?}");
    assert_eq!(stats.singles, stand_in.singles.load(Ordering::Relaxed));

    drop(coalescer);
    client.shutdown().await;
    stand_in.network.shutdown().await;
}
