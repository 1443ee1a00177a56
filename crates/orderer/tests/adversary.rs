//! A consenter or admin of one carrier misbehaving against the other's orderers, in one
//! process over the in-memory transport: Raft messages that claim another sender,
//! snapshots that do not decode or do not fit the chain, envelopes dated away from the
//! orderer's clock, and a leader transfer asked by the other carrier's admin. Each is
//! refused with a reason, and the orderers keep ordering.

use std::time::Duration;

use netsettle_net::{NodeId, RemotePeer};
use netsettle_orderer::{
    BroadcastError, OrdererHandle, OrdererService, RaftRefusal, SnapshotState, admin,
    check_envelope_time,
};
use netsettle_protocol::{AdminReply, AdminRequest, BatchPolicy, Role, encode};
use netsettle_smcrypto::Hash;
use netsettle_testkit::Consortium;
use netsettle_testkit::ordering::{Routes, service_config};
use netsettle_testkit::pki::NOW_MS;
use netsettle_testkit::tx::{fresh_header, ordering_envelope};
use protobuf::Message as _;
use raft::prelude::{Message, MessageType, Snapshot};

/// Marks failure only; every wait below ends on the event itself.
const DEADLINE: Duration = Duration::from_secs(60);
const TICK_MS: u64 = 20;

struct Cluster {
    _dir: tempfile::TempDir,
    consortium: Consortium,
    routes: Routes,
}

impl Cluster {
    /// Five consenters (Unicom 1-3, Mobile 4-5) and a leader every one of them knows.
    async fn start(skew_secs: u64) -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let consortium = Consortium::with_orderers(5, 0, BatchPolicy::default());
        let routes = Routes::default();
        for id in 1..=5 {
            let mut config = service_config(&consortium, id, dir.path(), TICK_MS);
            config.core.envelope_time_skew_secs = skew_secs;
            // These tests judge who may speak Raft and move leadership, not elections: a
            // 1-2 s election timeout keeps a loaded machine's late heartbeat from starting
            // one mid-test ("no Raft leader now").
            config.core.election_ticks = 50;
            let handle = OrdererService::spawn(config, routes.transport()).unwrap();
            routes.insert(id, handle);
        }
        for id in 1..=5 {
            let mut leader = routes.handle(id).unwrap().leader();
            tokio::time::timeout(DEADLINE, leader.wait_for(|l| *l != 0))
                .await
                .expect("no leader")
                .unwrap();
        }
        Cluster {
            _dir: dir,
            consortium,
            routes,
        }
    }

    fn handle(&self, id: u64) -> OrdererHandle {
        self.routes.handle(id).unwrap()
    }

    fn leader(&self) -> u64 {
        *self.handle(1).leader().borrow()
    }

    fn follower(&self) -> u64 {
        (1..=5).find(|id| *id != self.leader()).unwrap()
    }

    /// A fresh envelope (the clock's time) is still ordered by `id`.
    async fn still_orders(&self, id: u64) {
        let client = &self.consortium.unicom_client;
        let envelope = ordering_envelope(
            client,
            &self.consortium.unicom_peer,
            fresh_header(&client.identity()),
            16,
        );
        let ack = tokio::time::timeout(DEADLINE, self.handle(id).broadcast(envelope))
            .await
            .expect("broadcast answered");
        assert!(ack.is_ok(), "{ack:?}");
        assert!(self.handle(id).status().borrow().consenter_id == id);
    }

    async fn shutdown(self) {
        for handle in self.routes.all() {
            handle.shutdown().await;
        }
    }
}

fn snapshot_message(from: u64, to: u64, data: Vec<u8>, term: u64) -> Vec<u8> {
    let mut snapshot = Snapshot::default();
    snapshot.set_data(data.into());
    snapshot.mut_metadata().index = 1_000_000;
    snapshot.mut_metadata().term = term;
    snapshot.mut_metadata().mut_conf_state().voters = vec![1, 2, 3, 4, 5];
    let mut message = Message::default();
    message.set_msg_type(MessageType::MsgSnapshot);
    message.from = from;
    message.to = to;
    message.term = term;
    message.set_snapshot(snapshot);
    message.write_to_bytes().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raft_messages_must_come_from_their_sender_and_snapshots_must_fit() {
    let cluster = Cluster::start(u64::MAX).await;
    let leader = cluster.leader();
    let victim = cluster.follower();
    let other = (1..=5).find(|id| *id != leader && *id != victim).unwrap();
    let term = cluster.handle(victim).status().borrow().term;

    // A consenter speaks for another: refused whole.
    let forged = snapshot_message(leader, victim, b"garbage".to_vec(), term);
    let refusal = cluster
        .handle(victim)
        .raft_messages_from(other, &[&forged])
        .unwrap_err();
    assert_eq!(
        refusal,
        RaftRefusal::ForgedSender {
            sender: other,
            claimed: leader
        }
    );

    // Garbage as a snapshot, from the leader itself: refused before raft-rs sees it.
    let refusal = cluster
        .handle(victim)
        .raft_messages_from(leader, &[&forged])
        .unwrap_err();
    assert!(
        matches!(&refusal, RaftRefusal::BadSnapshot(reason) if reason.contains("does not decode")),
        "{refusal}"
    );

    // Decodable but inconsistent: the genesis position with another hash.
    let genesis = &cluster.consortium.genesis;
    let inconsistent = SnapshotState {
        height: 1,
        last_hash: Hash::default(),
        last_config_index: 0,
        config: genesis.config().unwrap().clone(),
        pending: Vec::new(),
        clock_unix_ms: 0,
    };
    let bytes = snapshot_message(leader, victim, encode(&inconsistent).unwrap(), term);
    let refusal = cluster
        .handle(victim)
        .raft_messages_from(leader, &[&bytes])
        .unwrap_err();
    assert!(
        matches!(&refusal, RaftRefusal::BadSnapshot(reason) if reason.contains("differs")),
        "{refusal}"
    );
    // Another channel's.
    let mut config = genesis.config().unwrap().clone();
    config.channel = "other".to_owned();
    let other_channel = SnapshotState {
        config,
        last_hash: genesis.hash(),
        ..inconsistent.clone()
    };
    let bytes = snapshot_message(leader, victim, encode(&other_channel).unwrap(), term);
    let refusal = cluster
        .handle(victim)
        .raft_messages_from(leader, &[&bytes])
        .unwrap_err();
    assert!(
        matches!(&refusal, RaftRefusal::BadSnapshot(reason) if reason.contains("for channel")),
        "{refusal}"
    );

    // A transport that does not check (the in-memory one): the core refuses it itself
    // and keeps running.
    cluster.handle(victim).raft_message(&forged);
    let bytes = snapshot_message(leader, victim, encode(&inconsistent).unwrap(), term);
    cluster.handle(victim).raft_message(&bytes);
    cluster.still_orders(victim).await;
    cluster.still_orders(leader).await;
    assert!(
        tokio::time::timeout(Duration::from_millis(1), cluster.handle(victim).stopped())
            .await
            .is_err(),
        "the victim's core must still run"
    );
    cluster.shutdown().await;
}

fn caller(consortium: &Consortium, msp_id: &str) -> RemotePeer {
    let admin = if msp_id == "UnicomMSP" {
        &consortium.unicom_admin
    } else {
        &consortium.mobile_admin
    };
    RemotePeer {
        node_id: NodeId::from_public_key(admin.cert.public_key()),
        msp_id: msp_id.to_owned(),
        role: Role::Admin,
        fingerprint: Hash::default(),
        subject: admin.cert.subject_dn(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_leading_carriers_admin_moves_leadership() {
    let cluster = Cluster::start(u64::MAX).await;
    let leader = cluster.leader();
    let (own, other) = if leader <= 3 {
        ("UnicomMSP", "MobileMSP")
    } else {
        ("MobileMSP", "UnicomMSP")
    };
    let target = (1..=5)
        .find(|id| (*id <= 3) != (leader <= 3))
        .expect("a consenter of the other carrier");
    let request = AdminRequest::TransferLeader { to: target };
    // The other carrier's admin tries to grab leadership: refused.
    let reply = admin::handle(
        &cluster.handle(leader),
        &caller(&cluster.consortium, other),
        &request,
    );
    assert!(
        matches!(&reply, AdminReply::Refused(reason) if reason.contains("not allowed")),
        "{reply:?}"
    );
    // Asked of a follower, even by the leader's carrier: refused (ask the leader).
    let reply = admin::handle(
        &cluster.handle(cluster.follower()),
        &caller(&cluster.consortium, own),
        &request,
    );
    assert!(
        matches!(&reply, AdminReply::Refused(reason) if reason.contains("does not lead")),
        "{reply:?}"
    );
    assert_eq!(*cluster.handle(leader).leader().borrow(), leader);
    // The leader's own carrier may hand it over, even to the other carrier.
    let reply = admin::handle(
        &cluster.handle(leader),
        &caller(&cluster.consortium, own),
        &request,
    );
    assert_eq!(reply, AdminReply::TransferRequested { leader });
    let mut leaders = cluster.handle(target).leader();
    tokio::time::timeout(DEADLINE, leaders.wait_for(|l| *l == target))
        .await
        .expect("the transfer happens")
        .unwrap();
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn envelopes_dated_away_from_the_orderers_clock_are_refused() {
    let cluster = Cluster::start(netsettle_protocol::limits::ENVELOPE_TIME_SKEW_SECS_MAX).await;
    let client = &cluster.consortium.unicom_client;
    let peer = &cluster.consortium.unicom_peer;
    let fresh = fresh_header(&client.identity());
    let now_ms = fresh.timestamp.unix_time_ms;
    let skew_ms = netsettle_protocol::limits::ENVELOPE_TIME_SKEW_SECS_MAX * 1000;
    for (what, at_ms) in [
        ("back-dated", now_ms - skew_ms - 60_000),
        ("forward-dated", now_ms + skew_ms + 60_000),
        ("held since the fixtures' time", NOW_MS),
    ] {
        let mut header = fresh.clone();
        header.timestamp.unix_time_ms = at_ms;
        header.nonce.0[0] ^= 1;
        let envelope = ordering_envelope(client, peer, header, 16);
        let refused = cluster.handle(1).broadcast(envelope).await.unwrap_err();
        assert!(
            matches!(refused, BroadcastError::TimestampOutOfRange { timestamp_unix_ms, .. } if timestamp_unix_ms == at_ms),
            "{what}: {refused}"
        );
    }
    cluster.still_orders(1).await;
    cluster.still_orders(4).await;

    // Blocks carry the orderers' time (the leader's clock in the log), not the clients':
    // every orderer built the same header, time included.
    for id in 1..=5 {
        let mut heights = cluster.handle(id).height();
        tokio::time::timeout(DEADLINE, heights.wait_for(|h| *h >= 2))
            .await
            .expect("a block")
            .unwrap();
    }
    let after_ms = fresh_header(&client.identity()).timestamp.unix_time_ms;
    let ledger = cluster.handle(1).ledger().clone();
    let mut previous_ms = 0;
    let height = ledger.chain_info().unwrap().height;
    for number in 1..height {
        let block = ledger.block(number).unwrap().unwrap();
        let block_ms = block.header.timestamp.unix_time_ms;
        assert!(
            block_ms + 2_000 >= now_ms && block_ms <= after_ms && block_ms >= previous_ms,
            "block {number} at {block_ms}, test ran from {now_ms} to {after_ms}"
        );
        previous_ms = block_ms;
        for id in 2..=5 {
            if let Some(other) = cluster.handle(id).ledger().block(number).unwrap() {
                assert_eq!(other.hash(), block.hash());
            }
        }
    }

    // The pure check, at its edges.
    let envelope = ordering_envelope(client, peer, fresh, 16);
    assert_eq!(
        check_envelope_time(&envelope, now_ms + 300_000, 300),
        Ok(())
    );
    assert_eq!(
        check_envelope_time(&envelope, now_ms - 300_000, 300),
        Ok(())
    );
    assert!(check_envelope_time(&envelope, now_ms + 300_001, 300).is_err());
    assert!(check_envelope_time(&envelope, now_ms - 300_001, 300).is_err());
    cluster.shutdown().await;
}

#[test]
fn only_consenters_of_the_config_in_force_speak_raft() {
    let consortium = Consortium::with_orderers(5, 1, BatchPolicy::default());
    let node = |id: u64| NodeId::from_public_key(consortium.orderer_id(id).cert.public_key());
    let mut config = consortium.config.clone();
    for id in 1..=5 {
        assert_eq!(
            netsettle_orderer::net::raft_sender(&config, &node(id)),
            Ok(id)
        );
    }
    // An orderer certificate that is no consenter (a spare, as a minted one would be).
    let refusal = netsettle_orderer::net::raft_sender(&config, &node(6)).unwrap_err();
    assert!(
        refusal.to_string().contains("is not a consenter of config"),
        "{refusal}"
    );
    // Consenter 5 removed by a config update: refused from then on.
    config
        .orderer
        .consenters
        .retain(|consenter| consenter.id != 5);
    config.sequence += 1;
    assert!(matches!(
        netsettle_orderer::net::raft_sender(&config, &node(5)),
        Err(RaftRefusal::NotAConsenter { config_sequence, .. }) if config_sequence == config.sequence
    ));
    assert_eq!(
        netsettle_orderer::net::raft_sender(&config, &node(4)),
        Ok(4)
    );
}
