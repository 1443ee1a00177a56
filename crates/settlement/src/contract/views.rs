//! The period views: `period_get` (also for a period with no record yet), `periods_list`
//! and `line_history`.

use netsettle_contract::prefix_end;

use super::readable_period;
use crate::api::{LineHistoryRequest, PeriodRequest, PeriodsListRequest, parse_request, to_json};
use crate::error::{AccessError, SettleError};
use crate::finance::TxLocation;
use crate::history::LineEvent;
use crate::limits::{LINE_HISTORY_MAX, QUERY_PERIODS_MAX};
use crate::store::{
    AgreementRecord, Store, agreement_key, line_event_key, page_key, page_of, period_key,
    periods_prefix,
};
use crate::units::Period;
use crate::workflow::{Caller, PeriodState};

/// Refuses a caller whose organisation is not a party to `record`'s agreement.
fn require_party(record: &AgreementRecord, caller: &Caller) -> Result<(), SettleError> {
    if record.agreement.side_of(&caller.msp_id).is_none() {
        let message = format!("{} is not a party to the agreement", caller.msp_id);
        return Err(AccessError::WrongCarrier(message).into());
    }
    Ok(())
}

/// `period_get`: the record and its status; for a period with no record yet but an
/// agreement in force, the status it starts with (uploading, both carriers to upload,
/// the deadlines; `recorded` false) instead of 404.
pub(super) fn period_get(
    store: &mut Store<'_>,
    caller: &Caller,
    args: &[Vec<u8>],
) -> Result<Vec<u8>, SettleError> {
    let request: PeriodRequest = parse_request(args)?;
    let recorded = store
        .get::<PeriodState>(&period_key(request.period)?)?
        .is_some();
    if recorded {
        let state = readable_period(store, caller, request.period)?;
        return Ok(to_json(&serde_json::json!({
            "recorded": true, "state": state, "deadline_ms": state.deadline_ms(),
            "closable_after_ms": state.closable_after_ms(),
            "status": state.status(caller.at_ms),
        })));
    }
    let record: AgreementRecord = store.get(&agreement_key()?)?.ok_or_else(|| {
        SettleError::NotFound(format!(
            "period {}: nothing uploaded and no agreement is in force",
            request.period
        ))
    })?;
    require_party(&record, caller)?;
    let state = PeriodState::open(request.period, record.agreement, record.version);
    Ok(to_json(&serde_json::json!({
        "recorded": false, "state": null, "deadline_ms": null, "closable_after_ms": null,
        "status": state.status(caller.at_ms),
    })))
}

/// One row of `periods_list`.
fn period_row(state: &PeriodState, now_ms: u64) -> serde_json::Value {
    let status = state.status(now_ms);
    let reconciled = state.version > 0;
    serde_json::json!({
        "period": state.period, "phase": status.phase, "whose_move": status.whose_move,
        "sides": status.sides, "round": state.round, "version": state.version,
        "summary": reconciled.then_some(state.summary), "net": state.net,
        "payment": state.payment,
    })
}

/// `periods_list`: the periods with a record, ascending from `from`, a page at a time.
pub(super) fn periods_list(
    store: &mut Store<'_>,
    caller: &Caller,
    args: &[Vec<u8>],
) -> Result<Vec<u8>, SettleError> {
    let request: PeriodsListRequest = parse_request(args)?;
    if let Some(record) = store.get::<AgreementRecord>(&agreement_key()?)? {
        require_party(&record, caller)?;
    }
    let limit = usize::try_from(request.limit)
        .unwrap_or(usize::MAX)
        .min(QUERY_PERIODS_MAX);
    let prefix = periods_prefix()?;
    let start = match request.from {
        Some(period) => period_key(period)?,
        None => prefix.clone(),
    };
    let rows = store
        .ctx()
        .range(&start, &prefix_end(&prefix), limit.saturating_add(1))?;
    let mut periods = Vec::with_capacity(rows.len().min(limit));
    let mut next: Option<Period> = None;
    for (_, bytes) in rows {
        let state: PeriodState =
            netsettle_protocol::decode(&bytes).map_err(|_| SettleError::Corrupt("period"))?;
        if periods.len() >= limit {
            next = Some(state.period);
            break;
        }
        // A period under an agreement the caller is not a party to is not its to read.
        if state.agreement.side_of(&caller.msp_id).is_some() {
            periods.push(period_row(&state, caller.at_ms));
        }
    }
    Ok(to_json(
        &serde_json::json!({ "periods": periods, "next": next }),
    ))
}

/// A line history entry with where its transaction was committed, when known.
#[derive(serde::Serialize)]
struct LocatedEvent {
    #[serde(flatten)]
    event: LineEvent,
    location: Option<TxLocation>,
}

/// Where the first committed write of `key` is, if it was made by `tx_id`.
fn first_write(
    store: &mut Store<'_>,
    key: &str,
    tx_id: crate::api::Digest,
) -> Result<Option<TxLocation>, SettleError> {
    let history = store.ctx().history(key, 1)?;
    Ok(history
        .first()
        .filter(|entry| crate::api::Digest::from(entry.tx_id.0) == tx_id)
        .map(|entry| TxLocation {
            block: entry.version.block,
            tx_index: entry.version.tx,
            tx_id,
        }))
}

/// `line_history`: the reconciliation of the line with both figures, then every stored
/// entry (disputes, adjustments proposed, accepted, rejected), oldest first, each with
/// its block position once committed.
pub(super) fn line_history(
    store: &mut Store<'_>,
    caller: &Caller,
    args: &[Vec<u8>],
) -> Result<Vec<u8>, SettleError> {
    let request: LineHistoryRequest = parse_request(args)?;
    let state = readable_period(store, caller, request.period)?;
    let (page_no, page) = store.page_for(&state, request.line_no)?;
    let line = page
        .lines
        .into_iter()
        .find(|line| line.line_no == request.line_no)
        .ok_or(SettleError::Corrupt("page"))?;
    let mut entries = Vec::new();
    if let Some(mark) = &state.reconciled {
        let location = first_write(store, &page_key(state.period, page_no)?, mark.tx_id)?;
        let event = LineEvent::reconciled(&line, mark);
        entries.push(LocatedEvent { event, location });
    }
    debug_assert_eq!(page_of(request.line_no), page_no);
    let prefix = line_event_key(state.period, request.line_no, None)?;
    let rows = store
        .ctx()
        .range(&prefix, &prefix_end(&prefix), LINE_HISTORY_MAX)?;
    for (key, bytes) in rows {
        let event: LineEvent =
            netsettle_protocol::decode(&bytes).map_err(|_| SettleError::Corrupt("line event"))?;
        let location = first_write(store, &key, event.tx_id)?;
        entries.push(LocatedEvent { event, location });
    }
    Ok(to_json(&serde_json::json!({
        "period": state.period, "line_no": request.line_no, "line": line,
        "entries": entries,
    })))
}
