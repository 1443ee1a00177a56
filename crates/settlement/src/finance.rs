//! The final settlement data and the finance export.
//!
//! When both carriers confirm, the contract stores a [`FinalData`] record: totals per
//! direction, the net amount and who pays it, and `data_sm3`, the SM3 digest of the
//! canonical final line table ([`DATA_HEADER`] and one row per line, `\n`-terminated).
//! Finance systems receive an export (CSV or JSON) that also names the block number and
//! transaction that made the data final. The block number exists only once that
//! transaction is committed, so the export is a query over committed state: it reads the
//! final record and the location of its committing write from the key history. Both
//! carriers' peers hold the same state, so both carriers' exports are byte-identical.
//!
//! Text fields of the line table (item, area, payer, payee, unit, status) go through
//! [`write_csv_field`]: quoted per RFC 4180 when they hold a comma, quote, CR or LF, and
//! neutralised when a spreadsheet would read them as a formula (a leading `-`, `=`, `+`,
//! `@`, tab or CR gets a `'` in front, and the field is quoted). Report tokens and MSP ids
//! cannot hold separators today, but the export must be safe whatever the finance
//! system's spreadsheet makes of a field, not only because of today's token rules.
//! Numbers are unsigned and written bare.

use core::fmt::Write as _;

use netsettle_smcrypto::Sm3Hasher;

use crate::agreement::Agreement;
use crate::api::Digest;
use crate::error::SettleError;
use crate::reconcile::{Flows, LineStatus, ReconciledLine};
use crate::units::Period;

/// Header row of the final line table.
pub const DATA_HEADER: &str =
    "line_no,item,area,payer,payee,status,unit,quantity,amount_fen,a_amount_fen,b_amount_fen";

/// The final settlement data of a period (lines stay in their pages).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FinalData {
    /// The period.
    pub period: Period,
    /// The round that reached final.
    pub round: u32,
    /// The data version both confirmed.
    pub version: u64,
    /// Carrier A.
    pub party_a: String,
    /// Carrier B.
    pub party_b: String,
    /// Lines.
    pub lines: u64,
    /// Settled totals per direction.
    pub settled: Flows,
    /// Who pays the net amount; `None` when the flows cancel out.
    pub payer: Option<String>,
    /// Who receives it.
    pub payee: Option<String>,
    /// The net amount, fen.
    pub net_amount_fen: u64,
    /// SM3 of the canonical final line table.
    pub data_sm3: Digest,
    /// The transaction that made the data final.
    pub tx_id: Digest,
    /// Its proposal time, ms since the epoch.
    pub at_ms: u64,
}

/// Where the finalising transaction sits on the ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TxLocation {
    /// Block number.
    pub block: u64,
    /// Index of the transaction in the block.
    pub tx_index: u32,
    /// Transaction id.
    pub tx_id: Digest,
}

/// Feeds final lines in `line_no` order; yields the digest and the totals.
pub struct DataHasher<'a> {
    agreement: &'a Agreement,
    hasher: Sm3Hasher,
    flows: Flows,
    lines: u64,
    row: String,
}

impl<'a> DataHasher<'a> {
    /// Starts the table.
    pub fn new(agreement: &'a Agreement) -> Self {
        let mut hasher = Sm3Hasher::new();
        hasher.update(DATA_HEADER.as_bytes());
        hasher.update(b"\n");
        Self {
            agreement,
            hasher,
            flows: Flows::default(),
            lines: 0,
            row: String::new(),
        }
    }

    /// Adds the next line; it must be settled and numbered in sequence.
    pub fn add(&mut self, line: &ReconciledLine) -> Result<(), SettleError> {
        if line.line_no != self.lines {
            return Err(SettleError::Corrupt("line numbering"));
        }
        let settled = line
            .settled
            .ok_or(SettleError::Corrupt("unsettled line in final data"))?;
        let amount = settled.amount_fen;
        self.flows.credit(line.key.payer, amount)?;
        self.row.clear();
        write_row(&mut self.row, self.agreement, line);
        self.hasher.update(self.row.as_bytes());
        self.lines = self.lines.saturating_add(1);
        Ok(())
    }

    /// The digest, totals and line count.
    pub fn finish(self) -> (Digest, Flows, u64) {
        (self.hasher.finalize().into(), self.flows, self.lines)
    }
}

/// Characters that make a spreadsheet read a field as a formula (or, for tab and CR,
/// that some spreadsheets strip before doing so).
const FORMULA_STARTS: &[char] = &['-', '=', '+', '@', '\t', '\r'];

/// Appends `value` as one CSV field: neutralised with a leading `'` if it starts like a
/// formula, and quoted (inner quotes doubled) if it was neutralised or holds a comma,
/// quote, CR or LF.
pub fn write_csv_field(out: &mut String, value: &str) {
    let formula = value.starts_with(FORMULA_STARTS);
    let special = value.contains([',', '"', '\r', '\n']);
    if !formula && !special {
        out.push_str(value);
        return;
    }
    out.push('"');
    if formula {
        out.push('\'');
    }
    for character in value.chars() {
        if character == '"' {
            out.push('"');
        }
        out.push(character);
    }
    out.push('"');
}

/// Appends one row of the final line table, `\n`-terminated; text fields escaped by
/// [`write_csv_field`].
pub fn write_row(out: &mut String, agreement: &Agreement, line: &ReconciledLine) {
    let payer = agreement.party(line.key.payer);
    let payee = agreement.party(line.key.payer.other());
    let status = match line.status {
        LineStatus::Agreed => "agreed",
        LineStatus::Adjusted => "adjusted",
        LineStatus::Disputed => "disputed",
        LineStatus::OneSided => "one_sided",
    };
    let unit = line
        .a
        .as_ref()
        .or(line.b.as_ref())
        .map(|figures| figures.unit.as_str())
        .unwrap_or("");
    let (quantity, amount) = line
        .settled
        .map(|s| (s.quantity.to_string(), s.amount_fen.to_string()))
        .unwrap_or_default();
    let reported = |figures: &Option<crate::reconcile::Figures>| {
        figures
            .as_ref()
            .map(|f| f.amount_fen.to_string())
            .unwrap_or_default()
    };
    // Writing to a String cannot fail.
    let _ = write!(out, "{},", line.line_no);
    for text in [
        line.key.item.as_str(),
        line.key.area.as_str(),
        payer,
        payee,
        status,
        unit,
    ] {
        write_csv_field(out, text);
        out.push(',');
    }
    let _ = writeln!(
        out,
        "{quantity},{amount},{},{}",
        reported(&line.a),
        reported(&line.b)
    );
}

impl FinalData {
    /// Builds the record from the hasher's result.
    pub fn new(
        period: &crate::workflow::PeriodState,
        data_sm3: Digest,
        settled: Flows,
        tx_id: Digest,
        at_ms: u64,
    ) -> Result<Self, SettleError> {
        let net = settled.net_fen()?;
        let agreement = &period.agreement;
        let (payer, payee) = match net.signum() {
            1 => (
                Some(agreement.party_a.clone()),
                Some(agreement.party_b.clone()),
            ),
            -1 => (
                Some(agreement.party_b.clone()),
                Some(agreement.party_a.clone()),
            ),
            _ => (None, None),
        };
        Ok(Self {
            period: period.period,
            round: period.round,
            version: period.version,
            party_a: agreement.party_a.clone(),
            party_b: agreement.party_b.clone(),
            lines: period.summary.lines,
            settled,
            payer,
            payee,
            net_amount_fen: net.unsigned_abs(),
            data_sm3,
            tx_id,
            at_ms,
        })
    }
}

/// The CSV export: `#` lines with the final record and its location, then the line
/// table (the lines given, e.g. one page of them).
pub fn export_csv(
    data: &FinalData,
    location: &TxLocation,
    agreement: &Agreement,
    lines: &[ReconciledLine],
) -> Vec<u8> {
    let mut out = String::with_capacity(lines.len().saturating_mul(96).saturating_add(1024));
    let _ = writeln!(out, "#netsettle-settlement v1");
    let _ = writeln!(out, "#period {}", data.period);
    let _ = writeln!(out, "#party_a {}", data.party_a);
    let _ = writeln!(out, "#party_b {}", data.party_b);
    let _ = writeln!(out, "#version {}", data.version);
    let _ = writeln!(out, "#block {}", location.block);
    let _ = writeln!(out, "#tx_index {}", location.tx_index);
    let _ = writeln!(out, "#tx_id {}", location.tx_id);
    let _ = writeln!(out, "#data_sm3 {}", data.data_sm3);
    let _ = writeln!(out, "#lines {}", data.lines);
    let _ = writeln!(out, "#a_pays_fen {}", data.settled.a_pays_fen);
    let _ = writeln!(out, "#b_pays_fen {}", data.settled.b_pays_fen);
    let _ = writeln!(
        out,
        "#net {} pays {} {} fen",
        data.payer.as_deref().unwrap_or("nobody"),
        data.payee.as_deref().unwrap_or("nobody"),
        data.net_amount_fen
    );
    out.push_str(DATA_HEADER);
    out.push('\n');
    for line in lines {
        write_row(&mut out, agreement, line);
    }
    out.into_bytes()
}

/// The JSON export: the final record, its location and the lines given.
pub fn export_json(data: &FinalData, location: &TxLocation, lines: &[ReconciledLine]) -> Vec<u8> {
    #[derive(serde::Serialize)]
    struct Export<'a> {
        format: &'static str,
        location: &'a TxLocation,
        data: &'a FinalData,
        lines: &'a [ReconciledLine],
    }
    crate::api::to_json(&Export {
        format: "netsettle-settlement v1",
        location,
        data,
        lines,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(value: &str) -> String {
        let mut out = String::new();
        write_csv_field(&mut out, value);
        out
    }

    #[test]
    fn csv_fields_are_quoted_per_rfc_4180_and_formulas_neutralised() {
        assert_eq!(field("voice"), "voice");
        assert_eq!(field("data_5g.x"), "data_5g.x");
        assert_eq!(field(""), "");
        assert_eq!(field("a,b"), "\"a,b\"");
        assert_eq!(field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(field("two\nlines"), "\"two\nlines\"");
        assert_eq!(field("cr\rx"), "\"cr\rx\"");
        assert_eq!(field("-A1"), "\"'-A1\"");
        assert_eq!(field("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(field("+1"), "\"'+1\"");
        assert_eq!(field("@SUM(A1)"), "\"'@SUM(A1)\"");
        assert_eq!(field("\tcmd"), "\"'\tcmd\"");
        assert_eq!(field("\rcmd"), "\"'\rcmd\"");
        // Only a leading character makes a formula.
        assert_eq!(field("a-b=c"), "a-b=c");
    }
}
