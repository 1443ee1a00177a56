//! What one member can exhaust at another's node, over real sockets on 127.0.14.x: slow
//! requests claiming 128 MiB, gossip floods and gossip from roles that may not send it,
//! idle TCP connections holding handshake slots. Every wait is on an event or a
//! response; a deadline only marks failure.

use std::net::SocketAddr;
use std::time::Duration;

use netsettle_net::{ChannelTrust, ConnectionEvent, NetConfig, NetError, Network, NodeId};
use netsettle_protocol::{ChannelConfig, ORDERER_RAFT_SERVICE, Role as ProtocolRole};
use netsettle_smcrypto::x509::Role;
use netsettle_smtls::TlsIdentity;
use netsettle_testkit::WAIT_MAX;
use netsettle_testkit::channel::one_orderer_config;
use netsettle_testkit::net::{test_limits, wait_for};
use netsettle_testkit::pki::{TestOrg, now_unix};

const MIB: u64 = 1024 * 1024;
/// Long enough that a trickled flood outlives the test's checks (it is never waited
/// for: the test ends it by shutting down).
const SLOW_REQUEST_TIMEOUT: Duration = Duration::from_secs(120);

/// Nodes of every role may connect (clients too): the attacks come from clients.
fn config_for(identity: TlsIdentity, channel: &ChannelConfig, listen: &str) -> NetConfig {
    let roles = [
        ProtocolRole::Peer,
        ProtocolRole::Orderer,
        ProtocolRole::Client,
    ];
    let trust = ChannelTrust::new(channel, &roles).expect("the config's trust loads");
    let listen: SocketAddr = listen.parse().expect("a socket address");
    let mut net = NetConfig::new(identity, trust, listen);
    net.limits = test_limits();
    net
}

async fn start_dialling(
    identity: TlsIdentity,
    channel: &ChannelConfig,
    listen: &str,
    target: &Network,
) -> Network {
    let mut net = config_for(identity, channel, listen);
    net.limits.request_timeout = SLOW_REQUEST_TIMEOUT;
    net.known_peers = vec![(target.node_id(), target.listen_addr())];
    Network::start(net).await.expect("the network starts")
}

/// Serve `service` by answering each request with its length.
fn serve_len(network: &Network, service: &str, allowed: &[ProtocolRole]) {
    let mut requests = network.handle().serve(service, allowed).unwrap();
    tokio::spawn(async move {
        while let Some(request) = requests.recv().await {
            let len = request.payload.len().to_string().into_bytes();
            let _ = request.respond(len).await;
        }
    });
}

async fn request(
    from: &Network,
    to: NodeId,
    service: &str,
    len: usize,
) -> Result<Vec<u8>, NetError> {
    tokio::time::timeout(WAIT_MAX, from.handle().request(to, service, vec![7; len]))
        .await
        .expect("request within the deadline")
}

/// Four of the other carrier's clients each claim 128 MiB and send it a byte at a time.
/// Before: they held the node's whole inbound budget and every request was refused,
/// `orderer-raft` included. Now the carrier gets at most its share, and consensus and
/// the node's own carrier go on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_128mib_requests_of_one_carrier_starve_neither_consensus_nor_the_other_carrier() {
    let unicom = TestOrg::at("UnicomMSP", now_unix());
    let mobile = TestOrg::at("MobileMSP", now_unix());
    let channel = one_orderer_config(&[&unicom, &mobile]);
    let mut victim_config = config_for(
        unicom.member("orderer0", Role::Orderer).tls_identity(),
        &channel,
        "127.0.14.1:0",
    );
    victim_config.limits.request_timeout = SLOW_REQUEST_TIMEOUT;
    let victim = Network::start(victim_config).await.unwrap();
    serve_len(&victim, "bulk", &[ProtocolRole::Client]);
    serve_len(&victim, ORDERER_RAFT_SERVICE, &[ProtocolRole::Orderer]);

    let mut attackers = Vec::new();
    for n in 0..4u8 {
        let identity = mobile
            .member(&format!("client{n}"), Role::Client)
            .tls_identity();
        let listen = format!("127.0.14.{}:0", 10 + n);
        attackers.push(start_dialling(identity, &channel, &listen, &victim).await);
    }
    let mut floods = tokio::task::JoinSet::new();
    for attacker in &attackers {
        let handle = attacker.handle();
        let to = victim.node_id();
        floods.spawn(async move { handle.request_trickled(to, "bulk", 128 * MIB).await });
    }
    // The carrier's share of the shared pool holds two of them; the other two are
    // refused at their header. Waiting for those refusals means the flood is in place.
    for _ in 0..2 {
        let refused = tokio::time::timeout(WAIT_MAX, floods.join_next())
            .await
            .expect("two floods refused within the deadline")
            .expect("a flood task")
            .expect("the flood task ran");
        assert!(
            refused.is_err(),
            "a 128 MiB flood was answered: {refused:?}"
        );
    }
    // The flooding carrier gets nothing more...
    let more = request(&attackers[0], victim.node_id(), "bulk", 100_000).await;
    assert!(more.is_err(), "{more:?}");
    // ...while consensus (from either carrier) and the victim's own carrier get through.
    for (org, name, listen) in [
        (&unicom, "orderer1", "127.0.14.20:0"),
        (&mobile, "orderer2", "127.0.14.21:0"),
    ] {
        let orderer = start_dialling(
            org.member(name, Role::Orderer).tls_identity(),
            &channel,
            listen,
            &victim,
        )
        .await;
        let reply = request(&orderer, victim.node_id(), ORDERER_RAFT_SERVICE, 1_000_000).await;
        assert_eq!(reply.unwrap(), b"1000000", "orderer-raft from {name}");
        orderer.shutdown().await;
    }
    let own = start_dialling(
        unicom.member("client9", Role::Client).tls_identity(),
        &channel,
        "127.0.14.22:0",
        &victim,
    )
    .await;
    assert_eq!(
        request(&own, victim.node_id(), "bulk", 1_000_000)
            .await
            .unwrap(),
        b"1000000"
    );
    // The flood is still held: the flooding carrier is still refused.
    let more = request(&attackers[1], victim.node_id(), "bulk", 100_000).await;
    assert!(more.is_err(), "{more:?}");
    // A client may not call orderer-raft at all: refused on its header, with the reason.
    let refused = request(&own, victim.node_id(), ORDERER_RAFT_SERVICE, 10).await;
    assert!(
        matches!(&refused, Err(NetError::Refused { reason, .. }) if reason.contains("may not use")),
        "{refused:?}"
    );

    floods.abort_all();
    own.shutdown().await;
    for attacker in attackers {
        attacker.shutdown().await;
    }
    victim.shutdown().await;
}

/// A peer floods the block topic faster than the subscriber reads; a client gossips on
/// it. Before: 256 messages of any size queued, from any role. Now the flooder holds at
/// most its byte share of the queue, and the client's messages are rejected and end in
/// a penalty.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gossip_queues_are_bounded_in_bytes_per_sender_and_only_peers_and_orderers_gossip() {
    let unicom = TestOrg::at("UnicomMSP", now_unix());
    let mobile = TestOrg::at("MobileMSP", now_unix());
    let channel = one_orderer_config(&[&unicom, &mobile]);
    // The flooder and the client listen first and the victim dials them, so each can
    // wait for the victim's subscription without missing it.
    let mut senders = Vec::new();
    for (identity, listen) in [
        (
            mobile.member("peer1", Role::Peer).tls_identity(),
            "127.0.14.31:0",
        ),
        (
            mobile.member("client1", Role::Client).tls_identity(),
            "127.0.14.32:0",
        ),
    ] {
        let node = Network::start(config_for(identity, &channel, listen))
            .await
            .unwrap();
        let events = node.handle().events();
        node.handle()
            .subscribe("blocks", &[ProtocolRole::Peer])
            .await
            .unwrap();
        senders.push((node, events));
    }
    let mut victim_config = config_for(
        unicom.member("peer0", Role::Peer).tls_identity(),
        &channel,
        "127.0.14.30:0",
    );
    victim_config.limits.gossip_bytes_max = 64 * 1024;
    victim_config.limits.topic_queue_bytes_max = 128 * 1024;
    victim_config.limits.topic_sender_bytes_max = 64 * 1024;
    victim_config.known_peers = senders
        .iter()
        .map(|(node, _)| (node.node_id(), node.listen_addr()))
        .collect();
    let victim = Network::start(victim_config).await.unwrap();
    let mut victim_events = victim.handle().events();
    let mut blocks = victim
        .handle()
        .subscribe("blocks", &[ProtocolRole::Peer, ProtocolRole::Orderer])
        .await
        .unwrap();
    let victim_id = victim.node_id();
    for (_, events) in &mut senders {
        wait_for(events, "the victim's subscription", |event| match event {
            ConnectionEvent::TopicJoined { node, topic }
                if *node == victim_id && topic == "blocks" =>
            {
                Some(())
            }
            _ => None,
        })
        .await;
    }
    let (client, _) = senders.pop().expect("the client");
    let (flooder, _) = senders.pop().expect("the flooder");
    // Ten 40 KiB messages, then a small marker: messages from one node arrive in order,
    // so once the marker is delivered every flood message has been judged. Messages
    // received are kept, so their bytes stay counted, as if the subscriber were slow.
    for n in 0..10u8 {
        let mut payload = vec![n; 40 * 1024];
        payload[0] = b'F';
        flooder.handle().publish("blocks", payload).await.unwrap();
    }
    flooder
        .handle()
        .publish("blocks", b"marker".to_vec())
        .await
        .unwrap();
    let mut held = Vec::new();
    loop {
        let message = tokio::time::timeout(WAIT_MAX, blocks.recv())
            .await
            .expect("the marker within the deadline")
            .expect("subscription open");
        victim.handle().accept(&message).await.unwrap();
        if message.payload == b"marker" {
            break;
        }
        held.push(message);
    }
    assert_eq!(
        held.len(),
        1,
        "one 40 KiB message fits the sender's 64 KiB share"
    );
    drop(held);

    // The client's gossip is rejected, never delivered, and penalised.
    let max = victim.handle().limits().invalid_gossip_max;
    for n in 0..max {
        client
            .handle()
            .publish("blocks", format!("client block {n}").into_bytes())
            .await
            .unwrap();
    }
    let client_id = client.node_id();
    let count = wait_for(
        &mut victim_events,
        "the client's penalty",
        |event| match event {
            ConnectionEvent::Penalised {
                node,
                invalid_messages,
            } if *node == client_id => Some(*invalid_messages),
            _ => None,
        },
    )
    .await;
    assert_eq!(count, max);
    assert!(blocks.try_recv().is_err(), "client gossip was delivered");

    client.shutdown().await;
    flooder.shutdown().await;
    victim.shutdown().await;
}

/// Forty idle TCP connections from forty addresses, more than the 32 pending handshake
/// slots. Before: they held every slot for the whole handshake timeout and a real node
/// could not connect. Now the oldest are evicted and the real node connects at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_tcp_connections_do_not_lock_out_real_handshakes() {
    let unicom = TestOrg::at("UnicomMSP", now_unix());
    let mobile = TestOrg::at("MobileMSP", now_unix());
    let channel = one_orderer_config(&[&unicom, &mobile]);
    let victim = Network::start(config_for(
        unicom.member("orderer0", Role::Orderer).tls_identity(),
        &channel,
        "127.0.14.40:0",
    ))
    .await
    .unwrap();
    let mut victim_events = victim.handle().events();
    let slots = victim.handle().limits().pending_connections_max;
    let n_idle = slots + 8;
    let mut idle = Vec::new();
    for n in 0..n_idle {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        let source: SocketAddr = format!("127.0.15.{}:0", n + 1).parse().unwrap();
        socket.bind(source).unwrap();
        idle.push(socket.connect(victim.listen_addr()).await.unwrap());
    }
    // Every idle connection beyond the slots is reported refused (evicted now, denied
    // before): then all of them have reached the node.
    for _ in 0..(n_idle - slots) {
        wait_for(
            &mut victim_events,
            "an idle connection refused",
            |event| match event {
                ConnectionEvent::InboundRefused { .. } => Some(()),
                _ => None,
            },
        )
        .await;
    }
    let started = tokio::time::Instant::now();
    let real = start_dialling(
        mobile.member("peer0", Role::Peer).tls_identity(),
        &channel,
        "127.0.14.41:0",
        &victim,
    )
    .await;
    let real_id = real.node_id();
    wait_for(&mut victim_events, "the real node", |event| match event {
        ConnectionEvent::Connected { peer, .. } if peer.node_id == real_id => Some(()),
        _ => None,
    })
    .await;
    // Idle handshakes time out after this long; the real node must not have waited for it.
    let handshake_timeout = victim.handle().limits().handshake_timeout;
    assert!(
        started.elapsed() < handshake_timeout / 2,
        "the real node waited {:?}",
        started.elapsed()
    );
    drop(idle);
    real.shutdown().await;
    victim.shutdown().await;
}
