//! SM2 verification throughput, three ways in one run: netsettle's variable-time verifier
//! for a recurring signer (key table cached), the same for one-off keys (100 keys cycled
//! through the 64-key cache, so every verification misses it), and the `sm2` crate's
//! constant-time verifier it replaced. Compare with `openssl speed -seconds 3 sm2` on the
//! same machine in the same sitting. Run: `cargo bench -p netsettle-smcrypto --bench
//! sm2_verify`.
//!
//! Timed in this thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`), not wall-clock time: the build machine is shared, and `openssl speed` also divides by CPU
//! time, so the figures compare.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use netsettle_smcrypto::{DEFAULT_DIST_ID, PrivateKey, PublicKey, Signature};

/// A transaction-sized message: what peers actually sign and verify.
const TX_BYTES: usize = 512;

/// More keys than the verifier's key cache holds, cycled in order: each misses.
const ONE_OFF_KEYS: usize = 100;

/// CPU time consumed by the calling thread so far.
fn thread_cpu_time() -> Duration {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid, writable timespec and CLOCK_THREAD_CPUTIME_ID is supported
    // by every Linux kernel this runs on; the return code is checked below.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID) failed");
    let seconds = u64::try_from(now.tv_sec).expect("CPU time is non-negative");
    let nanos = u32::try_from(now.tv_nsec).expect("tv_nsec is below one second");
    Duration::new(seconds, nanos)
}

/// Run `routine` `iters` times and return the CPU time this thread spent on it.
fn cpu_timed<O>(iters: u64, mut routine: impl FnMut(u64) -> O) -> Duration {
    let start = thread_cpu_time();
    for iter in 0..iters {
        black_box(routine(iter));
    }
    thread_cpu_time().saturating_sub(start)
}

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
