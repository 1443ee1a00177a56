//! Helpers shared by the process tests: run the real `netsettle` binary in a directory.

#![allow(dead_code, reason = "each test file uses a different subset")]

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

pub const BIN: &str = env!("CARGO_BIN_EXE_netsettle");
pub const REPO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
/// Upper bound for a node to print its readiness line; only marks failure.
pub const READY_DEADLINE: Duration = Duration::from_secs(60);

pub fn run(dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .output()
        .expect("netsettle runs")
}

/// Runs `netsettle args` and returns its stdout; fails the test with stderr if it fails.
pub fn ok(dir: &Path, args: &[&str]) -> String {
    let output = run(dir, args);
    assert!(
        output.status.success(),
        "netsettle {args:?} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Runs `netsettle args`, expects it to fail, and returns its stderr.
pub fn fails(dir: &Path, args: &[&str]) -> String {
    let output = run(dir, args);
    assert!(
        !output.status.success(),
        "netsettle {args:?} unexpectedly succeeded"
    );
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Both carriers bootstrapped, the roots exchanged and the genesis block written, as in
/// `scripts/demo.sh`.
pub fn consortium(dir: &Path) {
    consortium_with_unicom_spec(dir, &format!("{REPO}/configs/unicom.toml"));
}

/// [`consortium`] with Unicom's CA spec taken from `unicom_spec` (e.g. one with more
/// nodes than the genesis block names).
pub fn consortium_with_unicom_spec(dir: &Path, unicom_spec: &str) {
    let spec = |name: &str| format!("{REPO}/configs/{name}.toml");
    ok(
        dir,
        &[
            "ca",
            "bootstrap",
            "--spec",
            unicom_spec,
            "--out",
            "crypto/unicom",
        ],
    );
    ok(
        dir,
        &[
            "ca",
            "bootstrap",
            "--spec",
            &spec("mobile"),
            "--out",
            "crypto/mobile",
        ],
    );
    ok(
        dir,
        &[
            "msp",
            "export",
            "--msp-dir",
            "crypto/mobile/msp",
            "--out",
            "exchange/mobile-msp",
        ],
    );
    genesis(dir, "orderer0");
}

/// Writes `genesis.block` signed by one of Unicom's orderers.
pub fn genesis(dir: &Path, orderer: &str) {
    genesis_from_profile(dir, orderer, &format!("{REPO}/configs/consortium.toml"));
}

/// Writes `genesis.block` from consortium profile `profile`, signed by one of Unicom's
/// orderers.
pub fn genesis_from_profile(dir: &Path, orderer: &str, profile: &str) {
    let msp = format!("crypto/unicom/orderers/{orderer}.unicom.example/msp");
    ok(
        dir,
        &[
            "configtx",
            "genesis",
            "--profile",
            profile,
            "--base",
            ".",
            "--signer-key",
            &format!("{msp}/keystore/key.pem"),
            "--signer-cert",
            &format!("{msp}/signcerts/cert.pem"),
            "--signer-msp",
            "UnicomMSP",
            "--out",
            "genesis.block",
        ],
    );
}

/// Unicom's admin through Unicom's connection profile (`netsettle tx`, `lifecycle`).
pub const ADMIN_U: [&str; 4] = [
    "--profile",
    "clients/unicommsp.toml",
    "--identity",
    "crypto/unicom/users/admin@unicom.example",
];
/// Mobile's admin through Mobile's connection profile.
pub const ADMIN_M: [&str; 4] = [
    "--profile",
    "clients/mobilemsp.toml",
    "--identity",
    "crypto/mobile/users/admin@mobile.example",
];

/// The rendered layout's orderer processes (`nodes/NAME.toml`): three Unicom, two Mobile.
pub const ORDERERS: [&str; 5] = [
    "unicommsp-orderer0",
    "unicommsp-orderer1",
    "unicommsp-orderer2",
    "mobilemsp-orderer0",
    "mobilemsp-orderer1",
];
/// The rendered layout's peer processes: two per carrier.
pub const PEERS: [&str; 4] = [
    "unicommsp-peer0",
    "unicommsp-peer1",
    "mobilemsp-peer0",
    "mobilemsp-peer1",
];

/// Starts the rendered node `nodes/NAME.toml` and waits for its readiness line.
pub fn start_node(dir: &Path, name: &str) -> Node {
    Node::start(&dir.join(format!("nodes/{name}.toml")))
}

/// The settlement contract's lifecycle through the CLI: both carriers' admins approve,
/// Unicom's commits; each step committed VALID.
pub fn define_settlement(dir: &Path) {
    for (args, function) in [
        (ADMIN_U, "approve"),
        (ADMIN_M, "approve"),
        (ADMIN_U, "commit"),
    ] {
        let mut call = vec!["lifecycle", function];
        call.extend(args);
        let output = ok(dir, &call);
        assert!(output.contains("code=VALID"), "{output}");
    }
}

/// An agreement proposal by Unicom's admin (`netsettle tx invoke`): a real settlement
/// transaction, valid any time after the lifecycle.
pub fn propose(dir: &Path) -> Output {
    let agreement = format!("{REPO}/tests/data/settlement/agreement.json");
    let mut args = vec!["tx", "invoke"];
    args.extend(ADMIN_U);
    args.extend([
        "--contract",
        "settlement",
        "--function",
        "agreement_propose",
        "--arg-file",
        &agreement,
    ]);
    run(dir, &args)
}

/// A running node; killed on drop so a failing test leaves no process behind.
pub struct Node {
    pub child: Child,
    pub ready: String,
}

impl Node {
    pub fn start(config: &Path) -> Node {
        let mut child = Command::new(BIN)
            .args(["node", "--config", config.to_str().unwrap()])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("netsettle node starts");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if line.starts_with("netsettle node ready") {
                    let _ = tx.send(line);
                }
            }
        });
        let ready = match rx.recv_timeout(READY_DEADLINE) {
            Ok(line) => line,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("node {} printed no readiness line", config.display());
            }
        };
        Node { child, ready }
    }

    pub fn field(&self, name: &str) -> String {
        self.ready
            .split(' ')
            .find_map(|part| part.strip_prefix(&format!("{name}=")))
            .unwrap_or_else(|| panic!("no {name}= in {:?}", self.ready))
            .to_owned()
    }

    /// SIGTERM, then wait for a clean exit.
    pub fn stop(mut self) {
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(sent.success());
        let status = self.child.wait().unwrap();
        assert!(status.success(), "node exited with {status}");
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A DMZ forwarder (scripts/dmz.sh → nginx); stopped on drop.
pub struct Forwarder {
    child: Child,
}

impl Forwarder {
    pub fn start(dir: &Path, map: &Path) -> Forwarder {
        let mappings = std::fs::read_to_string(map).unwrap();
        let child = Command::new("bash")
            .arg(format!("{REPO}/scripts/dmz.sh"))
            .arg(dir)
            .args(mappings.lines())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("scripts/dmz.sh starts (needs nginx: scripts/setup.sh installs it)");
        Forwarder { child }
    }
}

impl Drop for Forwarder {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `configs/local.toml` rendered into `dir` on loopback addresses and ports of the test's
/// own: every `127.0.` address moves to `127.{slot}.` and every port gets `prefix` in
/// front (e.g. `"3"`: 7050 becomes 37050), so a test's consortium cannot collide with the
/// demo's or another test's. In use: the demo and consortium.rs slot 0 without prefix,
/// node.rs slot 0 prefix 2, orderer_faults.rs slot 3, peer_gossip.rs slot 7; give each new test
/// file its own slot.
pub fn render_layout(dir: &Path, slot: u8, prefix: &str) {
    let layout = std::fs::read_to_string(format!("{REPO}/configs/local.toml"))
        .unwrap()
        .replace("\"127.0.", &format!("\"127.{slot}."))
        .replace(":7050\"", &format!(":{prefix}7050\""))
        .replace(":7060\"", &format!(":{prefix}7060\""))
        .replace("= 70", &format!("= {prefix}70"))
        .replace(":7054\"", &format!(":{prefix}7054\""));
    std::fs::write(dir.join("layout.toml"), layout).unwrap();
    ok(
        dir,
        &["layout", "render", "--layout", "layout.toml", "--base", "."],
    );
}
