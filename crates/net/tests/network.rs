//! In-process nodes over real sockets on 127.0.x.y: request–response, refusals with
//! clear errors, redial after restart, gossip to every subscriber and the penalty for
//! invalid gossip. Every wait is on an event or a response; a deadline marks failure.

use netsettle_net::{ConnectionEvent, NetError, Network, NodeId};
use netsettle_protocol::Role as ProtocolRole;
use netsettle_smcrypto::x509::Role;
use netsettle_testkit::WAIT_MAX;
use netsettle_testkit::channel::one_orderer_config;
use netsettle_testkit::net::{net_config, start, wait_for};
use netsettle_testkit::pki::{TestOrg, now_unix};

/// Serve `service` on `network` by echoing each payload with a prefix, until shut down.
fn echo(network: &Network, service: &str, allowed: &[ProtocolRole]) {
    let mut requests = network.handle().serve(service, allowed).unwrap();
    tokio::spawn(async move {
        while let Some(request) = requests.recv().await {
            let mut reply = format!("{}:", request.from.msp_id).into_bytes();
            reply.extend_from_slice(&request.payload);
            let _ = request.respond(reply).await;
        }
    });
}

async fn request(
    from: &Network,
    to: NodeId,
    service: &str,
    payload: &[u8],
) -> Result<Vec<u8>, NetError> {
    tokio::time::timeout(
        WAIT_MAX,
        from.handle().request(to, service, payload.to_vec()),
    )
    .await
    .expect("request within the deadline")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_cross_carriers_and_refusals_say_why() {
    let unicom = TestOrg::at("UnicomMSP", now_unix());
    let mobile = TestOrg::at("MobileMSP", now_unix());
    let config = one_orderer_config(&[&unicom, &mobile]);
    let a = start(
        unicom.member("peer0", Role::Peer).tls_identity(),
        &config,
        "127.0.1.20:0",
    )
    .await;
    let mut b_config = net_config(
        mobile.member("peer0", Role::Peer).tls_identity(),
        &config,
        "127.0.2.20:0",
    );
    b_config.known_peers = vec![(a.node_id(), a.listen_addr())];
    let b = Network::start(b_config).await.unwrap();
    echo(&a, "echo", &[ProtocolRole::Peer]);
    echo(&a, "raft", &[ProtocolRole::Orderer]);

    let reply = request(&b, a.node_id(), "echo", b"hello").await.unwrap();
    assert_eq!(reply, b"MobileMSP:hello");
    let peers = a.handle().connected().await.unwrap();
    assert_eq!(peers.len(), 1);
    assert_eq!(peers[0].node_id, b.node_id());
    assert_eq!(peers[0].msp_id, "MobileMSP");
    assert_eq!(peers[0].role, ProtocolRole::Peer);

    // A service that does not exist, and one the caller's role may not use.
    let error = request(&b, a.node_id(), "nothing", b"x").await.unwrap_err();
    assert!(
        matches!(&error, NetError::Refused { reason, .. } if reason.contains("no service")),
        "{error}"
    );
    let error = request(&b, a.node_id(), "raft", b"x").await.unwrap_err();
    assert!(
        matches!(&error, NetError::Refused { reason, .. } if reason.contains("may not use")),
        "{error}"
    );

    // Too large for the sender's own limit: refused before sending.
    let max = b.handle().limits().message_bytes_max;
    let error = request(&b, a.node_id(), "echo", &vec![0; max + 1])
        .await
        .unwrap_err();
    assert!(matches!(error, NetError::MessageTooLarge { .. }), "{error}");

    // Too large for the receiver's limit (a sender with a larger one): the receiver
    // refuses to read it and the request fails.
    let mut small = net_config(
        unicom.member("peer1", Role::Peer).tls_identity(),
        &config,
        "127.0.1.21:0",
    );
    small.limits.message_bytes_max = 64 * 1024;
    let c = Network::start(small).await.unwrap();
    echo(&c, "echo", &[ProtocolRole::Peer]);
    b.handle()
        .add_address(c.node_id(), c.listen_addr())
        .await
        .unwrap();
    assert!(request(&b, c.node_id(), "echo", &[1; 1024]).await.is_ok());
    let error = request(&b, c.node_id(), "echo", &vec![1; 128 * 1024])
        .await
        .unwrap_err();
    assert!(matches!(error, NetError::RequestFailed { .. }), "{error}");
    assert!(error.to_string().contains("message_bytes_max"), "{error}");

    for network in [a, b, c] {
        network.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_in_flight_are_bounded() {
    let unicom = TestOrg::at("UnicomMSP", now_unix());
    let mobile = TestOrg::at("MobileMSP", now_unix());
    let config = one_orderer_config(&[&unicom, &mobile]);
    let a = start(
        unicom.member("peer0", Role::Peer).tls_identity(),
        &config,
        "127.0.1.20:0",
    )
    .await;
    // A handler that holds every request without answering.
    let mut held = a.handle().serve("hold", &[ProtocolRole::Peer]).unwrap();
    let (arrived, first_arrived) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let mut arrived = Some(arrived);
        let mut keep = Vec::new();
        while let Some(request) = held.recv().await {
            keep.push(request);
            if let Some(arrived) = arrived.take() {
                let _ = arrived.send(());
            }
        }
    });
    let mut b_config = net_config(
        mobile.member("peer0", Role::Peer).tls_identity(),
        &config,
        "127.0.2.20:0",
    );
    b_config.limits.requests_in_flight_max = 1;
    b_config.known_peers = vec![(a.node_id(), a.listen_addr())];
    let b = Network::start(b_config).await.unwrap();
    let b_net = b.handle();
    let a_id = a.node_id();
    let first = tokio::spawn(async move { b_net.request(a_id, "hold", b"1".to_vec()).await });
    tokio::time::timeout(WAIT_MAX, first_arrived)
        .await
        .unwrap()
        .unwrap();
    let error = request(&b, a.node_id(), "hold", b"2").await.unwrap_err();
    assert!(matches!(error, NetError::Busy { in_flight: 1 }), "{error}");
    first.abort();
    a.shutdown().await;
    b.shutdown().await;
}

/// Serve `service` by holding requests until `gate` of them (or all that remain of
/// `total`) are open at once, then answering them together: the remote must keep that
/// many streams open on one connection.
fn gated(network: &Network, service: &str, gate: usize, total: usize) {
    let mut requests = network
        .handle()
        .serve(service, &[ProtocolRole::Peer])
        .unwrap();
    tokio::spawn(async move {
        let mut answered = 0;
        let mut held = Vec::new();
        while let Some(request) = requests.recv().await {
            held.push(request);
            if held.len() < gate.min(total - answered) {
                continue;
            }
            answered += held.len();
            for request in held.drain(..) {
                let payload = request.payload.clone();
                let _ = request.respond(payload).await;
            }
        }
    });
}

/// Many more concurrent requests to one node than the per-node stream limit: all of them
/// complete. (Opened all at once, their streams made the remote's yamux close the whole
/// connection, failing every request on it with "connection closed".)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_beyond_the_stream_limit_wait_instead_of_breaking_the_connection() {
    let unicom = TestOrg::at("UnicomMSP", now_unix());
    let mobile = TestOrg::at("MobileMSP", now_unix());
    let config = one_orderer_config(&[&unicom, &mobile]);
    let a = start(
        unicom.member("peer0", Role::Peer).tls_identity(),
        &config,
        "127.9.0.1:0",
    )
    .await;
    let streams = a.handle().limits().streams_per_node_max;
    let total = 3 * streams + 8;
    gated(&a, "gate", streams, total);
    let mut b_config = net_config(
        mobile.member("peer0", Role::Peer).tls_identity(),
        &config,
        "127.9.0.2:0",
    );
    b_config.known_peers = vec![(a.node_id(), a.listen_addr())];
    let b = Network::start(b_config).await.unwrap();
    let calls: Vec<_> = (0..total)
        .map(|n| {
            let net = b.handle();
            let to = a.node_id();
            tokio::spawn(async move { net.request(to, "gate", n.to_le_bytes().to_vec()).await })
        })
        .collect();
    for (n, call) in calls.into_iter().enumerate() {
        let reply = tokio::time::timeout(WAIT_MAX, call)
            .await
            .expect("answered within the deadline")
            .unwrap();
        assert_eq!(reply.unwrap(), n.to_le_bytes());
    }
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_ca_revoked_and_wrong_node_are_refused() {
    let unicom = TestOrg::at("UnicomMSP", now_unix());
    let mut mobile = TestOrg::at("MobileMSP", now_unix());
    let stranger_ca = TestOrg::at("StrangerMSP", now_unix());
    let revoked = mobile.member("peer9", Role::Peer).tls_identity();
    mobile.revoke(revoked.leaf());
    let config = one_orderer_config(&[&unicom, &mobile]);
    let a = start(
        unicom.member("peer0", Role::Peer).tls_identity(),
        &config,
        "127.0.1.20:0",
    )
    .await;
    echo(&a, "echo", &[ProtocolRole::Peer]);
    let mut a_events = a.handle().events();

    // A node whose certificate comes from a CA outside the channel.
    let stranger = start(
        stranger_ca.member("peer0", Role::Peer).tls_identity(),
        &config,
        "127.0.2.30:0",
    )
    .await;
    stranger
        .handle()
        .add_address(a.node_id(), a.listen_addr())
        .await
        .unwrap();
    let error = request(&stranger, a.node_id(), "echo", b"x")
        .await
        .unwrap_err();
    let text = error.to_string();
    eprintln!("unknown CA: {text}");
    assert!(matches!(error, NetError::Unreachable { .. }), "{text}");
    assert!(
        text.contains("unknown CA") || text.contains("UnknownCa") || text.contains("certificate"),
        "{text}"
    );
    let refusal = wait_for(&mut a_events, "inbound refusal", |event| match event {
        ConnectionEvent::InboundRefused { reason, .. } => Some(reason.clone()),
        _ => None,
    })
    .await;
    assert!(
        refusal.to_lowercase().contains("unknown") || refusal.contains("issuer"),
        "{refusal}"
    );

    // A revoked certificate of a channel organisation.
    let revoked_node = start(revoked, &config, "127.0.2.31:0").await;
    revoked_node
        .handle()
        .add_address(a.node_id(), a.listen_addr())
        .await
        .unwrap();
    let error = request(&revoked_node, a.node_id(), "echo", b"x")
        .await
        .unwrap_err();
    let text = error.to_string();
    eprintln!("revoked: {text}");
    assert!(text.to_lowercase().contains("revoked"), "{text}");

    // Dialling A's address expecting another node: the PeerId check refuses.
    let b = start(
        mobile.member("peer0", Role::Peer).tls_identity(),
        &config,
        "127.0.2.20:0",
    )
    .await;
    let someone_else =
        NodeId::from_certificate(mobile.member("peer1", Role::Peer).tls_identity().leaf());
    b.handle()
        .add_address(someone_else, a.listen_addr())
        .await
        .unwrap();
    let error = request(&b, someone_else, "echo", b"x").await.unwrap_err();
    let text = error.to_string();
    eprintln!("wrong node: {text}");
    assert!(text.contains("PeerId mismatch"), "{text}");
    assert!(text.contains(&a.node_id().to_string()), "{text}");

    // A node certificate that names no host cannot serve (`ca bootstrap` always names
    // one): the dialler says so.
    let nameless = start(
        unicom
            .member_with("peer5", Role::Peer, |params| {
                params.ip_addresses = Vec::new()
            })
            .tls_identity(),
        &config,
        "127.0.1.25:0",
    )
    .await;
    b.handle()
        .add_address(nameless.node_id(), nameless.listen_addr())
        .await
        .unwrap();
    let error = request(&b, nameless.node_id(), "echo", b"x")
        .await
        .unwrap_err();
    assert!(error.to_string().contains("names no host"), "{error}");

    // A client certificate may not open node connections.
    let client = start(
        mobile.member("app", Role::Client).tls_identity(),
        &config,
        "127.0.2.32:0",
    )
    .await;
    client
        .handle()
        .add_address(a.node_id(), a.listen_addr())
        .await
        .unwrap();
    let error = request(&client, a.node_id(), "echo", b"x")
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            NetError::Unreachable { .. } | NetError::RequestFailed { .. }
        ),
        "{error}"
    );

    for network in [a, stranger, revoked_node, b, nameless, client] {
        network.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_node_is_redialled() {
    let unicom = TestOrg::at("UnicomMSP", now_unix());
    let mobile = TestOrg::at("MobileMSP", now_unix());
    let config = one_orderer_config(&[&unicom, &mobile]);
    let b_identity = mobile.member("peer0", Role::Peer).tls_identity();
    let b = start(b_identity.clone(), &config, "127.0.2.20:0").await;
    let b_addr = b.listen_addr();
    let b_id = b.node_id();

    let mut a_config = net_config(
        unicom.member("peer0", Role::Peer).tls_identity(),
        &config,
        "127.0.1.20:0",
    );
    a_config.known_peers = vec![(b_id, b_addr)];
    // Subscribe to events before the first dial can complete.
    let a = Network::start(a_config).await.unwrap();
    let mut events = a.handle().events();
    if !a
        .handle()
        .connected()
        .await
        .unwrap()
        .iter()
        .any(|p| p.node_id == b_id)
    {
        wait_for(&mut events, "first connection", |event| match event {
            ConnectionEvent::Connected { peer, .. } if peer.node_id == b_id => Some(()),
            _ => None,
        })
        .await;
    }

    b.shutdown().await;
    wait_for(&mut events, "disconnection", |event| match event {
        ConnectionEvent::Disconnected { node } if *node == b_id => Some(()),
        _ => None,
    })
    .await;
    // While B is down A keeps trying and failing.
    wait_for(&mut events, "failed redial", |event| match event {
        ConnectionEvent::DialFailed {
            node: Some(node), ..
        } if *node == b_id => Some(()),
        _ => None,
    })
    .await;

    let b = start(b_identity, &config, &b_addr.to_string()).await;
    echo(&b, "echo", &[ProtocolRole::Peer]);
    wait_for(&mut events, "reconnection", |event| match event {
        ConnectionEvent::Connected { peer, .. } if peer.node_id == b_id => Some(()),
        _ => None,
    })
    .await;
    let reply = request(&a, b_id, "echo", b"again").await.unwrap();
    assert_eq!(reply, b"UnicomMSP:again");
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gossip_reaches_every_subscriber_and_invalid_senders_are_penalised() {
    let unicom = TestOrg::at("UnicomMSP", now_unix());
    let mobile = TestOrg::at("MobileMSP", now_unix());
    let config = one_orderer_config(&[&unicom, &mobile]);
    let hub = start(
        unicom.member("orderer0", Role::Orderer).tls_identity(),
        &config,
        "127.0.1.10:0",
    )
    .await;
    let mut hub_events = hub.handle().events();
    let mut subscribers = Vec::new();
    let listeners = [
        (&unicom, "peer0", "127.0.1.20:0"),
        (&mobile, "peer0", "127.0.2.20:0"),
        (&mobile, "peer1", "127.0.2.21:0"),
    ];
    for (carrier, name, listen) in listeners {
        let mut net = net_config(
            carrier.member(name, Role::Peer).tls_identity(),
            &config,
            listen,
        );
        net.known_peers = vec![(hub.node_id(), hub.listen_addr())];
        let node = Network::start(net).await.unwrap();
        let messages = node
            .handle()
            .subscribe("blocks", &[ProtocolRole::Peer, ProtocolRole::Orderer])
            .await
            .unwrap();
        subscribers.push((node, messages));
    }
    // Publish once every subscriber's subscription has reached the hub.
    let mut joined = std::collections::BTreeSet::new();
    while joined.len() < subscribers.len() {
        let node = wait_for(
            &mut hub_events,
            "topic subscriptions",
            |event| match event {
                ConnectionEvent::TopicJoined { node, topic } if topic == "blocks" => Some(*node),
                _ => None,
            },
        )
        .await;
        joined.insert(node);
    }
    hub.handle()
        .publish("blocks", b"block 1".to_vec())
        .await
        .unwrap();
    for (node, messages) in &mut subscribers {
        let message = tokio::time::timeout(WAIT_MAX, messages.recv())
            .await
            .expect("gossip within the deadline")
            .expect("subscription open");
        assert_eq!(message.payload, b"block 1");
        assert_eq!(message.from, hub.node_id());
        assert_eq!(message.topic, "blocks");
        node.handle().accept(&message).await.unwrap();
    }

    // The hub turns hostile: each subscriber reports its messages invalid until the
    // hub is penalised.
    let (victim, messages) = &mut subscribers[0];
    let mut victim_events = victim.handle().events();
    let max = victim.handle().limits().invalid_gossip_max;
    for n in 0..max {
        hub.handle()
            .publish("blocks", format!("forged {n}").into_bytes())
            .await
            .unwrap();
        let message = tokio::time::timeout(WAIT_MAX, messages.recv())
            .await
            .unwrap()
            .unwrap();
        victim.handle().report_invalid(&message).await.unwrap();
    }
    let hub_id = hub.node_id();
    let count = wait_for(&mut victim_events, "penalty", |event| match event {
        ConnectionEvent::Penalised {
            node,
            invalid_messages,
        } if *node == hub_id => Some(*invalid_messages),
        _ => None,
    })
    .await;
    assert_eq!(count, max);

    hub.shutdown().await;
    for (node, _) in subscribers {
        node.shutdown().await;
    }
}
