//! `kill -9` of a peer in the middle of a commit, as real processes: five Raft orderers,
//! two peers per carrier, both DMZ forwarders (loopback slot 16: 127.16.x.x), and a
//! client load of settlement transactions (agreement proposals by Unicom's admin, blind
//! writes, so every one is VALID) running throughout.
//!
//! Each round restarts one of the two peer1s (they alternate) after the chain has moved
//! on without it, so it has a backlog to commit, and sends it SIGKILL the moment its
//! committer logs `writing block` (a debug line just before the block's synced RocksDB
//! batch) for a block of that backlog. Its stderr is read to the end, so the test knows
//! the last thing it did: the ledger it leaves must pass `netsettle ledger verify` and
//! hold the block it was writing whole or not at all (every block it reported committed,
//! whole). The next round of the same peer restarts it from there; the run reports how
//! many kills landed inside a write. At the end every peer has every block:
//! all four ledgers verify, compare identical, and hold each load transaction exactly
//! once, VALID, in the block its client was told.
//!
//! Waits are on events: readiness lines, the victim's own log lines, the client's
//! commits (`peer-tx-status`). Deadlines only mark failure; every process is killed and
//! reaped on drop, and the consortium lives in a temporary directory.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::Instant;

use netsettle_client::{Committed, Gateway, Signer};
use netsettle_protocol::{ContractId, Payload, TxId, ValidationCode};
use netsettle_testkit::WAIT_MAX;
use netsettle_testkit::process::{ADMIN_U, Forwarder, Netsettle, ORDERERS, PEERS, Process, REPO};
use tokio::sync::{Semaphore, watch};

/// The binary under test.
const NETSETTLE: Netsettle = Netsettle(env!("CARGO_BIN_EXE_netsettle"));

/// This file's loopback range: 127.16.x.x.
const SLOT: u8 = 16;

/// Kills, alternating between the two peer1s (indexes into `PEERS`).
const ROUNDS: usize = 5;
const VICTIMS: [usize; 2] = [1, 3];
/// Blocks the chain must be ahead of a victim before it restarts: its backlog.
const BACKLOG_BLOCKS: u64 = 4;
/// Load transactions waiting for their commit at once: more than a block's 50, so blocks
/// are cut full, and at most the client network's 64 streams per peer, so no request
/// queues behind another's long poll.
const IN_FLIGHT: usize = 60;

/// Each peer's data directory (`data/DIR`), in the order of `PEERS`.
const PEER_DATA: [&str; 4] = [
    "peer0.unicom.example",
    "peer1.unicom.example",
    "peer0.mobile.example",
    "peer1.mobile.example",
];

fn ledger_dir(peer_idx: usize) -> String {
    format!("data/{}/ledger", PEER_DATA[peer_idx])
}

fn settlement() -> ContractId {
    ContractId {
        name: "settlement".to_owned(),
        version: "1.0".to_owned(),
    }
}

/// Agreement proposals running in the background until stopped.
struct Load {
    stop: Arc<AtomicBool>,
    /// The highest block holding a load transaction committed at both endorsers.
    tip: watch::Receiver<u64>,
    task: tokio::task::JoinHandle<Vec<Result<Committed, String>>>,
}

impl Load {
    fn start(runtime: &tokio::runtime::Runtime, gateway: Arc<Gateway>, signer: Signer) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let (tip_tx, tip) = watch::channel(0);
        let task = runtime.spawn(run_load(
            gateway,
            Arc::new(signer),
            Arc::clone(&stop),
            tip_tx,
        ));
        Load { stop, tip, task }
    }

    /// Blocks until a load transaction is committed in block `number` or later.
    fn wait_tip(&mut self, runtime: &tokio::runtime::Runtime, number: u64) {
        let tip = &mut self.tip;
        let waited = runtime.block_on(async {
            tokio::time::timeout(WAIT_MAX, tip.wait_for(|tip| *tip >= number))
                .await
                .map(|reached| reached.map(|_| ()))
        });
        assert!(
            matches!(waited, Ok(Ok(_))),
            "the load reached block {} of {number}",
            *self.tip.borrow()
        );
    }

    /// Stops submitting, waits for the transactions in flight and returns every outcome.
    fn finish(self, runtime: &tokio::runtime::Runtime) -> Vec<Result<Committed, String>> {
        self.stop.store(true, Ordering::Relaxed);
        runtime.block_on(self.task).expect("the load task")
    }
}

async fn run_load(
    gateway: Arc<Gateway>,
    signer: Arc<Signer>,
    stop: Arc<AtomicBool>,
    tip: watch::Sender<u64>,
) -> Vec<Result<Committed, String>> {
    let text = std::fs::read_to_string(format!("{REPO}/tests/data/settlement/agreement.json"))
        .expect("the test agreement");
    let agreement: serde_json::Value = serde_json::from_str(&text).expect("agreement JSON");
    let tip = Arc::new(tip);
    let permits = Arc::new(Semaphore::new(IN_FLIGHT));
    let mut running = tokio::task::JoinSet::new();
    let mut outcomes = Vec::new();
    for index in 0u64.. {
        let permit = Arc::clone(&permits).acquire_owned().await.expect("permits");
        if stop.load(Ordering::Relaxed) {
            break;
        }
        while let Some(done) = running.try_join_next() {
            outcomes.push(done.expect("a submission task"));
        }
        // Each proposal writes other bytes, so every transaction has an id of its own.
        let mut terms = agreement.clone();
        terms["tolerance_fen"] = (1_000 + index).into();
        let args = vec![terms.to_string().into_bytes()];
        let (gateway, signer, tip) = (Arc::clone(&gateway), Arc::clone(&signer), Arc::clone(&tip));
        running.spawn(async move {
            let outcome = gateway
                .submit(&signer, settlement(), "agreement_propose", args)
                .await
                .map_err(|error| error.to_string());
            if let Ok(committed) = &outcome {
                tip.send_modify(|tip| *tip = (*tip).max(committed.block));
            }
            drop(permit);
            outcome
        });
    }
    while let Some(done) = running.join_next().await {
        outcomes.push(done.expect("a submission task"));
    }
    outcomes
}

/// What a peer's committer logs at debug level: the moment a block's batch goes to
/// RocksDB, and the moment it is durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Writing,
    Committed,
}

/// Starts peer `PEERS[peer_idx]` with its committer's debug lines on stderr, and waits
/// for its readiness line. The receiver gets every committer step with its block number
/// as the line is printed (read from the start, so none is seen late).
fn start_logged(dir: &Path, peer_idx: usize) -> (Process, mpsc::Receiver<(Step, u64)>) {
    NETSETTLE.node_with_log(
        &dir.join(format!("nodes/{}.toml", PEERS[peer_idx])),
        "info,netsettle_peer::committer=debug",
        committer_step,
    )
}

/// The step and block number of a committer's `writing block number=N …` or `block
/// committed number=N` line.
fn committer_step(line: &str) -> Option<(Step, u64)> {
    let (step, fields) = if let Some((_, fields)) = line.split_once("writing block") {
        (Step::Writing, fields)
    } else {
        (Step::Committed, line.split_once("block committed")?.1)
    };
    let number = fields
        .split_whitespace()
        .find_map(|field| field.strip_prefix("number="))?
        .parse()
        .ok()?;
    Some((step, number))
}

/// The number of the first block at or after `from` for which the peer logs `step`.
fn wait_step(steps: &mpsc::Receiver<(Step, u64)>, step: Step, from: u64, peer: &str) -> u64 {
    let deadline = Instant::now() + WAIT_MAX;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match steps.recv_timeout(left) {
            Ok((seen, number)) if seen == step && number >= from => return number,
            Ok(_) => {}
            Err(_) => panic!("{peer} logged no {step:?} of block {from} or later"),
        }
    }
}

/// Waits until `victim` starts writing block `target` or a later one and kills it
/// (SIGKILL) right then. Returns the last committer step it logged before it died (its
/// stderr is read to the end): the block it was writing, or the last one it finished.
fn kill_while_writing(
    victim: Process,
    steps: &mpsc::Receiver<(Step, u64)>,
    target: u64,
) -> (Step, u64) {
    let name = victim.ready.clone();
    let mut last = (
        Step::Writing,
        wait_step(steps, Step::Writing, target, &name),
    );
    // Dropping the guard is `kill -9` and reaping.
    drop(victim);
    let deadline = Instant::now() + WAIT_MAX;
    loop {
        match steps.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(step) => last = step,
            Err(mpsc::RecvTimeoutError::Disconnected) => return last,
            Err(mpsc::RecvTimeoutError::Timeout) => panic!("{name}: stderr still open"),
        }
    }
}

/// `netsettle ledger verify` of peer `peer_idx`'s ledger: it must pass; its height.
fn verified_height(dir: &Path, peer_idx: usize) -> (u64, String) {
    let report = NETSETTLE.ok(dir, &["ledger", "verify", "--path", &ledger_dir(peer_idx)]);
    assert!(report.lines().any(|line| line == "ok"), "{report}");
    let field = |name: &str| -> String {
        report
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .unwrap_or_else(|| panic!("no {name:?} in {report}"))
            .to_owned()
    };
    let height: u64 = field("height ").parse().expect("a height");
    assert_eq!(field("state height "), height.to_string(), "{report}");
    (height, field("state digest "))
}

/// Every transaction envelope in peer `peer_idx`'s ledger: id → (block, code) of each
/// occurrence.
fn transactions(dir: &Path, peer_idx: usize) -> HashMap<TxId, Vec<(u64, ValidationCode)>> {
    let ledger = netsettle_ledger::Ledger::open_read_only(&dir.join(ledger_dir(peer_idx)))
        .expect("the ledger opens");
    let height = ledger.chain_info().expect("chain info").height;
    let mut found: HashMap<TxId, Vec<(u64, ValidationCode)>> = HashMap::new();
    for number in 0..height {
        let block = ledger.block(number).expect("readable").expect("stored");
        for (index, envelope) in block.data.iter().enumerate() {
            if matches!(envelope.payload, Payload::Transaction(_)) {
                let code = block.validation_code(index).expect("validated");
                found
                    .entry(envelope.tx_id())
                    .or_default()
                    .push((number, code));
            }
        }
    }
    found
}

#[test]
fn peers_killed_mid_commit_restart_and_converge() {
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    NETSETTLE.consortium(dir);
    NETSETTLE.render_layout(dir, SLOT, "");
    let _dmz = Forwarder::both(dir);
    let orderers: Vec<Process> = ORDERERS
        .iter()
        .map(|name| NETSETTLE.start_node(dir, name))
        .collect();
    // The peer1s join later, each in its first round, from the genesis block.
    let mut peers: Vec<Option<Process>> = PEERS
        .iter()
        .enumerate()
        .map(|(idx, name)| (!VICTIMS.contains(&idx)).then(|| NETSETTLE.start_node(dir, name)))
        .collect();
    NETSETTLE.define_settlement(dir);
    eprintln!("consortium up in {:?}", started.elapsed());

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (gateway, signer) = runtime
        .block_on(Gateway::from_profile(
            &dir.join(ADMIN_U[1]),
            &dir.join(ADMIN_U[3]),
        ))
        .expect("the client connects");
    let gateway = Arc::new(gateway);
    let mut load = Load::start(&runtime, Arc::clone(&gateway), signer);

    // Height of each victim's ledger (0: never started).
    let mut heights = [0u64; 2];
    let mut inside_write = 0;
    for round in 0..ROUNDS {
        let victim = round % VICTIMS.len();
        let peer_idx = VICTIMS[victim];
        load.wait_tip(&runtime, heights[victim] + BACKLOG_BLOCKS);
        let (process, steps) = start_logged(dir, peer_idx);
        // Somewhere in the backlog, not always its first block.
        let target = heights[victim].max(1) + u64::try_from(round % 3).unwrap();
        let (step, number) = kill_while_writing(process, &steps, target);
        let (height, _) = verified_height(dir, peer_idx);
        // What the peer last said it was doing is what its ledger shows: a block it was
        // writing is there whole or not at all; one it finished is there.
        let expected = match step {
            Step::Writing => [number, number + 1],
            Step::Committed => [number + 1; 2],
        };
        assert!(
            expected.contains(&height),
            "{} was killed after {step:?} block {number}; its ledger has height {height}",
            PEERS[peer_idx]
        );
        if step == Step::Writing {
            inside_write += 1;
        }
        eprintln!(
            "round {round}: {} killed after {step:?} block {number} (held {}, chain at {}), \
             restarts at height {height}; {:?}",
            PEERS[peer_idx],
            heights[victim],
            *load.tip.borrow() + 1,
            started.elapsed()
        );
        heights[victim] = height;
    }

    // Both victims back; the load stops. The endorsing peers committed every load
    // transaction (each client waited for both); the victims must catch up to the last.
    let restarted: Vec<_> = VICTIMS
        .iter()
        .map(|peer_idx| start_logged(dir, *peer_idx))
        .collect();
    let outcomes = load.finish(&runtime);
    let committed: Vec<Committed> = outcomes
        .into_iter()
        .map(|outcome| outcome.expect("every load transaction commits"))
        .collect();
    let last = committed
        .iter()
        .max_by_key(|committed| committed.block)
        .expect("the load committed something");
    for ((process, steps), peer_idx) in restarted.into_iter().zip(VICTIMS) {
        wait_step(&steps, Step::Committed, last.block, &process.ready);
        peers[peer_idx] = Some(process);
    }
    let gateway = Arc::into_inner(gateway).expect("the load is done with the client");
    runtime.block_on(gateway.close());
    for peer in peers.into_iter().flatten() {
        peer.stop();
    }
    for orderer in orderers {
        orderer.stop();
    }

    // Every ledger verifies at one height and state; all are identical.
    let (height, digest) = verified_height(dir, 0);
    assert_eq!(height, last.block + 1);
    for (peer_idx, name) in PEERS.iter().enumerate().skip(1) {
        assert_eq!(
            verified_height(dir, peer_idx),
            (height, digest.clone()),
            "{name}"
        );
        let compared = NETSETTLE.ok(
            dir,
            &["ledger", "compare", &ledger_dir(0), &ledger_dir(peer_idx)],
        );
        assert!(
            compared.lines().any(|line| line.trim() == "identical"),
            "{name}: {compared}"
        );
    }
    // Each load transaction exactly once, VALID, where its client saw it; besides them
    // only the three lifecycle transactions.
    for (peer_idx, name) in PEERS.iter().enumerate() {
        let found = transactions(dir, peer_idx);
        for committed in &committed {
            assert_eq!(
                found.get(&committed.tx_id),
                Some(&vec![(committed.block, ValidationCode::Valid)]),
                "{} at {name}",
                committed.tx_id
            );
        }
        assert_eq!(found.len(), committed.len() + 3, "{name}");
        assert!(found.values().all(|occurrences| occurrences.len() == 1));
    }
    eprintln!(
        "{ROUNDS} kills ({inside_write} inside a block write), {} transactions, \
         height {height}, in {:?}",
        committed.len(),
        started.elapsed()
    );
}
