//! Settlement reconciliation at scale: two carriers' 100,000-line reports for one month.
//!
//! - `reconcile/100k`: the pure line matching (`reconcile`) of two parsed reports;
//! - `open/100k`: what the reveal does per report before matching: SM4-GCM decrypt, SM3
//!   commitment check, strict canonical parse;
//! - peak heap of one reconciliation, measured with a counting global allocator
//!   (allocated bytes above the level before the call), and the process's peak RSS;
//! - a month's ledger size: the whole workflow through the contract on the in-memory
//!   ledger (agreement, two uploads, two reveals, one adjustment proposed and accepted per
//!   open line, two confirmations), adding up each transaction's arguments and write set,
//!   plus a fixed allowance per transaction for the envelope, certificates and two
//!   endorsements. Times the reconciling reveal end to end as well.
//!
//! Reports come from the seeded generator (`SampleSpec::typical`: 2 % small
//! differences, 0.5 % large, 0.3 % one-sided), so every run sees the same data.
//!
//! Run: `cargo bench -p netsettle-benches --bench settlement`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use netsettle_contract::{Creator, Invocation, MemoryState};
use netsettle_protocol::{Role, Timestamp, TxId};
use netsettle_settlement::agreement::Agreement;
use netsettle_settlement::contract::CONTRACT_NAME;
use netsettle_settlement::contract::SettlementContract;
use netsettle_settlement::reconcile::reconcile;
use netsettle_settlement::report::Report;
use netsettle_settlement::sample::{SampleSpec, generate_pair};
use netsettle_settlement::seal::{Opening, Sealed, open_report, reveal_args, seal_report};
use netsettle_settlement::units::Period;
use netsettle_smcrypto::{Sm4Key, sm3};

/// Counts live heap bytes and their high-water mark.
struct CountingAlloc;

static LIVE_BYTES: AtomicUsize = AtomicUsize::new(0);
static PEAK_BYTES: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded unchanged to the system allocator.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            let live = LIVE_BYTES.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK_BYTES.fetch_max(live, Ordering::Relaxed);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(ptr, layout) };
        LIVE_BYTES.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}

#[global_allocator]
static ALLOCATOR: CountingAlloc = CountingAlloc;

/// Runs `f` and returns its result and the heap it needed above the level at the start.
fn peak_heap<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let base = LIVE_BYTES.load(Ordering::Relaxed);
    PEAK_BYTES.store(base, Ordering::Relaxed);
    let out = f();
    (out, PEAK_BYTES.load(Ordering::Relaxed).saturating_sub(base))
}

fn max_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

const LINES: usize = 100_000;
/// Per-transaction bytes beyond arguments and writes: header, creator certificate, two
/// endorsements (certificate + SM2 signature each), envelope signature, block metadata.
const TX_OVERHEAD_BYTES: usize = 3 * 1024;
const MIB: f64 = 1024.0 * 1024.0;

fn agreement() -> Agreement {
    Agreement {
        party_a: "UnicomMSP".into(),
        party_b: "MobileMSP".into(),
        currency: "CNY".into(),
        tolerance_fen: 100,
        tolerance_bp: 10,
        reveal_window_ms: 7 * 86_400_000,
        clock_margin_ms: netsettle_settlement::limits::DEADLINE_MARGIN_MS_DEFAULT,
        upload_deadline_day: None,
    }
}

fn reports() -> (Report, Report) {
    let period: Period = "2026-10".parse().expect("valid period");
    generate_pair(&SampleSpec::typical(2026, period, LINES), &agreement())
        .expect("generator makes valid reports")
}

fn bench(c: &mut Criterion) {
    let terms = agreement();
    let (unicom, mobile) = reports();
    let (result, heap) = peak_heap(|| reconcile(&terms, &unicom, &mobile).expect("reconciles"));
    println!(
        "settlement: {} + {} report lines -> {} reconciled lines ({} open); reconcile peak heap {:.1} MiB",
        unicom.lines().len(),
        mobile.lines().len(),
        result.summary.lines,
        result.summary.open_lines(),
        heap as f64 / MIB
    );
    drop(result);

    let key = Opening {
        key: Sm4Key::from_slice(&[7u8; 16]).expect("16 bytes"),
        salt: [8u8; 16],
    };
    let sealed = seal_report(&unicom, &key, [9u8; 12]);
    let plaintext_commitment = sealed.plaintext_commitment;
    let open = || {
        let envelope = Sealed {
            period: sealed.period,
            carrier: &sealed.carrier,
            nonce: &sealed.nonce,
            plaintext_commitment: &plaintext_commitment,
            ciphertext: &sealed.ciphertext,
        };
        open_report(envelope, &key).expect("opens")
    };
    let (_, open_heap) = peak_heap(open);
    println!(
        "settlement: one report is {:.1} MiB of ciphertext; opening it peaks at {:.1} MiB heap",
        sealed.ciphertext.len() as f64 / MIB,
        open_heap as f64 / MIB
    );

    let mut group = c.benchmark_group("settlement");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(20));
    group.throughput(Throughput::Elements(
        (unicom.lines().len() + mobile.lines().len()) as u64,
    ));
    group.bench_function("reconcile/100k", |bencher| {
        bencher.iter(|| reconcile(&terms, &unicom, &mobile).expect("reconciles"))
    });
    group.throughput(Throughput::Bytes(sealed.ciphertext.len() as u64));
    group.bench_function("open/100k", |bencher| bencher.iter(open));
    group.finish();

    month_ledger_size(&terms, &unicom, &mobile);
    if let Some(rss) = max_rss_kib() {
        println!(
            "settlement: process peak RSS {:.0} MiB",
            rss as f64 / 1024.0
        );
    }
}

struct Month {
    ledger: MemoryState,
    calls: u64,
    txs: usize,
    args_bytes: usize,
    written_bytes: usize,
}

impl Month {
    fn call(
        &mut self,
        msp_id: &str,
        role: Role,
        function: &str,
        args: &[Vec<u8>],
    ) -> serde_json::Value {
        self.calls += 1;
        let common_name = format!("{role:?}@{msp_id}");
        let invocation = Invocation {
            channel: "settlement".into(),
            namespace: CONTRACT_NAME.into(),
            creator: Creator {
                msp_id: msp_id.into(),
                role,
                fingerprint: sm3(common_name.as_bytes()),
                common_name,
                attributes: Default::default(),
            },
            tx_id: TxId(sm3(&self.calls.to_le_bytes())),
            timestamp: Timestamp {
                unix_time_ms: 1_793_000_000_000 + self.calls,
            },
        };
        let outcome = self
            .ledger
            .execute(&SettlementContract, &invocation, function, args)
            .unwrap_or_else(|error| panic!("{function}: {error}"));
        self.txs += 1;
        self.args_bytes += args.iter().map(Vec::len).sum::<usize>();
        self.written_bytes += outcome.written_bytes();
        serde_json::from_slice(&outcome.payload).unwrap_or(serde_json::Value::Null)
    }

    fn json(
        &mut self,
        msp_id: &str,
        role: Role,
        function: &str,
        request: serde_json::Value,
    ) -> serde_json::Value {
        let args = [serde_json::to_vec(&request).expect("json")];
        self.call(msp_id, role, function, &args)
    }
}

fn month_ledger_size(terms: &Agreement, unicom: &Report, mobile: &Report) {
    use serde_json::json;
    let mut month = Month {
        ledger: MemoryState::new(),
        calls: 0,
        txs: 0,
        args_bytes: 0,
        written_bytes: 0,
    };
    let digest =
        month.json("UnicomMSP", Role::Admin, "agreement_propose", json!(terms))["digest"].clone();
    month.json(
        "MobileMSP",
        Role::Admin,
        "agreement_accept",
        json!({ "digest": digest }),
    );
    let key_unicom = Opening {
        key: Sm4Key::from_slice(&[1u8; 16]).expect("16 bytes"),
        salt: [3u8; 16],
    };
    let key_mobile = Opening {
        key: Sm4Key::from_slice(&[2u8; 16]).expect("16 bytes"),
        salt: [4u8; 16],
    };
    month.call(
        "UnicomMSP",
        Role::Client,
        "upload",
        &seal_report(unicom, &key_unicom, [1u8; 12]).upload_args(),
    );
    month.call(
        "MobileMSP",
        Role::Client,
        "upload",
        &seal_report(mobile, &key_mobile, [2u8; 12]).upload_args(),
    );
    let period: Period = "2026-10".parse().expect("valid period");
    month.call(
        "UnicomMSP",
        Role::Client,
        "reveal",
        &reveal_args(period, &key_unicom),
    );
    let started = Instant::now();
    let summary = month.call(
        "MobileMSP",
        Role::Client,
        "reveal",
        &reveal_args(period, &key_mobile),
    );
    let reveal_time = started.elapsed();
    let open = summary["summary"]["disputed"].as_u64().unwrap_or(0)
        + summary["summary"]["one_sided"].as_u64().unwrap_or(0);
    let mut from = 0u64;
    let mut adjusted = 0u64;
    loop {
        let request =
            json!({ "period": "2026-10", "from": from, "limit": 1000, "open_only": true });
        let page = month.query("lines_get", request);
        for line in page["lines"].as_array().cloned().unwrap_or_default() {
            let figures = if line["a"].is_null() {
                &line["b"]
            } else {
                &line["a"]
            };
            let request = json!({
                "period": "2026-10", "line_no": line["line_no"], "quantity": figures["quantity"],
                "amount_fen": figures["amount_fen"], "reason": "billing records checked on both sides",
            });
            let id = month.json("UnicomMSP", Role::Client, "adjust_propose", request)["adjustment"]
                ["id"]
                .clone();
            month.json(
                "MobileMSP",
                Role::Client,
                "adjust_accept",
                json!({ "period": "2026-10", "adjustment_id": id }),
            );
            adjusted += 1;
        }
        match page["next"].as_u64() {
            Some(next) => from = next,
            None => break,
        }
    }
    assert_eq!(adjusted, open, "every open line adjusted");
    let version =
        month.query("period_get", json!({ "period": "2026-10" }))["state"]["version"].clone();
    month.json(
        "UnicomMSP",
        Role::Client,
        "confirm",
        json!({ "period": "2026-10", "version": version }),
    );
    let done = month.json(
        "MobileMSP",
        Role::Client,
        "confirm",
        json!({ "period": "2026-10", "version": version }),
    );
    assert_eq!(done["phase"], "Final");
    let block_store = month.args_bytes + month.written_bytes + month.txs * TX_OVERHEAD_BYTES;
    println!(
        "settlement: reconciling reveal through the contract (decrypt, parse, match, store pages): {reveal_time:?}"
    );
    println!(
        "settlement: month ledger: {} transactions ({adjusted} adjustments); arguments {:.1} MiB, write sets {:.1} MiB, \
         block store about {:.1} MiB; world state {:.1} MiB",
        month.txs,
        month.args_bytes as f64 / MIB,
        month.written_bytes as f64 / MIB,
        block_store as f64 / MIB,
        month.ledger.state_bytes() as f64 / MIB
    );
}

impl Month {
    fn query(&self, function: &str, request: serde_json::Value) -> serde_json::Value {
        let invocation = Invocation {
            channel: "settlement".into(),
            namespace: CONTRACT_NAME.into(),
            creator: Creator {
                msp_id: "UnicomMSP".into(),
                role: Role::Client,
                common_name: "reader".into(),
                fingerprint: sm3(b"reader"),
                attributes: Default::default(),
            },
            tx_id: TxId(sm3(b"query")),
            timestamp: Timestamp {
                unix_time_ms: 1_793_000_000_000,
            },
        };
        let args = [serde_json::to_vec(&request).expect("json")];
        let payload = self
            .ledger
            .query(&SettlementContract, &invocation, function, &args)
            .expect("query");
        serde_json::from_slice(&payload).expect("json")
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
