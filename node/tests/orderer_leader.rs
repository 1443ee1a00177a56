//! Killing the current Raft leader, found through the orderers' status service, while a
//! client has broadcasts in flight: a new leader is elected, ordering continues, and
//! every pending submission either landed exactly once or got an error that is safe to
//! retry; retried, it lands exactly once or is refused as a duplicate of the attempt that
//! had landed. Then `netsettle orderer transfer-leader` hands leadership back to the
//! restarted orderer and `netsettle orderer status` shows it. Five orderer processes (no
//! peers) behind both DMZ forwarders, loopback slot 5.

use netsettle_testkit::orderers::{Client, Landed, Load, Orderers, assert_exactly_once};
use netsettle_testkit::process::{ADMIN_M, ADMIN_U, Netsettle};

/// The binary under test.
const NETSETTLE: Netsettle = Netsettle(env!("CARGO_BIN_EXE_netsettle"));

#[test]
fn killing_the_leader_mid_load_loses_and_duplicates_nothing() {
    let mut orderers = Orderers::start(NETSETTLE, 5, "5", |text| text.to_owned());
    let client = Client::connect(orderers.path());
    let leader = client.wait_leader(None);

    let mut load = Load::start(&client, 600, 64, 512);
    load.wait_landed(&client, 150);
    orderers.kill(leader);
    let new_leader = client.wait_leader(Some(leader));
    assert_ne!(new_leader, leader);
    // Ordering continues under the new leader while the old one is down.
    let landed_at_election = load.landed();
    load.wait_landed(&client, landed_at_election + 100);
    let outcomes = load.finish(&client);

    orderers.restart(leader);
    let ids = orderers.ids();
    client.wait_settled(&ids);
    let statuses = client.statuses();
    assert!(
        statuses.values().all(|s| s.leader_id == new_leader),
        "{statuses:#?}"
    );

    // The operator's view: hand leadership back to the restarted orderer, and see it.
    // Only an admin of the leading orderer's carrier may (Unicom runs consenters 1-3).
    let admin = if new_leader <= 3 { ADMIN_U } else { ADMIN_M };
    let to = leader.to_string();
    let mut transfer = vec!["orderer", "transfer-leader", "--to", &to];
    transfer.extend(admin);
    let output = NETSETTLE.ok(orderers.path(), &transfer);
    assert!(
        output.contains(&format!("to consenter {leader}")),
        "{output}"
    );
    let mut refused = vec!["orderer", "transfer-leader", "--to", "9"];
    refused.extend(admin);
    let stderr = NETSETTLE.fails(orderers.path(), &refused);
    assert!(
        stderr.contains("consenter 9 is not a Raft voter"),
        "{stderr}"
    );
    let mut status = vec!["orderer", "status"];
    status.extend(admin);
    let output = NETSETTLE.ok(orderers.path(), &status);
    assert_eq!(output.lines().count(), 5, "{output}");
    for line in output.lines() {
        assert!(
            line.contains(&format!(" leader={leader} ")) && line.contains("voters=1,2,3,4,5"),
            "{line}"
        );
    }
    Client::close(client);
    orderers.stop_all();

    let retried = outcomes.iter().filter(|o| o.attempts > 1).count();
    let duplicates = outcomes
        .iter()
        .filter(|o| o.landed == Ok(Landed::DuplicateOnRetry))
        .count();
    eprintln!(
        "{} submissions, {retried} retried, {duplicates} refused as duplicates of a landed attempt",
        outcomes.len()
    );
    assert!(
        retried > 0,
        "no submission was in flight at the leader when it died"
    );
    for outcome in outcomes.iter().filter(|o| o.attempts > 1) {
        for error in &outcome.retried_after {
            assert!(!error.is_empty());
        }
    }
    assert_exactly_once(&outcomes, &orderers.chain_tx_ids(new_leader));
    orderers.assert_same_blocks(new_leader);
}
