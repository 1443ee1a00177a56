//! Ordering with consenters down, as real processes: the whole consortium (5 Raft
//! orderers, 4 peers, both DMZ forwarders) on ports of its own; with 2 of 5 orderers
//! killed (`kill -9`) transactions still commit; with 3 killed the client gets a clear
//! error and nothing commits; with one restarted (from its own Raft log) ordering resumes.

mod common;
use common::{
    Forwarder, Node, ORDERERS, PEERS, consortium, define_settlement, propose, render_layout,
    start_node,
};

fn kill(node: Node) {
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
    consortium(dir);
    render_layout(dir, 3, "3");
    let _unicom_dmz = Forwarder::start(&dir.join("dmz/unicom"), &dir.join("dmz/UnicomMSP.map"));
    let _mobile_dmz = Forwarder::start(&dir.join("dmz/mobile"), &dir.join("dmz/MobileMSP.map"));
    let mut orderers: Vec<Option<Node>> = ORDERERS
        .iter()
        .map(|name| Some(start_node(dir, name)))
        .collect();
    let _peers: Vec<Node> = PEERS.iter().map(|name| start_node(dir, name)).collect();

    define_settlement(dir);
    assert_committed(&propose(dir));

    // Two of five down (one per carrier): a majority of three remains.
    kill(orderers[0].take().unwrap());
    kill(orderers[3].take().unwrap());
    assert_committed(&propose(dir));

    // Three down: no quorum. The client retries, then reports the orderers' answer.
    kill(orderers[1].take().unwrap());
    let refused = propose(dir);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("broadcast failed") && stderr.contains("ServiceUnavailable"),
        "{stderr}"
    );

    // One back, from its own Raft log: three of five again, ordering resumes.
    orderers[3] = Some(start_node(dir, "mobilemsp-orderer0"));
    assert_committed(&propose(dir));
}
