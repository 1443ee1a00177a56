//! End to end through the default consortium: endorse → order → validate → commit.
//!
//! Real processes, as a carrier runs them: five Raft orderers (3 Unicom, 2 Mobile), both
//! carriers' endorsing peers (peer0 of each), both nginx DMZ forwarders, all `netsettle
//! node` over libp2p + SM-TLS on loopback range 127.10.x.x. The bench process is Unicom's
//! settlement system: it loads its connection profile and identity like `netsettle tx`, and
//! drives the client SDK (`netsettle_client`) from N concurrent tasks. Each transaction is
//! a real `upload` of an SM4-GCM-sealed report (~600 B ciphertext) for a period of its own,
//! so transactions never conflict and every one should commit VALID.
//!
//! Per load level it reports committed tx/s and submit-to-commit latency p50 / p99, where
//! the client's time goes (endorse at both carriers, broadcast until an orderer accepts,
//! wait until both endorsing peers committed), and the CPU seconds each kind of process
//! used (orderers, peers, nginx, the client) per committed transaction: on a 2-core
//! machine CPU is what runs out. Results: `target/bench-results/e2e.csv`, `e2e-tps.png`,
//! `e2e-latency.png`.
//!
//!   cargo bench -p netsettle --bench e2e
//!   NETSETTLE_E2E_CLIENTS=1,8,32 NETSETTLE_E2E_SECONDS=15 cargo bench -p netsettle --bench e2e
//!
//! `NETSETTLE_BENCH_BIN=/path/to/older/netsettle NETSETTLE_BENCH_LABEL=before` runs the
//! nodes of an earlier build (the client is this build's) and labels the result files, to
//! measure before and after in one sitting. Builds before `6c09aae` cannot read this
//! build's transactions (a written argument is sent as a reference, `protocol::tx_wire`):
//! measure those with their own bench binary, with their `netsettle` in
//! `target/release/` (the bench's preparation runs the CLI found there).
//!
//! `NETSETTLE_E2E_REPORT_LINES` sets the lines of each sealed report (default 8, ~600
//! bytes of ciphertext), to measure what the bytes of an envelope cost.
//!
//! `NETSETTLE_E2E_NO_BATCH=1` sends every broadcast in a request of its own instead of
//! through the SDK's batches (`Gateway::set_broadcast_batching`), to measure what they change.
//!
//! `NETSETTLE_E2E_NO_STATUS_BATCH=1` waits for each commit with `peer-tx-status`
//! requests of its own instead of the gateway's shared long polls
//! (`Gateway::set_status_batching`); nodes built before the batch service get those anyway.
//!
//! `NETSETTLE_E2E_NO_ENDORSE_BATCH=1` sends every proposal in a `peer-endorse` request of
//! its own instead of the gateway's batches (`Gateway::set_endorse_batching`).
//!
//! With `NETSETTLE_E2E_PERF=1` (and `perf` installed) the busiest level also records a
//! `perf` profile of one endorsing peer and prints its top symbols.

#![allow(clippy::print_stdout, reason = "a bench prints its figures")]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use netsettle_benches::process::process_cpu_seconds;
use netsettle_benches::results::{Chart, Series, write_csv, write_png};
use netsettle_client::{ConnectionProfile, Gateway, Signer, assemble};
use netsettle_protocol::{ContractId, ValidationCode};
use netsettle_settlement::agreement::Agreement;
use netsettle_settlement::sample::{SampleSpec, generate_pair};
use netsettle_settlement::seal::seal_report_fresh;
use netsettle_settlement::units::Period;
use netsettle_testkit::process::{ADMIN_M, Forwarder, Netsettle, Process, REPO};

/// The binary under test: this build's, or an earlier one named by `NETSETTLE_BENCH_BIN`
/// (to measure before and after in one sitting).
static NETSETTLE: std::sync::LazyLock<Netsettle> = std::sync::LazyLock::new(|| {
    Netsettle(env!("CARGO_BIN_EXE_netsettle")).overridden_by("NETSETTLE_BENCH_BIN")
});

/// Whether the size of an upload envelope was printed (once per run).
static ENVELOPE_SIZE_SHOWN: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

/// Loopback range of this bench (127.10.x.x); tests use other slots.
const SLOT: u8 = 10;
/// Lines per sealed report (~600 bytes of ciphertext); `NETSETTLE_E2E_REPORT_LINES`
/// changes it, to measure what each byte of an envelope costs.
static REPORT_LINES: std::sync::LazyLock<usize> = std::sync::LazyLock::new(|| {
    let lines = env_list("NETSETTLE_E2E_REPORT_LINES", &[8])[0];
    usize::try_from(lines).expect("NETSETTLE_E2E_REPORT_LINES fits in usize")
});
/// Periods available to uploads (2000-01 … 9999-12).
const PERIODS_MAX: u32 = 8000 * 12;

fn main() {
    let levels = env_list("NETSETTLE_E2E_CLIENTS", &[1, 8, 32, 96, 192]);
    let seconds = env_list("NETSETTLE_E2E_SECONDS", &[15])[0];
    let perf = std::env::var_os("NETSETTLE_E2E_PERF").is_some();
    let run = Consortium::start();
    run.prepare();
    println!("consortium up: 5 orderers, 2 endorsing peers, 2 DMZ forwarders (127.{SLOT}.x.x)");

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let client = runtime.block_on(Client::connect(run.dir()));
    let client = Arc::new(client);
    let next_period = Arc::new(AtomicU32::new(0));

    let mut results = Vec::new();
    for (index, &clients) in levels.iter().enumerate() {
        let profile = perf && index + 1 == levels.len();
        let perf_run = if profile {
            run.perf_start("unicommsp-peer0", seconds)
        } else {
            None
        };
        let before = run.cpu_seconds();
        let level = runtime.block_on(run_level(
            &client,
            &next_period,
            clients,
            Duration::from_secs(seconds.into()),
        ));
        let cpu = run.cpu_seconds().since(&before);
        print_level(&level, &cpu);
        if let Some(perf_run) = perf_run {
            perf_report(perf_run);
        }
        results.push((level, cpu));
    }
    write_results(&results);
    runtime.block_on(async {
        if let Ok(client) = Arc::try_unwrap(client) {
            client.gateway.close().await;
        }
    });
}

/// A comma-separated list of numbers from the environment, or `default`.
fn env_list(name: &str, default: &[u32]) -> Vec<u32> {
    match std::env::var(name) {
        Ok(text) => text
            .split(',')
            .map(|n| {
                n.trim()
                    .parse()
                    .unwrap_or_else(|_| panic!("{name}: {n:?} is not a number"))
            })
            .collect(),
        Err(_) => default.to_vec(),
    }
}

/// The running processes; killed and reaped on drop (also when the bench panics).
struct Consortium {
    dir: tempfile::TempDir,
    nodes: Vec<(String, Process)>,
    forwarders: Vec<Forwarder>,
}

impl Consortium {
    fn start() -> Consortium {
        let dir = tempfile::tempdir().expect("temp dir");
        NETSETTLE.consortium(dir.path());
        NETSETTLE.render_layout(dir.path(), SLOT, "");
        let forwarders = [("unicom", "UnicomMSP"), ("mobile", "MobileMSP")]
            .iter()
            .map(|(carrier, org)| {
                let map = dir.path().join(format!("dmz/{org}.map"));
                Forwarder::start(&dir.path().join(format!("dmz/{carrier}")), &map)
            })
            .collect();
        let mut nodes = Vec::new();
        let mut configs: Vec<PathBuf> = std::fs::read_dir(dir.path().join("nodes"))
            .expect("rendered nodes")
            .map(|entry| entry.expect("dir entry").path())
            .collect();
        configs.sort();
        for config in configs {
            let name = config.file_stem().unwrap().to_string_lossy().into_owned();
            // The default consortium's endorsing peers are peer0 of each carrier.
            if name.contains("peer") && !name.ends_with("peer0") {
                continue;
            }
            nodes.push((name, NETSETTLE.node(&config)));
        }
        Consortium {
            dir,
            nodes,
            forwarders,
        }
    }

    fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The settlement contract defined on the channel and an agreement in force, through
    /// the CLI as the carriers' admins do it: this build's CLI, like the bench's client
    /// (an earlier build's CLI may print its answers differently).
    fn prepare(&self) {
        let dir = self.dir();
        let cli = Netsettle(env!("CARGO_BIN_EXE_netsettle"));
        cli.define_settlement(dir);
        let proposed = cli.propose(dir);
        let proposed = String::from_utf8_lossy(&proposed.stdout);
        let digest = proposed
            .split("\"digest\":\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap_or_else(|| panic!("no digest in {proposed}"));
        let accept = format!("{{\"digest\":\"{digest}\"}}");
        let mut call = vec!["tx", "invoke"];
        call.extend(ADMIN_M);
        call.extend(["--contract", "settlement", "--function", "agreement_accept"]);
        call.extend(["--arg", &accept]);
        cli.ok(dir, &call);
    }

    /// CPU seconds used so far, by kind of process.
    fn cpu_seconds(&self) -> CpuSeconds {
        let mut cpu = CpuSeconds::default();
        for (name, node) in &self.nodes {
            let seconds = process_cpu_seconds(node.child.id());
            if name.contains("orderer") {
                cpu.orderers += seconds;
            } else {
                cpu.peers += seconds;
            }
        }
        cpu.nginx = nginx_cpu_seconds();
        cpu.client = process_cpu_seconds(std::process::id());
        cpu
    }

    fn perf_start(&self, name: &str, seconds: u32) -> Option<(std::process::Child, PathBuf)> {
        let (_, node) = self.nodes.iter().find(|(node, _)| node == name)?;
        let out = self.dir().join("perf.data");
        let child = Command::new("perf")
            .args(["record", "-F", "499", "-g", "-o"])
            .arg(&out)
            .args([
                "-p",
                &node.child.id().to_string(),
                "--",
                "sleep",
                &seconds.to_string(),
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .ok()?;
        Some((child, out))
    }
}

impl Drop for Consortium {
    fn drop(&mut self) {
        // Nodes first (they log their shutdown), then the forwarders; the temp dir last.
        self.nodes.clear();
        self.forwarders.clear();
    }
}

/// Unicom's settlement system: its connection profile and identity directory.
const CLIENT_U: (&str, &str) = (
    "clients/unicommsp.toml",
    "crypto/unicom/users/settlement@unicom.example",
);

/// CPU seconds by kind of process.
#[derive(Debug, Default, Clone)]
struct CpuSeconds {
    orderers: f64,
    peers: f64,
    nginx: f64,
    client: f64,
}

impl CpuSeconds {
    fn since(&self, before: &CpuSeconds) -> CpuSeconds {
        CpuSeconds {
            orderers: self.orderers - before.orderers,
            peers: self.peers - before.peers,
            nginx: self.nginx - before.nginx,
            client: self.client - before.client,
        }
    }

    fn total(&self) -> f64 {
        self.orderers + self.peers + self.nginx + self.client
    }
}

/// The nginx processes' CPU seconds (the DMZ forwarders run nginx with master_process off).
fn nginx_cpu_seconds() -> f64 {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0.0;
    };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|comm| comm.trim() == "nginx")
        })
        .map(process_cpu_seconds)
        .sum()
}

/// Unicom's settlement system: a gateway on its connection profile and its identity.
struct Client {
    gateway: Gateway,
    signer: Signer,
    channel: String,
    agreement: Agreement,
}

impl Client {
    async fn connect(dir: &Path) -> Client {
        let profile = ConnectionProfile::load(&dir.join(CLIENT_U.0)).expect("client profile");
        let identity = dir.join(CLIENT_U.1);
        let signer = profile.signer(&identity).expect("client identity");
        let config = profile.gateway_config(&identity).expect("gateway config");
        let mut gateway = Gateway::connect(config).await.expect("gateway connects");
        // `NETSETTLE_E2E_NO_BATCH=1`: every broadcast in a request of its own, to measure
        // what the coalescer's batches change.
        gateway.set_broadcast_batching(std::env::var_os("NETSETTLE_E2E_NO_BATCH").is_none());
        // `NETSETTLE_E2E_NO_STATUS_BATCH=1`: every commit wait in `peer-tx-status` requests
        // of its own instead of the gateway's shared long polls.
        gateway.set_status_batching(std::env::var_os("NETSETTLE_E2E_NO_STATUS_BATCH").is_none());
        // `NETSETTLE_E2E_NO_ENDORSE_BATCH=1`: every proposal in a `peer-endorse` request of
        // its own instead of the gateway's batches.
        gateway.set_endorse_batching(std::env::var_os("NETSETTLE_E2E_NO_ENDORSE_BATCH").is_none());
        let agreement = std::fs::read(format!("{REPO}/tests/data/settlement/agreement.json"))
            .expect("agreement file");
        Client {
            gateway,
            signer,
            channel: profile.channel,
            agreement: serde_json::from_slice(&agreement).expect("agreement parses"),
        }
    }

    /// One upload through the whole flow, timed by phase; `Gateway::submit`'s steps.
    async fn upload(&self, period_index: u32) -> Result<Timing, String> {
        let period = Period::new(
            u16::try_from(2000 + period_index / 12).map_err(|e| e.to_string())?,
            u8::try_from(period_index % 12 + 1).map_err(|e| e.to_string())?,
        )
        .ok_or("period out of range")?;
        let spec = SampleSpec::typical(u64::from(period_index), period, *REPORT_LINES);
        let (report, _) = generate_pair(&spec, &self.agreement).map_err(|e| e.to_string())?;
        let (sealed, _key) = seal_report_fresh(&report).map_err(|e| e.to_string())?;
        let contract = ContractId {
            name: "settlement".to_owned(),
            version: "1.0".to_owned(),
        };

        let start = Instant::now();
        let proposal = self
            .signer
            .propose(&self.channel, contract, "upload", sealed.upload_args())
            .map_err(|e| e.to_string())?;
        // Both carriers at once, as `Gateway::submit` does.
        let (endorsers, responses): (Vec<_>, Vec<_>) = self
            .gateway
            .endorse_all(self.gateway.peers(), &proposal)
            .await
            .map_err(|e| e.to_string())?
            .into_iter()
            .unzip();
        let endorsed = assemble(&self.signer, &proposal, responses).map_err(|e| e.to_string())?;
        let endorsed_at = Instant::now();
        if !ENVELOPE_SIZE_SHOWN.swap(true, Ordering::Relaxed) {
            let bytes = netsettle_protocol::encode(&endorsed.envelope).map_or(0, |b| b.len());
            println!("upload envelope: {bytes} bytes");
            if let netsettle_protocol::Payload::Transaction(tx) = &endorsed.envelope.payload {
                println!("  {}", envelope_breakdown(tx));
            }
        }
        self.gateway
            .broadcast(&endorsed.envelope)
            .await
            .map_err(|e| e.to_string())?;
        let ordered_at = Instant::now();
        let (_, code) = self
            .gateway
            .wait_committed_all(&endorsers, &proposal.tx_id())
            .await
            .map_err(|e| e.to_string())?;
        let done = Instant::now();
        Ok(Timing {
            endorse: endorsed_at - start,
            broadcast: ordered_at - endorsed_at,
            commit: done - ordered_at,
            total: done - start,
            valid: code == ValidationCode::Valid,
        })
    }
}

/// Where an upload envelope's bytes are: what a shrink of the envelope would have to cut.
fn envelope_breakdown(tx: &netsettle_protocol::Transaction) -> String {
    let action = &tx.response.action;
    let response = netsettle_protocol::encode(&tx.response).map_or(0, |bytes| bytes.len());
    let args: usize = tx.proposal.args.iter().map(Vec::len).sum();
    let events: usize = action.events.iter().map(|e| e.payload.len()).sum();
    let endorser_certs: usize = tx
        .endorsements
        .iter()
        .map(|e| e.endorser.cert_der.len())
        .sum();
    let writes: usize = action
        .rw_set
        .writes()
        .map(|(_, write)| write.key.len() + write.value.as_ref().map_or(0, Vec::len))
        .sum();
    format!(
        "creator certificate {} B, args {args} B, response {response} B (written keys and \
         values {writes} B, events {events} B, payload {} B), {} endorser certificates \
         {endorser_certs} B",
        tx.proposal.header.creator.cert_der.len(),
        action.response.payload.len(),
        tx.endorsements.len(),
    )
}

#[derive(Debug, Clone, Copy)]
struct Timing {
    endorse: Duration,
    broadcast: Duration,
    commit: Duration,
    total: Duration,
    valid: bool,
}

/// What one load level measured.
#[derive(Debug)]
struct Level {
    clients: u32,
    elapsed: Duration,
    valid: usize,
    invalid: usize,
    failed: usize,
    first_error: Option<String>,
    p50: Duration,
    p99: Duration,
    endorse_mean: Duration,
    broadcast_mean: Duration,
    commit_mean: Duration,
}

impl Level {
    fn tx_per_second(&self) -> f64 {
        self.valid as f64 / self.elapsed.as_secs_f64()
    }
}

/// `clients` tasks submit back to back for `duration`; transactions started before the
/// end are waited for and counted.
async fn run_level(
    client: &Arc<Client>,
    next_period: &Arc<AtomicU32>,
    clients: u32,
    duration: Duration,
) -> Level {
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..clients {
        let client = Arc::clone(client);
        let next_period = Arc::clone(next_period);
        tasks.spawn(async move {
            let mut outcomes = Vec::new();
            while start.elapsed() < duration {
                let index = next_period.fetch_add(1, Ordering::Relaxed);
                if index >= PERIODS_MAX {
                    break;
                }
                outcomes.push(client.upload(index).await);
            }
            outcomes
        });
    }
    let mut timings = Vec::new();
    let (mut failed, mut first_error) = (0, None);
    while let Some(joined) = tasks.join_next().await {
        for outcome in joined.expect("client task") {
            match outcome {
                Ok(timing) => timings.push(timing),
                Err(error) => {
                    failed += 1;
                    first_error.get_or_insert(error);
                }
            }
        }
    }
    let elapsed = start.elapsed();
    summarise(clients, elapsed, &timings, failed, first_error)
}

fn summarise(
    clients: u32,
    elapsed: Duration,
    timings: &[Timing],
    failed: usize,
    first_error: Option<String>,
) -> Level {
    let valid: Vec<&Timing> = timings.iter().filter(|t| t.valid).collect();
    let mut totals: Vec<Duration> = valid.iter().map(|t| t.total).collect();
    totals.sort();
    let percentile = |p: usize| {
        totals
            .get((totals.len() * p / 100).min(totals.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    let mean = |part: fn(&Timing) -> Duration| {
        let n = u32::try_from(valid.len()).unwrap_or(u32::MAX).max(1);
        valid.iter().map(|t| part(t)).sum::<Duration>() / n
    };
    Level {
        clients,
        elapsed,
        valid: valid.len(),
        invalid: timings.len() - valid.len(),
        failed,
        first_error,
        p50: percentile(50),
        p99: percentile(99),
        endorse_mean: mean(|t| t.endorse),
        broadcast_mean: mean(|t| t.broadcast),
        commit_mean: mean(|t| t.commit),
    }
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

fn print_level(level: &Level, cpu: &CpuSeconds) {
    let per_tx = |seconds: f64| seconds * 1000.0 / (level.valid.max(1) as f64);
    println!(
        "clients {:>3}: {:>4} valid ({} invalid, {} failed) in {:.1} s = {:>6.1} tx/s; \
         latency p50 {:>6.0} ms p99 {:>6.0} ms; mean endorse {:.0} ms, broadcast {:.0} ms, \
         commit wait {:.0} ms",
        level.clients,
        level.valid,
        level.invalid,
        level.failed,
        level.elapsed.as_secs_f64(),
        level.tx_per_second(),
        ms(level.p50),
        ms(level.p99),
        ms(level.endorse_mean),
        ms(level.broadcast_mean),
        ms(level.commit_mean),
    );
    println!(
        "             CPU ms per committed tx: orderers {:.1}, peers {:.1}, nginx {:.1}, \
         client {:.1}; total {:.1} ({:.0}% of 2 cores)",
        per_tx(cpu.orderers),
        per_tx(cpu.peers),
        per_tx(cpu.nginx),
        per_tx(cpu.client),
        per_tx(cpu.total()),
        cpu.total() * 100.0 / (2.0 * level.elapsed.as_secs_f64()),
    );
    if let Some(error) = &level.first_error {
        println!("             first failure: {error}");
    }
}

fn perf_report((mut child, data): (std::process::Child, PathBuf)) {
    let _ = child.wait();
    let report = Command::new("perf")
        .args([
            "report",
            "--no-children",
            "--sort",
            "dso,symbol",
            "--stdio",
            "-i",
        ])
        .arg(&data)
        .output();
    match report {
        Ok(output) => {
            let text = String::from_utf8_lossy(&output.stdout);
            println!("perf profile of unicommsp-peer0 (top symbols, self time):");
            text.lines()
                .filter(|line| !line.starts_with('#') && line.contains('%'))
                .filter(|line| !line.trim_start().starts_with('-') && !line.contains("--"))
                .take(25)
                .for_each(|line| println!("  {}", line.trim_end_matches([' ', '-'])));
        }
        Err(error) => println!("perf report failed: {error}"),
    }
}

fn write_results(results: &[(Level, CpuSeconds)]) {
    let header = [
        "clients",
        "committed_valid",
        "invalid",
        "failed",
        "seconds",
        "tx_per_s",
        "p50_ms",
        "p99_ms",
        "endorse_mean_ms",
        "broadcast_mean_ms",
        "commit_wait_mean_ms",
        "cpu_ms_per_tx_orderers",
        "cpu_ms_per_tx_peers",
        "cpu_ms_per_tx_nginx",
        "cpu_ms_per_tx_client",
    ];
    let rows: Vec<Vec<String>> = results
        .iter()
        .map(|(level, cpu)| {
            let per_tx =
                |seconds: f64| format!("{:.2}", seconds * 1000.0 / (level.valid.max(1) as f64));
            vec![
                level.clients.to_string(),
                level.valid.to_string(),
                level.invalid.to_string(),
                level.failed.to_string(),
                format!("{:.2}", level.elapsed.as_secs_f64()),
                format!("{:.1}", level.tx_per_second()),
                format!("{:.0}", ms(level.p50)),
                format!("{:.0}", ms(level.p99)),
                format!("{:.0}", ms(level.endorse_mean)),
                format!("{:.0}", ms(level.broadcast_mean)),
                format!("{:.0}", ms(level.commit_mean)),
                per_tx(cpu.orderers),
                per_tx(cpu.peers),
                per_tx(cpu.nginx),
                per_tx(cpu.client),
            ]
        })
        .collect();
    let label = std::env::var("NETSETTLE_BENCH_LABEL").unwrap_or_default();
    let suffix = if label.is_empty() {
        String::new()
    } else {
        format!("-{label}")
    };
    match write_csv(&format!("e2e{suffix}"), &header, &rows) {
        Ok(path) => println!("wrote {}", path.display()),
        Err(error) => println!("could not write the CSV: {error}"),
    }
    let points = |f: &dyn Fn(&Level) -> f64| -> Vec<(f64, f64)> {
        results
            .iter()
            .map(|(level, _)| (f64::from(level.clients), f(level)))
            .collect()
    };
    let tps = Chart {
        title: "netsettle end to end: committed tx/s (5 orderers, 2 endorsing peers, 2 cores)"
            .into(),
        x_label: "concurrent clients".into(),
        y_label: "committed tx/s".into(),
        series: vec![Series {
            label: "VALID tx/s".into(),
            points: points(&|level| level.tx_per_second()),
        }],
    };
    let latency = Chart {
        title: "netsettle end to end: submit-to-commit latency".into(),
        x_label: "concurrent clients".into(),
        y_label: "latency (ms)".into(),
        series: vec![
            Series {
                label: "p50".into(),
                points: points(&|level| ms(level.p50)),
            },
            Series {
                label: "p99".into(),
                points: points(&|level| ms(level.p99)),
            },
        ],
    };
    for (name, chart) in [("e2e-tps", &tps), ("e2e-latency", &latency)] {
        match write_png(&format!("{name}{suffix}"), chart) {
            Ok(path) => println!("wrote {}", path.display()),
            Err(error) => println!("no plot: {error}"),
        }
    }
}
