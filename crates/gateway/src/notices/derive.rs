//! From a committed block's settlement contract events to notice drafts for the node's
//! own carrier's staff. Pure: the block (or its events) in, drafts out.
//!
//! A draft says what happened in one SMS-sized line, for which roles, in which period.
//! Its `event_key` names the event's position in the ledger (`B-T-E`, as the gateway's
//! event stream ids), so the notice id built from it is the same however often the
//! block is read again (after a restart, the notifier derives from its cursor on).
//!
//! Only the other side's moves and the steps that concern both are notices: staff do
//! not need to be told what their own carrier just did. A transaction that emits a
//! follow-up event gives one notice, the more telling one: an upload completing both
//! uploads is `reveal_due`, not `counterpart_uploaded`; a confirmation reaching final is
//! `final`, not `counterpart_confirmed`.

use netsettle_protocol::{Block, Payload};
use serde_json::Value;

/// Which staff a notice concerns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Role {
    /// Settlement staff: upload, reveal, review, adjust, confirm.
    Settlement,
    /// Finance: approve, pay, acknowledge.
    Finance,
}

impl Role {
    /// The config and JSON name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Settlement => "settlement",
            Role::Finance => "finance",
        }
    }

    /// The role named `name` in the config.
    pub fn from_name(name: &str) -> Option<Role> {
        match name {
            "settlement" => Some(Role::Settlement),
            "finance" => Some(Role::Finance),
            _ => None,
        }
    }
}

/// One contract event of a valid transaction in a committed block.
#[derive(Debug, Clone, PartialEq)]
pub struct ContractEvent {
    /// The block.
    pub block: u64,
    /// The block's time (the orderers' clock), Unix ms.
    pub block_time_ms: i64,
    /// The transaction's index in the block.
    pub tx_index: u32,
    /// The transaction id, hex.
    pub tx_id: String,
    /// The event's index in the transaction.
    pub event_index: u32,
    /// The contract that emitted it.
    pub contract: String,
    /// The event name (`ReportUploaded`, …).
    pub name: String,
    /// The event's JSON payload (`Null` when it is not JSON).
    pub payload: Value,
}

/// A notice before it is addressed to a recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Draft {
    /// The event's ledger position, `B-T-E`, or a reminder's
    /// `remind-PERIOD-rROUND-CARRIER-THRESHOLD`; unique per derived notice.
    pub event_key: String,
    /// A stable snake_case kind (`counterpart_uploaded`, `reveal_due`, …).
    pub kind: &'static str,
    /// The roles it concerns.
    pub roles: &'static [Role],
    /// The settlement period, when the event names one.
    pub period: Option<String>,
    /// One line for the staff member.
    pub text: String,
    /// The block of the event.
    pub block: Option<u64>,
    /// The transaction id of the event.
    pub tx_id: Option<String>,
    /// When it happened, Unix ms.
    pub at_ms: i64,
}

const SETTLEMENT: &[Role] = &[Role::Settlement];
const FINANCE: &[Role] = &[Role::Finance];
const BOTH_ROLES: &[Role] = &[Role::Settlement, Role::Finance];

/// The settlement contract's name on the channel.
pub const SETTLEMENT_CONTRACT: &str = "settlement";

/// The contract events of `block`'s valid transactions, in ledger order.
pub fn block_contract_events(block: &Block) -> Vec<ContractEvent> {
    let codes = &block.metadata.validation_codes;
    let block_time_ms = i64::try_from(block.header.timestamp.unix_time_ms).unwrap_or(i64::MAX);
    let mut out = Vec::new();
    for ((envelope, code), tx_index) in block.data.iter().zip(codes).zip(0u32..) {
        let Payload::Transaction(tx) = &envelope.payload else {
            continue;
        };
        if !code.is_valid() {
            continue;
        }
        let tx_id = envelope.tx_id().to_string();
        for (event, event_index) in tx.response.action.events.iter().zip(0u32..) {
            out.push(ContractEvent {
                block: block.header.number,
                block_time_ms,
                tx_index,
                tx_id: tx_id.clone(),
                event_index,
                contract: tx.proposal.contract.name.clone(),
                name: event.name.clone(),
                payload: serde_json::from_slice(&event.payload).unwrap_or(Value::Null),
            });
        }
    }
    out
}

/// The drafts for `own` (the node's carrier, an MSP id) from `events` (one block's
/// contract events in ledger order).
pub fn derive(own: &str, events: &[ContractEvent]) -> Vec<Draft> {
    let mut out = Vec::new();
    for event in events {
        if event.contract != SETTLEMENT_CONTRACT {
            continue;
        }
        let later_in_tx = |name: &str| {
            events.iter().any(|other| {
                other.block == event.block
                    && other.tx_index == event.tx_index
                    && other.event_index > event.event_index
                    && other.name == name
            })
        };
        let Some((kind, roles, text)) = describe(own, event, &later_in_tx) else {
            continue;
        };
        out.push(Draft {
            event_key: format!("{}-{}-{}", event.block, event.tx_index, event.event_index),
            kind,
            roles,
            period: text_field(&event.payload, "period").map(str::to_owned),
            text,
            block: Some(event.block),
            tx_id: Some(event.tx_id.clone()),
            at_ms: event.block_time_ms,
        });
    }
    out
}

type Described = (&'static str, &'static [Role], String);

/// The kind, roles and text of one event's notice, if it is one for `own`.
fn describe(
    own: &str,
    event: &ContractEvent,
    later_in_tx: &dyn Fn(&str) -> bool,
) -> Option<Described> {
    let payload = &event.payload;
    let period = text_field(payload, "period").unwrap_or("?");
    let actor = text_field(payload, "by")
        .or_else(|| text_field(payload, "carrier"))
        .unwrap_or("?");
    let other = actor != own;
    let described: Described = match event.name.as_str() {
        "ReportUploaded" if other && !later_in_tx("ReportsUploaded") => (
            "counterpart_uploaded",
            SETTLEMENT,
            format!("{period}: {actor} uploaded its report; upload yours"),
        ),
        "ReportsUploaded" => (
            "reveal_due",
            SETTLEMENT,
            format!("{period}: both reports are on the chain; reveal your key"),
        ),
        "ReportRejected" => (
            "report_rejected",
            SETTLEMENT,
            format!("{period}: a report failed to open against its commitment; see the period"),
        ),
        "Reconciled" => ("reconciled", SETTLEMENT, reconciled_text(period, payload)),
        "LineDisputed" if other => (
            "line_disputed",
            SETTLEMENT,
            format!(
                "{period}: {actor} disputed line {}; review it",
                number_field(payload, "line_no")
            ),
        ),
        "AdjustmentProposed" if other => (
            "adjustment_proposed",
            SETTLEMENT,
            adjustment_text(period, actor, payload, "proposed", "; accept or reject"),
        ),
        "AdjustmentsProposed" if other => (
            "adjustment_proposed",
            SETTLEMENT,
            format!(
                "{period}: {actor} proposed {} adjustments; accept or reject",
                number_field(payload, "count")
            ),
        ),
        "AdjustmentAccepted" if other => (
            "adjustment_accepted",
            SETTLEMENT,
            adjustment_text(period, actor, payload, "accepted", ""),
        ),
        "AdjustmentRejected" if other => (
            "adjustment_rejected",
            SETTLEMENT,
            adjustment_text(period, actor, payload, "rejected", ""),
        ),
        "AdjustmentsDecided" if other => (
            "adjustments_decided",
            SETTLEMENT,
            format!(
                "{period}: {actor} accepted {} and rejected {} adjustments",
                array_len(payload, "accepted"),
                array_len(payload, "rejected")
            ),
        ),
        "Confirmed" if other && !later_in_tx("Final") => (
            "counterpart_confirmed",
            SETTLEMENT,
            format!("{period}: {actor} confirmed the data; review and confirm"),
        ),
        "Final" => ("final", BOTH_ROLES, final_text(period, payload)),
        "FinanceApproved" if other => (
            "counterpart_approved",
            FINANCE,
            format!("{period}: {actor} finance approved the final data"),
        ),
        "PaymentRecorded" if text_field(payload, "payee") == Some(own) => (
            "payment_recorded",
            FINANCE,
            format!("{period}: {actor} recorded its payment; acknowledge receipt"),
        ),
        "PaymentAcknowledged" if other => (
            "payment_acknowledged",
            FINANCE,
            format!("{period}: {actor} acknowledged your payment"),
        ),
        "PeriodClosed" => (
            "period_closed",
            BOTH_ROLES,
            format!("{period}: the period is closed"),
        ),
        "PeriodReset" => (
            "period_reset",
            SETTLEMENT,
            format!(
                "{period}: {actor} reset the period; round {} starts",
                number_field(payload, "round")
            ),
        ),
        _ => return None,
    };
    Some(described)
}

fn reconciled_text(period: &str, payload: &Value) -> String {
    let summary = payload.get("summary").unwrap_or(&Value::Null);
    let lines = number_field(summary, "lines");
    let open = number_field(summary, "disputed").saturating_add(number_field(summary, "one_sided"));
    match text_field(payload, "default") {
        Some(carrier) => {
            format!("{period}: {carrier} in default; {lines} lines all disputed; review")
        }
        None if open == 0 => format!("{period}: reconciled {lines} lines, none disputed; confirm"),
        None => format!("{period}: reconciled {lines} lines, {open} disputed; review"),
    }
}

fn adjustment_text(period: &str, actor: &str, payload: &Value, verb: &str, tail: &str) -> String {
    let adjustment = payload.get("adjustment").unwrap_or(&Value::Null);
    format!(
        "{period}: {actor} {verb} adjustment {} of line {}{tail}",
        number_field(adjustment, "id"),
        number_field(adjustment, "line_no"),
    )
}

fn final_text(period: &str, payload: &Value) -> String {
    let amount = number_field(payload, "net_amount_fen");
    match (text_field(payload, "payer"), text_field(payload, "payee")) {
        (Some(payer), Some(payee)) => {
            format!("{period}: final; {payer} pays {payee} {amount} fen; finance approval due")
        }
        _ => format!("{period}: final; nothing to pay; finance approval due"),
    }
}

fn text_field<'v>(value: &'v Value, name: &str) -> Option<&'v str> {
    value.get(name).and_then(Value::as_str)
}

fn number_field(value: &Value, name: &str) -> u64 {
    value.get(name).and_then(Value::as_u64).unwrap_or(0)
}

fn array_len(value: &Value, name: &str) -> usize {
    value
        .get(name)
        .and_then(Value::as_array)
        .map_or(0, Vec::len)
}
