//! The checked-in sample reports under `tests/data/settlement/` are the seeded generator's
//! output, byte for byte, so the demo and the tests agree on what a month looks like.
//! Regenerate with `NETSETTLE_WRITE_SAMPLES=1 cargo test -p netsettle-settlement --test samples`.

mod common;

use std::path::PathBuf;

use common::{MOBILE, UNICOM, agreement, period};
use netsettle_settlement::reconcile::reconcile;
use netsettle_settlement::report::Report;
use netsettle_settlement::sample::{SampleSpec, generate_pair};

/// Lines per generated sample: a realistic month between two provincial companies.
const SAMPLE_LINES: usize = 3_000;
const SAMPLE_SEED: u64 = 2026;

fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/settlement")
}

fn check_file(name: &str, expected: &[u8]) {
    let path = data_dir().join(name);
    if std::env::var_os("NETSETTLE_WRITE_SAMPLES").is_some() {
        std::fs::write(&path, expected).unwrap();
    }
    let found = std::fs::read(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    assert!(
        found == expected,
        "{} differs from the generator's output",
        path.display()
    );
}

#[test]
fn generated_samples_are_checked_in() {
    let spec = SampleSpec::typical(SAMPLE_SEED, period(), SAMPLE_LINES);
    let (unicom, mobile) = generate_pair(&spec, &agreement()).unwrap();
    check_file("2026-10-UnicomMSP.csv", &unicom.to_csv());
    check_file("2026-10-MobileMSP.csv", &mobile.to_csv());
    let result = reconcile(&agreement(), &unicom, &mobile).unwrap();
    assert!(result.summary.agreed > 2_900, "{:?}", result.summary);
    assert!(
        result.summary.disputed > 0 && result.summary.one_sided > 0,
        "{:?}",
        result.summary
    );
}

#[test]
fn demo_samples_parse_and_reconcile() {
    let read = |name: &str| std::fs::read(data_dir().join(name)).unwrap();
    let unicom = Report::from_csv(period(), UNICOM, &read("demo-UnicomMSP.csv")).unwrap();
    let mobile = Report::from_csv(period(), MOBILE, &read("demo-MobileMSP.csv")).unwrap();
    let terms: netsettle_settlement::agreement::Agreement =
        serde_json::from_slice(&read("agreement.json")).unwrap();
    terms.check().unwrap();
    let result = reconcile(&terms, &unicom, &mobile).unwrap();
    assert_eq!(result.summary.lines, 12);
    assert_eq!((result.summary.disputed, result.summary.one_sided), (2, 2));
}
