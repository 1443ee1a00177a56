//! Throughput of the national-crypto primitives every transaction, block and TLS record
//! pays for: SM2 sign/verify (single and through the parallel batch verifier, to show that
//! verification scales with cores), SM3, SM4-GCM and SM4-CBC.
//!
//! Compare with the same machine's `openssl speed sm2`, `openssl speed -evp sm3` and
//! `openssl speed -evp sm4-cbc`; the figures and ratios go in the issue notes.
//!
//! The single-thread groups (`*_cpu`) are timed in thread CPU time, because `openssl
//! speed` divides by CPU user time by default and the shared build machine is rarely idle:
//! wall-clock figures would measure the other jobs as much as the code. The batch group is
//! timed in wall-clock time, since what it shows is that two threads finish sooner.

use netsettle_benches::signed::SignedBatch;
use std::hint::black_box;
use std::num::NonZeroUsize;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use netsettle_smcrypto::{BatchVerifier, PrivateKey, Sm4Key, cbc_encrypt, gcm_seal, sm3};

/// Jobs per batch in the parallel-verifier bench: about one block's worth of signatures.
const BATCH_JOBS: usize = 512;

/// A transaction-sized message: what peers actually sign and verify.
const TX_BYTES: usize = 512;

/// CPU time consumed by the calling thread so far.
fn thread_cpu_time() -> Duration {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid, writable timespec, and CLOCK_THREAD_CPUTIME_ID is supported
    // by every Linux kernel this runs on; the return code is checked below.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID) failed");
    let seconds = u64::try_from(now.tv_sec).expect("CPU time is non-negative");
    let nanos = u32::try_from(now.tv_nsec).expect("tv_nsec is below one second");
    Duration::new(seconds, nanos)
}

/// Run `routine` `iters` times and return the CPU time this thread spent on it.
fn cpu_timed<O>(iters: u64, mut routine: impl FnMut() -> O) -> Duration {
    let start = thread_cpu_time();
    for _ in 0..iters {
        black_box(routine());
    }
    thread_cpu_time().saturating_sub(start)
}

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
        b.iter_custom(|iters| cpu_timed(iters, || key.sign(black_box(&message))))
    });
    group.bench_function("verify", |b| {
        b.iter_custom(|iters| {
            cpu_timed(iters, || {
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
            b.iter_custom(|iters| cpu_timed(iters, || sm3(black_box(data))))
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
            b.iter_custom(|iters| cpu_timed(iters, || gcm_seal(&key, &nonce, b"", black_box(data))))
        });
        group.bench_with_input(BenchmarkId::new("cbc_encrypt", len), &data, |b, data| {
            b.iter_custom(|iters| cpu_timed(iters, || cbc_encrypt(&key, &iv, black_box(data))))
        });
    }
    group.finish();
}

criterion_group!(benches, sm2, sm2_batch, sm3_hash, sm4);
criterion_main!(benches);
