//! Consenter membership through config updates, in memory: a sixth orderer is added and
//! catches up (through a snapshot), a consenter and then the leader are removed, ordering
//! goes on throughout, and updates changing two consenters at once, or one while the
//! previous change is under way, are refused.

mod support;

use std::collections::{BTreeSet, HashSet};

use netsettle_orderer::{BroadcastError, ConsenterChangeError, RequestId};
use netsettle_protocol::{BatchPolicy, ChannelConfig, Envelope, TxId};
use netsettle_testkit::Consortium;
use support::Cluster;

/// Five consenters and one spare (id 6); snapshots every `snapshot_interval` entries.
fn cluster(seed: u64, snapshot_interval: u64) -> Cluster {
    Cluster::new(
        Consortium::with_orderers(5, 1, BatchPolicy::default()),
        seed,
        snapshot_interval,
    )
}

/// The configuration in force at `leader`, with the next sequence, changed by `change`.
fn next_config(
    cluster: &Cluster,
    leader: u64,
    change: impl FnOnce(&mut ChannelConfig),
) -> ChannelConfig {
    let mut config = cluster.core(leader).channel().config.clone();
    config.sequence += 1;
    change(&mut config);
    config
}

fn add(cluster: &Cluster, config: &mut ChannelConfig, id: u64) {
    config
        .orderer
        .consenters
        .push(cluster.consortium.consenter(id));
}

fn remove(config: &mut ChannelConfig, id: u64) {
    config.orderer.consenters.retain(|c| c.id != id);
}

fn submit(
    cluster: &mut Cluster,
    first: u64,
    count: u64,
    targets: &[u64],
) -> Vec<(RequestId, TxId)> {
    let client = cluster.consortium.unicom_client.clone();
    (first..first + count)
        .map(|seq| {
            let envelope = cluster.consortium.ordering_envelope(&client, seq, 64);
            let tx_id = envelope.tx_id();
            let target = targets[usize::try_from(seq).unwrap() % targets.len()];
            (cluster.broadcast(target, envelope), tx_id)
        })
        .collect()
}

/// Waits for every reply and returns the ids acknowledged; all must be.
fn all_acked(cluster: &mut Cluster, requests: &[(RequestId, TxId)]) -> HashSet<TxId> {
    assert!(cluster.run_until(100, |c| {
        requests
            .iter()
            .all(|(request, _)| c.replies.contains_key(request))
    }));
    for (request, _) in requests {
        assert!(
            cluster.replies[request].is_ok(),
            "{:?}",
            cluster.replies[request]
        );
    }
    requests.iter().map(|(_, tx_id)| *tx_id).collect()
}

/// Submits and waits until every one is acknowledged.
fn order(cluster: &mut Cluster, first: u64, count: u64, targets: &[u64]) -> HashSet<TxId> {
    let requests = submit(cluster, first, count, targets);
    all_acked(cluster, &requests)
}

fn broadcast_update(cluster: &mut Cluster, at: u64, config: ChannelConfig, seq: u64) -> RequestId {
    let envelope = cluster.consortium.config_update(config, seq);
    cluster.broadcast(at, envelope)
}

fn voters_everywhere(cluster: &Cluster, nodes: &[u64], voters: &[u64]) -> bool {
    let voters: BTreeSet<u64> = voters.iter().copied().collect();
    nodes
        .iter()
        .all(|id| cluster.is_running(*id) && cluster.core(*id).voters() == voters)
}

/// Lets the leader cut what is pending and `nodes` reach its height.
fn settle(cluster: &mut Cluster, nodes: &[u64]) {
    let leader = cluster.elect();
    assert!(cluster.run_until(50, |c| c.core(leader).pending() == 0));
    let height = cluster.height(leader);
    assert!(cluster.run_until(100, |c| nodes.iter().all(|id| c.height(*id) >= height)));
}

fn assert_exactly_once(cluster: &Cluster, acked: &HashSet<TxId>) {
    let blocks = cluster.assert_consistent();
    let ids: Vec<TxId> = blocks
        .iter()
        .skip(1)
        .flat_map(|block| block.data.iter().map(Envelope::tx_id))
        .collect();
    let distinct: HashSet<TxId> = ids.iter().copied().collect();
    assert_eq!(distinct.len(), ids.len(), "a transaction is in two places");
    for tx_id in acked {
        assert!(distinct.contains(tx_id), "acknowledged {tx_id} is missing");
    }
}

#[test]
fn a_sixth_consenter_joins_through_a_snapshot_then_one_is_removed() {
    let mut cluster = cluster(21, 20);
    let leader = cluster.elect();
    let mut acked = order(&mut cluster, 0, 300, &[1, 2, 3, 4, 5]);
    assert!(cluster.run_until(50, |c| c.core(leader).pending() == 0));
    assert!(cluster.core(leader).store().snapshot_index() > 200);

    // The new machine starts from the genesis block; it does not vote yet.
    cluster.add_node(6);
    assert!(!cluster.core(6).is_consenter());
    let config = next_config(&cluster, leader, |config| add(&cluster, config, 6));
    let update = broadcast_update(&mut cluster, 2, config, 1_000);
    assert!(cluster.run_until(10, |c| c.replies.contains_key(&update)));
    assert!(
        cluster.replies[&update].is_ok(),
        "{:?}",
        cluster.replies[&update]
    );
    let all = [1, 2, 3, 4, 5, 6];
    assert!(
        cluster.run_until(100, |c| voters_everywhere(c, &all, &all)),
        "voters: {:?}",
        cluster.core(6).voters()
    );
    let target = cluster.height(leader);
    assert!(cluster.run_until(100, |c| c.all_at_least(target)));
    assert!(cluster.core(6).is_consenter());
    // It got there through a snapshot: the log it would have replayed was compacted.
    assert!(cluster.core(6).store().snapshot_index() > 200);

    // Six consenters order, the new one included.
    acked.extend(order(&mut cluster, 1_000, 60, &[6, 1]));
    let leader = cluster.elect();
    let removed = [1, 2, 3, 4, 5]
        .into_iter()
        .find(|id| *id != leader)
        .unwrap();
    let config = next_config(&cluster, leader, |config| remove(config, removed));
    let update = broadcast_update(&mut cluster, 6, config, 1_001);
    assert!(cluster.run_until(10, |c| c.replies.contains_key(&update)));
    assert!(
        cluster.replies[&update].is_ok(),
        "{:?}",
        cluster.replies[&update]
    );
    let left: Vec<u64> = all.into_iter().filter(|id| *id != removed).collect();
    assert!(cluster.run_until(100, |c| voters_everywhere(c, &left, &left)));

    // The removed one knows it and refuses broadcasts; the others go on.
    assert!(!cluster.core(removed).is_consenter());
    let refused = submit(&mut cluster, 2_000, 1, &[removed]);
    assert!(matches!(
        cluster.replies.get(&refused[0].0),
        Some(Err(BroadcastError::NotAConsenter))
    ));
    acked.extend(order(&mut cluster, 3_000, 60, &left));
    settle(&mut cluster, &left);
    assert_exactly_once(&cluster, &acked);
    // Blocks cut after the sixth joined carry its own signature on its chain.
    let last = cluster.chain(6).blocks().pop().unwrap();
    assert_eq!(
        last.metadata.signatures[0].signer.cert_der,
        cluster.consortium.orderers[5].identity().cert_der
    );
}

#[test]
fn removing_the_leader_hands_over_leadership_first() {
    let mut cluster = cluster(22, 1_000);
    let leader = cluster.elect();
    let mut acked = order(&mut cluster, 0, 20, &[leader]);
    let config = next_config(&cluster, leader, |config| remove(config, leader));
    let update = broadcast_update(&mut cluster, leader, config, 1_000);
    assert!(cluster.run_until(10, |c| c.replies.contains_key(&update)));
    assert!(
        cluster.replies[&update].is_ok(),
        "{:?}",
        cluster.replies[&update]
    );
    let left: Vec<u64> = [1, 2, 3, 4, 5]
        .into_iter()
        .filter(|id| *id != leader)
        .collect();
    assert!(cluster.run_until(200, |c| voters_everywhere(c, &left, &left)));
    let new_leader = cluster.elect();
    assert_ne!(new_leader, leader);
    acked.extend(order(&mut cluster, 100, 40, &left));
    settle(&mut cluster, &left);
    assert_exactly_once(&cluster, &acked);
}

#[test]
fn two_changes_at_once_or_during_a_change_are_refused() {
    let mut cluster = cluster(23, 1_000);
    let leader = cluster.elect();
    // Adding 6 and removing 5 in one update: refused when broadcast.
    let config = next_config(&cluster, leader, |config| {
        add(&cluster, config, 6);
        remove(config, 5);
    });
    let swap = broadcast_update(&mut cluster, leader, config, 1_000);
    match cluster.replies.get(&swap) {
        Some(Err(BroadcastError::ConsenterChange(ConsenterChangeError::MoreThanOne {
            added,
            removed,
            ..
        }))) => {
            assert_eq!((added.as_slice(), removed.as_slice()), (&[6][..], &[5][..]));
        }
        other => panic!("expected a refusal, got {other:?}"),
    }

    // One change, then another before Raft has taken the first in.
    let config = next_config(&cluster, leader, |config| add(&cluster, config, 6));
    let first = broadcast_update(&mut cluster, leader, config, 1_001);
    let mut steps = 0;
    while !cluster.replies.contains_key(&first) {
        assert!(steps < 10, "first update not applied");
        cluster.step();
        steps += 1;
    }
    assert!(
        cluster.replies[&first].is_ok(),
        "{:?}",
        cluster.replies[&first]
    );
    // The leader proposes the conf change on its next tick: Raft still has five voters.
    assert!(!cluster.core(leader).voters().contains(&6));
    let config = next_config(&cluster, leader, |config| remove(config, 5));
    let second = broadcast_update(&mut cluster, leader, config, 1_002);
    assert!(
        matches!(
            cluster.replies.get(&second),
            Some(Err(BroadcastError::ConsenterChange(
                ConsenterChangeError::InProgress { .. }
            )))
        ),
        "{:?}",
        cluster.replies.get(&second)
    );
    // Ordering continues with the sixth voter added but not running: 4 of 6 is a quorum.
    let requests = submit(&mut cluster, 0, 10, &[leader]);
    all_acked(&mut cluster, &requests);
}
