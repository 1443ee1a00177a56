//! `scripts/network.sh`'s operator commands on one real consortium (network namespaces as
//! root, else loopback ranges; the namespaces named `nt` + this process's id so they never
//! meet the demo's `settle-*`): `up`; `status` (every process up, every node's /readyz
//! 200, both gateways answering); the refusals, each with its message and a non-zero exit
//! and nothing changed (an unknown process or carrier, usage errors, a clouds mode other
//! than the consortium's, a mistyped `down` flag, a second `up` while this consortium
//! holds the addresses, under another namespace prefix or the same, or in a directory
//! holding something else, and a copy of this consortium whose `down` must leave it
//! running); `stop NAME --kill` and `status` showing it down; a transaction committed
//! while it is down, then `start NAME` and the node catching up; `stop NAME` (TERM) on a
//! peer0, `status` showing its gateway down, and `up` on the running consortium starting
//! only it; `logs NAME` followed to the readiness line and `logs` to the last file's
//! header, each then killed; `exec` running in the carrier's cloud from the network directory
//! with the command's exit code; `down` twice (idempotent), `status` after it, `up` again
//! from the data at the same heights, `down --purge`. A guard runs `down --purge` (and
//! `clouds.sh down` for this test's prefix) whatever happens. Needs nginx.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use netsettle_testkit::process::{Netsettle, REPO};

/// The binary under test.
const NETSETTLE: Netsettle = Netsettle(env!("CARGO_BIN_EXE_netsettle"));

/// The processes `up` starts, in its order.
const PROCESSES: [&str; 13] = [
    "unicommsp-orderer0",
    "unicommsp-orderer1",
    "unicommsp-orderer2",
    "unicommsp-peer0",
    "unicommsp-peer1",
    "dmz-unicom",
    "mobilemsp-orderer0",
    "mobilemsp-orderer1",
    "mobilemsp-peer0",
    "mobilemsp-peer1",
    "dmz-mobile",
    "console-unicom",
    "console-mobile",
];

/// The nodes (those with an operations listener, so a height and a /readyz).
const NODES: usize = 9;

/// Unicom's settlement user, as `exec` arguments relative to the network directory.
const UNICOM: [&str; 4] = [
    "--profile",
    "clients/unicommsp.toml",
    "--identity",
    "crypto/unicom/users/settlement@unicom.example",
];

/// Deadline for the killed node to catch up (it waits for blocks, not for this).
const CATCH_UP: Duration = Duration::from_secs(30);

/// Deadline for `logs` to show the readiness line.
const LOGS: Duration = Duration::from_secs(10);

/// One consortium directory and its namespace prefix; dropping it runs `down --purge`.
struct Network {
    dir: tempfile::TempDir,
    name: String,
}

impl Network {
    fn new() -> Network {
        let pid = std::process::id().to_string();
        let digits = pid.get(pid.len().saturating_sub(6)..).unwrap_or("0");
        Network {
            dir: tempfile::tempdir().unwrap(),
            name: format!("nt{digits}"),
        }
    }

    fn path(&self) -> PathBuf {
        self.dir.path().join("net")
    }

    /// `network.sh ARGS` on this network (the script bounds its own waits).
    fn command(&self, args: &[&str]) -> Command {
        network_command(&self.path(), &self.name, args)
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("bash runs")
    }

    /// Runs `network.sh ARGS`, asserting success; its stdout.
    fn ok(&self, args: &[&str]) -> String {
        let output = self.run(args);
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(
            output.status.success(),
            "network.sh {args:?} failed:\n{stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        stdout
    }

    /// The clouds mode the consortium was made in (`DIR/clouds`: MODE NAME).
    fn mode(&self) -> String {
        let clouds = std::fs::read_to_string(self.path().join("clouds")).unwrap();
        clouds.split_whitespace().next().unwrap().to_owned()
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        // Stops every process, removes the directory, deletes the namespaces (idempotent).
        let _ = self.run(&["down", "--purge"]);
        // Namespaces a failure left behind (the prefix is this test's alone; without root
        // clouds.sh refuses, and there are none).
        let _ = Command::new("bash")
            .arg(format!("{REPO}/scripts/clouds.sh"))
            .args(["down", &self.name])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .output();
    }
}

fn network_command(dir: &Path, name: &str, args: &[&str]) -> Command {
    let mut command = Command::new("bash");
    command
        .arg(format!("{REPO}/scripts/network.sh"))
        .args(args)
        .env("NETSETTLE_BIN", NETSETTLE.0)
        .env("NETSETTLE_NETWORK_DIR", dir)
        .env("NETSETTLE_CLOUDS_NAME", name)
        .env("NETSETTLE_WAIT_SECONDS", "60")
        .env_remove("NETSETTLE_CLOUDS")
        .stdin(Stdio::null());
    command
}

/// Asserts OUTPUT failed with MESSAGE in its stderr.
fn refused(output: &Output, message: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success(),
        "not refused: {}\n{stderr}",
        String::from_utf8_lossy(&output.stdout)
    );
    assert!(stderr.contains(message), "no '{message}' in: {stderr}");
}

/// The `status` line of process NAME.
fn status_line<'a>(status: &'a str, name: &str) -> &'a str {
    status
        .lines()
        .find(|line| line.split_whitespace().next() == Some(name))
        .unwrap_or_else(|| panic!("no status line for {name}:\n{status}"))
}

/// The `height=` a status line shows (None: `-`).
fn height(status: &str, name: &str) -> Option<u64> {
    status_line(status, name)
        .split_whitespace()
        .find_map(|field| field.strip_prefix("height="))
        .and_then(|value| value.parse().ok())
}

/// The value of KEY (e.g. `pid=`) in a status line.
fn field<'a>(line: &'a str, key: &str) -> &'a str {
    line.split_whitespace()
        .find_map(|field| field.strip_prefix(key))
        .unwrap_or_else(|| panic!("no {key} in {line}"))
}

#[test]
fn network_sh_operates_a_running_consortium() {
    let network = Network::new();
    let up = network.ok(&["up"]);
    let mode = network.mode();
    if mode == "netns" {
        assert!(
            up.contains(&format!(
                "network namespaces {0}-unicom, {0}-mobile",
                network.name
            )),
            "{up}"
        );
    }
    assert!(up.contains("console-mobile listening on"), "{up}");
    let status = network.ok(&["status"]);
    for name in PROCESSES {
        assert!(
            field(status_line(&status, name), "pid=").ends_with(",up"),
            "{status}"
        );
    }
    assert_eq!(status.matches("readyz=200").count(), NODES, "{status}");
    assert_eq!(
        status.matches("answers: HTTP 200 OK").count(),
        2,
        "{status}"
    );

    refusals(&network, &mode);
    killed_node_catches_up(&network);
    stopped_node_restarted_by_up(&network);
    logs_follow(
        &network,
        &["logs", "unicommsp-peer0"],
        "netsettle node ready",
    );
    // Every log, each under tail's header: the last file's header shows.
    logs_follow(&network, &["logs"], "logs/unicommsp-peer1.out <==");
    exec_runs_in_the_cloud(&network, &mode);
    down_twice_then_purge(&network, &mode);
}

/// Each refusal exits non-zero with its message and leaves the consortium as it was.
fn refusals(network: &Network, mode: &str) {
    for args in [
        &["stop", "nosuch"][..],
        &["stop", "nosuch", "--kill"],
        &["start", "nosuch"],
        &["logs", "nosuch"],
    ] {
        refused(
            &network.run(args),
            "no process 'nosuch' (scripts/network.sh status lists them)",
        );
    }
    refused(
        &network.run(&["stop"]),
        "usage: scripts/network.sh stop NAME",
    );
    refused(
        &network.run(&["exec", "orange", "netsettle", "--help"]),
        "no carrier 'orange' (unicom|mobile)",
    );
    refused(
        &network.run(&["exec", "unicom"]),
        "usage: scripts/network.sh exec unicom|mobile CMD",
    );
    // A mistyped flag stops nothing.
    refused(
        &network.run(&["down", "--purg"]),
        "down takes --purge or nothing, not '--purg'",
    );
    // The consortium keeps the clouds it was made in.
    let other = if mode == "netns" { "loopback" } else { "netns" };
    let mismatch = network
        .command(&["status"])
        .env("NETSETTLE_CLOUDS", other)
        .output()
        .unwrap();
    refused(
        &mismatch,
        &format!(
            "the consortium in {} runs in {mode} clouds, not NETSETTLE_CLOUDS={other}",
            network.path().display()
        ),
    );
    second_consortium_refused(network);
    let status = network.ok(&["status"]);
    assert_eq!(status.matches(",up ").count(), PROCESSES.len(), "{status}");
    assert_eq!(status.matches("readyz=200").count(), NODES, "{status}");
}

/// The namespaces in use (empty without `ip` or namespaces).
fn namespaces() -> String {
    Command::new("ip")
        .args(["netns", "list"])
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).into_owned())
        .unwrap_or_default()
}

/// A second consortium while this one holds the addresses is refused before it makes
/// anything (no directory, no namespaces), under another namespace prefix or the same;
/// so is one in a directory that holds something else. A copy of this consortium (same
/// addresses, same namespaces) is refused too, and its `down` leaves this one running.
fn second_consortium_refused(network: &Network) {
    let second_dir = network.dir.path().join("second");
    let second_name = format!("{}x", &network.name[..network.name.len().min(7)]);
    let netns = network.mode() == "netns";
    for name in [&second_name, &network.name] {
        let second = network_command(&second_dir, name, &["up"])
            .output()
            .unwrap();
        let message = match (netns, name == &network.name) {
            (false, _) => "addresses in use: 127.0.1.".to_owned(),
            (true, false) => format!(
                "addresses in use: the host routes 198.18.1.0/24 through {}-hu",
                network.name
            ),
            (true, true) => format!("addresses in use: the namespaces {name}-* are up"),
        };
        refused(&second, &message);
        // Refused before it started anything: nothing to stop.
        let stderr = String::from_utf8_lossy(&second.stderr);
        assert!(!stderr.contains("stopping what it started"), "{stderr}");
        assert!(!second_dir.exists());
    }
    std::fs::create_dir(&second_dir).unwrap();
    std::fs::write(second_dir.join("notes.txt"), "not a consortium").unwrap();
    let second = network_command(&second_dir, &second_name, &["up"])
        .output()
        .unwrap();
    refused(&second, "is not empty and holds no consortium");
    assert!(!namespaces().contains(&format!("{second_name}-")));
    std::fs::remove_dir_all(&second_dir).unwrap();

    // The copy: what `up` reads to restart a consortium (no pid files: none of it runs).
    let copy = network.dir.path().join("copy");
    std::fs::create_dir_all(copy.join("nodes")).unwrap();
    for file in [
        "state",
        "clouds",
        "layout.toml",
        "console-unicom.toml",
        "console-mobile.toml",
    ] {
        std::fs::copy(network.path().join(file), copy.join(file)).unwrap();
    }
    for entry in std::fs::read_dir(network.path().join("nodes")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), copy.join("nodes").join(entry.file_name())).unwrap();
    }
    let again = network_command(&copy, &network.name, &["up"])
        .output()
        .unwrap();
    let range = if netns { "198.18.1." } else { "127.0.1." };
    refused(&again, &format!("addresses in use: {range}"));
    let down = network_command(&copy, &network.name, &["down"])
        .output()
        .unwrap();
    assert!(down.status.success(), "{down:?}");
    std::fs::remove_dir_all(&copy).unwrap();
    if netns {
        let kept = String::from_utf8_lossy(&down.stdout);
        assert!(
            kept.contains("-* kept: other processes run in them"),
            "{kept}"
        );
        assert!(namespaces().contains(&format!("{}-unicom", network.name)));
    }
}

/// `stop --kill` a peer, commit a transaction without it, `start` it: it catches up.
fn killed_node_catches_up(network: &Network) {
    let stopped = network.ok(&["stop", "mobilemsp-peer1", "--kill"]);
    assert!(
        stopped.contains("stopped mobilemsp-peer1 (KILL)"),
        "{stopped}"
    );
    let status = network.ok(&["status"]);
    let line = status_line(&status, "mobilemsp-peer1");
    assert_eq!(field(line, "pid="), "down", "{status}");
    assert_eq!(field(line, "readyz="), "-", "{status}");
    assert_eq!(field(line, "height="), "-", "{status}");
    // The others still serve.
    assert_eq!(status.matches("readyz=200").count(), NODES - 1, "{status}");
    let before = height(&status, "unicommsp-peer0").expect("peer0 height");

    let csv = format!("{REPO}/tests/data/settlement/demo-UnicomMSP.csv");
    let mut upload = vec!["exec", "unicom", "netsettle", "settlement", "upload"];
    upload.extend(UNICOM);
    upload.extend(["--period", "2026-10", "--csv", &csv]);
    network.ok(&upload);
    let status = network.ok(&["status"]);
    let after = height(&status, "unicommsp-peer0").expect("peer0 height");
    assert!(after > before, "{status}");

    let started = network.ok(&["start", "mobilemsp-peer1"]);
    assert!(started.contains("peer1.mobile.example"), "{started}");
    // Wait for the event (the restarted peer at the others' height); the deadline only
    // marks failure.
    let deadline = Instant::now() + CATCH_UP;
    loop {
        let status = network.ok(&["status"]);
        let line = status_line(&status, "mobilemsp-peer1");
        if height(&status, "mobilemsp-peer1") == Some(after) && field(line, "readyz=") == "200" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "mobilemsp-peer1 not at height {after} after {CATCH_UP:?}:\n{status}"
        );
    }
}

/// `stop` (TERM) Unicom's peer0; stopping it again does nothing; `status` shows its gateway
/// down; `up` on the running consortium starts only it and shows the status.
fn stopped_node_restarted_by_up(network: &Network) {
    let stopped = network.ok(&["stop", "unicommsp-peer0"]);
    assert!(
        stopped.contains("stopped unicommsp-peer0 (TERM)"),
        "{stopped}"
    );
    let again = network.ok(&["stop", "unicommsp-peer0"]);
    assert!(!again.contains("stopped"), "{again}");
    // Its gateway goes with it; Mobile's still answers.
    let status = network.ok(&["status"]);
    let gateway = status_line(&status, "gateway-unicom");
    assert!(
        gateway.ends_with("down (unicommsp-peer0 is not running)"),
        "{status}"
    );
    assert_eq!(
        status.matches("answers: HTTP 200 OK").count(),
        1,
        "{status}"
    );
    let up = network.ok(&["up"]);
    assert!(up.contains("restarting the consortium in "), "{up}");
    for name in PROCESSES {
        let running = format!("{name} already running");
        assert_eq!(up.contains(&running), name != "unicommsp-peer0", "{up}");
    }
    assert_eq!(up.matches(",up ").count(), PROCESSES.len(), "{up}");
    assert_eq!(up.matches("readyz=200").count(), NODES, "{up}");
    assert_eq!(up.matches("answers: HTTP 200 OK").count(), 2, "{up}");
}

/// `network.sh ARGS` (`logs [NAME]`) follows the logs: WANTED shows, then it is killed.
fn logs_follow(network: &Network, args: &[&str], wanted: &str) {
    let mut child = network
        .command(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (lines, received) = mpsc::sync_channel::<String>(16);
    // Ends at end of file, once the follower is killed.
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + LOGS;
    let mut seen = Vec::new();
    let ready = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match received.recv_timeout(left) {
            Ok(line) if line.contains(wanted) => break true,
            Ok(line) => seen.push(line),
            Err(_) => break false,
        }
    };
    // `logs` execs `tail -F`, so the child is the follower itself: it runs until killed.
    assert!(child.try_wait().unwrap().is_none(), "logs exited");
    child.kill().unwrap();
    child.wait().unwrap();
    drop(received);
    reader.join().unwrap();
    assert!(ready, "no '{wanted}' in `network.sh {args:?}`: {seen:?}");
}

/// `exec` runs in the carrier's cloud from the network directory, with its exit code.
fn exec_runs_in_the_cloud(network: &Network, mode: &str) {
    let mut status = vec!["exec", "unicom", "netsettle", "settlement", "status"];
    status.extend(UNICOM);
    status.extend(["--period", "2026-10"]);
    let out = network.ok(&status);
    assert!(out.contains("2026-10"), "{out}");
    let pwd = network.ok(&["exec", "mobile", "pwd"]);
    assert_eq!(Path::new(pwd.trim()), network.path());
    let failed = network.run(&["exec", "mobile", "false"]);
    assert_eq!(failed.status.code(), Some(1));
    if mode == "netns" {
        // Inside Mobile's namespace: its own range is local, Unicom's is not.
        let routes = network.ok(&["exec", "mobile", "ip", "route", "show", "table", "local"]);
        assert!(routes.contains("198.18.2.0/24"), "{routes}");
        assert!(!routes.contains("198.18.1.0/24"), "{routes}");
    }
}

/// `up` on the stopped consortium (its namespaces made again) starts every process from
/// its data: each node at the height it had before `down` (BEFORE: `status` then).
fn restart_from_data(network: &Network, before: &str) {
    let up = network.ok(&["up"]);
    assert!(up.contains("restarting the consortium in "), "{up}");
    assert!(!up.contains("already running"), "{up}");
    assert_eq!(up.matches(",up ").count(), PROCESSES.len(), "{up}");
    assert_eq!(up.matches("readyz=200").count(), NODES, "{up}");
    for name in PROCESSES {
        assert_eq!(
            height(before, name),
            height(&up, name),
            "{name}:\n{before}\n{up}"
        );
    }
    let down = network.ok(&["down"]);
    assert_eq!(
        down.matches("   stopped ").count(),
        PROCESSES.len(),
        "{down}"
    );
}

/// `down` stops everything and keeps the data; again it does nothing; `status` shows every
/// process down; `down --purge` removes the directory.
fn down_twice_then_purge(network: &Network, mode: &str) {
    let before = network.ok(&["status"]);
    let down = network.ok(&["down"]);
    assert_eq!(
        down.matches("   stopped ").count(),
        PROCESSES.len(),
        "{down}"
    );
    let again = network.ok(&["down"]);
    assert!(!again.contains("stopped"), "{again}");
    let status = network.ok(&["status"]);
    assert!(status.contains("(down)"), "{status}");
    for name in PROCESSES {
        assert_eq!(
            field(status_line(&status, name), "pid="),
            "down",
            "{status}"
        );
    }
    if mode == "netns" {
        let not_up = format!("the namespaces {}-* are not up", network.name);
        refused(&network.run(&["start", "unicommsp-peer0"]), &not_up);
        refused(&network.run(&["exec", "unicom", "true"]), &not_up);
    }
    assert!(!namespaces().contains(&format!("{}-", network.name)));
    restart_from_data(network, &before);
    let purge = network.ok(&["down", "--purge"]);
    assert!(purge.contains("   removed "), "{purge}");
    assert!(!network.path().exists());
    refused(&network.run(&["status"]), "no consortium in ");
    refused(
        &network.run(&["exec", "unicom", "true"]),
        "no consortium in ",
    );
}
