//! The SDK passes over a carrier's peer that is down, as real processes: the whole
//! consortium (5 Raft orderers, 4 peers, both DMZ forwarders) on loopback slot 30; with
//! Unicom's first peer killed (`kill -9`) a `tx invoke` (`Gateway::submit`) still commits,
//! endorsed and awaited at Unicom's second peer; with both of Unicom's peers killed the
//! client fails with an error naming Unicom, and nothing is ordered.

use netsettle_testkit::process::{Forwarder, Netsettle, ORDERERS, PEERS, Process};

/// The binary under test.
const NETSETTLE: Netsettle = Netsettle(env!("CARGO_BIN_EXE_netsettle"));

/// This file's loopback slot (`Netsettle::render_layout`).
const SLOT: u8 = 30;

fn output_of(output: &std::process::Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn assert_committed(output: &std::process::Output) {
    let text = output_of(output);
    assert!(
        output.status.success() && text.contains("code=VALID"),
        "{text}"
    );
}

#[test]
fn a_carriers_first_peer_down_is_passed_over_and_none_up_names_the_carrier() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    NETSETTLE.consortium(dir);
    NETSETTLE.render_layout(dir, SLOT, "");
    let _dmz = Forwarder::both(dir);
    let _orderers: Vec<Process> = ORDERERS
        .iter()
        .map(|name| NETSETTLE.start_node(dir, name))
        .collect();
    let mut peers: Vec<Option<Process>> = PEERS
        .iter()
        .map(|name| Some(NETSETTLE.start_node(dir, name)))
        .collect();
    NETSETTLE.define_settlement(dir);
    assert_committed(&NETSETTLE.propose(dir));

    // Unicom's first peer down (SIGKILL and reap): its second endorses and is waited on.
    assert_eq!(PEERS[0], "unicommsp-peer0");
    drop(peers[0].take());
    assert_committed(&NETSETTLE.propose(dir));

    // Both of Unicom's peers down: refused before ordering, naming the carrier.
    assert_eq!(PEERS[1], "unicommsp-peer1");
    drop(peers[1].take());
    let refused = NETSETTLE.propose(dir);
    let text = output_of(&refused);
    assert!(!refused.status.success(), "{text}");
    assert!(
        text.contains("no UnicomMSP peer reachable (2 tried"),
        "{text}"
    );
}
