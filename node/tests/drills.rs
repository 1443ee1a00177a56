//! Operations drills on the namespaced consortium (testkit `clouds`: five Raft orderers
//! and four peers in the carriers' clouds, both DMZ forwarders in the DMZ namespace),
//! each during a settlement month driven through the staff commands (`netsettle
//! settlement agreement/upload/reveal/dispute/adjust/accept/confirm/approve/pay/ack`,
//! each carrier's staff in its own cloud):
//!
//! - a DMZ cut: Mobile's forwarder stopped mid-month, Mobile's staff (who still reach
//!   everything through Unicom's forwarder) submit work while Unicom's staff, who cannot
//!   reach Mobile's peers for endorsement, are refused and change nothing; the forwarder
//!   comes back and the month completes;
//! - a kill -9 loop: at random points of the month (seeded, seed printed; set
//!   `NETSETTLE_DRILL_SEED` to repeat one) a random node is killed (orderer0 of a carrier
//!   also runs its CA; peers; other orderers) and stays down through the next staff
//!   command (4 of 5 orderers order; with a carrier's first peer down the SDK endorses,
//!   queries and waits at its second), then restarts; every node settles before the
//!   month goes on;
//! - a backup mid-month of a running peer, restored after the month in place of its
//!   wiped data: it catches up.
//!
//! Each ends the same way: every node ready and the peers (and the orderers) at one
//! height, the period Closed, every node stopped, every ledger passing `ledger verify`,
//! the peers' ledgers and the orderers' ledgers comparing identical across carriers, and
//! every transaction the staff commands reported committed in the chain exactly once and
//! VALID, no transaction id twice.
//!
//! Without root the drills say so and run on the loopback clouds of `configs/local.toml`
//! (slot 26, a port prefix per drill). The drills run one at a time (a lock): each starts
//! nine nodes and the machines have two cores.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use netsettle_ledger::Ledger;
use netsettle_protocol::ValidationCode;
use netsettle_testkit::WAIT_MAX;
use netsettle_testkit::clouds::{Cloud, Clouds, DMZ_MOBILE};
use netsettle_testkit::process::{
    ADMIN_M, ADMIN_U, Consortium, Forwarder, Netsettle, ORDERERS, PEERS, Placement, Process, REPO,
    STAFF_M, STAFF_U,
};
use netsettle_testkit::rng::Rng;
use serde_json::Value;
use tempfile::TempDir;

/// The binary under test.
const NETSETTLE: Netsettle = Netsettle(env!("CARGO_BIN_EXE_netsettle"));

/// This file's loopback range without root: 127.26.x.x (each drill adds a port prefix).
const SLOT: u8 = 26;

const PERIOD: &str = "2026-10";

/// Each carrier's finance staff.
const FINANCE_U: [&str; 4] = [
    "--profile",
    "clients/unicommsp.toml",
    "--identity",
    "crypto/unicom/users/finance@unicom.example",
];
const FINANCE_M: [&str; 4] = [
    "--profile",
    "clients/mobilemsp.toml",
    "--identity",
    "crypto/mobile/users/finance@mobile.example",
];

/// The month's steps ([`Drill::step`]), each one staff command committing work.
const STEPS: usize = 18;

/// Kills in the kill -9 drill (fewer when two fall before the same step).
const KILLS: u64 = 4;

/// How often a wait looks again at the nodes; the wait itself ends on what it sees, and
/// only [`WAIT_MAX`] marks failure.
const POLL_PACE: Duration = Duration::from_millis(100);

/// One drill at a time in this process.
static SERIAL: Mutex<()> = Mutex::new(());

/// A consortium started for one drill, the namespaces it runs in (none on loopback), and
/// what its staff committed. Fields drop in order: nodes and forwarders, then the
/// namespaces, then the directory.
struct Drill {
    consortium: Consortium,
    clouds: Option<Clouds>,
    placement: Placement,
    temp: TempDir,
    /// Every transaction id a staff command reported committed VALID.
    committed: Vec<String>,
}

impl Drill {
    /// The consortium in namespaces of set tag `tag` when they work here, else on loopback
    /// slot [`SLOT`] with port prefix `prefix`; the settlement contract defined.
    fn start(tag: &str, prefix: &str) -> Drill {
        let temp = tempfile::tempdir().unwrap();
        let dir = temp.path();
        let (clouds, consortium, placement) = match Clouds::available() {
            Ok(()) => {
                let clouds = Clouds::up(&Clouds::unique_name(tag));
                let consortium = clouds.start_consortium(NETSETTLE, dir, &ORDERERS, &PEERS);
                let placement = clouds.placement();
                (Some(clouds), consortium, placement)
            }
            Err(why) => {
                eprintln!(
                    "{why}: network namespaces unavailable, the loopback clouds of \
                     configs/local.toml are used (slot {SLOT}, port prefix {prefix})"
                );
                NETSETTLE.consortium(dir);
                NETSETTLE.render_layout(dir, SLOT, prefix);
                let consortium = NETSETTLE.start_nodes(dir, &ORDERERS, &PEERS);
                (None, consortium, Placement::default())
            }
        };
        NETSETTLE.define_settlement_at(&placement, dir);
        std::fs::write(
            dir.join("adjustments-mobile.csv"),
            "line_no,quantity,amount_fen,reason\n\
             2,87000000,8700000,1000000 MB of the outage window removed\n\
             3,12,1440000,circuit 13 was cancelled on 2026-10-01\n\
             8,90000,810000,toll-free traffic Mobile did not report\n",
        )
        .unwrap();
        Drill {
            consortium,
            clouds,
            placement,
            temp,
            committed: Vec::new(),
        }
    }

    fn dir(&self) -> &Path {
        self.temp.path()
    }

    /// `netsettle settlement COMMAND… WHO --output json EXTRA…` in WHO's cloud, which
    /// must succeed; its output, whose transaction ids are recorded.
    fn settle(&mut self, command: &[&str], who: &[&str], extra: &[&str]) -> Value {
        let args = [
            &["settlement"][..],
            command,
            who,
            &["--output", "json"],
            extra,
        ]
        .concat();
        let place = self.placement.of_args(who).clone();
        let stdout = NETSETTLE.ok_at(&place, self.dir(), &args);
        let output: Value = serde_json::from_str(&stdout)
            .unwrap_or_else(|error| panic!("{command:?}: not JSON ({error}): {stdout}"));
        collect_tx_ids(&output, &mut self.committed);
        output
    }

    /// The month's step `index` (below [`STEPS`]).
    fn step(&mut self, index: usize) {
        let period = ["--period", PERIOD];
        let csv = |msp: &str| format!("{REPO}/tests/data/settlement/demo-{msp}.csv");
        let agreement = format!("{REPO}/tests/data/settlement/agreement.json");
        match index {
            0 => self.settle(&["agreement", "propose"], &ADMIN_U, &["--file", &agreement]),
            1 => self.settle(&["agreement", "accept"], &ADMIN_M, &[]),
            2 => self.settle(
                &["upload"],
                &STAFF_U,
                &[&period[..], &["--csv", &csv("UnicomMSP")]].concat(),
            ),
            3 => self.settle(
                &["upload"],
                &STAFF_M,
                &[&period[..], &["--csv", &csv("MobileMSP")]].concat(),
            ),
            4 => self.settle(&["reveal"], &STAFF_U, &period),
            5 => self.settle(&["reveal"], &STAFF_M, &period),
            6 => self.settle(
                &["dispute"],
                &STAFF_M,
                &[
                    &period[..],
                    &["--line", "2", "--reason", "outage window counted twice"],
                ]
                .concat(),
            ),
            7 => self.settle(
                &["adjust"],
                &STAFF_M,
                &[&period[..], &["--file", "adjustments-mobile.csv"]].concat(),
            ),
            8 => self.settle(
                &["accept"],
                &STAFF_U,
                &[&period[..], &["--all-pending"]].concat(),
            ),
            9 => self.adjust_unicom("11", "441000", "3087000"),
            10 => self.adjust_unicom("4", "60000", "600000"),
            11 => self.settle(
                &["accept"],
                &STAFF_M,
                &[&period[..], &["--all-pending"]].concat(),
            ),
            12 => self.settle(&["confirm"], &STAFF_U, &period),
            13 => self.settle(&["confirm"], &STAFF_M, &period),
            14 => self.settle(&["approve"], &FINANCE_U, &period),
            15 => self.settle(&["approve"], &FINANCE_M, &period),
            16 => {
                let net = self.settle(&["status"], &FINANCE_M, &period)["state"]["net"].clone();
                assert_eq!(net["payer"], "B", "Mobile (party B) pays: {net}");
                let amount = net["amount_fen"].as_u64().unwrap().to_string();
                let pay = ["--reference", "ICBC-2026-11-0001", "--amount", &amount];
                self.settle(&["pay"], &FINANCE_M, &[&period[..], &pay].concat())
            }
            17 => self.settle(
                &["ack"],
                &FINANCE_U,
                &[&period[..], &["--reference", "ICBC-2026-11-0001"]].concat(),
            ),
            _ => panic!("the month has {STEPS} steps"),
        };
    }

    fn adjust_unicom(&mut self, line: &str, quantity: &str, amount: &str) -> Value {
        let extra = [
            "--period",
            PERIOD,
            "--line",
            line,
            "--quantity",
            quantity,
            "--amount-fen",
            amount,
            "--reason",
            "Unicom's CDRs",
        ];
        self.settle(&["adjust"], &STAFF_U, &extra)
    }

    fn steps(&mut self, range: std::ops::Range<usize>) {
        for index in range {
            self.step(index);
        }
    }

    /// Node `name` (a layout node) killed with SIGKILL and started again, past its
    /// readiness line.
    /// The list node `name` is in ([`Consortium::peers`] or `orderers`), and its index.
    fn slot(&mut self, name: &str) -> (&mut Vec<Process>, usize) {
        if let Some(index) = PEERS.iter().position(|peer| *peer == name) {
            (&mut self.consortium.peers, index)
        } else {
            let index = ORDERERS
                .iter()
                .position(|orderer| *orderer == name)
                .unwrap();
            (&mut self.consortium.orderers, index)
        }
    }

    /// Node `name` killed with SIGKILL (dropping a `Process` kills and reaps it); one
    /// node at a time, until [`Drill::restart`] puts it back in its place.
    fn kill(&mut self, name: &str) {
        let (nodes, index) = self.slot(name);
        drop(nodes.remove(index));
    }

    /// Node `name`, killed before, started again past its readiness line.
    fn restart(&mut self, name: &str) {
        let restarted = NETSETTLE.start_node_at(&self.placement, self.temp.path(), name);
        let (nodes, index) = self.slot(name);
        nodes.insert(index, restarted);
    }

    /// Waits until every node answers `/readyz` 200 and the peers are at one height and
    /// the orderers at one height (at least `height_min`); that height.
    fn wait_settled(&self, height_min: u64) -> u64 {
        let deadline = Instant::now() + WAIT_MAX;
        loop {
            let seen: HashMap<&str, Option<(bool, u64)>> = PEERS
                .iter()
                .chain(ORDERERS.iter())
                .map(|name| (*name, self.health(name)))
                .collect();
            let heights = |names: &[&str]| -> Vec<u64> {
                names
                    .iter()
                    .filter_map(|name| seen[name].filter(|(ready, _)| *ready))
                    .map(|(_, height)| height)
                    .collect()
            };
            let peers = heights(&PEERS);
            let orderers = heights(&ORDERERS);
            let one = |heights: &[u64], count: usize| {
                heights.len() == count
                    && heights.iter().all(|height| *height == heights[0])
                    && heights[0] >= height_min
            };
            if one(&peers, PEERS.len()) && one(&orderers, ORDERERS.len()) {
                return peers[0];
            }
            assert!(
                Instant::now() < deadline,
                "the nodes do not settle (ready, height): {seen:?}"
            );
            std::thread::sleep(POLL_PACE);
        }
    }

    /// Whether node `name` answers `/readyz` 200, and its ledger height from `/metrics`
    /// (curl in the node's cloud); `None` while it does not answer.
    fn health(&self, name: &str) -> Option<(bool, u64)> {
        let address = operations_address(self.dir(), name);
        let place = self.placement.of_node(name);
        let curl = |path: &str, extra: &[&str]| {
            let output = place
                .command("curl")
                .args(["-s", "--max-time", "2"])
                .args(extra)
                .arg(format!("http://{address}{path}"))
                .output()
                .expect("curl runs (scripts/setup.sh installs it)");
            String::from_utf8_lossy(&output.stdout).into_owned()
        };
        let ready = curl("/readyz", &["-o", "/dev/null", "-w", "%{http_code}"]) == "200";
        let metrics = curl("/metrics", &[]);
        // `netsettle_ledger_height{role="peer"} 7`: a node runs one of the two roles.
        let height = metrics
            .lines()
            .filter(|line| line.starts_with("netsettle_ledger_height{"))
            .find_map(|line| line.rsplit_once(' '))?
            .1
            .parse()
            .ok()?;
        Some((ready, height))
    }

    /// The month's end: the period Closed, the nodes settled then stopped, every ledger
    /// verified, the carriers' ledgers identical, and every committed transaction in the
    /// chain exactly once and VALID.
    fn finish(mut self) {
        let status = self.settle(&["status"], &STAFF_U, &["--period", PERIOD]);
        assert_eq!(status["status"]["phase"], "Closed", "{status}");
        let height = self.wait_settled(1);
        let nodes = std::mem::take(&mut self.consortium.peers)
            .into_iter()
            .chain(std::mem::take(&mut self.consortium.orderers));
        for node in nodes {
            node.stop();
        }
        let dir = self.dir();
        let peers = [
            "peer0.unicom.example",
            "peer1.unicom.example",
            "peer0.mobile.example",
            "peer1.mobile.example",
        ]
        .map(|node| format!("data/{node}/ledger"));
        let orderers = [
            "orderer0.unicom.example",
            "orderer1.unicom.example",
            "orderer2.unicom.example",
            "orderer0.mobile.example",
            "orderer1.mobile.example",
        ]
        .map(|node| format!("data/{node}/orderer/ledger"));
        for ledger in peers.iter().chain(&orderers) {
            let verified = NETSETTLE.ok(dir, &["ledger", "verify", "--path", ledger]);
            assert!(verified.trim_end().ends_with("ok"), "{ledger}: {verified}");
        }
        for group in [&peers[..], &orderers[..]] {
            for other in &group[1..] {
                let compared = NETSETTLE.ok(dir, &["ledger", "compare", &group[0], other]);
                assert!(compared.contains("identical"), "{other}: {compared}");
            }
        }
        exactly_once(&dir.join(&peers[2]), &self.committed, height);
        let distinct: BTreeSet<&String> = self.committed.iter().collect();
        assert_eq!(
            distinct.len(),
            STEPS,
            "one transaction per step of the month"
        );
        eprintln!(
            "drill: {} transactions committed once each, {height} blocks on every peer",
            distinct.len()
        );
    }
}

/// Every `"tx_id"` string anywhere in `value`, appended to `ids`.
fn collect_tx_ids(value: &Value, ids: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                match (key.as_str(), inner) {
                    ("tx_id", Value::String(id)) => ids.push(id.clone()),
                    _ => collect_tx_ids(inner, ids),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| collect_tx_ids(item, ids)),
        _ => {}
    }
}

/// No transaction id twice in the stopped ledger at `path` (of `height` blocks), and
/// every one of `committed` in it, VALID.
fn exactly_once(path: &Path, committed: &[String], height: u64) {
    let ledger = Ledger::open_read_only(path).unwrap();
    assert_eq!(ledger.chain_info().unwrap().height, height);
    let mut codes: HashMap<String, Vec<ValidationCode>> = HashMap::new();
    for number in 0..height {
        let block = ledger.block(number).unwrap().unwrap();
        for (envelope, code) in block.data.iter().zip(&block.metadata.validation_codes) {
            codes
                .entry(envelope.tx_id().to_string())
                .or_default()
                .push(*code);
        }
    }
    for (tx_id, seen) in &codes {
        assert_eq!(
            seen.len(),
            1,
            "transaction {tx_id} is in the chain {} times",
            seen.len()
        );
    }
    assert!(!committed.is_empty());
    for tx_id in committed {
        assert_eq!(
            codes.get(tx_id).map(Vec::as_slice),
            Some(&[ValidationCode::Valid][..]),
            "committed transaction {tx_id}"
        );
    }
}

/// The `[operations]` listen address of rendered node `name`.
fn operations_address(dir: &Path, name: &str) -> String {
    let config = std::fs::read_to_string(dir.join(format!("nodes/{name}.toml"))).unwrap();
    let (_, section) = config
        .split_once("[operations]")
        .unwrap_or_else(|| panic!("{name} has no [operations]"));
    section
        .lines()
        .find_map(|line| line.strip_prefix("listen = \""))
        .and_then(|rest| rest.strip_suffix('"'))
        .unwrap_or_else(|| panic!("{name}: no operations listen"))
        .to_owned()
}

/// A number below `n`, from `rng`.
fn pick(rng: &mut Rng, n: usize) -> usize {
    usize::try_from(rng.below(u64::try_from(n).unwrap())).unwrap()
}

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[test]
fn a_dmz_cut_mid_month_heals_and_nothing_is_lost_or_duplicated() {
    let _serial = serial();
    let mut drill = Drill::start("dc", "1");
    drill.steps(0..6);
    // Mobile's forwarder goes down: Unicom's cloud no longer reaches Mobile's nodes.
    drill.consortium.dmz[1].stop();
    if let Some(clouds) = &drill.clouds {
        assert!(!clouds.dials(Cloud::Unicom, &format!("{DMZ_MOBILE}:7050")));
    }
    // Mobile's staff still reach everything (Unicom's forwarder) and their own orderers:
    // a dispute and three adjustments committed while the link is cut.
    drill.steps(6..8);
    // Unicom's staff cannot get Mobile's endorsement meanwhile: refused, nothing changed.
    let before = drill.settle(&["status"], &STAFF_U, &["--period", PERIOD]);
    let accept = [
        &["settlement", "accept"][..],
        &STAFF_U,
        &["--period", PERIOD, "--all-pending"],
    ]
    .concat();
    let place = drill.placement.unicom.clone();
    let refused = NETSETTLE.fails_at(&place, drill.dir(), &accept);
    assert!(refused.contains("cannot reach node"), "{refused}");
    let after = drill.settle(&["status"], &STAFF_U, &["--period", PERIOD]);
    assert_eq!(after["state"], before["state"]);
    assert_eq!(after["state"]["pending_adjustments"], 3, "{after}");
    drill.consortium.dmz[1] = Forwarder::mobile_at(&drill.placement.dmz, drill.dir());
    drill.consortium.dmz[1].wait_listening(&drill.dir().join("dmz/mobile"));
    drill.steps(8..STEPS);
    drill.finish();
}

#[test]
fn kill_9_of_random_nodes_through_the_month_loses_nothing() {
    let _serial = serial();
    let seed = std::env::var("NETSETTLE_DRILL_SEED")
        .ok()
        .and_then(|seed| seed.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs()
        });
    eprintln!("kill -9 drill: seed {seed} (NETSETTLE_DRILL_SEED={seed} repeats it)");
    let mut rng = Rng::new(seed);
    let mut drill = Drill::start("dk", "2");
    let nodes: Vec<&str> = ORDERERS.iter().chain(PEERS.iter()).copied().collect();
    let kill_before: BTreeSet<usize> = (0..KILLS).map(|_| pick(&mut rng, STEPS)).collect();
    let mut height = 1;
    for index in 0..STEPS {
        if kill_before.contains(&index) {
            let victim = nodes[pick(&mut rng, nodes.len())];
            eprintln!("kill -9 drill: step {index}: kill -9 {victim}");
            drill.kill(victim);
            // The month goes on without it (4 of 5 orderers order; the SDK passes over a
            // carrier's peer it cannot reach for the next), then it restarts and catches
            // up.
            drill.step(index);
            drill.restart(victim);
            height = drill.wait_settled(height);
        } else {
            drill.step(index);
        }
    }
    drill.finish();
}

#[test]
fn a_peer_restored_from_a_mid_month_backup_catches_up() {
    let _serial = serial();
    let mut drill = Drill::start("db", "3");
    drill.steps(0..9);
    let backup = NETSETTLE.ok(
        drill.dir(),
        &[
            "ledger",
            "backup",
            "--path",
            "data/peer0.mobile.example/ledger",
            "--out",
            "backup-peer0-mobile",
        ],
    );
    assert!(
        backup.contains("backed up to backup-peer0-mobile"),
        "{backup}"
    );
    let backup_height: u64 = backup
        .lines()
        .find_map(|line| line.strip_prefix("height "))
        .unwrap()
        .parse()
        .unwrap();
    drill.steps(9..STEPS);
    let height = drill.wait_settled(1);
    // Stop Mobile's peer0, wipe its data, restore the backup, start it: it catches up.
    let index = PEERS
        .iter()
        .position(|peer| *peer == "mobilemsp-peer0")
        .unwrap();
    drill.consortium.peers.remove(index).stop();
    std::fs::remove_dir_all(drill.dir().join("data/peer0.mobile.example")).unwrap();
    let restored = NETSETTLE.ok(
        drill.dir(),
        &[
            "ledger",
            "restore",
            "--from",
            "backup-peer0-mobile",
            "--path",
            "data/peer0.mobile.example/ledger",
        ],
    );
    eprintln!("backup drill: {restored}");
    let peer = NETSETTLE.start_node_at(&drill.placement, drill.dir(), "mobilemsp-peer0");
    drill.consortium.peers.insert(index, peer);
    assert_eq!(drill.wait_settled(height), height);
    assert!(
        backup_height < height,
        "the backup ({backup_height} blocks) already held the whole month ({height})"
    );
    drill.finish();
}
