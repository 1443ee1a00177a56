//! `netsettle settlement …`: the settlement month for a carrier's staff, and the offline
//! report tools.
//!
//! The staff commands (`upload`, `reveal`, `status`, `periods`, `lines`, `dispute`,
//! `adjust`, `accept`, `reject`, `confirm`, `approve`, `pay`, `ack`, `export`, `history`,
//! `watch`, and the admins' `agreement`) connect like `tx invoke`, with the carrier's
//! connection profile and the caller's identity directory, and call the settlement
//! contract by name with its typed requests (`netsettle_settlement::api`): nobody writes
//! JSON by hand or scrapes values out of output. Each finds what it needs on the chain
//! itself (`confirm` the current version, `reveal` the key matching the on-chain
//! commitment, `accept --all-pending` the counterparty's pending adjustments).
//!
//! `upload` decodes the report on the caller's machine (UTF-8, UTF-8 with BOM or GBK) and
//! seals it there through the SDK (`netsettle_client::Settlement`); the SM4 key and
//! commitment salt go into the SDK's key store (`IDENTITY/keys/`, or `--key-store`: 0600
//! files in a 0700 directory) before anything is sent, never onto the command line, into
//! `ps` or onto the terminal, and `reveal` takes them from there (`--auto` follows the
//! chain's events until both reports are in). `adjust --file` and `accept`/`reject` of
//! many ids are one bulk transaction each (`adjust_propose_many`, `adjust_decide_many`).
//! `watch` follows the SDK's event stream from a height or after a cursor it printed.
//!
//! Output: a readable table by default; `--output json` prints one stable JSON document on
//! stdout and nothing else there. Progress bars (sealing, replaying a ledger) draw on
//! stderr and only on a terminal. Every failure is one line on stderr and a non-zero exit
//! status that says what kind of failure it was ([`client::Failure::exit_code`]).
//!
//! The offline tools (`report check|encrypt`, `reconcile-local`, `sample`, and `audit`,
//! which replays a peer's ledger) need no node.

use std::path::PathBuf;

use anyhow::Result;
use netsettle_settlement::units::Period;

mod audit;
mod client;
mod finance;
mod offline;
mod render;
mod review;
mod staff;
mod time;
mod watch;

pub use client::exit_code;
pub use offline::ReportCommand;
pub use render::OutputArgs;
use staff::StaffArgs;

#[derive(Debug, clap::Subcommand)]
pub enum SettlementCommand {
    /// Seal a report locally (fresh SM4 key, kept in the key store) and upload it.
    Upload(staff::UploadArgs),
    /// Reveal this carrier's key for a period (found in the key store); `--auto` first
    /// waits until both reports are uploaded.
    Reveal(staff::RevealArgs),
    /// A period's phase, whose move it is and since when, deadlines, lateness, totals.
    Status(staff::PeriodArgs),
    /// Every period with its phase and whose move it is.
    Periods(StaffArgs),
    /// The reconciled lines of a period (all pages); `--open` for disputed and
    /// one-sided lines only.
    Lines(staff::LinesArgs),
    /// Mark a settled line disputed.
    Dispute(staff::DisputeArgs),
    /// Propose new figures for one line, or for many from a CSV file
    /// (`line_no,quantity,amount_fen,reason`).
    Adjust(staff::AdjustArgs),
    /// Accept the counterparty's adjustments: ids, or `--all-pending`.
    Accept(staff::DecideArgs),
    /// Reject the counterparty's adjustments (a reason is required).
    Reject(staff::DecideArgs),
    /// Confirm the current data version of a period (found on the chain).
    Confirm(staff::PeriodArgs),
    /// Finance: approve the final settlement data (a `department=finance` identity).
    Approve(staff::PeriodArgs),
    /// Finance: record the payment of the final net amount (the paying carrier).
    Pay(staff::PayArgs),
    /// Finance: acknowledge receipt of the payment (the paid carrier); closes the period.
    Ack(staff::AckArgs),
    /// Write the finance export of a final period, every page, to a file.
    Export(staff::ExportArgs),
    /// Who did what and when: the period's audit trail, or one line's history.
    History(staff::HistoryArgs),
    /// Follow the settlement contract's events as they are committed.
    Watch(staff::WatchArgs),
    /// The agreement between the carriers (admins): propose, accept, show.
    #[command(subcommand)]
    Agreement(staff::AgreementCommand),
    /// Replay a period from a peer's ledger (read-only) through the contract and compare
    /// the re-derived final data with the committed one.
    Audit {
        /// The peer's ledger directory (opened read-only).
        #[arg(long)]
        ledger: PathBuf,
        /// The period, YYYY-MM.
        #[arg(long)]
        period: Period,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Settlement reports offline: check, encrypt for upload.
    #[command(subcommand)]
    Report(ReportCommand),
    /// Reconcile two plaintext reports locally, as the contract will after the reveal.
    ReconcileLocal {
        /// The agreement (JSON: party_a, party_b, currency, tolerance_fen, tolerance_bp,
        /// reveal_window_ms, clock_margin_ms, upload_deadline_day).
        #[arg(long)]
        agreement: PathBuf,
        /// The period, YYYY-MM.
        #[arg(long)]
        period: Period,
        /// Party A's report (CSV).
        #[arg(long)]
        a: PathBuf,
        /// Party B's report (CSV).
        #[arg(long)]
        b: PathBuf,
        /// Open lines to print at most.
        #[arg(long, default_value_t = 20)]
        show: usize,
    },
    /// Write a seeded pair of realistic reports for both parties of an agreement.
    Sample {
        /// The agreement (JSON).
        #[arg(long)]
        agreement: PathBuf,
        /// The period, YYYY-MM.
        #[arg(long)]
        period: Period,
        /// Line keys to generate.
        #[arg(long, default_value_t = 3_000)]
        lines: usize,
        /// PRNG seed.
        #[arg(long, default_value_t = 2026)]
        seed: u64,
        /// Directory for `<period>-<msp>.csv`.
        #[arg(long)]
        out_dir: PathBuf,
    },
}

pub fn run(command: SettlementCommand) -> Result<()> {
    match command {
        SettlementCommand::Report(ReportCommand::Check(args)) => offline::check(&args),
        SettlementCommand::Report(ReportCommand::Encrypt {
            report,
            out_dir,
            salt_file,
        }) => offline::encrypt(&report, &out_dir, salt_file.as_deref()),
        SettlementCommand::ReconcileLocal {
            agreement,
            period,
            a,
            b,
            show,
        } => offline::reconcile_local(&agreement, period, &a, &b, show),
        SettlementCommand::Audit {
            ledger,
            period,
            output,
        } => audit::run(&ledger, period, output.printer()),
        SettlementCommand::Sample {
            agreement,
            period,
            lines,
            seed,
            out_dir,
        } => offline::sample(&agreement, period, lines, seed, &out_dir),
        online => crate::shared::runtime()?.block_on(staff::run(online)),
    }
}
