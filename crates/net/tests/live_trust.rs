//! `NetHandle::replace_trust` between in-process nodes over real sockets: a newer config
//! that revokes a connected node closes its session and refuses its redial; one that adds
//! an organisation lets that organisation's node in, and one that removes it again closes
//! its session; an older config is refused. Every wait is on an event or a response; a
//! deadline marks failure.

use netsettle_net::{ChannelTrust, ConnectionEvent, NetError, Network, NodeId};
use netsettle_protocol::{ChannelConfig, Role as ProtocolRole};
use netsettle_smcrypto::x509::Role;
use netsettle_testkit::WAIT_MAX;
use netsettle_testkit::channel::one_orderer_config;
use netsettle_testkit::net::{NODE_ROLES, start, wait_for};
use netsettle_testkit::pki::{TestOrg, now_unix};

async fn request(from: &Network, to: &Network) -> Result<Vec<u8>, NetError> {
    let net = from.handle();
    let request = net.request(to.node_id(), "echo", b"hi".to_vec());
    tokio::time::timeout(WAIT_MAX, request)
        .await
        .expect("request within the deadline")
}

/// `config` at `sequence`, with `orgs` as its organisations.
fn next_config(config: &ChannelConfig, orgs: &[&TestOrg], sequence: u64) -> ChannelConfig {
    let mut next = config.clone();
    next.orgs = orgs.iter().map(|org| org.org_config()).collect();
    next.orgs.sort_by(|a, b| a.msp_id.cmp(&b.msp_id));
    next.sequence = sequence;
    next
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newer_config_closes_revoked_sessions_and_admits_new_roots() {
    let unicom = TestOrg::at("UnicomMSP", now_unix());
    let mut mobile = TestOrg::at("MobileMSP", now_unix());
    let partner = TestOrg::at("PartnerMSP", now_unix());
    let config = one_orderer_config(&[&unicom, &mobile]);
    let mobile_peer = mobile.member("peer0", Role::Peer);
    let partner_peer = partner.member("peer0", Role::Peer);

    let a = start(
        unicom.member("peer0", Role::Peer).tls_identity(),
        &config,
        "127.0.1.20:0",
    )
    .await;
    let mut requests = a.handle().serve("echo", &[ProtocolRole::Peer]).unwrap();
    tokio::spawn(async move {
        while let Some(request) = requests.recv().await {
            let _ = request.respond(b"ok".to_vec()).await;
        }
    });
    let b = start(mobile_peer.tls_identity(), &config, "127.0.2.20:0").await;
    b.handle()
        .add_address(a.node_id(), a.listen_addr())
        .await
        .unwrap();
    let with_partner = next_config(&config, &[&unicom, &mobile, &partner], 0);
    let c = start(partner_peer.tls_identity(), &with_partner, "127.0.5.20:0").await;
    c.handle()
        .add_address(a.node_id(), a.listen_addr())
        .await
        .unwrap();

    assert_eq!(request(&b, &a).await.unwrap(), b"ok");
    let refused = request(&c, &a).await.unwrap_err();
    assert!(matches!(refused, NetError::Unreachable { .. }), "{refused}");

    // Mobile revokes B; the partner joins.
    mobile.revoke(&mobile_peer.cert);
    let next = next_config(&config, &[&unicom, &mobile, &partner], 1);
    let mut a_events = a.handle().events();
    let mut b_events = b.handle().events();
    let mut c_admitted = c.handle().events();
    let trust = ChannelTrust::new(&next, &NODE_ROLES).unwrap();
    let closed = a.handle().replace_trust(trust).await.unwrap();
    assert_eq!(closed, vec![b.node_id()]);
    let b_id = b.node_id();
    wait_for(&mut a_events, "B disconnected", |event| {
        matches!(event, ConnectionEvent::Disconnected { node } if *node == b_id).then_some(())
    })
    .await;
    let a_id = a.node_id();
    let reason = wait_for(&mut b_events, "B's redial refused", |event| match event {
        ConnectionEvent::DialFailed {
            node: Some(node),
            reason,
        } if *node == a_id => Some(reason.clone()),
        _ => None,
    })
    .await;
    assert!(reason.to_lowercase().contains("revoked"), "{reason}");
    let refused = request(&b, &a).await.unwrap_err();
    assert!(matches!(refused, NetError::Unreachable { .. }), "{refused}");
    // C keeps redialling A; a dial it started before the new trust can still fail with the
    // old refusal, and a request made meanwhile waits on that dial. Wait for C's session.
    wait_for(&mut c_admitted, "C connected to A", |event| match event {
        ConnectionEvent::Connected { peer, .. } if peer.node_id == a_id => Some(()),
        _ => None,
    })
    .await;
    assert_eq!(request(&c, &a).await.unwrap(), b"ok");
    let connected: Vec<NodeId> = a
        .handle()
        .connected()
        .await
        .unwrap()
        .into_iter()
        .map(|peer| peer.node_id)
        .collect();
    assert_eq!(connected, vec![c.node_id()]);

    // Going back to an older config is refused; the newer trust stays in force.
    let older = ChannelTrust::new(&config, &NODE_ROLES).unwrap();
    let error = a.handle().replace_trust(older).await.unwrap_err();
    assert!(
        matches!(&error, NetError::Config(reason) if reason.contains("older")),
        "{error}"
    );
    let refused = request(&b, &a).await.unwrap_err();
    assert!(matches!(refused, NetError::Unreachable { .. }), "{refused}");

    // The partner leaves: its root is gone, so its session closes too.
    let without_partner = next_config(&config, &[&unicom, &mobile], 2);
    let mut c_events = c.handle().events();
    let trust = ChannelTrust::new(&without_partner, &NODE_ROLES).unwrap();
    let closed = a.handle().replace_trust(trust).await.unwrap();
    assert_eq!(closed, vec![c.node_id()]);
    let c_id = c.node_id();
    wait_for(&mut a_events, "C disconnected", |event| {
        matches!(event, ConnectionEvent::Disconnected { node } if *node == c_id).then_some(())
    })
    .await;
    // C itself sees the close a moment later; a request before that would fail as cut off.
    wait_for(&mut c_events, "A closing C's connection", |event| {
        matches!(event, ConnectionEvent::Disconnected { node } if *node == a_id).then_some(())
    })
    .await;
    let refused = request(&c, &a).await.unwrap_err();
    assert!(matches!(refused, NetError::Unreachable { .. }), "{refused}");

    for network in [a, b, c] {
        network.shutdown().await;
    }
}
