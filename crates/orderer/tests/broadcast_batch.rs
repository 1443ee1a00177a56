//! `orderer-broadcast-batch` over a real network on 127.0.0.1 (libp2p over SM-TLS), one
//! orderer: each envelope of a batch is answered on its own, in order, exactly as if it
//! had been broadcast alone (a bad signature, a replay and malformed bytes are refused
//! alone, the valid ones are ordered once), a batch of large envelopes too (decoded off the
//! async workers); an empty batch, an oversize one and garbage
//! are refused whole with nothing ordered; a role that may not broadcast is refused.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use netsettle_net::{ChannelTrust, NetConfig, NetError, Network};
use netsettle_orderer::net::{NetTransport, serve};
use netsettle_orderer::{OrdererHandle, OrdererService};
use netsettle_protocol::limits::{BROADCAST_BATCH_ENVELOPES_MAX, CODEC_VERSION};
use netsettle_protocol::{
    BROADCAST_BATCH_SERVICE, BROADCAST_SERVICE, BatchPolicy, BroadcastBatch,
    BroadcastBatchResponse, BroadcastResponse, BroadcastStatus, Envelope, Role, TxId, decode,
    encode,
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

/// The batch encoding built by hand, so batches `encode` refuses (empty, oversize) can be
/// sent: version, count, then each envelope as length and bytes.
fn raw_batch(envelopes: &[Vec<u8>]) -> Vec<u8> {
    let mut out = vec![CODEC_VERSION];
    out.extend_from_slice(&(envelopes.len() as u64).to_le_bytes());
    for envelope in envelopes {
        out.extend_from_slice(&(envelope.len() as u64).to_le_bytes());
        out.extend_from_slice(envelope);
    }
    out
}

/// How many times each transaction is in `handle`'s chain after the genesis block.
fn ordered(handle: &OrdererHandle) -> HashMap<TxId, usize> {
    let mut counts = HashMap::new();
    let mut number = 1;
    while let Some(block) = handle.ledger().block(number).unwrap() {
        for envelope in &block.data {
            *counts.entry(envelope.tx_id()).or_insert(0) += 1;
        }
        number += 1;
    }
    counts
}

/// Waits until `tx_id` is in a block of `handle`'s chain.
async fn wait_ordered(handle: &OrdererHandle, tx_id: TxId) {
    let mut heights = handle.height();
    tokio::time::timeout(DEADLINE, async {
        while !ordered(handle).contains_key(&tx_id) {
            heights.changed().await.unwrap();
        }
    })
    .await
    .expect("transaction not ordered in time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_is_answered_per_envelope_and_a_bad_batch_is_refused_whole() {
    let dir = tempfile::tempdir().unwrap();
    // One consenter, and a spare orderer certificate to call as a role that may not
    // broadcast.
    let consortium = Consortium::with_orderers(1, 1, BatchPolicy::default());
    let trust = ChannelTrust::new(
        &consortium.config,
        &[Role::Orderer, Role::Client, Role::Peer, Role::Admin],
    )
    .unwrap();
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
    let request = |service: &'static str, payload: Vec<u8>| {
        let net = client.handle();
        async move {
            tokio::time::timeout(DEADLINE, net.request(target, service, payload))
                .await
                .expect("request timed out")
        }
    };
    let envelope = |seed| consortium.ordering_envelope(&consortium.mobile_client, seed, 256);

    // The first envelope, broadcast alone and ordered.
    let first = envelope(1);
    let answer = request(BROADCAST_SERVICE, encode(&first).unwrap())
        .await
        .unwrap();
    let answer: BroadcastResponse = decode(&answer).unwrap();
    assert_eq!(answer.status, BroadcastStatus::Success, "{}", answer.info);

    // [valid, valid, bad signature, replay of the first, malformed bytes].
    let (second, third) = (envelope(2), envelope(3));
    let forged = Envelope {
        signature: third.signature.clone(),
        ..envelope(4)
    };
    let batch = BroadcastBatch {
        envelopes: vec![
            encode(&second).unwrap(),
            encode(&third).unwrap(),
            encode(&forged).unwrap(),
            encode(&first).unwrap(),
            vec![1, 2, 3],
        ],
    };
    let answers = request(BROADCAST_BATCH_SERVICE, encode(&batch).unwrap())
        .await
        .unwrap();
    let BroadcastBatchResponse(answers) = decode(&answers).unwrap();
    let statuses: Vec<_> = answers.iter().map(|answer| answer.status).collect();
    assert_eq!(
        statuses,
        [
            BroadcastStatus::Success,
            BroadcastStatus::Success,
            BroadcastStatus::BadRequest,
            BroadcastStatus::BadRequest,
            BroadcastStatus::BadRequest,
        ],
        "{answers:?}"
    );
    // Each answer is its own envelope's: the ids that landed, the reasons refused; every
    // one names the leader, as single answers do.
    assert_eq!(answers[0].info, second.tx_id().to_string());
    assert_eq!(answers[1].info, third.tx_id().to_string());
    assert!(answers[2].info.contains("signature"), "{}", answers[2].info);
    assert!(answers[3].info.contains("already"), "{}", answers[3].info);
    let leader = Some(target.to_string());
    assert!(answers.iter().all(|answer| answer.leader == leader));

    // A batch of large envelopes (decoded on the blocking pool) is answered the same way.
    let large: Vec<_> = (2_000..2_002)
        .map(|seed| consortium.ordering_envelope(&consortium.mobile_client, seed, 700_000))
        .collect();
    let batch_bytes = encode(&BroadcastBatch {
        envelopes: large
            .iter()
            .map(|envelope| encode(envelope).unwrap())
            .collect(),
    })
    .unwrap();
    assert!(batch_bytes.len() > 1024 * 1024);
    let answers = request(BROADCAST_BATCH_SERVICE, batch_bytes).await.unwrap();
    let BroadcastBatchResponse(answers) = decode(&answers).unwrap();
    let infos: Vec<_> = answers.iter().map(|answer| answer.info.clone()).collect();
    let expected: Vec<_> = large.iter().map(|e| e.tx_id().to_string()).collect();
    assert_eq!(infos, expected, "{answers:?}");

    // Refused whole: empty, one over the limit, garbage.
    let over: Vec<Vec<u8>> = (100..)
        .take(BROADCAST_BATCH_ENVELOPES_MAX + 1)
        .map(|seed| encode(&envelope(seed)).unwrap())
        .collect();
    for (payload, why) in [
        (raw_batch(&[]), "must not be empty"),
        (raw_batch(&over), "65 entries, at most 64 allowed"),
        (vec![1, 2, 3], "broadcast batch: "),
    ] {
        let refused = request(BROADCAST_BATCH_SERVICE, payload).await;
        assert!(
            matches!(&refused, Err(NetError::Refused { reason, .. }) if reason.contains(why)),
            "{why}: {refused:?}"
        );
    }
    // The same 64 envelopes at the limit would be accepted: the encoding is right.
    assert_eq!(
        raw_batch(&over[..BROADCAST_BATCH_ENVELOPES_MAX]),
        encode(&BroadcastBatch {
            envelopes: over[..BROADCAST_BATCH_ENVELOPES_MAX].to_vec()
        })
        .unwrap()
    );

    // An orderer may not broadcast, batched or not.
    let stranger = start_network(consortium.orderer_id(2), &trust).await;
    stranger
        .handle()
        .add_address(target, orderer_net.listen_addr())
        .await
        .unwrap();
    let refused = stranger
        .handle()
        .request(target, BROADCAST_BATCH_SERVICE, encode(&batch).unwrap())
        .await;
    assert!(
        matches!(&refused, Err(NetError::Refused { reason, .. }) if reason.contains("may not use")),
        "{refused:?}"
    );

    // A marker broadcast after everything: once it is ordered, the chain holds the valid
    // envelopes once each and nothing else.
    let marker = envelope(1_000);
    let answer = request(BROADCAST_SERVICE, encode(&marker).unwrap())
        .await
        .unwrap();
    let answer: BroadcastResponse = decode(&answer).unwrap();
    assert_eq!(answer.status, BroadcastStatus::Success, "{}", answer.info);
    wait_ordered(&orderer, marker.tx_id()).await;
    let counts = ordered(&orderer);
    for valid in [&first, &second, &third, &marker, &large[0], &large[1]] {
        assert_eq!(counts.get(&valid.tx_id()), Some(&1));
    }
    assert_eq!(counts.values().sum::<usize>(), 6, "{counts:?}");
    assert_eq!(
        netsettle_orderer::stats::OrdererStats::get(&orderer.stats().broadcast_batches),
        2
    );

    stranger.shutdown().await;
    client.shutdown().await;
    orderer.shutdown().await;
    orderer_net.shutdown().await;
}
