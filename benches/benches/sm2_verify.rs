//! SM2 verification throughput, three ways in one run: netsettle's variable-time verifier
//! for a recurring signer (key table cached), the same for one-off keys (100 keys cycled
//! through the 64-key cache, so every verification misses it), and the `sm2` crate's
//! constant-time verifier it replaced; then the system `openssl speed -seconds 3 sm2` in the
//! same run (its verify/s is per CPU-user second, as these are per thread CPU second).
//! Run: `cargo bench -p netsettle-benches --bench sm2_verify`.
//!
//! Timed in this thread's CPU time (`netsettle_benches::process::cpu_timed`).

use std::hint::black_box;
use std::process::Command;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use netsettle_benches::process::cpu_timed;
use netsettle_smcrypto::{DEFAULT_DIST_ID, PrivateKey, PublicKey, Signature};

/// A transaction-sized message: what peers actually sign and verify.
const TX_BYTES: usize = 512;

/// More keys than the verifier's key cache holds, cycled in order: each misses.
const ONE_OFF_KEYS: usize = 100;

fn signed(n_keys: usize, message: &[u8]) -> Vec<(PublicKey, Signature)> {
    (0..n_keys)
        .map(|_| {
            let key = PrivateKey::generate();
            let signature = key.sign(message);
            (key.public_key().clone(), signature)
        })
        .collect()
}

fn sm2_verify(c: &mut Criterion) {
    let message = vec![0x5a; TX_BYTES];
    let recurring = signed(1, &message);
    let one_off = signed(ONE_OFF_KEYS, &message);
    let mut group = c.benchmark_group("SM2 verify");
    group.throughput(Throughput::Elements(1));
    group.bench_function("smcrypto recurring key", |b| {
        b.iter_custom(|iters| {
            cpu_timed(iters, |_| {
                let (key, signature) = &recurring[0];
                key.verify(black_box(&message), black_box(signature))
            })
        })
    });
    group.bench_function("smcrypto one-off key", |b| {
        let mut next = 0usize;
        b.iter_custom(|iters| {
            cpu_timed(iters, |_| {
                let (key, signature) = &one_off[next % ONE_OFF_KEYS];
                next = next.wrapping_add(1);
                key.verify(black_box(&message), black_box(signature))
            })
        })
    });
    group.bench_function("sm2 crate", |b| {
        b.iter_custom(|iters| {
            cpu_timed(iters, |_| {
                let (key, signature) = &recurring[0];
                key.verify_with_id_sm2_crate(DEFAULT_DIST_ID, black_box(&message), signature)
            })
        })
    });
    group.finish();
}

/// `openssl speed -seconds 3 sm2`: (sign/s, verify/s), or `None` without the tool or SM2.
fn openssl_sm2_per_second() -> Option<(f64, f64)> {
    let output = Command::new("openssl")
        .args(["speed", "-seconds", "3", "sm2"])
        .output()
        .ok()?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    // ` 256 bits SM2 (CurveSM2)   0.0004s   0.0003s   2656.7   2947.7`
    let line = stdout.lines().find(|line| line.contains("SM2"))?;
    let mut numbers = line.split_whitespace().rev();
    let verify = numbers.next()?.parse().ok()?;
    let sign = numbers.next()?.parse().ok()?;
    Some((sign, verify))
}

fn versus_openssl(_c: &mut Criterion) {
    match openssl_sm2_per_second() {
        Some((sign, verify)) => {
            println!("openssl speed -seconds 3 sm2: {sign:.0} sign/s, {verify:.0} verify/s");
        }
        None => println!("openssl speed sm2: not available here"),
    }
}

criterion_group!(benches, sm2_verify, versus_openssl);
criterion_main!(benches);
