//! The settlement round is fair: a carrier that sees the other's key first (a reveal
//! proposal reaches both carriers' endorsing peers before anything is on the chain),
//! withholds, spoils its own report, guesses at the other's commitment or picks its own
//! timestamps gets nothing it could not get by being honest. Each test plays one route
//! with Mobile as the dishonest carrier, through the contract over the in-memory ledger.

mod common;

use common::*;
use netsettle_settlement::reconcile::reconcile;
use netsettle_settlement::report::Report;
use netsettle_settlement::seal::{
    Opening, SALT_BYTES, key_commitment, plaintext_commitment, reveal_args, seal_report,
};
use netsettle_smcrypto::sm3;
use serde_json::{Value, json};

const P: &str = "2026-10";

/// Mobile's report shaded towards Unicom's figures after seeing them: on the SMS line
/// Mobile pays, it now claims 100 fen less (still within tolerance of Unicom's 150,000),
/// so the line would settle at 149,950 instead of 150,015.
fn shaded_mobile() -> Report {
    let mobile = "item,direction,area,quantity,unit,rate,amount_fen\n\
        voice,receivable,0571,120000,minute,0.06,720000\n\
        sms,payable,010,49980,message,0.03,149900\n\
        data,receivable,021,9900000,MB,0.001,990000\n\
        mms,payable,020,1000,message,0.1,10000\n";
    Report::from_csv(period(), MOBILE, mobile.as_bytes()).unwrap()
}

/// Uploads `report` for `carrier` under `key` and `salt`.
fn upload_salted(
    h: &mut Harness,
    carrier: &str,
    report: &Report,
    key_byte: u8,
    salt: [u8; SALT_BYTES],
) -> Result<Vec<u8>, Refusal> {
    let opening = Opening {
        key: key(key_byte),
        salt,
    };
    let sealed = seal_report(report, &opening, nonce_for(carrier));
    h.call_raw(&client(carrier), "upload", &sealed.upload_args())
}

/// Asserts a refusal with `status` and a message containing `needle`.
fn assert_refused(result: Result<Vec<u8>, Refusal>, status: u32, needle: &str) {
    let refusal = result.expect_err("the call must be refused");
    assert_eq!(refusal.status, status, "{refusal:?}");
    assert!(
        refusal.message.contains(needle),
        "{refusal:?} lacks {needle:?}"
    );
}

/// Moves the harness clock past the current round's deadline plus the clock margin.
fn past_closing(h: &mut Harness) {
    let state = h.query(&client(UNICOM), "period_get", json!({ "period": P }));
    let closable = state["closable_after_ms"].as_u64().unwrap();
    assert!(h.now_ms <= closable, "the round could already be closed");
    h.now_ms = closable + 1;
}

/// The settled flows of an honest round with the two unshaded reports.
fn honest_settled() -> Value {
    let (unicom, mobile) = small_reports();
    let honest = reconcile(&agreement(), &unicom, &mobile).unwrap();
    json!(honest.summary.settled)
}

#[test]
fn withholding_after_seeing_the_key_then_a_shaded_reupload_is_refused() {
    let mut h = Harness::with_agreement();
    let (unicom, mobile) = small_reports();
    h.upload(UNICOM, &unicom, &key(1)).unwrap();
    h.upload(MOBILE, &mobile, &key(2)).unwrap();
    // Unicom reveals; Mobile has seen the key (and so Unicom's report) and withholds.
    h.reveal(UNICOM, &key(1)).unwrap();
    // Mobile cannot replace its report in this round, shaded or not.
    assert_eq!(
        upload_salted(&mut h, MOBILE, &shaded_mobile(), 3, salt_for(MOBILE))
            .unwrap_err()
            .status,
        409
    );
    // Nor can it close the round before the deadline plus the margin.
    h.refused(
        &client(MOBILE),
        "reset",
        json!({ "period": P }),
        409,
        "deadline",
    );
    past_closing(&mut h);
    let reset = h.ok(&client(MOBILE), "reset", json!({ "period": P }));
    assert_eq!(reset["faults"][0]["carrier"], MOBILE);
    assert_eq!(reset["faults"][0]["kind"], "Withheld");
    // The shaded re-upload is refused in the new round, under its own salt or a new one.
    for salt in [salt_for(MOBILE), [7u8; SALT_BYTES]] {
        assert_refused(
            upload_salted(&mut h, MOBILE, &shaded_mobile(), 3, salt),
            409,
            "bound to plaintext commitment",
        );
    }
    // Unicom's opened report stands; it cannot be replaced either.
    assert_eq!(h.upload(UNICOM, &unicom, &key(4)).unwrap_err().status, 409);
    // All Mobile can do is open the report it committed to, under a fresh key.
    h.upload(MOBILE, &mobile, &key(5)).unwrap();
    let done = h.reveal(MOBILE, &key(5)).unwrap();
    assert_eq!(done["phase"], "Reviewing");
    assert_eq!(done["summary"]["settled"], honest_settled());
}

#[test]
fn an_unopenable_report_and_an_immediate_reset_end_in_default() {
    let mut h = Harness::with_agreement();
    let (unicom, _) = small_reports();
    h.upload(UNICOM, &unicom, &key(1)).unwrap();
    // Mobile commits to bytes it has no report for and uploads garbage.
    let salt = salt_for(MOBILE);
    let request = json!({
        "period": P, "nonce": hex::encode(nonce_for(MOBILE)),
        "key_commitment": key_commitment(&[2u8; 16], &salt).to_hex(),
        "plaintext_commitment": sm3(b"no report").to_hex(),
    });
    let garbage = vec![0x5a; 64];
    h.call_raw(
        &client(MOBILE),
        "upload",
        &[serde_json::to_vec(&request).unwrap(), garbage],
    )
    .unwrap();
    h.reveal(UNICOM, &key(1)).unwrap();
    let failed = h.reveal(MOBILE, &key(2)).unwrap();
    assert_eq!(failed["phase"], "Failed");
    assert_eq!(failed["failure"]["carrier"], MOBILE);
    // The fast route: reset at once. Refused: a failed round closes at its deadline too.
    h.refused(
        &client(MOBILE),
        "reset",
        json!({ "period": P }),
        409,
        "deadline",
    );
    past_closing(&mut h);
    let reset = h.ok(&client(MOBILE), "reset", json!({ "period": P }));
    assert_eq!(reset["round"], 1);
    assert_eq!(reset["faults"][0]["carrier"], MOBILE);
    // Round 1: a shaded report is refused; Mobile's commitment can never open.
    assert_refused(
        upload_salted(&mut h, MOBILE, &shaded_mobile(), 3, salt),
        409,
        "bound to plaintext commitment",
    );
    past_closing(&mut h);
    let reset = h.ok(&client(UNICOM), "reset", json!({ "period": P }));
    assert_eq!(reset["phase"], "Reviewing");
    let state = h.period_state();
    assert!(state["b"]["default"].as_str().unwrap().contains("2 rounds"));
    assert_eq!(state["faults"].as_array().unwrap().len(), 2);
    // Line by line from Unicom's figures, everything disputed, nothing settled.
    let summary = &state["summary"];
    assert_eq!(summary["lines"], 4);
    assert_eq!(summary["disputed"], 4);
    assert_eq!(
        summary["settled"],
        json!({ "a_pays_fen": 0, "b_pays_fen": 0 })
    );
    let lines = h.query(
        &client(MOBILE),
        "lines_get",
        json!({ "period": P, "limit": 10 }),
    );
    for line in lines["lines"].as_array().unwrap() {
        assert!(line["a"].is_object() && line["b"].is_null(), "{line}");
        let note = line["note"]["reason"].as_str().unwrap();
        assert!(note.contains("MobileMSP is in default"), "{note}");
    }
    // Mobile can neither upload, reveal nor confirm its way out.
    assert_refused(
        h.upload(MOBILE, &shaded_mobile(), &key(6)),
        409,
        "in default",
    );
    h.refused(
        &client(MOBILE),
        "confirm",
        json!({ "period": P, "version": 1 }),
        409,
        "disputed",
    );
    // Each line settles only by an adjustment the other carrier accepts.
    for line_no in 0..4u64 {
        let line = &lines["lines"][line_no as usize];
        let request = json!({
            "period": P, "line_no": line_no, "quantity": line["a"]["quantity"],
            "amount_fen": line["a"]["amount_fen"], "reason": "Unicom's figures",
        });
        let id = h.ok(&client(UNICOM), "adjust_propose", request)["adjustment"]["id"].clone();
        h.ok(
            &client(MOBILE),
            "adjust_accept",
            json!({ "period": P, "adjustment_id": id }),
        );
    }
    let version = h.period_state()["version"].as_u64().unwrap();
    h.ok(
        &client(UNICOM),
        "confirm",
        json!({ "period": P, "version": version }),
    );
    let done = h.ok(
        &client(MOBILE),
        "confirm",
        json!({ "period": P, "version": version }),
    );
    assert_eq!(done["phase"], "Final");
}

#[test]
fn a_salted_commitment_cannot_be_tested_against_a_guess() {
    let mut h = Harness::with_agreement();
    let (unicom, mobile) = small_reports();
    h.upload(UNICOM, &unicom, &key(1)).unwrap();
    let state = h.period_state();
    let committed = state["a"]["upload"]["plaintext_commitment"]
        .as_str()
        .unwrap()
        .to_owned();
    // Mobile's best guess is Unicom's exact report (e.g. the mirror of its own): without
    // the secret salt, neither the bare digest nor any salt it can try matches.
    let canonical = unicom.to_canonical();
    assert_ne!(sm3(&canonical).to_hex(), committed);
    for salt in [[0u8; SALT_BYTES], salt_for(MOBILE), [0xff; SALT_BYTES]] {
        assert_ne!(plaintext_commitment(&salt, &canonical).to_hex(), committed);
    }
    // Only the salt Unicom reveals with its key opens the commitment.
    assert_eq!(
        plaintext_commitment(&salt_for(UNICOM), &canonical).to_hex(),
        committed
    );
    // The same report under two salts gives unrelated commitments.
    let other = plaintext_commitment(&[1u8; SALT_BYTES], &canonical);
    assert_ne!(other, plaintext_commitment(&[2u8; SALT_BYTES], &canonical));
    // A reveal with the right key and a wrong salt is refused and changes nothing.
    h.upload(MOBILE, &mobile, &key(2)).unwrap();
    let wrong_salt = Opening {
        key: key(1),
        salt: [9u8; SALT_BYTES],
    };
    let refusal = h
        .call_raw(
            &client(UNICOM),
            "reveal",
            &reveal_args(period(), &wrong_salt),
        )
        .unwrap_err();
    assert_eq!(refusal.status, 400);
    h.reveal(UNICOM, &key(1)).unwrap();
}

#[test]
fn a_back_dated_upload_and_a_forward_dated_reset_cannot_end_a_round_early() {
    let bound_ms = netsettle_settlement::limits::TX_TIME_BOUND_MS;
    let window_ms = agreement().reveal_window_ms;
    let mut h = Harness::with_agreement();
    let (unicom, mobile) = small_reports();
    let real_start = h.now_ms;
    // Mobile uploads first and back-dates it by the whole bound.
    h.now_ms = real_start - bound_ms;
    h.upload(MOBILE, &mobile, &key(2)).unwrap();
    h.now_ms = real_start;
    h.upload(UNICOM, &unicom, &key(1)).unwrap();
    h.reveal(UNICOM, &key(1)).unwrap();
    // At any real time up to the real deadline, Mobile's reset forward-dated by the whole
    // bound is refused.
    for real in [real_start + window_ms - bound_ms, real_start + window_ms] {
        h.now_ms = real + bound_ms;
        h.refused(
            &client(MOBILE),
            "reset",
            json!({ "period": P }),
            409,
            "deadline",
        );
    }
    // Once the real window has passed, the round may close.
    h.now_ms = real_start + window_ms + 1 + bound_ms;
    h.ok(&client(MOBILE), "reset", json!({ "period": P }));
    assert!(
        agreement().clock_margin_ms >= 2 * bound_ms,
        "the default margin is twice the chain's timestamp bound"
    );
}

#[test]
fn a_carrier_that_never_uploads_defaults_after_two_rounds() {
    let mut h = Harness::with_agreement();
    let (unicom, _) = small_reports();
    h.upload(UNICOM, &unicom, &key(1)).unwrap();
    past_closing(&mut h);
    let reset = h.ok(&client(UNICOM), "reset", json!({ "period": P }));
    assert_eq!(reset["faults"][0]["kind"], "NoUpload");
    assert_eq!(reset["faults"].as_array().unwrap().len(), 1, "{reset}");
    // Unicom's upload stands: Mobile gave it nothing to reveal against.
    assert!(h.period_state()["a"]["upload"].is_object());
    past_closing(&mut h);
    let reset = h.ok(&client(UNICOM), "reset", json!({ "period": P }));
    assert_eq!(reset["phase"], "Revealing");
    let resolved = h.reveal(UNICOM, &key(1)).unwrap();
    assert_eq!(resolved["default"], MOBILE);
    assert_eq!(resolved["summary"]["disputed"], 4);
}

#[test]
fn both_carriers_in_default_end_the_period() {
    let mut h = Harness::with_agreement();
    let (unicom, mobile) = small_reports();
    h.upload(UNICOM, &unicom, &key(1)).unwrap();
    h.upload(MOBILE, &mobile, &key(2)).unwrap();
    for _ in 0..2 {
        past_closing(&mut h);
        h.ok(&client(UNICOM), "reset", json!({ "period": P }));
        if h.period_state()["phase"] == "Uploading" {
            h.upload(UNICOM, &unicom, &key(3)).unwrap();
            h.upload(MOBILE, &mobile, &key(4)).unwrap();
        }
    }
    let state = h.period_state();
    assert_eq!(state["phase"], "Defaulted");
    assert_eq!(state["faults"].as_array().unwrap().len(), 4);
    h.refused(
        &client(UNICOM),
        "reset",
        json!({ "period": P }),
        409,
        "defaulted",
    );
}

#[test]
fn the_finance_export_escapes_formula_tokens() {
    let mut h = Harness::with_agreement();
    let unicom = "item,direction,area,quantity,unit,rate,amount_fen\n\
        -A1,payable,0571,100,minute,0.06,6\n";
    let mobile = "item,direction,area,quantity,unit,rate,amount_fen\n\
        -A1,receivable,0571,100,minute,0.06,6\n";
    let unicom = Report::from_csv(period(), UNICOM, unicom.as_bytes()).unwrap();
    let mobile = Report::from_csv(period(), MOBILE, mobile.as_bytes()).unwrap();
    h.upload(UNICOM, &unicom, &key(1)).unwrap();
    h.upload(MOBILE, &mobile, &key(2)).unwrap();
    h.reveal(UNICOM, &key(1)).unwrap();
    h.reveal(MOBILE, &key(2)).unwrap();
    h.ok(
        &client(UNICOM),
        "confirm",
        json!({ "period": P, "version": 1 }),
    );
    let done = h.ok(
        &client(MOBILE),
        "confirm",
        json!({ "period": P, "version": 1 }),
    );
    let csv = h.query(
        &client(UNICOM),
        "export",
        json!({ "period": P, "format": "csv", "limit": 10 }),
    );
    let csv = csv.as_str().unwrap();
    assert!(
        csv.contains("\n0,\"'-A1\",0571,UnicomMSP,MobileMSP,agreed,minute,100,6,6,6\n"),
        "{csv}"
    );
    let table = &csv[csv.find("line_no,").unwrap()..];
    assert_eq!(
        sm3(table.as_bytes()).to_hex(),
        done["final"]["data_sm3"].as_str().unwrap()
    );
}

/// What the dishonest carrier does next, in the property below.
#[derive(Debug, Clone)]
enum Move {
    /// Upload its honest report (salt index, key byte).
    UploadHonest(usize, u8),
    /// Upload a report shaded towards Unicom's (salt index, key byte).
    UploadShaded(usize, u8),
    /// Upload garbage under a commitment with no report behind it.
    UploadGarbage(u8),
    /// Reveal the opening of its latest upload.
    Reveal,
    /// Try to close the round now.
    Reset,
    /// Let the round's deadline plus margin pass.
    Wait,
}

fn moves() -> impl proptest::strategy::Strategy<Value = Vec<Move>> {
    use proptest::prelude::*;
    let one = prop_oneof![
        (0usize..2, 10u8..200).prop_map(|(salt, key)| Move::UploadHonest(salt, key)),
        (0usize..2, 10u8..200).prop_map(|(salt, key)| Move::UploadShaded(salt, key)),
        (10u8..200).prop_map(Move::UploadGarbage),
        Just(Move::Reveal),
        Just(Move::Reset),
        Just(Move::Wait),
    ];
    proptest::collection::vec(one, 1..16)
}

/// Mobile's two salts: its usual one and another.
fn mobile_salt(index: usize) -> [u8; SALT_BYTES] {
    if index == 0 {
        salt_for(MOBILE)
    } else {
        [0x33; SALT_BYTES]
    }
}

/// Unicom plays by the rules: it uploads when it has nothing standing and reveals as
/// soon as both uploads are in.
fn honest_unicom(h: &mut Harness, unicom: &Report, key_byte: &mut u8) {
    let state = h.period_state();
    let own = &state["a"];
    let usable = own["default"].is_null() && own["opened"] != true;
    if usable && own["upload"].is_null() && state["phase"] == "Uploading" {
        *key_byte = key_byte.wrapping_add(1);
        let _ = h.upload(UNICOM, unicom, &key(*key_byte));
    }
    let state = h.period_state();
    let own = &state["a"];
    let revealing = matches!(state["phase"].as_str(), Some("Revealing" | "Failed"));
    if revealing && own["key"].is_null() && !own["upload"].is_null() {
        h.reveal(UNICOM, &key(*key_byte)).unwrap();
    }
}

proptest::proptest! {
    #![proptest_config(proptest::test_runner::Config::with_cases(96))]

    /// Whatever Mobile does, once both uploads are in its plaintext commitment never
    /// changes, and the period can only end up reconciled against the report it committed
    /// to then (exactly as an honest reveal would have it), or with Mobile in default and
    /// nothing of Mobile's on the chain.
    #[test]
    fn no_sequence_of_moves_changes_a_committed_report(moves in moves()) {
        let mut h = Harness::with_agreement();
        let (unicom, mobile) = small_reports();
        let shaded = shaded_mobile();
        // Unicom uploads first, so the period exists from the start.
        let mut unicom_key = 1u8;
        h.upload(UNICOM, &unicom, &key(unicom_key)).unwrap();
        let mut last_opening: Option<Opening> = None;
        // Every plaintext commitment Mobile made, with the report behind it (if any).
        let mut reports_by_commitment: Vec<(String, Option<Report>)> = Vec::new();
        let mut bound: Option<String> = None;
        for step in moves {
            honest_unicom(&mut h, &unicom, &mut unicom_key);
            match step {
                Move::UploadHonest(salt, key_byte) | Move::UploadShaded(salt, key_byte) => {
                    let report = if matches!(step, Move::UploadHonest(..)) { &mobile } else { &shaded };
                    let opening = Opening { key: key(key_byte), salt: mobile_salt(salt) };
                    let sealed = seal_report(report, &opening, nonce_for(MOBILE));
                    if h.call_raw(&client(MOBILE), "upload", &sealed.upload_args()).is_ok() {
                        reports_by_commitment.push((sealed.plaintext_commitment.to_hex(), Some(report.clone())));
                        last_opening = Some(opening);
                    }
                }
                Move::UploadGarbage(key_byte) => {
                    let opening = Opening { key: key(key_byte), salt: mobile_salt(1) };
                    let mut sealed = seal_report(&mobile, &opening, nonce_for(MOBILE));
                    sealed.plaintext_commitment = sm3(&[key_byte]);
                    sealed.ciphertext.iter_mut().for_each(|byte| *byte ^= 0x5a);
                    if h.call_raw(&client(MOBILE), "upload", &sealed.upload_args()).is_ok() {
                        reports_by_commitment.push((sealed.plaintext_commitment.to_hex(), None));
                        last_opening = Some(opening);
                    }
                }
                Move::Reveal => {
                    if let Some(opening) = &last_opening {
                        let _ = h.call_raw(&client(MOBILE), "reveal", &reveal_args(period(), opening));
                    }
                }
                Move::Reset => {
                    let _ = h.call(&client(MOBILE), "reset", json!({ "period": P }));
                }
                Move::Wait => {
                    let state = h.query(&client(UNICOM), "period_get", json!({ "period": P }));
                    if let Some(closable) = state["closable_after_ms"].as_u64() {
                        h.now_ms = h.now_ms.max(closable + 1);
                    }
                }
            }
            honest_unicom(&mut h, &unicom, &mut unicom_key);
            let state = h.period_state();
            let committed = state["b"]["committed"].as_str().map(str::to_owned);
            if let Some(first) = &bound {
                proptest::prop_assert_eq!(committed.as_ref(), Some(first), "the commitment moved");
            }
            bound = bound.or(committed);
            if state["phase"] == "Reviewing" {
                let summary = &state["summary"];
                if state["b"]["default"].is_string() {
                    proptest::prop_assert_eq!(&summary["b_reported"], &json!({ "a_pays_fen": 0, "b_pays_fen": 0 }));
                    proptest::prop_assert_eq!(&summary["settled"], &json!({ "a_pays_fen": 0, "b_pays_fen": 0 }));
                } else {
                    let bound = bound.clone().unwrap();
                    let report = reports_by_commitment
                        .iter()
                        .find(|(commitment, _)| *commitment == bound)
                        .and_then(|(_, report)| report.clone())
                        .expect("a reconciled report had a report behind its commitment");
                    let expected = reconcile(&agreement(), &unicom, &report).unwrap();
                    proptest::prop_assert_eq!(&summary["settled"], &json!(expected.summary.settled));
                    proptest::prop_assert_eq!(&summary["b_reported"], &json!(expected.summary.b_reported));
                }
                break;
            }
        }
    }
}
