//! The bulk review steps: `adjust_propose_many` (a file of adjustments) and
//! `adjust_decide_many` (accepting and rejecting many at once). Each is all or nothing:
//! the first entry that fails refuses the whole transaction with its list and index
//! ([`SettleError::InEntry`]), and since a failed call writes nothing, nothing changes.

use std::collections::{BTreeMap, BTreeSet};

use super::{decide_on_line, emit, page_key, put_line_event, review_period, save};
use crate::api::{
    AdjustManyRequest, AdjustRequest, AdjustmentEntry, DecideManyRequest, parse_bulk_request,
    to_json,
};
use crate::error::SettleError;
use crate::history::LineEvent;
use crate::limits::{BULK_ADJUSTMENTS_MAX, EVENT_LINES_MAX};
use crate::reconcile::ReconciledLine;
use crate::store::{Page, Store, adjustment_key, page_of};
use crate::units::Period;
use crate::workflow::{Adjustment, Caller, PeriodState};

/// The pages a bulk step edits, loaded once and written once.
#[derive(Default)]
struct PageCache {
    pages: BTreeMap<u64, Page>,
}

impl PageCache {
    /// Line `line_no` of the reconciled period, from its (cached) page; 404 past the end.
    fn line<'a>(
        &'a mut self,
        store: &mut Store<'_>,
        state: &PeriodState,
        line_no: u64,
    ) -> Result<&'a mut ReconciledLine, SettleError> {
        let page_no = page_of(line_no);
        let page = match self.pages.entry(page_no) {
            std::collections::btree_map::Entry::Occupied(entry) => entry.into_mut(),
            std::collections::btree_map::Entry::Vacant(entry) => {
                let (_, page) = store.page_for(state, line_no)?;
                entry.insert(page)
            }
        };
        if line_no >= state.summary.lines {
            return Err(SettleError::NotFound(format!(
                "line {line_no} of period {}",
                state.period
            )));
        }
        super::line_in(page, line_no)
    }

    fn flush(self, store: &mut Store<'_>, period: Period) -> Result<(), SettleError> {
        for (page_no, page) in &self.pages {
            store.put(&page_key(period, *page_no)?, page)?;
        }
        Ok(())
    }
}

/// Refuses an empty or oversize bulk list.
fn check_count(what: &'static str, count: usize) -> Result<(), SettleError> {
    if count == 0 {
        return Err(SettleError::bad(format!("{what}: nothing to do")));
    }
    if count > BULK_ADJUSTMENTS_MAX {
        return Err(SettleError::TooMany {
            what,
            max: BULK_ADJUSTMENTS_MAX,
            actual: count,
        });
    }
    Ok(())
}

fn propose_one(
    store: &mut Store<'_>,
    pages: &mut PageCache,
    state: &mut PeriodState,
    caller: &Caller,
    entry: &AdjustmentEntry,
) -> Result<(Adjustment, LineEvent), SettleError> {
    let request = AdjustRequest {
        period: state.period,
        line_no: entry.line_no,
        quantity: entry.quantity,
        amount_fen: entry.amount_fen,
        reason: entry.reason.clone(),
        attachment_sm3: entry.attachment_sm3,
        on_behalf_of: None,
    };
    let line = pages.line(store, state, entry.line_no)?;
    let adjustment = state.propose_adjustment(caller, line, &request)?;
    let kind = LineEvent::proposed(&adjustment);
    let event = LineEvent::record(caller, adjustment.proposer, line, kind)?;
    Ok((adjustment, event))
}

/// Writes what a bulk step made: pages, adjustments, line history entries.
fn store_changes(
    store: &mut Store<'_>,
    pages: PageCache,
    period: Period,
    changes: &[(Adjustment, LineEvent)],
) -> Result<(), SettleError> {
    pages.flush(store, period)?;
    for (adjustment, event) in changes {
        store.put(&adjustment_key(period, adjustment.id)?, adjustment)?;
        put_line_event(store, period, event)?;
    }
    Ok(())
}

pub(super) fn adjust_propose_many(
    store: &mut Store<'_>,
    caller: &Caller,
    args: &[Vec<u8>],
) -> Result<Vec<u8>, SettleError> {
    let request: AdjustManyRequest = parse_bulk_request(args)?;
    let caller = &caller.clone().acting_for(request.on_behalf_of.as_ref());
    check_count("adjustments", request.adjustments.len())?;
    let mut state = review_period(store, caller, request.period)?;
    let mut pages = PageCache::default();
    let mut changes = Vec::with_capacity(request.adjustments.len());
    for (index, entry) in request.adjustments.iter().enumerate() {
        let change = propose_one(store, &mut pages, &mut state, caller, entry)
            .map_err(|error| error.in_entry("adjustments", index))?;
        changes.push(change);
    }
    store_changes(store, pages, state.period, &changes)?;
    let ids: Vec<u64> = changes
        .iter()
        .map(|(adjustment, _)| adjustment.id)
        .collect();
    let line_nos: Vec<u64> = changes
        .iter()
        .map(|(adjustment, _)| adjustment.line_no)
        .collect();
    let detail = format!(
        "{} adjustments proposed in one transaction, ids {}..={}",
        ids.len(),
        ids.first().copied().unwrap_or_default(),
        ids.last().copied().unwrap_or_default()
    );
    let state = save(store, state, caller, "adjust_propose_many", detail)?;
    let event = serde_json::json!({
        "period": state.period, "by": caller.msp_id, "count": ids.len(),
        "adjustment_ids": ids.iter().take(EVENT_LINES_MAX).collect::<Vec<_>>(),
        "line_nos": line_nos.iter().take(EVENT_LINES_MAX).collect::<Vec<_>>(),
    });
    emit(store, "AdjustmentsProposed", &event)?;
    Ok(to_json(&event))
}

fn decide_one(
    store: &mut Store<'_>,
    pages: &mut PageCache,
    state: &mut PeriodState,
    caller: &Caller,
    adjustment_id: u64,
    rejection: Option<&str>,
) -> Result<(Adjustment, LineEvent), SettleError> {
    let mut adjustment: Adjustment = store
        .get(&adjustment_key(state.period, adjustment_id)?)?
        .ok_or_else(|| {
            SettleError::NotFound(format!(
                "adjustment {adjustment_id} of period {}",
                state.period
            ))
        })?;
    let line = pages.line(store, state, adjustment.line_no)?;
    let event = decide_on_line(state, caller, &mut adjustment, line, rejection)?;
    Ok((adjustment, event))
}

/// Refuses an id named twice across `accept` and `reject`.
fn check_distinct(request: &DecideManyRequest) -> Result<(), SettleError> {
    let mut seen = BTreeSet::new();
    let accepted = request.accept.iter().map(|id| ("accept", *id));
    let rejected = request
        .reject
        .iter()
        .map(|entry| ("reject", entry.adjustment_id));
    let mut index_in = BTreeMap::<&str, usize>::new();
    for (list, id) in accepted.chain(rejected) {
        let index = index_in.entry(list).or_default();
        if !seen.insert(id) {
            return Err(
                SettleError::bad(format!("adjustment {id} is named twice")).in_entry(list, *index)
            );
        }
        *index = index.saturating_add(1);
    }
    Ok(())
}

pub(super) fn adjust_decide_many(
    store: &mut Store<'_>,
    caller: &Caller,
    args: &[Vec<u8>],
) -> Result<Vec<u8>, SettleError> {
    let request: DecideManyRequest = parse_bulk_request(args)?;
    let caller = &caller.clone().acting_for(request.on_behalf_of.as_ref());
    let count = request.accept.len().saturating_add(request.reject.len());
    check_count("decisions", count)?;
    check_distinct(&request)?;
    let mut state = review_period(store, caller, request.period)?;
    let mut pages = PageCache::default();
    let mut changes = Vec::with_capacity(count);
    for (index, id) in request.accept.iter().enumerate() {
        let change = decide_one(store, &mut pages, &mut state, caller, *id, None)
            .map_err(|error| error.in_entry("accept", index))?;
        changes.push(change);
    }
    for (index, entry) in request.reject.iter().enumerate() {
        let reason = Some(entry.reason.as_str());
        let change = decide_one(
            store,
            &mut pages,
            &mut state,
            caller,
            entry.adjustment_id,
            reason,
        )
        .map_err(|error| error.in_entry("reject", index))?;
        changes.push(change);
    }
    store_changes(store, pages, state.period, &changes)?;
    let detail = format!(
        "{} adjustments accepted, {} rejected in one transaction",
        request.accept.len(),
        request.reject.len()
    );
    let state = save(store, state, caller, "adjust_decide_many", detail)?;
    let rejected: Vec<u64> = request
        .reject
        .iter()
        .map(|entry| entry.adjustment_id)
        .collect();
    let event = serde_json::json!({
        "period": state.period, "by": caller.msp_id, "version": state.version,
        "accepted": request.accept, "rejected": rejected,
    });
    emit(store, "AdjustmentsDecided", &event)?;
    Ok(to_json(&event))
}
