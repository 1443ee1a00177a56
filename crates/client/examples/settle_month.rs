//! Drives one settlement month through the typed SDK, as both carriers' settlement
//! systems would: each seals and uploads its report (the keys go into each user's key
//! store, `<identity>/keys/`), each reveals, the contract reconciles; every open line is
//! settled by an adjustment Unicom proposes (the lower of the two figures, or the only
//! one) and Mobile accepts; both confirm the current version; the final data and the
//! CSV export are printed.
//!
//! The consortium must be running with the settlement contract defined and an agreement
//! in force (as `scripts/demo.sh` sets them up). Run from the layout directory:
//!
//! ```text
//! cargo run -p netsettle-client --example settle_month -- 2026-10 \
//!     clients/unicommsp.toml crypto/unicom/users/settlement@unicom.example unicom.csv \
//!     clients/mobilemsp.toml crypto/mobile/users/settlement@mobile.example mobile.csv
//! ```

use std::path::Path;

use netsettle_client::settlement::Lines;
use netsettle_client::{ClientError, Gateway, KeyStore, Settlement, Signer};
use netsettle_settlement::api::{AdjustRequest, ExportFormat};
use netsettle_settlement::reconcile::ReconciledLine;
use netsettle_settlement::units::Period;

/// One carrier's settlement user: its connection, its signer, its key store.
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

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [
        period,
        u_profile,
        u_identity,
        u_csv,
        m_profile,
        m_identity,
        m_csv,
    ] = args.as_slice()
    else {
        eprintln!(
            "usage: settle_month PERIOD UNICOM_PROFILE UNICOM_IDENTITY UNICOM_CSV \
             MOBILE_PROFILE MOBILE_IDENTITY MOBILE_CSV"
        );
        std::process::exit(2);
    };
    let outcome = async {
        let period: Period = period
            .parse()
            .map_err(|_| ClientError::Request(format!("{period:?} is not YYYY-MM")))?;
        let unicom = Carrier::connect(u_profile, u_identity).await?;
        let mobile = Carrier::connect(m_profile, m_identity).await?;
        let read = |path: &str| {
            std::fs::read(path).map_err(|error| ClientError::Request(format!("{path}: {error}")))
        };
        settle_month(period, &unicom, &read(u_csv)?, &mobile, &read(m_csv)?).await
    }
    .await;
    if let Err(error) = outcome {
        // One line, the contract's status and reason when it refused.
        eprintln!("settle_month: {error}");
        std::process::exit(1);
    }
}

/// The month, step by step.
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
    for line in &lines {
        let proposed = unicom.settlement().adjust(&proposal(period, line)).await?;
        let id = proposed.answer.adjustment.id;
        mobile.settlement().accept(period, id).await?;
        println!("line {} settled by adjustment {id}", line.line_no);
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

/// The adjustment Unicom proposes for an open line: the lower figures, or the only ones.
fn proposal(period: Period, line: &ReconciledLine) -> AdjustRequest {
    let figures = match (&line.a, &line.b) {
        (Some(a), Some(b)) if b.amount_fen < a.amount_fen => b,
        (Some(a), _) => a,
        (None, Some(b)) => b,
        // A line always has a side's figures; settle at nothing if it had none.
        (None, None) => {
            return AdjustRequest {
                period,
                line_no: line.line_no,
                quantity: 0,
                amount_fen: 0,
                reason: "no figures reported".into(),
                attachment_sm3: None,
            };
        }
    };
    AdjustRequest {
        period,
        line_no: line.line_no,
        quantity: figures.quantity,
        amount_fen: figures.amount_fen,
        reason: "settled at the lower reported figures".into(),
        attachment_sm3: None,
    }
}
