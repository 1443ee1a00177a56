//! The whole settlement month through the contract adapter over the in-memory ledger:
//! every step, every event, and every rule that must refuse and change nothing.

mod common;

use common::*;
use netsettle_settlement::limits::{CIPHERTEXT_BYTES_MAX, REQUEST_BYTES_MAX};
use netsettle_settlement::seal::{
    Sealed, key_commitment, open_report, plaintext_commitment, seal_report,
};
use netsettle_smcrypto::{gcm_seal, sm3};
use serde_json::json;

const P: &str = "2026-10";

#[test]
fn a_full_month_reaches_final_data_and_exports_identically() {
    let mut h = Harness::reconciled();
    let state = h.period_state();
    assert_eq!(state["phase"], "Reviewing");
    assert_eq!(state["version"], 1);
    let summary = &state["summary"];
    assert_eq!(
        (summary["lines"].as_u64(), summary["agreed"].as_u64()),
        (Some(5), Some(2))
    );
    assert_eq!(
        (summary["disputed"].as_u64(), summary["one_sided"].as_u64()),
        (Some(1), Some(2))
    );
    assert_eq!(
        h.event_names(),
        [
            "AgreementProposed",
            "AgreementAccepted",
            "ReportUploaded",
            "ReportUploaded",
            "ReportsUploaded",
            "KeyRevealed",
            "KeyRevealed",
            "Reconciled",
            "LinesDisputed"
        ]
    );
    let open = h.query(
        &client(MOBILE),
        "lines_get",
        json!({ "period": P, "limit": 100, "open_only": true }),
    );
    let open_nos: Vec<u64> = open["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["line_no"].as_u64().unwrap())
        .collect();
    assert_eq!(open_nos, [0, 1, 2]);
    h.refused(
        &client(UNICOM),
        "confirm",
        json!({ "period": P, "version": 1 }),
        409,
        "disputed",
    );

    // Line 0 (data, 021): Unicom proposes the middle, Mobile accepts.
    let proposed = h.ok(&client(UNICOM), "adjust_propose", json!({ "period": P, "line_no": 0, "quantity": 9450000, "amount_fen": 945000, "reason": "split the CDR gap", "attachment_sm3": sm3(b"cdr-diff.xlsx").to_hex() }));
    let id = proposed["adjustment"]["id"].as_u64().unwrap();
    h.refused(
        &client(UNICOM),
        "adjust_accept",
        json!({ "period": P, "adjustment_id": id }),
        403,
        "other carrier",
    );
    h.refused(
        &client(UNICOM),
        "adjust_propose",
        json!({ "period": P, "line_no": 0, "quantity": 1, "amount_fen": 1, "reason": "again" }),
        409,
        "pending",
    );
    h.ok(
        &client(MOBILE),
        "adjust_accept",
        json!({ "period": P, "adjustment_id": id }),
    );
    h.refused(
        &client(MOBILE),
        "adjust_accept",
        json!({ "period": P, "adjustment_id": id }),
        409,
        "already decided",
    );
    // Line 1 (leased line, only Unicom): Mobile agrees to Unicom's figure.
    let id = h.ok(&client(MOBILE), "adjust_propose", json!({ "period": P, "line_no": 1, "quantity": 2, "amount_fen": 600000, "reason": "circuit found" }))["adjustment"]["id"].as_u64().unwrap();
    h.ok(
        &client(UNICOM),
        "adjust_accept",
        json!({ "period": P, "adjustment_id": id }),
    );
    // Line 2 (MMS, only Mobile): a rejected round, then an accepted one.
    let id = h.ok(&client(UNICOM), "adjust_propose", json!({ "period": P, "line_no": 2, "quantity": 0, "amount_fen": 0, "reason": "not our traffic" }))["adjustment"]["id"].as_u64().unwrap();
    h.refused(
        &client(MOBILE),
        "adjust_reject",
        json!({ "period": P, "adjustment_id": id }),
        400,
        "reason",
    );
    h.ok(
        &client(MOBILE),
        "adjust_reject",
        json!({ "period": P, "adjustment_id": id, "reason": "CDRs attached" }),
    );
    let id = h.ok(&client(MOBILE), "adjust_propose", json!({ "period": P, "line_no": 2, "quantity": 1000, "amount_fen": 10000, "reason": "per CDRs" }))["adjustment"]["id"].as_u64().unwrap();
    h.ok(
        &client(UNICOM),
        "adjust_accept",
        json!({ "period": P, "adjustment_id": id }),
    );
    // Line 4 (voice, agreed): Mobile disputes it; Unicom corrects; Mobile accepts.
    h.ok(
        &client(MOBILE),
        "dispute",
        json!({ "period": P, "line_no": 4, "reason": "rate changed on the 15th" }),
    );
    h.refused(
        &client(MOBILE),
        "dispute",
        json!({ "period": P, "line_no": 4, "reason": "again" }),
        409,
        "already disputed",
    );
    let id = h.ok(&client(UNICOM), "adjust_propose", json!({ "period": P, "line_no": 4, "quantity": 120000, "amount_fen": 719000, "reason": "new rate from the 15th" }))["adjustment"]["id"].as_u64().unwrap();
    h.ok(
        &client(MOBILE),
        "adjust_accept",
        json!({ "period": P, "adjustment_id": id }),
    );

    let version = h.period_state()["version"].as_u64().unwrap();
    assert_eq!(version, 6);
    h.refused(
        &client(UNICOM),
        "confirm",
        json!({ "period": P, "version": 5 }),
        409,
        "stale",
    );
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
    let data = &done["final"];
    assert_eq!(data["settled"]["a_pays_fen"], 945_000 + 600_000 + 719_000);
    assert_eq!(data["settled"]["b_pays_fen"], 10_000 + 150_015);
    assert_eq!(
        (data["payer"].as_str(), data["payee"].as_str()),
        (Some(UNICOM), Some(MOBILE))
    );
    assert_eq!(
        data["net_amount_fen"],
        945_000 + 600_000 + 719_000 - 160_015
    );
    assert_eq!(h.events.last().map(|e| e.0.as_str()), Some("Final"));

    // Immutable from now on.
    h.refused(
        &client(UNICOM),
        "adjust_propose",
        json!({ "period": P, "line_no": 3, "quantity": 1, "amount_fen": 1, "reason": "late" }),
        409,
        "final",
    );
    h.refused(
        &client(MOBILE),
        "dispute",
        json!({ "period": P, "line_no": 3, "reason": "late" }),
        409,
        "final",
    );
    h.refused(
        &client(MOBILE),
        "confirm",
        json!({ "period": P, "version": version }),
        409,
        "final",
    );
    h.refused(
        &client(MOBILE),
        "reset",
        json!({ "period": P }),
        409,
        "final",
    );

    // Both carriers' exports are byte-identical and name the committing block and tx.
    let located = h.query(&client(UNICOM), "final_get", json!({ "period": P }));
    let block = located["location"]["block"].as_u64().unwrap();
    assert_eq!(block, h.ledger.height() - 1);
    let request = json!({ "period": P, "format": "csv", "limit": 1000 });
    let csv_unicom = h.query(&client(UNICOM), "export", request.clone());
    let csv_mobile = h.query(&client(MOBILE), "export", request);
    assert_eq!(csv_unicom, csv_mobile);
    let csv = csv_unicom.as_str().unwrap();
    assert!(csv.contains(&format!("#block {block}\n")), "{csv}");
    assert!(csv.contains(&format!(
        "#data_sm3 {}\n",
        data["data_sm3"].as_str().unwrap()
    )));
    assert!(
        csv.contains(
            "4,voice,0571,UnicomMSP,MobileMSP,adjusted,minute,120000,719000,720000,720000\n"
        ),
        "{csv}"
    );
    // The digest covers the line table exactly as exported.
    let table = &csv[csv.find("line_no,").unwrap()..];
    assert_eq!(
        sm3(table.as_bytes()).to_hex(),
        data["data_sm3"].as_str().unwrap()
    );
    let json_export = h.query(
        &client(MOBILE),
        "export",
        json!({ "period": P, "format": "json", "limit": 2 }),
    );
    assert_eq!(json_export["location"]["block"], block);
    assert_eq!(json_export["lines"].as_array().unwrap().len(), 2);

    // The audit trail names every step, who took it and in which transaction.
    let trail = h.query(
        &client(MOBILE),
        "audit_get",
        json!({ "period": P, "limit": 100 }),
    );
    let steps: Vec<&str> = trail["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["step"].as_str().unwrap())
        .collect();
    assert_eq!(
        steps,
        [
            "upload",
            "upload",
            "reveal",
            "reveal",
            "adjust_propose",
            "adjust_accept",
            "adjust_propose",
            "adjust_accept",
            "adjust_propose",
            "adjust_reject",
            "adjust_propose",
            "adjust_accept",
            "dispute",
            "adjust_propose",
            "adjust_accept",
            "confirm",
            "confirm",
        ]
    );
    let first = &trail["entries"][0];
    assert_eq!(
        (first["msp_id"].as_str(), first["role"].as_str()),
        (Some(UNICOM), Some("Client"))
    );
    assert_eq!(first["tx_id"].as_str().unwrap().len(), 64);
    let paged = h.query(
        &client(MOBILE),
        "audit_get",
        json!({ "period": P, "from": 15, "limit": 1 }),
    );
    assert_eq!(
        (paged["entries"][0]["seq"].as_u64(), paged["next"].as_u64()),
        (Some(15), Some(16))
    );
}

#[test]
fn wrong_carrier_and_wrong_role_are_forbidden() {
    let mut h = Harness::with_agreement();
    let (unicom, _) = small_reports();
    let sealed = seal_report(&unicom, &opening(UNICOM, &key(1)), nonce_for(UNICOM));
    let stranger = client("TelecomMSP");
    assert_eq!(
        h.call_raw(&stranger, "upload", &sealed.upload_args())
            .unwrap_err()
            .status,
        403
    );
    assert_eq!(
        h.call_raw(&admin(UNICOM), "upload", &sealed.upload_args())
            .unwrap_err()
            .status,
        403
    );
    let peer = who(UNICOM, netsettle_protocol::Role::Peer);
    assert_eq!(
        h.call_raw(&peer, "upload", &sealed.upload_args())
            .unwrap_err()
            .status,
        403
    );
    // Mobile's client cannot upload a report that claims to be Unicom's: the upload is
    // recorded as Mobile's and fails to open under Mobile's name at the reveal.
    h.call_raw(&client(UNICOM), "upload", &sealed.upload_args())
        .unwrap();
    h.refused(
        &stranger,
        "period_get",
        json!({ "period": P }),
        403,
        "not a party",
    );
}

#[test]
fn unknown_period_and_missing_agreement_are_not_found() {
    let mut h = Harness::new();
    let (unicom, _) = small_reports();
    let status = h.upload(UNICOM, &unicom, &key(1)).unwrap_err().status;
    assert_eq!(status, 404);
    let mut h = Harness::with_agreement();
    h.refused(
        &client(UNICOM),
        "reveal",
        json!({ "period": "2026-11", "key": "00".repeat(16), "salt": "00".repeat(16) }),
        404,
        "period 2026-11",
    );
    h.refused(
        &client(UNICOM),
        "confirm",
        json!({ "period": "2026-13", "version": 1 }),
        400,
        "YYYY-MM",
    );
}

#[test]
fn uploads_are_replaceable_only_until_the_counterparty_uploads() {
    let mut h = Harness::with_agreement();
    let (unicom, mobile) = small_reports();
    h.upload(UNICOM, &unicom, &key(1)).unwrap();
    h.upload(UNICOM, &unicom, &key(3)).unwrap();
    h.refused(
        &client(UNICOM),
        "reveal",
        json!({ "period": P, "key": hex::encode([3u8; 16]), "salt": hex::encode(salt_for(UNICOM)) }),
        409,
        "both reports",
    );
    h.upload(MOBILE, &mobile, &key(2)).unwrap();
    let refusal = h.upload(UNICOM, &unicom, &key(1)).unwrap_err();
    assert_eq!(refusal.status, 409);
    assert!(
        refusal
            .message
            .contains("counterparty has already uploaded"),
        "{refusal:?}"
    );
    let refusal = h.upload(MOBILE, &mobile, &key(2)).unwrap_err();
    assert_eq!(refusal.status, 409);
    // The replacement counts: the first key no longer matches.
    let refusal = h.reveal(UNICOM, &key(1)).unwrap_err();
    assert_eq!(
        (refusal.status, refusal.message.contains("commitment")),
        (400, true)
    );
    h.reveal(UNICOM, &key(3)).unwrap();
    assert_eq!(h.reveal(UNICOM, &key(3)).unwrap_err().status, 409);
}

#[test]
fn a_tampered_ciphertext_fails_the_round_for_its_uploader_who_must_open_the_same_report_next_round()
{
    let mut h = Harness::with_agreement();
    let (unicom, mobile) = small_reports();
    let mut sealed = seal_report(&unicom, &opening(UNICOM, &key(1)), nonce_for(UNICOM));
    sealed.ciphertext[10] ^= 1;
    h.call_raw(&client(UNICOM), "upload", &sealed.upload_args())
        .unwrap();
    h.upload(MOBILE, &mobile, &key(2)).unwrap();
    h.reveal(MOBILE, &key(2)).unwrap();
    let answer = h.reveal(UNICOM, &key(1)).unwrap();
    assert_eq!(answer["phase"], "Failed");
    assert_eq!(answer["failure"]["carrier"], UNICOM);
    assert!(
        answer["failure"]["reason"]
            .as_str()
            .unwrap()
            .contains("tampered")
    );
    assert_eq!(h.events.last().unwrap().0, "ReportRejected");
    h.refused(
        &client(MOBILE),
        "confirm",
        json!({ "period": P, "version": 0 }),
        409,
        "failed",
    );
    h.refused(
        &client(MOBILE),
        "dispute",
        json!({ "period": P, "line_no": 0, "reason": "x" }),
        409,
        "failed",
    );
    // A failed round closes only at its deadline plus the clock margin.
    h.refused(
        &client(MOBILE),
        "reset",
        json!({ "period": P }),
        409,
        "deadline",
    );
    h.now_ms += agreement().reveal_window_ms + agreement().clock_margin_ms + 1;
    let reset = h.ok(&client(MOBILE), "reset", json!({ "period": P }));
    assert_eq!(reset["round"], 1);
    assert_eq!(reset["faults"][0]["carrier"], UNICOM);
    // Mobile's report opened and stands; Unicom opens its committed report anew.
    assert_eq!(h.upload(MOBILE, &mobile, &key(5)).unwrap_err().status, 409);
    h.upload(UNICOM, &unicom, &key(4)).unwrap();
    let done = h.reveal(UNICOM, &key(4)).unwrap();
    assert_eq!(done["summary"]["lines"], 5);
}

#[test]
fn a_report_that_is_not_the_committed_canonical_text_puts_its_uploader_in_default() {
    let mut h = Harness::with_agreement();
    // Mobile encrypts loose CSV, not canonical text, and commits to it honestly.
    let plaintext =
        b"item,direction,area,quantity,unit,rate,amount_fen\nvoice,payable,0571,1,minute,0.06,6\n";
    let aad = netsettle_settlement::seal::report_aad(common::period(), MOBILE);
    let ciphertext = gcm_seal(&key(2), &nonce_for(MOBILE), &aad, plaintext);
    let salt = salt_for(MOBILE);
    let request = json!({
        "period": P, "nonce": hex::encode(nonce_for(MOBILE)),
        "key_commitment": key_commitment(&[2u8; 16], &salt).to_hex(),
        "plaintext_commitment": plaintext_commitment(&salt, plaintext).to_hex(),
    });
    h.call_raw(
        &client(MOBILE),
        "upload",
        &[serde_json::to_vec(&request).unwrap(), ciphertext],
    )
    .unwrap();
    let (unicom, _) = small_reports();
    h.upload(UNICOM, &unicom, &key(1)).unwrap();
    let answer = h.reveal(MOBILE, &key(2)).unwrap();
    assert_eq!(answer["failure"]["carrier"], MOBILE);
    assert!(
        answer["failure"]["reason"]
            .as_str()
            .unwrap()
            .contains("malformed"),
        "{answer}"
    );
    // The committed plaintext can never open: Mobile is in default at once, and
    // Unicom's reveal resolves the period from Unicom's figures, every line disputed.
    assert!(h.period_state()["b"]["default"].is_string());
    let resolved = h.reveal(UNICOM, &key(1)).unwrap();
    assert_eq!(resolved["phase"], "Reviewing");
    assert_eq!(resolved["default"], MOBILE);
    assert_eq!(resolved["summary"]["lines"], 4);
    assert_eq!(resolved["summary"]["disputed"], 4);
}

#[test]
fn a_reset_waits_for_the_reveal_deadline_plus_the_clock_margin() {
    let mut h = Harness::with_agreement();
    let (unicom, mobile) = small_reports();
    h.refused(
        &client(UNICOM),
        "reset",
        json!({ "period": P }),
        404,
        "period",
    );
    h.upload(UNICOM, &unicom, &key(1)).unwrap();
    h.upload(MOBILE, &mobile, &key(2)).unwrap();
    h.reveal(UNICOM, &key(1)).unwrap();
    h.now_ms += 7 * DAY_MS + agreement().clock_margin_ms;
    h.refused(
        &client(MOBILE),
        "reset",
        json!({ "period": P }),
        409,
        "deadline",
    );
    h.now_ms += 1;
    h.refused(
        &admin("TelecomMSP"),
        "reset",
        json!({ "period": P }),
        403,
        "not a party",
    );
    h.ok(&admin(MOBILE), "reset", json!({ "period": P }));
    let state = h.period_state();
    assert_eq!(
        (state["round"].as_u64(), state["phase"].as_str()),
        (Some(1), Some("Uploading"))
    );
    // Unicom's report opened and stands; Mobile withheld and must upload again.
    assert_eq!(state["a"]["opened"], true);
    assert!(state["b"]["upload"].is_null());
    assert_eq!(state["faults"][0]["kind"], "Withheld");
    // The old round's ciphertexts stay on the ledger for the audit trail.
    h.upload(MOBILE, &mobile, &key(6)).unwrap();
}

#[test]
fn oversize_and_malformed_requests_are_refused() {
    let mut h = Harness::with_agreement();
    let (unicom, _) = small_reports();
    let sealed = seal_report(&unicom, &opening(UNICOM, &key(1)), nonce_for(UNICOM));
    let mut args = sealed.upload_args();
    args[1] = vec![0u8; CIPHERTEXT_BYTES_MAX + 1];
    assert_eq!(
        h.call_raw(&client(UNICOM), "upload", &args)
            .unwrap_err()
            .status,
        413
    );
    let big = vec![b' '; REQUEST_BYTES_MAX + 1];
    assert_eq!(
        h.call_raw(&client(UNICOM), "confirm", &[big])
            .unwrap_err()
            .status,
        413
    );
    assert_eq!(
        h.call_raw(&client(UNICOM), "upload", &args[..1])
            .unwrap_err()
            .status,
        400
    );
    h.refused(
        &client(UNICOM),
        "confirm",
        json!({ "period": P }),
        400,
        "version",
    );
    h.refused(
        &client(UNICOM),
        "confirm",
        json!({ "period": P, "version": -1 }),
        400,
        "request",
    );
    h.refused(
        &client(UNICOM),
        "nonsense",
        json!({}),
        400,
        "unknown function",
    );
    h.refused(
        &client(UNICOM),
        "reveal",
        json!({ "period": P, "key": "zz" }),
        400,
        "hex",
    );
}

#[test]
fn review_rules_refuse_bad_lines_and_reasons() {
    let mut h = Harness::reconciled();
    h.refused(
        &client(UNICOM),
        "dispute",
        json!({ "period": P, "line_no": 99, "reason": "x" }),
        404,
        "line 99",
    );
    h.refused(
        &client(UNICOM),
        "dispute",
        json!({ "period": P, "line_no": 3, "reason": " " }),
        400,
        "reason",
    );
    h.refused(
        &client(UNICOM),
        "dispute",
        json!({ "period": P, "line_no": 3, "reason": "a\u{7}b" }),
        400,
        "control",
    );
    h.refused(
        &client(UNICOM),
        "dispute",
        json!({ "period": P, "line_no": 3, "reason": "x".repeat(1025) }),
        413,
        "reason",
    );
    h.refused(
        &admin(UNICOM),
        "dispute",
        json!({ "period": P, "line_no": 3, "reason": "x" }),
        403,
        "role",
    );
    h.refused(&client(UNICOM), "adjust_propose", json!({ "period": P, "line_no": 0, "quantity": 1, "amount_fen": 10_000_000_000_001u64, "reason": "x" }), 400, "maximum");
    h.refused(
        &client(UNICOM),
        "adjust_accept",
        json!({ "period": P, "adjustment_id": 7 }),
        404,
        "adjustment 7",
    );
    h.refused(
        &client(UNICOM),
        "export",
        json!({ "period": P, "format": "csv", "limit": 10 }),
        409,
        "reviewing",
    );
}

#[test]
fn the_agreement_needs_both_admins() {
    let mut h = Harness::new();
    h.refused(
        &client(UNICOM),
        "agreement_propose",
        json!(agreement()),
        403,
        "role",
    );
    let mut bad = agreement();
    bad.tolerance_bp = 20_000;
    h.refused(
        &admin(UNICOM),
        "agreement_propose",
        json!(bad),
        400,
        "tolerance_bp",
    );
    h.refused(
        &admin("TelecomMSP"),
        "agreement_propose",
        json!(agreement()),
        403,
        "not a party",
    );
    let digest = h.ok(&admin(UNICOM), "agreement_propose", json!(agreement()))["digest"].clone();
    h.refused(
        &admin(UNICOM),
        "agreement_accept",
        json!({ "digest": digest }),
        403,
        "other carrier",
    );
    h.refused(
        &admin(MOBILE),
        "agreement_accept",
        json!({ "digest": "00".repeat(32) }),
        409,
        "digest",
    );
    h.refused(
        &client(MOBILE),
        "agreement_accept",
        json!({ "digest": digest }),
        403,
        "role",
    );
    let record = h.ok(
        &admin(MOBILE),
        "agreement_accept",
        json!({ "digest": digest }),
    );
    assert_eq!(record["version"], 1);
    // A change: Mobile proposes a wider tolerance, Unicom accepts; version 2.
    let mut wider = agreement();
    wider.tolerance_fen = 500;
    let digest = h.ok(&admin(MOBILE), "agreement_propose", json!(wider))["digest"].clone();
    assert_eq!(
        h.ok(
            &admin(UNICOM),
            "agreement_accept",
            json!({ "digest": digest })
        )["version"],
        2
    );
    let mut other_parties = agreement();
    other_parties.party_b = "TelecomMSP".into();
    h.refused(
        &admin(UNICOM),
        "agreement_propose",
        json!(other_parties),
        400,
        "keep party_a and party_b",
    );
    let shown = h.query(&client(MOBILE), "agreement_get", json!({}));
    assert_eq!(shown["agreement"]["agreement"]["tolerance_fen"], 500);
}

#[test]
fn a_revealed_report_opens_for_anyone_holding_the_key() {
    let (unicom, _) = small_reports();
    let sealed = seal_report(&unicom, &opening(UNICOM, &key(1)), nonce_for(UNICOM));
    let opened = open_report(
        Sealed {
            period: common::period(),
            carrier: UNICOM,
            nonce: &sealed.nonce,
            plaintext_commitment: &sealed.plaintext_commitment,
            ciphertext: &sealed.ciphertext,
        },
        &opening(UNICOM, &key(1)),
    )
    .unwrap();
    assert_eq!(opened, unicom);
}

#[test]
fn thousands_of_generated_lines_reconcile_and_page() {
    let mut h = Harness::with_agreement();
    let (unicom, mobile) = reports(7, 2_500);
    h.upload(UNICOM, &unicom, &key(1)).unwrap();
    h.upload(MOBILE, &mobile, &key(2)).unwrap();
    h.reveal(MOBILE, &key(2)).unwrap();
    let summary = h.reveal(UNICOM, &key(1)).unwrap()["summary"].clone();
    let lines = summary["lines"].as_u64().unwrap();
    assert!(lines >= 2_500, "{summary}");
    assert!(summary["disputed"].as_u64().unwrap() > 0);
    let page = h.query(
        &client(UNICOM),
        "lines_get",
        json!({ "period": P, "from": 990, "limit": 20 }),
    );
    let nos: Vec<u64> = page["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["line_no"].as_u64().unwrap())
        .collect();
    assert_eq!(nos, (990..1010).collect::<Vec<_>>());
    assert_eq!(page["next"], 1010);
    assert_eq!(h.period_state()["pages"], lines.div_ceil(100));
}

#[test]
fn a_report_sealed_for_the_other_carrier_fails_for_its_uploader() {
    let mut h = Harness::with_agreement();
    let (unicom, mobile) = small_reports();
    h.upload(UNICOM, &unicom, &key(1)).unwrap();
    // Mobile's client uploads a copy of a report sealed as Unicom's: the associated data
    // names the uploader, so it cannot open as Mobile's.
    let forged = seal_report(&unicom, &opening(MOBILE, &key(2)), nonce_for(MOBILE));
    h.call_raw(&client(MOBILE), "upload", &forged.upload_args())
        .unwrap();
    let answer = h.reveal(MOBILE, &key(2)).unwrap();
    assert_eq!(answer["phase"], "Failed");
    assert_eq!(answer["failure"]["carrier"], MOBILE);
    drop(mobile);
}
