//! SM-TLS over loopback: full mutual handshakes per second (curveSM2 ECDHE, two SM2
//! CertificateVerify signatures and two SM2 chain verifications per handshake) and bulk
//! SM4-GCM record throughput on one established connection.
//!
//! Client and server share one two-worker tokio runtime, as two nodes on one host would
//! share the machine, so the figures are per host rather than per side.
//!
//! Each bench runs twice: `wall` measures elapsed time (what a caller waits), `cpu`
//! measures the process's CPU time across both ends and the kernel's loopback work, the
//! way `openssl speed` reports, so the figures stay comparable when other builds load the
//! shared machine. One `cpu` handshake is the cost of both sides of a handshake.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Bencher, Criterion, Throughput, criterion_group, criterion_main};
use netsettle_smtls::{
    TlsIdentity, TlsStream, TrustAnchors, accept, client_config, connect, server_config,
};
use netsettle_testkit::TestOrg;
use netsettle_testkit::pki::{anchors, no_revocation, now_unix};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Runtime;

/// Bytes moved per bulk iteration: large enough that per-iteration round trips vanish.
const BULK_BYTES: usize = 4 * 1024 * 1024;
/// Write size for the bulk sender: a typical large application write.
const WRITE_CHUNK_BYTES: usize = 256 * 1024;
const SERVER_NAME: &str = "peer0.carrier-a.net";
/// The byte the server sends once a handshake (or a bulk transfer) is complete on its
/// side, so the client's iteration covers the whole exchange.
const DONE: u8 = 0x2a;

struct Pki {
    server: TlsIdentity,
    client: TlsIdentity,
    trust: TrustAnchors,
}

fn pki() -> Pki {
    let ca = TestOrg::at("carrier-a", now_unix());
    Pki {
        server: ca.node_tls("peer0", SERVER_NAME),
        client: ca.node_tls("client0", "client0.carrier-a.net"),
        trust: anchors(&[&ca]),
    }
}

/// CPU time used so far by every thread of this process (user + system).
fn process_cpu_time() -> Duration {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid, writable timespec and CLOCK_PROCESS_CPUTIME_ID is
    // supported on Linux.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut now) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_PROCESS_CPUTIME_ID) failed");
    Duration::new(
        u64::try_from(now.tv_sec).unwrap(),
        u32::try_from(now.tv_nsec).unwrap(),
    )
}

/// Which clock a bench reads.
#[derive(Clone, Copy)]
enum Clock {
    Wall,
    Cpu,
}

impl Clock {
    fn name(self) -> &'static str {
        match self {
            Clock::Wall => "wall",
            Clock::Cpu => "cpu",
        }
    }
}

/// Time `iters` runs of `round` with `clock`.
fn measure(b: &mut Bencher<'_>, clock: Clock, mut round: impl FnMut()) {
    b.iter_custom(|iters| {
        let (wall_start, cpu_start) = (Instant::now(), process_cpu_time());
        for _ in 0..iters {
            round();
        }
        match clock {
            Clock::Wall => wall_start.elapsed(),
            Clock::Cpu => process_cpu_time().saturating_sub(cpu_start),
        }
    });
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Accepts connections forever; after each handshake it sends `DONE`, so the client knows
/// the server verified it too (in TLS 1.3 the client finishes first).
async fn handshake_server(listener: TcpListener, config: Arc<rustls::ServerConfig>) {
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            return;
        };
        let config = Arc::clone(&config);
        tokio::spawn(async move {
            tcp.set_nodelay(true).unwrap();
            let mut tls = accept(&config, tcp).await.unwrap();
            tls.write_all(&[DONE]).await.unwrap();
            tls.shutdown().await.unwrap();
        });
    }
}

fn handshakes(c: &mut Criterion) {
    let rt = runtime();
    let pki = pki();
    let server_cfg = server_config(&pki.server, &pki.trust, no_revocation()).unwrap();
    let client_cfg = client_config(&pki.client, &pki.trust, no_revocation()).unwrap();
    let addr: SocketAddr = rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(handshake_server(listener, server_cfg));
        addr
    });

    let mut group = c.benchmark_group("tls");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(8));
    group.throughput(Throughput::Elements(1));
    for clock in [Clock::Wall, Clock::Cpu] {
        group.bench_function(format!("mutual_handshake/{}", clock.name()), |b| {
            measure(b, clock, || {
                rt.block_on(async {
                    let mut tls = connect(&client_cfg, addr, SERVER_NAME).await.unwrap();
                    let mut done = [0u8; 1];
                    tls.read_exact(&mut done).await.unwrap();
                    assert_eq!(done, [DONE]);
                })
            })
        });
    }
    group.finish();
}

/// Reads `BULK_BYTES` per round and answers `DONE`, until the client closes.
async fn bulk_server(mut tls: TlsStream<TcpStream>) {
    let mut buf = vec![0u8; WRITE_CHUNK_BYTES];
    loop {
        let mut remaining = BULK_BYTES;
        while remaining > 0 {
            let want = remaining.min(buf.len());
            match tls.read(&mut buf[..want]).await {
                Ok(0) | Err(_) => return,
                Ok(n) => remaining -= n,
            }
        }
        if tls.write_all(&[DONE]).await.is_err() {
            return;
        }
    }
}

fn bulk(c: &mut Criterion) {
    let rt = runtime();
    let pki = pki();
    let server_cfg = server_config(&pki.server, &pki.trust, no_revocation()).unwrap();
    let client_cfg = client_config(&pki.client, &pki.trust, no_revocation()).unwrap();
    let mut client = rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            bulk_server(accept(&server_cfg, tcp).await.unwrap()).await;
        });
        connect(&client_cfg, addr, SERVER_NAME).await.unwrap()
    });
    let chunk = vec![0xa5u8; WRITE_CHUNK_BYTES];

    let mut group = c.benchmark_group("tls");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(8));
    group.throughput(Throughput::Bytes(BULK_BYTES as u64));
    for clock in [Clock::Wall, Clock::Cpu] {
        group.bench_function(
            format!("bulk_4MiB_client_to_server/{}", clock.name()),
            |b| {
                measure(b, clock, || {
                    rt.block_on(async {
                        for _ in 0..BULK_BYTES / WRITE_CHUNK_BYTES {
                            client.write_all(&chunk).await.unwrap();
                        }
                        client.flush().await.unwrap();
                        let mut done = [0u8; 1];
                        client.read_exact(&mut done).await.unwrap();
                        assert_eq!(done, [DONE]);
                    })
                })
            },
        );
    }
    group.finish();
}

criterion_group!(benches, handshakes, bulk);
criterion_main!(benches);
