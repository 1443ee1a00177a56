//! Property tests of the pure core: canonical encodings round trip, hostile bytes never
//! panic, reconciliation is symmetric, totals are the sum of the lines, and a report
//! reconciled against its own mirror is all agreed.

mod common;

use common::{MOBILE, UNICOM, agreement, period};
use netsettle_settlement::agreement::Agreement;
use netsettle_settlement::reconcile::{LineStatus, Summary, reconcile};
use netsettle_settlement::report::Direction;
use netsettle_settlement::report::Report;
use netsettle_settlement::report::ReportLine;
use netsettle_settlement::units::Rate;
use proptest::prelude::*;

fn token() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("voice".to_owned()),
        Just("sms".to_owned()),
        Just("data".to_owned()),
        "[a-z_]{1,8}"
    ]
}

fn line() -> impl Strategy<Value = ReportLine> {
    (
        token(),
        any::<bool>(),
        "[0-9]{3,4}",
        0u64..1_000_000_000,
        "[a-zA-Z]{1,6}",
        0u64..10_000_000_000,
        0u64..10_000_000_000_000,
    )
        .prop_map(
            |(item, payable, area, quantity, unit, rate, amount_fen)| ReportLine {
                item: item.parse().unwrap(),
                direction: if payable {
                    Direction::Payable
                } else {
                    Direction::Receivable
                },
                area: area.parse().unwrap(),
                quantity,
                unit: unit.parse().unwrap(),
                rate: Rate::from_micros(rate).unwrap(),
                amount_fen,
            },
        )
}

fn report(carrier: &'static str) -> impl Strategy<Value = Report> {
    proptest::collection::vec(line(), 0..60).prop_map(move |mut lines| {
        lines.sort_by(|a, b| a.key().cmp(&b.key()));
        lines.dedup_by(|a, b| a.key() == b.key());
        Report::new(period(), carrier, lines).unwrap()
    })
}

/// The same report as the other carrier would write it: same money, other point of view.
fn mirror(report: &Report, carrier: &str) -> Report {
    let lines = report
        .lines()
        .iter()
        .map(|line| ReportLine {
            direction: match line.direction {
                Direction::Payable => Direction::Receivable,
                Direction::Receivable => Direction::Payable,
            },
            ..line.clone()
        })
        .collect();
    Report::new(report.period(), carrier, lines).unwrap()
}

fn swapped(agreement: &Agreement) -> Agreement {
    Agreement {
        party_a: agreement.party_b.clone(),
        party_b: agreement.party_a.clone(),
        ..agreement.clone()
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn canonical_text_round_trips(report in report(UNICOM)) {
        let canonical = report.to_canonical();
        prop_assert_eq!(Report::from_canonical(&canonical).unwrap(), report.clone());
        prop_assert_eq!(Report::from_csv(period(), UNICOM, &canonical).unwrap(), report.clone());
        prop_assert_eq!(Report::from_csv(period(), UNICOM, &report.to_csv()).unwrap(), report.clone());
        prop_assert_eq!(Report::from_json(&report.to_json()).unwrap(), report);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = Report::from_canonical(&bytes);
        let _ = Report::from_csv(period(), UNICOM, &bytes);
        let _ = Report::from_json(&bytes);
    }

    #[test]
    fn mutated_canonical_text_never_panics_and_never_aliases(report in report(UNICOM), idx in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let mut canonical = report.to_canonical();
        let at = idx.index(canonical.len());
        let changed = canonical[at] != byte;
        canonical[at] = byte;
        if let Ok(decoded) = Report::from_canonical(&canonical) {
            // Canonical decoding is injective: different bytes never decode to the same report.
            prop_assert!(!changed || decoded != report);
        }
    }

    #[test]
    fn reconciliation_is_symmetric(a in report(UNICOM), b in report(MOBILE)) {
        let terms = agreement();
        let forward = reconcile(&terms, &a, &b).unwrap();
        prop_assert_eq!(&reconcile(&terms, &b, &a).unwrap(), &forward);
        // Swapping which carrier is party A swaps the figures and nothing else.
        let other = reconcile(&swapped(&terms), &a, &b).unwrap();
        prop_assert_eq!(other.lines.len(), forward.lines.len());
        let mut by_key: Vec<_> = other.lines.iter().map(|line| ((line.key.item.clone(), line.key.area.clone(), line.key.payer.other()), line)).collect();
        by_key.sort_by(|x, y| x.0.cmp(&y.0));
        for (line, (_, twin)) in forward.lines.iter().zip(by_key) {
            prop_assert_eq!(line.status, twin.status);
            prop_assert_eq!(&line.a, &twin.b);
            prop_assert_eq!(&line.b, &twin.a);
            prop_assert_eq!(line.settled, twin.settled);
        }
    }

    #[test]
    fn totals_equal_the_sum_of_lines(a in report(UNICOM), b in report(MOBILE)) {
        let result = reconcile(&agreement(), &a, &b).unwrap();
        let summary = result.summary;
        prop_assert_eq!(summary, Summary::of(&result.lines).unwrap());
        let counted = summary.agreed + summary.disputed + summary.one_sided + summary.adjusted;
        prop_assert_eq!(counted, summary.lines);
        prop_assert_eq!(summary.lines, result.lines.len() as u64);
        let (a_payable, a_receivable) = a.totals_fen();
        prop_assert_eq!((summary.a_reported.a_pays_fen, summary.a_reported.b_pays_fen), (a_payable, a_receivable));
        let (b_payable, b_receivable) = b.totals_fen();
        prop_assert_eq!((summary.b_reported.b_pays_fen, summary.b_reported.a_pays_fen), (b_payable, b_receivable));
        let settled: u64 = result.lines.iter().filter_map(|line| line.settled).map(|s| s.amount_fen).sum();
        prop_assert_eq!(summary.settled.a_pays_fen + summary.settled.b_pays_fen, settled);
        for (idx, line) in result.lines.iter().enumerate() {
            prop_assert_eq!(line.line_no, idx as u64);
            prop_assert_eq!(line.settled.is_some(), !line.status.is_open());
        }
    }

    #[test]
    fn a_report_reconciled_with_its_mirror_is_all_agreed(a in report(UNICOM)) {
        let result = reconcile(&agreement(), &a, &mirror(&a, MOBILE)).unwrap();
        prop_assert_eq!(result.lines.len(), a.lines().len());
        prop_assert!(result.lines.iter().all(|line| line.status == LineStatus::Agreed));
        let (payable, receivable) = a.totals_fen();
        prop_assert_eq!((result.summary.settled.a_pays_fen, result.summary.settled.b_pays_fen), (payable, receivable));
    }
}
