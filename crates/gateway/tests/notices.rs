//! Notices: which contract events become notices for which carrier's staff, and how a
//! draft is addressed to a recipient. Data-driven: each case is a transaction's events
//! and the notices each side's node derives from it, one line per notice.

use std::collections::BTreeSet;

use netsettle_gateway::notices::{ContractEvent, Periods, Recipient, Role, address, derive};
use serde_json::{Value, json};

const MOBILE: &str = "MobileMSP";
const UNICOM: &str = "UnicomMSP";

/// One transaction (block 7, transaction 2) emitting `events` in order.
fn tx(events: &[(&str, Value)]) -> Vec<ContractEvent> {
    events
        .iter()
        .zip(0u32..)
        .map(|((name, payload), event_index)| ContractEvent {
            block: 7,
            block_time_ms: 1_790_000_000_000,
            tx_index: 2,
            tx_id: "ab".repeat(32),
            event_index,
            contract: "settlement".to_owned(),
            name: (*name).to_owned(),
            payload: payload.clone(),
        })
        .collect()
}

/// The drafts `own`'s node derives, one line each: `key kind roles period: text`.
fn render(own: &str, events: &[ContractEvent]) -> String {
    derive(own, events)
        .iter()
        .map(|draft| {
            let roles: Vec<&str> = draft.roles.iter().map(|role| role.as_str()).collect();
            format!(
                "{} {} [{}] {}",
                draft.event_key,
                draft.kind,
                roles.join(","),
                draft.text
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Checks what Mobile's and Unicom's nodes derive from one transaction's events.
fn check(events: &[(&str, Value)], mobile: &str, unicom: &str) {
    let events = tx(events);
    let name = events.first().map(|event| event.name.clone());
    assert_eq!(
        render(MOBILE, &events),
        mobile,
        "Mobile's notices for {name:?}"
    );
    assert_eq!(
        render(UNICOM, &events),
        unicom,
        "Unicom's notices for {name:?}"
    );
}

const P: &str = "2026-11";

#[test]
fn uploads_reveal_and_reconciliation() {
    // Mobile uploads first: Unicom's staff are told to upload theirs.
    check(
        &[(
            "ReportUploaded",
            json!({"period": P, "round": 1, "carrier": MOBILE}),
        )],
        "",
        "7-2-0 counterpart_uploaded [settlement] 2026-11: MobileMSP uploaded its report; upload yours",
    );
    // Unicom's upload completes both: one notice, reveal, for both sides.
    check(
        &[
            (
                "ReportUploaded",
                json!({"period": P, "round": 1, "carrier": UNICOM}),
            ),
            ("ReportsUploaded", json!({"period": P, "round": 1})),
        ],
        "7-2-1 reveal_due [settlement] 2026-11: both reports are on the chain; reveal your key",
        "7-2-1 reveal_due [settlement] 2026-11: both reports are on the chain; reveal your key",
    );
    // A reveal alone is no one's move.
    check(
        &[(
            "KeyRevealed",
            json!({"period": P, "round": 1, "carrier": MOBILE}),
        )],
        "",
        "",
    );
    let reconciled = json!({"period": P, "round": 1, "version": 1,
        "summary": {"lines": 120, "agreed": 117, "disputed": 2, "one_sided": 1}});
    let text = "7-2-1 reconciled [settlement] 2026-11: reconciled 120 lines, 3 disputed; review";
    check(
        &[
            ("KeyRevealed", json!({"period": P, "carrier": UNICOM})),
            ("Reconciled", reconciled),
            (
                "LinesDisputed",
                json!({"period": P, "count": 3, "line_nos": [4, 9, 77]}),
            ),
        ],
        text,
        text,
    );
    let clean = json!({"period": P, "summary": {"lines": 5, "disputed": 0, "one_sided": 0}});
    let text = "7-2-0 reconciled [settlement] 2026-11: reconciled 5 lines, none disputed; confirm";
    check(&[("Reconciled", clean)], text, text);
    let default = json!({"period": P, "default": UNICOM, "summary": {"lines": 8}});
    let text =
        "7-2-0 reconciled [settlement] 2026-11: UnicomMSP in default; 8 lines all disputed; review";
    check(&[("Reconciled", default)], text, text);
    let rejected = json!({"period": P, "failure": {"side": "b"}});
    let text = "7-2-0 report_rejected [settlement] 2026-11: a report failed to open against its commitment; see the period";
    check(&[("ReportRejected", rejected)], text, text);
}

#[test]
fn disputes_and_adjustments_reach_the_other_side_only() {
    check(
        &[(
            "LineDisputed",
            json!({"period": P, "line_no": 4, "by": UNICOM}),
        )],
        "7-2-0 line_disputed [settlement] 2026-11: UnicomMSP disputed line 4; review it",
        "",
    );
    let adjustment = json!({"id": 3, "line_no": 9});
    check(
        &[(
            "AdjustmentProposed",
            json!({"period": P, "by": MOBILE, "adjustment": adjustment}),
        )],
        "",
        "7-2-0 adjustment_proposed [settlement] 2026-11: MobileMSP proposed adjustment 3 of line 9; accept or reject",
    );
    check(
        &[(
            "AdjustmentsProposed",
            json!({"period": P, "by": MOBILE, "count": 40}),
        )],
        "",
        "7-2-0 adjustment_proposed [settlement] 2026-11: MobileMSP proposed 40 adjustments; accept or reject",
    );
    check(
        &[(
            "AdjustmentAccepted",
            json!({"period": P, "by": UNICOM, "adjustment": adjustment}),
        )],
        "7-2-0 adjustment_accepted [settlement] 2026-11: UnicomMSP accepted adjustment 3 of line 9",
        "",
    );
    check(
        &[(
            "AdjustmentRejected",
            json!({"period": P, "by": UNICOM, "adjustment": adjustment}),
        )],
        "7-2-0 adjustment_rejected [settlement] 2026-11: UnicomMSP rejected adjustment 3 of line 9",
        "",
    );
    let decided = json!({"period": P, "by": MOBILE, "accepted": [1, 2], "rejected": [3]});
    check(
        &[("AdjustmentsDecided", decided)],
        "",
        "7-2-0 adjustments_decided [settlement] 2026-11: MobileMSP accepted 2 and rejected 1 adjustments",
    );
}

#[test]
fn confirmation_final_and_sign_off() {
    check(
        &[(
            "Confirmed",
            json!({"period": P, "by": MOBILE, "version": 4}),
        )],
        "",
        "7-2-0 counterpart_confirmed [settlement] 2026-11: MobileMSP confirmed the data; review and confirm",
    );
    // The second confirmation reaches final: one notice, final, for both roles.
    let final_data = json!({"period": P, "payer": UNICOM, "payee": MOBILE, "net_amount_fen": 1250});
    let text = "7-2-1 final [settlement,finance] 2026-11: final; UnicomMSP pays MobileMSP 1250 fen; finance approval due";
    check(
        &[
            (
                "Confirmed",
                json!({"period": P, "by": UNICOM, "version": 4}),
            ),
            ("Final", final_data),
        ],
        text,
        text,
    );
    check(
        &[(
            "FinanceApproved",
            json!({"period": P, "by": MOBILE, "both": false}),
        )],
        "",
        "7-2-0 counterpart_approved [finance] 2026-11: MobileMSP finance approved the final data",
    );
    // Only the payee is asked to acknowledge.
    check(
        &[(
            "PaymentRecorded",
            json!({"period": P, "by": UNICOM, "payee": MOBILE}),
        )],
        "7-2-0 payment_recorded [finance] 2026-11: UnicomMSP recorded its payment; acknowledge receipt",
        "",
    );
    check(
        &[
            ("PaymentAcknowledged", json!({"period": P, "by": MOBILE})),
            ("PeriodClosed", json!({"period": P, "by": MOBILE})),
        ],
        "7-2-1 period_closed [settlement,finance] 2026-11: the period is closed",
        "7-2-0 payment_acknowledged [finance] 2026-11: MobileMSP acknowledged your payment\n\
         7-2-1 period_closed [settlement,finance] 2026-11: the period is closed",
    );
    let text =
        "7-2-0 period_reset [settlement] 2026-11: MobileMSP reset the period; round 2 starts";
    check(
        &[(
            "PeriodReset",
            json!({"period": P, "by": MOBILE, "round": 2}),
        )],
        text,
        text,
    );
}

#[test]
fn other_contracts_unknown_events_and_odd_payloads_give_nothing_or_placeholders() {
    let mut events = tx(&[("ReportUploaded", json!({"period": P, "carrier": MOBILE}))]);
    events[0].contract = "other".to_owned();
    assert_eq!(render(UNICOM, &events), "");
    check(&[("AgreementProposed", json!({"period": P}))], "", "");
    // A payload that is not what the contract emits still gives a notice, never a panic.
    check(
        &[("ReportUploaded", Value::Null)],
        "7-2-0 counterpart_uploaded [settlement] ?: ? uploaded its report; upload yours",
        "7-2-0 counterpart_uploaded [settlement] ?: ? uploaded its report; upload yours",
    );
}

fn recipient(name: &str, roles: &[Role], periods: Periods) -> Recipient {
    Recipient {
        name: name.to_owned(),
        roles: roles.iter().copied().collect(),
        periods,
    }
}

#[test]
fn recipients_get_the_drafts_of_their_roles_and_periods_with_stable_ids() {
    let events = tx(&[
        ("Confirmed", json!({"period": P, "by": MOBILE})),
        ("Final", json!({"period": P, "net_amount_fen": 0})),
    ]);
    let upload = tx(&[(
        "ReportUploaded",
        json!({"period": "2026-12", "carrier": MOBILE}),
    )]);
    let mut drafts = derive(UNICOM, &events);
    drafts.extend(derive(UNICOM, &upload));
    let only_november = Periods::Only(BTreeSet::from([P.to_owned()]));
    let desk = recipient("desk", &[Role::Settlement], Periods::All);
    let finance = recipient("cfo", &[Role::Finance], only_november);
    let wanted = |who: &Recipient| -> Vec<&str> {
        drafts
            .iter()
            .filter(|draft| who.wants(draft))
            .map(|draft| draft.kind)
            .collect()
    };
    assert_eq!(wanted(&desk), ["final", "counterpart_uploaded"]);
    assert_eq!(wanted(&finance), ["final"]);

    let notice = address(&drafts[0], &finance, "settlement", UNICOM);
    assert_eq!(notice.id, "7-2-1:cfo");
    assert_eq!(notice.kind, "final");
    assert_eq!(notice.recipient, "cfo");
    assert_eq!(notice.carrier, UNICOM);
    assert_eq!(notice.period.as_deref(), Some(P));
    assert_eq!(notice.block, Some(7));
    assert_eq!(notice.tx_id, Some("ab".repeat(32)));
    assert_eq!(
        notice.text,
        "2026-11: final; nothing to pay; finance approval due"
    );
    // Deriving the same block again gives the same ids.
    let again = derive(UNICOM, &events);
    assert_eq!(address(&again[0], &finance, "settlement", UNICOM), notice);
}
