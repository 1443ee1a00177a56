//! The adapter between the [`Contract`] interface and the settlement core: decode
//! the JSON request, load the records a step needs, run the pure step, store what changed,
//! append the audit entry, emit the events, answer in JSON.
//!
//! See the crate documentation for the function list, argument encodings and events.

use netsettle_contract::{Context, Contract, ContractError, prefix_end};
use netsettle_protocol::ContractId;
use netsettle_smcrypto::{Hash, sm3};

use crate::agreement::{Agreement, Side};
use crate::api::{
    AcceptAgreementRequest, AdjustRequest, AdjustmentRequest, ConfirmRequest, DecideRequest,
    Digest, DisputeRequest, ExportFormat, ExportRequest, ListRequest, PeriodRequest, RevealRequest,
    UploadRequest, parse_request, to_json,
};
use crate::error::{AccessError, SettleError, StateError};
use crate::finance::{DataHasher, FinalData, TxLocation, export_csv, export_json};
use crate::history::{LineEvent, LineEventKind};
use crate::limits::{
    CIPHERTEXT_BYTES_MAX, EVENT_LINES_MAX, PAGE_LINES, QUERY_AUDIT_MAX, QUERY_LINES_MAX,
};
use crate::reconcile::{ReconciledLine, reconcile, resolve_default};
use crate::report::Report;
use crate::seal::{OpenError, Sealed, open_report, opening_from_bytes};
use crate::store::line_event_key;
use crate::store::{
    AgreementProposal, AgreementRecord, Page, Store, adjustment_key, agreement_key,
    agreement_proposal_key, audit_key, final_key, page_key, period_key, upload_key,
};
use crate::workflow::{
    Adjustment, AuditEntry, Caller, DEPARTMENT_ATTRIBUTE, Mark, Outcome, PeriodState, Phase,
    WORKFLOW_ROLES, settlement_side,
};

mod bulk;
mod signoff;
mod views;

/// The contract's name on the channel.
pub const CONTRACT_NAME: &str = "settlement";
/// The contract's version.
pub const CONTRACT_VERSION: &str = "1.0";
/// Changes whenever the contract's behaviour does; part of the package digest.
pub const CODE_REVISION: &str = "settlement-2026-12-06.3";

/// The settlement contract. Stateless: all state lives behind the peer's context.
#[derive(Debug, Clone, Copy, Default)]
pub struct SettlementContract;

impl Contract for SettlementContract {
    fn id(&self) -> ContractId {
        ContractId {
            name: CONTRACT_NAME.to_owned(),
            version: CONTRACT_VERSION.to_owned(),
        }
    }

    fn package_digest(&self) -> Hash {
        sm3(format!("netsettle-settlement\0{CONTRACT_VERSION}\0{CODE_REVISION}").as_bytes())
    }

    fn invoke(
        &self,
        ctx: &mut dyn Context,
        function: &str,
        args: &[Vec<u8>],
    ) -> Result<Vec<u8>, ContractError> {
        dispatch(ctx, function, args).map_err(into_contract_error)
    }
}

/// Maps a settlement error to the peer's response error.
pub fn into_contract_error(error: SettleError) -> ContractError {
    let message = error.to_string();
    match error {
        SettleError::Context(inner) => inner,
        other => match other.status() {
            403 => ContractError::forbidden(message),
            404 => ContractError::not_found(message),
            409 => ContractError::conflict(message),
            413 => ContractError::too_large(message),
            500 => ContractError::State(message),
            _ => ContractError::bad_request(message),
        },
    }
}

/// Every function the contract answers, in workflow order; the queries last.
pub const FUNCTIONS: &[&str] = &[
    "agreement_propose",
    "agreement_accept",
    "upload",
    "reveal",
    "dispute",
    "adjust_propose",
    "adjust_accept",
    "adjust_reject",
    "adjust_propose_many",
    "adjust_decide_many",
    "confirm",
    "reset",
    "approve",
    "pay",
    "ack",
    "agreement_get",
    "period_get",
    "periods_list",
    "lines_get",
    "line_history",
    "adjustment_get",
    "audit_get",
    "final_get",
    "export",
];

fn dispatch(
    ctx: &mut dyn Context,
    function: &str,
    args: &[Vec<u8>],
) -> Result<Vec<u8>, SettleError> {
    let caller = caller_of(ctx);
    let mut store = Store::new(ctx);
    match function {
        "agreement_propose" => agreement_propose(&mut store, &caller, args),
        "agreement_accept" => agreement_accept(&mut store, &caller, args),
        "upload" => upload(&mut store, &caller, args),
        "reveal" => reveal(&mut store, &caller, args),
        "dispute" => dispute(&mut store, &caller, args),
        "adjust_propose" => adjust_propose(&mut store, &caller, args),
        "adjust_accept" => adjust_decide(&mut store, &caller, args, true),
        "adjust_reject" => adjust_decide(&mut store, &caller, args, false),
        "adjust_propose_many" => bulk::adjust_propose_many(&mut store, &caller, args),
        "adjust_decide_many" => bulk::adjust_decide_many(&mut store, &caller, args),
        "confirm" => confirm(&mut store, &caller, args),
        "reset" => reset(&mut store, &caller, args),
        "approve" => signoff::approve(&mut store, &caller, args),
        "pay" => signoff::pay(&mut store, &caller, args),
        "ack" => signoff::ack(&mut store, &caller, args),
        "agreement_get" => agreement_get(&mut store),
        "period_get" => views::period_get(&mut store, &caller, args),
        "periods_list" => views::periods_list(&mut store, &caller, args),
        "lines_get" => lines_get(&mut store, &caller, args),
        "line_history" => views::line_history(&mut store, &caller, args),
        "adjustment_get" => adjustment_get(&mut store, &caller, args),
        "audit_get" => audit_get(&mut store, &caller, args),
        "final_get" => final_get(&mut store, &caller, args),
        "export" => export(&mut store, &caller, args),
        other => Err(SettleError::bad(format!(
            "unknown function {other:?}; known: {}",
            FUNCTIONS.join(", ")
        ))),
    }
}

fn caller_of(ctx: &dyn Context) -> Caller {
    let creator = ctx.creator();
    Caller {
        msp_id: creator.msp_id.clone(),
        role: creator.role,
        common_name: creator.common_name.clone(),
        fingerprint: creator.fingerprint.into(),
        tx_id: ctx.tx_id().0.into(),
        at_ms: ctx.timestamp().unix_time_ms,
        department: creator.attributes.get(DEPARTMENT_ATTRIBUTE).cloned(),
        on_behalf_of: None,
    }
}

fn emit<T: serde::Serialize>(
    store: &mut Store<'_>,
    name: &str,
    payload: &T,
) -> Result<(), SettleError> {
    Ok(store.ctx().emit_event(name, &to_json(payload))?)
}

/// Appends an audit entry for a step of `state`'s period.
fn audit(
    store: &mut Store<'_>,
    state: &mut PeriodState,
    caller: &Caller,
    step: &str,
    detail: String,
) -> Result<(), SettleError> {
    let seq = state.next_audit_seq();
    let entry = AuditEntry {
        seq,
        round: state.round,
        step: step.to_owned(),
        msp_id: caller.msp_id.clone(),
        role: caller.role,
        common_name: caller.common_name.clone(),
        fingerprint: caller.fingerprint,
        tx_id: caller.tx_id,
        at_ms: caller.at_ms,
        detail,
        department: caller.department.clone(),
        on_behalf_of: caller.on_behalf_of.clone(),
    };
    store.put(&audit_key(state.period, Some(seq))?, &entry)
}

/// Stores the period, with its audit entry for `step`; notes whose move this step made it.
fn save(
    store: &mut Store<'_>,
    mut state: PeriodState,
    caller: &Caller,
    step: &str,
    detail: String,
) -> Result<PeriodState, SettleError> {
    state.track_moves(caller);
    audit(store, &mut state, caller, step, detail)?;
    store.put(&period_key(state.period)?, &state)?;
    Ok(state)
}

/// Loads a period for a query: members of either party may read; others may not.
fn readable_period(
    store: &mut Store<'_>,
    caller: &Caller,
    period: crate::units::Period,
) -> Result<PeriodState, SettleError> {
    let state = store.period(period)?;
    if state.agreement.side_of(&caller.msp_id).is_none() {
        let message = format!("{} is not a party to the agreement", caller.msp_id);
        return Err(AccessError::WrongCarrier(message).into());
    }
    Ok(state)
}

// ---- agreement ---------------------------------------------------------------------

fn agreement_propose(
    store: &mut Store<'_>,
    caller: &Caller,
    args: &[Vec<u8>],
) -> Result<Vec<u8>, SettleError> {
    let agreement: Agreement = parse_request(args)?;
    agreement.check()?;
    crate::workflow::caller_side(&agreement, caller, &[netsettle_protocol::Role::Admin])?;
    let current: Option<AgreementRecord> = store.get(&agreement_key()?)?;
    if let Some(current) = &current {
        let same_parties = current.agreement.party_a == agreement.party_a
            && current.agreement.party_b == agreement.party_b;
        if !same_parties {
            return Err(SettleError::bad(
                "a changed agreement must keep party_a and party_b",
            ));
        }
    }
    let digest: Digest = agreement.digest().into();
    let proposal = AgreementProposal {
        agreement,
        digest,
        proposed_by: caller.msp_id.clone(),
        tx_id: caller.tx_id,
    };
    store.put(&agreement_proposal_key()?, &proposal)?;
    emit(store, "AgreementProposed", &proposal)?;
    Ok(to_json(&serde_json::json!({ "digest": digest })))
}

fn agreement_accept(
    store: &mut Store<'_>,
    caller: &Caller,
    args: &[Vec<u8>],
) -> Result<Vec<u8>, SettleError> {
    let request: AcceptAgreementRequest = parse_request(args)?;
    let proposal: AgreementProposal = store
        .get(&agreement_proposal_key()?)?
        .ok_or_else(|| SettleError::NotFound("no agreement proposal is pending".into()))?;
    crate::workflow::caller_side(
        &proposal.agreement,
        caller,
        &[netsettle_protocol::Role::Admin],
    )?;
    if caller.msp_id == proposal.proposed_by {
        return Err(AccessError::WrongCarrier(
            "the proposal must be accepted by the other carrier's admin".into(),
        )
        .into());
    }
    if request.digest != proposal.digest {
        return Err(StateError::AgreementMismatch(format!(
            "pending proposal has digest {}",
            proposal.digest
        ))
        .into());
    }
    let current: Option<AgreementRecord> = store.get(&agreement_key()?)?;
    let version = current
        .map_or(Some(1), |record| record.version.checked_add(1))
        .ok_or(StateError::LimitReached("agreement versions"))?;
    let record = AgreementRecord {
        agreement: proposal.agreement,
        version,
        proposed_by: proposal.proposed_by,
        accepted_by: caller.msp_id.clone(),
        tx_id: caller.tx_id,
    };
    store.put(&agreement_key()?, &record)?;
    store.delete(&agreement_proposal_key()?)?;
    emit(store, "AgreementAccepted", &record)?;
    Ok(to_json(&record))
}

fn agreement_get(store: &mut Store<'_>) -> Result<Vec<u8>, SettleError> {
    let current: Option<AgreementRecord> = store.get(&agreement_key()?)?;
    let proposal: Option<AgreementProposal> = store.get(&agreement_proposal_key()?)?;
    Ok(to_json(
        &serde_json::json!({ "agreement": current, "proposal": proposal }),
    ))
}

// ---- upload and reveal -------------------------------------------------------------

fn upload(
    store: &mut Store<'_>,
    caller: &Caller,
    args: &[Vec<u8>],
) -> Result<Vec<u8>, SettleError> {
    let ciphertext = args
        .get(1)
        .ok_or_else(|| SettleError::bad("upload takes [request, ciphertext]"))?;
    if ciphertext.len() > CIPHERTEXT_BYTES_MAX {
        return Err(SettleError::TooLarge {
            what: "ciphertext",
            max: CIPHERTEXT_BYTES_MAX,
            actual: ciphertext.len(),
        });
    }
    let request: UploadRequest = parse_request(args)?;
    let caller = &caller.clone().acting_for(request.on_behalf_of.as_ref());
    let mut state = match store.get(&period_key(request.period)?)? {
        Some(state) => state,
        None => {
            let record: AgreementRecord = store
                .get(&agreement_key()?)?
                .ok_or_else(|| SettleError::NotFound("no agreement is in force".into()))?;
            PeriodState::open(request.period, record.agreement, record.version)
        }
    };
    let side = state.upload(caller, &request, ciphertext)?;
    store.put_raw(
        &upload_key(state.period, state.round, &caller.msp_id)?,
        ciphertext,
    )?;
    let both = state.phase == Phase::Revealing;
    // Lateness goes on the record as the upload's own time judged it, so the audit trail
    // and the event say it without a later query.
    let (late, late_by_ms) = state.upload_lateness(side, caller.at_ms);
    let lateness = late_by_ms
        .map(|late_by_ms| format!(", late by {late_by_ms} ms"))
        .unwrap_or_default();
    let detail = format!(
        "uploaded {} bytes, ciphertext sm3 {}{lateness}",
        ciphertext.len(),
        sm3(ciphertext)
    );
    let state = save(store, state, caller, "upload", detail)?;
    let event = serde_json::json!({
        "period": state.period, "round": state.round, "carrier": caller.msp_id,
        "upload": state.side(side).upload, "deadline_ms": state.deadline_ms(),
        "upload_deadline_ms": state.agreement.upload_deadline_ms(state.period),
        "late": late, "late_by_ms": late_by_ms,
    });
    emit(store, "ReportUploaded", &event)?;
    if both {
        emit(
            store,
            "ReportsUploaded",
            &serde_json::json!({ "period": state.period, "round": state.round }),
        )?;
    }
    Ok(to_json(
        &serde_json::json!({ "period": state.period, "round": state.round, "phase": state.phase }),
    ))
}

/// Loads and opens `side`'s report (from the round it was uploaded in) with its
/// recorded key and salt.
fn open_side(
    store: &mut Store<'_>,
    state: &PeriodState,
    side: Side,
) -> Result<Result<Report, OpenError>, SettleError> {
    let carrier = state.agreement.party(side);
    let own = state.side(side);
    let (Some(upload), Some(key), Some(salt)) =
        (own.upload.as_ref(), own.key.as_ref(), own.salt.as_ref())
    else {
        return Err(SettleError::Corrupt(
            "period (opening without upload or key)",
        ));
    };
    let ciphertext = store
        .get_raw(&upload_key(state.period, upload.round, carrier)?)?
        .ok_or(SettleError::Corrupt("upload"))?;
    let sealed = Sealed {
        period: state.period,
        carrier,
        nonce: &upload.nonce.0,
        plaintext_commitment: &Hash(upload.plaintext_commitment.0),
        ciphertext: &ciphertext,
    };
    Ok(open_report(sealed, &opening_from_bytes(&key.0, &salt.0)?))
}

/// Opens `side`'s report, which opened before: failing now means the ledger is damaged.
fn reopen_side(
    store: &mut Store<'_>,
    state: &PeriodState,
    side: Side,
) -> Result<Report, SettleError> {
    open_side(store, state, side)?.map_err(|_| SettleError::Corrupt("opened report"))
}

fn reveal(
    store: &mut Store<'_>,
    caller: &Caller,
    args: &[Vec<u8>],
) -> Result<Vec<u8>, SettleError> {
    let request: RevealRequest = parse_request(args)?;
    let caller = &caller.clone().acting_for(request.on_behalf_of.as_ref());
    let mut state = store.period(request.period)?;
    let side = state.check_reveal(caller, &request.key, &request.salt)?;
    state.record_opening(side, request.key, request.salt);
    emit(
        store,
        "KeyRevealed",
        &serde_json::json!({ "period": state.period, "round": state.round, "carrier": caller.msp_id }),
    )?;
    let mut opened = None;
    match open_side(store, &state, side)? {
        Ok(report) => {
            state.record_opened(side);
            opened = Some((side, report));
        }
        Err(error) => {
            state.fail(side, error.to_string(), error.commitment_unopenable())?;
            let failure = state.failure.clone();
            let event = serde_json::json!({ "period": state.period, "round": state.round, "failure": failure });
            emit(store, "ReportRejected", &event)?;
        }
    }
    match state.outcome() {
        Outcome::Wait => {
            let detail = match &state.failure {
                Some(failure) if failure.side == side => format!(
                    "key revealed; report of {} rejected: {}",
                    failure.carrier, failure.reason
                ),
                _ => "key revealed; report opens and matches its commitment".into(),
            };
            let state = save(store, state, caller, "reveal", detail)?;
            Ok(to_json(&serde_json::json!({
                "period": state.period, "phase": state.phase, "failure": state.failure,
            })))
        }
        outcome => settle(store, state, caller, "reveal", outcome, opened),
    }
}

/// Builds the quasi-final data once both reports are open (reconciliation) or one
/// carrier is in default and the other's report is open (every line disputed), stores
/// it and the period, and answers with the summary. `opened` is a report this
/// transaction already opened, so it is not opened twice.
fn settle(
    store: &mut Store<'_>,
    mut state: PeriodState,
    caller: &Caller,
    step: &str,
    outcome: Outcome,
    mut opened: Option<(Side, Report)>,
) -> Result<Vec<u8>, SettleError> {
    let mut report_of = |store: &mut Store<'_>, side: Side| match opened.take() {
        Some((opened_side, report)) if opened_side == side => Ok(report),
        other => {
            opened = other;
            reopen_side(store, &state, side)
        }
    };
    let (reconciliation, default) = match outcome {
        Outcome::Reconcile => {
            let report_a = report_of(store, Side::A)?;
            let report_b = report_of(store, Side::B)?;
            (reconcile(&state.agreement, &report_a, &report_b)?, None)
        }
        Outcome::Default(defaulted) => {
            let honest = report_of(store, defaulted.other())?;
            let data = resolve_default(&state.agreement, &honest, defaulted)?;
            (data, Some(state.agreement.party(defaulted).to_owned()))
        }
        Outcome::Wait => return Err(SettleError::Corrupt("period (nothing to settle)")),
    };
    let pages = write_pages(store, state.period, &reconciliation.lines)?;
    state.start_review(reconciliation.summary, pages);
    state.reconciled = Some(Mark::of(caller));
    let detail = match &default {
        None => format!(
            "reconciled {} lines, {} open",
            state.summary.lines,
            state.summary.open_lines()
        ),
        Some(carrier) => format!(
            "{carrier} in default: {} lines from the other carrier's report, all disputed",
            state.summary.lines
        ),
    };
    let state = save(store, state, caller, step, detail)?;
    let summary = serde_json::json!({
        "period": state.period, "round": state.round, "version": state.version,
        "summary": state.summary, "phase": state.phase, "default": default,
    });
    emit(store, "Reconciled", &summary)?;
    let open: Vec<u64> = reconciliation
        .lines
        .iter()
        .filter(|line| line.status.is_open())
        .map(|line| line.line_no)
        .take(EVENT_LINES_MAX)
        .collect();
    if !open.is_empty() {
        let event = serde_json::json!({ "period": state.period, "count": state.summary.open_lines(), "line_nos": open });
        emit(store, "LinesDisputed", &event)?;
    }
    Ok(to_json(&summary))
}

fn write_pages(
    store: &mut Store<'_>,
    period: crate::units::Period,
    lines: &[ReconciledLine],
) -> Result<u64, SettleError> {
    let mut pages: u64 = 0;
    for chunk in lines.chunks(PAGE_LINES) {
        store.put(
            &page_key(period, pages)?,
            &Page {
                lines: chunk.to_vec(),
            },
        )?;
        pages = pages.saturating_add(1);
    }
    Ok(pages)
}

// ---- review ------------------------------------------------------------------------

/// Finds `line_no` in its page.
fn line_in(page: &mut Page, line_no: u64) -> Result<&mut ReconciledLine, SettleError> {
    page.lines
        .iter_mut()
        .find(|line| line.line_no == line_no)
        .ok_or(SettleError::Corrupt("page"))
}

/// Loads a period in review for a client of a party; access and phase are checked
/// before any line is looked up, so the caller hears about those first.
fn review_period(
    store: &mut Store<'_>,
    caller: &Caller,
    period: crate::units::Period,
) -> Result<PeriodState, SettleError> {
    let state = store.period(period)?;
    settlement_side(&state.agreement, caller, WORKFLOW_ROLES)?;
    state.require(&[Phase::Reviewing], "review")?;
    Ok(state)
}

/// Runs a review step on line `line_no` and stores the line's page.
fn edit_line<T>(
    store: &mut Store<'_>,
    state: &mut PeriodState,
    line_no: u64,
    step: impl FnOnce(&mut PeriodState, &mut ReconciledLine) -> Result<T, SettleError>,
) -> Result<T, SettleError> {
    let (page_no, mut page) = store.page_for(state, line_no)?;
    let line = line_in(&mut page, line_no)?;
    let out = step(state, line)?;
    store.put(&page_key(state.period, page_no)?, &page)?;
    Ok(out)
}

fn dispute(
    store: &mut Store<'_>,
    caller: &Caller,
    args: &[Vec<u8>],
) -> Result<Vec<u8>, SettleError> {
    let request: DisputeRequest = parse_request(args)?;
    let caller = &caller.clone().acting_for(request.on_behalf_of.as_ref());
    let mut state = review_period(store, caller, request.period)?;
    let entry = edit_line(store, &mut state, request.line_no, |state, line| {
        let side = state.dispute(caller, line, &request.reason)?;
        let reason = request.reason.clone();
        LineEvent::record(caller, side, line, LineEventKind::Disputed { reason })
    })?;
    put_line_event(store, state.period, &entry)?;
    let state = save(
        store,
        state,
        caller,
        "dispute",
        format!("line {} disputed: {}", request.line_no, request.reason),
    )?;
    let event = serde_json::json!({
        "period": state.period, "line_no": request.line_no, "by": caller.msp_id,
        "reason": request.reason, "version": state.version,
    });
    emit(store, "LineDisputed", &event)?;
    Ok(to_json(&event))
}

fn adjust_propose(
    store: &mut Store<'_>,
    caller: &Caller,
    args: &[Vec<u8>],
) -> Result<Vec<u8>, SettleError> {
    let request: AdjustRequest = parse_request(args)?;
    let caller = &caller.clone().acting_for(request.on_behalf_of.as_ref());
    let mut state = review_period(store, caller, request.period)?;
    let (adjustment, entry) = edit_line(store, &mut state, request.line_no, |state, line| {
        let adjustment = state.propose_adjustment(caller, line, &request)?;
        let kind = LineEvent::proposed(&adjustment);
        let entry = LineEvent::record(caller, adjustment.proposer, line, kind)?;
        Ok((adjustment, entry))
    })?;
    store.put(&adjustment_key(state.period, adjustment.id)?, &adjustment)?;
    put_line_event(store, state.period, &entry)?;
    let detail = format!(
        "adjustment {} of line {}: {} fen",
        adjustment.id, adjustment.line_no, adjustment.amount_fen
    );
    let state = save(store, state, caller, "adjust_propose", detail)?;
    let event = serde_json::json!({ "period": state.period, "by": caller.msp_id, "adjustment": adjustment });
    emit(store, "AdjustmentProposed", &event)?;
    Ok(to_json(&event))
}

fn adjust_decide(
    store: &mut Store<'_>,
    caller: &Caller,
    args: &[Vec<u8>],
    accept: bool,
) -> Result<Vec<u8>, SettleError> {
    let request: DecideRequest = parse_request(args)?;
    let caller = &caller.clone().acting_for(request.on_behalf_of.as_ref());
    let mut state = review_period(store, caller, request.period)?;
    let key = adjustment_key(state.period, request.adjustment_id)?;
    let mut adjustment: Adjustment = store.get(&key)?.ok_or_else(|| {
        SettleError::NotFound(format!(
            "adjustment {} of period {}",
            request.adjustment_id, state.period
        ))
    })?;
    let rejection = match (accept, request.reason.as_deref()) {
        (true, _) => None,
        (false, Some(reason)) => Some(reason),
        (false, None) => return Err(SettleError::bad("a rejection needs a reason")),
    };
    let entry = edit_line(store, &mut state, adjustment.line_no, |state, line| {
        decide_on_line(state, caller, &mut adjustment, line, rejection)
    })?;
    store.put(&key, &adjustment)?;
    put_line_event(store, state.period, &entry)?;
    let step = if accept {
        "adjust_accept"
    } else {
        "adjust_reject"
    };
    let state = save(
        store,
        state,
        caller,
        step,
        format!("adjustment {} {step}", adjustment.id),
    )?;
    let event = serde_json::json!({
        "period": state.period, "by": caller.msp_id, "adjustment": adjustment, "version": state.version,
    });
    emit(
        store,
        if accept {
            "AdjustmentAccepted"
        } else {
            "AdjustmentRejected"
        },
        &event,
    )?;
    Ok(to_json(&event))
}

/// Decides `adjustment` on its line and makes the line's history entry for it.
fn decide_on_line(
    state: &mut PeriodState,
    caller: &Caller,
    adjustment: &mut Adjustment,
    line: &mut ReconciledLine,
    rejection: Option<&str>,
) -> Result<LineEvent, SettleError> {
    let side = state.decide_adjustment(caller, adjustment, line, rejection)?;
    let adjustment_id = adjustment.id;
    let kind = match rejection {
        Some(reason) => LineEventKind::AdjustmentRejected {
            adjustment_id,
            reason: reason.to_owned(),
        },
        None => LineEventKind::AdjustmentAccepted {
            adjustment_id,
            settled: crate::reconcile::Settled {
                quantity: adjustment.quantity,
                amount_fen: adjustment.amount_fen,
            },
        },
    };
    LineEvent::record(caller, side, line, kind)
}

/// Stores a line history entry under its own key.
fn put_line_event(
    store: &mut Store<'_>,
    period: crate::units::Period,
    entry: &LineEvent,
) -> Result<(), SettleError> {
    let seq = entry
        .seq
        .ok_or(SettleError::Corrupt("line event without seq"))?;
    store.put(&line_event_key(period, entry.line_no, Some(seq))?, entry)
}

fn confirm(
    store: &mut Store<'_>,
    caller: &Caller,
    args: &[Vec<u8>],
) -> Result<Vec<u8>, SettleError> {
    let request: ConfirmRequest = parse_request(args)?;
    let caller = &caller.clone().acting_for(request.on_behalf_of.as_ref());
    let mut state = store.period(request.period)?;
    let (_, both) = state.confirm(caller, request.version)?;
    let final_data = if both {
        let data = finalise(store, &state, caller)?;
        let payer = data
            .payer
            .as_deref()
            .and_then(|payer| state.agreement.side_of(payer));
        state.record_net(payer, data.net_amount_fen);
        Some(data)
    } else {
        None
    };
    let state = save(
        store,
        state,
        caller,
        "confirm",
        format!("confirmed version {}", request.version),
    )?;
    emit(
        store,
        "Confirmed",
        &serde_json::json!({ "period": state.period, "by": caller.msp_id, "version": request.version }),
    )?;
    if let Some(data) = &final_data {
        emit(store, "Final", data)?;
    }
    Ok(to_json(
        &serde_json::json!({ "period": state.period, "phase": state.phase, "final": final_data }),
    ))
}

/// Hashes every line of a fully confirmed period and writes the final record; checks
/// that the lines add up to the running totals.
fn finalise(
    store: &mut Store<'_>,
    state: &PeriodState,
    caller: &Caller,
) -> Result<FinalData, SettleError> {
    let mut hasher = DataHasher::new(&state.agreement);
    for page_no in 0..state.pages {
        let page: Page = store
            .get(&page_key(state.period, page_no)?)?
            .ok_or(SettleError::Corrupt("page"))?;
        for line in &page.lines {
            hasher.add(line)?;
        }
    }
    let (data_sm3, settled, lines) = hasher.finish();
    if settled != state.summary.settled || lines != state.summary.lines {
        return Err(SettleError::Corrupt("period totals"));
    }
    let data = FinalData::new(state, data_sm3, settled, caller.tx_id, caller.at_ms)?;
    store.put(&final_key(state.period)?, &data)?;
    Ok(data)
}

fn reset(store: &mut Store<'_>, caller: &Caller, args: &[Vec<u8>]) -> Result<Vec<u8>, SettleError> {
    let request: PeriodRequest = parse_request(args)?;
    let caller = &caller.clone().acting_for(request.on_behalf_of.as_ref());
    let mut state = store.period(request.period)?;
    let previous = state.phase;
    let closed_round = state.round;
    let faults_before = state.faults.len();
    let outcome = state.reset(caller)?;
    let faults = state
        .faults
        .get(faults_before..)
        .unwrap_or_default()
        .to_vec();
    // A default resolution moves the period to review below, in this same transaction.
    let phase = match outcome {
        Outcome::Wait => state.phase,
        Outcome::Reconcile | Outcome::Default(_) => Phase::Reviewing,
    };
    let event = serde_json::json!({
        "period": state.period, "closed_round": closed_round, "round": state.round,
        "phase": phase, "by": caller.msp_id, "faults": faults,
    });
    emit(store, "PeriodReset", &event)?;
    let detail = format!(
        "round {closed_round} closed from {}; {} fault(s) recorded",
        previous.name(),
        faults.len()
    );
    if outcome != Outcome::Wait {
        return settle(store, state, caller, "reset", outcome, None);
    }
    save(store, state, caller, "reset", detail)?;
    Ok(to_json(&event))
}

// ---- queries -----------------------------------------------------------------------

fn lines_get(
    store: &mut Store<'_>,
    caller: &Caller,
    args: &[Vec<u8>],
) -> Result<Vec<u8>, SettleError> {
    let request: ListRequest = parse_request(args)?;
    let state = readable_period(store, caller, request.period)?;
    let (lines, next) = collect_lines(
        store,
        &state,
        request.from,
        request.limit,
        request.open_only,
    )?;
    Ok(to_json(
        &serde_json::json!({ "version": state.version, "lines": lines, "next": next }),
    ))
}

/// Up to `limit` (capped) lines from `from`; `next` is where to continue.
fn collect_lines(
    store: &mut Store<'_>,
    state: &PeriodState,
    from: u64,
    limit: u64,
    open_only: bool,
) -> Result<(Vec<ReconciledLine>, Option<u64>), SettleError> {
    let limit = usize::try_from(limit)
        .unwrap_or(usize::MAX)
        .min(QUERY_LINES_MAX);
    let mut lines = Vec::new();
    let mut page_no = crate::store::page_of(from);
    while page_no < state.pages {
        let page: Page = store
            .get(&page_key(state.period, page_no)?)?
            .ok_or(SettleError::Corrupt("page"))?;
        for line in page.lines.into_iter().filter(|line| line.line_no >= from) {
            if lines.len() >= limit {
                return Ok((lines, Some(line.line_no)));
            }
            if !open_only || line.status.is_open() {
                lines.push(line);
            }
        }
        page_no = page_no.saturating_add(1);
    }
    Ok((lines, None))
}

fn adjustment_get(
    store: &mut Store<'_>,
    caller: &Caller,
    args: &[Vec<u8>],
) -> Result<Vec<u8>, SettleError> {
    let request: AdjustmentRequest = parse_request(args)?;
    let state = readable_period(store, caller, request.period)?;
    let adjustment: Adjustment = store
        .get(&adjustment_key(state.period, request.adjustment_id)?)?
        .ok_or_else(|| SettleError::NotFound(format!("adjustment {}", request.adjustment_id)))?;
    Ok(to_json(&adjustment))
}

fn audit_get(
    store: &mut Store<'_>,
    caller: &Caller,
    args: &[Vec<u8>],
) -> Result<Vec<u8>, SettleError> {
    let request: ListRequest = parse_request(args)?;
    let state = readable_period(store, caller, request.period)?;
    let limit = usize::try_from(request.limit)
        .unwrap_or(usize::MAX)
        .min(QUERY_AUDIT_MAX);
    let start = audit_key(state.period, Some(request.from))?;
    let end = prefix_end(&audit_key(state.period, None)?);
    let rows = store.ctx().range(&start, &end, limit)?;
    let mut entries = Vec::with_capacity(rows.len());
    for (_, bytes) in rows {
        let entry: AuditEntry =
            netsettle_protocol::decode(&bytes).map_err(|_| SettleError::Corrupt("audit entry"))?;
        entries.push(entry);
    }
    let next = entries
        .last()
        .map(|entry| entry.seq.saturating_add(1))
        .filter(|next| *next < state.audit_entries);
    Ok(to_json(
        &serde_json::json!({ "entries": entries, "next": next }),
    ))
}

/// The final record and where it was committed, or 409 if the period is not final.
fn final_with_location(
    store: &mut Store<'_>,
    state: &PeriodState,
) -> Result<(FinalData, TxLocation), SettleError> {
    if !matches!(state.phase, Phase::Final | Phase::Closed) {
        return Err(StateError::WrongPhase {
            period: state.period.to_string(),
            phase: state.phase.name(),
            step: "export",
        }
        .into());
    }
    let key = final_key(state.period)?;
    let data: FinalData = store.get(&key)?.ok_or(SettleError::Corrupt("final data"))?;
    let history = store.ctx().history(&key, 1)?;
    let first = history.first().ok_or_else(|| {
        SettleError::from(StateError::WrongPhase {
            period: state.period.to_string(),
            phase: "final but not yet committed",
            step: "export",
        })
    })?;
    let location = TxLocation {
        block: first.version.block,
        tx_index: first.version.tx,
        tx_id: first.tx_id.0.into(),
    };
    Ok((data, location))
}

fn final_get(
    store: &mut Store<'_>,
    caller: &Caller,
    args: &[Vec<u8>],
) -> Result<Vec<u8>, SettleError> {
    let request: PeriodRequest = parse_request(args)?;
    let state = readable_period(store, caller, request.period)?;
    let (data, location) = final_with_location(store, &state)?;
    Ok(to_json(
        &serde_json::json!({ "data": data, "location": location }),
    ))
}

fn export(
    store: &mut Store<'_>,
    caller: &Caller,
    args: &[Vec<u8>],
) -> Result<Vec<u8>, SettleError> {
    let request: ExportRequest = parse_request(args)?;
    let state = readable_period(store, caller, request.period)?;
    let (data, location) = final_with_location(store, &state)?;
    let (lines, _) = collect_lines(store, &state, request.from, request.limit, false)?;
    Ok(match request.format {
        ExportFormat::Csv => export_csv(&data, &location, &state.agreement, &lines),
        ExportFormat::Json => export_json(&data, &location, &lines),
    })
}
