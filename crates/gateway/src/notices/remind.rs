//! Deadline reminders: from each open period's status (as the contract computes it, read
//! from the local peer's world state), drafts that tell the node's own staff a deadline of
//! theirs nears or passed, and that the other side is late.
//!
//! Only the upload and reveal moves have deadlines (the agreement's upload deadline, the
//! round's reveal deadline). For the own carrier's pending move, the reminder is the most
//! urgent threshold crossed (`deadline_near`, one of the configured hours before), or
//! `deadline_passed`; for the other side's pending move past its deadline,
//! `counterpart_late`. Each has a key naming (period, round, carrier, threshold), so the
//! outbox, which keeps ids unique, sends it once however often the timer looks; a
//! threshold skipped over (the node was down) is not sent late.
//!
//! [`remind`] is pure; [`open_periods`] reads the period records from the ledger, and
//! adds the period due now while nobody has uploaded for it ([`unopened_period`]).

use core::time::Duration;

use netsettle_ledger::{CompositeKey, Ledger, LedgerError};
use netsettle_settlement::agreement::{BEIJING_UTC_OFFSET_MS, civil_from_days};
use netsettle_settlement::contract::CONTRACT_NAME;
use netsettle_settlement::store::{self, AgreementRecord};
use netsettle_settlement::units::Period;
use netsettle_settlement::workflow::{Action, PeriodState, PeriodStatus, Phase};

use super::derive::{Draft, Role};
use super::limits::PERIODS_SCANNED_MAX;

const SETTLEMENT: &[Role] = &[Role::Settlement];

/// One period's status as the reminders see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenPeriod {
    /// `YYYY-MM`.
    pub period: String,
    /// The current round.
    pub round: u32,
    /// The status at the time asked.
    pub status: PeriodStatus,
}

/// The reminder drafts for `own` (an MSP id) about `open` at `now_ms`, with thresholds
/// `before` (any order).
pub fn remind(own: &str, open: &OpenPeriod, now_ms: u64, before: &[Duration]) -> Vec<Draft> {
    let status = &open.status;
    let mut out = Vec::new();
    for side in &status.sides {
        let (what, deadline) = match side.action {
            Some(Action::Upload) => ("upload your report", status.upload_deadline_ms),
            Some(Action::Reveal) => ("reveal your key", status.reveal_deadline_ms),
            _ => continue,
        };
        let Some(deadline) = deadline else {
            continue;
        };
        let own_move = side.carrier == own;
        let Some((label, kind, text)) = reminder(
            open,
            what,
            own_move,
            &side.carrier,
            deadline,
            now_ms,
            before,
        ) else {
            continue;
        };
        out.push(Draft {
            event_key: format!(
                "remind-{}-r{}-{}-{label}",
                open.period, open.round, side.carrier
            ),
            kind,
            roles: SETTLEMENT,
            period: Some(open.period.clone()),
            text,
            block: None,
            tx_id: None,
            at_ms: i64::try_from(now_ms).unwrap_or(i64::MAX),
        });
    }
    out
}

type Reminder = (String, &'static str, String);

fn reminder(
    open: &OpenPeriod,
    what: &str,
    own_move: bool,
    carrier: &str,
    deadline_ms: u64,
    now_ms: u64,
    before: &[Duration],
) -> Option<Reminder> {
    let period = &open.period;
    if now_ms >= deadline_ms {
        let ago = hours(now_ms - deadline_ms);
        return Some(if own_move {
            (
                "passed".to_owned(),
                "deadline_passed",
                format!("{period}: the deadline passed {ago} h ago; {what} now"),
            )
        } else {
            let what = what.replace("your", "its");
            (
                "late".to_owned(),
                "counterpart_late",
                format!("{period}: {carrier} is late: the deadline to {what} passed {ago} h ago"),
            )
        });
    }
    if !own_move {
        return None;
    }
    let left_ms = deadline_ms - now_ms;
    // The most urgent threshold crossed: the smallest one the time left is within.
    let threshold = before
        .iter()
        .filter(|threshold| u128::from(left_ms) <= threshold.as_millis())
        .min()?;
    let left = hours(left_ms);
    Some((
        format!("{}h", threshold.as_secs() / 3_600),
        "deadline_near",
        format!("{period}: {what}; the deadline is in {left} h"),
    ))
}

/// Whole hours in `ms`, rounded up (a deadline 30 min away is "in 1 h").
fn hours(ms: u64) -> u64 {
    ms.div_ceil(3_600_000)
}

/// The status at `now_ms` of every period on the ledger that is not final or closed, at
/// most [`PERIODS_SCANNED_MAX`] of them (the oldest first).
pub fn open_periods(ledger: &Ledger, now_ms: u64) -> Result<Vec<OpenPeriod>, LedgerError> {
    let prefix = CompositeKey::prefix("period", &[])?;
    let page = ledger.state_by_prefix(CONTRACT_NAME, &prefix, None, PERIODS_SCANNED_MAX)?;
    let mut out = Vec::new();
    for entry in page.entries {
        // A record this build cannot read is skipped: reminders are a courtesy, and the
        // contract itself reports a corrupt period to whoever queries it.
        let Ok(state) = netsettle_protocol::decode::<PeriodState>(&entry.value.value) else {
            continue;
        };
        if matches!(state.phase, Phase::Final | Phase::Closed) {
            continue;
        }
        out.push(OpenPeriod {
            period: state.period.to_string(),
            round: state.round,
            status: state.status(now_ms),
        });
    }
    out.extend(unopened_period(ledger, now_ms)?);
    Ok(out)
}

/// The period due now when no carrier has uploaded for it yet (a period's record is
/// written with its first upload, so [`open_periods`] alone would never remind anyone of
/// the first deadline): the month before the current month in Beijing time, when the
/// agreement in force names an upload deadline. Its status is the contract's for a period
/// just opened: both carriers to upload by that deadline.
pub fn unopened_period(ledger: &Ledger, now_ms: u64) -> Result<Option<OpenPeriod>, LedgerError> {
    let Some(period) = due_period(now_ms) else {
        return Ok(None);
    };
    let (Ok(period_key), Ok(agreement_key)) = (store::period_key(period), store::agreement_key())
    else {
        return Ok(None);
    };
    if ledger.state(CONTRACT_NAME, &period_key)?.is_some() {
        return Ok(None);
    }
    let Some(value) = ledger.state(CONTRACT_NAME, &agreement_key)? else {
        return Ok(None);
    };
    let Ok(record) = netsettle_protocol::decode::<AgreementRecord>(&value.value) else {
        return Ok(None);
    };
    if record.agreement.upload_deadline_ms(period).is_none() {
        return Ok(None);
    }
    let state = PeriodState::open(period, record.agreement, record.version);
    Ok(Some(OpenPeriod {
        period: period.to_string(),
        round: state.round,
        status: state.status(now_ms),
    }))
}

/// The month before the one `now_ms` falls in, Beijing time: the period whose reports
/// are due this month.
pub fn due_period(now_ms: u64) -> Option<Period> {
    const DAY_MS: u64 = 86_400_000;
    let (year, month, _) = civil_from_days(now_ms.saturating_add(BEIJING_UTC_OFFSET_MS) / DAY_MS);
    let (year, month) = if month <= 1 {
        (year.checked_sub(1)?, 12)
    } else {
        (year, month - 1)
    };
    Period::new(u16::try_from(year).ok()?, u8::try_from(month).ok()?)
}
