//! Bulk adjustments (issue 16, "many adjustments in one transaction (a file of them) and
//! accepting or rejecting them in bulk"): all or nothing, the failing entry named by its
//! list and index, bounded in count and bytes.

mod common;

use common::*;
use netsettle_settlement::limits::{BULK_ADJUSTMENTS_MAX, BULK_REQUEST_BYTES_MAX};
use serde_json::{Value, json};

const P: &str = "2026-10";

fn entry(line_no: u64, amount_fen: u64, reason: &str) -> Value {
    json!({ "line_no": line_no, "quantity": 1, "amount_fen": amount_fen, "reason": reason })
}

/// Each bad file is refused whole, naming the entry; the harness checks that the state
/// did not change.
#[test]
fn a_bad_entry_refuses_the_whole_file() {
    let mut h = Harness::reconciled();
    let cases: [(Value, u32, &str); 8] = [
        (
            json!([
                entry(0, 1, "ok"),
                entry(1, 2, "ok"),
                entry(99, 3, "no such line")
            ]),
            404,
            "adjustments[2]: not found: line 99",
        ),
        (
            json!([entry(0, 1, "ok"), entry(1, 2, "")]),
            400,
            "adjustments[1]: bad argument: a reason",
        ),
        (
            json!([entry(0, 1, "ok"), entry(0, 2, "twice")]),
            409,
            "adjustments[1]: line 0 already has a pending adjustment",
        ),
        (
            json!([entry(0, 10_000_000_000_001, "too much")]),
            400,
            "adjustments[0]",
        ),
        (
            json!([entry(0, 1, &"r".repeat(1025))]),
            413,
            "adjustments[0]: reason",
        ),
        (json!([]), 400, "nothing to do"),
        (
            json!([{ "line_no": 0, "quantity": 1, "amount_fen": 1, "reason": "r", "colour": "red" }]),
            400,
            "unknown field",
        ),
        (
            json!(vec![entry(0, 1, "r"); BULK_ADJUSTMENTS_MAX + 1]),
            413,
            "at most 1000",
        ),
    ];
    for (adjustments, status, needle) in cases {
        h.refused(
            &client(UNICOM),
            "adjust_propose_many",
            json!({ "period": P, "adjustments": adjustments }),
            status,
            needle,
        );
    }
    let oversize =
        json!({ "period": P, "adjustments": [entry(0, 1, &"r".repeat(BULK_REQUEST_BYTES_MAX))] });
    let refusal = h
        .call(&client(UNICOM), "adjust_propose_many", oversize)
        .unwrap_err();
    assert_eq!(refusal.status, 413, "{refusal:?}");
    assert!(!h.event_names().contains(&"AdjustmentsProposed"));
}

#[test]
fn a_file_of_adjustments_is_proposed_and_decided_in_two_transactions() {
    let mut h = Harness::reconciled();
    let height = h.ledger.height();
    let proposed = h.ok(&client(UNICOM), "adjust_propose_many", json!({ "period": P, "on_behalf_of": "settlement-batch", "adjustments": [
        { "line_no": 0, "quantity": 9450000, "amount_fen": 945000, "reason": "split the gap", "attachment_sm3": "00".repeat(32) },
        entry(1, 600000, "circuit found"),
        entry(2, 10000, "per CDRs"),
        entry(4, 719000, "new rate"),
    ]}));
    assert_eq!(h.ledger.height(), height + 1, "one transaction");
    assert_eq!(proposed["adjustment_ids"], json!([0, 1, 2, 3]));
    assert_eq!(proposed["line_nos"], json!([0, 1, 2, 4]));
    assert_eq!(h.event_names().last(), Some(&"AdjustmentsProposed"));
    let state = h.period_state();
    assert_eq!(state["pending_adjustments"], 4);
    assert_eq!(state["a"]["pending_proposals"], 4);

    // The proposer cannot decide its own; a duplicate or unknown id refuses everything.
    h.refused(
        &client(UNICOM),
        "adjust_decide_many",
        json!({ "period": P, "accept": [0] }),
        403,
        "accept[0]: wrong carrier",
    );
    h.refused(
        &client(MOBILE),
        "adjust_decide_many",
        json!({ "period": P, "accept": [0, 1], "reject": [{ "adjustment_id": 1, "reason": "r" }] }),
        400,
        "reject[0]: bad argument: adjustment 1 is named twice",
    );
    h.refused(
        &client(MOBILE),
        "adjust_decide_many",
        json!({ "period": P, "accept": [0, 7] }),
        404,
        "accept[1]: not found: adjustment 7",
    );
    h.refused(
        &client(MOBILE),
        "adjust_decide_many",
        json!({ "period": P, "accept": [0], "reject": [{ "adjustment_id": 3, "reason": "" }] }),
        400,
        "reject[0]",
    );
    h.refused(
        &client(MOBILE),
        "adjust_decide_many",
        json!({ "period": P }),
        400,
        "nothing to do",
    );
    h.refused(
        &client(MOBILE),
        "adjust_decide_many",
        json!({ "period": P, "accept": vec![0; BULK_ADJUSTMENTS_MAX + 1] }),
        413,
        "at most 1000",
    );

    let decided = h.ok(&client(MOBILE), "adjust_decide_many", json!({ "period": P, "accept": [0, 1, 2], "reject": [{ "adjustment_id": 3, "reason": "the 15th, not the 1st" }] }));
    assert_eq!(decided["accepted"], json!([0, 1, 2]));
    assert_eq!(decided["rejected"], json!([3]));
    assert_eq!(decided["version"], 4);
    h.refused(
        &client(MOBILE),
        "adjust_decide_many",
        json!({ "period": P, "accept": [3] }),
        409,
        "accept[0]: adjustment 3 is already decided",
    );
    let state = h.period_state();
    assert_eq!(state["pending_adjustments"], 0);
    assert_eq!(state["summary"]["adjusted"], 3);
    let rejected = h.query(
        &client(UNICOM),
        "adjustment_get",
        json!({ "period": P, "adjustment_id": 3 }),
    );
    assert_eq!(rejected["decision"]["Rejected"], "the 15th, not the 1st");
    let trail = h.query(
        &client(UNICOM),
        "audit_get",
        json!({ "period": P, "limit": 100 }),
    );
    let steps: Vec<(&str, Value)> = trail["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["step"].as_str().unwrap(), e["on_behalf_of"].clone()))
        .collect();
    assert_eq!(
        steps[steps.len() - 2..],
        [
            ("adjust_propose_many", json!("settlement-batch")),
            ("adjust_decide_many", Value::Null)
        ]
    );
    // Each line's history has its own entries.
    let history = h.query(
        &client(UNICOM),
        "line_history",
        json!({ "period": P, "line_no": 4 }),
    );
    assert_eq!(history["entries"].as_array().unwrap().len(), 3);
    assert_eq!(history["entries"][1]["on_behalf_of"], "settlement-batch");
}

#[test]
fn a_thousand_adjustments_fit_one_transaction() {
    let mut h = Harness::with_agreement();
    let (unicom, mobile) = reports(7, 1_200);
    h.upload(UNICOM, &unicom, &key(1)).unwrap();
    h.upload(MOBILE, &mobile, &key(2)).unwrap();
    h.reveal(UNICOM, &key(1)).unwrap();
    h.reveal(MOBILE, &key(2)).unwrap();
    let lines = h.period_state()["summary"]["lines"].as_u64().unwrap();
    assert!(lines >= 1_000, "{lines}");
    let adjustments: Vec<Value> = (0..1_000)
        .map(|n| entry(n, 100 + n, "bulk correction from the billing re-run"))
        .collect();
    let proposed = h.ok(
        &client(MOBILE),
        "adjust_propose_many",
        json!({ "period": P, "adjustments": adjustments }),
    );
    assert_eq!(proposed["count"], 1_000);
    let ids: Vec<u64> = (0..1_000).collect();
    h.ok(
        &client(UNICOM),
        "adjust_decide_many",
        json!({ "period": P, "accept": ids }),
    );
    let state = h.period_state();
    assert_eq!(state["pending_adjustments"], 0);
}
