//! The node-to-node network between two processes over SM-TLS (libp2p, yamux): request
//! round trips per second (64-byte echo, one request in flight) and bulk MB/s (4 MiB
//! requests answered with their length), first directly, then through an nginx `stream`
//! forwarder as across a carrier's DMZ.
//!
//! A plain bench binary rather than criterion: the server must be a second process. The
//! binary re-executes itself with `NETSETTLE_BENCH_NET_SERVER` set to become the server,
//! which prints its address and serves until its stdin closes. Certificates come from a
//! throwaway CA generated here, handed to the server as PEM files.
//!
//! Run: `cargo bench -p netsettle-benches --bench net` (needs nginx with the stream
//! module for the DMZ half; without it that half is reported as skipped).

use std::io::{BufRead as _, BufReader, Write as _};
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use netsettle_net::{ChannelTrust, NetConfig, Network, NodeId};
use netsettle_protocol::{ChannelConfig, Role as ProtocolRole};
use netsettle_smcrypto::x509::Role;
use netsettle_smtls::TlsIdentity;
use netsettle_testkit::TestOrg;
use netsettle_testkit::channel::one_orderer_config;
use netsettle_testkit::pki::now_unix;

const SERVER_ENV: &str = "NETSETTLE_BENCH_NET_SERVER";
const SMALL_BYTES: usize = 64;
const BULK_BYTES: usize = 4 * 1024 * 1024;
/// How long each measurement runs (after a warm-up of a tenth of it).
const MEASURE: Duration = Duration::from_secs(3);

/// A CA, a channel config trusting it, and two node identities written as PEM files.
fn pki(dir: &Path) -> ChannelConfig {
    let org = TestOrg::at("BenchMSP", now_unix());
    for name in ["server", "client"] {
        // Node TLS certificates always name their host (the forwarder maps to it): the
        // test CA's members name 127.0.0.1.
        let member = org.member(name, Role::Peer);
        std::fs::write(dir.join(format!("{name}.pem")), member.cert.to_pem()).unwrap();
        std::fs::write(
            dir.join(format!("{name}.key")),
            member.key.to_pkcs8_pem().as_bytes(),
        )
        .unwrap();
    }
    one_orderer_config(&[&org])
}

fn net_config(dir: &Path, name: &str, config: &ChannelConfig, listen: &str) -> NetConfig {
    let identity = TlsIdentity::from_pem_files(
        &dir.join(format!("{name}.pem")),
        &dir.join(format!("{name}.key")),
    )
    .unwrap();
    let trust = ChannelTrust::new(config, &[ProtocolRole::Peer]).unwrap();
    NetConfig::new(identity, trust, listen.parse().unwrap())
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// The server process: serve `echo` and `bulk` until stdin closes.
fn serve(dir: &Path) {
    let config = pki_config_from(dir);
    runtime().block_on(async {
        let network = Network::start(net_config(dir, "server", &config, "127.0.2.20:0"))
            .await
            .unwrap();
        let net = network.handle();
        let mut echo = net.serve("echo", &[ProtocolRole::Peer]).unwrap();
        let mut bulk = net.serve("bulk", &[ProtocolRole::Peer]).unwrap();
        println!("ready {} {}", network.node_id(), network.listen_addr());
        std::io::stdout().flush().unwrap();
        let stdin_closed = tokio::task::spawn_blocking(|| {
            let mut sink = String::new();
            while std::io::stdin().read_line(&mut sink).is_ok_and(|n| n > 0) {}
        });
        tokio::pin!(stdin_closed);
        loop {
            tokio::select! {
                Some(request) = echo.recv() => {
                    let payload = request.payload.clone();
                    let _ = request.respond(payload).await;
                }
                Some(request) = bulk.recv() => {
                    let len = request.payload.len() as u64;
                    let _ = request.respond(len.to_be_bytes().to_vec()).await;
                }
                _ = &mut stdin_closed => break,
            }
        }
        network.shutdown().await;
    });
}

/// The channel config travels to the server process as JSON next to the PEM files.
fn pki_config_from(dir: &Path) -> ChannelConfig {
    serde_json::from_slice(&std::fs::read(dir.join("channel.json")).unwrap()).unwrap()
}

/// A child process killed and reaped on drop.
struct Reaped {
    child: Child,
}

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// CPU seconds (user + system) used so far by these processes, from `/proc/PID/stat`:
/// the figure that stays comparable when other work loads the shared machine, as in the
/// `tls` bench's `cpu` clock.
fn cpu_seconds(pids: &[u32]) -> f64 {
    // SAFETY: sysconf has no preconditions.
    let ticks_per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    pids.iter()
        .map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
            // Fields after the parenthesised command name; utime and stime are the
            // 14th and 15th fields of the whole line.
            let after_name = &stat[stat.rfind(')').unwrap() + 2..];
            let fields: Vec<&str> = after_name.split(' ').collect();
            let ticks: u64 =
                fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
            ticks as f64 / ticks_per_second
        })
        .sum()
}

/// Rounds per wall second and per CPU second of `pids`, running `round` for `MEASURE`
/// after a short warm-up.
async fn rate<F, Fut>(pids: &[u32], mut round: F) -> (f64, f64)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let warm_up = Instant::now();
    while warm_up.elapsed() < MEASURE / 10 {
        round().await;
    }
    let cpu_started = cpu_seconds(pids);
    let started = Instant::now();
    let mut rounds = 0u32;
    while started.elapsed() < MEASURE {
        round().await;
        rounds += 1;
    }
    let wall = started.elapsed().as_secs_f64();
    let cpu = (cpu_seconds(pids) - cpu_started).max(1e-3);
    (f64::from(rounds) / wall, f64::from(rounds) / cpu)
}

async fn measure(label: &str, pids: &[u32], client: &netsettle_net::NetHandle, server: NodeId) {
    let small = vec![0x5a; SMALL_BYTES];
    let (round_trips, round_trips_cpu) = rate(pids, || async {
        client.request(server, "echo", small.clone()).await.unwrap();
    })
    .await;
    let bulk = vec![0x5a; BULK_BYTES];
    let (bulk_rate, bulk_rate_cpu) = rate(pids, || async {
        client.request(server, "bulk", bulk.clone()).await.unwrap();
    })
    .await;
    let megabytes = |rate: f64| rate * BULK_BYTES as f64 / 1_000_000.0;
    println!(
        "net/{label}: {round_trips:.0} round trips/s wall, {round_trips_cpu:.0} per CPU-second \
         ({SMALL_BYTES} B echo); bulk {:.1} MB/s wall, {:.1} MB per CPU-second ({} MiB \
         requests); CPU counted over {} processes",
        megabytes(bulk_rate),
        megabytes(bulk_rate_cpu),
        BULK_BYTES / (1024 * 1024),
        pids.len(),
    );
}

fn nginx_available() -> bool {
    Command::new("nginx")
        .arg("-v")
        .output()
        .is_ok_and(|o| o.status.success())
}

fn main() {
    if let Ok(dir) = std::env::var(SERVER_ENV) {
        serve(Path::new(&dir));
        return;
    }
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing: run only
    // when benchmarking.
    if !std::env::args().any(|arg| arg == "--bench") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let config = pki(dir);
    std::fs::write(
        dir.join("channel.json"),
        serde_json::to_vec(&config).unwrap(),
    )
    .unwrap();

    let mut server = Reaped {
        child: Command::new(std::env::current_exe().unwrap())
            .env(SERVER_ENV, dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    };
    let mut ready = String::new();
    BufReader::new(server.child.stdout.take().unwrap())
        .read_line(&mut ready)
        .unwrap();
    let mut parts = ready.split_whitespace().skip(1);
    let server_id: NodeId = parts.next().unwrap().parse().unwrap();
    let server_addr: SocketAddr = parts.next().unwrap().parse().unwrap();

    runtime().block_on(async {
        let network = Network::start(net_config(dir, "client", &config, "127.0.1.20:0"))
            .await
            .unwrap();
        let client = network.handle();
        client.add_address(server_id, server_addr).await.unwrap();
        let pids = [std::process::id(), server.child.id()];
        measure("direct", &pids, &client, server_id).await;
        network.shutdown().await;
    });

    if !nginx_available() {
        println!("net/dmz: skipped, nginx not installed (scripts/setup.sh installs it)");
        return;
    }
    let public = SocketAddr::from((
        [127, 0, 4, 1],
        TcpListener::bind("127.0.4.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port(),
    ));
    let dmz_dir = dir.join("dmz");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/dmz.sh");
    let nginx = Reaped {
        child: Command::new("bash")
            .args([
                script,
                dmz_dir.to_str().unwrap(),
                &format!("{public}={server_addr}"),
            ])
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    };
    // nginx announces nothing; it is ready once its public port accepts connections.
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(public).is_err() {
        assert!(Instant::now() < deadline, "nginx did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    runtime().block_on(async {
        let network = Network::start(net_config(dir, "client", &config, "127.0.1.21:0"))
            .await
            .unwrap();
        let client = network.handle();
        client.add_address(server_id, public).await.unwrap();
        let pids = [std::process::id(), server.child.id(), nginx.child.id()];
        measure("via-nginx", &pids, &client, server_id).await;
        network.shutdown().await;
    });
    drop(server.child.stdin.take());
}
