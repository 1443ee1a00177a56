//! Throughput of the national-crypto primitives every transaction, block and TLS record
//! pays for: SM2 sign/verify (single and through the parallel batch verifier, to show that
//! verification scales with cores), SM3, SM4-GCM and SM4-CBC.
//!
//! Compare with the same machine's `openssl speed sm2`, `openssl speed -evp sm3` and
//! `openssl speed -evp sm4-cbc`; the figures and ratios go in the issue notes.
//!
//! SM4-GCM records (`sm4_gcm_record_cpu`): the kept-key in-place path the TLS record layer
//! uses (`Sm4GcmKey`) against the old per-record `sm4` + `aes-gcm` composition; the
//! `sm4_gcm_vs_openssl` step then prints MB/s of both next to `openssl speed -evp sm4-ctr`
//! (and `-evp sm4-gcm` when this OpenSSL has it; 3.0 does not), run in the same sitting.
//! Run: `cargo bench -p netsettle-benches --bench crypto -- sm4`.
//!
//! The single-thread groups (`*_cpu`) are timed in thread CPU time, because `openssl
//! speed` divides by CPU user time by default and the shared build machine is rarely idle:
//! wall-clock figures would measure the other jobs as much as the code. The batch group is
//! timed in wall-clock time, since what it shows is that two threads finish sooner.

use netsettle_benches::signed::SignedBatch;
use std::hint::black_box;
use std::num::NonZeroUsize;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use netsettle_benches::process::cpu_timed;
use netsettle_smcrypto::{
    BatchVerifier, PrivateKey, Sm4GcmKey, Sm4Key, cbc_encrypt, gcm_seal, sm3, sm4gcm_reference,
};
use std::process::Command;
use std::time::Duration;

/// Jobs per batch in the parallel-verifier bench: about one block's worth of signatures.
const BATCH_JOBS: usize = 512;

/// A transaction-sized message: what peers actually sign and verify.
const TX_BYTES: usize = 512;

fn bytes(len: usize) -> Throughput {
    Throughput::Bytes(u64::try_from(len).expect("length fits u64"))
}

fn sm2(c: &mut Criterion) {
    let key = PrivateKey::generate();
    let message = vec![0x5a; TX_BYTES];
    let signature = key.sign(&message);
    let mut group = c.benchmark_group("sm2_cpu");
    group.throughput(Throughput::Elements(1));
    group.bench_function("sign", |b| {
        b.iter_custom(|iters| cpu_timed(iters, |_| key.sign(black_box(&message))))
    });
    group.bench_function("verify", |b| {
        b.iter_custom(|iters| {
            cpu_timed(iters, |_| {
                key.public_key()
                    .verify(black_box(&message), black_box(&signature))
            })
        })
    });
    group.finish();
}

fn sm2_batch(c: &mut Criterion) {
    let batch = SignedBatch::new(BATCH_JOBS, TX_BYTES);
    let jobs = batch.jobs();
    let mut group = c.benchmark_group("sm2_verify_batch_wall");
    group.throughput(Throughput::Elements(
        u64::try_from(jobs.len()).expect("batch size fits u64"),
    ));
    for threads in [1usize, 2] {
        let verifier = BatchVerifier::new(NonZeroUsize::new(threads).expect("nonzero"));
        group.bench_with_input(BenchmarkId::new("threads", threads), &jobs, |b, jobs| {
            b.iter(|| verifier.verify_all(black_box(jobs)))
        });
    }
    group.finish();
}

fn sm3_hash(c: &mut Criterion) {
    let mut group = c.benchmark_group("sm3_cpu");
    for len in [1024usize, 1024 * 1024] {
        let data = vec![0xa5; len];
        group.throughput(bytes(len));
        group.bench_with_input(BenchmarkId::from_parameter(len), &data, |b, data| {
            b.iter_custom(|iters| cpu_timed(iters, |_| sm3(black_box(data))))
        });
    }
    group.finish();
}

fn sm4(c: &mut Criterion) {
    let key = Sm4Key::from_slice(&[7u8; 16]).expect("16-byte key");
    let nonce = [9u8; 12];
    let iv = [3u8; 16];
    let mut group = c.benchmark_group("sm4_cpu");
    for len in [1024usize, 16 * 1024] {
        let data = vec![0x3c; len];
        group.throughput(bytes(len));
        group.bench_with_input(BenchmarkId::new("gcm_seal", len), &data, |b, data| {
            b.iter_custom(|iters| {
                cpu_timed(iters, |_| gcm_seal(&key, &nonce, b"", black_box(data)))
            })
        });
        group.bench_with_input(BenchmarkId::new("cbc_encrypt", len), &data, |b, data| {
            b.iter_custom(|iters| cpu_timed(iters, |_| cbc_encrypt(&key, &iv, black_box(data))))
        });
    }
    group.finish();
}

/// TLS record sizes: a small message and a full 16 KiB record.
const RECORD_LENS: [usize; 2] = [1024, 16 * 1024];

/// A TLS 1.3 record header, the AAD of every record.
const RECORD_AAD: [u8; 5] = [0x17, 0x03, 0x03, 0x40, 0x11];

fn sm4_gcm_records(c: &mut Criterion) {
    let key = Sm4Key::from_slice(&[7u8; 16]).expect("16-byte key");
    let kept = Sm4GcmKey::new(&key);
    let nonce = [9u8; 12];
    let mut group = c.benchmark_group("sm4_gcm_record_cpu");
    for len in RECORD_LENS {
        let mut record = vec![0x3c; len];
        group.throughput(bytes(len));
        group.bench_function(BenchmarkId::new("kept_key_in_place", len), |b| {
            b.iter_custom(|iters| {
                cpu_timed(iters, |_| {
                    kept.seal_in_place_detached(&nonce, &RECORD_AAD, black_box(&mut record))
                })
            })
        });
        let data = vec![0x3c; len];
        group.bench_function(BenchmarkId::new("old_sm4_crate_per_record", len), |b| {
            b.iter_custom(|iters| {
                cpu_timed(iters, |_| {
                    sm4gcm_reference::seal(&key, &nonce, &RECORD_AAD, black_box(&data))
                })
            })
        });
    }
    group.finish();
}

/// MB/s (10^6 bytes per CPU second) of `routine` over `len`-byte records, timed for about
/// half a CPU second.
fn megabytes_per_second<O>(len: usize, mut routine: impl FnMut() -> O) -> f64 {
    let mut iters = 16u64;
    loop {
        let elapsed = cpu_timed(iters, |_| routine());
        if elapsed >= Duration::from_millis(500) {
            let bytes_total = iters as f64 * len as f64;
            return bytes_total / elapsed.as_secs_f64() / 1e6;
        }
        iters = iters.saturating_mul(2);
    }
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

fn ratio(a: f64, b: Option<f64>) -> String {
    b.map_or_else(|| "n/a".to_owned(), |b| format!("{:.2}x", a / b))
}

fn sm4_gcm_vs_openssl(_c: &mut Criterion) {
    let key = Sm4Key::from_slice(&[7u8; 16]).expect("16-byte key");
    let kept = Sm4GcmKey::new(&key);
    let nonce = [9u8; 12];
    println!("SM4-GCM seal per record, MB/s of CPU time (10^6 bytes/s):");
    for len in RECORD_LENS {
        let mut record = vec![0x3c; len];
        let data = vec![0x3c; len];
        let new = megabytes_per_second(len, || {
            kept.seal_in_place_detached(&nonce, &RECORD_AAD, black_box(&mut record))
        });
        let old = megabytes_per_second(len, || {
            sm4gcm_reference::seal(&key, &nonce, &RECORD_AAD, black_box(&data))
        });
        let ctr = openssl_megabytes_per_second("sm4-ctr", len);
        let gcm = openssl_megabytes_per_second("sm4-gcm", len);
        let show = |v: Option<f64>| v.map_or_else(|| "n/a".to_owned(), |v| format!("{v:.1}"));
        println!(
            "  {len:>6} B: new {new:.1}, old {old:.1} (new/old {:.2}x), openssl sm4-ctr {} \
             (new/ctr {}), openssl sm4-gcm {} (new/gcm {})",
            new / old,
            show(ctr),
            ratio(new, ctr),
            show(gcm),
            ratio(new, gcm),
        );
    }
}

criterion_group!(
    benches,
    sm2,
    sm2_batch,
    sm3_hash,
    sm4,
    sm4_gcm_records,
    sm4_gcm_vs_openssl
);
criterion_main!(benches);
