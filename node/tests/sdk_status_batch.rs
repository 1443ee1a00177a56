//! The SDK gateway's commit waits at one peer share long polls (`peer-tx-status-batch`):
//! many concurrent waits go out in a few requests, each wait gets its own transaction's
//! answer, a transaction not yet committed is asked again with the next poll, and a peer
//! that answers the wrong number of statuses or garbage fails the waits of that poll with
//! a clear error instead of handing anyone a status that is not theirs. (A peer without
//! the batch service is waited on one request per transaction: the stand-ins of
//! `sdk_fanout.rs` and `sdk_failover.rs` serve only `peer-tx-status`.) A stand-in peer on
//! 127.0.0.1, a real `netsettle-net` node over SM-TLS with the test consortium's peer
//! certificate, answers.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use netsettle_client::{ClientError, Endpoint, Gateway};
use netsettle_net::{InboundRequest, Network};
use netsettle_protocol::{
    Role, TX_STATUS_BATCH_SERVICE, TxId, TxStatus, TxStatusBatch, TxStatusBatchRequest,
    ValidationCode, decode, encode,
};
use netsettle_testkit::Consortium;
use netsettle_testkit::sdk::{gateway_to_peer, stand_in};

/// Marks failure only: every poll is answered as soon as the rule below allows.
const DEADLINE: Duration = Duration::from_secs(30);
/// Concurrent commit waits.
const WAITS: u8 = 64;

fn tx(n: u8) -> TxId {
    TxId(netsettle_smcrypto::sm3(&[n]))
}

/// The block the stand-in reports a transaction committed in.
fn block_of(tx_id: &TxId) -> u64 {
    u64::from(tx_id.0.as_bytes()[0]) + 1
}

/// What the stand-in peer has seen, and how it answers.
#[derive(Default)]
struct Seen {
    /// Times each transaction was asked about.
    asked: HashMap<TxId, u32>,
    /// Polls received.
    polls: usize,
    /// Polls held, not yet answered.
    held: Vec<(InboundRequest, TxStatusBatchRequest)>,
}

/// How the stand-in answers a poll.
#[derive(Clone, Copy)]
enum Behaviour {
    /// Each transaction committed in `block_of` it, except that one whose id's first byte
    /// is odd is "not committed" the first time it is asked. Polls are held until two are
    /// held or every one of the test's transactions was asked about, so the gateway's
    /// waits pile up meanwhile, as they do while a peer waits for its next block.
    Honest,
    /// One status fewer than asked.
    ShortAnswer,
    /// Bytes that are no status batch.
    Garbage,
}

fn answer(seen: &mut Seen, request: &TxStatusBatchRequest) -> TxStatusBatch {
    let statuses = request
        .tx_ids
        .iter()
        .map(|tx_id| {
            let asked = seen.asked.entry(*tx_id).or_insert(0);
            *asked += 1;
            if tx_id.0.as_bytes()[0] % 2 == 1 && *asked == 1 {
                TxStatus::NotCommitted { height: 1 }
            } else {
                TxStatus::Committed {
                    block: block_of(tx_id),
                    tx: 0,
                    code: ValidationCode::Valid,
                }
            }
        })
        .collect();
    TxStatusBatch { statuses }
}

async fn stand_in_peer(
    consortium: &Consortium,
    behaviour: Behaviour,
) -> (Network, Arc<Mutex<Seen>>) {
    let network = stand_in(&consortium.unicom_peer, &consortium.config, &[Role::Client]).await;
    let mut polls = network
        .handle()
        .serve(TX_STATUS_BATCH_SERVICE, &[Role::Client])
        .unwrap();
    let seen = Arc::new(Mutex::new(Seen::default()));
    let state = Arc::clone(&seen);
    tokio::spawn(async move {
        while let Some(request) = polls.recv().await {
            let query: TxStatusBatchRequest = decode(&request.payload).unwrap();
            let release = {
                let mut seen = state.lock().unwrap();
                seen.polls += 1;
                match behaviour {
                    Behaviour::Honest => {
                        for tx_id in &query.tx_ids {
                            seen.asked.entry(*tx_id).or_insert(0);
                        }
                        seen.held.push((request, query));
                        let everything_asked = seen.asked.len() == usize::from(WAITS);
                        if seen.held.len() >= 2 || everything_asked {
                            let held = std::mem::take(&mut seen.held);
                            held.into_iter()
                                .map(|(request, query)| {
                                    let bytes = encode(&answer(&mut seen, &query)).unwrap();
                                    (request, bytes)
                                })
                                .collect()
                        } else {
                            Vec::new()
                        }
                    }
                    Behaviour::ShortAnswer => {
                        let mut batch = answer(&mut seen, &query);
                        batch.statuses.pop();
                        vec![(request, encode(&batch).unwrap())]
                    }
                    Behaviour::Garbage => vec![(request, vec![0xff; 12])],
                }
            };
            for (request, bytes) in release {
                let _ = request.respond(bytes).await;
            }
        }
    });
    (network, seen)
}

async fn gateway_to(consortium: &Consortium, peer: &Network) -> (Gateway, Endpoint) {
    gateway_to_peer(
        consortium,
        &consortium.unicom_client,
        peer,
        &consortium.unicom_peer,
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_commit_waits_share_a_few_polls_and_each_gets_its_own_answer() {
    let consortium = Consortium::new();
    let (peer, seen) = stand_in_peer(&consortium, Behaviour::Honest).await;
    let (gateway, endpoint) = gateway_to(&consortium, &peer).await;

    let gateway = Arc::new(gateway);
    let mut waits = tokio::task::JoinSet::new();
    for n in 0..WAITS {
        let (gateway, endpoint) = (Arc::clone(&gateway), endpoint.clone());
        waits.spawn(async move { (n, gateway.wait_committed(&endpoint, &tx(n)).await) });
    }
    let results = tokio::time::timeout(DEADLINE, waits.join_all())
        .await
        .expect("every wait answered within the deadline");
    for (n, result) in results {
        let (block, code) = result.unwrap();
        assert_eq!(block, block_of(&tx(n)), "wait {n} got another's block");
        assert_eq!(code, ValidationCode::Valid);
    }
    let (asked, polls) = {
        let seen = seen.lock().unwrap();
        (seen.asked.clone(), seen.polls)
    };
    // Every "not committed" transaction was asked again, every other one once.
    for n in 0..WAITS {
        let expected = if tx(n).0.as_bytes()[0] % 2 == 1 { 2 } else { 1 };
        assert_eq!(asked[&tx(n)], expected, "transaction {n}");
    }
    assert!(
        polls < usize::from(WAITS) / 2,
        "{polls} polls for {WAITS} waits: they were not gathered"
    );
    if let Ok(gateway) = Arc::try_unwrap(gateway) {
        gateway.close().await;
    }
    peer.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_answering_the_wrong_count_or_garbage_fails_the_waits_of_that_poll() {
    let consortium = Consortium::new();
    let (peer, _) = stand_in_peer(&consortium, Behaviour::ShortAnswer).await;
    let (gateway, endpoint) = gateway_to(&consortium, &peer).await;
    for n in 0..2 {
        let wait = tokio::time::timeout(DEADLINE, gateway.wait_committed(&endpoint, &tx(n)))
            .await
            .expect("answered within the deadline");
        assert!(
            matches!(
                &wait,
                Err(ClientError::StatusAnswer {
                    asked: 1,
                    answered: 0,
                    ..
                })
            ),
            "{wait:?}"
        );
    }
    gateway.close().await;
    peer.shutdown().await;

    let (peer, _) = stand_in_peer(&consortium, Behaviour::Garbage).await;
    let (gateway, endpoint) = gateway_to(&consortium, &peer).await;
    let wait = tokio::time::timeout(DEADLINE, gateway.wait_committed(&endpoint, &tx(3)))
        .await
        .expect("answered within the deadline");
    assert!(matches!(&wait, Err(ClientError::Codec(_))), "{wait:?}");
    gateway.close().await;
    peer.shutdown().await;
}
