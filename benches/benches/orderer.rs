//! Consensus throughput: five orderers (Raft, default batch policy: 1 s, 50 tx, 100 MB),
//! each with its own RocksDB ledger and Raft log (synced) and its own `netsettle-net`
//! network on 127.0.0.1 (libp2p over SM-TLS), all in this one process; clients broadcast
//! signed ~1 KiB envelopes to the orderers' handles in-process (each orderer verifies the
//! SM2 signature and forwards through Raft over SM-TLS), round-robin over the five, with
//! a fixed number of broadcasts in flight. The client hop over the network and real
//! processes are measured by the `consensus` bench of the `netsettle` package
//! (`cargo bench -p netsettle --bench consensus`).
//!
//! Reported per load level: committed tx/s and blocks/s (first broadcast to last
//! transaction in a block on orderer 1), broadcast-to-block latency p50 / p99 (a
//! transaction's broadcast call until orderer 1 has written the block holding it). In the
//! same run, the 2-thread SM2 verify rate of this machine, and throughput as a ratio to
//! it: each ordered transaction costs one verify (the envelope signature, on the orderer
//! that receives it), so half of it is the goal.
//!
//! Results go to `target/bench-results/orderer.csv`. Run:
//! `cargo bench -p netsettle-benches --bench orderer` (Raft in memory) or with
//! `ORDERER_BENCH_TRANSPORT=net` (Raft over SM-TLS: `orderer::net::NetTransport`, one
//! ordered, batching link per consenter).

use std::collections::{BTreeMap, HashMap};
use std::io::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use netsettle_net::{ChannelTrust, NetConfig, Network};
use netsettle_orderer::net::{NetTransport, serve};
use netsettle_orderer::{OrdererHandle, OrdererService, Transport};
use netsettle_protocol::{Envelope, Role, TxId};
use netsettle_smcrypto::PrivateKey;
use tokio::sync::Semaphore;

use netsettle_testkit::ordering::{Routes, service_config};
use netsettle_testkit::{Consortium, Member};

/// Load levels: (name, requests in flight, transactions).
const LEVELS: [(&str, usize, u64); 2] = [("light", 4, 40), ("saturation", 512, 3_000)];
/// The orderer's default tick, as a node runs it.
const TICK_MS: u64 = 100;
/// About 1 KiB encoded envelopes.
const ARG_BYTES: usize = 200;

/// `ORDERER_BENCH_TRANSPORT=net` runs Raft over `netsettle-net` (SM-TLS); the default
/// routes Raft messages in memory, which measures the core, RocksDB and SM2 alone.
fn over_network() -> bool {
    std::env::var("ORDERER_BENCH_TRANSPORT").is_ok_and(|value| value == "net")
}

async fn start_network(member: &Member, trust: &ChannelTrust) -> Network {
    let config = NetConfig::new(
        member.tls_identity(),
        trust.clone(),
        "127.0.0.1:0".parse().expect("address"),
    );
    Network::start(config).await.expect("network")
}

/// SM2 verifications per second with two threads, for `seconds`.
fn sm2_verify_rate(seconds: f64) -> f64 {
    let key = PrivateKey::generate();
    let message = vec![0x42u8; 1024];
    let signature = key.sign(&message);
    let public = key.public_key().clone();
    let count = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let (public, message, signature) = (public.clone(), message.clone(), signature.clone());
            let (count, stop) = (Arc::clone(&count), Arc::clone(&stop));
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    public.verify(&message, &signature).expect("verifies");
                    count.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs_f64(seconds));
    stop.store(true, Ordering::Relaxed);
    for thread in threads {
        thread.join().expect("verify thread");
    }
    count.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}

struct Cluster {
    networks: BTreeMap<u64, Network>,
    handles: BTreeMap<u64, OrdererHandle>,
    client: Network,
    _dir: tempfile::TempDir,
}

async fn start_cluster(consortium: &Consortium) -> Cluster {
    let dir = tempfile::tempdir().expect("tempdir");
    let trust =
        ChannelTrust::new(&consortium.config, &[Role::Orderer, Role::Client]).expect("trust");
    let mut networks = BTreeMap::new();
    for (index, member) in consortium.orderers.iter().enumerate() {
        networks.insert(index as u64 + 1, start_network(member, &trust).await);
    }
    let client = start_network(&consortium.unicom_client, &trust).await;
    for network in networks.values().chain(std::iter::once(&client)) {
        for peer in networks.values() {
            if peer.node_id() != network.node_id() {
                let handle = network.handle();
                handle
                    .add_address(peer.node_id(), peer.listen_addr())
                    .await
                    .expect("address");
            }
        }
    }
    let routes = Routes::default();
    let mut handles = BTreeMap::new();
    for (id, network) in &networks {
        let mut config = service_config(consortium, *id, dir.path(), TICK_MS);
        // Measure how long ordering takes rather than fail slow broadcasts.
        config.core.broadcast_wait_ticks = 600;
        let transport: Arc<dyn Transport> = if over_network() {
            Arc::new(NetTransport::new(network.handle(), &consortium.config).expect("transport"))
        } else {
            routes.transport()
        };
        let handle = OrdererService::spawn(config, transport).expect("orderer");
        routes.insert(*id, handle.clone());
        serve(&network.handle(), &handle).expect("serve");
        handles.insert(*id, handle);
    }
    for handle in handles.values() {
        let mut leader = handle.leader();
        tokio::time::timeout(Duration::from_secs(60), leader.wait_for(|l| *l != 0))
            .await
            .expect("leader in time")
            .expect("leader watch");
    }
    Cluster {
        networks,
        handles,
        client,
        _dir: dir,
    }
}

struct Outcome {
    seconds: f64,
    txs: u64,
    blocks: u64,
    p50_ms: f64,
    p99_ms: f64,
}

/// Broadcasts `envelopes` with `in_flight` requests at a time and waits until orderer 1
/// has written every one of them into a block.
async fn run_level(cluster: &Cluster, envelopes: Vec<Envelope>, in_flight: usize) -> Outcome {
    let first = &cluster.handles[&1];
    let start_height = *first.height().borrow();
    let orderers: Vec<OrdererHandle> = cluster.handles.values().cloned().collect();
    let started: Arc<std::sync::Mutex<HashMap<TxId, Instant>>> = Arc::default();
    let total = envelopes.len() as u64;

    // Watch blocks on orderer 1 and stamp each transaction when its block is written.
    let watcher = {
        let handle = first.clone();
        let started = Arc::clone(&started);
        tokio::spawn(async move {
            let mut heights = handle.height();
            let mut next = start_height;
            let mut latencies = Vec::new();
            let mut last = Instant::now();
            while (latencies.len() as u64) < total {
                heights.changed().await.expect("orderer running");
                let height = *heights.borrow_and_update();
                while next < height {
                    let block = handle.ledger().block(next).expect("read").expect("block");
                    let now = Instant::now();
                    let started = started.lock().expect("lock");
                    for envelope in &block.data {
                        if let Some(at) = started.get(&envelope.tx_id()) {
                            latencies.push(now.duration_since(*at));
                        }
                    }
                    last = now;
                    next += 1;
                }
            }
            (latencies, last, next)
        })
    };

    let progress = {
        let handles: Vec<OrdererHandle> = cluster.handles.values().cloned().collect();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let state: Vec<(u64, u64)> = handles
                    .iter()
                    .map(|h| (*h.leader().borrow(), *h.height().borrow()))
                    .collect();
                eprintln!("(leader, height) per orderer: {state:?}");
            }
        })
    };
    let begin = Instant::now();
    let slots = Arc::new(Semaphore::new(in_flight));
    let mut tasks = Vec::new();
    for (index, envelope) in envelopes.into_iter().enumerate() {
        let permit = Arc::clone(&slots).acquire_owned().await.expect("semaphore");
        let orderer = orderers[index % orderers.len()].clone();
        let started = Arc::clone(&started);
        tasks.push(tokio::spawn(async move {
            let _permit = permit;
            started
                .lock()
                .expect("lock")
                .insert(envelope.tx_id(), Instant::now());
            orderer
                .broadcast(envelope)
                .await
                .expect("broadcast accepted");
        }));
    }
    for task in tasks {
        task.await.expect("broadcast task");
    }
    let (mut latencies, last, end_height) = watcher.await.expect("watcher");
    progress.abort();
    latencies.sort();
    let percentile = |p: f64| {
        let index = ((latencies.len() as f64 - 1.0) * p).round() as usize;
        latencies[index].as_secs_f64() * 1000.0
    };
    Outcome {
        seconds: last.duration_since(begin).as_secs_f64(),
        txs: total,
        blocks: end_height - start_height,
        p50_ms: percentile(0.50),
        p99_ms: percentile(0.99),
    }
}

fn main() {
    let verify_rate = sm2_verify_rate(3.0);
    println!("SM2 verify, 2 threads: {verify_rate:.0}/s");
    let consortium = Consortium::new();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let mut rows = Vec::new();
    runtime.block_on(async {
        let cluster = start_cluster(&consortium).await;
        let mut seq = 0u64;
        for (name, in_flight, txs) in LEVELS {
            let envelopes: Vec<Envelope> = (0..txs)
                .map(|_| {
                    seq += 1;
                    consortium.ordering_envelope(&consortium.unicom_client, seq, ARG_BYTES)
                })
                .collect();
            let outcome = run_level(&cluster, envelopes, in_flight).await;
            let tx_rate = outcome.txs as f64 / outcome.seconds;
            println!(
                "{name:>10}: {in_flight:>3} in flight, {} tx in {:.2} s: {tx_rate:.0} tx/s, {:.1} blocks/s, latency p50 {:.0} ms p99 {:.0} ms, {:.2} of the 2-thread SM2 verify rate",
                outcome.txs,
                outcome.seconds,
                outcome.blocks as f64 / outcome.seconds,
                outcome.p50_ms,
                outcome.p99_ms,
                tx_rate / verify_rate
            );
            rows.push((name, in_flight, outcome, tx_rate));
        }
        for handle in cluster.handles.values() {
            handle.shutdown().await;
        }
        for network in cluster.networks.into_values() {
            network.shutdown().await;
        }
        cluster.client.shutdown().await;
    });
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench-results");
    std::fs::create_dir_all(&dir).expect("results dir");
    let mut csv = std::fs::File::create(dir.join("orderer.csv")).expect("csv");
    writeln!(
        csv,
        "level,in_flight,txs,seconds,tx_per_s,blocks_per_s,latency_p50_ms,latency_p99_ms,sm2_verify_2t_per_s,ratio"
    )
    .expect("write");
    for (name, in_flight, outcome, tx_rate) in rows {
        writeln!(
            csv,
            "{name},{in_flight},{},{:.3},{tx_rate:.1},{:.2},{:.1},{:.1},{verify_rate:.0},{:.3}",
            outcome.txs,
            outcome.seconds,
            outcome.blocks as f64 / outcome.seconds,
            outcome.p50_ms,
            outcome.p99_ms,
            tx_rate / verify_rate
        )
        .expect("write");
    }
    println!("wrote {}", dir.join("orderer.csv").display());
}
