//! The period page's figures, derived only from the SDK's typed views: the lines the
//! search keeps, the per-item differences and the chart's bars. Pure functions, so what
//! a page shows is a function of what the contract answered and nothing else.

use std::collections::BTreeMap;

use netsettle_settlement::agreement::{Agreement, Side, civil_from_days};
use netsettle_settlement::reconcile::{LineStatus, ReconciledLine};

use crate::limits::QUERY_BYTES_MAX;

/// The period page's filter, from its GET parameters.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
pub struct Filter {
    /// Case-insensitive text that a kept line's item, area, payer, status or note holds.
    #[serde(default)]
    pub q: Option<String>,
    /// `1`: only the open lines (disputed and one-sided), asked of the contract as such.
    #[serde(default)]
    pub open: Option<String>,
}

impl Filter {
    /// Whether only open lines are wanted.
    pub fn open_only(&self) -> bool {
        self.open.as_deref() == Some("1")
    }

    /// The search text, lowercased, if any; `None` too for an over-long one (refused
    /// by the caller before it gets here).
    pub fn needle(&self) -> Option<String> {
        self.q
            .as_deref()
            .map(str::trim)
            .filter(|q| !q.is_empty() && q.len() <= QUERY_BYTES_MAX)
            .map(str::to_lowercase)
    }

    /// Whether the search text is too long to take.
    pub fn too_long(&self) -> bool {
        self.q.as_deref().is_some_and(|q| q.len() > QUERY_BYTES_MAX)
    }
}

/// The lower-case name of a line status, as the page shows it and the search matches it.
pub fn status_name(status: LineStatus) -> &'static str {
    match status {
        LineStatus::Agreed => "agreed",
        LineStatus::Disputed => "disputed",
        LineStatus::OneSided => "one-sided",
        LineStatus::Adjusted => "adjusted",
    }
}

/// The MSP id of `side` under `agreement`.
pub fn carrier(agreement: &Agreement, side: Side) -> &str {
    match side {
        Side::A => &agreement.party_a,
        Side::B => &agreement.party_b,
    }
}

/// Whether `line` matches `needle` (already lower-case).
fn matches(line: &ReconciledLine, agreement: &Agreement, needle: &str) -> bool {
    let note = line
        .note
        .as_ref()
        .map(|n| n.reason.to_lowercase())
        .unwrap_or_default();
    [
        line.key.item.to_string().to_lowercase(),
        line.key.area.to_string().to_lowercase(),
        carrier(agreement, line.key.payer).to_lowercase(),
        status_name(line.status).to_owned(),
        note,
    ]
    .iter()
    .any(|field| field.contains(needle))
}

/// The lines the search keeps, in line order.
pub fn kept<'a>(
    lines: &'a [ReconciledLine],
    agreement: &Agreement,
    filter: &Filter,
) -> Vec<&'a ReconciledLine> {
    match filter.needle() {
        Some(needle) => lines
            .iter()
            .filter(|line| matches(line, agreement, &needle))
            .collect(),
        None => lines.iter().collect(),
    }
}

/// `a - b` of two amounts in fen, signed, if both are there and it fits.
pub fn difference_fen(line: &ReconciledLine) -> Option<i128> {
    let a = line.a.as_ref()?.amount_fen;
    let b = line.b.as_ref()?.amount_fen;
    Some(i128::from(a) - i128::from(b))
}

/// One row of the per-item differences: an item and who pays on it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ItemRow {
    /// Lines on it.
    pub lines: u64,
    /// Lines still open (disputed or one-sided).
    pub open: u64,
    /// Carrier A's figures summed, in fen.
    pub a_fen: u64,
    /// Carrier B's figures summed, in fen.
    pub b_fen: u64,
}

impl ItemRow {
    /// `a - b`, signed.
    pub fn difference_fen(&self) -> i128 {
        i128::from(self.a_fen) - i128::from(self.b_fen)
    }
}

/// The figures overflowed a `u64` of fen: no real month does; shown as an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the amounts overflow when summed")]
pub struct Overflow;

/// Per (item, payer): both carriers' sums, over `lines`.
pub fn items(lines: &[&ReconciledLine]) -> Result<BTreeMap<(String, Side), ItemRow>, Overflow> {
    let mut rows: BTreeMap<(String, Side), ItemRow> = BTreeMap::new();
    for line in lines {
        let row = rows
            .entry((line.key.item.to_string(), line.key.payer))
            .or_default();
        row.lines = row.lines.checked_add(1).ok_or(Overflow)?;
        if line.status.is_open() {
            row.open = row.open.checked_add(1).ok_or(Overflow)?;
        }
        if let Some(a) = &line.a {
            row.a_fen = row.a_fen.checked_add(a.amount_fen).ok_or(Overflow)?;
        }
        if let Some(b) = &line.b {
            row.b_fen = row.b_fen.checked_add(b.amount_fen).ok_or(Overflow)?;
        }
    }
    Ok(rows)
}

/// Payable or receivable, from the reporting carrier's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Direction {
    /// The carrier pays on the line.
    Payable,
    /// The other carrier pays.
    Receivable,
}

impl Direction {
    /// The attribute value.
    pub fn name(self) -> &'static str {
        match self {
            Direction::Payable => "payable",
            Direction::Receivable => "receivable",
        }
    }
}

/// The chart's bars: (item, reporting side, direction) → that side's figures summed, in
/// fen. Every line counts once for each side that reported it.
pub fn chart(
    lines: &[&ReconciledLine],
) -> Result<BTreeMap<(String, Side, Direction), u64>, Overflow> {
    let mut bars: BTreeMap<(String, Side, Direction), u64> = BTreeMap::new();
    for line in lines {
        for (side, figures) in [(Side::A, &line.a), (Side::B, &line.b)] {
            let Some(figures) = figures else { continue };
            let direction = if line.key.payer == side {
                Direction::Payable
            } else {
                Direction::Receivable
            };
            let bar = bars
                .entry((line.key.item.to_string(), side, direction))
                .or_default();
            *bar = bar.checked_add(figures.amount_fen).ok_or(Overflow)?;
        }
    }
    Ok(bars)
}

/// `fen` as yuan with two decimals (`-12.05`).
pub fn yuan(fen: i128) -> String {
    let sign = if fen < 0 { "-" } else { "" };
    let fen = fen.unsigned_abs();
    format!("{sign}{}.{:02}", fen / 100, fen % 100)
}

/// `unix_ms` as UTC, `2026-11-05 00:00:00 UTC`.
pub fn utc(unix_ms: u64) -> String {
    const DAY_MS: u64 = 86_400_000;
    let (year, month, day) = civil_from_days(unix_ms / DAY_MS);
    let secs = (unix_ms % DAY_MS) / 1000;
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yuan_and_utc() {
        assert_eq!(yuan(0), "0.00");
        assert_eq!(yuan(1205), "12.05");
        assert_eq!(yuan(-1205), "-12.05");
        assert_eq!(yuan(-5), "-0.05");
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(1_793_808_000_000), "2026-11-04 16:00:00 UTC");
        assert_eq!(utc(1_709_164_800_000), "2024-02-29 00:00:00 UTC");
    }

    #[test]
    fn filter_parameters() {
        let filter = Filter {
            q: Some("  Voice ".into()),
            open: Some("1".into()),
        };
        assert!(filter.open_only());
        assert_eq!(filter.needle().as_deref(), Some("voice"));
        let long = Filter {
            q: Some("x".repeat(QUERY_BYTES_MAX + 1)),
            open: None,
        };
        assert!(long.too_long() && long.needle().is_none() && !long.open_only());
    }
}
