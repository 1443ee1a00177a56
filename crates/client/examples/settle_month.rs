//! Drives one settlement month through the typed SDK, as both carriers' settlement and
//! finance systems would: each seals and uploads its report (the keys go into each
//! user's key store, `<identity>/keys/`), each reveals, the contract reconciles; Unicom
//! proposes an adjustment for every open line in one transaction (the lower of the two
//! figures, or the only one) and Mobile accepts them all in one; both confirm the current
//! version; the CSV export is printed. With the finance identities given, both finance
//! departments approve, the payer records the payment and the payee acknowledges it: the
//! period is closed.
//!
//! The consortium must be running with the settlement contract defined and an agreement
//! in force (as `scripts/demo.sh` sets them up). Run from the layout directory:
//!
//! ```text
//! cargo run -p netsettle-client --example settle_month -- 2026-10 \
//!     clients/unicommsp.toml crypto/unicom/users/settlement@unicom.example unicom.csv \
//!     clients/mobilemsp.toml crypto/mobile/users/settlement@mobile.example mobile.csv \
//!     [crypto/unicom/users/finance@unicom.example crypto/mobile/users/finance@mobile.example]
//! ```

use std::path::Path;

use netsettle_client::settlement::Lines;
use netsettle_client::{ClientError, Gateway, KeyStore, Settlement, Signer};
use netsettle_settlement::agreement::Side;
use netsettle_settlement::api::{AdjustmentEntry, ExportFormat};
use netsettle_settlement::reconcile::ReconciledLine;
use netsettle_settlement::units::Period;

/// One carrier's user: its connection, its signer, its key store.
struct Carrier {
    gateway: Gateway,
    signer: Signer,
    keys: KeyStore,
}

impl Carrier {
    async fn connect(profile: &str, identity: &str) -> Result<Carrier, ClientError> {
        let (gateway, signer) =
            Gateway::from_profile(Path::new(profile), Path::new(identity)).await?;
        let keys = KeyStore::for_identity(Path::new(identity))?;
        Ok(Carrier {
            gateway,
            signer,
            keys,
        })
    }

    fn settlement(&self) -> Settlement<'_> {
        Settlement::new(&self.gateway, &self.signer)
    }
}

/// The command line: the month's seven arguments and, optionally, both finance users.
struct Args {
    period: String,
    unicom: [String; 3],
    mobile: [String; 3],
    finance: Option<[String; 2]>,
}

fn parse_args(mut args: Vec<String>) -> Option<Args> {
    let finance = match args.len() {
        7 => None,
        9 => {
            let m_finance = args.pop()?;
            let u_finance = args.pop()?;
            Some([u_finance, m_finance])
        }
        _ => return None,
    };
    let mut args = args.into_iter();
    let mut next = || args.next();
    Some(Args {
        period: next()?,
        unicom: [next()?, next()?, next()?],
        mobile: [next()?, next()?, next()?],
        finance,
    })
}

#[tokio::main]
async fn main() {
    let Some(args) = parse_args(std::env::args().skip(1).collect()) else {
        eprintln!(
            "usage: settle_month PERIOD UNICOM_PROFILE UNICOM_IDENTITY UNICOM_CSV \
             MOBILE_PROFILE MOBILE_IDENTITY MOBILE_CSV [UNICOM_FINANCE MOBILE_FINANCE]"
        );
        std::process::exit(2);
    };
    if let Err(error) = run(&args).await {
        // One line, the contract's status and reason when it refused.
        eprintln!("settle_month: {error}");
        std::process::exit(1);
    }
}

async fn run(args: &Args) -> Result<(), ClientError> {
    let period: Period = args
        .period
        .parse()
        .map_err(|_| ClientError::Request(format!("{:?} is not YYYY-MM", args.period)))?;
    let [u_profile, u_identity, u_csv] = &args.unicom;
    let [m_profile, m_identity, m_csv] = &args.mobile;
    let read = |path: &str| {
        std::fs::read(path).map_err(|error| ClientError::Request(format!("{path}: {error}")))
    };
    let unicom = Carrier::connect(u_profile, u_identity).await?;
    let mobile = Carrier::connect(m_profile, m_identity).await?;
    settle_month(period, &unicom, &read(u_csv)?, &mobile, &read(m_csv)?).await?;
    if let Some([u_finance, m_finance]) = &args.finance {
        let unicom = Carrier::connect(u_profile, u_finance).await?;
        let mobile = Carrier::connect(m_profile, m_finance).await?;
        sign_off(period, &unicom, &mobile).await?;
    }
    Ok(())
}

/// The month up to the final data, step by step.
async fn settle_month(
    period: Period,
    unicom: &Carrier,
    unicom_csv: &[u8],
    mobile: &Carrier,
    mobile_csv: &[u8],
) -> Result<(), ClientError> {
    for (carrier, csv) in [(unicom, unicom_csv), (mobile, mobile_csv)] {
        let upload = carrier
            .settlement()
            .upload_csv(period, csv, &carrier.keys)
            .await?;
        println!(
            "{} uploaded round {} in block {} ({:?}{})",
            carrier.settlement().msp_id(),
            upload.answer.round,
            upload.block,
            upload.answer.phase,
            if upload.answer.late { ", late" } else { "" }
        );
    }
    for carrier in [unicom, mobile] {
        let reveal = carrier.settlement().reveal(period, &carrier.keys).await?;
        println!(
            "{} revealed in block {}: {:?}",
            carrier.settlement().msp_id(),
            reveal.block,
            reveal.answer.phase
        );
    }
    let Lines { lines, .. } = unicom.settlement().lines(period, true).await?;
    println!("{} open lines", lines.len());
    if !lines.is_empty() {
        let entries = lines.iter().map(proposal).collect();
        let proposed = unicom.settlement().adjust_many(period, entries).await?;
        let ids = proposed.answer.adjustment_ids;
        let decided = mobile
            .settlement()
            .decide_many(period, ids, Vec::new())
            .await?;
        println!(
            "{} adjustments proposed in block {}, accepted in block {}",
            decided.answer.accepted.len(),
            proposed.block,
            decided.block
        );
    }
    unicom.settlement().confirm(period).await?;
    let confirmed = mobile.settlement().confirm(period).await?;
    if let Some(data) = confirmed.answer.final_data {
        println!(
            "final: {} lines, {} pays {} {} fen, data sm3 {}",
            data.lines,
            data.payer.as_deref().unwrap_or("nobody"),
            data.payee.as_deref().unwrap_or("nobody"),
            data.net_amount_fen,
            data.data_sm3
        );
    }
    let csv = unicom
        .settlement()
        .export(period, ExportFormat::Csv)
        .await?;
    print!("{}", String::from_utf8_lossy(&csv));
    Ok(())
}

/// Finance: both approve the final data, the payer pays the net amount, the payee
/// acknowledges; the period is closed.
async fn sign_off(period: Period, unicom: &Carrier, mobile: &Carrier) -> Result<(), ClientError> {
    unicom.settlement().approve(period).await?;
    let approved = mobile.settlement().approve(period).await?;
    let Some(net) = approved.answer.net.filter(|net| net.payer.is_some()) else {
        println!(
            "both finance departments approved; nothing to pay: {:?}",
            approved.answer.phase
        );
        return Ok(());
    };
    let (payer, payee) = match net.payer {
        Some(Side::A) => (unicom, mobile),
        _ => (mobile, unicom),
    };
    let reference = format!("{period}-net-settlement");
    payer
        .settlement()
        .pay(period, &reference, net.amount_fen, None)
        .await?;
    let acked = payee.settlement().ack(period, &reference).await?;
    println!(
        "{} paid {} fen ({reference}); {} acknowledged: {:?}",
        payer.settlement().msp_id(),
        net.amount_fen,
        payee.settlement().msp_id(),
        acked.answer.phase
    );
    Ok(())
}

/// The adjustment Unicom proposes for an open line: the lower figures, or the only ones
/// (a line with none settles at nothing).
fn proposal(line: &ReconciledLine) -> AdjustmentEntry {
    let figures = match (&line.a, &line.b) {
        (Some(a), Some(b)) if b.amount_fen < a.amount_fen => Some(b),
        (Some(a), _) => Some(a),
        (None, b) => b.as_ref(),
    };
    AdjustmentEntry {
        line_no: line.line_no,
        quantity: figures.map_or(0, |figures| figures.quantity),
        amount_fen: figures.map_or(0, |figures| figures.amount_fen),
        reason: "settled at the lower reported figures".into(),
        attachment_sm3: None,
    }
}
