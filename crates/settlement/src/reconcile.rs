//! Reconciliation: match two carriers' reports line by line and decide, per line, whether
//! the figures agree within the agreement's tolerance, are disputed, or were reported by
//! one side only. Pure and deterministic: every endorsing peer computes the same lines.
//!
//! Reports are written from each carrier's own point of view (`payable` / `receivable`),
//! so a line is keyed here by (item, area, payer): carrier A's `payable` line and carrier
//! B's `receivable` line describe the same money.
//!
//! An agreed line settles at the mean of the two figures, rounded down, for quantity and
//! amount alike: a rule that favours neither side and gives the same result whichever
//! report is called first.

use crate::agreement::{Agreement, Side};
use crate::error::SettleError;
use crate::report::{Direction, Report, ReportLine};
use crate::units::{Rate, Token};

/// A reconciled line's key: the same money seen from both sides.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct LineKey {
    /// Settlement item / service type.
    pub item: Token,
    /// Local network area.
    pub area: Token,
    /// The side that pays.
    pub payer: Side,
}

/// One carrier's figures for a line.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Figures {
    /// Units carried.
    pub quantity: u64,
    /// Unit of the quantity.
    pub unit: Token,
    /// Yuan per unit.
    pub rate: Rate,
    /// Amount in fen.
    pub amount_fen: u64,
}

/// The state of a reconciled line.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub enum LineStatus {
    /// Both reported it, within tolerance.
    Agreed,
    /// Both reported it, above tolerance or in different units; or a carrier marked it
    /// disputed.
    Disputed,
    /// Only one carrier reported it.
    OneSided,
    /// Settled by an accepted adjustment.
    Adjusted,
}

impl LineStatus {
    /// Whether the line still needs an adjustment before the period can be final.
    pub fn is_open(self) -> bool {
        matches!(self, Self::Disputed | Self::OneSided)
    }
}

/// The figure a line settles at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Settled {
    /// Units.
    pub quantity: u64,
    /// Amount in fen.
    pub amount_fen: u64,
}

/// Why a line is in its state: the contract's own finding (`by` is `None`) or a
/// carrier's dispute reason or accepted adjustment.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Note {
    /// The carrier who wrote it; `None` for the contract.
    pub by: Option<Side>,
    /// The reason.
    pub reason: String,
}

/// A line of the quasi-final (and later final) settlement data.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ReconciledLine {
    /// Position in key order, from 0; stable for the life of the period.
    pub line_no: u64,
    /// Item, area, payer.
    pub key: LineKey,
    /// Carrier A's figures, if it reported the line.
    pub a: Option<Figures>,
    /// Carrier B's figures, if it reported the line.
    pub b: Option<Figures>,
    /// Agreed, disputed, one-sided or adjusted.
    pub status: LineStatus,
    /// What the line settles at; `Some` exactly when the status is not open.
    pub settled: Option<Settled>,
    /// Why the line is in its state, where there is something to say.
    pub note: Option<Note>,
    /// Changes since reconciliation (disputes and accepted adjustments).
    pub revision: u32,
    /// The adjustment awaiting a decision, if any.
    pub pending_adjustment: Option<u64>,
    /// Entries in the line's history since reconciliation (disputes and adjustment
    /// steps; see [`crate::history`]): the sequence number of the next one.
    #[serde(default)]
    pub history: u32,
}

impl ReconciledLine {
    fn from_figures(
        line_no: u64,
        key: LineKey,
        a: Option<Figures>,
        b: Option<Figures>,
        agreement: &Agreement,
    ) -> Self {
        let (status, settled, note) = judge(agreement, a.as_ref(), b.as_ref());
        Self {
            line_no,
            key,
            a,
            b,
            status,
            settled,
            note,
            revision: 0,
            pending_adjustment: None,
            history: 0,
        }
    }
}

fn judge(
    agreement: &Agreement,
    a: Option<&Figures>,
    b: Option<&Figures>,
) -> (LineStatus, Option<Settled>, Option<Note>) {
    let contract_note = |reason: String| Some(Note { by: None, reason });
    match (a, b) {
        (Some(a), Some(b)) if a.unit != b.unit => (
            LineStatus::Disputed,
            None,
            contract_note(format!("units differ: {} vs {}", a.unit, b.unit)),
        ),
        (Some(a), Some(b)) if agreement.within_tolerance(a.amount_fen, b.amount_fen) => {
            let settled = Settled {
                quantity: mean_floor(a.quantity, b.quantity),
                amount_fen: mean_floor(a.amount_fen, b.amount_fen),
            };
            (LineStatus::Agreed, Some(settled), None)
        }
        (Some(a), Some(b)) => (
            LineStatus::Disputed,
            None,
            contract_note(format!(
                "amounts differ by {} fen, above the tolerance",
                a.amount_fen.abs_diff(b.amount_fen)
            )),
        ),
        (Some(_), None) => (
            LineStatus::OneSided,
            None,
            contract_note(format!("only {} reported this line", agreement.party_a)),
        ),
        (None, Some(_)) => (
            LineStatus::OneSided,
            None,
            contract_note(format!("only {} reported this line", agreement.party_b)),
        ),
        (None, None) => (LineStatus::OneSided, None, None),
    }
}

fn mean_floor(first: u64, second: u64) -> u64 {
    // Overflow-free floor((first + second) / 2).
    first / 2 + second / 2 + (first % 2 + second % 2) / 2
}

/// Amounts per direction of payment, in fen.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Flows {
    /// Owed by carrier A to carrier B.
    pub a_pays_fen: u64,
    /// Owed by carrier B to carrier A.
    pub b_pays_fen: u64,
}

impl Flows {
    /// Adds `amount_fen` paid by `payer`.
    pub fn credit(&mut self, payer: Side, amount_fen: u64) -> Result<(), SettleError> {
        self.add(payer, amount_fen, Sign::Add)
    }

    fn add(&mut self, payer: Side, amount_fen: u64, sign: Sign) -> Result<(), SettleError> {
        let slot = match payer {
            Side::A => &mut self.a_pays_fen,
            Side::B => &mut self.b_pays_fen,
        };
        *slot = match sign {
            Sign::Add => slot.checked_add(amount_fen),
            Sign::Remove => slot.checked_sub(amount_fen),
        }
        .ok_or(SettleError::Overflow("flow totals"))?;
        Ok(())
    }

    /// A's payments minus B's: positive when A pays B on balance.
    pub fn net_fen(&self) -> Result<i64, SettleError> {
        let a = i64::try_from(self.a_pays_fen).map_err(|_| SettleError::Overflow("net amount"))?;
        let b = i64::try_from(self.b_pays_fen).map_err(|_| SettleError::Overflow("net amount"))?;
        a.checked_sub(b).ok_or(SettleError::Overflow("net amount"))
    }
}

#[derive(Clone, Copy)]
enum Sign {
    Add,
    Remove,
}

/// Counts and totals over all lines; kept in the period record and updated line by line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Summary {
    /// Lines in total.
    pub lines: u64,
    /// Agreed lines.
    pub agreed: u64,
    /// Disputed lines.
    pub disputed: u64,
    /// One-sided lines.
    pub one_sided: u64,
    /// Lines settled by adjustment.
    pub adjusted: u64,
    /// What carrier A reported, by direction of payment.
    pub a_reported: Flows,
    /// What carrier B reported, by direction of payment.
    pub b_reported: Flows,
    /// What the settled (agreed and adjusted) lines come to.
    pub settled: Flows,
}

impl Summary {
    /// The summary of `lines`.
    pub fn of(lines: &[ReconciledLine]) -> Result<Self, SettleError> {
        let mut summary = Self::default();
        for line in lines {
            summary.add(line)?;
        }
        Ok(summary)
    }

    /// Lines that still need an adjustment.
    pub fn open_lines(&self) -> u64 {
        self.disputed.saturating_add(self.one_sided)
    }

    /// Counts `line` in.
    pub fn add(&mut self, line: &ReconciledLine) -> Result<(), SettleError> {
        self.apply(line, Sign::Add)
    }

    /// Counts `line` out (before it changes).
    pub fn remove(&mut self, line: &ReconciledLine) -> Result<(), SettleError> {
        self.apply(line, Sign::Remove)
    }

    fn apply(&mut self, line: &ReconciledLine, sign: Sign) -> Result<(), SettleError> {
        let step = |count: u64| {
            match sign {
                Sign::Add => count.checked_add(1),
                Sign::Remove => count.checked_sub(1),
            }
            .ok_or(SettleError::Overflow("line counts"))
        };
        self.lines = step(self.lines)?;
        let counter = match line.status {
            LineStatus::Agreed => &mut self.agreed,
            LineStatus::Disputed => &mut self.disputed,
            LineStatus::OneSided => &mut self.one_sided,
            LineStatus::Adjusted => &mut self.adjusted,
        };
        *counter = step(*counter)?;
        let payer = line.key.payer;
        if let Some(a) = &line.a {
            self.a_reported.add(payer, a.amount_fen, sign)?;
        }
        if let Some(b) = &line.b {
            self.b_reported.add(payer, b.amount_fen, sign)?;
        }
        if let Some(settled) = &line.settled {
            self.settled.add(payer, settled.amount_fen, sign)?;
        }
        Ok(())
    }
}

/// The quasi-final settlement data: every line in key order, and the summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reconciliation {
    /// Lines, `line_no` 0, 1, 2, ...
    pub lines: Vec<ReconciledLine>,
    /// Counts and totals.
    pub summary: Summary,
}

/// Matches the reports of the two parties of `agreement` (in either order).
pub fn reconcile(
    agreement: &Agreement,
    first: &Report,
    second: &Report,
) -> Result<Reconciliation, SettleError> {
    let first_side = side_of(agreement, first)?;
    let second_side = side_of(agreement, second)?;
    if first_side == second_side {
        return Err(SettleError::bad("both reports come from the same carrier"));
    }
    let (report_a, report_b) = match first_side {
        Side::A => (first, second),
        Side::B => (second, first),
    };
    let keyed_a = keyed_lines(report_a, Side::A);
    let keyed_b = keyed_lines(report_b, Side::B);
    let lines = merge(agreement, keyed_a, keyed_b);
    let summary = Summary::of(&lines)?;
    Ok(Reconciliation { lines, summary })
}

/// The data of a period in which `defaulted` is in default: the other carrier's report
/// alone, every line disputed (with the contract's note naming the default), so each line
/// settles only by an adjustment both carriers agree to.
pub fn resolve_default(
    agreement: &Agreement,
    honest: &Report,
    defaulted: Side,
) -> Result<Reconciliation, SettleError> {
    let honest_side = side_of(agreement, honest)?;
    if honest_side == defaulted {
        return Err(SettleError::bad("the report is the defaulted carrier's"));
    }
    let reason = format!(
        "{} is in default; only {}'s figures are on the chain",
        agreement.party(defaulted),
        agreement.party(honest_side)
    );
    let mut lines = Vec::with_capacity(honest.lines().len());
    for (line_no, (key, figures)) in (0u64..).zip(keyed_lines(honest, honest_side)) {
        let (a, b) = match honest_side {
            Side::A => (Some(figures), None),
            Side::B => (None, Some(figures)),
        };
        lines.push(ReconciledLine {
            line_no,
            key,
            a,
            b,
            status: LineStatus::Disputed,
            settled: None,
            note: Some(Note {
                by: None,
                reason: reason.clone(),
            }),
            revision: 0,
            pending_adjustment: None,
            history: 0,
        });
    }
    let summary = Summary::of(&lines)?;
    Ok(Reconciliation { lines, summary })
}

fn side_of(agreement: &Agreement, report: &Report) -> Result<Side, SettleError> {
    agreement.side_of(report.carrier()).ok_or_else(|| {
        SettleError::bad(format!(
            "{} is not a party to the agreement",
            report.carrier()
        ))
    })
}

fn keyed_lines(report: &Report, side: Side) -> Vec<(LineKey, Figures)> {
    let mut keyed: Vec<(LineKey, Figures)> = report
        .lines()
        .iter()
        .map(|line| keyed_line(line, side))
        .collect();
    keyed.sort_unstable_by(|x, y| x.0.cmp(&y.0));
    keyed
}

fn keyed_line(line: &ReportLine, side: Side) -> (LineKey, Figures) {
    let payer = match line.direction {
        Direction::Payable => side,
        Direction::Receivable => side.other(),
    };
    let key = LineKey {
        item: line.item.clone(),
        area: line.area.clone(),
        payer,
    };
    let figures = Figures {
        quantity: line.quantity,
        unit: line.unit.clone(),
        rate: line.rate,
        amount_fen: line.amount_fen,
    };
    (key, figures)
}

/// Merge-joins two key-sorted lists (keys unique within each, as reports guarantee).
fn merge(
    agreement: &Agreement,
    keyed_a: Vec<(LineKey, Figures)>,
    keyed_b: Vec<(LineKey, Figures)>,
) -> Vec<ReconciledLine> {
    let mut lines = Vec::with_capacity(keyed_a.len().max(keyed_b.len()));
    let mut iter_a = keyed_a.into_iter().peekable();
    let mut iter_b = keyed_b.into_iter().peekable();
    let mut line_no: u64 = 0;
    loop {
        let order = match (iter_a.peek(), iter_b.peek()) {
            (None, None) => break,
            (Some(_), None) => core::cmp::Ordering::Less,
            (None, Some(_)) => core::cmp::Ordering::Greater,
            (Some(x), Some(y)) => x.0.cmp(&y.0),
        };
        let (key, a, b) = match order {
            core::cmp::Ordering::Less => match iter_a.next() {
                Some((key, a)) => (key, Some(a), None),
                None => break,
            },
            core::cmp::Ordering::Greater => match iter_b.next() {
                Some((key, b)) => (key, None, Some(b)),
                None => break,
            },
            core::cmp::Ordering::Equal => match (iter_a.next(), iter_b.next()) {
                (Some((key, a)), Some((_, b))) => (key, Some(a), Some(b)),
                _ => break,
            },
        };
        lines.push(ReconciledLine::from_figures(line_no, key, a, b, agreement));
        line_no = line_no.saturating_add(1);
    }
    lines
}
