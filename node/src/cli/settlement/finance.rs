//! After both settlement confirmations: finance approval (an identity whose certificate
//! carries `department=finance`; the contract refuses anyone else), the payer's payment
//! record and the payee's acknowledgement. And the agreement the admins propose and
//! accept before any period.

use std::path::PathBuf;

use anyhow::{Context as _, Result};
use netsettle_settlement::api::Digest;
use serde_json::Value;

use super::render::{at, fields, get, yuan};
use super::staff::{PeriodArgs, StaffArgs, show_submitted, with_staff};

#[derive(Debug, clap::Args)]
pub struct PayArgs {
    #[command(flatten)]
    on: PeriodArgs,
    /// The payment's reference in the paying bank's records.
    #[arg(long)]
    reference: String,
    /// The amount paid in fen: must be the final net amount.
    #[arg(long)]
    amount: u64,
}

#[derive(Debug, clap::Args)]
pub struct AckArgs {
    #[command(flatten)]
    on: PeriodArgs,
    /// The reference of the payment received, as the payer recorded it.
    #[arg(long)]
    reference: String,
}

#[derive(Debug, clap::Subcommand)]
pub enum AgreementCommand {
    /// Propose terms (admin): the agreement JSON (party_a, party_b, currency,
    /// tolerance_fen, tolerance_bp, reveal_window_ms, clock_margin_ms,
    /// upload_deadline_day).
    Propose {
        #[command(flatten)]
        staff: StaffArgs,
        /// The agreement file.
        #[arg(long)]
        file: PathBuf,
    },
    /// Accept the pending proposal (the other carrier's admin); it is shown first and
    /// accepted by its digest, so terms changed meanwhile are not accepted.
    Accept {
        #[command(flatten)]
        staff: StaffArgs,
        /// The digest (hex) of the proposal to accept (default: the pending one).
        #[arg(long)]
        digest: Option<String>,
    },
    /// The agreement in force and any pending proposal.
    Show {
        #[command(flatten)]
        staff: StaffArgs,
    },
}

pub async fn approve(args: &PeriodArgs) -> Result<()> {
    let period = args.period;
    with_staff(&args.staff, async |staff, printer| {
        let submitted = staff
            .submit(
                "approve",
                &serde_json::json!({ "period": period }),
                Vec::new(),
            )
            .await?;
        show_submitted(printer, &submitted, || {
            fields(&[
                ("period", period.to_string()),
                ("approved by", staff.msp_id().to_owned()),
                ("phase", at(&submitted.answer, &["phase"])),
            ])
        });
        Ok(())
    })
    .await
}

pub async fn ack(args: &AckArgs) -> Result<()> {
    let period = args.on.period;
    let request = serde_json::json!({ "period": period, "reference": args.reference });
    with_staff(&args.on.staff, async |staff, printer| {
        let submitted = staff.submit("ack", &request, Vec::new()).await?;
        show_submitted(printer, &submitted, || {
            fields(&[
                ("period", period.to_string()),
                ("received by", staff.msp_id().to_owned()),
                ("reference", args.reference.clone()),
                ("phase", at(&submitted.answer, &["phase"])),
            ])
        });
        Ok(())
    })
    .await
}

pub async fn pay(args: &PayArgs) -> Result<()> {
    let period = args.on.period;
    let request = serde_json::json!({
        "period": period, "reference": args.reference, "amount_fen": args.amount,
    });
    with_staff(&args.on.staff, async |staff, printer| {
        let submitted = staff.submit("pay", &request, Vec::new()).await?;
        show_submitted(printer, &submitted, || {
            fields(&[
                ("period", period.to_string()),
                ("paid by", staff.msp_id().to_owned()),
                (
                    "amount",
                    format!("{} yuan", yuan(&Value::from(args.amount))),
                ),
                ("reference", args.reference.clone()),
                ("phase", at(&submitted.answer, &["phase"])),
            ])
        });
        Ok(())
    })
    .await
}

pub async fn agreement(command: AgreementCommand) -> Result<()> {
    match command {
        AgreementCommand::Propose { staff, file } => {
            let terms: Value = serde_json::from_slice(&super::offline::read_bounded(&file)?)
                .with_context(|| format!("parsing {}", file.display()))?;
            with_staff(&staff, async |staff, printer| {
                let submitted = staff
                    .submit("agreement_propose", &terms, Vec::new())
                    .await?;
                show_submitted(printer, &submitted, || {
                    fields(&[("proposed", at(&submitted.answer, &["digest"]))])
                });
                Ok(())
            })
            .await
        }
        AgreementCommand::Accept { staff, digest } => {
            with_staff(&staff, async |staff, printer| {
                let digest: Digest = match digest {
                    Some(hex) => serde_json::from_value(Value::String(hex))
                        .context("--digest: expected 64 hex digits")?,
                    None => {
                        let current = staff.query("agreement_get", &serde_json::json!({})).await?;
                        serde_json::from_value(get(&current, &["proposal", "digest"]).clone())
                            .context("no agreement proposal is pending")?
                    }
                };
                let request = serde_json::json!({ "digest": digest });
                let submitted = staff
                    .submit("agreement_accept", &request, Vec::new())
                    .await?;
                show_submitted(printer, &submitted, || {
                    fields(&[
                        ("accepted", digest.to_string()),
                        ("version", at(&submitted.answer, &["version"])),
                    ])
                });
                Ok(())
            })
            .await
        }
        AgreementCommand::Show { staff } => {
            with_staff(&staff, async |staff, printer| {
                let current = staff.query("agreement_get", &serde_json::json!({})).await?;
                printer.show(&current, || format!("{current:#}\n"));
                Ok(())
            })
            .await
        }
    }
}
