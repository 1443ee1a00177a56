//! Typed calls of the settlement contract over a [`Gateway`]: one method per contract
//! function, typed requests and answers, no JSON in the caller's code.
//!
//! Submitted calls ([`Submitted`]) come back once every endorsing peer committed the
//! transaction as valid, with its id, block and the contract's events; a transaction
//! committed invalid is [`ClientError::NotValid`]. The contract's refusals are
//! [`ClientError::Contract`] with its status code and one-line reason
//! ([`ClientError::status`]). Listings (`lines`, `audit_trail`, `export`) read every page.
//!
//! [`Settlement::upload`] seals the report here, with a fresh SM4 key and nonce; the salt
//! is fresh for a period's first sealing and reused from the [`KeyStore`] afterwards (a
//! later round must commit to the same report under the same salt). The key and salt go
//! into the key store *before* the upload is submitted, so a crash after the upload
//! landed cannot lose the only key that opens it. [`Settlement::reveal`] finds the key
//! itself: the one whose commitment the chain recorded for this carrier's upload.

use netsettle_protocol::{ContractEvent, ContractId, Response, TxId, ValidationCode};
use netsettle_settlement::agreement::{Agreement, Side};
use netsettle_settlement::api::{
    AcceptAgreementRequest, AckRequest, ActingUser, AdjustManyRequest, AdjustRequest,
    AdjustmentEntry, AdjustmentRequest, ConfirmRequest, DecideManyRequest, DecideRequest, Digest,
    DisputeRequest, ExportFormat, ExportRequest, HexBytes, LineHistoryRequest, ListRequest,
    PayRequest, PeriodRequest, PeriodsListRequest, RejectEntry, RevealRequest, UploadRequest,
    to_json,
};
use netsettle_settlement::contract::{CONTRACT_NAME, CONTRACT_VERSION};
use netsettle_settlement::finance::{FinalData, TxLocation, export_csv, export_json};
use netsettle_settlement::history::LineEvent;
use netsettle_settlement::reconcile::{ReconciledLine, Summary};
use netsettle_settlement::report::{Report, SourceEncoding, decode_report_bytes};
use netsettle_settlement::seal::{Opening, SealedReport, reseal_report_fresh, seal_report_fresh};
use netsettle_settlement::store::{AgreementProposal, AgreementRecord};
use netsettle_settlement::units::Period;
use netsettle_settlement::workflow::{
    Adjustment, AuditEntry, Failure, Fault, NetPosition, Payment, PeriodState, PeriodStatus, Phase,
    SideStatus,
};
use serde::de::DeserializeOwned;

use crate::events::ChainEvent;
use crate::keystore::KeyStore;
use crate::limits::{PAGE_ENTRIES, PAGES_MAX};
use crate::{ClientError, Gateway, Signer};

/// A settlement transaction committed valid on every endorsing peer.
#[derive(Debug, Clone)]
pub struct Submitted<T> {
    /// The transaction id.
    pub tx_id: TxId,
    /// The block holding it.
    pub block: u64,
    /// The events the contract emitted, in order.
    pub events: Vec<ContractEvent>,
    /// The contract's answer.
    pub answer: T,
}

impl<T> Submitted<T> {
    /// The first event named `name`, if the contract emitted one.
    pub fn event(&self, name: &str) -> Option<&ContractEvent> {
        self.events.iter().find(|event| event.name == name)
    }
}

/// `upload`'s answer, with what the upload committed to and whether it came late.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadReceipt {
    /// The period.
    pub period: Period,
    /// The encoding the report file was in (UTF-8, UTF-8 with a BOM, GBK), for
    /// [`Settlement::upload_csv`]; `None` for a report given parsed.
    pub source_encoding: Option<SourceEncoding>,
    /// The round the upload belongs to.
    pub round: u32,
    /// The phase after it (`Revealing` once both reports are in).
    pub phase: Phase,
    /// The commitment to this round's key and salt.
    pub key_commitment: Digest,
    /// The commitment to the report.
    pub plaintext_commitment: Digest,
    /// The upload came after the upload deadline plus the clock margin.
    pub late: bool,
    /// How far past the upload deadline, when late.
    pub late_by_ms: Option<u64>,
}

/// What a step that can move the period on answers (`reveal`, `reset`): the phase after
/// it and, when it reconciled, the summary.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct StepAnswer {
    /// The period.
    pub period: Period,
    /// The phase after the step.
    pub phase: Phase,
    /// The round, when the answer names it.
    #[serde(default)]
    pub round: Option<u32>,
    /// The data version, once reconciled.
    #[serde(default)]
    pub version: Option<u64>,
    /// Counts and totals, once reconciled.
    #[serde(default)]
    pub summary: Option<Summary>,
    /// The report that failed to open, if one did.
    #[serde(default)]
    pub failure: Option<Failure>,
    /// The carrier in default, when the period was resolved from the other's report.
    #[serde(default)]
    pub default: Option<String>,
    /// Faults a `reset` recorded.
    #[serde(default)]
    pub faults: Vec<Fault>,
}

/// `period_get`: the period record and its status at the query's time. A period nothing
/// was uploaded for yet has no record (`recorded` false, `state` `None`) and the status
/// it starts with under the agreement in force.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct PeriodView {
    /// Whether the period has a record on the chain.
    #[serde(default = "recorded_default")]
    pub recorded: bool,
    /// The full record, once there is one.
    pub state: Option<PeriodState>,
    /// The reveal deadline of the current round.
    pub deadline_ms: Option<u64>,
    /// When `reset` may close the round.
    pub closable_after_ms: Option<u64>,
    /// Phase, whose move, deadlines, who is late.
    pub status: PeriodStatus,
}

fn recorded_default() -> bool {
    true
}

impl PeriodView {
    /// The record, or [`ClientError::Request`] naming the period when it has none yet.
    pub fn record(&self) -> Result<&PeriodState, ClientError> {
        self.state.as_ref().ok_or_else(|| {
            ClientError::Request("the period has no record yet: nothing was uploaded".into())
        })
    }

    /// The side `msp_id` is, if a party (`None` too before the period has a record).
    pub fn side_of(&self, msp_id: &str) -> Option<Side> {
        self.state.as_ref()?.agreement.side_of(msp_id)
    }
}

/// One period of [`Settlement::periods`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct PeriodRow {
    /// The period.
    pub period: Period,
    /// Its phase.
    pub phase: Phase,
    /// The carriers who must act next.
    pub whose_move: Vec<String>,
    /// Each carrier's move, since when, lateness.
    pub sides: [SideStatus; 2],
    /// The round.
    pub round: u32,
    /// The data version (0 before reconciliation).
    pub version: u64,
    /// Counts and totals, once reconciled.
    pub summary: Option<Summary>,
    /// Who pays how much, once final.
    pub net: Option<NetPosition>,
    /// The payment, once recorded.
    pub payment: Option<Payment>,
}

/// `line_history`: a line and every step on it, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct LineHistory {
    /// The period.
    pub period: Period,
    /// The line.
    pub line_no: u64,
    /// The line as it stands.
    pub line: ReconciledLine,
    /// The reconciliation (both figures), then disputes and adjustments.
    pub entries: Vec<HistoryEntry>,
}

/// One step of a line's history and where its transaction was committed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct HistoryEntry {
    /// Who did what, when, in which transaction.
    #[serde(flatten)]
    pub event: LineEvent,
    /// Its block and position, once committed.
    pub location: Option<TxLocation>,
}

/// `adjust_propose_many`'s answer.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct AdjustmentsProposed {
    /// The period.
    pub period: Period,
    /// The proposing carrier.
    pub by: String,
    /// How many were proposed.
    pub count: u64,
    /// Their ids, in the order given (the first 1,000).
    pub adjustment_ids: Vec<u64>,
    /// Their lines, in the same order (the first 1,000).
    pub line_nos: Vec<u64>,
}

/// `adjust_decide_many`'s answer.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct AdjustmentsDecided {
    /// The period.
    pub period: Period,
    /// The deciding carrier.
    pub by: String,
    /// The data version after it.
    pub version: u64,
    /// The adjustments accepted.
    pub accepted: Vec<u64>,
    /// The adjustments rejected.
    pub rejected: Vec<u64>,
}

/// `approve`'s answer.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct Approved {
    /// The period.
    pub period: Period,
    /// The approving carrier.
    pub by: String,
    /// Both carriers' finance have approved now.
    pub both: bool,
    /// The phase after it (`Closed` when there is nothing to pay).
    pub phase: Phase,
    /// Who pays how much.
    pub net: Option<NetPosition>,
}

/// `pay`'s and `ack`'s answer.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct PaymentAnswer {
    /// The period.
    pub period: Period,
    /// The carrier that paid or acknowledged.
    pub by: String,
    /// The payment as recorded.
    pub payment: Option<Payment>,
    /// The phase after an acknowledgement (`Closed`).
    #[serde(default)]
    pub phase: Option<Phase>,
}

/// Every reconciled line (or every open one) and the data version they belong to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lines {
    /// The data version.
    pub version: u64,
    /// The lines, by line number.
    pub lines: Vec<ReconciledLine>,
}

/// `dispute`'s answer.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct Disputed {
    /// The period.
    pub period: Period,
    /// The line.
    pub line_no: u64,
    /// The disputing carrier.
    pub by: String,
    /// Why.
    pub reason: String,
    /// The data version after it.
    pub version: u64,
}

/// The answer of `adjust_propose`, `adjust_accept` and `adjust_reject`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct AdjustmentAnswer {
    /// The period.
    pub period: Period,
    /// The carrier that proposed or decided.
    pub by: String,
    /// The adjustment as it now stands.
    pub adjustment: Adjustment,
    /// The data version after a decision.
    #[serde(default)]
    pub version: Option<u64>,
}

/// `confirm`'s answer: the final data when this confirmation was the second.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct Confirmed {
    /// The period.
    pub period: Period,
    /// The phase after it.
    pub phase: Phase,
    /// The final data, when the period became final.
    #[serde(rename = "final")]
    pub final_data: Option<FinalData>,
}

/// `final_get`: the final data and the transaction that made it final.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct FinalView {
    /// The final record.
    pub data: FinalData,
    /// Where its transaction sits on the ledger.
    pub location: TxLocation,
}

/// `agreement_get`: the agreement in force and any pending proposal.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct AgreementView {
    /// In force.
    pub agreement: Option<AgreementRecord>,
    /// Proposed, awaiting the other carrier's admin.
    pub proposal: Option<AgreementProposal>,
}

/// `agreement_propose`'s answer: the digest the other admin accepts.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct Proposed {
    /// [`Agreement::digest`] of the terms.
    pub digest: Digest,
}

/// One page of `lines_get`.
#[derive(serde::Deserialize)]
struct LinesPage {
    version: u64,
    lines: Vec<ReconciledLine>,
    next: Option<u64>,
}

/// One page of `periods_list`.
#[derive(serde::Deserialize)]
struct PeriodsPage {
    periods: Vec<PeriodRow>,
    next: Option<Period>,
}

/// One page of `audit_get`.
#[derive(serde::Deserialize)]
struct AuditPage {
    entries: Vec<AuditEntry>,
    next: Option<u64>,
}

/// One page of `export` in JSON.
#[derive(serde::Deserialize)]
struct ExportPage {
    location: TxLocation,
    data: FinalData,
    lines: Vec<ReconciledLine>,
}

/// `upload`'s own answer.
#[derive(serde::Deserialize)]
struct UploadAnswer {
    round: u32,
    phase: Phase,
}

/// The lateness fields of the `ReportUploaded` event.
#[derive(serde::Deserialize)]
struct UploadedEvent {
    #[serde(default)]
    late: bool,
    #[serde(default)]
    late_by_ms: Option<u64>,
}

/// The settlement contract as one user (its [`Signer`]) calls it through a [`Gateway`].
pub struct Settlement<'a> {
    gateway: &'a Gateway,
    signer: &'a Signer,
    contract: ContractId,
    on_behalf_of: Option<ActingUser>,
}

impl<'a> Settlement<'a> {
    /// The settlement contract (its built-in name and version) for `signer`.
    pub fn new(gateway: &'a Gateway, signer: &'a Signer) -> Self {
        Settlement {
            gateway,
            signer,
            contract: ContractId {
                name: CONTRACT_NAME.to_owned(),
                version: CONTRACT_VERSION.to_owned(),
            },
            on_behalf_of: None,
        }
    }

    /// The same calls, each recording `user` as the one the signer acts for (a gateway
    /// signing with the carrier's identity for an authenticated caller).
    pub fn acting_for(mut self, user: ActingUser) -> Self {
        self.on_behalf_of = Some(user);
        self
    }

    /// The same calls against another deployed name or version of the contract.
    pub fn with_contract(mut self, contract: ContractId) -> Self {
        self.contract = contract;
        self
    }

    /// The caller's organisation.
    pub fn msp_id(&self) -> &str {
        &self.signer.identity().msp_id
    }

    // ---- agreement ---------------------------------------------------------------

    /// `agreement_get`.
    pub async fn agreement(&self) -> Result<AgreementView, ClientError> {
        self.query("agreement_get", &serde_json::json!({})).await
    }

    /// `agreement_propose` (an admin): the digest the other carrier's admin accepts.
    pub async fn propose_agreement(
        &self,
        agreement: &Agreement,
    ) -> Result<Submitted<Proposed>, ClientError> {
        self.invoke("agreement_propose", vec![to_json(agreement)])
            .await
    }

    /// `agreement_accept` (the other carrier's admin) of the proposal with `digest`.
    pub async fn accept_agreement(
        &self,
        digest: Digest,
    ) -> Result<Submitted<AgreementRecord>, ClientError> {
        let request = AcceptAgreementRequest { digest };
        self.invoke("agreement_accept", vec![to_json(&request)])
            .await
    }

    // ---- upload and reveal -------------------------------------------------------

    /// Reads a CSV report file (see `netsettle_settlement::report`) of the caller's
    /// carrier for `period`, as billing exports come: UTF-8, UTF-8 with a byte-order mark
    /// or GBK, converted here; anything else is refused naming the offending byte. Then
    /// uploads it ([`Settlement::upload`]).
    pub async fn upload_csv(
        &self,
        period: Period,
        csv: &[u8],
        keys: &KeyStore,
    ) -> Result<Submitted<UploadReceipt>, ClientError> {
        let settle = netsettle_settlement::SettleError::from;
        let (text, encoding) = decode_report_bytes(csv).map_err(settle)?;
        let report = Report::from_csv(period, self.msp_id(), text.as_bytes()).map_err(settle)?;
        let mut submitted = self.upload(&report, keys).await?;
        submitted.answer.source_encoding = Some(encoding);
        Ok(submitted)
    }

    /// Seals `report` (the caller's carrier's) and uploads it; the key and salt are kept
    /// in `keys` before anything is submitted.
    pub async fn upload(
        &self,
        report: &Report,
        keys: &KeyStore,
    ) -> Result<Submitted<UploadReceipt>, ClientError> {
        if report.carrier() != self.msp_id() {
            return Err(ClientError::Request(format!(
                "the report is {}'s; {} can upload only its own",
                report.carrier(),
                self.msp_id()
            )));
        }
        let period = report.period();
        let channel = self.gateway.channel();
        let round = match self.status(period).await {
            Ok(view) => view.state.map_or(0, |state| state.round),
            Err(ClientError::Contract { status: 404, .. }) => 0,
            Err(error) => return Err(error),
        };
        let (sealed, opening) = match keys.salt(channel, period, round)? {
            Some(salt) => reseal_report_fresh(report, salt)?,
            None => seal_report_fresh(report)?,
        };
        keys.put(channel, period, round, &opening)?;
        let submitted: Submitted<UploadAnswer> =
            self.invoke("upload", self.upload_args(&sealed)).await?;
        let answer = &submitted.answer;
        if answer.round != round {
            // Someone closed the round between the query and the upload: keep the key
            // under the round the chain filed it in as well.
            keys.put(channel, period, answer.round, &opening)?;
        }
        let lateness = match submitted.event("ReportUploaded") {
            Some(event) => serde_json::from_slice::<UploadedEvent>(&event.payload)
                .map_err(|error| answer_error("upload", &error))?,
            None => UploadedEvent {
                late: false,
                late_by_ms: None,
            },
        };
        let receipt = UploadReceipt {
            period,
            source_encoding: None,
            round: answer.round,
            phase: answer.phase,
            key_commitment: sealed.key_commitment.into(),
            plaintext_commitment: sealed.plaintext_commitment.into(),
            late: lateness.late,
            late_by_ms: lateness.late_by_ms,
        };
        Ok(Submitted {
            tx_id: submitted.tx_id,
            block: submitted.block,
            events: submitted.events,
            answer: receipt,
        })
    }

    /// Reveals the key and salt of the caller's upload for `period`, found in `keys` by
    /// the key commitment the chain recorded.
    pub async fn reveal(
        &self,
        period: Period,
        keys: &KeyStore,
    ) -> Result<Submitted<StepAnswer>, ClientError> {
        let view = self.status(period).await?;
        let state = view.record()?;
        let side = view.side_of(self.msp_id()).ok_or_else(|| {
            ClientError::Request(format!("{} is not a party to {period}", self.msp_id()))
        })?;
        let upload = state.side(side).upload.clone().ok_or_else(|| {
            ClientError::Request(format!("{} has no upload for {period}", self.msp_id()))
        })?;
        let channel = self.gateway.channel();
        let mut found = keys.find(channel, period, upload.round, &upload.key_commitment.0)?;
        // A round closed between sealing and submitting files the key under an earlier
        // round's name; look there too.
        for round in 0..=state.round {
            if found.is_some() {
                break;
            }
            found = keys.find(channel, period, round, &upload.key_commitment.0)?;
        }
        let opening = found.ok_or_else(|| {
            ClientError::Request(format!(
                "no key in {} matches the key commitment {} of {}'s upload for {period}",
                keys.dir().display(),
                upload.key_commitment,
                self.msp_id()
            ))
        })?;
        self.invoke(
            "reveal",
            vec![to_json(&self.reveal_request(period, &opening))],
        )
        .await
    }

    /// Waits until both reports of `period` are on the chain, then reveals
    /// ([`Settlement::reveal`]): for a carrier that uploaded first and reveals as soon as
    /// it may. It follows the chain's events from the block of the caller's own upload
    /// until `ReportsUploaded` for the period; it waits as long as that takes (bound it
    /// with a timeout) and fails if the event stream ends.
    pub async fn reveal_when_ready(
        &self,
        period: Period,
        keys: &KeyStore,
    ) -> Result<Submitted<StepAnswer>, ClientError> {
        let view = self.status(period).await?;
        let state = view.record()?;
        if state.phase == Phase::Uploading {
            let own = view
                .side_of(self.msp_id())
                .and_then(|side| state.side(side).upload.clone())
                .ok_or_else(|| {
                    ClientError::Request(format!("{} has no upload for {period}", self.msp_id()))
                })?;
            let tx_id = TxId(netsettle_smcrypto::Hash(own.tx_id.0));
            let (_, (block, _)) = self
                .gateway
                .wait_committed_at_org(self.msp_id(), &tx_id)
                .await?;
            self.until_both_uploaded(period, block).await?;
        }
        self.reveal(period, keys).await
    }

    /// Follows events from `height` until `ReportsUploaded` for `period`.
    async fn until_both_uploaded(&self, period: Period, height: u64) -> Result<(), ClientError> {
        #[derive(serde::Deserialize)]
        struct Uploaded {
            period: Period,
        }
        let mut stream = self.gateway.events(self.signer, height)?;
        loop {
            if let ChainEvent::Contract(event) = stream.next().await?
                && event.contract.name == self.contract.name
                && event.name == "ReportsUploaded"
                && serde_json::from_slice::<Uploaded>(&event.payload)
                    .is_ok_and(|uploaded| uploaded.period == period)
            {
                return Ok(());
            }
        }
    }

    /// `reset`: closes a round past its deadline plus the clock margin.
    pub async fn reset(&self, period: Period) -> Result<Submitted<StepAnswer>, ClientError> {
        self.invoke("reset", vec![to_json(&self.period_request(period))])
            .await
    }

    // ---- review ------------------------------------------------------------------

    /// `dispute`: a settled line becomes disputed.
    pub async fn dispute(
        &self,
        period: Period,
        line_no: u64,
        reason: &str,
    ) -> Result<Submitted<Disputed>, ClientError> {
        let request = DisputeRequest {
            period,
            line_no,
            reason: reason.to_owned(),
            on_behalf_of: self.on_behalf_of.clone(),
        };
        self.invoke("dispute", vec![to_json(&request)]).await
    }

    /// `adjust_propose`: new figures for one line.
    pub async fn adjust(
        &self,
        period: Period,
        entry: &AdjustmentEntry,
    ) -> Result<Submitted<AdjustmentAnswer>, ClientError> {
        let request = AdjustRequest {
            period,
            line_no: entry.line_no,
            quantity: entry.quantity,
            amount_fen: entry.amount_fen,
            reason: entry.reason.clone(),
            attachment_sm3: entry.attachment_sm3,
            on_behalf_of: self.on_behalf_of.clone(),
        };
        self.invoke("adjust_propose", vec![to_json(&request)]).await
    }

    /// `adjust_propose_many`: many lines' new figures in one transaction, all or nothing
    /// (a bad entry refuses them all, naming `adjustments[i]`).
    pub async fn adjust_many(
        &self,
        period: Period,
        adjustments: Vec<AdjustmentEntry>,
    ) -> Result<Submitted<AdjustmentsProposed>, ClientError> {
        let request = AdjustManyRequest {
            period,
            adjustments,
            on_behalf_of: self.on_behalf_of.clone(),
        };
        self.invoke("adjust_propose_many", vec![to_json(&request)])
            .await
    }

    /// `adjust_decide_many`: accept and reject many of the other carrier's adjustments in
    /// one transaction, all or nothing.
    pub async fn decide_many(
        &self,
        period: Period,
        accept: Vec<u64>,
        reject: Vec<RejectEntry>,
    ) -> Result<Submitted<AdjustmentsDecided>, ClientError> {
        let request = DecideManyRequest {
            period,
            accept,
            reject,
            on_behalf_of: self.on_behalf_of.clone(),
        };
        self.invoke("adjust_decide_many", vec![to_json(&request)])
            .await
    }

    /// `adjust_accept` of the other carrier's adjustment.
    pub async fn accept(
        &self,
        period: Period,
        adjustment_id: u64,
    ) -> Result<Submitted<AdjustmentAnswer>, ClientError> {
        let request = DecideRequest {
            period,
            adjustment_id,
            reason: None,
            on_behalf_of: self.on_behalf_of.clone(),
        };
        self.invoke("adjust_accept", vec![to_json(&request)]).await
    }

    /// `adjust_reject` of the other carrier's adjustment, with the reason.
    pub async fn reject(
        &self,
        period: Period,
        adjustment_id: u64,
        reason: &str,
    ) -> Result<Submitted<AdjustmentAnswer>, ClientError> {
        let request = DecideRequest {
            period,
            adjustment_id,
            reason: Some(reason.to_owned()),
            on_behalf_of: self.on_behalf_of.clone(),
        };
        self.invoke("adjust_reject", vec![to_json(&request)]).await
    }

    /// `confirm` of the data version now current (read from the chain first).
    pub async fn confirm(&self, period: Period) -> Result<Submitted<Confirmed>, ClientError> {
        let version = self.status(period).await?.record()?.version;
        self.confirm_version(period, version).await
    }

    /// `confirm` of `version`: refused (409) if the data changed since.
    pub async fn confirm_version(
        &self,
        period: Period,
        version: u64,
    ) -> Result<Submitted<Confirmed>, ClientError> {
        let request = ConfirmRequest {
            period,
            version,
            on_behalf_of: self.on_behalf_of.clone(),
        };
        self.invoke("confirm", vec![to_json(&request)]).await
    }

    // ---- finance -----------------------------------------------------------------

    /// `approve` (a finance identity): signs off the final data.
    pub async fn approve(&self, period: Period) -> Result<Submitted<Approved>, ClientError> {
        self.invoke("approve", vec![to_json(&self.period_request(period))])
            .await
    }

    /// `pay` (the payer's finance, after both approvals): records the payment of the net
    /// amount `amount_fen` under the bank `reference`.
    pub async fn pay(
        &self,
        period: Period,
        reference: &str,
        amount_fen: u64,
        paid_at_ms: Option<u64>,
    ) -> Result<Submitted<PaymentAnswer>, ClientError> {
        let request = PayRequest {
            period,
            reference: reference.to_owned(),
            amount_fen,
            paid_at_ms,
            on_behalf_of: self.on_behalf_of.clone(),
        };
        self.invoke("pay", vec![to_json(&request)]).await
    }

    /// `ack` (the payee's finance): acknowledges the payment recorded under `reference`;
    /// the period is closed.
    pub async fn ack(
        &self,
        period: Period,
        reference: &str,
    ) -> Result<Submitted<PaymentAnswer>, ClientError> {
        let request = AckRequest {
            period,
            reference: reference.to_owned(),
            on_behalf_of: self.on_behalf_of.clone(),
        };
        self.invoke("ack", vec![to_json(&request)]).await
    }

    // ---- queries -----------------------------------------------------------------

    /// `period_get`: the record, deadlines, whose move, who is late.
    pub async fn status(&self, period: Period) -> Result<PeriodView, ClientError> {
        self.query("period_get", &self.period_request(period)).await
    }

    /// `periods_list`: every period with a record, ascending, reading all pages.
    pub async fn periods(&self) -> Result<Vec<PeriodRow>, ClientError> {
        let mut periods: Vec<PeriodRow> = Vec::new();
        let mut from = None;
        for _ in 0..PAGES_MAX {
            let request = PeriodsListRequest {
                from,
                limit: PAGE_ENTRIES,
            };
            let page: PeriodsPage = self.query("periods_list", &request).await?;
            periods.extend(page.periods);
            match page.next {
                Some(next) if from.is_none_or(|from| next > from) => from = Some(next),
                Some(_) => return Err(stuck("periods_list")),
                None => return Ok(periods),
            }
        }
        Err(stuck("periods_list"))
    }

    /// `line_history`: the line and who proposed, disputed, adjusted, accepted what,
    /// when, in which transaction.
    pub async fn history(&self, period: Period, line_no: u64) -> Result<LineHistory, ClientError> {
        self.query("line_history", &LineHistoryRequest { period, line_no })
            .await
    }

    /// Every reconciled line of `period` (`open_only`: the disputed and one-sided ones),
    /// reading all pages.
    pub async fn lines(&self, period: Period, open_only: bool) -> Result<Lines, ClientError> {
        let mut lines = Vec::new();
        let mut from = 0;
        for _ in 0..PAGES_MAX {
            let request = ListRequest {
                period,
                from,
                limit: PAGE_ENTRIES,
                open_only,
            };
            let page: LinesPage = self.query("lines_get", &request).await?;
            lines.extend(page.lines);
            match page.next {
                Some(next) if next > from => from = next,
                Some(_) => return Err(stuck("lines_get")),
                None => {
                    return Ok(Lines {
                        version: page.version,
                        lines,
                    });
                }
            }
        }
        Err(stuck("lines_get"))
    }

    /// `adjustment_get`: one adjustment.
    pub async fn adjustment(
        &self,
        period: Period,
        adjustment_id: u64,
    ) -> Result<Adjustment, ClientError> {
        let request = AdjustmentRequest {
            period,
            adjustment_id,
        };
        self.query("adjustment_get", &request).await
    }

    /// The whole audit trail of `period`: who did what, when, in which transaction.
    pub async fn audit_trail(&self, period: Period) -> Result<Vec<AuditEntry>, ClientError> {
        let mut entries = Vec::new();
        let mut from = 0;
        for _ in 0..PAGES_MAX {
            let request = ListRequest {
                period,
                from,
                limit: PAGE_ENTRIES,
                open_only: false,
            };
            let page: AuditPage = self.query("audit_get", &request).await?;
            entries.extend(page.entries);
            match page.next {
                Some(next) if next > from => from = next,
                Some(_) => return Err(stuck("audit_get")),
                None => return Ok(entries),
            }
        }
        Err(stuck("audit_get"))
    }

    /// `final_get`: the final data and where it was committed (409 before final).
    pub async fn final_data(&self, period: Period) -> Result<FinalView, ClientError> {
        self.query("final_get", &self.period_request(period)).await
    }

    /// The finance export of a final period with every line, in `format`: the bytes the
    /// contract's own export writes, over all pages (read as JSON, written here with the
    /// contract's writer, so both carriers' exports stay byte-identical).
    pub async fn export(
        &self,
        period: Period,
        format: ExportFormat,
    ) -> Result<Vec<u8>, ClientError> {
        let mut lines: Vec<ReconciledLine> = Vec::new();
        let mut head = None;
        for _ in 0..PAGES_MAX {
            let from = lines
                .last()
                .map_or(0, |line| line.line_no.saturating_add(1));
            let request = ExportRequest {
                period,
                format: ExportFormat::Json,
                from,
                limit: PAGE_ENTRIES,
            };
            let page: ExportPage = self.query("export", &request).await?;
            let count = page.lines.len();
            lines.extend(page.lines);
            let total = page.data.lines;
            head = Some((page.data, page.location));
            if count == 0 || u64::try_from(lines.len()).unwrap_or(u64::MAX) >= total {
                break;
            }
        }
        let (data, location) = head.ok_or_else(|| stuck("export"))?;
        if u64::try_from(lines.len()).unwrap_or(u64::MAX) != data.lines {
            return Err(stuck("export"));
        }
        Ok(match format {
            ExportFormat::Json => export_json(&data, &location, &lines),
            ExportFormat::Csv => {
                let view = self.status(period).await?;
                export_csv(&data, &location, &view.record()?.agreement, &lines)
            }
        })
    }

    // ---- plumbing ----------------------------------------------------------------

    fn period_request(&self, period: Period) -> PeriodRequest {
        PeriodRequest {
            period,
            on_behalf_of: self.on_behalf_of.clone(),
        }
    }

    /// The `upload` arguments: the JSON request and the ciphertext.
    fn upload_args(&self, sealed: &SealedReport) -> Vec<Vec<u8>> {
        let request = UploadRequest {
            period: sealed.period,
            nonce: HexBytes(sealed.nonce),
            key_commitment: sealed.key_commitment.into(),
            plaintext_commitment: sealed.plaintext_commitment.into(),
            on_behalf_of: self.on_behalf_of.clone(),
        };
        vec![to_json(&request), sealed.ciphertext.clone()]
    }

    fn reveal_request(&self, period: Period, opening: &Opening) -> RevealRequest {
        RevealRequest {
            period,
            key: HexBytes(*opening.key.as_bytes()),
            salt: HexBytes(opening.salt),
            on_behalf_of: self.on_behalf_of.clone(),
        }
    }

    /// Evaluates `function(request)` on a peer of the caller's carrier.
    pub(crate) async fn query<T: DeserializeOwned>(
        &self,
        function: &str,
        request: &impl serde::Serialize,
    ) -> Result<T, ClientError> {
        let response = self
            .gateway
            .evaluate(
                self.signer,
                self.contract.clone(),
                function,
                vec![to_json(request)],
            )
            .await
            .map_err(|error| refused(function, error))?;
        let payload = ok_payload(function, response)?;
        serde_json::from_slice(&payload).map_err(|error| answer_error(function, &error))
    }

    /// Submits `function(args)` and waits until it committed valid.
    pub(crate) async fn invoke<T: DeserializeOwned>(
        &self,
        function: &str,
        args: Vec<Vec<u8>>,
    ) -> Result<Submitted<T>, ClientError> {
        let committed = self
            .gateway
            .submit(self.signer, self.contract.clone(), function, args)
            .await
            .map_err(|error| refused(function, error))?;
        if committed.code != ValidationCode::Valid {
            return Err(ClientError::NotValid {
                tx_id: committed.tx_id,
                block: committed.block,
                code: committed.code,
            });
        }
        let payload = ok_payload(function, committed.response)?;
        let answer =
            serde_json::from_slice(&payload).map_err(|error| answer_error(function, &error))?;
        Ok(Submitted {
            tx_id: committed.tx_id,
            block: committed.block,
            events: committed.events,
            answer,
        })
    }
}

/// A peer's or contract's refusal as [`ClientError::Contract`]; other errors unchanged.
fn refused(function: &str, error: ClientError) -> ClientError {
    match error {
        ClientError::Endorsement {
            status, message, ..
        }
        | ClientError::Refused {
            status, message, ..
        } => ClientError::Contract {
            function: function.to_owned(),
            status,
            message,
        },
        other => other,
    }
}

/// The payload of a successful answer; an error status as [`ClientError::Contract`].
fn ok_payload(function: &str, response: Response) -> Result<Vec<u8>, ClientError> {
    if response.status >= Response::ERROR_THRESHOLD {
        return Err(ClientError::Contract {
            function: function.to_owned(),
            status: response.status,
            message: response.message,
        });
    }
    Ok(response.payload)
}

fn answer_error(function: &str, error: &serde_json::Error) -> ClientError {
    ClientError::Answer {
        function: function.to_owned(),
        reason: error.to_string(),
    }
}

/// A listing whose pages do not advance or never end.
fn stuck(function: &str) -> ClientError {
    ClientError::Answer {
        function: function.to_owned(),
        reason: "the pages do not add up (the listing does not advance or end)".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_keep_the_contract_status_and_reason() {
        let error = refused(
            "confirm",
            ClientError::Endorsement {
                peer: "UnicomMSP".into(),
                status: 409,
                message: "stale version 3, current 4".into(),
            },
        );
        assert_eq!(error.status(), Some(409));
        assert_eq!(
            error.to_string(),
            "confirm refused (409): stale version 3, current 4"
        );
        let error = ok_payload(
            "period_get",
            Response {
                status: 404,
                message: "unknown period 2026-10".into(),
                payload: Vec::new(),
            },
        )
        .unwrap_err();
        assert!(matches!(error, ClientError::Contract { status: 404, .. }));
        assert_eq!(
            ok_payload(
                "period_get",
                Response {
                    status: 200,
                    message: String::new(),
                    payload: b"{}".to_vec()
                }
            )
            .unwrap(),
            b"{}"
        );
        // A network failure stays what it is.
        assert_eq!(refused("x", ClientError::NotCommitted).status(), None);
    }

    #[test]
    fn step_answers_of_both_shapes_parse() {
        let waiting: StepAnswer =
            serde_json::from_str(r#"{"period":"2026-10","phase":"Revealing","failure":null}"#)
                .unwrap();
        assert_eq!(waiting.phase, Phase::Revealing);
        assert_eq!(waiting.summary, None);
        let reconciled = serde_json::json!({
            "period": "2026-10", "round": 0, "version": 1, "phase": "Reviewing",
            "summary": Summary::default(), "default": null,
        });
        let reconciled: StepAnswer = serde_json::from_value(reconciled).unwrap();
        assert_eq!(reconciled.version, Some(1));
        assert_eq!(reconciled.summary, Some(Summary::default()));
    }
}
