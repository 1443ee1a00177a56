//! The offline settlement tools, no node needed. `report check` validates a CSV report and
//! prints its canonical digest, `report encrypt` seals it for upload under a fresh key
//! and commitment salt (kept in 0600 files until the reveal; a later round of the same
//! period reseals the same report with the salt kept, `--salt-file`), `reconcile-local`
//! previews the on-chain reconciliation of two plaintext reports, and `sample` writes a
//! seeded pair of realistic reports.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use netsettle_settlement::agreement::Agreement;
use netsettle_settlement::limits::REPORT_BYTES_MAX;
use netsettle_settlement::reconcile::LineStatus;
use netsettle_settlement::reconcile::reconcile;
use netsettle_settlement::report::Report;
use netsettle_settlement::sample::{SampleSpec, generate_pair};
use netsettle_settlement::seal::{SALT_BYTES, reseal_report_fresh, reveal_args, seal_report_fresh};
use netsettle_settlement::units::Period;
use netsettle_smcrypto::sm3;

#[derive(Debug, clap::Subcommand)]
pub enum ReportCommand {
    /// Validate a CSV report; print its lines, totals and canonical SM3.
    Check(ReportArgs),
    /// Seal a CSV report for upload: writes `request.json` and `ciphertext.bin` (the
    /// `upload` arguments), and `key.hex`, `salt.hex` and `reveal.json` (the `reveal`
    /// argument), all three 0600: keep them on the carrier's server until the reveal, and
    /// keep `salt.hex` for the whole period.
    Encrypt {
        #[command(flatten)]
        report: ReportArgs,
        /// Output directory (created; files are not overwritten).
        #[arg(long)]
        out_dir: PathBuf,
        /// Reseal for a later round of the same period: the salt (hex) of the first
        /// sealing, so the upload carries the same, binding, plaintext commitment under
        /// a fresh key.
        #[arg(long)]
        salt_file: Option<PathBuf>,
    },
}

#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// The period, YYYY-MM.
    #[arg(long)]
    pub period: Period,
    /// The reporting carrier's MSP id.
    #[arg(long)]
    pub carrier: String,
    /// The report (CSV; see the settlement crate's README).
    #[arg(long)]
    pub csv: PathBuf,
}

/// A report or agreement file, at most the contract's report size.
pub fn read_bounded(path: &Path) -> Result<Vec<u8>> {
    crate::shared::read_bounded(path, REPORT_BYTES_MAX)
}

fn load_report(args: &ReportArgs) -> Result<Report> {
    Report::from_csv(args.period, &args.carrier, &read_bounded(&args.csv)?)
        .with_context(|| format!("{}", args.csv.display()))
}

pub fn load_agreement(path: &Path) -> Result<Agreement> {
    let agreement: Agreement = serde_json::from_slice(&read_bounded(path)?)
        .with_context(|| format!("parsing {}", path.display()))?;
    agreement
        .check()
        .with_context(|| format!("{}", path.display()))?;
    Ok(agreement)
}

pub fn check(args: &ReportArgs) -> Result<()> {
    let report = load_report(args)?;
    let (payable, receivable) = report.totals_fen();
    println!("period      {}", report.period());
    println!("carrier     {}", report.carrier());
    println!("lines       {}", report.lines().len());
    println!("payable     {payable} fen");
    println!("receivable  {receivable} fen");
    println!("canonical   sm3 {}", sm3(&report.to_canonical()));
    Ok(())
}

pub fn write_new(path: &Path, bytes: &[u8], private: bool) -> Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    if private {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(bytes)
        .with_context(|| format!("writing {}", path.display()))?;
    file.sync_all()
        .with_context(|| format!("syncing {}", path.display()))
}

/// A salt file: the hex `report encrypt` wrote.
pub fn load_salt(path: &Path) -> Result<[u8; SALT_BYTES]> {
    let text = crate::shared::read_bounded(path, 4 * SALT_BYTES)?;
    let mut salt = [0u8; SALT_BYTES];
    hex::decode_to_slice(String::from_utf8_lossy(&text).trim(), &mut salt)
        .with_context(|| format!("{}: expected {} hex digits", path.display(), 2 * SALT_BYTES))?;
    Ok(salt)
}

pub fn encrypt(args: &ReportArgs, out_dir: &Path, salt_file: Option<&Path>) -> Result<()> {
    let report = load_report(args)?;
    let (sealed, opening) = match salt_file {
        Some(path) => reseal_report_fresh(&report, load_salt(path)?)?,
        None => seal_report_fresh(&report)?,
    };
    std::fs::create_dir_all(out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    let upload_args = sealed.upload_args();
    let [request, ciphertext] = upload_args.as_slice() else {
        bail!("upload arguments have an unexpected shape");
    };
    write_new(
        &out_dir.join("key.hex"),
        hex::encode(opening.key.as_bytes()).as_bytes(),
        true,
    )?;
    write_new(
        &out_dir.join("salt.hex"),
        hex::encode(opening.salt).as_bytes(),
        true,
    )?;
    let reveal = reveal_args(report.period(), &opening);
    let [reveal_request] = reveal.as_slice() else {
        bail!("reveal arguments have an unexpected shape");
    };
    write_new(&out_dir.join("reveal.json"), reveal_request, true)?;
    write_new(&out_dir.join("request.json"), request, false)?;
    write_new(&out_dir.join("ciphertext.bin"), ciphertext, false)?;
    println!("key_commitment        {}", sealed.key_commitment);
    println!("plaintext_commitment  {}", sealed.plaintext_commitment);
    println!(
        "ciphertext            {} bytes, sm3 {}",
        ciphertext.len(),
        sm3(ciphertext)
    );
    println!(
        "wrote {}/{{request.json,ciphertext.bin,key.hex,salt.hex,reveal.json}}",
        out_dir.display()
    );
    Ok(())
}

pub fn reconcile_local(
    agreement: &Path,
    period: Period,
    a: &Path,
    b: &Path,
    show: usize,
) -> Result<()> {
    let agreement = load_agreement(agreement)?;
    let report_a = Report::from_csv(period, &agreement.party_a, &read_bounded(a)?)
        .with_context(|| format!("{}", a.display()))?;
    let report_b = Report::from_csv(period, &agreement.party_b, &read_bounded(b)?)
        .with_context(|| format!("{}", b.display()))?;
    let result = reconcile(&agreement, &report_a, &report_b)?;
    let summary = &result.summary;
    println!(
        "lines {}: agreed {}, disputed {}, one-sided {}",
        summary.lines, summary.agreed, summary.disputed, summary.one_sided
    );
    println!(
        "settled so far: {} pays {} fen, {} pays {} fen",
        agreement.party_a,
        summary.settled.a_pays_fen,
        agreement.party_b,
        summary.settled.b_pays_fen
    );
    for line in result
        .lines
        .iter()
        .filter(|line| line.status.is_open())
        .take(show)
    {
        let status = if line.status == LineStatus::OneSided {
            "one-sided"
        } else {
            "disputed"
        };
        let amount = |figures: &Option<netsettle_settlement::reconcile::Figures>| {
            figures
                .as_ref()
                .map_or("-".to_owned(), |f| f.amount_fen.to_string())
        };
        println!(
            "  line {:>6} {status:<9} {} {} payer {}: A {} / B {}{}",
            line.line_no,
            line.key.item,
            line.key.area,
            agreement.party(line.key.payer),
            amount(&line.a),
            amount(&line.b),
            line.note
                .as_ref()
                .map(|note| format!(" ({})", note.reason))
                .unwrap_or_default()
        );
    }
    Ok(())
}

pub fn sample(
    agreement: &Path,
    period: Period,
    lines: usize,
    seed: u64,
    out_dir: &Path,
) -> Result<()> {
    let agreement = load_agreement(agreement)?;
    let (report_a, report_b) =
        generate_pair(&SampleSpec::typical(seed, period, lines), &agreement)?;
    std::fs::create_dir_all(out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    for report in [&report_a, &report_b] {
        let path = out_dir.join(format!("{period}-{}.csv", report.carrier()));
        write_new(&path, &report.to_csv(), false)?;
        println!("wrote {} ({} lines)", path.display(), report.lines().len());
    }
    Ok(())
}
