//! Five in-memory orderers under faults: elections, crashes, partitions, lagging and
//! wiped nodes, message loss. Logical ticks only; every run with a seed is the same run
//! as far as the harness decides (raft-rs randomises election timeouts on its own).

mod support;

use std::collections::{HashMap, HashSet};

use netsettle_orderer::{BroadcastError, RequestId};
use netsettle_protocol::{BatchPolicy, Block, Envelope, TxId};
use netsettle_testkit::tx::config_update;
use netsettle_testkit::{Consortium, Member};
use support::Cluster;

fn cluster(seed: u64, snapshot_interval: u64) -> Cluster {
    Cluster::new(
        Consortium::with_orderers(5, 0, BatchPolicy::default()),
        seed,
        snapshot_interval,
    )
}

fn tx_ids(blocks: &[Block]) -> Vec<TxId> {
    blocks
        .iter()
        .skip(1)
        .flat_map(|block| block.data.iter().map(Envelope::tx_id))
        .collect()
}

/// Every transaction at most once in the chain, and every acknowledged one in it.
fn assert_exactly_once(blocks: &[Block], acked: &HashSet<TxId>) {
    let ids = tx_ids(blocks);
    let distinct: HashSet<TxId> = ids.iter().copied().collect();
    assert_eq!(distinct.len(), ids.len(), "a transaction is in two places");
    for tx_id in acked {
        assert!(distinct.contains(tx_id), "acknowledged {tx_id} is missing");
    }
}

/// Submits `count` transactions (`first..first+count`) round-robin over `targets`.
fn submit(
    cluster: &mut Cluster,
    client: &Member,
    first: u64,
    count: u64,
    targets: &[u64],
) -> Vec<(RequestId, TxId)> {
    (first..first + count)
        .map(|seq| {
            let envelope = cluster.consortium.ordering_envelope(client, seq, 64);
            let tx_id = envelope.tx_id();
            let target = targets[usize::try_from(seq).unwrap() % targets.len()];
            (cluster.broadcast(target, envelope), tx_id)
        })
        .collect()
}

fn wait_replies(cluster: &mut Cluster, requests: &[(RequestId, TxId)], max_ticks: u64) -> bool {
    cluster.run_until(max_ticks, |c| {
        requests
            .iter()
            .all(|(request, _)| c.replies.contains_key(request))
    })
}

fn acked(cluster: &Cluster, requests: &[(RequestId, TxId)]) -> HashSet<TxId> {
    requests
        .iter()
        .filter(|(request, _)| matches!(cluster.replies.get(request), Some(Ok(_))))
        .map(|(_, tx_id)| *tx_id)
        .collect()
}

#[test]
fn blocks_cut_at_fifty_and_after_the_timeout_identically_everywhere() {
    let mut cluster = cluster(1, 1_000);
    cluster.elect();
    let client = cluster.consortium.unicom_client.clone();
    // Sent to every node: followers forward to the leader through Raft.
    let requests = submit(&mut cluster, &client, 0, 120, &[1, 2, 3, 4, 5]);
    assert!(wait_replies(&mut cluster, &requests, 100));
    let acked = acked(&cluster, &requests);
    assert_eq!(
        acked.len(),
        120,
        "{:?}",
        cluster.replies.values().find(|r| r.is_err())
    );
    // 50 + 50 at once; the last 20 after the 1 s (10 tick) timeout.
    assert!(cluster.run_until(100, |c| c.all_at_least(4)));
    let blocks = cluster.assert_consistent();
    let sizes: Vec<usize> = blocks.iter().map(|b| b.data.len()).collect();
    assert_eq!(sizes, vec![1, 50, 50, 20]);
    assert_exactly_once(&blocks, &acked);
    for block in &blocks[1..] {
        assert_eq!(block.metadata.last_config_index, 0);
        assert_eq!(block.metadata.signatures.len(), 1);
    }
}

#[test]
fn batch_timeout_is_counted_in_ticks_from_the_first_transaction() {
    let mut cluster = cluster(2, 1_000);
    let leader = cluster.elect();
    let client = cluster.consortium.mobile_client.clone();
    let requests = submit(&mut cluster, &client, 0, 3, &[leader]);
    assert!(wait_replies(&mut cluster, &requests, 5));
    let start = cluster.ticks;
    assert!(cluster.run_until(30, |c| c.all_at_least(2)));
    let waited = cluster.ticks - start;
    assert!((8..=12).contains(&waited), "cut after {waited} ticks");
    assert_eq!(cluster.assert_consistent()[1].data.len(), 3);
}

#[test]
fn replayed_transaction_is_refused_before_and_after_its_block() {
    let mut cluster = cluster(3, 1_000);
    let leader = cluster.elect();
    let client = cluster.consortium.unicom_client.clone();
    let envelope = cluster.consortium.ordering_envelope(&client, 7, 16);
    let first = cluster.broadcast(leader, envelope.clone());
    // While it is being ordered here, a second copy waits for the first one's answer
    // (a client retrying after a lost connection must not hear "duplicate" before the
    // first attempt has landed).
    let again = cluster.broadcast(leader, envelope.clone());
    assert!(!cluster.replies.contains_key(&again));
    assert!(cluster.run_until(5, |c| c.replies.contains_key(&first)));
    assert!(cluster.replies[&first].is_ok());
    assert_eq!(cluster.replies[&again], cluster.replies[&first]);
    // Once committed, a copy is a duplicate at once, wherever it is sent.
    let committed = cluster.broadcast(leader, envelope.clone());
    assert!(matches!(
        cluster.replies.get(&committed),
        Some(Err(BroadcastError::Duplicate(_)))
    ));
    assert!(cluster.run_until(30, |c| c.all_at_least(2)));
    let follower = cluster.ids().into_iter().find(|id| *id != leader).unwrap();
    let later = cluster.broadcast(follower, envelope);
    assert!(matches!(
        cluster.replies.get(&later),
        Some(Err(BroadcastError::Duplicate(_)))
    ));
    assert_eq!(tx_ids(&cluster.assert_consistent()).len(), 1);
}

#[test]
fn oversize_and_badly_signed_envelopes_are_refused() {
    let small = BatchPolicy {
        absolute_bytes_max: 8 * 1024,
        preferred_bytes_max: 8 * 1024,
        ..BatchPolicy::default()
    };
    let mut cluster = Cluster::new(Consortium::with_orderers(5, 0, small), 4, 1_000);
    let leader = cluster.elect();
    let client = cluster.consortium.unicom_client.clone();
    let big = cluster.consortium.ordering_envelope(&client, 1, 10_000);
    let request = cluster.broadcast(leader, big);
    assert!(matches!(
        cluster.replies.get(&request),
        Some(Err(BroadcastError::TooLarge { .. }))
    ));
    let mut forged = cluster.consortium.ordering_envelope(&client, 2, 16);
    let other = cluster.consortium.ordering_envelope(&client, 3, 16);
    forged.signature = other.signature;
    let request = cluster.broadcast(leader, forged);
    assert!(matches!(
        cluster.replies.get(&request),
        Some(Err(BroadcastError::BadSignature))
    ));
}

#[test]
fn leader_crash_elects_a_new_leader_and_ordering_continues() {
    let mut cluster = cluster(5, 1_000);
    let old = cluster.elect();
    let client = cluster.consortium.unicom_client.clone();
    let before = submit(&mut cluster, &client, 0, 30, &[old]);
    assert!(wait_replies(&mut cluster, &before, 20));
    cluster.stop(old);
    assert!(cluster.run_until(100, |c| c.leader().is_some_and(|l| l != old)));
    let new = cluster.leader().unwrap();
    let after = submit(&mut cluster, &client, 100, 30, &[new]);
    assert!(wait_replies(&mut cluster, &after, 50));
    assert!(cluster.run_until(50, |c| c.all_at_least(3)));
    cluster.restart(old);
    let target = cluster.height(new);
    assert!(cluster.run_until(100, |c| c.all_at_least(target)));
    let mut all = acked(&cluster, &before);
    all.extend(acked(&cluster, &after));
    assert_eq!(all.len(), 60);
    assert_exactly_once(&cluster.assert_consistent(), &all);
}

#[test]
fn two_down_keep_ordering_three_down_is_no_quorum_until_one_returns() {
    let mut cluster = cluster(6, 1_000);
    cluster.elect();
    let client = cluster.consortium.mobile_client.clone();
    let leader = cluster.leader().unwrap();
    let others: Vec<u64> = cluster
        .ids()
        .into_iter()
        .filter(|id| *id != leader)
        .collect();
    cluster.stop(others[0]);
    cluster.stop(others[1]);
    let two_down = submit(&mut cluster, &client, 0, 10, &[leader, others[2]]);
    assert!(wait_replies(&mut cluster, &two_down, 30));
    assert_eq!(acked(&cluster, &two_down).len(), 10);

    cluster.stop(others[2]);
    // The leader steps down once it has not heard from a quorum (check-quorum), and no
    // election can win: after two election timeouts, broadcasts say "no quorum".
    assert!(cluster.run_until(100, |c| c.leader().is_none()));
    for _ in 0..25 {
        cluster.step();
    }
    let refused = submit(&mut cluster, &client, 100, 1, &[leader]);
    let reply = cluster.replies.get(&refused[0].0);
    assert!(
        matches!(reply, Some(Err(BroadcastError::NoQuorum))),
        "{reply:?}"
    );

    cluster.restart(others[2]);
    assert!(cluster.run_until(200, |c| c.leader().is_some()));
    let back = submit(&mut cluster, &client, 200, 10, &[leader]);
    assert!(wait_replies(&mut cluster, &back, 30));
    assert_eq!(acked(&cluster, &back).len(), 10);
    assert!(cluster.run_until(50, |c| c.all_at_least(3)));
    let mut all = acked(&cluster, &two_down);
    all.extend(acked(&cluster, &back));
    assert_exactly_once(&cluster.assert_consistent(), &all);
}

#[test]
fn lagging_and_wiped_orderers_catch_up_through_snapshots() {
    // Snapshots every 20 entries, so a node that misses 300 gets a snapshot.
    let mut cluster = cluster(7, 20);
    let leader = cluster.elect();
    let client = cluster.consortium.unicom_client.clone();
    let lagging = cluster.ids().into_iter().find(|id| *id != leader).unwrap();
    let wiped = cluster
        .ids()
        .into_iter()
        .find(|id| *id != leader && *id != lagging)
        .unwrap();
    cluster.stop(lagging);
    cluster.stop(wiped);
    let requests = submit(&mut cluster, &client, 0, 300, &[leader]);
    assert!(wait_replies(&mut cluster, &requests, 100));
    assert!(cluster.run_until(50, |c| c.all_at_least(7)));
    assert!(cluster.core(leader).store().snapshot_index() > 200);

    cluster.restart(lagging);
    cluster.restart_wiped(wiped);
    let target = cluster.height(leader);
    assert!(
        cluster.run_until(200, |c| c.all_at_least(target)),
        "lagging at {}, wiped at {}, target {target}",
        cluster.height(lagging),
        cluster.height(wiped)
    );
    // And they keep up with what comes next.
    let more = submit(&mut cluster, &client, 1_000, 50, &[lagging, wiped]);
    assert!(wait_replies(&mut cluster, &more, 50));
    assert!(cluster.run_until(50, |c| c.all_at_least(target + 1)));
    let mut all = acked(&cluster, &requests);
    all.extend(acked(&cluster, &more));
    assert_eq!(all.len(), 350);
    assert_exactly_once(&cluster.assert_consistent(), &all);
}

/// Rounds of: submit `per_round` transactions spread over the running orderers, let a
/// few ticks pass, crash the leader, bring back the one crashed before. Then heal, retry
/// everything not acknowledged, and check that every acknowledged transaction is in
/// exactly one block, that everything submitted landed once, and that all chains agree.
#[test]
fn broadcasts_handled_in_one_batch_share_raft_entries_and_land_exactly_once() {
    let mut cluster = cluster(3, 1_000);
    let leader = cluster.elect();
    let follower = cluster.ids().into_iter().find(|id| *id != leader).unwrap();
    let client = cluster.consortium.unicom_client.clone();
    let envelopes: Vec<Envelope> = (0..120)
        .map(|seq| cluster.consortium.ordering_envelope(&client, seq, 64))
        .collect();
    let applied_before = cluster.core(leader).applied_index();
    let mut requests = Vec::new();
    // Batches of 40 at the leader and at a follower (which forwards its entries), the last
    // batch carrying a duplicate of its first envelope: it waits for the same answer.
    for (n, chunk) in envelopes.chunks(40).enumerate() {
        let target = if n % 2 == 0 { leader } else { follower };
        let mut batch = chunk.to_vec();
        if n == 2 {
            batch.push(chunk[0].clone());
        }
        let ids: Vec<TxId> = batch.iter().map(Envelope::tx_id).collect();
        let sent = cluster.broadcast_batch(target, batch);
        requests.extend(sent.into_iter().zip(ids));
    }
    assert!(wait_replies(&mut cluster, &requests, 100));
    let acked = acked(&cluster, &requests);
    assert_eq!(
        acked.len(),
        120,
        "{:?}",
        cluster.replies.values().find(|r| r.is_err())
    );
    assert!(cluster.run_until(100, |c| c.all_at_least(4)));
    let blocks = cluster.assert_consistent();
    let sizes: Vec<usize> = blocks.iter().map(|b| b.data.len()).collect();
    assert_eq!(sizes, vec![1, 50, 50, 20]);
    assert_exactly_once(&blocks, &acked);
    // Each batch stays whole and in arrival order (batches from different orderers may
    // interleave as Raft orders them).
    let chain = tx_ids(&blocks);
    for chunk in envelopes.chunks(40) {
        let ids: Vec<TxId> = chunk.iter().map(Envelope::tx_id).collect();
        assert!(
            chain
                .windows(ids.len())
                .any(|window| window == ids.as_slice()),
            "a batch was split or reordered"
        );
    }
    // Three entries of 40 (a clock entry and a cut besides), not 120 entries.
    let entries = cluster.core(leader).applied_index() - applied_before;
    assert!(entries <= 8, "{entries} entries for three batches");
}

#[test]
fn batched_broadcasts_through_leader_kills_keep_every_ack_exactly_once() {
    leader_kill_loop_batched(21, 5, 200, 10, 25);
}

fn leader_kill_loop(seed: u64, rounds: u64, per_round: u64, drop_per_mille: u64) {
    leader_kill_loop_batched(seed, rounds, per_round, drop_per_mille, 1);
}

fn leader_kill_loop_batched(
    seed: u64,
    rounds: u64,
    per_round: u64,
    drop_per_mille: u64,
    batch: usize,
) {
    let mut cluster = cluster(seed, 200);
    cluster.set_drop_per_mille(drop_per_mille);
    let client = cluster.consortium.unicom_client.clone();
    let mut all_requests: Vec<(RequestId, TxId)> = Vec::new();
    // Envelopes by id, so refused or timed-out ones can be retried.
    let mut envelopes: HashMap<TxId, Envelope> = HashMap::new();
    let mut seq = 0;
    let mut crashed: Option<u64> = None;
    for _ in 0..rounds {
        let leader = cluster.elect();
        let running: Vec<u64> = cluster
            .ids()
            .into_iter()
            .filter(|id| cluster.is_running(*id))
            .collect();
        let mut round: Vec<Envelope> = Vec::new();
        for _ in 0..per_round {
            let envelope = cluster.consortium.ordering_envelope(&client, seq, 32);
            envelopes.insert(envelope.tx_id(), envelope.clone());
            round.push(envelope);
            seq += 1;
        }
        for (n, chunk) in round.chunks(batch).enumerate() {
            let target = running[n % running.len()];
            if batch == 1 {
                all_requests.push((
                    cluster.broadcast(target, chunk[0].clone()),
                    chunk[0].tx_id(),
                ));
            } else {
                let ids: Vec<TxId> = chunk.iter().map(Envelope::tx_id).collect();
                let sent = cluster.broadcast_batch(target, chunk.to_vec());
                all_requests.extend(sent.into_iter().zip(ids));
            }
        }
        for _ in 0..3 {
            cluster.step();
        }
        cluster.stop(leader);
        // At most one orderer is down at a time besides the one just crashed.
        if let Some(previous) = crashed.replace(leader) {
            cluster.restart(previous);
        }
        for _ in 0..5 {
            cluster.step();
        }
    }
    for id in cluster.ids() {
        cluster.restart(id);
    }
    cluster.set_drop_per_mille(0);
    assert!(wait_replies(&mut cluster, &all_requests, 300));
    // Retry what was not acknowledged: it either lands now or is a duplicate of itself.
    let leader = cluster.elect();
    let mut retries = Vec::new();
    for (request, tx_id) in &all_requests {
        if !matches!(cluster.replies.get(request), Some(Ok(_))) {
            retries.push((cluster.broadcast(leader, envelopes[tx_id].clone()), *tx_id));
        }
    }
    assert!(wait_replies(&mut cluster, &retries, 200));
    assert!(cluster.run_until(100, |c| c.core(leader).pending() == 0));
    let height = cluster.height(leader);
    assert!(cluster.run_until(500, |c| c.all_at_least(height)));
    let mut acked_ids = acked(&cluster, &all_requests);
    acked_ids.extend(acked(&cluster, &retries));
    let blocks = cluster.assert_consistent();
    for id in cluster.ids() {
        assert_eq!(cluster.height(id), height, "orderer {id} is behind");
    }
    assert_exactly_once(&blocks, &acked_ids);
    // Everything submitted is in the chain now: acknowledged, or retried until it was.
    assert_eq!(tx_ids(&blocks).len(), envelopes.len());
}

#[test]
fn leader_kills_under_message_loss_keep_every_ack_exactly_once() {
    leader_kill_loop(8, 6, 40, 20);
}

#[test]
fn ten_thousand_transactions_through_ten_leader_crashes() {
    leader_kill_loop(11, 10, 1_000, 0);
}

fn config_update_envelope(cluster: &Cluster, tx_max: u32, seq: u64, both_admins: bool) -> Envelope {
    let consortium = &cluster.consortium;
    let mut config = consortium.config.clone();
    config.sequence = 1;
    config.orderer.batch.tx_max = tx_max;
    let mut admins = vec![&consortium.unicom_admin];
    if both_admins {
        admins.push(&consortium.mobile_admin);
    }
    config_update(config, &admins, &consortium.unicom_admin, seq)
}

#[test]
fn config_update_gets_a_block_of_its_own_and_the_new_batch_size_applies() {
    let mut cluster = cluster(9, 1_000);
    let leader = cluster.elect();
    let client = cluster.consortium.unicom_client.clone();
    // One admin is not a majority of the two carriers' admins.
    let lonely = config_update_envelope(&cluster, 10, 900, false);
    let request = cluster.broadcast(leader, lonely);
    assert!(matches!(
        cluster.replies.get(&request),
        Some(Err(BroadcastError::ConfigUpdate(_)))
    ));

    let before = submit(&mut cluster, &client, 0, 5, &[leader]);
    assert!(wait_replies(&mut cluster, &before, 10));
    let follower = cluster.ids().into_iter().find(|id| *id != leader).unwrap();
    let update = cluster.broadcast(follower, config_update_envelope(&cluster, 10, 901, true));
    assert!(cluster.run_until(10, |c| c.replies.contains_key(&update)));
    assert!(
        cluster.replies[&update].is_ok(),
        "{:?}",
        cluster.replies[&update]
    );
    // The open batch is cut first, then the config block alone.
    assert!(cluster.run_until(10, |c| c.all_at_least(3)));
    let after = submit(&mut cluster, &client, 100, 25, &[leader, follower]);
    assert!(wait_replies(&mut cluster, &after, 20));
    assert!(cluster.run_until(30, |c| c.all_at_least(6)));
    let blocks = cluster.assert_consistent();
    let sizes: Vec<usize> = blocks.iter().map(|b| b.data.len()).collect();
    assert_eq!(sizes, vec![1, 5, 1, 10, 10, 5]);
    assert_eq!(blocks[2].metadata.last_config_index, 2);
    assert_eq!(blocks[3].metadata.last_config_index, 2);
    for id in cluster.ids() {
        assert_eq!(cluster.core(id).channel().config.sequence, 1);
        assert_eq!(cluster.core(id).channel().config_block, 2);
    }
    // The same update again is stale: sequence 1 is taken.
    let again = cluster.broadcast(leader, config_update_envelope(&cluster, 10, 902, true));
    assert!(matches!(
        cluster.replies.get(&again),
        Some(Err(BroadcastError::ConfigUpdate(_)))
    ));
}

#[test]
fn leadership_transfers_on_request() {
    let mut cluster = cluster(10, 1_000);
    let leader = cluster.elect();
    let target = cluster.ids().into_iter().find(|id| *id != leader).unwrap();
    cluster.transfer_leader(leader, target);
    assert!(cluster.run_until(50, |c| c.leader() == Some(target)));
    let client = cluster.consortium.unicom_client.clone();
    let requests = submit(&mut cluster, &client, 0, 10, &[leader, target]);
    assert!(wait_replies(&mut cluster, &requests, 20));
    assert_eq!(acked(&cluster, &requests).len(), 10);
}
