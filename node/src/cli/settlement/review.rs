//! Review of the quasi-final data: lines (every page), disputes, adjustments (one, or a
//! CSV file of them), accepting or rejecting the counterparty's, the history, and the
//! finance export of a final period written to a file.

use std::path::PathBuf;

use anyhow::{Context as _, Result, bail};
use netsettle_settlement::adjustments_file::parse_adjustments;
use netsettle_settlement::api::{AdjustmentEntry, ExportFormat};
use netsettle_settlement::limits::{
    ADJUSTMENTS_FILE_BYTES_MAX, BULK_ADJUSTMENTS_MAX, QUERY_AUDIT_MAX, QUERY_LINES_MAX,
};
use netsettle_settlement::units::Period;
use serde_json::Value;

use super::client::Staff;
use super::render::{Table, at, fields, get, variant, yuan};
use super::staff::{PeriodArgs, show_submitted, with_staff};
use super::time::beijing;

/// Pages any listing reads at most, so a misbehaving peer cannot keep it looping.
const PAGES_MAX: usize = 100_000;

#[derive(Debug, clap::Args)]
pub struct LinesArgs {
    #[command(flatten)]
    on: PeriodArgs,
    /// Only disputed and one-sided lines.
    #[arg(long)]
    open: bool,
}

#[derive(Debug, clap::Args)]
pub struct DisputeArgs {
    #[command(flatten)]
    on: PeriodArgs,
    /// The line number.
    #[arg(long)]
    line: u64,
    /// Why.
    #[arg(long)]
    reason: String,
}

#[derive(Debug, clap::Args)]
pub struct AdjustArgs {
    #[command(flatten)]
    on: PeriodArgs,
    /// Many adjustments: CSV `line_no,quantity,amount_fen,reason` (a header line
    /// starting with `line_no` is skipped).
    #[arg(long, conflicts_with_all = ["line", "quantity", "amount_fen", "reason"])]
    file: Option<PathBuf>,
    /// The line number.
    #[arg(long, required_unless_present = "file")]
    line: Option<u64>,
    /// New quantity.
    #[arg(long, required_unless_present = "file")]
    quantity: Option<u64>,
    /// New amount in fen.
    #[arg(long, required_unless_present = "file")]
    amount_fen: Option<u64>,
    /// Why.
    #[arg(long, required_unless_present = "file")]
    reason: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct DecideArgs {
    #[command(flatten)]
    on: PeriodArgs,
    /// Adjustment ids (repeat, or comma-separated).
    #[arg(
        long = "id",
        value_delimiter = ',',
        required_unless_present = "all_pending"
    )]
    ids: Vec<u64>,
    /// Every adjustment the counterparty proposed that is still pending.
    #[arg(long, conflicts_with = "ids")]
    all_pending: bool,
    /// Why (required to reject).
    #[arg(long)]
    reason: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct HistoryArgs {
    #[command(flatten)]
    on: PeriodArgs,
    /// One line's history instead of the whole period's trail.
    #[arg(long)]
    line: Option<u64>,
}

#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    #[command(flatten)]
    on: PeriodArgs,
    /// csv or json.
    #[arg(long, value_enum)]
    format: Format,
    /// The file to write (created; not overwritten).
    #[arg(long)]
    out: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    Csv,
    Json,
}

/// Every line of `period` (every page), or only the open ones.
async fn all_lines(staff: &Staff, period: Period, open_only: bool) -> Result<(u64, Vec<Value>)> {
    let mut lines = Vec::new();
    let mut from = 0;
    for _ in 0..PAGES_MAX {
        let request = serde_json::json!({
            "period": period, "from": from, "limit": QUERY_LINES_MAX, "open_only": open_only,
        });
        let page = staff.query("lines_get", &request).await?;
        lines.extend(
            get(&page, &["lines"])
                .as_array()
                .cloned()
                .unwrap_or_default(),
        );
        match get(&page, &["next"]).as_u64() {
            Some(next) if next > from => from = next,
            Some(_) => bail!("lines_get did not advance past line {from}"),
            None => {
                let version = get(&page, &["version"]).as_u64().unwrap_or(0);
                return Ok((version, lines));
            }
        }
    }
    bail!("{period} has more than {PAGES_MAX} pages of lines")
}

pub async fn lines(args: &LinesArgs) -> Result<()> {
    let period = args.on.period;
    with_staff(&args.on.staff, async |staff, printer| {
        let (version, lines) = all_lines(staff, period, args.open).await?;
        let json = serde_json::json!({ "period": period, "version": version, "lines": lines });
        printer.show(&json, || lines_table(&lines));
        Ok(())
    })
    .await
}

fn lines_table(lines: &[Value]) -> String {
    let mut table = Table::new(&[
        "line", "item", "area", "payer", "status", "A yuan", "B yuan", "settled", "pending",
    ]);
    for line in lines {
        table.row(vec![
            at(line, &["line_no"]),
            at(line, &["key", "item"]),
            at(line, &["key", "area"]),
            at(line, &["key", "payer"]),
            variant(get(line, &["status"])).to_lowercase(),
            yuan(get(line, &["a", "amount_fen"])),
            yuan(get(line, &["b", "amount_fen"])),
            yuan(get(line, &["settled", "amount_fen"])),
            at(line, &["pending_adjustment"]),
        ]);
    }
    format!("{}{} lines\n", table.render(), table.n_rows())
}

pub async fn dispute(args: &DisputeArgs) -> Result<()> {
    let request = serde_json::json!({
        "period": args.on.period, "line_no": args.line, "reason": args.reason,
    });
    with_staff(&args.on.staff, async |staff, printer| {
        let submitted = staff.submit("dispute", &request, Vec::new()).await?;
        show_submitted(printer, &submitted, || {
            fields(&[
                (
                    "disputed",
                    format!("line {} of {}", args.line, args.on.period),
                ),
                ("version", at(&submitted.answer, &["version"])),
            ])
        });
        Ok(())
    })
    .await
}

/// The adjustments of a bulk file, checked whole before anything is sent.
fn read_adjustments(path: &std::path::Path) -> Result<Vec<AdjustmentEntry>> {
    let bytes = crate::shared::read_bounded(path, ADJUSTMENTS_FILE_BYTES_MAX)?;
    parse_adjustments(&bytes).with_context(|| format!("{}", path.display()))
}

pub async fn adjust(args: &AdjustArgs) -> Result<()> {
    let period = args.on.period;
    let adjustments = match &args.file {
        Some(path) => read_adjustments(path)?,
        None => vec![AdjustmentEntry {
            line_no: args.line.context("--line")?,
            quantity: args.quantity.context("--quantity")?,
            amount_fen: args.amount_fen.context("--amount-fen")?,
            reason: args.reason.clone().context("--reason")?,
            attachment_sm3: None,
        }],
    };
    with_staff(&args.on.staff, async |staff, printer| {
        let mut results = Vec::new();
        let mut table = Table::new(&["ids", "lines", "tx", "block"]);
        // One transaction for each chunk the contract takes at once: a file of a few
        // hundred lines is one signed step in the history.
        for chunk in adjustments.chunks(BULK_ADJUSTMENTS_MAX) {
            let request = serde_json::json!({ "period": period, "adjustments": chunk });
            let submitted = staff
                .submit("adjust_propose_many", &request, Vec::new())
                .await?;
            table.row(vec![
                at(&submitted.answer, &["adjustment_ids"]),
                at(&submitted.answer, &["line_nos"]),
                submitted.tx_id.to_string(),
                submitted.block.to_string(),
            ]);
            results.push(submitted.json());
        }
        let json = serde_json::json!({ "period": period, "proposed": results });
        printer.show(&json, || table.render());
        Ok(())
    })
    .await
}

/// The ids of the counterparty's pending adjustments: the lines that name one, each
/// checked against its record.
async fn pending_ids(staff: &Staff, period: Period) -> Result<Vec<u64>> {
    let record = staff
        .query("period_get", &serde_json::json!({ "period": period }))
        .await?;
    let own_side = if at(&record, &["state", "agreement", "party_a"]) == staff.msp_id() {
        "A"
    } else {
        "B"
    };
    let (_, lines) = all_lines(staff, period, false).await?;
    let mut ids = Vec::new();
    for id in lines
        .iter()
        .filter_map(|line| line.get("pending_adjustment")?.as_u64())
    {
        let request = serde_json::json!({ "period": period, "adjustment_id": id });
        let adjustment = staff.query("adjustment_get", &request).await?;
        if at(&adjustment, &["proposer"]) != own_side {
            ids.push(id);
        }
    }
    Ok(ids)
}

pub async fn decide(args: &DecideArgs, accept: bool) -> Result<()> {
    let period = args.on.period;
    if !accept && args.reason.is_none() {
        bail!("reject needs --reason");
    }
    with_staff(&args.on.staff, async |staff, printer| {
        let ids = if args.all_pending {
            pending_ids(staff, period).await?
        } else {
            args.ids.clone()
        };
        let mut results = Vec::new();
        let mut table = Table::new(&["decision", "ids", "tx", "block"]);
        for chunk in ids.chunks(BULK_ADJUSTMENTS_MAX) {
            let request = match &args.reason {
                Some(reason) if !accept => {
                    let reject: Vec<Value> = chunk
                        .iter()
                        .map(|id| serde_json::json!({ "adjustment_id": id, "reason": reason }))
                        .collect();
                    serde_json::json!({ "period": period, "reject": reject })
                }
                _ => serde_json::json!({ "period": period, "accept": chunk }),
            };
            let submitted = staff
                .submit("adjust_decide_many", &request, Vec::new())
                .await?;
            table.row(vec![
                if accept { "accepted" } else { "rejected" }.to_owned(),
                serde_json::to_string(chunk)?,
                submitted.tx_id.to_string(),
                submitted.block.to_string(),
            ]);
            results.push(submitted.json());
        }
        let json = serde_json::json!({ "period": period, "ids": ids, "decided": results });
        printer.show(&json, || table.render());
        Ok(())
    })
    .await
}

/// The whole audit trail of `period`, every page.
async fn audit_trail(staff: &Staff, period: Period) -> Result<Vec<Value>> {
    let mut entries = Vec::new();
    let mut from = 0;
    for _ in 0..PAGES_MAX {
        let request =
            serde_json::json!({ "period": period, "from": from, "limit": QUERY_AUDIT_MAX });
        let page = staff.query("audit_get", &request).await?;
        entries.extend(
            get(&page, &["entries"])
                .as_array()
                .cloned()
                .unwrap_or_default(),
        );
        match get(&page, &["next"]).as_u64() {
            Some(next) if next > from => from = next,
            Some(_) => bail!("audit_get did not advance past entry {from}"),
            None => return Ok(entries),
        }
    }
    bail!("{period} has more than {PAGES_MAX} pages of audit entries")
}

pub async fn history(args: &HistoryArgs) -> Result<()> {
    let period = args.on.period;
    with_staff(&args.on.staff, async |staff, printer| {
        let entries = match args.line {
            None => audit_trail(staff, period).await?,
            Some(line_no) => {
                let request = serde_json::json!({ "period": period, "line_no": line_no });
                let answer = staff.query("line_history", &request).await?;
                get(&answer, &["entries"])
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
            }
        };
        let json = serde_json::json!({ "period": period, "line": args.line, "entries": entries });
        printer.show(&json, || history_table(&entries));
        Ok(())
    })
    .await
}

fn history_table(entries: &[Value]) -> String {
    let mut table = Table::new(&["seq", "when", "carrier", "who", "step", "tx", "detail"]);
    for entry in entries {
        let tx = at(entry, &["tx_id"]);
        table.row(vec![
            at(entry, &["seq"]),
            get(entry, &["at_ms"])
                .as_u64()
                .map_or_else(|| "-".to_owned(), beijing),
            at(entry, &["msp_id"]),
            at(entry, &["common_name"]),
            at(entry, &["step"]),
            tx.chars().take(16).collect(),
            at(entry, &["detail"]),
        ]);
    }
    table.render()
}

/// Every page of the export, joined: CSV pages after the first lose their header lines
/// (`#…` and the column names); JSON pages add their lines to the first page's. A final
/// period's lines are numbered 0, 1, 2, … so page `k` starts at line `k × limit`.
async fn export_all(staff: &Staff, period: Period, format: Format) -> Result<Vec<u8>> {
    let final_record = staff
        .query("final_get", &serde_json::json!({ "period": period }))
        .await?;
    let n_lines = get(&final_record, &["data", "lines"])
        .as_u64()
        .context("the final record has no line count")?;
    let page_lines = QUERY_LINES_MAX as u64;
    let export_format = match format {
        Format::Csv => ExportFormat::Csv,
        Format::Json => ExportFormat::Json,
    };
    let mut pages = Vec::new();
    let mut from: u64 = 0;
    loop {
        let request = serde_json::json!({
            "period": period, "format": export_format, "from": from, "limit": page_lines,
        });
        pages.push(staff.query_bytes("export", &request).await?);
        from = from.saturating_add(page_lines);
        if from >= n_lines || pages.len() >= PAGES_MAX {
            break;
        }
    }
    match format {
        Format::Csv => Ok(join_csv(pages)),
        Format::Json => join_json(pages),
    }
}

fn join_csv(pages: Vec<Vec<u8>>) -> Vec<u8> {
    let mut pages = pages.into_iter();
    let mut out = pages.next().unwrap_or_default();
    for page in pages {
        // The header lines carry no quoted newlines: skip `#` lines, then the column names.
        let mut rest: &[u8] = &page;
        while rest.first() == Some(&b'#') {
            rest = after_newline(rest);
        }
        out.extend_from_slice(after_newline(rest));
    }
    out
}

fn after_newline(bytes: &[u8]) -> &[u8] {
    match bytes.iter().position(|byte| *byte == b'\n') {
        Some(idx) => bytes.get(idx + 1..).unwrap_or_default(),
        None => &[],
    }
}

fn join_json(pages: Vec<Vec<u8>>) -> Result<Vec<u8>> {
    if pages.len() == 1 {
        return Ok(pages.into_iter().next().unwrap_or_default());
    }
    let mut joined: Option<Value> = None;
    for page in pages {
        let page: Value = serde_json::from_slice(&page).context("an export page is not JSON")?;
        let lines = get(&page, &["lines"])
            .as_array()
            .cloned()
            .unwrap_or_default();
        match joined
            .as_mut()
            .and_then(|joined| joined.get_mut("lines"))
            .and_then(Value::as_array_mut)
        {
            Some(all) => all.extend(lines),
            None => joined = Some(page),
        }
    }
    Ok(serde_json::to_vec(&joined.unwrap_or_default())?)
}

pub async fn export(args: &ExportArgs) -> Result<()> {
    let period = args.on.period;
    with_staff(&args.on.staff, async |staff, printer| {
        let bytes = export_all(staff, period, args.format).await?;
        super::offline::write_new(&args.out, &bytes, false)?;
        let digest = netsettle_smcrypto::sm3(&bytes);
        let json = serde_json::json!({
            "period": period, "out": args.out, "bytes": bytes.len(), "sm3": digest.to_string(),
        });
        printer.show(&json, || {
            fields(&[
                ("wrote", args.out.display().to_string()),
                ("bytes", bytes.len().to_string()),
                ("sm3", digest.to_string()),
            ])
        });
        Ok(())
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bulk_file_is_read_whole_or_refused_naming_the_file_and_line() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("adjustments.csv");
        std::fs::write(&path, "line_no,quantity,amount_fen,reason\n2,1,1,ok\n").expect("written");
        let read = read_adjustments(&path).expect("read");
        assert_eq!((read[0].line_no, read[0].reason.as_str()), (2, "ok"));
        std::fs::write(&path, "2,1,1,ok\n4,sixty,600000,bad\n").expect("written");
        let error = format!("{:#}", read_adjustments(&path).expect_err("refused"));
        assert!(
            error.contains("adjustments.csv: line 2: quantity"),
            "{error}"
        );
    }

    #[test]
    fn csv_pages_join_under_one_header() {
        let page = |rows: &str| format!("#netsettle-settlement v1\n#lines 3\nline_no,item\n{rows}");
        let joined = join_csv(vec![
            page("0,a\n1,b\n").into_bytes(),
            page("2,\"c\nd\"\n").into_bytes(),
        ]);
        assert_eq!(
            String::from_utf8(joined).expect("utf-8"),
            "#netsettle-settlement v1\n#lines 3\nline_no,item\n0,a\n1,b\n2,\"c\nd\"\n"
        );
    }
}
