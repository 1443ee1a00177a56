//! Crash consistency: a child process commits blocks in a loop and is killed with SIGKILL
//! at a random moment; the reopened ledger must verify and hold a prefix of what the
//! child committed, with every block the child reported as committed.
//!
//! The child is this same test binary, re-run with [`CHILD_DIR_ENV`] set, so no helper
//! binary has to be built. It prints `committed <number> <hash>` after each commit
//! returns; since commits are synced, every reported block must survive the kill.

mod common;

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher as _, Hasher as _};
use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::{Fixture, NAMESPACE, put};
use netsettle_ledger::{Ledger, verify};
use netsettle_protocol::{Block, ValidationCode};
use netsettle_smcrypto::Hash;

/// When set, the test runs as the child, committing into this directory.
const CHILD_DIR_ENV: &str = "NETSETTLE_LEDGER_CRASH_CHILD_DIR";
const TEST_NAME: &str = "killed_mid_commit_reopens_at_a_consistent_prefix";
/// The child stops by itself after this many blocks, so it cannot outlive a broken parent
/// for long.
const CHILD_BLOCKS_MAX: u64 = 5_000;
/// Kill rounds: each reopens what the previous one left and continues.
const ROUNDS: usize = 3;
/// Failure deadline for the child to report its next block (it normally takes
/// milliseconds); only marks a hung child, never paces the test.
const CHILD_LINE_DEADLINE: Duration = Duration::from_secs(60);

#[test]
fn killed_mid_commit_reopens_at_a_consistent_prefix() {
    if let Some(dir) = std::env::var_os(CHILD_DIR_ENV) {
        run_child(Path::new(&dir));
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let seed = RandomState::new().build_hasher().finish();
    eprintln!("crash test seed {seed}");
    let mut reported: Vec<(u64, Hash)> = Vec::new();
    for round in 0..ROUNDS {
        // Kill after 2..=24 reported commits: somewhere inside the next commit, or
        // between commits, depending on scheduling.
        let kill_after = 2 + (seed.rotate_left(u32::try_from(round * 8).unwrap()) % 23);
        let round_reported = run_and_kill(dir.path(), kill_after);
        assert!(
            !round_reported.is_empty(),
            "round {round}: child reported nothing"
        );
        reported.extend(round_reported);
        check_reopened(dir.path(), &reported);
    }
}

/// Spawns the child, reads its reports until `kill_after` of them arrived, kills it with
/// SIGKILL and returns the reports.
fn run_and_kill(dir: &Path, kill_after: u64) -> Vec<(u64, Hash)> {
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new(exe)
        .args(["--exact", TEST_NAME, "--nocapture", "--test-threads=1"])
        .env(CHILD_DIR_ENV, dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (lines_tx, lines_rx) = mpsc::sync_channel::<String>(64);
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut reports = Vec::new();
    while u64::try_from(reports.len()).unwrap() < kill_after {
        let line = match lines_rx.recv_timeout(CHILD_LINE_DEADLINE) {
            Ok(line) => line,
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                child.kill().unwrap();
                panic!("child reported no commit within {CHILD_LINE_DEADLINE:?}");
            }
        };
        if let Some(report) = parse_report(&line) {
            reports.push(report);
        }
    }
    // std's `kill` sends SIGKILL on Unix: no destructors, no flush, like a power cut for
    // everything not yet in the OS.
    child.kill().unwrap();
    child.wait().unwrap();
    drop(lines_rx);
    reader.join().unwrap();
    reports
}

fn parse_report(line: &str) -> Option<(u64, Hash)> {
    let mut words = line.strip_prefix("committed ")?.split(' ');
    let number = words.next()?.parse().ok()?;
    let hash = words.next()?.parse().ok()?;
    Some((number, hash))
}

/// The reopened ledger verifies, and holds every reported block with the reported hash,
/// plus at most the one block that was being committed when the kill came.
fn check_reopened(dir: &Path, reported: &[(u64, Hash)]) {
    let report = verify(dir).unwrap();
    assert!(report.is_ok(), "after kill: {:?}", report.fault);
    let last_reported = reported.last().unwrap().0;
    let height = report.chain.height;
    assert!(
        height == last_reported + 1 || height == last_reported + 2,
        "height {height} after the last reported block {last_reported}"
    );
    let ledger = Ledger::open(dir).unwrap();
    for (number, hash) in reported {
        let block = ledger.block(*number).unwrap().unwrap();
        assert_eq!(block.hash(), *hash, "block {number} changed");
    }
    // Opening read-write replays whatever the child appended but had not applied yet.
    assert_eq!(ledger.state_info().unwrap(), ledger.chain_info().unwrap());
    let counter = ledger.state(NAMESPACE, "counter").unwrap().unwrap();
    assert_eq!(counter.value, (height - 1).to_be_bytes());
}

/// The child: continue the chain in `dir` until killed (or [`CHILD_BLOCKS_MAX`]).
fn run_child(dir: &Path) {
    let ledger = Ledger::open(dir).unwrap();
    let mut fixture = Fixture::new();
    let mut previous: Block = match ledger.chain_info().unwrap().height {
        0 => {
            let genesis = fixture.genesis();
            ledger.commit_block(&genesis).unwrap();
            genesis
        }
        height => {
            // Sign with the certificates the genesis configuration names, so verify
            // accepts blocks from every round.
            fixture.adopt_certificates(&ledger.block(0).unwrap().unwrap());
            ledger.block(height - 1).unwrap().unwrap()
        }
    };
    while previous.header.number < CHILD_BLOCKS_MAX {
        let number = previous.header.number + 1;
        let block = child_block(&fixture, &previous, number);
        // Every third block takes the append-then-apply path, so some kills land
        // between the two and leave the state behind the blocks.
        if number.is_multiple_of(3) {
            ledger.append_block(&block).unwrap();
            ledger.apply_pending_state().unwrap();
        } else {
            ledger.commit_block(&block).unwrap();
        }
        println!("committed {number} {}", block.hash());
        previous = block;
    }
}

fn child_block(fixture: &Fixture, previous: &Block, number: u64) -> Block {
    let mut data = Vec::new();
    let mut codes = Vec::new();
    for index in 0..5u64 {
        let writes = vec![
            put(&format!("k{}", (number + index) % 7), &number.to_be_bytes()),
            put("counter", &number.to_be_bytes()),
        ];
        data.push(fixture.transaction(number * 1000 + index, &writes, 512));
        // One invalid transaction per block: its writes must never reach the state.
        codes.push(if index == 2 {
            ValidationCode::MvccReadConflict
        } else {
            ValidationCode::Valid
        });
    }
    fixture.block(number, previous.hash(), data, 0, codes)
}
