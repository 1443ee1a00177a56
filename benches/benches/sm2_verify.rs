//! SM2 verification throughput, three ways in one run: netsettle's variable-time verifier
//! for a recurring signer (key table cached), the same for one-off keys (100 keys cycled
//! through the 64-key cache, so every verification misses it), and the `sm2` crate's
//! constant-time verifier it replaced. Compare with `openssl speed -seconds 3 sm2` on the
//! same machine in the same sitting. Run: `cargo bench -p netsettle-benches --bench
//! sm2_verify`.
//!
//! Timed in this thread's CPU time (`netsettle_benches::process::cpu_timed`).

use std::hint::black_box;

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

criterion_group!(benches, sm2_verify);
criterion_main!(benches);
