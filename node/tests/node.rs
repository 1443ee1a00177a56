//! `netsettle node --config FILE` with the real binary: start-up checks, the readiness line,
//! the CA role serving enrollments, clean shutdown on SIGTERM, and restart on the same
//! ledger. Every node listens on 127.0.0.1 port 0.

use netsettle_testkit::WAIT_MAX;
use netsettle_testkit::process::{Forwarder, Netsettle, Process};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

/// The binary under test.
const NETSETTLE: Netsettle = Netsettle(env!("CARGO_BIN_EXE_netsettle"));

fn write_config(dir: &Path, file: &str, identity: &str, extra: &str) -> PathBuf {
    let path = dir.join(file);
    std::fs::write(
        &path,
        format!(
            "name = \"peer0.unicom.example\"\n\
             data_dir = \"data/peer0\"\n\
             [identity]\nmsp_id = \"UnicomMSP\"\ndir = \"{identity}\"\n\
             [channel]\nname = \"settlement\"\ngenesis = \"genesis.block\"\n{extra}"
        ),
    )
    .unwrap();
    path
}

#[test]
fn node_starts_serves_its_ca_role_stops_and_restarts_on_its_ledger() {
    let dir = tempfile::tempdir().unwrap();
    NETSETTLE.consortium(dir.path());
    let peer = "crypto/unicom/peers/peer0.unicom.example";
    let config = write_config(
        dir.path(),
        "peer0.toml",
        peer,
        "[ca]\ndir = \"crypto/unicom/ca\"\nlisten = \"127.0.0.1:0\"\n",
    );

    let node = NETSETTLE.node(&config);
    assert_eq!(node.field("roles"), "ca");
    assert_eq!(node.field("height"), "1");
    assert_eq!(node.field("channel"), "settlement");
    let ca_address = node.field("ca");

    // The CA role answers: the bootstrap admin registers and a new client enrolls.
    let admin = "crypto/unicom/users/admin@unicom.example";
    let server = [
        "--ca",
        &ca_address,
        "--server-name",
        "ca.unicom.example",
        "--ca-cert",
        "crypto/unicom/msp/cacerts/ca.pem",
    ];
    let mut register = vec!["ca", "register"];
    register.extend(server);
    register.extend(["--identity", admin, "--name", "billing", "--role", "client"]);
    let secret = NETSETTLE.ok(dir.path(), &register);
    let secret = secret.trim().to_owned();
    let mut enroll = vec!["ca", "enroll"];
    enroll.extend(server);
    enroll.extend(["--name", "billing", "--secret", &secret, "--out", "billing"]);
    NETSETTLE.ok(dir.path(), &enroll);
    assert!(dir.path().join("billing/msp/signcerts/cert.pem").is_file());
    node.stop();

    // Restart on the same ledger: still one block, no second genesis.
    let node = NETSETTLE.node(&config);
    assert_eq!(node.field("height"), "1");
    node.stop();
}

#[test]
fn node_refuses_a_foreign_identity_a_foreign_ledger_and_a_bad_config() {
    let dir = tempfile::tempdir().unwrap();
    NETSETTLE.consortium(dir.path());

    // An identity from a CA the channel does not know.
    let stranger = dir.path().join("stranger");
    NETSETTLE.ok(
        dir.path(),
        &[
            "ca",
            "init",
            "--dir",
            stranger.to_str().unwrap(),
            "--org",
            "StrangerMSP",
            "--name",
            "ca.stranger",
        ],
    );
    let config = write_config(
        dir.path(),
        "stranger.toml",
        stranger.join("admin").to_str().unwrap(),
        "",
    );
    let output = NETSETTLE.run(dir.path(), &["node", "--config", config.to_str().unwrap()]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("not valid in channel settlement"),
        "{stderr}"
    );

    // A ledger that began with another genesis block.
    let peer = "crypto/unicom/peers/peer0.unicom.example";
    let config = write_config(dir.path(), "peer0.toml", peer, "");
    let node = NETSETTLE.node(&config);
    node.stop();
    // Another genesis block for the same channel (signed by another orderer).
    NETSETTLE.genesis(dir.path(), "orderer1");
    let output = NETSETTLE.run(dir.path(), &["node", "--config", config.to_str().unwrap()]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("belongs to another channel"), "{stderr}");

    // A misspelt key.
    std::fs::write(
        dir.path().join("typo.toml"),
        "name = \"x\"\ndatadir = \"d\"\n",
    )
    .unwrap();
    let output = NETSETTLE.run(dir.path(), &["node", "--config", "typo.toml"]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("datadir"), "{stderr}");
}

/// Waits until `file` holds a line containing `needle`; the deadline only marks failure.
fn wait_for_line(file: &Path, needle: &str) {
    let deadline = std::time::Instant::now() + WAIT_MAX;
    loop {
        if std::fs::read_to_string(file).is_ok_and(|text| text.contains(needle)) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{} never showed {needle:?}",
            file.display()
        );
        // Polling a log file: there is no event to block on from another process.
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn layout_routes_the_other_carrier_through_its_dmz_and_nodes_connect() {
    let dir = tempfile::tempdir().unwrap();
    NETSETTLE.consortium(dir.path());
    // Ports of its own, so the test cannot collide with a running demo.
    NETSETTLE.render_layout(dir.path(), 0, "2");

    let config = std::fs::read_to_string(dir.path().join("nodes/unicommsp-peer0.toml")).unwrap();
    assert!(config.contains("listen = \"127.0.1.20:27060\""), "{config}");
    assert!(
        config.contains("external = \"127.0.3.1:27060\""),
        "{config}"
    );
    // Unicom's own orderer inside the cloud, Mobile's peer through Mobile's DMZ.
    assert!(
        config.contains("address = \"127.0.1.10:27050\""),
        "{config}"
    );
    assert!(config.contains("address = \"127.0.4.1:27060\""), "{config}");
    assert!(!config.contains("127.0.2."), "{config}");
    let dmz_map = std::fs::read_to_string(dir.path().join("dmz/MobileMSP.map")).unwrap();
    assert!(
        dmz_map.contains("127.0.4.1:27060=127.0.2.20:27060"),
        "{dmz_map}"
    );

    let _dmz = Forwarder::both(dir.path());
    let start_logged = |name: &str| {
        let log = dir.path().join(format!("{name}.log"));
        let mut command = NETSETTLE.command();
        command
            .args(["node", "--config", &format!("nodes/{name}.toml")])
            .current_dir(dir.path())
            .env("NETSETTLE_LOG", "info")
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap());
        (Process::spawn(command), log)
    };
    let (unicom, unicom_log) = start_logged("unicommsp-peer0");
    let (mobile, mobile_log) = start_logged("mobilemsp-peer0");
    let mobile_id = NETSETTLE.ok(
        dir.path(),
        &[
            "net",
            "id",
            "--cert",
            "crypto/mobile/peers/peer0.mobile.example/tls/cert.pem",
        ],
    );
    let unicom_id = NETSETTLE.ok(
        dir.path(),
        &[
            "net",
            "id",
            "--cert",
            "crypto/unicom/peers/peer0.unicom.example/tls/cert.pem",
        ],
    );
    wait_for_line(&unicom_log, &format!("connected node={}", mobile_id.trim()));
    wait_for_line(&mobile_log, &format!("connected node={}", unicom_id.trim()));
    // The cross-carrier connection went through a forwarder; nginx logs a session when
    // it ends, so stop the nodes first.
    drop(unicom);
    drop(mobile);
    let sessions = [
        (dir.path().join("dmz/unicom/access.log"), "127.0.1.20:27060"),
        (dir.path().join("dmz/mobile/access.log"), "127.0.2.20:27060"),
    ];
    let deadline = std::time::Instant::now() + WAIT_MAX;
    while !sessions.iter().any(|(log, upstream)| {
        std::fs::read_to_string(log).is_ok_and(|text| text.contains(upstream))
    }) {
        assert!(
            std::time::Instant::now() < deadline,
            "no DMZ forwarder logged a session to a peer"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn an_oversize_argument_file_is_refused_before_anything_is_sent() {
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.bin");
    // Sparse: one byte over the protocol's argument limit, without writing 32 MiB.
    let file = std::fs::File::create(&big).unwrap();
    let limit = u64::try_from(netsettle_protocol::limits::ARGS_BYTES_MAX).unwrap();
    file.set_len(limit + 1).unwrap();
    let output = NETSETTLE.run(
        dir.path(),
        &[
            "tx",
            "invoke",
            "--profile",
            "none.toml",
            "--identity",
            "none",
            "--contract",
            "settlement",
            "--function",
            "upload",
            "--arg-file",
            "big.bin",
        ],
    );
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("-byte limit"), "{stderr}");
}
