//! The period state machine, pure: each step checks who is calling and whether the period
//! allows it, then changes in-memory records. The contract adapter loads the records the
//! step needs, calls it, and stores what changed; a step that returns an error has changed
//! nothing the adapter will store.
//!
//! ```text
//!  Uploading ──both uploads──▶ Revealing ──both reports open──▶ Reviewing ──both confirm──▶ Final
//!      ▲                          │ a report fails to open       ▲                    (immutable)
//!      │                          ▼                              │
//!      │                        Failed                           │
//!      │   reset (from Uploading, Revealing or Failed, after the deadline + margin):
//!      └── the next round, or ───────────────────────────────────┘ one side in default and
//!          Defaulted (both sides in default)                       the other's report open
//!
//!  Final ──both finance approvals, payment by the payer, acknowledgement by the payee──▶ Closed
//! ```
//!
//! The finance steps are in [`crate::signoff`]. Settlement steps go through
//! [`settlement_side`], which refuses finance staff; finance steps through
//! [`finance_side`], which requires them.
//!
//! # Fairness
//!
//! Neither carrier trusts the other, and either may see the other's key before it is on
//! the chain (a reveal proposal goes to both carriers' endorsing peers). So:
//!
//! - Once both uploads are on the chain, both plaintext commitments are binding for the
//!   whole period (`SideState::committed`): no round accepts an upload with another
//!   commitment. A carrier can replace its upload only while the counterparty has none,
//!   before any key could have been revealed. Commitments are salted, so the
//!   counterparty cannot test a guessed report against them.
//! - A report that opened stands for the period; it is not uploaded again.
//! - `reset` closes a round only after its deadline plus the agreement's clock margin
//!   (the contract's only time is the client-chosen proposal time). It records a fault
//!   against each carrier that uploaded nothing, withheld its key while both uploads were
//!   in, or whose report did not open, and clears that carrier's upload; the next round
//!   accepts only an upload that opens to its committed plaintext (a fresh key is fine).
//! - A carrier is in default when its committed plaintext opens but is not a valid report
//!   (it can never open), or after [`FAULTS_TO_DEFAULT`] faults. When one carrier is in
//!   default and the other's report is open, the period goes to review with the honest
//!   carrier's figures only, every line disputed: each settles only by an adjustment the
//!   other side accepts. So a carrier that withholds or spoils its report gets at most
//!   what it could get by agreeing line by line, never the automatic settlement at the
//!   mean of the two figures an honest reveal gives, and never a second report.
//!
//! # Whose move, since when, who is late
//!
//! [`PeriodState::move_of`] derives each carrier's next step from the record; every
//! stored step notes which transaction changed it ([`PeriodState::track_moves`]), so the
//! status ([`PeriodState::status`]) says whose move it is and since when. The agreement's
//! upload deadline is judged like the other deadlines, with the clock margin: a report
//! whose proposal time is past the deadline plus the margin (or still missing at the
//! query's time past it) is late. Late is shown and recorded, never enforced: the round's
//! own deadline and `reset` are what move a stalled period on.

use netsettle_protocol::Role;

use crate::agreement::{Agreement, Side};
use crate::api::{ActingUser, AdjustRequest, Digest, HexBytes, UploadRequest};
use crate::error::{AccessError, SettleError, StateError};
use crate::limits::{
    ADJUSTMENTS_MAX, AMOUNT_FEN_MAX, CIPHERTEXT_BYTES_MAX, FAULTS_MAX, FAULTS_TO_DEFAULT,
    QUANTITY_MAX, REASON_BYTES_MAX,
};
use crate::reconcile::{LineStatus, Note, ReconciledLine, Settled, Summary};
use crate::units::Period;

/// Who is calling, and in which transaction, as the peer validated it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The caller's organisation.
    pub msp_id: String,
    /// Its certificate role.
    pub role: Role,
    /// Its certificate's common name.
    pub common_name: String,
    /// SM3 of its certificate.
    pub fingerprint: Digest,
    /// The transaction.
    pub tx_id: Digest,
    /// The proposal's time, ms since the epoch: the only clock.
    pub at_ms: u64,
    /// The `department` attribute of its certificate, if any (`finance` for finance
    /// staff; see [`FINANCE_DEPARTMENT`]).
    pub department: Option<String>,
    /// The user a gateway signed for, if the request named one.
    pub on_behalf_of: Option<ActingUser>,
}

/// The certificate attribute naming the caller's department.
pub const DEPARTMENT_ATTRIBUTE: &str = "department";
/// The department of finance staff: they approve, pay and acknowledge, and take no
/// settlement step (separation of duties, MISSION §2 step 7).
pub const FINANCE_DEPARTMENT: &str = "finance";

impl Caller {
    /// Whether the caller is finance staff.
    pub fn is_finance(&self) -> bool {
        self.department.as_deref() == Some(FINANCE_DEPARTMENT)
    }

    /// The caller as it acts for `on_behalf_of` (a request's acting user).
    pub fn acting_for(mut self, on_behalf_of: Option<&ActingUser>) -> Self {
        self.on_behalf_of = on_behalf_of.cloned();
        self
    }
}

/// Who did something and in which transaction: kept on approvals and payments.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Mark {
    /// The organisation.
    pub msp_id: String,
    /// Its certificate's common name.
    pub common_name: String,
    /// The user a gateway signed for, if any.
    pub on_behalf_of: Option<ActingUser>,
    /// The transaction.
    pub tx_id: Digest,
    /// Its proposal time.
    pub at_ms: u64,
}

impl Mark {
    /// The mark of `caller`'s transaction.
    pub fn of(caller: &Caller) -> Self {
        Self {
            msp_id: caller.msp_id.clone(),
            common_name: caller.common_name.clone(),
            on_behalf_of: caller.on_behalf_of.clone(),
            tx_id: caller.tx_id,
            at_ms: caller.at_ms,
        }
    }
}

/// Where a period is in the workflow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Phase {
    /// Waiting for both reports.
    Uploading,
    /// Both reports are on the chain; waiting for both keys.
    Revealing,
    /// Reconciled: quasi-final data under review, disputes and adjustments.
    Reviewing,
    /// Both confirmed; the data is final and immutable.
    Final,
    /// A report failed to open after its key was revealed (see `failure`); the other
    /// carrier may still reveal; the round closes at its deadline.
    Failed,
    /// Both carriers are in default: neither report can open, nothing can be settled on
    /// the chain for this period.
    Defaulted,
    /// Final, approved by both finance departments, and paid and acknowledged (or
    /// nothing to pay): nothing changes it any more.
    Closed,
}

impl Phase {
    /// Lowercase name for messages.
    pub fn name(self) -> &'static str {
        match self {
            Self::Uploading => "uploading",
            Self::Revealing => "revealing",
            Self::Reviewing => "reviewing",
            Self::Final => "final",
            Self::Failed => "failed",
            Self::Defaulted => "defaulted",
            Self::Closed => "closed",
        }
    }
}

/// One carrier's upload.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Upload {
    /// The round it was made in (its ciphertext's key).
    pub round: u32,
    /// SM4-GCM nonce.
    pub nonce: HexBytes<12>,
    /// `SM3(tag ‖ key ‖ salt)`.
    pub key_commitment: Digest,
    /// `SM3(tag ‖ salt ‖ canonical text)`.
    pub plaintext_commitment: Digest,
    /// `SM3(ciphertext)`, for the audit trail.
    pub ciphertext_sm3: Digest,
    /// Ciphertext length.
    pub ciphertext_bytes: u64,
    /// The uploading transaction.
    pub tx_id: Digest,
    /// When.
    pub at_ms: u64,
}

/// One carrier's part of the period.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SideState {
    /// Its upload of the current round (or of the round its report opened in).
    pub upload: Option<Upload>,
    /// Its key, once revealed.
    pub key: Option<HexBytes<16>>,
    /// Its commitment salt, revealed with the key.
    pub salt: Option<HexBytes<16>>,
    /// The plaintext commitment it is bound to: set when both uploads were first in,
    /// kept for the whole period.
    pub committed: Option<Digest>,
    /// Whether its report opened; an opened report stands for the period.
    pub opened: bool,
    /// Rounds it failed (see [`Fault`]).
    pub faults: u32,
    /// Why it is in default, once it is.
    pub default: Option<String>,
    /// The data version it confirmed, if any.
    pub confirmed_version: Option<u64>,
    /// Adjustments it proposed that await the other carrier's decision.
    #[serde(default)]
    pub pending_proposals: u64,
    /// Its current move and the transaction that made it its move (kept by
    /// [`PeriodState::track_moves`] on every stored step).
    #[serde(default)]
    pub awaiting: Option<Awaiting>,
    /// Its finance department's approval of the final data.
    #[serde(default)]
    pub approval: Option<Mark>,
}

/// A step a carrier must take next for the period to move on. Non-exhaustive: later
/// workflow steps may add theirs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub enum Action {
    /// Upload its report.
    Upload,
    /// Reveal its key (both reports are on the chain).
    Reveal,
    /// Accept or reject the adjustments the other carrier proposed.
    Decide,
    /// Settle the disputed lines: propose adjustments, or wait for the other's.
    Resolve,
    /// Confirm the current data version (nothing is left in dispute).
    Confirm,
    /// Its finance department approves the final data.
    Approve,
    /// Its finance department records the payment of the net amount (the payer).
    Pay,
    /// Its finance department acknowledges the payment received (the payee).
    Acknowledge,
}

/// A carrier's current move and since when: the transaction that made it its move.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Awaiting {
    /// The move.
    pub action: Action,
    /// The proposal time of the transaction that made it this carrier's move.
    pub since_ms: u64,
    /// That transaction.
    pub since_tx: Digest,
}

/// One carrier's line of the period status: its move, since when, and its upload against
/// the upload deadline.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SideStatus {
    /// The side.
    pub side: Side,
    /// Its MSP id.
    pub carrier: String,
    /// What it must do next, if anything.
    pub action: Option<Action>,
    /// When that became its move (the proposal time of the transaction that did it).
    pub since_ms: Option<u64>,
    /// The transaction that made it its move.
    pub since_tx: Option<Digest>,
    /// When it uploaded the report now on the chain, if any.
    pub uploaded_at_ms: Option<u64>,
    /// Its report came, or is still missing, after the upload deadline plus the clock
    /// margin. Shown, never enforced.
    pub late: bool,
    /// How far past the upload deadline itself, when late.
    pub late_by_ms: Option<u64>,
}

/// The period at a glance: phase, whose move it is and since when, deadlines, who is late.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PeriodStatus {
    /// The phase.
    pub phase: Phase,
    /// The MSP ids of the carriers who must act next (none when final or defaulted, or
    /// while a round waits only for its deadline).
    pub whose_move: Vec<String>,
    /// When the reports are due ([`Agreement::upload_deadline_ms`]), if agreed.
    pub upload_deadline_ms: Option<u64>,
    /// The reveal deadline of the current round.
    pub reveal_deadline_ms: Option<u64>,
    /// The earliest proposal time at which `reset` may close the round.
    pub closable_after_ms: Option<u64>,
    /// Carrier A, then carrier B.
    pub sides: [SideStatus; 2],
}

/// What a carrier failed to do in a round.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum FaultKind {
    /// It uploaded nothing before the round closed.
    NoUpload,
    /// Both uploads were in, and it revealed no key before the round closed.
    Withheld,
    /// Its report did not open under the key it revealed.
    Failed(String),
    /// Its committed plaintext opened but is not a valid report: it can never open.
    Unopenable(String),
}

/// A fault on the record: who, in which round, what.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Fault {
    /// The round.
    pub round: u32,
    /// The side at fault.
    pub side: Side,
    /// Its MSP id.
    pub carrier: String,
    /// What it failed to do.
    pub kind: FaultKind,
}

/// What the period can do once a step changed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing more yet.
    Wait,
    /// Both reports are open: reconcile them.
    Reconcile,
    /// `Side` is in default and the other's report is open: resolve line by line from
    /// the other's figures.
    Default(Side),
}

/// Why a round failed, and whose fault it was.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Failure {
    /// The carrier whose report could not be opened.
    pub side: Side,
    /// Its MSP id.
    pub carrier: String,
    /// What was wrong.
    pub reason: String,
}

/// The record of one settlement period.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PeriodState {
    /// The period.
    pub period: Period,
    /// The agreement in force when the period opened.
    pub agreement: Agreement,
    /// Its version.
    pub agreement_version: u64,
    /// Rounds closed by `reset`, from 0.
    pub round: u32,
    /// The phase.
    pub phase: Phase,
    /// Carrier A's part.
    pub a: SideState,
    /// Carrier B's part.
    pub b: SideState,
    /// When the round started (proposal time): the period's first upload for round 0,
    /// the closing `reset` for later rounds.
    pub round_opened_at_ms: Option<u64>,
    /// Set in phase `Failed`: the report of this round that did not open.
    pub failure: Option<Failure>,
    /// Every fault so far, at most [`FAULTS_MAX`].
    pub faults: Vec<Fault>,
    /// Data version: 1 after reconciliation, +1 per change.
    pub version: u64,
    /// Counts and totals of the reconciled lines.
    pub summary: Summary,
    /// Pages of reconciled lines.
    pub pages: u64,
    /// Adjustments proposed so far (the next id).
    pub adjustments: u64,
    /// Adjustments awaiting a decision.
    pub pending_adjustments: u64,
    /// Audit entries written so far (the next sequence number).
    pub audit_entries: u64,
    /// The transaction that reconciled the reports (or resolved a default): the first
    /// entry of every line's history.
    #[serde(default)]
    pub reconciled: Option<Mark>,
    /// Who pays whom once the data is final.
    #[serde(default)]
    pub net: Option<NetPosition>,
    /// The payment, once the payer recorded it.
    #[serde(default)]
    pub payment: Option<Payment>,
}

/// The net position of the final data: who pays, how much.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NetPosition {
    /// The paying side; `None` when the flows cancel out (nothing to pay).
    pub payer: Option<Side>,
    /// The net amount, fen.
    pub amount_fen: u64,
}

/// A payment recorded by the payer, and the payee's acknowledgement.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Payment {
    /// The payer's reference (bank transfer id).
    pub reference: String,
    /// The amount paid: the net amount of the final data.
    pub amount_fen: u64,
    /// When it was paid, as the payer's system said, if it did.
    pub paid_at_ms: Option<u64>,
    /// Who recorded it.
    pub recorded: Mark,
    /// Who acknowledged it, once the payee did.
    pub acknowledged: Option<Mark>,
}

/// A proposed change to one line.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Adjustment {
    /// Its id within the period.
    pub id: u64,
    /// The line.
    pub line_no: u64,
    /// The side proposing.
    pub proposer: Side,
    /// New quantity.
    pub quantity: u64,
    /// New amount in fen.
    pub amount_fen: u64,
    /// Why.
    pub reason: String,
    /// SM3 of an off-chain document.
    pub attachment_sm3: Option<Digest>,
    /// Pending, accepted or rejected.
    pub decision: Decision,
    /// The proposing transaction.
    pub proposed_tx: Digest,
    /// The deciding transaction.
    pub decided_tx: Option<Digest>,
}

/// The other side's answer to an adjustment.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Decision {
    /// Not decided yet.
    Pending,
    /// Accepted: the line took the new figures.
    Accepted,
    /// Rejected, with the reason.
    Rejected(String),
}

/// One step in a period's audit trail.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AuditEntry {
    /// Sequence number within the period.
    pub seq: u64,
    /// The round.
    pub round: u32,
    /// The contract function.
    pub step: String,
    /// Caller's organisation.
    pub msp_id: String,
    /// Caller's role.
    pub role: Role,
    /// Caller's certificate common name.
    pub common_name: String,
    /// SM3 of the caller's certificate.
    pub fingerprint: Digest,
    /// The transaction.
    pub tx_id: Digest,
    /// Proposal time, ms since the epoch.
    pub at_ms: u64,
    /// What happened, in one line.
    pub detail: String,
    /// The caller's department attribute, if any.
    #[serde(default)]
    pub department: Option<String>,
    /// The user a gateway signed for, if any.
    #[serde(default)]
    pub on_behalf_of: Option<ActingUser>,
}

/// `reason` cut to at most [`REASON_BYTES_MAX`] bytes (at a character boundary), so a
/// long error message cannot grow the period record.
fn bounded(mut reason: String) -> String {
    if reason.len() > REASON_BYTES_MAX {
        let mut end = REASON_BYTES_MAX;
        while !reason.is_char_boundary(end) {
            end = end.saturating_sub(1);
        }
        reason.truncate(end);
    }
    reason
}

/// Roles allowed to take settlement steps: the carriers' settlement systems act as
/// clients.
pub const WORKFLOW_ROLES: &[Role] = &[Role::Client];
/// Roles allowed to reset a round: the settlement system or an administrator.
const RESET_ROLES: &[Role] = &[Role::Client, Role::Admin];

/// The side `caller` speaks for in a settlement step (upload, reveal, dispute, adjust,
/// decide, confirm, reset): a party's identity in one of `roles` that is not finance
/// staff. Finance approves and pays; it does not settle (separation of duties).
pub fn settlement_side(
    agreement: &Agreement,
    caller: &Caller,
    roles: &[Role],
) -> Result<Side, SettleError> {
    let side = caller_side(agreement, caller, roles)?;
    if caller.is_finance() {
        return Err(AccessError::WrongDepartment(format!(
            "{} is in department {FINANCE_DEPARTMENT}: finance staff approve, pay and acknowledge; settlement steps need settlement staff",
            caller.common_name
        ))
        .into());
    }
    Ok(side)
}

/// The side `caller` speaks for in a finance step (approve, pay, ack): a party's client
/// identity whose certificate carries `department=finance`.
pub fn finance_side(agreement: &Agreement, caller: &Caller) -> Result<Side, SettleError> {
    let side = caller_side(agreement, caller, WORKFLOW_ROLES)?;
    if !caller.is_finance() {
        let department = caller.department.as_deref().unwrap_or("(none)");
        return Err(AccessError::WrongDepartment(format!(
            "{} is in department {department}: this step needs a certificate with {DEPARTMENT_ATTRIBUTE}={FINANCE_DEPARTMENT}",
            caller.common_name
        ))
        .into());
    }
    Ok(side)
}

/// The side `caller` speaks for, if its organisation is a party and its role allowed.
pub fn caller_side(
    agreement: &Agreement,
    caller: &Caller,
    roles: &[Role],
) -> Result<Side, SettleError> {
    let side = agreement.side_of(&caller.msp_id).ok_or_else(|| {
        AccessError::WrongCarrier(format!("{} is not a party to the agreement", caller.msp_id))
    })?;
    if !roles.contains(&caller.role) {
        return Err(AccessError::WrongRole(format!(
            "{:?} may not take this step; needs {roles:?}",
            caller.role
        ))
        .into());
    }
    Ok(side)
}

/// Checks a free-text reason: not empty, at most [`REASON_BYTES_MAX`], no control characters.
pub fn check_reason(reason: &str) -> Result<(), SettleError> {
    if reason.len() > REASON_BYTES_MAX {
        return Err(SettleError::TooLarge {
            what: "reason",
            max: REASON_BYTES_MAX,
            actual: reason.len(),
        });
    }
    if reason.trim().is_empty() || reason.chars().any(char::is_control) {
        return Err(SettleError::bad(
            "a reason must be non-empty text without control characters",
        ));
    }
    Ok(())
}

impl PeriodState {
    /// A new period under `agreement`.
    pub fn open(period: Period, agreement: Agreement, agreement_version: u64) -> Self {
        Self {
            period,
            agreement,
            agreement_version,
            round: 0,
            phase: Phase::Uploading,
            a: SideState::default(),
            b: SideState::default(),
            round_opened_at_ms: None,
            failure: None,
            faults: Vec::new(),
            version: 0,
            summary: Summary::default(),
            pages: 0,
            adjustments: 0,
            pending_adjustments: 0,
            audit_entries: 0,
            reconciled: None,
            net: None,
            payment: None,
        }
    }

    /// A side's part.
    pub fn side(&self, side: Side) -> &SideState {
        match side {
            Side::A => &self.a,
            Side::B => &self.b,
        }
    }

    pub(crate) fn side_mut(&mut self, side: Side) -> &mut SideState {
        match side {
            Side::A => &mut self.a,
            Side::B => &mut self.b,
        }
    }

    /// Refuses unless the period is in one of `phases` (a final period says so).
    pub fn require(&self, phases: &[Phase], step: &'static str) -> Result<(), SettleError> {
        if self.phase == Phase::Closed && !phases.contains(&Phase::Closed) {
            return Err(StateError::Closed(self.period.to_string()).into());
        }
        if self.phase == Phase::Final && !phases.contains(&Phase::Final) {
            return Err(StateError::Final(self.period.to_string()).into());
        }
        if !phases.contains(&self.phase) {
            return Err(StateError::WrongPhase {
                period: self.period.to_string(),
                phase: self.phase.name(),
                step,
            }
            .into());
        }
        Ok(())
    }

    /// The reveal deadline of the current round, once the round has started.
    pub fn deadline_ms(&self) -> Option<u64> {
        self.round_opened_at_ms
            .map(|at| at.saturating_add(self.agreement.reveal_window_ms))
    }

    /// The earliest proposal time at which `reset` may close the round: the deadline plus
    /// the agreement's clock margin.
    pub fn closable_after_ms(&self) -> Option<u64> {
        self.deadline_ms()
            .map(|deadline| deadline.saturating_add(self.agreement.clock_margin_ms))
    }

    /// What `side` must do next, from the record alone. In review, a side with adjustments
    /// to decide decides first; while lines are open both sides may resolve them (either
    /// may propose an adjustment); with nothing open or pending, a side that has not
    /// confirmed the current version confirms. Reset is not a move: it depends on the
    /// time, see [`PeriodState::closable_after_ms`].
    pub fn move_of(&self, side: Side) -> Option<Action> {
        let own = self.side(side);
        // A carrier in default has nothing to upload or reveal, but still reviews the
        // line-by-line settlement of the other's figures.
        let in_default = own.default.is_some();
        match self.phase {
            Phase::Uploading => (own.upload.is_none() && !in_default).then_some(Action::Upload),
            Phase::Revealing | Phase::Failed => {
                (own.upload.is_some() && own.key.is_none() && !own.opened && !in_default)
                    .then_some(Action::Reveal)
            }
            Phase::Reviewing => {
                if self.side(side.other()).pending_proposals > 0 {
                    Some(Action::Decide)
                } else if self.summary.open_lines() > 0 {
                    Some(Action::Resolve)
                } else if self.pending_adjustments == 0
                    && own.confirmed_version != Some(self.version)
                {
                    Some(Action::Confirm)
                } else {
                    None
                }
            }
            Phase::Final => self.finance_move(side),
            Phase::Closed | Phase::Defaulted => None,
        }
    }

    /// Records, for each side whose move changed, that `caller`'s transaction made it so.
    /// The adapter calls this on every step it stores, so `since` is the transaction that
    /// gave a carrier its current move.
    pub fn track_moves(&mut self, caller: &Caller) {
        for side in [Side::A, Side::B] {
            let action = self.move_of(side);
            let own = self.side_mut(side);
            if own.awaiting.map(|awaiting| awaiting.action) != action {
                own.awaiting = action.map(|action| Awaiting {
                    action,
                    since_ms: caller.at_ms,
                    since_tx: caller.tx_id,
                });
            }
        }
    }

    /// `side`'s upload against the upload deadline, seen at `now_ms` (the query's
    /// proposal time): late when its report came, or is still missing, after the deadline
    /// plus the agreement's clock margin. Proposal times are the clients' and the chain
    /// bounds them only within [`crate::limits::TX_TIME_BOUND_MS`] of the orderers'
    /// clock, so the margin keeps an honest upload made before the deadline by a clock
    /// that runs fast from being shown late, and an upload back-dated by the whole bound
    /// is still late once it was really made more than the margin plus that bound after
    /// the deadline. Returns `(late, late_by_ms)`; never late without an agreed deadline.
    pub fn upload_lateness(&self, side: Side, now_ms: u64) -> (bool, Option<u64>) {
        let Some(due_ms) = self.agreement.upload_deadline_ms(self.period) else {
            return (false, None);
        };
        let judged_ms = self
            .side(side)
            .upload
            .as_ref()
            .map_or(now_ms, |upload| upload.at_ms);
        let late = judged_ms > due_ms.saturating_add(self.agreement.clock_margin_ms);
        (late, late.then(|| judged_ms.saturating_sub(due_ms)))
    }

    /// The period's status at `now_ms` (the query's proposal time; only lateness of a
    /// missing upload depends on it).
    pub fn status(&self, now_ms: u64) -> PeriodStatus {
        let sides = [Side::A, Side::B].map(|side| self.side_status(side, now_ms));
        PeriodStatus {
            phase: self.phase,
            whose_move: sides
                .iter()
                .filter(|status| status.action.is_some())
                .map(|status| status.carrier.clone())
                .collect(),
            upload_deadline_ms: self.agreement.upload_deadline_ms(self.period),
            reveal_deadline_ms: self.deadline_ms(),
            closable_after_ms: self.closable_after_ms(),
            sides,
        }
    }

    fn side_status(&self, side: Side, now_ms: u64) -> SideStatus {
        let own = self.side(side);
        let action = self.move_of(side);
        // A record whose tracked move disagrees with the computed one names no time
        // rather than a wrong one.
        let since = own
            .awaiting
            .filter(|awaiting| Some(awaiting.action) == action);
        let (late, late_by_ms) = self.upload_lateness(side, now_ms);
        SideStatus {
            side,
            carrier: self.agreement.party(side).to_owned(),
            action,
            since_ms: since.map(|awaiting| awaiting.since_ms),
            since_tx: since.map(|awaiting| awaiting.since_tx),
            uploaded_at_ms: own.upload.as_ref().map(|upload| upload.at_ms),
            late,
            late_by_ms,
        }
    }

    /// Whether every side has something to open: an upload, or a default.
    fn ready_to_reveal(&self) -> bool {
        [&self.a, &self.b]
            .iter()
            .all(|own| own.upload.is_some() || own.default.is_some())
    }

    /// Step `upload`: records the caller's upload (replacing its earlier one while the
    /// counterparty has not uploaded). Returns the caller's side.
    pub fn upload(
        &mut self,
        caller: &Caller,
        request: &UploadRequest,
        ciphertext: &[u8],
    ) -> Result<Side, SettleError> {
        let side = settlement_side(&self.agreement, caller, WORKFLOW_ROLES)?;
        if matches!(self.phase, Phase::Final | Phase::Closed) {
            // Says "final" or "closed" rather than a generic wrong phase.
            self.require(&[Phase::Uploading], "upload")?;
        }
        let own = self.side(side);
        if let Some(reason) = &own.default {
            return Err(StateError::InDefault(reason.clone()).into());
        }
        if own.opened {
            return Err(StateError::ReportOpened.into());
        }
        if matches!(self.phase, Phase::Revealing | Phase::Failed) {
            // Both reports are in: the caller's is fixed for the round, whichever came
            // first.
            return Err(StateError::CounterpartyUploaded.into());
        }
        self.require(&[Phase::Uploading], "upload")?;
        if let Some(committed) = own.committed
            && committed != request.plaintext_commitment
        {
            return Err(StateError::CommitmentBinding { committed }.into());
        }
        if ciphertext.len() > CIPHERTEXT_BYTES_MAX {
            return Err(SettleError::TooLarge {
                what: "ciphertext",
                max: CIPHERTEXT_BYTES_MAX,
                actual: ciphertext.len(),
            });
        }
        let upload = Upload {
            round: self.round,
            nonce: request.nonce,
            key_commitment: request.key_commitment,
            plaintext_commitment: request.plaintext_commitment,
            ciphertext_sm3: netsettle_smcrypto::sm3(ciphertext).into(),
            ciphertext_bytes: u64::try_from(ciphertext.len())
                .map_err(|_| SettleError::Overflow("ciphertext length"))?,
            tx_id: caller.tx_id,
            at_ms: caller.at_ms,
        };
        self.side_mut(side).upload = Some(upload);
        self.round_opened_at_ms.get_or_insert(caller.at_ms);
        if self.ready_to_reveal() {
            self.start_reveals();
        }
        Ok(side)
    }

    /// Both sides have something to open: from now on either may see the other's key,
    /// so both plaintext commitments become binding for the period.
    fn start_reveals(&mut self) {
        self.phase = Phase::Revealing;
        for own in [&mut self.a, &mut self.b] {
            if let Some(upload) = &own.upload {
                own.committed.get_or_insert(upload.plaintext_commitment);
            }
        }
    }

    /// Step `reveal`, the checks: both uploads made, not yet revealed, key and salt match
    /// the key commitment. Returns the caller's side; [`PeriodState::record_opening`]
    /// records them.
    pub fn check_reveal(
        &self,
        caller: &Caller,
        key: &HexBytes<16>,
        salt: &HexBytes<16>,
    ) -> Result<Side, SettleError> {
        let side = settlement_side(&self.agreement, caller, WORKFLOW_ROLES)?;
        let own = self.side(side);
        if let Some(reason) = &own.default {
            return Err(StateError::InDefault(reason.clone()).into());
        }
        if self.phase == Phase::Uploading {
            return Err(StateError::RevealBeforeUploads.into());
        }
        self.require(&[Phase::Revealing, Phase::Failed], "reveal")?;
        if own.key.is_some() || own.opened {
            return Err(StateError::AlreadyRevealed.into());
        }
        let upload = own.upload.as_ref().ok_or(StateError::RevealBeforeUploads)?;
        if Digest::from(crate::seal::key_commitment(&key.0, &salt.0)) != upload.key_commitment {
            return Err(SettleError::KeyMismatch);
        }
        Ok(side)
    }

    /// Records a checked key and salt.
    pub fn record_opening(&mut self, side: Side, key: HexBytes<16>, salt: HexBytes<16>) {
        let own = self.side_mut(side);
        own.key = Some(key);
        own.salt = Some(salt);
    }

    /// Records that `side`'s report opened.
    pub fn record_opened(&mut self, side: Side) {
        self.side_mut(side).opened = true;
    }

    /// Puts the period in `Failed`, blaming `side`. A committed plaintext that is not a
    /// valid report can never open: its carrier is in default at once.
    pub fn fail(
        &mut self,
        side: Side,
        reason: String,
        unopenable: bool,
    ) -> Result<(), SettleError> {
        let reason = bounded(reason);
        let carrier = self.agreement.party(side).to_owned();
        self.failure = Some(Failure {
            side,
            carrier: carrier.clone(),
            reason: reason.clone(),
        });
        self.phase = Phase::Failed;
        if unopenable {
            self.record_fault(side, FaultKind::Unopenable(reason.clone()))?;
            self.side_mut(side).default = Some(format!(
                "{carrier}'s committed report is not a valid report: {reason}"
            ));
        }
        Ok(())
    }

    fn record_fault(&mut self, side: Side, kind: FaultKind) -> Result<(), SettleError> {
        if self.faults.len() >= FAULTS_MAX {
            return Err(StateError::LimitReached("faults").into());
        }
        self.faults.push(Fault {
            round: self.round,
            side,
            carrier: self.agreement.party(side).to_owned(),
            kind,
        });
        let own = self.side_mut(side);
        own.faults = own.faults.saturating_add(1);
        Ok(())
    }

    /// What the period can do now: reconcile, resolve a default, or wait.
    pub fn outcome(&self) -> Outcome {
        match (&self.a, &self.b) {
            (a, b) if a.opened && b.opened => Outcome::Reconcile,
            (a, b) if a.default.is_some() && b.opened => Outcome::Default(Side::A),
            (a, b) if b.default.is_some() && a.opened => Outcome::Default(Side::B),
            _ => Outcome::Wait,
        }
    }

    /// Enters review with freshly reconciled data.
    pub fn start_review(&mut self, summary: Summary, pages: u64) {
        self.summary = summary;
        self.pages = pages;
        self.version = 1;
        self.failure = None;
        self.phase = Phase::Reviewing;
    }

    /// What `side` failed to do in a round being closed, if anything.
    fn fault_at_close(&self, side: Side, ready: bool) -> Option<FaultKind> {
        let own = self.side(side);
        if own.opened || own.default.is_some() {
            return None;
        }
        if own.upload.is_none() {
            return Some(FaultKind::NoUpload);
        }
        if !ready {
            // The counterparty gave it nothing to reveal against: not its fault.
            return None;
        }
        if own.key.is_none() {
            return Some(FaultKind::Withheld);
        }
        let reason = match &self.failure {
            Some(failure) if failure.side == side => failure.reason.clone(),
            _ => "its report did not open".to_owned(),
        };
        Some(FaultKind::Failed(reason))
    }

    /// Step `reset`: closes the round once its deadline plus the clock margin has passed
    /// (by the caller's proposal time). Records a fault against each carrier that failed
    /// the round and clears its upload; its commitment stays binding. Then resolves the
    /// period if a carrier is in default and the other's report is open, ends it if both
    /// are in default, or opens the next round.
    pub fn reset(&mut self, caller: &Caller) -> Result<Outcome, SettleError> {
        settlement_side(&self.agreement, caller, RESET_ROLES)?;
        self.require(
            &[Phase::Uploading, Phase::Revealing, Phase::Failed],
            "reset",
        )?;
        let (Some(deadline_ms), Some(closable_after_ms)) =
            (self.deadline_ms(), self.closable_after_ms())
        else {
            return Err(StateError::WrongPhase {
                period: self.period.to_string(),
                phase: "uploading with no upload",
                step: "reset",
            }
            .into());
        };
        if caller.at_ms <= closable_after_ms {
            return Err(StateError::DeadlineNotPassed {
                deadline_ms,
                margin_ms: self.agreement.clock_margin_ms,
                now_ms: caller.at_ms,
            }
            .into());
        }
        let ready = self.ready_to_reveal();
        let faults = [Side::A, Side::B].map(|side| (side, self.fault_at_close(side, ready)));
        for (side, fault) in faults {
            let Some(kind) = fault else { continue };
            self.record_fault(side, kind)?;
            let carrier = self.agreement.party(side).to_owned();
            let own = self.side_mut(side);
            own.upload = None;
            own.key = None;
            own.salt = None;
            if own.faults >= FAULTS_TO_DEFAULT {
                own.default = Some(format!(
                    "{carrier} failed {} rounds without an opened report",
                    own.faults
                ));
            }
        }
        self.failure = None;
        if self.a.default.is_some() && self.b.default.is_some() {
            self.phase = Phase::Defaulted;
            return Ok(Outcome::Wait);
        }
        let outcome = self.outcome();
        if outcome != Outcome::Wait {
            return Ok(outcome);
        }
        self.round = self
            .round
            .checked_add(1)
            .ok_or(StateError::LimitReached("rounds"))?;
        self.round_opened_at_ms = Some(caller.at_ms);
        self.phase = Phase::Uploading;
        if self.ready_to_reveal() {
            self.start_reveals();
        }
        Ok(Outcome::Wait)
    }

    /// Step `dispute`: marks a settled line disputed with the caller's reason.
    pub fn dispute(
        &mut self,
        caller: &Caller,
        line: &mut ReconciledLine,
        reason: &str,
    ) -> Result<Side, SettleError> {
        let side = settlement_side(&self.agreement, caller, WORKFLOW_ROLES)?;
        self.require(&[Phase::Reviewing], "dispute")?;
        check_reason(reason)?;
        if line.status.is_open() {
            return Err(StateError::WrongPhase {
                period: self.period.to_string(),
                phase: "reviewing (line already disputed)",
                step: "dispute",
            }
            .into());
        }
        self.summary.remove(line)?;
        line.status = LineStatus::Disputed;
        line.settled = None;
        line.note = Some(Note {
            by: Some(side),
            reason: reason.to_owned(),
        });
        line.revision = line.revision.saturating_add(1);
        self.summary.add(line)?;
        self.bump_version()?;
        Ok(side)
    }

    /// Step `adjust_propose`: a new adjustment of `line` by the caller.
    pub fn propose_adjustment(
        &mut self,
        caller: &Caller,
        line: &mut ReconciledLine,
        request: &AdjustRequest,
    ) -> Result<Adjustment, SettleError> {
        let side = settlement_side(&self.agreement, caller, WORKFLOW_ROLES)?;
        self.require(&[Phase::Reviewing], "adjust")?;
        check_reason(&request.reason)?;
        if request.amount_fen > AMOUNT_FEN_MAX || request.quantity > QUANTITY_MAX {
            return Err(SettleError::bad(
                "quantity or amount_fen is over its maximum",
            ));
        }
        if line.pending_adjustment.is_some() {
            return Err(StateError::AdjustmentPending(line.line_no).into());
        }
        if self.adjustments >= ADJUSTMENTS_MAX {
            return Err(StateError::LimitReached("adjustments").into());
        }
        let id = self.adjustments;
        self.adjustments = self.adjustments.saturating_add(1);
        self.pending_adjustments = self.pending_adjustments.saturating_add(1);
        let own = self.side_mut(side);
        own.pending_proposals = own.pending_proposals.saturating_add(1);
        line.pending_adjustment = Some(id);
        Ok(Adjustment {
            id,
            line_no: line.line_no,
            proposer: side,
            quantity: request.quantity,
            amount_fen: request.amount_fen,
            reason: request.reason.clone(),
            attachment_sm3: request.attachment_sm3,
            decision: Decision::Pending,
            proposed_tx: caller.tx_id,
            decided_tx: None,
        })
    }

    /// Step `adjust_accept` / `adjust_reject`: the other side decides. On accept the line
    /// takes the new figures and the data version moves on.
    pub fn decide_adjustment(
        &mut self,
        caller: &Caller,
        adjustment: &mut Adjustment,
        line: &mut ReconciledLine,
        rejection: Option<&str>,
    ) -> Result<Side, SettleError> {
        let side = settlement_side(&self.agreement, caller, WORKFLOW_ROLES)?;
        self.require(&[Phase::Reviewing], "decide an adjustment")?;
        if adjustment.decision != Decision::Pending {
            return Err(StateError::AdjustmentDecided(adjustment.id).into());
        }
        if side == adjustment.proposer {
            return Err(AccessError::WrongCarrier(
                "an adjustment is decided by the other carrier".into(),
            )
            .into());
        }
        if line.line_no != adjustment.line_no || line.pending_adjustment != Some(adjustment.id) {
            return Err(SettleError::Corrupt("adjustment and line"));
        }
        self.pending_adjustments = self
            .pending_adjustments
            .checked_sub(1)
            .ok_or(SettleError::Corrupt("period"))?;
        let proposer = self.side_mut(adjustment.proposer);
        proposer.pending_proposals = proposer
            .pending_proposals
            .checked_sub(1)
            .ok_or(SettleError::Corrupt("period (pending proposals)"))?;
        line.pending_adjustment = None;
        adjustment.decided_tx = Some(caller.tx_id);
        if let Some(reason) = rejection {
            check_reason(reason)?;
            adjustment.decision = Decision::Rejected(reason.to_owned());
            return Ok(side);
        }
        adjustment.decision = Decision::Accepted;
        self.summary.remove(line)?;
        line.status = LineStatus::Adjusted;
        line.settled = Some(Settled {
            quantity: adjustment.quantity,
            amount_fen: adjustment.amount_fen,
        });
        line.note = Some(Note {
            by: Some(adjustment.proposer),
            reason: adjustment.reason.clone(),
        });
        line.revision = line.revision.saturating_add(1);
        self.summary.add(line)?;
        self.bump_version()?;
        Ok(side)
    }

    /// Step `confirm`: the caller signs off `version`. Returns the side and whether both
    /// sides have now confirmed the current version (the period becomes final).
    pub fn confirm(&mut self, caller: &Caller, version: u64) -> Result<(Side, bool), SettleError> {
        let side = settlement_side(&self.agreement, caller, WORKFLOW_ROLES)?;
        self.require(&[Phase::Reviewing], "confirm")?;
        if version != self.version {
            return Err(StateError::StaleVersion {
                given: version,
                current: self.version,
            }
            .into());
        }
        let disputed = self.summary.open_lines();
        if disputed != 0 || self.pending_adjustments != 0 {
            return Err(StateError::Unresolved {
                disputed,
                pending: self.pending_adjustments,
            }
            .into());
        }
        self.side_mut(side).confirmed_version = Some(version);
        let both =
            self.a.confirmed_version == Some(version) && self.b.confirmed_version == Some(version);
        if both {
            self.phase = Phase::Final;
        }
        Ok((side, both))
    }

    fn bump_version(&mut self) -> Result<(), SettleError> {
        self.version = self
            .version
            .checked_add(1)
            .ok_or(StateError::LimitReached("versions"))?;
        Ok(())
    }

    /// The next audit sequence number, counted.
    pub fn next_audit_seq(&mut self) -> u64 {
        let seq = self.audit_entries;
        self.audit_entries = self.audit_entries.saturating_add(1);
        seq
    }
}
