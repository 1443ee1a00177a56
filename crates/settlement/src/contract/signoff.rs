//! The finance steps' adapters: `approve`, `pay`, `ack` (the pure steps are in
//! [`crate::signoff`]).

use super::{emit, save};
use crate::api::{AckRequest, PayRequest, PeriodRequest, parse_request, to_json};
use crate::error::SettleError;
use crate::store::Store;
use crate::workflow::{Caller, PeriodState};

/// Emits `PeriodClosed` for a period that a step just closed.
fn emit_closed(
    store: &mut Store<'_>,
    state: &PeriodState,
    caller: &Caller,
) -> Result<(), SettleError> {
    emit(
        store,
        "PeriodClosed",
        &serde_json::json!({
            "period": state.period, "by": caller.msp_id, "net": state.net,
            "payment": state.payment,
        }),
    )
}

pub(super) fn approve(
    store: &mut Store<'_>,
    caller: &Caller,
    args: &[Vec<u8>],
) -> Result<Vec<u8>, SettleError> {
    let request: PeriodRequest = parse_request(args)?;
    let caller = &caller.clone().acting_for(request.on_behalf_of.as_ref());
    let mut state = store.period(request.period)?;
    let approved = state.approve(caller)?;
    let detail = match (approved.both, approved.closed) {
        (_, true) => "finance approved the final data; nothing to pay: period closed",
        (true, false) => "finance approved the final data; both approved, awaiting payment",
        (false, false) => "finance approved the final data",
    };
    let state = save(store, state, caller, "approve", detail.to_owned())?;
    let event = serde_json::json!({
        "period": state.period, "by": caller.msp_id, "common_name": caller.common_name,
        "on_behalf_of": caller.on_behalf_of, "both": approved.both, "phase": state.phase,
        "net": state.net,
    });
    emit(store, "FinanceApproved", &event)?;
    if approved.closed {
        emit_closed(store, &state, caller)?;
    }
    Ok(to_json(&event))
}

pub(super) fn pay(
    store: &mut Store<'_>,
    caller: &Caller,
    args: &[Vec<u8>],
) -> Result<Vec<u8>, SettleError> {
    let request: PayRequest = parse_request(args)?;
    let caller = &caller.clone().acting_for(request.on_behalf_of.as_ref());
    let mut state = store.period(request.period)?;
    state.pay(caller, &request)?;
    let detail = format!(
        "payment {:?} of {} fen recorded",
        request.reference, request.amount_fen
    );
    let state = save(store, state, caller, "pay", detail)?;
    let event = serde_json::json!({
        "period": state.period, "by": caller.msp_id, "payment": state.payment,
        "payee": state.net.and_then(|net| net.payer).map(|payer| state.agreement.party(payer.other())),
    });
    emit(store, "PaymentRecorded", &event)?;
    Ok(to_json(&event))
}

pub(super) fn ack(
    store: &mut Store<'_>,
    caller: &Caller,
    args: &[Vec<u8>],
) -> Result<Vec<u8>, SettleError> {
    let request: AckRequest = parse_request(args)?;
    let caller = &caller.clone().acting_for(request.on_behalf_of.as_ref());
    let mut state = store.period(request.period)?;
    state.acknowledge(caller, &request)?;
    let detail = format!(
        "payment {:?} acknowledged: period closed",
        request.reference
    );
    let state = save(store, state, caller, "ack", detail)?;
    let event = serde_json::json!({
        "period": state.period, "by": caller.msp_id, "payment": state.payment,
        "phase": state.phase,
    });
    emit(store, "PaymentAcknowledged", &event)?;
    emit_closed(store, &state, caller)?;
    Ok(to_json(&event))
}
