//! The SDK gateway's endorsements at one peer are coalesced (`peer-endorse-batch`):
//! proposals that queue up while earlier requests travel go in one batch, each caller
//! gets its own proposal's answer, one the peer answers "ask alone" (its endorsement did
//! not fit into the batch's answer) is asked for again in a `peer-endorse` request of
//! its own, and a peer that answers a batch with the wrong number of replies fails the
//! proposals of that batch with a clear error. (A peer without the batch service gets
//! every proposal alone: the stand-ins of `sdk_fanout.rs` and `sdk_failover.rs` serve
//! only `peer-endorse`.) A stand-in peer on 127.0.0.1, a real `netsettle-net` node over
//! SM-TLS with the test consortium's peer certificate, answers every proposal by
//! refusing it with a message naming the proposal's function and the service it came by.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use netsettle_client::{ClientError, Signer};
use netsettle_net::{InboundRequest, Network};
use netsettle_protocol::limits::ENDORSE_ALONE_STATUS;
use netsettle_protocol::{
    ContractId, ENDORSE_BATCH_SERVICE, ENDORSE_SERVICE, EndorseBatch, EndorseBatchReply,
    EndorseReply, Role, SignedProposal, decode, encode,
};
use netsettle_testkit::Consortium;
use netsettle_testkit::sdk::{gateway_to_peer, stand_in};

/// Marks failure only: every request is answered as soon as the rule below allows.
const DEADLINE: Duration = Duration::from_secs(30);
/// Concurrent endorsements.
const PROPOSALS: usize = 32;
/// The gateway's endorse requests in flight to one peer
/// (`netsettle_client::limits::ENDORSE_BATCHES_IN_FLIGHT_MAX`).
const IN_FLIGHT: usize = netsettle_client::limits::ENDORSE_BATCHES_IN_FLIGHT_MAX;
/// Status of the stand-in's refusals, which carry its verdict.
const VERDICT: u32 = 299;

/// Requests the stand-in holds, and what it counted.
#[derive(Default)]
struct Seen {
    held: Vec<InboundRequest>,
    /// The functions of the proposals asked so far (each proposal's is its own).
    proposals: HashSet<String>,
    batches: usize,
}

fn function_of(bytes: &[u8]) -> String {
    decode::<SignedProposal>(bytes).unwrap().proposal.function
}

fn verdict(message: String) -> EndorseReply {
    EndorseReply::Refused {
        status: VERDICT,
        message,
    }
}

/// The answer to one held request: alone, `alone:<function>`; in a batch,
/// `batch:<function>`, or "ask alone" for a function starting with `big`; with
/// `short_batches`, a batch's answer lacks its last reply.
fn answer(request: &InboundRequest, short_batches: bool) -> Vec<u8> {
    if request.service == ENDORSE_SERVICE {
        return encode(&verdict(format!("alone:{}", function_of(&request.payload)))).unwrap();
    }
    let batch: EndorseBatch = decode(&request.payload).unwrap();
    let mut replies: Vec<EndorseReply> = batch
        .proposals
        .iter()
        .map(|bytes| {
            let function = function_of(bytes);
            if function.starts_with("big") {
                EndorseReply::Refused {
                    status: ENDORSE_ALONE_STATUS,
                    message: "ask alone".to_owned(),
                }
            } else {
                verdict(format!("batch:{function}"))
            }
        })
        .collect();
    if short_batches {
        replies.pop();
    }
    encode(&EndorseBatchReply(replies)).unwrap()
}

/// A stand-in peer. It holds requests until the gateway has every request it may have
/// in flight out, or every proposal arrived, so proposals queue up in the gateway
/// meanwhile, as they do while a busy peer endorses.
async fn stand_in_peer(
    consortium: &Consortium,
    short_batches: bool,
) -> (Network, Arc<Mutex<Seen>>) {
    let network = stand_in(&consortium.unicom_peer, &consortium.config, &[Role::Client]).await;
    let seen = Arc::new(Mutex::new(Seen::default()));
    let (requests, mut arrivals) = tokio::sync::mpsc::channel::<InboundRequest>(256);
    for service in [ENDORSE_SERVICE, ENDORSE_BATCH_SERVICE] {
        let mut served = network.handle().serve(service, &[Role::Client]).unwrap();
        let requests = requests.clone();
        tokio::spawn(async move {
            while let Some(request) = served.recv().await {
                if requests.send(request).await.is_err() {
                    return;
                }
            }
        });
    }
    let state = Arc::clone(&seen);
    tokio::spawn(async move {
        while let Some(request) = arrivals.recv().await {
            let release = {
                let mut seen = state.lock().unwrap();
                if request.service == ENDORSE_BATCH_SERVICE {
                    seen.batches += 1;
                    let batch: EndorseBatch = decode(&request.payload).unwrap();
                    for proposal in &batch.proposals {
                        seen.proposals.insert(function_of(proposal));
                    }
                } else {
                    seen.proposals.insert(function_of(&request.payload));
                }
                seen.held.push(request);
                if seen.held.len() >= IN_FLIGHT || seen.proposals.len() >= PROPOSALS {
                    std::mem::take(&mut seen.held)
                } else {
                    Vec::new()
                }
            };
            for request in release {
                let bytes = answer(&request, short_batches);
                let _ = request.respond(bytes).await;
            }
        }
    });
    (network, seen)
}

async fn endorse_all(
    consortium: &Consortium,
    peer: &Network,
) -> Vec<(String, Result<(), ClientError>)> {
    let (gateway, endpoint) = gateway_to_peer(
        consortium,
        &consortium.unicom_client,
        peer,
        &consortium.unicom_peer,
    )
    .await;
    let gateway = Arc::new(gateway);
    let signer = Signer::new(
        consortium.unicom_client.key.clone(),
        consortium.unicom_client.identity(),
    );
    let contract = ContractId {
        name: "kv".to_owned(),
        version: "1.0".to_owned(),
    };
    let mut endorsing = tokio::task::JoinSet::new();
    for n in 0..PROPOSALS {
        let function = if n % 4 == 3 {
            format!("big{n}")
        } else {
            format!("f{n}")
        };
        let proposal = signer
            .propose(
                &consortium.config.channel,
                contract.clone(),
                &function,
                Vec::new(),
            )
            .unwrap();
        let (gateway, endpoint) = (Arc::clone(&gateway), endpoint.clone());
        endorsing.spawn(async move {
            let result = gateway.endorse(&endpoint, &proposal).await.map(|_| ());
            (function, result)
        });
    }
    let results = tokio::time::timeout(DEADLINE, endorsing.join_all())
        .await
        .expect("every endorsement answered within the deadline");
    if let Ok(gateway) = Arc::try_unwrap(gateway) {
        gateway.close().await;
    }
    results
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_proposals_share_batches_and_each_gets_its_own_answer() {
    let consortium = Consortium::new();
    let (peer, seen) = stand_in_peer(&consortium, false).await;
    for (function, result) in endorse_all(&consortium, &peer).await {
        let Err(ClientError::Endorsement {
            status, message, ..
        }) = result
        else {
            panic!("{function}: {result:?}");
        };
        assert_eq!(status, VERDICT);
        // A proposal the batch could not answer was asked for alone; any other got its
        // own answer, by batch or (the first ones, before anything queued) alone.
        if function.starts_with("big") {
            assert_eq!(message, format!("alone:{function}"));
        } else {
            assert!(
                message == format!("batch:{function}") || message == format!("alone:{function}"),
                "{function} got {message}"
            );
        }
    }
    let batches = seen.lock().unwrap().batches;
    assert!(batches >= 1, "no batch formed");
    peer.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_answer_missing_a_reply_fails_each_proposal_of_that_batch() {
    let consortium = Consortium::new();
    let (peer, _) = stand_in_peer(&consortium, true).await;
    let mut failed = 0;
    for (function, result) in endorse_all(&consortium, &peer).await {
        match result {
            Err(ClientError::BatchAnswer {
                service,
                items,
                answers,
                ..
            }) => {
                assert_eq!(service, ENDORSE_BATCH_SERVICE);
                assert_eq!(answers + 1, items);
                failed += 1;
            }
            Err(ClientError::Endorsement { message, .. }) => {
                assert_eq!(message, format!("alone:{function}"));
            }
            other => panic!("{function}: {other:?}"),
        }
    }
    assert!(failed >= 2, "no batch failed");
    peer.shutdown().await;
}
