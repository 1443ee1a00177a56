//! Periods and history (issue 16, "Periods and history"): the status of a period before
//! its first upload, the list of periods with their state, and the history of one line
//! (who disputed, proposed, accepted or rejected what, when, in which transaction and
//! block).

mod common;

use common::*;
use netsettle_settlement::agreement::Agreement;
use netsettle_settlement::limits::LINE_HISTORY_MAX;
use netsettle_settlement::report::Report;
use serde_json::{Value, json};

const P: &str = "2026-10";

fn history(h: &Harness, line_no: u64) -> Vec<Value> {
    let answer = h.query(
        &client(MOBILE),
        "line_history",
        json!({ "period": P, "line_no": line_no }),
    );
    answer["entries"].as_array().unwrap().clone()
}

/// The kind of each entry (the key of its externally tagged `event`).
fn kinds(entries: &[Value]) -> Vec<String> {
    entries
        .iter()
        .map(|entry| {
            entry["event"]
                .as_object()
                .unwrap()
                .keys()
                .next()
                .unwrap()
                .clone()
        })
        .collect()
}

#[test]
fn a_period_without_a_record_shows_its_starting_status() {
    let mut h = Harness::new();
    h.refused(
        &client(UNICOM),
        "period_get",
        json!({ "period": "2026-11" }),
        404,
        "no agreement",
    );
    let terms = Agreement {
        upload_deadline_day: Some(5),
        ..agreement()
    };
    let digest = h.ok(&admin(UNICOM), "agreement_propose", json!(terms))["digest"].clone();
    h.ok(
        &admin(MOBILE),
        "agreement_accept",
        json!({ "digest": digest }),
    );
    let answer = h.query(
        &client(MOBILE),
        "period_get",
        json!({ "period": "2026-11" }),
    );
    assert_eq!(answer["recorded"], false);
    assert_eq!(answer["state"], Value::Null);
    let status = &answer["status"];
    assert_eq!(status["phase"], "Uploading");
    assert_eq!(status["whose_move"], json!([UNICOM, MOBILE]));
    assert_eq!(status["sides"][0]["action"], "Upload");
    assert_eq!(status["sides"][1]["action"], "Upload");
    // 2026-12-05 24:00 Beijing time.
    assert_eq!(status["upload_deadline_ms"], 1_796_486_400_000u64);
    h.refused(
        &client("OtherMSP"),
        "period_get",
        json!({ "period": "2026-11" }),
        403,
        "not a party",
    );
    assert_eq!(
        h.query(&client(UNICOM), "periods_list", json!({ "limit": 10 }))["periods"],
        json!([])
    );
}

fn upload_in(h: &mut Harness, period: &str, carrier: &str) {
    let csv = "item,direction,area,quantity,unit,rate,amount_fen\nvoice,payable,0571,100,minute,0.1,1000\n";
    let report = Report::from_csv(period.parse().unwrap(), carrier, csv.as_bytes()).unwrap();
    h.upload(carrier, &report, &key(9)).unwrap();
}

#[test]
fn periods_list_pages_the_periods_in_order_with_their_state() {
    let mut h = Harness::reconciled();
    upload_in(&mut h, "2026-12", MOBILE);
    upload_in(&mut h, "2026-09", UNICOM);
    upload_in(&mut h, "2026-09", MOBILE);
    let all = h.query(&client(UNICOM), "periods_list", json!({ "limit": 10 }));
    let periods: Vec<&str> = all["periods"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["period"].as_str().unwrap())
        .collect();
    assert_eq!(periods, ["2026-09", "2026-10", "2026-12"]);
    assert_eq!(all["next"], Value::Null);
    let rows = all["periods"].as_array().unwrap();
    assert_eq!(rows[0]["phase"], "Revealing");
    assert_eq!(rows[0]["whose_move"], json!([UNICOM, MOBILE]));
    assert_eq!(rows[0]["summary"], Value::Null);
    assert_eq!(rows[1]["phase"], "Reviewing");
    assert_eq!(rows[1]["summary"]["lines"], 5);
    assert_eq!(rows[1]["summary"]["disputed"], 1);
    assert_eq!(rows[2]["whose_move"], json!([UNICOM]));
    assert_eq!(rows[2]["sides"][0]["action"], "Upload");
    assert_eq!(rows[2]["sides"][0]["late"], false);
    let first = h.query(&client(MOBILE), "periods_list", json!({ "limit": 1 }));
    assert_eq!(first["periods"].as_array().unwrap().len(), 1);
    assert_eq!(first["next"], "2026-10");
    let rest = h.query(
        &client(MOBILE),
        "periods_list",
        json!({ "from": "2026-10", "limit": 5 }),
    );
    assert_eq!(rest["periods"][0]["period"], "2026-10");
    assert_eq!(rest["periods"].as_array().unwrap().len(), 2);
    h.refused(
        &client("OtherMSP"),
        "periods_list",
        json!({ "limit": 5 }),
        403,
        "not a party",
    );
    h.refused(
        &client(UNICOM),
        "periods_list",
        json!({ "limit": 5, "to": "2027-01" }),
        400,
        "unknown field",
    );
}

#[test]
fn a_line_history_names_every_step_who_took_it_and_where() {
    let mut h = Harness::reconciled();
    // Line 4 (voice, agreed): Mobile disputes; Unicom proposes; Mobile rejects; Unicom
    // proposes again through a gateway user; Mobile accepts.
    h.ok(
        &client(MOBILE),
        "dispute",
        json!({ "period": P, "line_no": 4, "reason": "rate changed on the 15th" }),
    );
    let first = h.ok(&client(UNICOM), "adjust_propose", json!({ "period": P, "line_no": 4, "quantity": 120000, "amount_fen": 700000, "reason": "new rate" }))["adjustment"]["id"].clone();
    h.ok(
        &client(MOBILE),
        "adjust_reject",
        json!({ "period": P, "adjustment_id": first, "reason": "wrong day" }),
    );
    let second = h.ok(&client(UNICOM), "adjust_propose", json!({ "period": P, "line_no": 4, "quantity": 120000, "amount_fen": 719000, "reason": "new rate from the 15th", "on_behalf_of": "李雷" }))["adjustment"]["id"].clone();
    h.ok(
        &client(MOBILE),
        "adjust_accept",
        json!({ "period": P, "adjustment_id": second }),
    );

    let entries = history(&h, 4);
    assert_eq!(
        kinds(&entries),
        [
            "reconciled",
            "disputed",
            "adjustment_proposed",
            "adjustment_rejected",
            "adjustment_proposed",
            "adjustment_accepted"
        ]
    );
    let reconciled = &entries[0];
    assert_eq!(reconciled["event"]["reconciled"]["a"]["amount_fen"], 720000);
    assert_eq!(reconciled["event"]["reconciled"]["b"]["amount_fen"], 720000);
    assert_eq!(reconciled["msp_id"], MOBILE, "the second reveal reconciled");
    let who: Vec<(&str, &str)> = entries[1..]
        .iter()
        .map(|e| {
            (
                e["msp_id"].as_str().unwrap(),
                e["common_name"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        who,
        [
            (MOBILE, "client@mobilemsp"),
            (UNICOM, "client@unicommsp"),
            (MOBILE, "client@mobilemsp"),
            (UNICOM, "client@unicommsp"),
            (MOBILE, "client@mobilemsp"),
        ]
    );
    assert_eq!(
        entries[1]["event"]["disputed"]["reason"],
        "rate changed on the 15th"
    );
    assert_eq!(
        entries[3]["event"]["adjustment_rejected"]["reason"],
        "wrong day"
    );
    assert_eq!(entries[4]["on_behalf_of"], "李雷");
    assert_eq!(
        entries[5]["event"]["adjustment_accepted"]["settled"]["amount_fen"],
        719000
    );
    // Every entry names its transaction and the block it was committed in, in order.
    let blocks: Vec<u64> = entries
        .iter()
        .map(|e| e["location"]["block"].as_u64().unwrap())
        .collect();
    assert!(
        blocks.windows(2).all(|pair| pair[0] < pair[1]),
        "{blocks:?}"
    );
    for entry in &entries {
        assert_eq!(entry["location"]["tx_id"], entry["tx_id"]);
        assert_eq!(entry["tx_id"].as_str().unwrap().len(), 64);
    }
    // A line nobody touched has its reconciliation only; unknown lines are 404.
    assert_eq!(kinds(&history(&h, 3)), ["reconciled"]);
    let refusal = h
        .call(
            &client(UNICOM),
            "line_history",
            json!({ "period": P, "line_no": 5 }),
        )
        .unwrap_err();
    assert_eq!(refusal.status, 404);
}

#[test]
fn a_line_history_is_bounded() {
    let mut h = Harness::reconciled();
    let propose =
        json!({ "period": P, "line_no": 0, "quantity": 1, "amount_fen": 1, "reason": "try" });
    for _ in 0..LINE_HISTORY_MAX / 2 {
        let id =
            h.ok(&client(UNICOM), "adjust_propose", propose.clone())["adjustment"]["id"].clone();
        h.ok(
            &client(MOBILE),
            "adjust_reject",
            json!({ "period": P, "adjustment_id": id, "reason": "no" }),
        );
    }
    h.refused(
        &client(UNICOM),
        "adjust_propose",
        propose,
        409,
        "history limit",
    );
    h.refused(
        &client(MOBILE),
        "adjust_propose_many",
        json!({ "period": P, "adjustments": [
            { "line_no": 1, "quantity": 1, "amount_fen": 1, "reason": "fine" },
            { "line_no": 0, "quantity": 1, "amount_fen": 1, "reason": "full" },
        ]}),
        409,
        "adjustments[1]: line 0 has reached its history limit",
    );
    assert_eq!(history(&h, 0).len(), LINE_HISTORY_MAX + 1);
}
