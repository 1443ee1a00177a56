//! The SDK gateway broadcasts to the Raft leader the orderers' answers name, and a lying
//! orderer cannot make a broadcast fail: stand-in orderers on 127.0.0.1 (real
//! `netsettle-net` nodes over SM-TLS with the test consortium's orderer certificates)
//! count the broadcasts they receive and answer with whatever leader hint the test sets.
//! The profile lists the liar first, then an honest orderer, then one that is down.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use netsettle_client::{Endpoint, Gateway, GatewayConfig};
use netsettle_net::{ChannelTrust, NetConfig, Network, NodeId};
use netsettle_protocol::{
    BROADCAST_SERVICE, BatchPolicy, BroadcastResponse, BroadcastStatus, Role, encode,
};
use netsettle_testkit::{Consortium, Member};

/// Marks failure only: every stand-in answers at once.
const DEADLINE: Duration = Duration::from_secs(60);

/// A stand-in orderer: accepts every broadcast, naming `hint` as the leader.
struct StandIn {
    network: Network,
    received: Arc<AtomicU64>,
    hint: Arc<Mutex<Option<String>>>,
}

impl StandIn {
    async fn start(member: &Member, consortium: &Consortium) -> StandIn {
        let trust = ChannelTrust::new(&consortium.config, &[Role::Client]).unwrap();
        let config = NetConfig::new(member.tls_identity(), trust, "127.0.0.1:0".parse().unwrap());
        let network = Network::start(config).await.unwrap();
        let mut broadcasts = network
            .handle()
            .serve(BROADCAST_SERVICE, &[Role::Client])
            .unwrap();
        let received = Arc::new(AtomicU64::new(0));
        let hint = Arc::new(Mutex::new(None));
        let (counter, named) = (Arc::clone(&received), Arc::clone(&hint));
        tokio::spawn(async move {
            while let Some(request) = broadcasts.recv().await {
                counter.fetch_add(1, Ordering::SeqCst);
                let response = BroadcastResponse {
                    status: BroadcastStatus::Success,
                    info: String::new(),
                    leader: named.lock().unwrap().clone(),
                };
                let _ = request.respond(encode(&response).unwrap()).await;
            }
        });
        StandIn {
            network,
            received,
            hint,
        }
    }

    fn received(&self) -> u64 {
        self.received.load(Ordering::SeqCst)
    }

    fn name(&self, leader: Option<NodeId>) {
        *self.hint.lock().unwrap() = leader.map(|node| node.to_string());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broadcasts_follow_the_named_leader_and_survive_a_lying_hint() {
    let consortium = Consortium::with_orderers(3, 0, BatchPolicy::default());
    let liar = StandIn::start(consortium.orderer_id(1), &consortium).await;
    let honest = StandIn::start(consortium.orderer_id(2), &consortium).await;
    // The third orderer is down: its certificate's node id, an address nothing listens on.
    let down = NodeId::from_certificate(&consortium.orderer_id(3).cert);
    let down_address = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };

    let trust = ChannelTrust::new(&consortium.config, &[Role::Peer, Role::Orderer]).unwrap();
    let mut net = NetConfig::new(
        consortium.unicom_client.tls_identity(),
        trust,
        "127.0.0.1:0".parse().unwrap(),
    );
    let listed = [
        (liar.network.node_id(), liar.network.listen_addr()),
        (honest.network.node_id(), honest.network.listen_addr()),
        (down, down_address),
    ];
    let mut orderers = Vec::new();
    for (node_id, address) in listed {
        net.known_peers.push((node_id, address));
        orderers.push(Endpoint {
            msp_id: "UnicomMSP".to_owned(),
            node_id,
        });
    }
    let gateway = Gateway::connect(GatewayConfig {
        net,
        channel: consortium.config.channel.clone(),
        peers: Vec::new(),
        orderers: orderers.clone(),
    })
    .await
    .unwrap();
    let mut seed = 0u64;
    let mut broadcast = || {
        seed += 1;
        let envelope = consortium.ordering_envelope(&consortium.unicom_client, seed, 64);
        let gateway = &gateway;
        async move {
            tokio::time::timeout(DEADLINE, gateway.broadcast(&envelope))
                .await
                .expect("a broadcast in time")
        }
    };

    // No hint yet: the profile's first.
    assert_eq!(gateway.preferred_orderer(), None);
    broadcast().await.unwrap();
    assert_eq!(liar.received(), 1);

    // The liar names the orderer that is down: tried first once, then the profile's order,
    // and the broadcast still lands.
    liar.name(Some(down));
    broadcast().await.unwrap();
    assert_eq!(gateway.preferred_orderer(), orderers.get(2));
    broadcast().await.unwrap();
    assert_eq!(liar.received(), 3);
    assert_eq!(
        gateway.preferred_orderer(),
        None,
        "the dead orderer is shunned"
    );
    // The liar repeats itself: ignored while the dead orderer is shunned.
    broadcast().await.unwrap();
    assert_eq!(liar.received(), 4);
    assert_eq!(gateway.preferred_orderer(), None);

    // A name outside the profile is ignored.
    let stranger = NodeId::from_certificate(&consortium.unicom_peer.cert);
    liar.name(Some(stranger));
    broadcast().await.unwrap();
    assert_eq!(gateway.preferred_orderer(), None);

    // Named the honest orderer, the next broadcasts go straight there.
    liar.name(Some(honest.network.node_id()));
    honest.name(Some(honest.network.node_id()));
    broadcast().await.unwrap();
    assert_eq!(liar.received(), 6);
    assert_eq!(gateway.preferred_orderer(), orderers.get(1));
    for _ in 0..3 {
        broadcast().await.unwrap();
    }
    assert_eq!(honest.received(), 3);
    assert_eq!(liar.received(), 6);

    gateway.close().await;
    liar.network.shutdown().await;
    honest.network.shutdown().await;
}
