//! Consensus throughput with real processes: five `netsettle node` orderers (3 Unicom, 2
//! Mobile; certificates from `ca bootstrap`, genesis from `configtx genesis` with the
//! consortium profile's batch policy: 1 s, 50 tx, 100 MB) on 127.9.x.x, talking Raft over
//! SM-TLS. Clients in this process broadcast signed ~1 KiB envelopes over SM-TLS with a
//! fixed number in flight per load level, through the client SDK's coalescer
//! (`netsettle_client::BroadcastCoalescer`: what queues up for one orderer while earlier
//! requests travel goes as one `orderer-broadcast-batch` request; an orderer built before
//! batches gets `orderer-broadcast` requests one by one), to the Raft leader
//! the orderers' answers name, as the client SDK does (`netsettle_client::OrdererPreference`;
//! round-robin over the five until an answer names it, which orderers built before the
//! hint never do); an observer with a peer's certificate long-polls `orderer-blocks` on the first
//! orderer and stamps each transaction when the block holding it is there.
//!
//! Reported per level: committed tx/s and blocks/s (first broadcast until the block with
//! the level's last transaction), broadcast-to-block latency p50 / p99, and the CPU
//! milliseconds per transaction by role, from /proc: the busiest orderer (the leader,
//! which receives every entry and sends it to four followers), the other four orderers
//! together, and this process (the clients and the observer). On a 2-core machine CPU is
//! what runs out, and CPU per transaction moves far less than wall-clock rates when other
//! jobs share the machine. Results: `target/bench-results/consensus[-LABEL].csv` and
//! `.png`, LABEL from `NETSETTLE_BENCH_LABEL`.
//!
//! `NETSETTLE_BENCH_SATURATION_TXS=N` makes the saturation level N transactions long
//! (10,000 by default). `NETSETTLE_BENCH_NO_BATCH=1` sends every broadcast in a request of
//! its own instead of through the coalescer's batches; `NETSETTLE_BENCH_ROUND_ROBIN=1`
//! spreads them over the five orderers instead of sending them to the leader.
//!
//! Before and after in one sitting: `NETSETTLE_BENCH_BIN=/path/to/older/netsettle
//! NETSETTLE_BENCH_LABEL=before cargo bench -p netsettle --bench consensus` runs the
//! orderers of an earlier build (the clients are this build's).
//!
//! Envelopes are ~1.7 KiB: 200 bytes of arguments plus the client's and the endorsing
//! peer's certificates, which every transaction carries.
//!
//! A target of the `netsettle` package so that Cargo builds the binary first:
//! `cargo bench -p netsettle --bench consensus`. Every process is killed and reaped and
//! the directory removed on the way out, also when the bench fails (drop guards).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use netsettle_benches::process::{process_cpu_seconds, stat_cpu_seconds};
use netsettle_benches::results::{Chart, Series, write_csv, write_png};
use netsettle_client::{BroadcastCoalescer, Endpoint, OrdererPreference};
use netsettle_msp::IdentityLayout;
use netsettle_net::{ChannelTrust, NetConfig, NetHandle, Network, NodeId};
use netsettle_protocol::{
    BROADCAST_SERVICE, Block, BlockBatch, BlockRange, BroadcastResponse, BroadcastStatus,
    ChannelConfig, Envelope, ORDERER_BLOCKS_SERVICE, Role, TxId, decode, encode,
};
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
    ("heavy", 128, 4_000),
    ("saturation", 512, 10_000),
];
/// The throughput goal of issue 18, drawn on the plot.
const GOAL_TX_PER_S: f64 = 3_500.0;
/// Argument bytes that make an envelope about 1 KiB.
const ARG_BYTES: usize = 200;
/// Pause between broadcasts while the orderers elect their first leader.
const LEADER_RETRY: Duration = Duration::from_millis(100);

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
    busiest_orderer_cpu_seconds: f64,
    bench_cpu_seconds: f64,
}

impl Outcome {
    /// CPU milliseconds per transaction: (total, busiest orderer, other orderers, client).
    fn cpu_ms_per_tx(&self) -> (f64, f64, f64, f64) {
        let per_tx = |seconds: f64| seconds * 1000.0 / self.txs as f64;
        (
            per_tx(self.orderer_cpu_seconds + self.bench_cpu_seconds),
            per_tx(self.busiest_orderer_cpu_seconds),
            per_tx(self.orderer_cpu_seconds - self.busiest_orderer_cpu_seconds),
            per_tx(self.bench_cpu_seconds),
        )
    }
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
    /// The orderers as the client SDK names them, for its leader preference.
    orderer_endpoints: Arc<Vec<Endpoint>>,
    /// Where broadcasts go: the leader the orderers named, as in the client SDK.
    preference: Arc<OrdererPreference>,
    /// `NETSETTLE_BENCH_ROUND_ROBIN`: spread broadcasts over the five orderers instead of
    /// sending them to the leader (to compare the two on one machine).
    round_robin: bool,
    /// `NETSETTLE_BENCH_NO_BATCH`: every broadcast in a request of its own
    /// (`BroadcastCoalescer::send_alone`) instead of batches, to measure what they change.
    alone: bool,
    /// Sends the broadcasts, batching what queues up per orderer, as the client SDK does.
    broadcasts: Arc<BroadcastCoalescer>,
    client: Network,
    observer: Network,
    height: u64,
}

impl Bench {
    /// CPU seconds so far of each orderer process.
    fn orderer_cpu_seconds(&self) -> Vec<f64> {
        self.orderers
            .iter()
            .map(|process| process_cpu_seconds(process.child.id()))
            .collect()
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
            let broadcasts = Arc::clone(&self.broadcasts);
            let alone = self.alone;
            let round_robin = self.orderer_ids[index % self.orderer_ids.len()];
            let orderer = if self.round_robin {
                round_robin
            } else {
                self.preference
                    .leader(&self.orderer_endpoints)
                    .map_or(round_robin, |leader| leader.node_id)
            };
            let endpoints = Arc::clone(&self.orderer_endpoints);
            let preference = Arc::clone(&self.preference);
            let started = Arc::clone(&started);
            calls.push(tokio::spawn(async move {
                let _permit = permit;
                let bytes = encode(&envelope).expect("encode");
                started
                    .lock()
                    .expect("lock")
                    .insert(envelope.tx_id(), Instant::now());
                let leader = broadcast(&broadcasts, orderer, bytes, alone).await;
                preference.answered(&endpoints, orderer, leader.as_deref());
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
        let orderer_cpu: Vec<f64> = cpu_after
            .0
            .iter()
            .zip(&cpu_before.0)
            .map(|(after, before)| after - before)
            .collect();
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
            orderer_cpu_seconds: orderer_cpu.iter().sum(),
            busiest_orderer_cpu_seconds: orderer_cpu.iter().copied().fold(0.0, f64::max),
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
                .and_then(|bytes| BroadcastResponse::decode_any(&bytes).ok())
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
/// throughput figure never hides errors). The leader the orderer named, if any.
async fn broadcast(
    broadcasts: &BroadcastCoalescer,
    orderer: NodeId,
    envelope: Vec<u8>,
    alone: bool,
) -> Option<String> {
    let response = if alone {
        broadcasts.send_alone(orderer, envelope).await
    } else {
        broadcasts.send(orderer, envelope).await
    };
    let response = response.unwrap_or_else(|error| panic!("broadcast: {error}"));
    assert_eq!(
        response.status,
        BroadcastStatus::Success,
        "{}",
        response.info
    );
    response.leader
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
    let mut orderer_endpoints = Vec::new();
    for (org, msp_id, name, address) in ORDERERS {
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
        orderer_endpoints.push(Endpoint {
            msp_id: msp_id.to_owned(),
            node_id: id,
        });
    }
    Bench {
        orderers,
        orderer_ids,
        orderer_endpoints: Arc::new(orderer_endpoints),
        preference: Arc::new(OrdererPreference::new()),
        round_robin: std::env::var_os("NETSETTLE_BENCH_ROUND_ROBIN").is_some(),
        alone: std::env::var_os("NETSETTLE_BENCH_NO_BATCH").is_some(),
        broadcasts: Arc::new(BroadcastCoalescer::new(client.handle())),
        client,
        observer,
        height: 1,
    }
}

fn main() {
    let label = std::env::var("NETSETTLE_BENCH_LABEL").unwrap_or_default();
    println!("orderers: {}", NETSETTLE.0);
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
        // `NETSETTLE_BENCH_SATURATION_TXS=N`: a longer saturation level, to see the rate
        // hold once RocksDB flushes and compacts.
        let saturation_txs: Option<usize> = std::env::var("NETSETTLE_BENCH_SATURATION_TXS")
            .ok()
            .map(|text| {
                text.trim()
                    .parse()
                    .unwrap_or_else(|_| panic!("NETSETTLE_BENCH_SATURATION_TXS: {text:?}"))
            });
        for (name, in_flight, txs) in LEVELS {
            let txs = match saturation_txs {
                Some(long) if name == "saturation" => long,
                _ => txs,
            };
            let batch: Vec<Envelope> = (0..txs).map(|_| envelopes.make()).collect();
            println!("{name:>10}: starting");
            let outcome = bench.run_level(batch, in_flight).await;
            let tx_rate = outcome.txs as f64 / outcome.seconds;
            let (total, busiest, others, client) = outcome.cpu_ms_per_tx();
            println!(
                "{name:>10}: {in_flight:>3} in flight, {} tx in {:.2} s: {tx_rate:.0} tx/s, \
                 {:.1} blocks/s, latency p50 {:.0} ms p99 {:.0} ms; CPU ms per tx {total:.3} \
                 (busiest orderer {busiest:.3}, other four {others:.3}, client {client:.3})",
                outcome.txs,
                outcome.seconds,
                outcome.blocks as f64 / outcome.seconds,
                outcome.p50_ms,
                outcome.p99_ms,
            );
            let sent = bench.broadcasts.stats();
            println!(
                "{name:>10}: requests so far: {} single, {} batches, {} envelopes",
                sent.singles, sent.batches, sent.envelopes
            );
            rows.push(Row {
                name,
                in_flight,
                outcome,
                tx_rate,
            });
        }
        bench.client.shutdown().await;
        bench.observer.shutdown().await;
        drop(bench.orderers);
    });
    report(&rows, &label);
}

struct Row {
    name: &'static str,
    in_flight: usize,
    outcome: Outcome,
    tx_rate: f64,
}

fn report(rows: &[Row], label: &str) {
    let name = if label.is_empty() {
        "consensus".to_owned()
    } else {
        format!("consensus-{label}")
    };
    let header = [
        "level",
        "in_flight",
        "txs",
        "seconds",
        "tx_per_s",
        "blocks_per_s",
        "latency_p50_ms",
        "latency_p99_ms",
        "cpu_ms_per_tx",
        "busiest_orderer_cpu_ms_per_tx",
        "other_orderers_cpu_ms_per_tx",
        "client_cpu_ms_per_tx",
    ];
    let csv_rows: Vec<Vec<String>> = rows
        .iter()
        .map(|row| {
            let (total, busiest, others, client) = row.outcome.cpu_ms_per_tx();
            vec![
                row.name.to_owned(),
                row.in_flight.to_string(),
                row.outcome.txs.to_string(),
                format!("{:.3}", row.outcome.seconds),
                format!("{:.1}", row.tx_rate),
                format!("{:.2}", row.outcome.blocks as f64 / row.outcome.seconds),
                format!("{:.1}", row.outcome.p50_ms),
                format!("{:.1}", row.outcome.p99_ms),
                format!("{total:.3}"),
                format!("{busiest:.3}"),
                format!("{others:.3}"),
                format!("{client:.3}"),
            ]
        })
        .collect();
    let csv = write_csv(&name, &header, &csv_rows).expect("csv");
    println!("wrote {}", csv.display());
    let points = |value: &dyn Fn(&Row) -> f64| -> Vec<(f64, f64)> {
        rows.iter()
            .map(|row| (row.in_flight as f64, value(row)))
            .collect()
    };
    let chart = Chart {
        title: format!("netsettle consensus: 5 Raft orderers over SM-TLS {label}"),
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
                label: "goal tx/s".to_owned(),
                points: points(&|_| GOAL_TX_PER_S),
            },
        ],
    };
    match write_png(&name, &chart) {
        Ok(path) => println!("wrote {}", path.display()),
        Err(error) => println!("no plot: {error}"),
    }
}
