//! Consensus throughput with real processes: five `netsettle node` orderers (3 Unicom, 2
//! Mobile; certificates from `ca bootstrap`, genesis from `configtx genesis` with the
//! consortium profile's batch policy: 1 s, 50 tx, 100 MB) on 127.9.x.x, talking Raft over
//! SM-TLS. Clients in this process broadcast signed ~1 KiB envelopes over SM-TLS
//! (`orderer-broadcast`, round-robin over the five) with a fixed number in flight per load
//! level; an observer with a peer's certificate long-polls `orderer-blocks` on the first
//! orderer and stamps each transaction when the block holding it is there.
//!
//! Reported per level: committed tx/s and blocks/s (first broadcast until the block with
//! the level's last transaction), broadcast-to-block latency p50 / p99, this machine's
//! 2-thread SM2 verify rate (`BatchVerifier`) measured just before the level and
//! throughput as a ratio to it (each ordered transaction costs one verify; the goal is
//! at least 0.5). The machine is shared, so wall-clock rates move with the other jobs;
//! the CPU seconds the orderer processes and this process spent per transaction (from
//! /proc), in units of one SM2 verify's CPU time, say what the ratio would be on an idle
//! machine and where the time goes. Results: `target/bench-results/consensus.csv` and
//! `consensus.png`.
//!
//! Envelopes are ~1.7 KiB: 200 bytes of arguments plus the client's and the endorsing
//! peer's certificates, which every transaction carries.
//!
//! A target of the `netsettle` package so that Cargo builds the binary first:
//! `cargo bench -p netsettle --bench consensus`. Every process is killed and reaped and
//! the directory removed on the way out, also when the bench fails (drop guards).

use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use netsettle_benches::process::{process_cpu_seconds, stat_cpu_seconds};
use netsettle_benches::results::{Chart, Series, write_csv, write_png};
use netsettle_benches::signed::SignedBatch;
use netsettle_msp::IdentityLayout;
use netsettle_net::{ChannelTrust, NetConfig, NetHandle, Network, NodeId};
use netsettle_protocol::{
    BROADCAST_SERVICE, Block, BlockBatch, BlockRange, BroadcastResponse, BroadcastStatus,
    ChannelConfig, Envelope, ORDERER_BLOCKS_SERVICE, Role, TxId, decode, encode,
};
use netsettle_smcrypto::{BatchVerifier, PrivateKey};
use netsettle_testkit::WAIT_MAX;
use netsettle_testkit::pki::Member;
use netsettle_testkit::process::{NODE_READY, Netsettle, Process, load_member};
use netsettle_testkit::tx::{fresh_header, ordering_envelope};
use tokio::sync::Semaphore;

/// The binary under test: this build's, or an earlier one named by `NETSETTLE_BENCH_BIN`
/// (to measure before and after in one sitting).
static NETSETTLE: std::sync::LazyLock<Netsettle> = std::sync::LazyLock::new(|| {
    Netsettle(env!("CARGO_BIN_EXE_netsettle")).overridden_by("NETSETTLE_BENCH_BIN")
});

/// Marks failure only: a level whose transactions are not all in blocks by then.
const LEVEL_DEADLINE: Duration = Duration::from_secs(180);
/// Load levels: (name, broadcasts in flight, transactions).
const LEVELS: [(&str, usize, usize); 4] = [
    ("light", 1, 150),
    ("moderate", 16, 1_000),
    ("heavy", 128, 3_000),
    ("saturation", 512, 5_000),
];
/// Argument bytes that make an envelope about 1 KiB.
const ARG_BYTES: usize = 200;
/// Pause between broadcasts while the orderers elect their first leader.
const LEADER_RETRY: Duration = Duration::from_millis(100);
/// Seconds of SM2 verification for the reference rate, measured again before each level
/// (the machine is shared: the rate of the moment is the fair reference).
const VERIFY_SECONDS: f64 = 1.5;

/// (org dir, MSP id, node name, listen address) of the five orderers; the first is
/// consenter 1 of `configs/consortium.toml`, and so on.
const ORDERERS: [(&str, &str, &str, &str); 5] = [
    (
        "unicom",
        "UnicomMSP",
        "orderer0.unicom.example",
        "127.9.1.10:7050",
    ),
    (
        "unicom",
        "UnicomMSP",
        "orderer1.unicom.example",
        "127.9.1.11:7050",
    ),
    (
        "unicom",
        "UnicomMSP",
        "orderer2.unicom.example",
        "127.9.1.12:7050",
    ),
    (
        "mobile",
        "MobileMSP",
        "orderer0.mobile.example",
        "127.9.2.10:7050",
    ),
    (
        "mobile",
        "MobileMSP",
        "orderer1.mobile.example",
        "127.9.2.11:7050",
    ),
];

/// Starts the orderer of node config `config` in `dir`, its log in `log`, and waits for
/// its readiness line.
fn start_orderer(dir: &Path, config: &Path, log: &Path) -> Process {
    let log = std::fs::File::create(log).expect("log file");
    let mut command = NETSETTLE.command();
    command
        .args(["node", "--config"])
        .arg(config)
        .current_dir(dir)
        .env("NETSETTLE_LOG", "warn")
        .stderr(log);
    Process::start(command, NODE_READY)
}

fn identity_dir(org: &str, kind: &str, name: &str) -> PathBuf {
    Path::new("crypto").join(org).join(kind).join(name)
}

fn node_id(dir: &Path, identity: &Path) -> NodeId {
    let layout = IdentityLayout::new(&dir.join(identity));
    let identity =
        netsettle_smtls::TlsIdentity::from_pem_files(&layout.tls_cert(), &layout.tls_key())
            .expect("TLS identity");
    NodeId::from_certificate(identity.leaf())
}

/// Writes one orderer-only node config per orderer, each listing the other four.
fn write_configs(dir: &Path) -> Vec<PathBuf> {
    let ids: Vec<NodeId> = ORDERERS
        .iter()
        .map(|(org, _, name, _)| node_id(dir, &identity_dir(org, "orderers", name)))
        .collect();
    let mut paths = Vec::new();
    for (index, (org, msp_id, name, listen)) in ORDERERS.iter().enumerate() {
        let mut text = format!(
            "name = {name:?}\ndata_dir = \"data/{name}\"\n\n[identity]\nmsp_id = {msp_id:?}\n\
             dir = {:?}\n\n[channel]\nname = \"settlement\"\ngenesis = \"genesis.block\"\n\n\
             [network]\nlisten = {listen:?}\n",
            identity_dir(org, "orderers", name).display().to_string()
        );
        for (other, (_, _, _, address)) in ORDERERS.iter().enumerate() {
            if other != index {
                text.push_str(&format!(
                    "\n[[network.peers]]\nnode_id = \"{}\"\naddress = {address:?}\n",
                    ids[other]
                ));
            }
        }
        text.push_str("\n[orderer]\n");
        let path = dir.join(format!("{name}.toml"));
        std::fs::write(&path, text).expect("node config");
        paths.push(path);
    }
    paths
}

/// Makes signed transaction envelopes for ordering only: the client proposes, Unicom's
/// peer0 endorses (the orderers check the client's signature and the Writers policy;
/// endorsements are the committing peers' business).
struct Envelopes {
    client: Member,
    peer: Member,
}

impl Envelopes {
    fn make(&self) -> Envelope {
        let header = fresh_header(&self.client.identity());
        ordering_envelope(&self.client, &self.peer, header, ARG_BYTES)
    }
}

async fn start_network(dir: &Path, identity: &Path, trust: &ChannelTrust, ip: &str) -> Network {
    let layout = IdentityLayout::new(&dir.join(identity));
    let identity =
        netsettle_smtls::TlsIdentity::from_pem_files(&layout.tls_cert(), &layout.tls_key())
            .expect("TLS identity");
    let listen = format!("{ip}:0").parse().expect("address");
    let config = NetConfig::new(identity, trust.clone(), listen);
    Network::start(config).await.expect("network")
}

struct Outcome {
    seconds: f64,
    txs: usize,
    blocks: u64,
    p50_ms: f64,
    p99_ms: f64,
    orderer_cpu_seconds: f64,
    bench_cpu_seconds: f64,
}

/// Follows the first orderer's chain by long poll from `next` and records, for every
/// transaction in `started`, how long after its broadcast its block was there. Returns
/// once `total` of them were seen: the latencies, the time of the last block and the
/// height reached.
async fn follow_blocks(
    net: NetHandle,
    orderer: NodeId,
    started: Arc<Mutex<HashMap<TxId, Instant>>>,
    mut next: u64,
    total: usize,
) -> (Vec<Duration>, Instant, u64) {
    let mut latencies = Vec::with_capacity(total);
    let mut last = Instant::now();
    while latencies.len() < total {
        let request = encode(&BlockRange::starting_at(next, 64)).expect("block range");
        let bytes = match net.request(orderer, ORDERER_BLOCKS_SERVICE, request).await {
            Ok(bytes) => bytes,
            Err(error) => panic!("orderer-blocks: {error}"),
        };
        let batch: BlockBatch = decode(&bytes).expect("block batch");
        let now = Instant::now();
        for block in &batch.0 {
            stamp(block, &started, now, &mut latencies);
            next = block.header.number + 1;
            last = now;
        }
    }
    (latencies, last, next)
}

fn stamp(
    block: &Block,
    started: &Mutex<HashMap<TxId, Instant>>,
    now: Instant,
    latencies: &mut Vec<Duration>,
) {
    let started = started.lock().expect("lock");
    for envelope in &block.data {
        if let Some(at) = started.get(&envelope.tx_id()) {
            latencies.push(now.duration_since(*at));
        }
    }
}

struct Bench {
    orderers: Vec<Process>,
    orderer_ids: Vec<NodeId>,
    client: Network,
    observer: Network,
    height: u64,
}

impl Bench {
    fn orderer_cpu_seconds(&self) -> f64 {
        self.orderers
            .iter()
            .map(|process| process_cpu_seconds(process.child.id()))
            .sum()
    }

    async fn run_level(&mut self, envelopes: Vec<Envelope>, in_flight: usize) -> Outcome {
        let total = envelopes.len();
        let started: Arc<Mutex<HashMap<TxId, Instant>>> = Arc::default();
        let follower = tokio::spawn(follow_blocks(
            self.observer.handle(),
            self.orderer_ids[0],
            Arc::clone(&started),
            self.height,
            total,
        ));
        let cpu_before = (
            self.orderer_cpu_seconds(),
            stat_cpu_seconds("/proc/self/stat"),
        );
        let begin = Instant::now();
        let slots = Arc::new(Semaphore::new(in_flight));
        let mut calls = Vec::with_capacity(total);
        for (index, envelope) in envelopes.into_iter().enumerate() {
            let permit = Arc::clone(&slots).acquire_owned().await.expect("semaphore");
            let net = self.client.handle();
            let orderer = self.orderer_ids[index % self.orderer_ids.len()];
            let started = Arc::clone(&started);
            calls.push(tokio::spawn(async move {
                let _permit = permit;
                let bytes = encode(&envelope).expect("encode");
                started
                    .lock()
                    .expect("lock")
                    .insert(envelope.tx_id(), Instant::now());
                broadcast(&net, orderer, bytes).await;
            }));
        }
        for call in calls {
            call.await.expect("broadcast task");
        }
        let (mut latencies, last, height) = tokio::time::timeout(LEVEL_DEADLINE, follower)
            .await
            .expect("every transaction in a block in time")
            .expect("block follower");
        let cpu_after = (
            self.orderer_cpu_seconds(),
            stat_cpu_seconds("/proc/self/stat"),
        );
        let blocks = height - self.height;
        self.height = height;
        latencies.sort();
        let percentile = |p: f64| {
            let index = ((latencies.len() - 1) as f64 * p).round() as usize;
            latencies[index].as_secs_f64() * 1000.0
        };
        Outcome {
            seconds: last.duration_since(begin).as_secs_f64(),
            txs: total,
            blocks,
            p50_ms: percentile(0.50),
            p99_ms: percentile(0.99),
            orderer_cpu_seconds: cpu_after.0 - cpu_before.0,
            bench_cpu_seconds: cpu_after.1 - cpu_before.1,
        }
    }
}

/// Broadcasts one envelope to each orderer until each accepts it: the orderers elect a
/// leader after they start, and until then answer `ServiceUnavailable`. Retried every
/// `LEADER_RETRY` (the election is the event; the orderers offer nothing to wait on).
async fn wait_for_leader(bench: &Bench, envelopes: &Envelopes) {
    let deadline = Instant::now() + WAIT_MAX;
    for orderer in &bench.orderer_ids {
        loop {
            let bytes = encode(&envelopes.make()).expect("encode");
            let answer = bench
                .client
                .handle()
                .request(*orderer, BROADCAST_SERVICE, bytes)
                .await;
            let status = answer
                .ok()
                .and_then(|bytes| decode::<BroadcastResponse>(&bytes).ok())
                .map(|response| response.status);
            if status == Some(BroadcastStatus::Success) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "no Raft leader in time: {status:?}"
            );
            tokio::time::sleep(LEADER_RETRY).await;
        }
    }
}

/// One broadcast; refusals other than success fail the bench (nothing is retried, so a
/// throughput figure never hides errors).
async fn broadcast(net: &NetHandle, orderer: NodeId, envelope: Vec<u8>) {
    let bytes = net
        .request(orderer, BROADCAST_SERVICE, envelope)
        .await
        .unwrap_or_else(|error| panic!("broadcast: {error}"));
    let response: BroadcastResponse = decode(&bytes).expect("broadcast response");
    assert_eq!(
        response.status,
        BroadcastStatus::Success,
        "{}",
        response.info
    );
}

/// CPU seconds of one SM2 verification on this thread: the cost side of the ratio,
/// which the other jobs on a shared machine do not change (unlike wall-clock rates).
fn sm2_verify_cpu_seconds() -> f64 {
    let key = PrivateKey::generate();
    let message = vec![0x42u8; 1024];
    let signature = key.sign(&message);
    let before = stat_cpu_seconds("/proc/thread-self/stat");
    let mut verified = 0u32;
    while stat_cpu_seconds("/proc/thread-self/stat") - before < VERIFY_SECONDS {
        for _ in 0..100 {
            key.public_key()
                .verify(&message, &signature)
                .expect("verifies");
        }
        verified += 100;
    }
    (stat_cpu_seconds("/proc/thread-self/stat") - before) / f64::from(verified)
}

/// SM2 verifications per second with the 2-thread batch verifier, as blocks are checked.
fn sm2_verify_rate() -> f64 {
    let batch = SignedBatch::new(512, 990);
    let jobs = batch.jobs();
    let verifier = BatchVerifier::new(NonZeroUsize::new(2).expect("two"));
    let begin = Instant::now();
    let mut verified = 0usize;
    while begin.elapsed().as_secs_f64() < VERIFY_SECONDS {
        let _ = verifier.verify_all(&jobs);
        verified += jobs.len();
    }
    verified as f64 / begin.elapsed().as_secs_f64()
}

fn channel_config(dir: &Path) -> ChannelConfig {
    let bytes = std::fs::read(dir.join("genesis.block")).expect("genesis block");
    let genesis: Block = decode(&bytes).expect("genesis decodes");
    genesis.config().cloned().expect("genesis config")
}

async fn start(dir: &Path) -> Bench {
    let configs = write_configs(dir);
    let orderers: Vec<Process> = configs
        .iter()
        .map(|config| {
            let log = config.with_extension("log");
            start_orderer(dir, config, &log)
        })
        .collect();
    for process in &orderers {
        println!("{}", process.ready);
    }
    let config = channel_config(dir);
    let trust = ChannelTrust::new(&config, &[Role::Orderer]).expect("trust");
    let client_dir = identity_dir("unicom", "users", "settlement@unicom.example");
    let peer_dir = identity_dir("unicom", "peers", "peer0.unicom.example");
    let client = start_network(dir, &client_dir, &trust, "127.9.1.30").await;
    let observer = start_network(dir, &peer_dir, &trust, "127.9.1.20").await;
    let mut orderer_ids = Vec::new();
    for (org, _, name, address) in ORDERERS {
        let id = node_id(dir, &identity_dir(org, "orderers", name));
        let address = address.parse().expect("address");
        for network in [&client, &observer] {
            network
                .handle()
                .add_address(id, address)
                .await
                .expect("add");
        }
        orderer_ids.push(id);
    }
    Bench {
        orderers,
        orderer_ids,
        client,
        observer,
        height: 1,
    }
}

fn main() {
    let verify_cpu = sm2_verify_cpu_seconds();
    println!(
        "SM2 verify: {:.3} ms CPU each, so {:.0}/s on two idle cores",
        verify_cpu * 1000.0,
        2.0 / verify_cpu
    );
    let dir = tempfile::Builder::new()
        .prefix("netsettle-consensus-bench")
        .tempdir()
        .expect("temp dir");
    NETSETTLE.consortium(dir.path());
    let member = |kind: &str, name: &str| {
        load_member(
            &dir.path().join(identity_dir("unicom", kind, name)),
            "UnicomMSP",
        )
    };
    let envelopes = Envelopes {
        client: member("users", "settlement@unicom.example"),
        peer: member("peers", "peer0.unicom.example"),
    };
    let size = encode(&envelopes.make()).expect("encode").len();
    println!("envelope: {size} bytes");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let mut rows = Vec::new();
    runtime.block_on(async {
        let mut bench = start(dir.path()).await;
        wait_for_leader(&bench, &envelopes).await;
        for (name, in_flight, txs) in LEVELS {
            let batch: Vec<Envelope> = (0..txs).map(|_| envelopes.make()).collect();
            let verify_rate = sm2_verify_rate();
            let outcome = bench.run_level(batch, in_flight).await;
            let tx_rate = outcome.txs as f64 / outcome.seconds;
            let cpu_per_tx =
                (outcome.orderer_cpu_seconds + outcome.bench_cpu_seconds) / outcome.txs as f64;
            println!(
                "{name:>10}: {in_flight:>3} in flight, {} tx in {:.2} s: {tx_rate:.0} tx/s, \
                 {:.1} blocks/s, latency p50 {:.0} ms p99 {:.0} ms; 2-thread SM2 verify \
                 {verify_rate:.0}/s just before, ratio {:.2}; CPU per tx {:.2} ms (orderers \
                 {:.2}, clients {:.2}) = {:.2} verifies",
                outcome.txs,
                outcome.seconds,
                outcome.blocks as f64 / outcome.seconds,
                outcome.p50_ms,
                outcome.p99_ms,
                tx_rate / verify_rate,
                cpu_per_tx * 1000.0,
                outcome.orderer_cpu_seconds * 1000.0 / outcome.txs as f64,
                outcome.bench_cpu_seconds * 1000.0 / outcome.txs as f64,
                cpu_per_tx / verify_cpu,
            );
            rows.push(Row {
                name,
                in_flight,
                outcome,
                tx_rate,
                verify_rate,
            });
        }
        bench.client.shutdown().await;
        bench.observer.shutdown().await;
        drop(bench.orderers);
    });
    report(&rows, verify_cpu);
}

struct Row {
    name: &'static str,
    in_flight: usize,
    outcome: Outcome,
    tx_rate: f64,
    verify_rate: f64,
}

fn report(rows: &[Row], verify_cpu: f64) {
    let header = [
        "level",
        "in_flight",
        "txs",
        "seconds",
        "tx_per_s",
        "blocks_per_s",
        "latency_p50_ms",
        "latency_p99_ms",
        "orderer_cpu_s",
        "bench_cpu_s",
        "sm2_verify_2t_per_s",
        "ratio",
        "cpu_ms_per_tx",
        "sm2_verify_cpu_ms",
    ];
    let csv_rows: Vec<Vec<String>> = rows
        .iter()
        .map(|row| {
            let Row {
                name,
                in_flight,
                outcome,
                tx_rate,
                verify_rate,
            } = row;
            let cpu_per_tx =
                (outcome.orderer_cpu_seconds + outcome.bench_cpu_seconds) / outcome.txs as f64;
            vec![
                (*name).to_owned(),
                in_flight.to_string(),
                outcome.txs.to_string(),
                format!("{:.3}", outcome.seconds),
                format!("{tx_rate:.1}"),
                format!("{:.2}", outcome.blocks as f64 / outcome.seconds),
                format!("{:.1}", outcome.p50_ms),
                format!("{:.1}", outcome.p99_ms),
                format!("{:.2}", outcome.orderer_cpu_seconds),
                format!("{:.2}", outcome.bench_cpu_seconds),
                format!("{verify_rate:.0}"),
                format!("{:.3}", tx_rate / verify_rate),
                format!("{:.3}", cpu_per_tx * 1000.0),
                format!("{:.3}", verify_cpu * 1000.0),
            ]
        })
        .collect();
    let csv = write_csv("consensus", &header, &csv_rows).expect("csv");
    println!("wrote {}", csv.display());
    let points = |value: &dyn Fn(&Row) -> f64| -> Vec<(f64, f64)> {
        rows.iter()
            .map(|row| (row.in_flight as f64, value(row)))
            .collect()
    };
    let chart = Chart {
        title: "netsettle consensus: 5 Raft orderers over SM-TLS".to_owned(),
        x_label: "broadcasts in flight".to_owned(),
        y_label: "tx/s, ms".to_owned(),
        series: vec![
            Series {
                label: "committed tx/s".to_owned(),
                points: points(&|row| row.tx_rate),
            },
            Series {
                label: "latency p50 ms".to_owned(),
                points: points(&|row| row.outcome.p50_ms),
            },
            Series {
                label: "latency p99 ms".to_owned(),
                points: points(&|row| row.outcome.p99_ms),
            },
            Series {
                label: "0.5 x SM2 verify rate (goal)".to_owned(),
                points: points(&|row| row.verify_rate / 2.0),
            },
        ],
    };
    match write_png("consensus", &chart) {
        Ok(path) => println!("wrote {}", path.display()),
        Err(error) => println!("no plot: {error}"),
    }
}
