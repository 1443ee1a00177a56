//! A wiped orderer (its data directory deleted) rejoins and catches up through a Raft
//! snapshot (snapshots every 250 entries, so the leader has compacted the log it would
//! need) and blocks fetched from another orderer, checked for a consenter's signature;
//! then it orders with the others and ends with the same block hashes (`netsettle ledger
//! compare`). Five orderer processes (no peers), loopback slot 6.

use netsettle_testkit::orderers::{
    Client, Load, Orderers, assert_exactly_once, with_orderer_option,
};
use netsettle_testkit::process::Netsettle;

/// The binary under test.
const NETSETTLE: Netsettle = Netsettle(env!("CARGO_BIN_EXE_netsettle"));

#[test]
fn a_wiped_orderer_catches_up_through_a_snapshot() {
    let mut orderers = Orderers::start(
        NETSETTLE,
        6,
        "5",
        with_orderer_option("snapshot_interval_entries", "250"),
    );
    let client = Client::connect(orderers.path());
    let leader = client.wait_leader(None);
    let mut outcomes = Load::start(&client, 200, 64, 256).finish(&client);

    let wiped = orderers.ids().into_iter().find(|id| *id != leader).unwrap();
    orderers.kill(wiped);
    std::fs::remove_dir_all(orderers.data_dir(wiped)).unwrap();
    // Enough entries for the others to snapshot and compact past what the wiped one has.
    // Broadcasts that arrive together share Raft entries, so how many entries a load
    // makes depends on timing: load in rounds until every other orderer snapshotted again
    // (bounded: the round count only marks failure).
    let others: Vec<u64> = orderers
        .ids()
        .into_iter()
        .filter(|id| *id != wiped)
        .collect();
    let snapshotted = |statuses: &std::collections::BTreeMap<u64, _>| {
        others.iter().all(|id| {
            statuses
                .get(id)
                .is_some_and(|s: &netsettle_protocol::OrdererStatus| s.snapshot_index > 250)
        })
    };
    for _ in 0..20 {
        outcomes.extend(Load::start(&client, 300, 64, 256).finish(&client));
        if snapshotted(&client.statuses()) {
            break;
        }
    }
    let statuses = client.wait_status("no snapshot taken", |statuses| {
        others
            .iter()
            .all(|id| statuses.get(id).is_some_and(|s| s.snapshot_index > 250))
    });
    eprintln!("leader snapshot at {}", statuses[&leader].snapshot_index);

    orderers.restart(wiped);
    let ids = orderers.ids();
    let height = client.wait_settled(&ids);
    let statuses = client.statuses();
    // It restored from a snapshot (a wiped node replaying the log would have none yet).
    assert!(
        statuses[&wiped].snapshot_index > 0,
        "{:#?}",
        statuses[&wiped]
    );
    // And it orders with the others.
    outcomes.extend(Load::start(&client, 100, 32, 256).finish(&client));
    assert!(client.wait_settled(&ids) > height);
    Client::close(client);
    orderers.stop_all();

    assert_exactly_once(&outcomes, &orderers.chain_tx_ids(wiped));
    orderers.assert_same_blocks(leader);
}
