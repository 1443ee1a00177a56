//! The staff commands' arguments and the month's first half: upload, reveal, status,
//! periods and confirm. Review (lines, disputes, adjustments, history, export) is in
//! [`super::review`], finance and the agreement in [`super::finance`].

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use netsettle_settlement::limits::REPORT_BYTES_MAX;
use netsettle_settlement::report::Report;
use netsettle_settlement::units::Period;
use serde_json::Value;

use super::SettlementCommand;
use super::client::{Staff, Submitted};
use netsettle_client::KeyStore;

use super::client::Failure;
use super::render::{OutputArgs, Printer, Table, at, fields, get, objects_table, yuan};
use super::time::{beijing, duration};
use crate::shared::ClientArgs;

pub use super::finance::{AckArgs, AgreementCommand, PayArgs};
pub use super::review::{AdjustArgs, DecideArgs, DisputeArgs, ExportArgs, HistoryArgs, LinesArgs};

/// Periods `periods` asks for a page.
const PERIODS_PAGE: u64 = 120;
/// Periods `periods` lists at most: a century of months.
const PERIODS_MAX: usize = 1_200;

/// Who calls, through which profile, and how to print.
#[derive(Debug, clap::Args)]
pub struct StaffArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

impl StaffArgs {
    pub async fn connect(&self) -> Result<(Staff, Printer)> {
        Ok((Staff::connect(&self.client).await?, self.output.printer()))
    }
}

/// A command on one period.
#[derive(Debug, clap::Args)]
pub struct PeriodArgs {
    #[command(flatten)]
    pub staff: StaffArgs,
    /// The period, YYYY-MM.
    #[arg(long)]
    pub period: Period,
}

#[derive(Debug, clap::Args)]
pub struct UploadArgs {
    #[command(flatten)]
    on: PeriodArgs,
    /// The report (CSV: UTF-8, UTF-8 with BOM, or GBK as Excel writes it).
    #[arg(long)]
    csv: PathBuf,
    /// Where the key is kept until the reveal (default: IDENTITY/keys).
    #[arg(long)]
    key_store: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct RevealArgs {
    #[command(flatten)]
    on: PeriodArgs,
    /// Where `upload` kept the key (default: IDENTITY/keys).
    #[arg(long)]
    key_store: Option<PathBuf>,
    /// Wait until both reports are uploaded, then reveal.
    #[arg(long)]
    auto: bool,
    /// With `--auto`: give up after this many seconds.
    #[arg(long, default_value_t = 3600)]
    wait_secs: u64,
}

#[derive(Debug, clap::Args)]
pub struct WatchArgs {
    #[command(flatten)]
    pub staff: StaffArgs,
    /// The first block whose events to show.
    #[arg(long, default_value_t = 0)]
    pub from: u64,
    /// Resume after this event (its cursor as `watch` printed it, e.g. `12-0-1`).
    #[arg(long, conflicts_with = "from")]
    pub after: Option<String>,
    /// Stop after this many settlement events (default: follow until interrupted).
    #[arg(long)]
    pub count: Option<u64>,
}

pub async fn run(command: SettlementCommand) -> Result<()> {
    use super::{finance, review};
    match command {
        SettlementCommand::Upload(args) => upload(&args).await,
        SettlementCommand::Reveal(args) => reveal(&args).await,
        SettlementCommand::Status(args) => status(&args).await,
        SettlementCommand::Periods(args) => periods(&args).await,
        SettlementCommand::Confirm(args) => confirm(&args).await,
        SettlementCommand::Lines(args) => review::lines(&args).await,
        SettlementCommand::Dispute(args) => review::dispute(&args).await,
        SettlementCommand::Adjust(args) => review::adjust(&args).await,
        SettlementCommand::Accept(args) => review::decide(&args, true).await,
        SettlementCommand::Reject(args) => review::decide(&args, false).await,
        SettlementCommand::History(args) => review::history(&args).await,
        SettlementCommand::Export(args) => review::export(&args).await,
        SettlementCommand::Approve(args) => finance::approve(&args).await,
        SettlementCommand::Pay(args) => finance::pay(&args).await,
        SettlementCommand::Ack(args) => finance::ack(&args).await,
        SettlementCommand::Agreement(command) => finance::agreement(command).await,
        SettlementCommand::Watch(args) => super::watch::run(&args).await,
        SettlementCommand::Report(_)
        | SettlementCommand::ReconcileLocal { .. }
        | SettlementCommand::Sample { .. }
        | SettlementCommand::Audit { .. } => bail!("an offline command reached the client"),
    }
}

/// Runs `call` on a connection, closing it whatever the outcome.
pub async fn with_staff<T>(
    args: &StaffArgs,
    call: impl AsyncFnOnce(&Staff, Printer) -> Result<T>,
) -> Result<T> {
    let (staff, printer) = args.connect().await?;
    let outcome = call(&staff, printer).await;
    staff.close().await;
    outcome
}

/// Prints a committed transaction: its id and block, then `table` of the answer.
pub fn show_submitted(printer: Printer, submitted: &Submitted, table: impl FnOnce() -> String) {
    printer.show(&submitted.json(), || {
        format!(
            "{}committed  tx {} block {}\n",
            table(),
            submitted.tx_id,
            submitted.block
        )
    });
}

/// The report file as text: UTF-8 (a BOM dropped) or GBK, as billing exports come out of
/// Excel; anything else is refused with the reason.
fn report_text(path: &Path) -> Result<Vec<u8>> {
    let bytes = crate::shared::read_bounded(path, REPORT_BYTES_MAX)?;
    let (text, _) = netsettle_settlement::report::decode_report_bytes(&bytes)
        .with_context(|| format!("{}", path.display()))?;
    Ok(text.into_bytes())
}

/// The SDK's key store: `--key-store DIR`, or `keys/` in the identity directory.
fn key_store(dir: Option<&Path>, identity: &Path) -> Result<KeyStore> {
    Ok(match dir {
        Some(dir) => KeyStore::open(dir)?,
        None => KeyStore::for_identity(identity)?,
    })
}

async fn upload(args: &UploadArgs) -> Result<()> {
    let period = args.on.period;
    let keys = key_store(args.key_store.as_deref(), &args.on.staff.client.identity)?;
    with_staff(&args.on.staff, async |staff, printer| {
        let carrier = staff.msp_id().to_owned();
        let bar = printer.progress(3, "reading");
        let text = report_text(&args.csv)?;
        bar.inc(1);
        bar.set_message("checking");
        let report = Report::from_csv(period, &carrier, &text)
            .with_context(|| format!("{}", args.csv.display()))?;
        bar.inc(1);
        // The SDK seals under a fresh key, keeps key and salt in the key store, then
        // submits.
        bar.set_message("sealing");
        let uploaded = staff.sdk().upload(&report, &keys).await;
        bar.finish_and_clear();
        let uploaded = uploaded.map_err(|error| Failure::of("upload", error))?;
        let receipt = &uploaded.answer;
        let json = serde_json::json!({
            "tx_id": uploaded.tx_id.to_string(), "block": uploaded.block,
            "result": {
                "period": receipt.period, "round": receipt.round, "phase": receipt.phase,
                "late": receipt.late, "late_by_ms": receipt.late_by_ms,
                "key_commitment": receipt.key_commitment,
                "plaintext_commitment": receipt.plaintext_commitment,
            },
        });
        let (payable, receivable) = report.totals_fen();
        printer.show(&json, || {
            let late = match receipt.late_by_ms {
                Some(by) if receipt.late => format!("LATE by {}", duration(by)),
                _ => "no".to_owned(),
            };
            let mut out = fields(&[
                ("period", period.to_string()),
                ("carrier", carrier.clone()),
                ("lines", report.lines().len().to_string()),
                ("payable", format!("{payable} fen")),
                ("receivable", format!("{receivable} fen")),
                ("round", receipt.round.to_string()),
                ("late", late),
                ("key", format!("kept in {}", keys.dir().display())),
            ]);
            out.push_str(&format!(
                "committed  tx {} block {}\n",
                uploaded.tx_id, uploaded.block
            ));
            out
        });
        Ok(())
    })
    .await
}

async fn period_get(staff: &Staff, period: Period) -> Result<Value> {
    staff
        .query("period_get", &serde_json::json!({ "period": period }))
        .await
}

async fn reveal(args: &RevealArgs) -> Result<()> {
    let period = args.on.period;
    let keys = key_store(args.key_store.as_deref(), &args.on.staff.client.identity)?;
    with_staff(&args.on.staff, async |staff, printer| {
        let sdk = staff.sdk();
        let revealed = if args.auto {
            // Follows the chain's events from the caller's upload until both reports are
            // in; bounded so an unattended run ends with a reason.
            let wait = Duration::from_secs(args.wait_secs);
            match tokio::time::timeout(wait, sdk.reveal_when_ready(period, &keys)).await {
                Ok(revealed) => revealed,
                Err(_) => bail!(
                    "{period}: the counterparty's report did not arrive within {} s",
                    args.wait_secs
                ),
            }
        } else {
            sdk.reveal(period, &keys).await
        }
        .map_err(|error| Failure::of("reveal", error))?;
        let answer = &revealed.answer;
        let lines = answer.summary.as_ref().map(|summary| summary.lines);
        let json = serde_json::json!({
            "tx_id": revealed.tx_id.to_string(), "block": revealed.block,
            "result": { "period": answer.period, "phase": answer.phase, "lines": lines },
        });
        printer.show(&json, || {
            let mut out = fields(&[
                ("period", period.to_string()),
                ("revealed", staff.msp_id().to_owned()),
                ("phase", answer.phase.name().to_owned()),
                (
                    "lines",
                    lines.map_or_else(|| "-".to_owned(), |n| n.to_string()),
                ),
            ]);
            out.push_str(&format!(
                "committed  tx {} block {}\n",
                revealed.tx_id, revealed.block
            ));
            out
        });
        Ok(())
    })
    .await
}

async fn status(args: &PeriodArgs) -> Result<()> {
    let period = args.period;
    with_staff(&args.staff, async |staff, printer| {
        let record = period_get(staff, period).await?;
        printer.show(&record, || status_table(&record));
        Ok(())
    })
    .await
}

fn when(value: &Value) -> String {
    value.as_u64().map_or_else(|| "-".to_owned(), beijing)
}

fn status_table(record: &Value) -> String {
    let state = get(record, &["state"]);
    let status = get(record, &["status"]);
    let whose: Vec<String> = get(status, &["whose_move"])
        .as_array()
        .map(|names| names.iter().map(|name| at(name, &[])).collect())
        .unwrap_or_default();
    let summary = get(state, &["summary"]);
    let mut out = fields(&[
        (
            "period",
            format!(
                "{} (round {}, version {})",
                at(state, &["period"]),
                at(state, &["round"]),
                at(state, &["version"])
            ),
        ),
        ("phase", at(status, &["phase"])),
        (
            "whose move",
            if whose.is_empty() {
                "nobody's".to_owned()
            } else {
                whose.join(", ")
            },
        ),
        ("upload due", when(get(status, &["upload_deadline_ms"]))),
        ("reveal by", when(get(status, &["reveal_deadline_ms"]))),
        (
            "lines",
            format!(
                "{} (agreed {}, disputed {}, one-sided {}, adjusted {})",
                at(summary, &["lines"]),
                at(summary, &["agreed"]),
                at(summary, &["disputed"]),
                at(summary, &["one_sided"]),
                at(summary, &["adjusted"])
            ),
        ),
        ("pending adj.", at(state, &["pending_adjustments"])),
    ]);
    let mut sides = Table::new(&[
        "side",
        "carrier",
        "next move",
        "since",
        "uploaded",
        "late",
        "settled pays",
    ]);
    let settled = get(summary, &["settled"]);
    for (idx, side) in get(status, &["sides"])
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        let pays = if idx == 0 { "a_pays_fen" } else { "b_pays_fen" };
        let late = match (
            side.get("late").and_then(Value::as_bool),
            side.get("late_by_ms").and_then(Value::as_u64),
        ) {
            (Some(true), Some(by)) => format!("LATE by {}", duration(by)),
            (Some(true), None) => "LATE".to_owned(),
            _ => "no".to_owned(),
        };
        sides.row(vec![
            at(side, &["side"]),
            at(side, &["carrier"]),
            at(side, &["action"]).to_lowercase(),
            when(get(side, &["since_ms"])),
            when(get(side, &["uploaded_at_ms"])),
            late,
            format!("{} yuan", yuan(get(settled, &[pays]))),
        ]);
    }
    out.push_str(&finance_fields(state));
    out.push('\n');
    out.push_str(&sides.render());
    out
}

/// The net amount, each finance approval and the payment, once the data is final.
fn finance_fields(state: &Value) -> String {
    let net = get(state, &["net"]);
    if net.is_null() {
        return String::new();
    }
    let party = |side: &Value| match side.as_str() {
        Some("A") => at(state, &["agreement", "party_a"]),
        Some("B") => at(state, &["agreement", "party_b"]),
        _ => "nobody".to_owned(),
    };
    let mark = |mark: &Value| match mark.get("msp_id") {
        Some(_) => format!(
            "{} ({}) at {}",
            at(mark, &["msp_id"]),
            at(mark, &["common_name"]),
            when(get(mark, &["at_ms"]))
        ),
        None => "-".to_owned(),
    };
    let payment = get(state, &["payment"]);
    fields(&[
        (
            "net",
            format!(
                "{} pays {} yuan",
                party(get(net, &["payer"])),
                yuan(get(net, &["amount_fen"]))
            ),
        ),
        ("approved A", mark(get(state, &["a", "approval"]))),
        ("approved B", mark(get(state, &["b", "approval"]))),
        (
            "payment",
            if payment.is_null() {
                "-".to_owned()
            } else {
                format!(
                    "{} by {}",
                    at(payment, &["reference"]),
                    mark(get(payment, &["recorded"]))
                )
            },
        ),
        ("received", mark(get(payment, &["acknowledged"]))),
    ])
}

async fn periods(args: &StaffArgs) -> Result<()> {
    with_staff(args, async |staff, printer| {
        let mut periods = Vec::new();
        let mut from = Value::Null;
        // Every page: a page of `PERIODS_PAGE` months, at most `PERIODS_MAX` in all.
        while periods.len() < PERIODS_MAX {
            let request = serde_json::json!({ "from": from, "limit": PERIODS_PAGE });
            let page = staff.query("periods_list", &request).await?;
            periods.extend(
                get(&page, &["periods"])
                    .as_array()
                    .cloned()
                    .unwrap_or_default(),
            );
            from = get(&page, &["next"]).clone();
            if from.is_null() {
                break;
            }
        }
        let json = serde_json::json!({ "periods": periods });
        printer.show(&json, || objects_table(&periods));
        Ok(())
    })
    .await
}

async fn confirm(args: &PeriodArgs) -> Result<()> {
    let period = args.period;
    with_staff(&args.staff, async |staff, printer| {
        let record = period_get(staff, period).await?;
        let version = get(&record, &["state", "version"])
            .as_u64()
            .context("the period record has no data version")?;
        let submitted = staff
            .submit(
                "confirm",
                &serde_json::json!({ "period": period, "version": version }),
                Vec::new(),
            )
            .await?;
        show_submitted(printer, &submitted, || {
            fields(&[
                ("period", period.to_string()),
                (
                    "confirmed",
                    format!("version {version} by {}", staff.msp_id()),
                ),
                ("phase", at(&submitted.answer, &["phase"])),
                ("net", at(&submitted.answer, &["final", "net_amount_fen"])),
            ])
        });
        Ok(())
    })
    .await
}
