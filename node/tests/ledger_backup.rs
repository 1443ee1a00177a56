//! `netsettle ledger backup|restore` and the start-up refusals, as real processes: the
//! local consortium (five Raft orderers, two peers per carrier, both DMZ forwarders) on
//! loopback slot 24 (127.24.x.x).
//!
//! A running peer's ledger is backed up while the consortium commits; more transactions
//! follow; the peer is stopped, its data directory wiped and its ledger restored from the
//! backup, and it starts and catches up from the others to the same height, comparing
//! identical with another peer. Along the way: a restore onto a non-empty ledger without `--force`, and
//! of a backup whose manifest was altered, are refused and change nothing; and the peer
//! refuses to start on a ledger with a damaged block and on another channel's ledger,
//! each with a non-zero exit and a one-line reason.
//!
//! An orderer's ledger is backed up while it orders; restored (`--force`: its ledger and
//! its Raft store moved aside, the Raft store left empty), it rejoins like a wiped
//! consenter, catches up from the others and ends with the same blocks; with a damaged
//! block it refuses to start (five orderers alone, slot 24 with port prefix 4).
//!
//! Waits are on events: readiness lines, committed transactions, the restored peer's
//! committer log lines. Deadlines only mark failure; every process is killed and reaped on
//! drop, and the consortium lives in a temporary directory.

use std::path::Path;
use std::process::Output;
use std::sync::mpsc;
use std::time::Instant;

use netsettle_ledger::Ledger;
use netsettle_protocol::{Block, ValidationCode};
use netsettle_testkit::WAIT_MAX;
use netsettle_testkit::orderers::{Client, Load, Orderers, assert_exactly_once};
use netsettle_testkit::process::{Netsettle, ORDERERS, PEERS, Process, REPO};

/// The binary under test.
const NETSETTLE: Netsettle = Netsettle(env!("CARGO_BIN_EXE_netsettle"));

/// This file's loopback range: 127.24.x.x; the orderers-only test adds port prefix 4.
const SLOT: u8 = 24;
const ORDERERS_PREFIX: &str = "4";

/// The peer backed up and restored (`unicommsp-peer1`); its ledger, and the one of the
/// peer it is compared with (`unicommsp-peer0`).
const VICTIM: usize = 1;
const VICTIM_LEDGER: &str = "data/peer1.unicom.example/ledger";
const WITNESS_LEDGER: &str = "data/peer0.unicom.example/ledger";

/// An agreement proposal, committed VALID.
fn propose(dir: &Path) {
    let output = NETSETTLE.propose(dir);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("code=VALID"),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The value of the `name VALUE` line of a command's output.
fn line_value(output: &str, name: &str) -> String {
    output
        .lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no {name:?} line in {output}"))
        .to_owned()
}

fn height_of(dir: &Path, ledger: &str) -> u64 {
    Ledger::open_read_only(&dir.join(ledger))
        .expect("the ledger opens read-only")
        .chain_info()
        .expect("chain info")
        .height
}

/// Every file name and size directly under `dir`, to show a refusal changed nothing.
fn listing(dir: &Path) -> Vec<(String, u64)> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| {
            let entry = entry.unwrap();
            let size = entry.metadata().unwrap().len();
            (entry.file_name().to_string_lossy().into_owned(), size)
        })
        .collect();
    files.sort();
    files
}

/// Copies the backup directory `from` (its manifest and its flat `ledger/`) to `to`.
fn copy_backup(from: &Path, to: &Path) {
    std::fs::create_dir_all(to.join("ledger")).unwrap();
    for sub in ["", "ledger"] {
        for entry in std::fs::read_dir(from.join(sub)).unwrap() {
            let entry = entry.unwrap();
            if entry.file_type().unwrap().is_file() {
                std::fs::copy(entry.path(), to.join(sub).join(entry.file_name())).unwrap();
            }
        }
    }
}

/// Starts the victim with its committer's debug lines on stderr, waits for its readiness
/// line, and returns it with a receiver of the numbers of the blocks it commits.
fn start_logged(dir: &Path) -> (Process, mpsc::Receiver<u64>) {
    NETSETTLE.node_with_log(
        &dir.join(format!("nodes/{}.toml", PEERS[VICTIM])),
        "info,netsettle_peer::committer=debug",
        |line| {
            line.split_once("block committed")
                .and_then(|(_, fields)| {
                    fields
                        .split_whitespace()
                        .find_map(|field| field.strip_prefix("number="))
                })
                .and_then(|number| number.parse::<u64>().ok())
        },
    )
}

/// Waits until the victim logs the commit of block `number`.
fn wait_committed(committed: &mpsc::Receiver<u64>, number: u64) {
    let deadline = Instant::now() + WAIT_MAX;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match committed.recv_timeout(left) {
            Ok(seen) if seen >= number => return,
            Ok(_) => {}
            Err(_) => panic!("the restored peer committed no block {number}"),
        }
    }
}

/// Starts the node of `config`, which must refuse: its exit status, and its one `error:`
/// line.
fn start_refused(dir: &Path, config: &Path) -> String {
    let output: Output = NETSETTLE.run(dir, &["node", "--config", config.to_str().unwrap()]);
    assert!(!output.status.success(), "the peer started");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|line| line.starts_with("error:"))
        .collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    errors[0].to_owned()
}

/// Flips one byte in the middle of block `number` through a raw RocksDB handle on the
/// closed ledger at `path`.
fn flip_block_byte(path: &Path, number: u64) {
    let options = rocksdb::Options::default();
    let columns = rocksdb::DB::list_cf(&options, path).unwrap();
    let db = rocksdb::DB::open_cf(&options, path, columns).unwrap();
    let blocks = db.cf_handle("blocks").unwrap();
    let key = number.to_be_bytes();
    let mut bytes = db.get_cf(blocks, key).unwrap().unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    db.put_cf(blocks, key, bytes).unwrap();
}

/// A ledger holding only the genesis block of channel `othernet`, at `path`: what a peer
/// of another channel would have written.
fn other_channel_ledger(dir: &Path, path: &Path) {
    let profile = std::fs::read_to_string(format!("{REPO}/configs/consortium.toml")).unwrap();
    let profile = profile.replace("channel = \"settlement\"", "channel = \"othernet\"");
    std::fs::write(dir.join("othernet.toml"), profile).unwrap();
    NETSETTLE.genesis_block(dir, "orderer0", "othernet.toml", "othernet.block");
    let bytes = std::fs::read(dir.join("othernet.block")).unwrap();
    let mut genesis: Block = netsettle_protocol::decode(&bytes).unwrap();
    genesis.metadata.validation_codes = vec![ValidationCode::Valid; genesis.data.len()];
    let ledger = Ledger::open(path).unwrap();
    ledger.commit_block(&genesis).unwrap();
}

#[test]
fn a_running_peer_backed_up_restores_and_catches_up_and_bad_ledgers_are_refused() {
    let started = Instant::now();
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path();
    let mut consortium = NETSETTLE.start_consortium(dir, SLOT, &ORDERERS, &PEERS);
    NETSETTLE.define_settlement(dir);
    propose(dir);
    eprintln!("consortium up and used in {:?}", started.elapsed());

    // The victim is running: the backup reads beside it.
    let backup = NETSETTLE.ok(
        dir,
        &[
            "ledger",
            "backup",
            "--path",
            VICTIM_LEDGER,
            "--out",
            "backup",
        ],
    );
    assert_eq!(line_value(&backup, "channel"), "settlement");
    let backup_height: u64 = line_value(&backup, "height").parse().unwrap();
    assert!(backup_height >= 2, "{backup}");
    NETSETTLE.ok(dir, &["ledger", "verify", "--path", "backup/ledger"]);
    let refused = NETSETTLE.fails(
        dir,
        &[
            "ledger",
            "backup",
            "--path",
            VICTIM_LEDGER,
            "--out",
            "backup",
        ],
    );
    assert!(refused.contains("already exists"), "{refused}");

    // The chain moves on; the victim is stopped at the new height.
    propose(dir);
    propose(dir);
    let target = height_of(dir, WITNESS_LEDGER);
    assert!(target > backup_height);
    consortium.peers.remove(VICTIM).stop();
    let ledger = dir.join(VICTIM_LEDGER);
    let files = listing(&ledger);

    // Onto the victim's ledger without --force: refused, nothing changed.
    let refused = NETSETTLE.fails(
        dir,
        &[
            "ledger",
            "restore",
            "--from",
            "backup",
            "--path",
            VICTIM_LEDGER,
        ],
    );
    assert!(refused.contains("is not empty"), "{refused}");
    assert_eq!(listing(&ledger), files);

    // A backup whose manifest was altered: refused even with --force, nothing changed.
    copy_backup(&dir.join("backup"), &dir.join("tampered"));
    let manifest = std::fs::read_to_string(dir.join("tampered/backup.manifest")).unwrap();
    std::fs::write(
        dir.join("tampered/backup.manifest"),
        manifest.replace(&format!("height {backup_height}"), "height 1"),
    )
    .unwrap();
    let refused = NETSETTLE.fails(
        dir,
        &[
            "ledger",
            "restore",
            "--from",
            "tampered",
            "--path",
            VICTIM_LEDGER,
            "--force",
        ],
    );
    assert!(refused.contains("the ledger disagrees"), "{refused}");
    assert_eq!(listing(&ledger), files);

    // Wiped (its whole data directory), restored, started: it catches up from the others.
    std::fs::remove_dir_all(ledger.parent().unwrap()).unwrap();
    let restored = NETSETTLE.ok(
        dir,
        &[
            "ledger",
            "restore",
            "--from",
            "backup",
            "--path",
            VICTIM_LEDGER,
        ],
    );
    assert!(
        restored.contains(&format!(
            "restored channel settlement at height {backup_height}"
        )),
        "{restored}"
    );
    let (victim, committed) = start_logged(dir);
    assert_eq!(victim.field("height"), backup_height.to_string());
    wait_committed(&committed, target - 1);
    victim.stop();
    assert_eq!(height_of(dir, VICTIM_LEDGER), target);
    let compared = NETSETTLE.ok(dir, &["ledger", "compare", WITNESS_LEDGER, VICTIM_LEDGER]);
    assert!(compared.contains("identical"), "{compared}");
    eprintln!("restored and caught up in {:?}", started.elapsed());

    // A damaged block below the tip: the peer refuses to start.
    let victim_config = dir.join(format!("nodes/{}.toml", PEERS[VICTIM]));
    flip_block_byte(&ledger, target - 2);
    let error = start_refused(dir, &victim_config);
    assert!(error.contains("refusing to start on ledger"), "{error}");

    // Another channel's ledger in its place: refused too.
    std::fs::rename(&ledger, dir.join("damaged-ledger")).unwrap();
    other_channel_ledger(dir, &ledger);
    let error = start_refused(dir, &victim_config);
    assert!(error.contains("belongs to another channel"), "{error}");
    assert!(error.contains("othernet"), "{error}");
    drop(consortium);
    eprintln!("done in {:?}", started.elapsed());
}

#[test]
fn an_orderer_restored_from_a_backup_rejoins_as_a_wiped_one() {
    let mut orderers = Orderers::start(NETSETTLE, SLOT, ORDERERS_PREFIX, str::to_owned);
    let dir = orderers.path().to_path_buf();
    let client = Client::connect(&dir);
    let leader = client.wait_leader(None);
    let mut outcomes = Load::start(&client, 100, 32, 256).finish(&client);

    let restored = orderers.ids().into_iter().find(|id| *id != leader).unwrap();
    let ledger = orderers.ledger_dir(restored);
    let ledger_arg = ledger.to_str().unwrap();
    // Backed up while it orders.
    let backup = NETSETTLE.ok(
        &dir,
        &[
            "ledger",
            "backup",
            "--path",
            ledger_arg,
            "--out",
            "orderer-backup",
        ],
    );
    let backup_height: u64 = line_value(&backup, "height").parse().unwrap();
    outcomes.extend(Load::start(&client, 100, 32, 256).finish(&client));
    orderers.kill(restored);

    let restore = [
        "ledger",
        "restore",
        "--from",
        "orderer-backup",
        "--path",
        ledger_arg,
    ];
    let refused = NETSETTLE.fails(&dir, &restore);
    assert!(refused.contains("is not empty"), "{refused}");
    let mut forced = restore.to_vec();
    forced.push("--force");
    let restored_out = NETSETTLE.ok(&dir, &forced);
    assert_eq!(
        restored_out.matches("moved aside").count(),
        2,
        "{restored_out}"
    );
    assert!(
        restored_out.contains("rejoins as a wiped consenter"),
        "{restored_out}"
    );
    let raft = orderers.data_dir(restored).join("orderer/raft");
    assert!(!raft.exists(), "the Raft store is left empty");
    assert_eq!(height_of(&dir, ledger_arg), backup_height);

    orderers.restart(restored);
    // The leader learns that the restored log is empty only when it next appends (its
    // record of what this follower holds dates from before the kill), so the catch-up
    // starts with the next broadcasts; the orderer then orders with the others.
    outcomes.extend(Load::start(&client, 50, 32, 256).finish(&client));
    let ids = orderers.ids();
    let height = client.wait_settled(&ids);
    assert!(height > backup_height);
    Client::close(client);
    orderers.stop_all();
    assert_exactly_once(&outcomes, &orderers.chain_tx_ids(restored));
    orderers.assert_same_blocks(leader);

    // A damaged block below its tip: the orderer refuses to start.
    let height = height_of(&dir, ledger_arg);
    flip_block_byte(&ledger, height - 2);
    let data_dir = orderers.data_dir(restored);
    let error = start_refused(&dir, &node_config_of(&dir, &data_dir));
    assert!(error.contains("refusing to start on ledger"), "{error}");
}

/// The node config in `DIR/nodes` whose data directory is `data_dir`.
fn node_config_of(dir: &Path, data_dir: &Path) -> std::path::PathBuf {
    let name = data_dir.file_name().unwrap().to_str().unwrap();
    let line = format!("data_dir = \"../data/{name}\"");
    std::fs::read_dir(dir.join("nodes"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .find(|path| {
            std::fs::read_to_string(path).is_ok_and(|text| text.lines().any(|l| l == line))
        })
        .unwrap_or_else(|| panic!("no node config with {line}"))
}
