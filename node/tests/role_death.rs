//! A role that dies ends the node: an orderer whose storage fails after the readiness line
//! exits non-zero and says why, instead of staying up with a dead orderer core.
//!
//! The failure is a real one: once the node is ready, its file size limit drops to zero
//! (`prlimit`), so the next write to its Raft log or chain fails with `EFBIG` (`SIGXFSZ`
//! is ignored, as `trap '' XFSZ` leaves it across `exec`). The write comes from the
//! single consenter's election or from a broadcast sent right after, whichever is first.

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
    NETSETTLE.consortium(dir.path());
    let profile = single_consenter_profile(dir.path());
    NETSETTLE.genesis_from_profile(dir.path(), "orderer0", &profile);
    NETSETTLE.render_layout(dir.path(), SLOT, "");
    let config = dir.path().join("nodes/unicommsp-orderer0.toml");

    let mut child = Command::new("bash")
        .args([
            "-c",
            "trap '' XFSZ; exec \"$0\" node --config \"$1\"",
            NETSETTLE.0,
        ])
        .arg(&config)
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
    let stderr_reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let (exit_tx, exit_rx) = mpsc::channel();
    let waiter = std::thread::spawn(move || {
        let status = child.wait().unwrap();
        let _ = exit_tx.send(status);
    });

    let ready = ready_rx
        .recv_timeout(WAIT_MAX)
        .unwrap_or_else(|_| kill_and_fail(pid, "the orderer printed no readiness line"));
    assert!(ready.contains("orderer=consenter-1"), "{ready}");

    let limited = Command::new("prlimit")
        .args(["--pid", &pid.to_string(), "--fsize=0:0"])
        .status()
        .expect("prlimit runs (util-linux)");
    assert!(limited.success(), "prlimit failed");

    // A broadcast makes the orderer write, unless its election already failed to.
    let client = Client::connect(dir.path());
    let _ = client.broadcast_to(0, &client.envelope(0));

    let status = exit_rx
        .recv_timeout(EXIT_DEADLINE)
        .unwrap_or_else(|_| kill_and_fail(pid, "the orderer kept running with failed storage"));
    waiter.join().unwrap();
    client.close();
    let stderr = stderr_reader.join().unwrap();
    assert!(!status.success(), "the node exited with {status}");
    assert!(
        stderr.contains("error: orderer role: orderer core stopped"),
        "the node did not say why it stopped:\n{stderr}"
    );
}

/// Kills the node (so no process outlives the test) and fails with `reason`.
fn kill_and_fail(pid: u32, reason: &str) -> ! {
    let _ = Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status();
    panic!("{reason}");
}
