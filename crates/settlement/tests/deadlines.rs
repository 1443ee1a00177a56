//! Deadlines and whose move it is: the agreement's upload deadline (a day of the month
//! after the period, Beijing time), the period status every carrier reads (`period_get`'s
//! `status`: whose move, since which transaction, who is late), and the clock margin that
//! keeps client-chosen proposal times from moving a carrier across the deadline.

mod common;

use common::*;
use netsettle_settlement::agreement::Agreement;
use netsettle_settlement::limits::{DEADLINE_MARGIN_MS_DEFAULT, TX_TIME_BOUND_MS};
use netsettle_settlement::units::Period;
use netsettle_smcrypto::sm3;
use serde_json::{Value, json};

const P: &str = "2026-10";
/// 2026-11-05 24:00 Beijing time: period 2026-10's reports with `upload_deadline_day: 5`.
const DUE_MS: u64 = 1_793_894_400_000;
const MARGIN_MS: u64 = DEADLINE_MARGIN_MS_DEFAULT;

fn with_deadline(day: u8) -> Agreement {
    Agreement {
        upload_deadline_day: Some(day),
        ..agreement()
    }
}

/// A harness with `terms` in force.
fn harness(terms: &Agreement) -> Harness {
    let mut h = Harness::new();
    let digest = h.ok(&admin(UNICOM), "agreement_propose", json!(terms))["digest"].clone();
    h.ok(
        &admin(MOBILE),
        "agreement_accept",
        json!({ "digest": digest }),
    );
    h
}

fn status(h: &Harness) -> Value {
    h.query(&client(UNICOM), "period_get", json!({ "period": P }))["status"].clone()
}

/// `(action, since_ms, late)` of each carrier, Unicom first.
fn sides(status: &Value) -> Vec<(Option<String>, Option<u64>, bool)> {
    status["sides"]
        .as_array()
        .unwrap()
        .iter()
        .map(|side| {
            (
                side["action"].as_str().map(str::to_owned),
                side["since_ms"].as_u64(),
                side["late"].as_bool().unwrap(),
            )
        })
        .collect()
}

#[test]
fn upload_deadline_terms_are_checked_with_a_clear_error() {
    let cases: &[(Option<u8>, bool)] = &[
        (None, true),
        (Some(1), true),
        (Some(5), true),
        (Some(28), true),
        (Some(0), false),
        (Some(29), false),
        (Some(31), false),
        (Some(255), false),
    ];
    for &(day, valid) in cases {
        let terms = Agreement {
            upload_deadline_day: day,
            ..agreement()
        };
        assert_eq!(terms.check().is_ok(), valid, "{day:?}");
        let mut h = Harness::new();
        let answer = h.call(&admin(UNICOM), "agreement_propose", json!(terms));
        match (answer, valid) {
            (Ok(_), true) => {}
            (Err(refusal), false) => {
                assert_eq!(refusal.status, 400, "{refusal:?}");
                assert!(
                    refusal.message.contains("upload_deadline_day")
                        && refusal.message.contains("1 to 28"),
                    "{refusal:?}"
                );
            }
            (other, _) => panic!("day {day:?}: {other:?}"),
        }
    }
    // Not a day number at all: refused by the JSON decoding, naming the term.
    for bad in [json!("5th"), json!(300), json!(-1), json!(5.5)] {
        let mut h = Harness::new();
        let mut terms = json!(agreement());
        terms["upload_deadline_day"] = bad;
        h.refused(
            &admin(UNICOM),
            "agreement_propose",
            terms,
            400,
            "upload_deadline_day is a day of the month after the period, 1 to 28",
        );
    }
    // `null` is the same as leaving the term out.
    let mut terms = json!(agreement());
    terms["upload_deadline_day"] = Value::Null;
    let parsed: Agreement = serde_json::from_value(terms).unwrap();
    assert_eq!(parsed, agreement());
}

#[test]
fn agreements_without_an_upload_deadline_still_parse_and_keep_their_digest() {
    // The JSON an agreement had before the term existed, byte for byte.
    let old = format!(
        "{{\"party_a\":\"UnicomMSP\",\"party_b\":\"MobileMSP\",\"currency\":\"CNY\",\
         \"tolerance_fen\":100,\"tolerance_bp\":10,\"reveal_window_ms\":604800000,\
         \"clock_margin_ms\":{MARGIN_MS}}}"
    );
    let parsed: Agreement = serde_json::from_str(&old).unwrap();
    assert_eq!(parsed, agreement());
    assert_eq!(parsed.upload_deadline_day, None);
    assert_eq!(parsed.digest(), sm3(old.as_bytes()));
    assert_eq!(
        parsed.upload_deadline_ms(Period::new(2026, 10).unwrap()),
        None
    );
    // With the term, the digest covers it.
    assert_ne!(with_deadline(5).digest(), parsed.digest());
    assert_ne!(with_deadline(5).digest(), with_deadline(6).digest());
    // Through the contract: an old agreement's period shows no deadline and nobody late.
    let mut h = Harness::with_agreement();
    let (unicom, _) = small_reports();
    h.upload(UNICOM, &unicom, &key(1)).unwrap();
    h.now_ms = DUE_MS + 365 * DAY_MS;
    let status = status(&h);
    assert_eq!(status["upload_deadline_ms"], Value::Null);
    assert!(sides(&status).iter().all(|(_, _, late)| !late));
}

#[test]
fn the_upload_deadline_is_the_end_of_the_day_beijing_time_in_the_following_month() {
    let cases: &[(u16, u8, u8, u64)] = &[
        (2026, 10, 5, DUE_MS),              // 2026-11-05 16:00 UTC
        (2026, 12, 10, 1_799_596_800_000),  // 2027-01-10 24:00 +08:00
        (2028, 2, 28, 1_837_872_000_000),   // 2028-03-28 24:00 +08:00 (leap year)
        (2026, 10, 1, DUE_MS - 4 * DAY_MS), // 2026-11-01 24:00 +08:00
    ];
    for &(year, month, day, due_ms) in cases {
        let period = Period::new(year, month).unwrap();
        assert_eq!(
            with_deadline(day).upload_deadline_ms(period),
            Some(due_ms),
            "{period} day {day}"
        );
    }
}

type Step = Box<dyn Fn(&mut Harness)>;

fn call(carrier: &'static str, function: &'static str, request: Value) -> Step {
    Box::new(move |h: &mut Harness| {
        h.ok(&client(carrier), function, request.clone());
    })
}

fn confirm(carrier: &'static str) -> Step {
    Box::new(move |h: &mut Harness| {
        let version = h.period_state()["version"].clone();
        h.ok(
            &client(carrier),
            "confirm",
            json!({ "period": P, "version": version }),
        );
    })
}

#[test]
fn each_phase_shows_whose_move_it_is_and_since_when() {
    let (r_u, r_m) = small_reports();
    // Each step runs at 1,000 s after the previous one; the expectation names, per
    // carrier (Unicom, Mobile), its move and the step whose transaction made it its move.
    let adjust = |line_no: u64, quantity: u64, amount_fen: u64| {
        json!({ "period": P, "line_no": line_no, "quantity": quantity,
                "amount_fen": amount_fen, "reason": "per CDRs" })
    };
    let accept = |id: u64| json!({ "period": P, "adjustment_id": id });
    type Expected = [(Option<&'static str>, Option<usize>); 2];
    let steps: Vec<(&str, Step, Expected)> = vec![
        (
            "unicom uploads",
            Box::new(move |h: &mut Harness| {
                h.upload(UNICOM, &r_u, &key(1)).unwrap();
            }),
            [(None, None), (Some("Upload"), Some(0))],
        ),
        (
            "mobile uploads",
            Box::new(move |h: &mut Harness| {
                h.upload(MOBILE, &r_m, &key(2)).unwrap();
            }),
            [(Some("Reveal"), Some(1)), (Some("Reveal"), Some(1))],
        ),
        (
            "unicom reveals",
            Box::new(|h: &mut Harness| {
                h.reveal(UNICOM, &key(1)).unwrap();
            }),
            [(None, None), (Some("Reveal"), Some(1))],
        ),
        (
            "mobile reveals: review with three open lines",
            Box::new(|h: &mut Harness| {
                h.reveal(MOBILE, &key(2)).unwrap();
            }),
            [(Some("Resolve"), Some(3)), (Some("Resolve"), Some(3))],
        ),
        (
            "unicom proposes an adjustment",
            call(UNICOM, "adjust_propose", adjust(0, 9_450_000, 945_000)),
            [(Some("Resolve"), Some(3)), (Some("Decide"), Some(4))],
        ),
        (
            "mobile accepts it",
            call(MOBILE, "adjust_accept", accept(0)),
            [(Some("Resolve"), Some(3)), (Some("Resolve"), Some(5))],
        ),
        (
            "mobile proposes an adjustment",
            call(MOBILE, "adjust_propose", adjust(1, 2, 600_000)),
            [(Some("Decide"), Some(6)), (Some("Resolve"), Some(5))],
        ),
        (
            "unicom accepts it",
            call(UNICOM, "adjust_accept", accept(1)),
            [(Some("Resolve"), Some(7)), (Some("Resolve"), Some(5))],
        ),
        (
            "mobile proposes the last one",
            call(MOBILE, "adjust_propose", adjust(2, 1_000, 10_000)),
            [(Some("Decide"), Some(8)), (Some("Resolve"), Some(5))],
        ),
        (
            "unicom accepts it: nothing open",
            call(UNICOM, "adjust_accept", accept(2)),
            [(Some("Confirm"), Some(9)), (Some("Confirm"), Some(9))],
        ),
        (
            "unicom confirms",
            confirm(UNICOM),
            [(None, None), (Some("Confirm"), Some(9))],
        ),
        (
            "mobile confirms: final, each carrier's finance approves next",
            confirm(MOBILE),
            [(Some("Approve"), Some(11)), (Some("Approve"), Some(11))],
        ),
    ];
    let mut h = harness(&with_deadline(5));
    let start_ms = h.now_ms;
    let at = |step: usize| start_ms + 1_000_000 * u64::try_from(step).unwrap();
    for (idx, (name, step, expected)) in steps.iter().enumerate() {
        h.now_ms = at(idx);
        step(&mut h);
        let status = status(&h);
        let got: Vec<(Option<String>, Option<u64>)> = sides(&status)
            .into_iter()
            .map(|(action, since, _)| (action, since))
            .collect();
        let want: Vec<(Option<String>, Option<u64>)> = expected
            .iter()
            .map(|(action, since)| (action.map(str::to_owned), since.map(at)))
            .collect();
        assert_eq!(got, want, "after step {idx}: {name}");
        let whose: Vec<&str> = expected
            .iter()
            .zip([UNICOM, MOBILE])
            .filter(|((action, _), _)| action.is_some())
            .map(|(_, carrier)| carrier)
            .collect();
        assert_eq!(
            status["whose_move"],
            json!(whose),
            "after step {idx}: {name}"
        );
    }
    assert_eq!(status(&h)["phase"], "Final");
}

#[test]
fn a_round_closed_for_a_missing_upload_keeps_the_late_side_on_its_move() {
    let mut h = harness(&with_deadline(5));
    let (unicom, _) = small_reports();
    let uploaded_ms = h.now_ms;
    h.upload(UNICOM, &unicom, &key(1)).unwrap();
    h.now_ms = DUE_MS + MARGIN_MS + 1;
    assert!(h.now_ms > uploaded_ms + agreement().reveal_window_ms + MARGIN_MS);
    h.ok(&client(UNICOM), "reset", json!({ "period": P }));
    let status = status(&h);
    assert_eq!(status["phase"], "Uploading");
    // Still Mobile's upload, since Unicom's upload (the reset did not change whose move it
    // is), and Mobile is late.
    assert_eq!(
        sides(&status),
        [
            (None, None, false),
            (Some("Upload".into()), Some(uploaded_ms), true)
        ]
    );
}

#[test]
fn a_late_upload_is_shown_late_and_an_on_time_one_is_not() {
    // (Mobile's upload time, late, late_by_ms); Unicom uploads well before the deadline.
    let cases: &[(u64, bool, Option<u64>)] = &[
        (DUE_MS - DAY_MS, false, None),
        (DUE_MS, false, None),
        // An honest upload by a clock running the chain's whole bound fast.
        (DUE_MS + TX_TIME_BOUND_MS, false, None),
        (DUE_MS + MARGIN_MS, false, None),
        (DUE_MS + MARGIN_MS + 1, true, Some(MARGIN_MS + 1)),
        (DUE_MS + 3 * DAY_MS, true, Some(3 * DAY_MS)),
    ];
    for &(uploaded_ms, late, late_by_ms) in cases {
        let mut h = harness(&with_deadline(5));
        let (unicom, mobile) = small_reports();
        h.upload(UNICOM, &unicom, &key(1)).unwrap();
        h.now_ms = uploaded_ms;
        h.upload(MOBILE, &mobile, &key(2)).unwrap();
        // The upload's event and audit entry say so at once.
        let (name, event) = h
            .events
            .iter()
            .rev()
            .find(|(name, _)| name == "ReportUploaded")
            .unwrap();
        assert_eq!(
            (name.as_str(), &event["carrier"]),
            ("ReportUploaded", &json!(MOBILE))
        );
        assert_eq!(event["late"], late);
        assert_eq!(event["late_by_ms"].as_u64(), late_by_ms);
        assert_eq!(event["upload_deadline_ms"], DUE_MS);
        let audit = h.query(
            &client(MOBILE),
            "audit_get",
            json!({ "period": P, "from": 0, "limit": 10 }),
        );
        let detail = audit["entries"][1]["detail"].as_str().unwrap().to_owned();
        assert_eq!(detail.contains("late by"), late, "{detail}");
        // Seen long after, the verdict is the upload's, not the viewer's clock.
        h.now_ms = DUE_MS + 30 * DAY_MS;
        let status = status(&h);
        assert_eq!(status["upload_deadline_ms"], DUE_MS);
        let mobile_side = &status["sides"][1];
        assert_eq!(mobile_side["uploaded_at_ms"], uploaded_ms);
        assert_eq!(mobile_side["late"], late, "uploaded at {uploaded_ms}");
        assert_eq!(mobile_side["late_by_ms"].as_u64(), late_by_ms);
        assert_eq!(status["sides"][0]["late"], false);
        // Late blocks nothing: the round goes on to the reveals.
        assert_eq!(status["phase"], "Revealing");
        h.reveal(UNICOM, &key(1)).unwrap();
        h.reveal(MOBILE, &key(2)).unwrap();
        assert_eq!(h.period_state()["phase"], "Reviewing");
    }
}

#[test]
fn a_missing_upload_is_late_once_the_margin_has_passed() {
    let mut h = harness(&with_deadline(5));
    let (unicom, _) = small_reports();
    h.upload(UNICOM, &unicom, &key(1)).unwrap();
    // (the viewer's proposal time, Mobile late?)
    for (now_ms, late) in [
        (DUE_MS, false),
        (DUE_MS + MARGIN_MS, false),
        (DUE_MS + MARGIN_MS + 1, true),
    ] {
        h.now_ms = now_ms;
        let status = status(&h);
        assert_eq!(status["sides"][1]["late"], late, "seen at {now_ms}");
        assert_eq!(status["sides"][1]["uploaded_at_ms"], Value::Null);
        assert_eq!(status["sides"][0]["late"], false);
    }
}

#[test]
fn a_back_dated_upload_cannot_avoid_being_late_beyond_the_margin() {
    // The chain orders an upload only if its proposal time is within the bound of the
    // orderers' clock, so the most a carrier can back-date is the whole bound.
    let ordered_ms = DUE_MS + MARGIN_MS + TX_TIME_BOUND_MS + 1;
    let back_dated_ms = ordered_ms - TX_TIME_BOUND_MS;
    let mut h = harness(&with_deadline(5));
    let (unicom, mobile) = small_reports();
    h.upload(UNICOM, &unicom, &key(1)).unwrap();
    h.now_ms = back_dated_ms;
    h.upload(MOBILE, &mobile, &key(2)).unwrap();
    let mobile_side = &status(&h)["sides"][1];
    assert_eq!(mobile_side["late"], true);
    assert_eq!(mobile_side["late_by_ms"], MARGIN_MS + 1);
    // The margin covers at least that bound on both sides, so the default margin holds.
    const _: () = assert!(DEADLINE_MARGIN_MS_DEFAULT >= 2 * TX_TIME_BOUND_MS);
}

#[test]
fn a_carrier_in_default_has_no_upload_move_but_still_reviews() {
    let mut h = harness(&with_deadline(5));
    let (unicom, _) = small_reports();
    h.upload(UNICOM, &unicom, &key(1)).unwrap();
    // Mobile uploads nothing for two rounds: in default.
    for _ in 0..2 {
        let closable_ms =
            h.query(&client(UNICOM), "period_get", json!({ "period": P }))["closable_after_ms"]
                .as_u64()
                .unwrap();
        h.now_ms = closable_ms + 1;
        h.ok(&client(UNICOM), "reset", json!({ "period": P }));
    }
    let reset_ms = h.now_ms;
    let revealing = status(&h);
    assert_eq!(revealing["phase"], "Revealing");
    assert_eq!(
        sides(&revealing),
        [
            (Some("Reveal".into()), Some(reset_ms), false),
            (None, None, true)
        ]
    );
    assert_eq!(revealing["whose_move"], json!([UNICOM]));
    // Unicom reveals: review of Unicom's figures, every line disputed; both review.
    h.now_ms += 1_000;
    h.reveal(UNICOM, &key(1)).unwrap();
    let status = status(&h);
    assert_eq!(status["phase"], "Reviewing");
    assert_eq!(
        sides(&status),
        [
            (Some("Resolve".into()), Some(h.now_ms), false),
            (Some("Resolve".into()), Some(h.now_ms), true)
        ]
    );
}
