//! SM4-GCM record sealing, four ways in one run: the kept-key in-place path the TLS record
//! layer uses (`Sm4GcmKey`) with its default counter path (AES-NI S-box, eight blocks per
//! step, when the CPU has it) and forced onto the T-table path it had before, the old
//! per-record `sm4` + `aes-gcm` composition, and the system `openssl speed -evp sm4-ctr`
//! (plus `-evp sm4-gcm` when this OpenSSL has it; 3.0 does not). Run:
//! `cargo bench -p netsettle-smcrypto --bench sm4_gcm`.
//!
//! Criterion times wall clock; the printed table divides by this thread's CPU time (from
//! `/proc/thread-self/schedstat`, nanoseconds), as `openssl speed` divides by CPU user
//! time, so other jobs on the shared machine do not count against either side.

use std::hint::black_box;
use std::process::Command;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use netsettle_smcrypto::{
    CtrPath, Sm4GcmKey, Sm4Key, sm4_aesni_available, sm4_aesni_avx2_available, sm4gcm_reference,
};

/// TLS record sizes: a small message and a full 16 KiB record.
const RECORD_LENS: [usize; 2] = [1024, 16 * 1024];

/// A TLS 1.3 record header, the AAD of every record.
const RECORD_AAD: [u8; 5] = [0x17, 0x03, 0x03, 0x40, 0x11];

/// CPU time to spend on each path for the printed table.
const TABLE_CPU_NANOS: u64 = 1_000_000_000;

fn records(c: &mut Criterion) {
    let key = Sm4Key::from_slice(&[7u8; 16]).expect("16-byte key");
    let kept = Sm4GcmKey::new(&key);
    let nonce = [9u8; 12];
    let mut group = c.benchmark_group("sm4_gcm_seal");
    for len in RECORD_LENS {
        let mut record = vec![0x3c; len];
        let data = vec![0x3c; len];
        group.throughput(Throughput::Bytes(u64::try_from(len).expect("fits")));
        group.bench_function(BenchmarkId::new("kept_key_in_place", len), |b| {
            b.iter(|| kept.seal_in_place_detached(&nonce, &RECORD_AAD, black_box(&mut record)))
        });
        group.bench_function(BenchmarkId::new("kept_key_tables", len), |b| {
            b.iter(|| kept.seal_with(CtrPath::Lanes4, &nonce, &RECORD_AAD, black_box(&mut record)))
        });
        group.bench_function(BenchmarkId::new("old_sm4_crate_per_record", len), |b| {
            b.iter(|| sm4gcm_reference::seal(&key, &nonce, &RECORD_AAD, black_box(&data)))
        });
    }
    group.finish();
}

/// This thread's CPU time in nanoseconds (first field of `/proc/thread-self/schedstat`).
fn thread_cpu_nanos() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .expect("Linux /proc/thread-self/schedstat")
}

/// MB/s (10^6 bytes per CPU second) of `routine` over `len`-byte records.
fn megabytes_per_second<O>(len: usize, mut routine: impl FnMut() -> O) -> f64 {
    let start = thread_cpu_nanos();
    let mut records = 0u64;
    while thread_cpu_nanos() - start < TABLE_CPU_NANOS {
        for _ in 0..16 {
            black_box(routine());
        }
        records += 16;
    }
    let elapsed = (thread_cpu_nanos() - start) as f64 / 1e9;
    records as f64 * len as f64 / elapsed / 1e6
}

/// `openssl speed -seconds 1 -bytes <len> -evp <cipher>` in MB/s (OpenSSL prints 1000s of
/// bytes per CPU-user second), or `None` when this OpenSSL lacks the cipher or the tool.
fn openssl_megabytes_per_second(cipher: &str, len: usize) -> Option<f64> {
    let output = Command::new("openssl")
        .args([
            "speed",
            "-seconds",
            "1",
            "-bytes",
            &len.to_string(),
            "-evp",
            cipher,
        ])
        .output()
        .ok()?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout
        .lines()
        .find(|line| line.to_ascii_lowercase().starts_with(cipher))?;
    let kilobytes = line.split_whitespace().last()?.trim_end_matches('k');
    kilobytes.parse::<f64>().ok().map(|k| k / 1000.0)
}

fn show(value: Option<f64>) -> String {
    value.map_or_else(|| "n/a".to_owned(), |v| format!("{v:.1}"))
}

fn ratio(new: f64, other: Option<f64>) -> String {
    other.map_or_else(|| "n/a".to_owned(), |o| format!("{:.2}x", new / o))
}

fn versus_openssl(_c: &mut Criterion) {
    let key = Sm4Key::from_slice(&[7u8; 16]).expect("16-byte key");
    let kept = Sm4GcmKey::new(&key);
    let nonce = [9u8; 12];
    let default_path = if sm4_aesni_avx2_available() {
        "AES-NI, 32 blocks per step on AVX2"
    } else if sm4_aesni_available() {
        "AES-NI, 8 blocks per step on SSE"
    } else {
        "tables (no AES-NI)"
    };
    println!("SM4-GCM seal per record, MB/s of CPU time (10^6 bytes/s); new = {default_path}:");
    for len in RECORD_LENS {
        let mut record = vec![0x3c; len];
        let data = vec![0x3c; len];
        let new = megabytes_per_second(len, || {
            kept.seal_in_place_detached(&nonce, &RECORD_AAD, black_box(&mut record))
        });
        let sse = megabytes_per_second(len, || {
            kept.seal_with(CtrPath::AesNi8, &nonce, &RECORD_AAD, black_box(&mut record))
        });
        let tables = megabytes_per_second(len, || {
            kept.seal_with(CtrPath::Lanes4, &nonce, &RECORD_AAD, black_box(&mut record))
        });
        let old = megabytes_per_second(len, || {
            sm4gcm_reference::seal(&key, &nonce, &RECORD_AAD, black_box(&data))
        });
        let ctr = openssl_megabytes_per_second("sm4-ctr", len);
        let gcm = openssl_megabytes_per_second("sm4-gcm", len);
        println!(
            "  {len:>6} B: new {new:.1} | AES-NI SSE x8 {sse:.1} | tables {tables:.1} (new/tables \
             {:.2}x) | old sm4 crate \
             {old:.1} (new/old {:.2}x) | openssl sm4-ctr {} (new/ctr {}) | openssl sm4-gcm {} \
             (new/gcm {})",
            new / tables,
            new / old,
            show(ctr),
            ratio(new, ctr),
            show(gcm),
            ratio(new, gcm),
        );
    }
}

criterion_group!(benches, versus_openssl, records);
criterion_main!(benches);
