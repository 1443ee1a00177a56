//! Ordering with consenters down, as real processes: the whole consortium (5 Raft
//! orderers, 4 peers, both DMZ forwarders) on ports of its own; with 2 of 5 orderers
//! killed (`kill -9`) transactions still commit; with 3 killed the client gets a clear
//! error and nothing commits; with one restarted (from its own Raft log) ordering resumes.

use netsettle_testkit::process::{Forwarder, Netsettle, ORDERERS, PEERS, Process};

/// The binary under test.
const NETSETTLE: Netsettle = Netsettle(env!("CARGO_BIN_EXE_netsettle"));

fn kill(node: Process) {
    drop(node); // SIGKILL and reap
}

fn assert_committed(output: &std::process::Output) {
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("code=VALID"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn ordering_survives_two_orderers_down_stops_at_three_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    NETSETTLE.consortium(dir);
    NETSETTLE.render_layout(dir, 3, "3");
    let _dmz = Forwarder::both(dir);
    let mut orderers: Vec<Option<Process>> = ORDERERS
        .iter()
        .map(|name| Some(NETSETTLE.start_node(dir, name)))
        .collect();
    let _peers: Vec<Process> = PEERS
        .iter()
        .map(|name| NETSETTLE.start_node(dir, name))
        .collect();

    NETSETTLE.define_settlement(dir);
    assert_committed(&NETSETTLE.propose(dir));

    // Two of five down (one per carrier): a majority of three remains.
    kill(orderers[0].take().unwrap());
    kill(orderers[3].take().unwrap());
    assert_committed(&NETSETTLE.propose(dir));

    // Three down: no quorum. The client retries, then reports the orderers' answer.
    kill(orderers[1].take().unwrap());
    let refused = NETSETTLE.propose(dir);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("broadcast failed") && stderr.contains("ServiceUnavailable"),
        "{stderr}"
    );

    // One back, from its own Raft log: three of five again, ordering resumes.
    orderers[3] = Some(NETSETTLE.start_node(dir, "mobilemsp-orderer0"));
    assert_committed(&NETSETTLE.propose(dir));
}
