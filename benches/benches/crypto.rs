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

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use netsettle_benches::process::cpu_timed;
use netsettle_smcrypto::{BatchVerifier, PrivateKey, Sm4Key, cbc_encrypt, gcm_seal, sm3};

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
    group.bench_function("sign (sm2 crate path)", |b| {
        b.iter_custom(|iters| cpu_timed(iters, |_| key.sign_sm2_crate(black_box(&message))))
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

criterion_group!(benches, sm2, sm2_batch, sm3_hash, sm4);
criterion_main!(benches);
