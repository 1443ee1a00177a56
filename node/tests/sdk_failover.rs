//! The SDK gateway uses any reachable peer of each carrier: a carrier's first listed peer
//! that is down (its port closed on 127.0.0.1) is passed over for the next, for
//! endorsements, queries and commit waits; a peer that answers, even with a refusal, is
//! the carrier's answer; a carrier none of whose peers can be reached is a clear error
//! naming it; an endorsement naming another organisation than the peer's is refused. Stand-in peers are real `netsettle-net` nodes over SM-TLS with certificates
//! of the test consortium; they endorse by signing an empty simulation with their key.
//! The full path (a killed first peer while a staff command goes through the second) is
//! node/tests/drills.rs's kill -9 drill.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use netsettle_client::{ClientError, Endpoint, Gateway, GatewayConfig, Signer};
use netsettle_net::{ChannelTrust, NetConfig, Network};
use netsettle_protocol::{
    ContractAction, ContractId, ENDORSE_SERVICE, EndorseReply, Endorsement, ProposalResponse,
    ProposalResponsePayload, ReadWriteSet, Response, Role, SignedProposal, TX_STATUS_SERVICE,
    TxStatus, ValidationCode, decode, encode,
};
use netsettle_smcrypto::x509::Role as CertRole;
use netsettle_testkit::{Consortium, Member};

/// Marks failure only: every answer is immediate, and a closed port refuses at once.
const DEADLINE: Duration = Duration::from_secs(30);

/// What a stand-in peer answers to endorsement requests.
#[derive(Clone, Copy)]
enum Answer {
    /// Endorses with a response carrying this payload.
    Endorse(&'static str),
    /// Refuses with this message.
    Refuse(&'static str),
}

/// A running stand-in peer, or one stopped (its endpoint dials a closed port).
struct StandIn {
    endpoint: Endpoint,
    addr: std::net::SocketAddr,
    network: Option<Network>,
    /// Endorsement requests it received.
    asked: Arc<AtomicUsize>,
}

/// `what`'s outcome, failing the test if it takes longer than [`DEADLINE`].
async fn within<F: std::future::Future>(what: F) -> F::Output {
    tokio::time::timeout(DEADLINE, what)
        .await
        .expect("answered before the deadline")
}

fn contract() -> ContractId {
    ContractId {
        name: "settlement".to_owned(),
        version: "1".to_owned(),
    }
}

/// Endorses `bytes` (a signed proposal) as `member`: an empty simulation answering
/// `payload`.
fn endorse(member: &Member, bytes: &[u8], payload: &str) -> EndorseReply {
    let signed: SignedProposal = decode(bytes).unwrap();
    let response = ProposalResponsePayload {
        proposal_hash: signed.proposal.hash().unwrap(),
        action: ContractAction {
            contract: signed.proposal.contract.clone(),
            rw_set: ReadWriteSet::default(),
            response: Response {
                status: Response::OK,
                message: String::new(),
                payload: payload.as_bytes().to_vec(),
            },
            events: Vec::new(),
        },
    };
    let endorsement = Endorsement::sign(&member.key, member.identity(), &response).unwrap();
    EndorseReply::Endorsed(Box::new(ProposalResponse {
        payload: response,
        endorsement,
    }))
}

/// Starts a stand-in peer as `member`: it answers endorsements with `answer` and reports
/// every transaction committed in `block`.
async fn stand_in(member: &Member, consortium: &Consortium, answer: Answer, block: u64) -> StandIn {
    let trust = ChannelTrust::new(&consortium.config, &[Role::Client]).unwrap();
    let config = NetConfig::new(member.tls_identity(), trust, "127.0.0.1:0".parse().unwrap());
    let network = Network::start(config).await.unwrap();
    let mut endorse_requests = network
        .handle()
        .serve(ENDORSE_SERVICE, &[Role::Client])
        .unwrap();
    let mut status = network
        .handle()
        .serve(TX_STATUS_SERVICE, &[Role::Client])
        .unwrap();
    let asked = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&asked);
    let endorser = member.clone();
    tokio::spawn(async move {
        while let Some(request) = endorse_requests.recv().await {
            counter.fetch_add(1, Ordering::SeqCst);
            let reply = match answer {
                Answer::Endorse(payload) => endorse(&endorser, &request.payload, payload),
                Answer::Refuse(message) => EndorseReply::Refused {
                    status: 403,
                    message: message.to_owned(),
                },
            };
            let _ = request.respond(encode(&reply).unwrap()).await;
        }
    });
    tokio::spawn(async move {
        while let Some(request) = status.recv().await {
            let reply = TxStatus::Committed {
                block,
                tx: 0,
                code: ValidationCode::Valid,
            };
            let _ = request.respond(encode(&reply).unwrap()).await;
        }
    });
    StandIn {
        endpoint: Endpoint {
            msp_id: member.msp_id.clone(),
            node_id: network.node_id(),
        },
        addr: network.listen_addr(),
        network: Some(network),
        asked,
    }
}

/// A stand-in that has been started and stopped: its port is closed.
async fn stopped(member: &Member, consortium: &Consortium) -> StandIn {
    let mut peer = stand_in(member, consortium, Answer::Refuse("never asked"), 0).await;
    if let Some(network) = peer.network.take() {
        network.shutdown().await;
    }
    peer
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_carriers_first_peer_down_is_passed_over_and_a_carrier_with_none_up_is_named() {
    let consortium = Consortium::new();
    let unicom_down = stopped(&consortium.unicom_peer, &consortium).await;
    let unicom_also_down = stopped(
        &consortium.unicom.member("peer2", CertRole::Peer),
        &consortium,
    )
    .await;
    let unicom_up = stand_in(
        &consortium.unicom.member("peer1", CertRole::Peer),
        &consortium,
        Answer::Endorse("same"),
        7,
    )
    .await;
    let mobile_refusing = stand_in(
        &consortium.mobile_peer,
        &consortium,
        Answer::Refuse("mobile peer0 says no"),
        8,
    )
    .await;
    let mobile_up = stand_in(
        &consortium.mobile.member("peer1", CertRole::Peer),
        &consortium,
        Answer::Endorse("same"),
        8,
    )
    .await;
    let all = [
        &unicom_down,
        &unicom_also_down,
        &unicom_up,
        &mobile_refusing,
        &mobile_up,
    ];

    let trust = ChannelTrust::new(&consortium.config, &[Role::Peer, Role::Orderer]).unwrap();
    let mut net = NetConfig::new(
        consortium.unicom_client.tls_identity(),
        trust,
        "127.0.0.1:0".parse().unwrap(),
    );
    for peer in all {
        net.known_peers.push((peer.endpoint.node_id, peer.addr));
    }
    let profile_peers = vec![
        unicom_down.endpoint.clone(),
        unicom_up.endpoint.clone(),
        mobile_up.endpoint.clone(),
    ];
    let gateway = Gateway::connect(GatewayConfig {
        net,
        channel: consortium.config.channel.clone(),
        peers: profile_peers.clone(),
        orderers: Vec::new(),
    })
    .await
    .unwrap();
    let signer = Signer::new(
        consortium.unicom_client.key.clone(),
        consortium.unicom_client.identity(),
    );
    // Endorsement: Unicom's first peer is down, its second endorses; Mobile's first.
    let proposal = signer
        .propose(&consortium.config.channel, contract(), "status", Vec::new())
        .unwrap();
    let endorsed = within(gateway.endorse_all(gateway.peers(), &proposal)).await;
    let endorsers: Vec<Endpoint> = endorsed
        .unwrap()
        .into_iter()
        .map(|(peer, response)| {
            assert_eq!(response.payload.action.response.payload, b"same");
            peer
        })
        .collect();
    assert_eq!(
        endorsers,
        [unicom_up.endpoint.clone(), mobile_up.endpoint.clone()]
    );
    assert_eq!(gateway.endorsers()[0], unicom_down.endpoint, "first choice");

    // Commit waits at the endorsers, and at the first reachable own peer.
    let tx_id = proposal.tx_id();
    let committed = within(gateway.wait_committed_all(&endorsers, &tx_id)).await;
    assert_eq!(committed.unwrap(), (7, ValidationCode::Valid));
    let own = within(gateway.wait_committed_at_org(&signer.identity().msp_id, &tx_id)).await;
    assert_eq!(
        own.unwrap(),
        (unicom_up.endpoint.clone(), (7, ValidationCode::Valid))
    );

    // A query goes to the signer's own carrier, through its second peer.
    let answer = within(gateway.evaluate(&signer, contract(), "status", Vec::new())).await;
    assert_eq!(answer.unwrap().payload, b"same");

    // A refusal is an answer: Mobile's next peer is not asked.
    let mobile_asked = mobile_up.asked.load(Ordering::SeqCst);
    let refusing = [
        unicom_up.endpoint.clone(),
        mobile_refusing.endpoint.clone(),
        mobile_up.endpoint.clone(),
    ];
    let refused = within(gateway.endorse_all(&refusing, &proposal)).await;
    assert!(
        matches!(&refused, Err(ClientError::Endorsement { message, .. }) if message == "mobile peer0 says no"),
        "{refused:?}"
    );
    assert_eq!(mobile_up.asked.load(Ordering::SeqCst), mobile_asked);

    // An endorsement naming another organisation than the peer asked is refused.
    let posing = Endpoint {
        msp_id: consortium.unicom.msp_id.clone(),
        node_id: mobile_up.endpoint.node_id,
    };
    let wrong = within(gateway.endorse(&posing, &proposal)).await;
    assert!(
        matches!(&wrong, Err(ClientError::WrongEndorser { asked, endorser })
            if *asked == consortium.unicom.msp_id && *endorser == consortium.mobile.msp_id),
        "{wrong:?}"
    );

    // No Unicom peer up: the error names Unicom, whatever Mobile answers.
    let none_up = [
        unicom_down.endpoint.clone(),
        unicom_also_down.endpoint.clone(),
        mobile_up.endpoint.clone(),
    ];
    let unreachable = within(gateway.endorse_all(&none_up, &proposal)).await;
    let Err(error @ ClientError::OrgUnreachable { org, tried, .. }) = &unreachable else {
        panic!("expected OrgUnreachable, got {unreachable:?}");
    };
    assert_eq!(
        (org.as_str(), *tried),
        (consortium.unicom.msp_id.as_str(), 2)
    );
    assert!(
        error.to_string().contains(&consortium.unicom.msp_id),
        "{error}"
    );
    let waited = within(gateway.wait_committed_all(&none_up[..1], &tx_id)).await;
    assert!(
        matches!(waited, Err(ClientError::Net(_))),
        "an endorser gone since endorsing fails the wait: {waited:?}"
    );

    gateway.close().await;
    for peer in [unicom_up, mobile_refusing, mobile_up] {
        if let Some(network) = peer.network {
            network.shutdown().await;
        }
    }
}
