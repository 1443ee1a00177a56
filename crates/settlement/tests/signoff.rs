//! Finance sign-off and payment (issue 16, "Finance sign-off and payment"): after both
//! settlement confirmations each carrier's finance department (a certificate with
//! `department=finance`) approves, the payer records the payment of the net amount, the
//! payee acknowledges it and the period is closed. Settlement staff cannot approve, pay
//! or acknowledge; finance cannot upload, reveal, dispute, adjust, decide, confirm or
//! reset. Every refusal changes nothing (the harness checks the state bytes).

mod common;

use common::*;
use netsettle_settlement::report::Report;
use serde_json::{Value, json};

const P: &str = "2026-10";

/// The small pair reconciled, its open lines settled in bulk, both confirmed: final.
/// Returns the harness and the final record.
fn final_period() -> (Harness, Value) {
    let mut h = Harness::with_agreement();
    let (unicom, mobile) = small_reports();
    h.upload(UNICOM, &unicom, &key(1)).unwrap();
    h.upload(MOBILE, &mobile, &key(2)).unwrap();
    h.reveal(UNICOM, &key(1)).unwrap();
    h.reveal(MOBILE, &key(2)).unwrap();
    h.ok(
        &client(UNICOM),
        "adjust_propose_many",
        json!({ "period": P, "adjustments": [
            { "line_no": 0, "quantity": 9450000, "amount_fen": 945000, "reason": "split the gap" },
            { "line_no": 1, "quantity": 2, "amount_fen": 600000, "reason": "circuit found" },
            { "line_no": 2, "quantity": 1000, "amount_fen": 10000, "reason": "per CDRs" },
        ]}),
    );
    h.ok(
        &client(MOBILE),
        "adjust_decide_many",
        json!({ "period": P, "accept": [0, 1, 2] }),
    );
    confirm_both(&mut h);
    let data = h.query(&client(UNICOM), "final_get", json!({ "period": P }))["data"].clone();
    (h, data)
}

fn confirm_both(h: &mut Harness) -> Value {
    let version = h.period_state()["version"].clone();
    h.ok(
        &client(UNICOM),
        "confirm",
        json!({ "period": P, "version": version }),
    );
    h.ok(
        &client(MOBILE),
        "confirm",
        json!({ "period": P, "version": version }),
    )
}

/// Each carrier's move in the period status, Unicom first.
fn moves(h: &Harness) -> (Value, Value) {
    let status = h.query(&finance(UNICOM), "period_get", json!({ "period": P }))["status"].clone();
    (
        status["sides"][0]["action"].clone(),
        status["sides"][1]["action"].clone(),
    )
}

#[test]
fn finance_approves_the_payer_pays_the_payee_acknowledges_and_the_period_closes() {
    let (mut h, data) = final_period();
    assert_eq!(
        (data["payer"].as_str(), data["payee"].as_str()),
        (Some(UNICOM), Some(MOBILE))
    );
    let net = data["net_amount_fen"].as_u64().unwrap();
    assert_eq!(net, 945_000 + 600_000 + 720_000 - 10_000 - 150_015);
    assert_eq!(moves(&h), (json!("Approve"), json!("Approve")));

    // Settlement staff may not approve; nothing is paid before both approvals.
    h.refused(
        &client(UNICOM),
        "approve",
        json!({ "period": P }),
        403,
        "department=finance",
    );
    h.refused(
        &admin(UNICOM),
        "approve",
        json!({ "period": P }),
        403,
        "role",
    );
    let pay = json!({ "period": P, "reference": "CMB-202611-0042", "amount_fen": net });
    h.refused(
        &finance(UNICOM),
        "pay",
        pay.clone(),
        409,
        "awaits the approval of UnicomMSP and MobileMSP",
    );

    h.ok(&finance(UNICOM), "approve", json!({ "period": P }));
    h.refused(
        &finance(UNICOM),
        "approve",
        json!({ "period": P }),
        409,
        "already approved",
    );
    assert_eq!(moves(&h), (Value::Null, json!("Approve")));
    h.refused(
        &finance(UNICOM),
        "pay",
        pay.clone(),
        409,
        "awaits the approval of MobileMSP",
    );
    let approved = h.ok(&finance(MOBILE), "approve", json!({ "period": P }));
    assert_eq!(approved["both"], true);
    assert_eq!(moves(&h), (json!("Pay"), Value::Null));

    // Only the payer pays, exactly the net amount, once.
    h.refused(
        &finance(MOBILE),
        "pay",
        json!({ "period": P, "reference": "X-1", "amount_fen": net }),
        403,
        "is the payee",
    );
    h.refused(&client(UNICOM), "pay", pay.clone(), 403, "department");
    let short = json!({ "period": P, "reference": "CMB-1", "amount_fen": net - 1 });
    h.refused(
        &finance(UNICOM),
        "pay",
        short,
        409,
        &format!("net amount due is {net} fen"),
    );
    h.refused(
        &finance(UNICOM),
        "pay",
        json!({ "period": P, "reference": " ", "amount_fen": net }),
        400,
        "reference",
    );
    h.refused(
        &finance(UNICOM),
        "pay",
        json!({ "period": P, "reference": "r".repeat(129), "amount_fen": net }),
        413,
        "reference",
    );
    h.refused(
        &finance(MOBILE),
        "ack",
        json!({ "period": P, "reference": "CMB-202611-0042" }),
        409,
        "no payment",
    );
    let paid = h.ok(&finance(UNICOM), "pay", json!({ "period": P, "reference": "CMB-202611-0042", "amount_fen": net, "paid_at_ms": 1_794_000_000_000u64 }));
    assert_eq!(paid["payment"]["amount_fen"], net);
    assert_eq!(paid["payee"], MOBILE);
    h.refused(&finance(UNICOM), "pay", pay, 409, "already recorded");
    assert_eq!(moves(&h), (Value::Null, json!("Acknowledge")));

    // Only the payee acknowledges, naming the recorded payment.
    h.refused(
        &finance(UNICOM),
        "ack",
        json!({ "period": P, "reference": "CMB-202611-0042" }),
        403,
        "is the payer",
    );
    h.refused(
        &client(MOBILE),
        "ack",
        json!({ "period": P, "reference": "CMB-202611-0042" }),
        403,
        "department",
    );
    h.refused(
        &finance(MOBILE),
        "ack",
        json!({ "period": P, "reference": "CMB-9" }),
        409,
        "CMB-202611-0042",
    );
    let acked = h.ok(
        &finance(MOBILE),
        "ack",
        json!({ "period": P, "reference": "CMB-202611-0042" }),
    );
    assert_eq!(acked["phase"], "Closed");
    let names = h.event_names();
    assert_eq!(
        names[names.len() - 5..],
        [
            "FinanceApproved",
            "FinanceApproved",
            "PaymentRecorded",
            "PaymentAcknowledged",
            "PeriodClosed"
        ]
    );
    let status = h.query(&client(MOBILE), "period_get", json!({ "period": P }))["status"].clone();
    assert_eq!(status["phase"], "Closed");
    assert_eq!(status["whose_move"], json!([]));

    // Closed: nothing changes it; the final data is still there to read and export.
    for (who, function, request) in [
        (finance(UNICOM), "approve", json!({ "period": P })),
        (
            finance(MOBILE),
            "ack",
            json!({ "period": P, "reference": "CMB-202611-0042" }),
        ),
        (
            client(MOBILE),
            "dispute",
            json!({ "period": P, "line_no": 3, "reason": "late" }),
        ),
        (
            client(MOBILE),
            "confirm",
            json!({ "period": P, "version": 3 }),
        ),
        (client(MOBILE), "reset", json!({ "period": P })),
    ] {
        h.refused(&who, function, request, 409, "closed");
    }
    let (unicom, _) = small_reports();
    assert_eq!(h.upload(UNICOM, &unicom, &key(1)).unwrap_err().status, 409);
    let export = h.query(
        &finance(MOBILE),
        "export",
        json!({ "period": P, "format": "json", "limit": 10 }),
    );
    assert_eq!(export["data"]["net_amount_fen"], net);

    // The audit trail names the finance steps, their department and transactions.
    let trail = h.query(
        &finance(UNICOM),
        "audit_get",
        json!({ "period": P, "limit": 100 }),
    );
    let entries = trail["entries"].as_array().unwrap();
    let tail: Vec<(&str, &str, Option<&str>)> = entries[entries.len() - 4..]
        .iter()
        .map(|e| {
            (
                e["step"].as_str().unwrap(),
                e["msp_id"].as_str().unwrap(),
                e["department"].as_str(),
            )
        })
        .collect();
    assert_eq!(
        tail,
        [
            ("approve", UNICOM, Some("finance")),
            ("approve", MOBILE, Some("finance")),
            ("pay", UNICOM, Some("finance")),
            ("ack", MOBILE, Some("finance")),
        ]
    );
    let state = h.period_state();
    assert_eq!(state["payment"]["reference"], "CMB-202611-0042");
    assert_eq!(state["payment"]["paid_at_ms"], 1_794_000_000_000u64);
    assert_eq!(state["payment"]["acknowledged"]["msp_id"], MOBILE);
}

#[test]
fn finance_staff_take_no_settlement_step() {
    let mut h = Harness::with_agreement();
    let (unicom, mobile) = small_reports();
    // Upload and reveal need settlement staff.
    let sealed = netsettle_settlement::seal::seal_report(
        &unicom,
        &opening(UNICOM, &key(1)),
        nonce_for(UNICOM),
    );
    let refusal = h
        .call_raw(&finance(UNICOM), "upload", &sealed.upload_args())
        .unwrap_err();
    assert_eq!(refusal.status, 403);
    assert!(
        refusal.message.contains("department finance"),
        "{}",
        refusal.message
    );
    h.upload(UNICOM, &unicom, &key(1)).unwrap();
    h.upload(MOBILE, &mobile, &key(2)).unwrap();
    let args = netsettle_settlement::seal::reveal_args(period(), &opening(UNICOM, &key(1)));
    assert_eq!(
        h.call_raw(&finance(UNICOM), "reveal", &args)
            .unwrap_err()
            .status,
        403
    );
    h.reveal(UNICOM, &key(1)).unwrap();
    h.reveal(MOBILE, &key(2)).unwrap();
    // Approving before the data is final is the wrong phase, even for finance.
    h.refused(
        &finance(UNICOM),
        "approve",
        json!({ "period": P }),
        409,
        "reviewing",
    );
    let id = h.ok(
        &client(UNICOM),
        "adjust_propose",
        json!({ "period": P, "line_no": 0, "quantity": 1, "amount_fen": 1, "reason": "r" }),
    )["adjustment"]["id"]
        .clone();
    for (function, request) in [
        (
            "dispute",
            json!({ "period": P, "line_no": 4, "reason": "r" }),
        ),
        (
            "adjust_propose",
            json!({ "period": P, "line_no": 1, "quantity": 1, "amount_fen": 1, "reason": "r" }),
        ),
        (
            "adjust_propose_many",
            json!({ "period": P, "adjustments": [{ "line_no": 1, "quantity": 1, "amount_fen": 1, "reason": "r" }] }),
        ),
        ("adjust_accept", json!({ "period": P, "adjustment_id": id })),
        (
            "adjust_reject",
            json!({ "period": P, "adjustment_id": id, "reason": "r" }),
        ),
        ("adjust_decide_many", json!({ "period": P, "accept": [id] })),
        ("confirm", json!({ "period": P, "version": 1 })),
        ("reset", json!({ "period": P })),
    ] {
        h.refused(
            &finance(MOBILE),
            function,
            request,
            403,
            "department finance",
        );
    }
    // Finance reads like everyone else of the parties.
    let lines = h.query(
        &finance(MOBILE),
        "lines_get",
        json!({ "period": P, "limit": 10 }),
    );
    assert_eq!(lines["lines"].as_array().unwrap().len(), 5);
}

#[test]
fn a_zero_net_closes_on_the_second_approval_and_takes_no_payment() {
    let unicom = "item,direction,area,quantity,unit,rate,amount_fen\n\
        voice,payable,0571,100,minute,0.1,1000\n\
        sms,receivable,010,100,message,0.1,1000\n";
    let mobile = "item,direction,area,quantity,unit,rate,amount_fen\n\
        voice,receivable,0571,100,minute,0.1,1000\n\
        sms,payable,010,100,message,0.1,1000\n";
    let mut h = Harness::with_agreement();
    let unicom = Report::from_csv(period(), UNICOM, unicom.as_bytes()).unwrap();
    let mobile = Report::from_csv(period(), MOBILE, mobile.as_bytes()).unwrap();
    h.upload(UNICOM, &unicom, &key(1)).unwrap();
    h.upload(MOBILE, &mobile, &key(2)).unwrap();
    h.reveal(UNICOM, &key(1)).unwrap();
    h.reveal(MOBILE, &key(2)).unwrap();
    let done = confirm_both(&mut h);
    assert_eq!(done["final"]["net_amount_fen"], 0);
    assert_eq!(done["final"]["payer"], Value::Null);
    h.ok(&finance(MOBILE), "approve", json!({ "period": P }));
    h.refused(
        &finance(MOBILE),
        "pay",
        json!({ "period": P, "reference": "none", "amount_fen": 0 }),
        409,
        "nothing to pay",
    );
    let last = h.ok(&finance(UNICOM), "approve", json!({ "period": P }));
    assert_eq!(last["phase"], "Closed");
    assert_eq!(h.event_names().last(), Some(&"PeriodClosed"));
    h.refused(
        &finance(UNICOM),
        "pay",
        json!({ "period": P, "reference": "none", "amount_fen": 0 }),
        409,
        "closed",
    );
    assert_eq!(moves(&h), (Value::Null, Value::Null));
}

#[test]
fn a_gateway_user_is_recorded_next_to_the_signing_identity() {
    let (mut h, data) = final_period();
    let net = data["net_amount_fen"].as_u64().unwrap();
    h.ok(
        &finance(UNICOM),
        "approve",
        json!({ "period": P, "on_behalf_of": "王芳 (finance, Beijing)" }),
    );
    // A bad acting user is refused as a bad request (naming the rule) before anything
    // is recorded; the harness checks that the state did not change.
    for (bad, needle) in [
        (json!(""), "non-empty"),
        (json!("a\u{7}b"), "control"),
        (json!("zero\u{200B}width"), "format"),
        (json!(" padded"), "surrounding space"),
        (json!("x".repeat(129)), "at most 128"),
        (json!(42), "expected a string"),
    ] {
        let request = json!({ "period": P, "on_behalf_of": bad });
        h.refused(&finance(MOBILE), "approve", request, 400, needle);
    }
    h.refused(
        &finance(MOBILE),
        "approve",
        json!({ "period": P, "acting_for": "x" }),
        400,
        "unknown field",
    );
    h.ok(&finance(MOBILE), "approve", json!({ "period": P }));
    h.ok(
        &finance(UNICOM),
        "pay",
        json!({ "period": P, "reference": "R1", "amount_fen": net, "on_behalf_of": "erp-batch-7" }),
    );
    let trail = h.query(
        &client(MOBILE),
        "audit_get",
        json!({ "period": P, "limit": 100 }),
    );
    let entries = trail["entries"].as_array().unwrap();
    let tail: Vec<(&str, &str, Value)> = entries[entries.len() - 3..]
        .iter()
        .map(|e| {
            (
                e["step"].as_str().unwrap(),
                e["common_name"].as_str().unwrap(),
                e["on_behalf_of"].clone(),
            )
        })
        .collect();
    assert_eq!(
        tail,
        [
            (
                "approve",
                "finance@unicommsp",
                json!("王芳 (finance, Beijing)")
            ),
            ("approve", "finance@mobilemsp", Value::Null),
            ("pay", "finance@unicommsp", json!("erp-batch-7")),
        ]
    );
    assert_eq!(
        h.period_state()["payment"]["recorded"]["on_behalf_of"],
        "erp-batch-7"
    );
}
