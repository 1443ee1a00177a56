//! The two carriers' clouds are really apart: the whole consortium (five Raft orderers,
//! four peers, both nginx DMZ forwarders) runs in three network namespaces
//! (`scripts/clouds.sh`, testkit `clouds`): Unicom's nodes and clients in NAME-unicom
//! (198.18.1.0/24), Mobile's in NAME-mobile (198.18.2.0/24), both forwarders in NAME-dmz
//! (198.18.3.1, 198.18.4.1), which never routes. The contract is defined and a transaction
//! committed at both carriers' peers; then:
//!
//! - (a) from each cloud, a TCP dial to every node address of the other carrier fails,
//!   while the other carrier's DMZ public address and its own nodes answer;
//! - (b) every established connection in each cloud ends inside that cloud or at a DMZ
//!   address (some do), none at the other carrier's, and both forwarders logged
//!   sessions, each from a client in the other cloud to a node in their own;
//! - (c) with a route from Unicom's cloud to Mobile's /24 added through the DMZ by hand,
//!   a direct dial still fails: the DMZ namespace does not forward.
//!
//! Needs root (CI and the test machines run as root). Without it, the test says so and
//! runs on the loopback clouds of `configs/local.toml` (slot 25), checking what makes
//! sense there: the consortium commits across both forwarders and both log sessions.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::{Duration, Instant};

use netsettle_testkit::WAIT_MAX;
use netsettle_testkit::clouds::{Cloud, Clouds, DMZ_MOBILE, DMZ_UNICOM};
use netsettle_testkit::process::{ADMIN_M, Netsettle, ORDERERS, PEERS, Placement};

/// The binary under test.
const NETSETTLE: Netsettle = Netsettle(env!("CARGO_BIN_EXE_netsettle"));

/// This file's loopback range without root: 127.25.x.x.
const SLOT: u8 = 25;

/// Every listening address of each carrier's nodes in namespace mode (node, operations
/// and CA listeners of the rendered `configs/local.toml`).
const UNICOM_NODES: [&str; 11] = [
    "198.18.1.1:7054",
    "198.18.1.10:7050",
    "198.18.1.10:7070",
    "198.18.1.11:7050",
    "198.18.1.11:7070",
    "198.18.1.12:7050",
    "198.18.1.12:7070",
    "198.18.1.20:7060",
    "198.18.1.20:7070",
    "198.18.1.21:7060",
    "198.18.1.21:7070",
];
const MOBILE_NODES: [&str; 9] = [
    "198.18.2.1:7054",
    "198.18.2.10:7050",
    "198.18.2.10:7070",
    "198.18.2.11:7050",
    "198.18.2.11:7070",
    "198.18.2.20:7060",
    "198.18.2.20:7070",
    "198.18.2.21:7060",
    "198.18.2.21:7070",
];

/// How often a wait looks again; only [`WAIT_MAX`] marks failure.
const POLL_PACE: Duration = Duration::from_millis(100);

/// The third octet of each cloud's /24 (198.18.X.0/24).
const UNICOM_NET: u8 = 1;
const MOBILE_NET: u8 = 2;

/// The contract defined (both admins in their own clouds), an agreement proposed by
/// Unicom's admin and committed VALID, and `tx status` from Mobile's cloud showing every
/// peer of both carriers committed it.
fn commit_across(placement: &Placement, dir: &Path) {
    NETSETTLE.define_settlement_at(placement, dir);
    let output = NETSETTLE.propose_at(&placement.unicom, dir);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("code=VALID"),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let tx_id = stdout
        .split_whitespace()
        .find_map(|field| field.strip_prefix("tx="))
        .expect("tx= in the commit line");
    let mut status = vec!["tx", "status"];
    status.extend(ADMIN_M);
    status.extend(["--tx-id", tx_id]);
    let seen = NETSETTLE.ok_at(&placement.mobile, dir, &status);
    assert_eq!(seen.matches("code=VALID").count(), PEERS.len(), "{seen}");
}

/// Both forwarders' access logs: at least one session each, every session of
/// `(log, from_net, to_net)` from a client in cloud `from_net` to a node in `to_net`.
fn dmz_sessions(dir: &Path, logs: [(&str, u8, u8); 2]) {
    for (log, from_net, to_net) in logs {
        let text = std::fs::read_to_string(dir.join(log)).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        assert!(!lines.is_empty(), "{log}: no session logged");
        for line in lines {
            // "<client addr> <public ip:port> <upstream addr> <status> <in> <out>"
            let fields: Vec<&str> = line.split(' ').collect();
            let client: IpAddr = fields[0].parse().unwrap();
            assert!(in_net(client, from_net), "{log}: {line}");
            // A session the client ended before nginx picked the upstream logs "-".
            if fields[2] != "-" {
                let upstream: SocketAddr = fields[2].parse().unwrap();
                assert!(in_net(upstream.ip(), to_net), "{log}: {line}");
            }
        }
    }
}

fn in_net(ip: IpAddr, third_octet: u8) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            (a, b, c) == (198, 18, third_octet)
        }
        IpAddr::V6(_) => false,
    }
}

/// (a): from `from`, every address of the other carrier fails, its DMZ answers, and
/// its own nodes answer.
fn dials_only_through_the_dmz(
    clouds: &Clouds,
    from: Cloud,
    own: &[&str],
    other: &[&str],
    other_dmz: &str,
) {
    for address in own {
        assert!(
            clouds.dials(from, address),
            "{from:?} cannot reach its own {address}"
        );
    }
    for address in other {
        assert!(
            !clouds.dials(from, address),
            "{from:?} reached {address} directly"
        );
    }
    let public = format!("{other_dmz}:7050");
    assert!(
        clouds.dials(from, &public),
        "{from:?} cannot reach {public}"
    );
}

/// (b): every established connection in `cloud` ends in its own /24 or at a DMZ
/// address, and some end at a DMZ address (the carriers' nodes stay connected).
fn connections_stay_home(clouds: &Clouds, cloud: Cloud, own_net: u8) {
    let dmz: [IpAddr; 2] = [DMZ_UNICOM.parse().unwrap(), DMZ_MOBILE.parse().unwrap()];
    let deadline = Instant::now() + WAIT_MAX;
    loop {
        let remotes = clouds.established_remotes(cloud);
        for remote in &remotes {
            assert!(
                in_net(remote.ip(), own_net) || dmz.contains(&remote.ip()),
                "{cloud:?} has a connection to {remote}: {remotes:?}"
            );
        }
        // Outbound through the other carrier's DMZ, or inbound from its own DMZ's
        // upstream side (nginx binds its public address).
        if remotes.iter().any(|remote| dmz.contains(&remote.ip())) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{cloud:?} has no session through a DMZ: {remotes:?}"
        );
        std::thread::sleep(POLL_PACE);
    }
}

fn in_namespaces(dir: &Path) {
    let clouds = Clouds::up(&Clouds::unique_name("cl"));
    let placement = clouds.placement();
    let _consortium = clouds.start_consortium(NETSETTLE, dir, &ORDERERS, &PEERS);
    commit_across(&placement, dir);

    dials_only_through_the_dmz(
        &clouds,
        Cloud::Unicom,
        &UNICOM_NODES,
        &MOBILE_NODES,
        DMZ_MOBILE,
    );
    dials_only_through_the_dmz(
        &clouds,
        Cloud::Mobile,
        &MOBILE_NODES,
        &UNICOM_NODES,
        DMZ_UNICOM,
    );

    connections_stay_home(&clouds, Cloud::Unicom, UNICOM_NET);
    connections_stay_home(&clouds, Cloud::Mobile, MOBILE_NET);
    dmz_sessions(
        dir,
        [
            ("dmz/unicom/access.log", MOBILE_NET, UNICOM_NET),
            ("dmz/mobile/access.log", UNICOM_NET, MOBILE_NET),
        ],
    );

    // (c): an operator's stray route into the DMZ does not open a path: the DMZ
    // namespace (ip_forward=0) drops what is not addressed to it.
    clouds.add_route(Cloud::Unicom, "198.18.2.0/24 via 198.18.0.2");
    assert!(!clouds.dials(Cloud::Unicom, "198.18.2.20:7060"));
    assert!(!clouds.dials(Cloud::Unicom, "198.18.2.10:7050"));
    // The forwarder path still works beside it.
    assert!(clouds.dials(Cloud::Unicom, &format!("{DMZ_MOBILE}:7060")));
}

fn on_loopback(dir: &Path) {
    let _consortium = NETSETTLE.start_consortium(dir, SLOT, &ORDERERS, &PEERS);
    commit_across(&Placement::default(), dir);
    // The forwarders carried the cross-carrier sessions (127.25.x.x: third octet as in
    // namespace mode).
    for log in ["dmz/unicom/access.log", "dmz/mobile/access.log"] {
        let text = std::fs::read_to_string(dir.join(log)).unwrap_or_default();
        assert!(!text.is_empty(), "{log}: no session logged");
    }
}

#[test]
fn the_clouds_meet_only_in_the_dmz_forwarders() {
    let temp = tempfile::tempdir().unwrap();
    match Clouds::available() {
        Ok(()) => in_namespaces(temp.path()),
        Err(why) => {
            eprintln!(
                "{why}: network namespaces unavailable, the loopback clouds of \
                 configs/local.toml are used (slot {SLOT}; no isolation to prove there)"
            );
            on_loopback(temp.path());
        }
    }
}
