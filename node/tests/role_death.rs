//! A role that dies ends the node: an orderer whose storage fails after the readiness line,
//! or a peer whose ledger does, exits non-zero and says why, instead of staying up with a
//! dead orderer core or committer.
//!
//! The failure is a real one: once the node is ready, its file size limit drops to zero
//! (`prlimit`), so the next write to its Raft log or chain fails with `EFBIG` (`SIGXFSZ`
//! is ignored, as `trap '' XFSZ` leaves it across `exec`). The write comes from the
//! single consenter's election or from a broadcast sent right after, whichever is first;
//! for the peer, from committing the block that broadcast ends up in.

use std::io::{BufRead as _, BufReader, Read as _};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use netsettle_testkit::WAIT_MAX;
use netsettle_testkit::orderers::Client;
use netsettle_testkit::process::{Netsettle, REPO};

/// The binary under test.
const NETSETTLE: Netsettle = Netsettle(env!("CARGO_BIN_EXE_netsettle"));

/// Loopback slot and port prefix of this file's consortium (see `render_layout`).
const SLOT: u8 = 12;
/// Upper bound for the node to exit after its storage failed; only marks failure.
const EXIT_DEADLINE: Duration = Duration::from_secs(60);

/// The consortium profile with Unicom's orderer0 as the only consenter, so one process
/// orders on its own.
fn single_consenter_profile(dir: &Path) -> String {
    let text = std::fs::read_to_string(format!("{REPO}/configs/consortium.toml")).unwrap();
    let mut parts = text.split("\n[[consenters]]");
    let head = parts.next().unwrap();
    let first = parts.next().unwrap();
    let path = dir.join("single-consenter.toml");
    std::fs::write(&path, format!("{head}\n[[consenters]]{first}")).unwrap();
    path.to_str().unwrap().to_owned()
}

#[test]
fn an_orderer_whose_storage_fails_after_ready_exits_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    single_consenter_consortium(dir, "");

    let node = LimitedNode::start(&dir.join("nodes/unicommsp-orderer0.toml"));
    assert!(node.ready.contains("orderer=consenter-1"), "{}", node.ready);
    node.limit_file_size();

    // A broadcast makes the orderer write, unless its election already failed to.
    let client = Client::connect(dir);
    let _ = client.broadcast_to(0, &client.envelope(0));

    let stderr = node.wait_exit("the orderer kept running with failed storage");
    client.close();
    assert!(
        stderr.contains("error: orderer role: orderer core stopped"),
        "the node did not say why it stopped:\n{stderr}"
    );
}

#[test]
fn a_peer_whose_ledger_fails_after_ready_exits_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    single_consenter_consortium(dir, "1");
    let _orderer = NETSETTLE.start_node(dir, "unicommsp-orderer0");

    let peer = LimitedNode::start(&dir.join("nodes/unicommsp-peer0.toml"));
    assert!(peer.ready.contains("peer=on"), "{}", peer.ready);
    peer.limit_file_size();

    // The next block cannot be written to the peer's ledger: its committer fails.
    let client = Client::connect(dir);
    let outcome = client.submit_blocking(&client.envelope(0));
    assert!(
        outcome.landed.is_ok(),
        "the orderer did not take the envelope: {:?}",
        outcome.landed
    );

    let stderr = peer.wait_exit("the peer kept running with a failed ledger");
    client.close();
    assert!(
        stderr.contains("error: peer role: committer stopped"),
        "the node did not say why it stopped:\n{stderr}"
    );
}

/// The consortium rendered on this file's slot (each test with its own port `prefix`), with Unicom's orderer0 the only consenter.
fn single_consenter_consortium(dir: &Path, prefix: &str) {
    NETSETTLE.consortium(dir);
    let profile = single_consenter_profile(dir);
    NETSETTLE.genesis_from_profile(dir, "orderer0", &profile);
    NETSETTLE.render_layout(dir, SLOT, prefix);
}

/// A node process whose file size limit the test can drop to zero once it is ready.
struct LimitedNode {
    pid: u32,
    /// Its readiness line.
    ready: String,
    exit: mpsc::Receiver<std::process::ExitStatus>,
    waiter: std::thread::JoinHandle<()>,
    stderr: std::thread::JoinHandle<String>,
}

impl LimitedNode {
    /// Starts `netsettle node --config CONFIG` with `SIGXFSZ` ignored (so a write over the
    /// limit fails with `EFBIG` instead of killing the process) and waits for readiness.
    fn start(config: &Path) -> LimitedNode {
        let mut child = Command::new("bash")
            .args([
                "-c",
                "trap '' XFSZ; exec \"$0\" node --config \"$1\"",
                NETSETTLE.0,
            ])
            .arg(config)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("bash starts the node");
        let pid = child.id();
        let stdout = child.stdout.take().unwrap();
        let (ready_tx, ready_rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if line.starts_with("netsettle node ready") {
                    let _ = ready_tx.send(line);
                }
            }
        });
        let mut stderr = child.stderr.take().unwrap();
        let stderr = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            text
        });
        let (exit_tx, exit) = mpsc::channel();
        let waiter = std::thread::spawn(move || {
            let status = child.wait().unwrap();
            let _ = exit_tx.send(status);
        });
        let ready = ready_rx
            .recv_timeout(WAIT_MAX)
            .unwrap_or_else(|_| kill_and_fail(pid, "the node printed no readiness line"));
        LimitedNode {
            pid,
            ready,
            exit,
            waiter,
            stderr,
        }
    }

    /// From now on every write that grows a file fails.
    fn limit_file_size(&self) {
        let limited = Command::new("prlimit")
            .args(["--pid", &self.pid.to_string(), "--fsize=0:0"])
            .status()
            .expect("prlimit runs (util-linux)");
        assert!(limited.success(), "prlimit failed");
    }

    /// Waits for the node to exit non-zero and returns its stderr; `reason` if it does not.
    fn wait_exit(self, reason: &str) -> String {
        let Ok(status) = self.exit.recv_timeout(EXIT_DEADLINE) else {
            let _ = Command::new("kill")
                .args(["-KILL", &self.pid.to_string()])
                .status();
            self.waiter.join().unwrap();
            let stderr = self.stderr.join().unwrap();
            panic!("{reason}; its log:\n{stderr}");
        };
        self.waiter.join().unwrap();
        let stderr = self.stderr.join().unwrap();
        assert!(!status.success(), "the node exited with {status}");
        stderr
    }
}

/// Kills the node (so no process outlives the test) and fails with `reason`.
fn kill_and_fail(pid: u32, reason: &str) -> ! {
    let _ = Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status();
    panic!("{reason}");
}
