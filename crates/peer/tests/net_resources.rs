//! What one member's clients can hold at the other carrier's peer over the real
//! network (127.0.16.x): requests answered at once are bounded per calling node, and a
//! caller that leaves gives back what its waiting requests held. Every wait is on a
//! response or an event; a deadline only marks failure.

use std::time::Duration;

use netsettle_net::{ConnectionEvent, NetError, Network, NodeId};
use netsettle_peer::limits::CLIENT_REQUESTS_OPEN_PER_NODE_MAX;
use netsettle_peer::net::OpenRequests;
use netsettle_protocol::{
    ChannelConfig, PEER_BLOCKS_SERVICE, TX_STATUS_SERVICE, TxId, TxStatus, TxStatusRequest, decode,
    encode,
};
use netsettle_testkit::net::wait_for;
use netsettle_testkit::peer::{NetPeer, member_net_config};
use netsettle_testkit::{Consortium, Member};

const DEADLINE: Duration = Duration::from_secs(60);

/// A status request that waits (up to the peer's cap) for a transaction that never
/// commits.
fn waiting_status(n: u16) -> Vec<u8> {
    let [high, low] = n.to_be_bytes();
    let request = TxStatusRequest {
        tx_id: TxId(netsettle_smcrypto::sm3(&[high, low, 0xee])),
        wait_ms: 30_000,
    };
    encode(&request).unwrap()
}

fn quick_status() -> Vec<u8> {
    let request = TxStatusRequest {
        tx_id: TxId(netsettle_smcrypto::sm3(b"never")),
        wait_ms: 0,
    };
    encode(&request).unwrap()
}

async fn start_client(
    member: &Member,
    channel: &ChannelConfig,
    listen: &str,
    peer: &Network,
) -> Network {
    let mut config = member_net_config(member, channel, listen);
    // A hostile client is not bound by the consortium's stream limit.
    config.limits.streams_per_node_max = CLIENT_REQUESTS_OPEN_PER_NODE_MAX + 36;
    config.limits.request_timeout = Duration::from_secs(120);
    config.known_peers = vec![(peer.node_id(), peer.listen_addr())];
    Network::start(config).await.unwrap()
}

async fn status(client: &Network, peer: NodeId, payload: Vec<u8>) -> Result<Vec<u8>, NetError> {
    tokio::time::timeout(
        DEADLINE,
        client.handle().request(peer, TX_STATUS_SERVICE, payload),
    )
    .await
    .expect("an answer within the deadline")
}

/// `CLIENT_REQUESTS_OPEN_PER_NODE_MAX` + 6 long-polling status requests from one client:
/// before, all were held (and the service had no bound at all); now the bound's worth
/// are, the rest are refused as busy, another client is still served, and when the
/// flooding client leaves its places come back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_holds_at_most_its_share_and_gives_it_back_when_it_leaves() {
    let consortium = Consortium::new();
    let dir = tempfile::tempdir().unwrap();
    let served = NetPeer::start(
        &consortium,
        &consortium.unicom_peer,
        dir.path(),
        false,
        "127.0.16.1:0",
    )
    .await;
    let peer_net = &served.net;
    let mut peer_events = peer_net.handle().events();

    let attacker = start_client(
        &consortium.mobile_client,
        &consortium.config,
        "127.0.16.2:0",
        peer_net,
    )
    .await;
    let mut floods = tokio::task::JoinSet::new();
    let flood = u16::try_from(CLIENT_REQUESTS_OPEN_PER_NODE_MAX + 6).unwrap();
    for n in 0..flood {
        let handle = attacker.handle();
        let to = peer_net.node_id();
        floods.spawn(async move {
            handle
                .request(to, TX_STATUS_SERVICE, waiting_status(n))
                .await
        });
    }
    for _ in 0..6 {
        let refused = tokio::time::timeout(DEADLINE, floods.join_next())
            .await
            .expect("refusals within the deadline")
            .unwrap()
            .unwrap();
        assert!(
            matches!(&refused, Err(NetError::Refused { reason, .. }) if reason.contains("busy")),
            "{refused:?}"
        );
    }
    // Another client is served meanwhile.
    let honest = start_client(
        &consortium.unicom_client,
        &consortium.config,
        "127.0.16.3:0",
        peer_net,
    )
    .await;
    let answer = status(&honest, peer_net.node_id(), quick_status())
        .await
        .unwrap();
    assert!(matches!(
        decode::<TxStatus>(&answer).unwrap(),
        TxStatus::NotCommitted { .. }
    ));

    // The attacker leaves: its waiting requests are given up at once, so the same
    // client, back again, is served instead of being told the service is busy.
    let attacker_id = attacker.node_id();
    attacker.shutdown().await;
    floods.abort_all();
    wait_for(
        &mut peer_events,
        "the attacker's departure",
        |event| match event {
            ConnectionEvent::Disconnected { node } if *node == attacker_id => Some(()),
            _ => None,
        },
    )
    .await;
    let back = start_client(
        &consortium.mobile_client,
        &consortium.config,
        "127.0.16.2:0",
        peer_net,
    )
    .await;
    let answer = status(&back, peer_net.node_id(), quick_status()).await;
    assert!(
        answer.is_ok(),
        "the departed client's places were kept: {answer:?}"
    );

    // peer-blocks is for peers only, and a client is refused before anything is read.
    let refused = back
        .handle()
        .request(peer_net.node_id(), PEER_BLOCKS_SERVICE, vec![0; 16])
        .await;
    assert!(
        matches!(refused, Err(NetError::Refused { .. })),
        "{refused:?}"
    );

    back.shutdown().await;
    honest.shutdown().await;
    served.stop().await;
}

/// `peer-blocks` (state transfer reads whole blocks) answers at most two requests of one
/// peer and eight of all peers at once, at most four of them from one organisation.
#[test]
fn peer_blocks_requests_are_bounded_per_peer_and_in_total() {
    let node = |n: u8| {
        let key = netsettle_smcrypto::PrivateKey::generate();
        let _ = n;
        NodeId::from_public_key(key.public_key())
    };
    let bound = OpenRequests::new(
        netsettle_peer::limits::PEER_BLOCKS_OPEN_MAX,
        netsettle_peer::limits::PEER_BLOCKS_OPEN_PER_NODE_MAX,
    );
    let (unicom, mobile) = ("UnicomMSP", "MobileMSP");
    let greedy = node(0);
    let first = bound.enter(greedy, unicom).unwrap();
    let _second = bound.enter(greedy, unicom).unwrap();
    assert!(
        bound
            .enter(greedy, unicom)
            .unwrap_err()
            .contains("of this node")
    );
    drop(first);
    let _third = bound.enter(greedy, unicom).unwrap();
    let others: Vec<_> = (1..=6u8)
        .map(|n| {
            bound
                .enter(node(n), if n <= 2 { unicom } else { mobile })
                .unwrap()
        })
        .collect();
    assert_eq!(bound.n_open(), 8);
    assert!(
        bound
            .enter(node(9), mobile)
            .unwrap_err()
            .contains("requests open")
    );
    drop(others);
    assert_eq!(bound.n_open(), 2);
}

/// However many identities a carrier's CA mints, its nodes together hold at most half of
/// a client service's places: the other carrier's clients are still admitted.
#[test]
fn one_organisation_holds_at_most_half_of_a_service() {
    let bound = OpenRequests::new(
        netsettle_peer::limits::ENDORSE_BATCHES_OPEN_MAX,
        netsettle_peer::limits::ENDORSE_BATCHES_OPEN_PER_NODE_MAX,
    );
    let minted =
        || NodeId::from_public_key(netsettle_smcrypto::PrivateKey::generate().public_key());
    let half = netsettle_peer::limits::ENDORSE_BATCHES_OPEN_MAX / 2;
    let mut held = Vec::new();
    while held.len() < half {
        let node = minted();
        for _ in 0..netsettle_peer::limits::ENDORSE_BATCHES_OPEN_PER_NODE_MAX {
            if held.len() < half {
                held.push(bound.enter(node, "MobileMSP").unwrap());
            }
        }
    }
    let refused = bound.enter(minted(), "MobileMSP").unwrap_err();
    assert!(refused.contains("of this organisation"), "{refused}");
    let other: Vec<_> = (0..half)
        .map(|n| {
            let node = minted();
            let _ = n;
            bound.enter(node, "UnicomMSP").unwrap()
        })
        .collect();
    assert_eq!(bound.n_open(), 2 * half);
    drop(held);
    drop(other);
    assert_eq!(bound.n_open(), 0);
    assert!(bound.enter(minted(), "MobileMSP").is_ok());
}
