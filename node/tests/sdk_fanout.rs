//! The SDK gateway asks both carriers' peers at once: endorsements and commit waits go
//! out together, not one carrier after the other. Two stand-in peers on 127.0.0.1 (real
//! `netsettle-net` nodes over SM-TLS with the test consortium's peer certificates) answer
//! only once both have been asked, so a gateway that asks one after the other never gets
//! an answer and the test fails at its deadline. Results and errors stay those of asking
//! in order: the responses in the endorsers' order, the first endorser's error.

use std::sync::Arc;
use std::time::Duration;

use netsettle_client::{ClientError, Endpoint, Gateway, GatewayConfig, Signer};
use netsettle_net::{ChannelTrust, NetConfig, Network};
use netsettle_protocol::{
    ContractId, ENDORSE_SERVICE, EndorseReply, Role, TX_STATUS_SERVICE, TxStatus, ValidationCode,
    encode,
};
use netsettle_testkit::{Consortium, Member};
use tokio::sync::Barrier;

/// Marks failure only: both stand-ins answer as soon as both were asked.
const DEADLINE: Duration = Duration::from_secs(30);

/// A stand-in peer: refuses every endorsement with `refusal` and reports every
/// transaction committed in `block`, each answer held until `barrier` saw both peers
/// asked.
async fn stand_in_peer(
    member: &Member,
    consortium: &Consortium,
    barrier: Arc<Barrier>,
    refusal: &'static str,
    block: u64,
) -> Network {
    let trust = ChannelTrust::new(&consortium.config, &[Role::Client]).unwrap();
    let config = NetConfig::new(member.tls_identity(), trust, "127.0.0.1:0".parse().unwrap());
    let network = Network::start(config).await.unwrap();
    let mut endorse = network
        .handle()
        .serve(ENDORSE_SERVICE, &[Role::Client])
        .unwrap();
    let mut status = network
        .handle()
        .serve(TX_STATUS_SERVICE, &[Role::Client])
        .unwrap();
    let endorse_barrier = Arc::clone(&barrier);
    tokio::spawn(async move {
        while let Some(request) = endorse.recv().await {
            endorse_barrier.wait().await;
            let reply = EndorseReply::Refused {
                status: 500,
                message: refusal.to_owned(),
            };
            let _ = request.respond(encode(&reply).unwrap()).await;
        }
    });
    tokio::spawn(async move {
        while let Some(request) = status.recv().await {
            barrier.wait().await;
            let reply = TxStatus::Committed {
                block,
                tx: 0,
                code: ValidationCode::Valid,
            };
            let _ = request.respond(encode(&reply).unwrap()).await;
        }
    });
    network
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endorsements_and_commit_waits_go_to_both_carriers_at_once() {
    let consortium = Consortium::new();
    let barrier = Arc::new(Barrier::new(2));
    let unicom = stand_in_peer(
        &consortium.unicom_peer,
        &consortium,
        Arc::clone(&barrier),
        "unicom says no",
        7,
    )
    .await;
    let mobile = stand_in_peer(
        &consortium.mobile_peer,
        &consortium,
        Arc::clone(&barrier),
        "mobile says no",
        8,
    )
    .await;

    let trust = ChannelTrust::new(&consortium.config, &[Role::Peer, Role::Orderer]).unwrap();
    let mut net = NetConfig::new(
        consortium.unicom_client.tls_identity(),
        trust,
        "127.0.0.1:0".parse().unwrap(),
    );
    let mut peers = Vec::new();
    for (network, member) in [
        (&unicom, &consortium.unicom_peer),
        (&mobile, &consortium.mobile_peer),
    ] {
        net.known_peers
            .push((network.node_id(), network.listen_addr()));
        peers.push(Endpoint {
            msp_id: member.msp_id.clone(),
            node_id: network.node_id(),
        });
    }
    let gateway = Gateway::connect(GatewayConfig {
        net,
        channel: consortium.config.channel.clone(),
        peers: peers.clone(),
        orderers: Vec::new(),
    })
    .await
    .unwrap();
    let signer = Signer::new(
        consortium.unicom_client.key.clone(),
        consortium.unicom_client.identity(),
    );

    // Both refuse: the error is the first endorser's, as asking in order would give.
    let contract = ContractId {
        name: "settlement".to_owned(),
        version: "1".to_owned(),
    };
    let submitted = tokio::time::timeout(
        DEADLINE,
        gateway.submit(&signer, contract, "status", Vec::new()),
    )
    .await
    .expect("both peers asked at once");
    assert!(
        matches!(&submitted, Err(ClientError::Endorsement { message, .. }) if message == "unicom says no"),
        "{submitted:?}"
    );

    // Commit waits: the first endorser's block.
    let tx_id = netsettle_protocol::TxId(netsettle_smcrypto::sm3(b"fanout"));
    let committed = tokio::time::timeout(DEADLINE, gateway.wait_committed_all(&peers, &tx_id))
        .await
        .expect("both peers asked at once")
        .unwrap();
    assert_eq!(committed, (7, ValidationCode::Valid));
    let none = gateway.wait_committed_all(&[], &tx_id).await;
    assert!(matches!(none, Err(ClientError::NoEndorsements)), "{none:?}");

    gateway.close().await;
    unicom.shutdown().await;
    mobile.shutdown().await;
}
