//! The history of one line: every step that touched it after reconciliation, with who
//! took it (organisation, certificate common name, department, the user a gateway acted
//! for) and in which transaction.
//!
//! Each entry is its own record under `line_event ‖ period ‖ line_no ‖ seq`, written once
//! by the step it records; the line counts its entries (`ReconciledLine::history`). So a
//! step writes one small record, and reading a line's history is one range read of that
//! line's entries, whatever the rest of the period holds. The first entry of every
//! history, the reconciliation with both carriers' figures, is not stored per line (a
//! reconciliation writes up to 200,000 lines): the query builds it from the line's page
//! and the period's reconciling transaction.
//!
//! Block positions: the contract sees transaction ids, not blocks, while it runs. The
//! `line_history` query adds the block number and transaction index of each stored entry
//! from the ledger's key history (each entry key has exactly one write); the
//! reconciliation entry names its transaction id, which a client resolves to a block
//! with the ledger's transaction lookup.

use crate::agreement::Side;
use crate::api::{ActingUser, Digest};
use crate::limits::LINE_HISTORY_MAX;
use crate::reconcile::{Figures, ReconciledLine, Settled};
use crate::workflow::{Adjustment, Caller, Mark};

/// What happened to the line.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LineEventKind {
    /// The reports were reconciled: both carriers' figures and what the line settled at.
    Reconciled {
        /// Carrier A's figures, if it reported the line.
        a: Option<Figures>,
        /// Carrier B's figures, if it reported the line.
        b: Option<Figures>,
    },
    /// A carrier disputed the line.
    Disputed {
        /// Why.
        reason: String,
    },
    /// A carrier proposed new figures.
    AdjustmentProposed {
        /// The adjustment.
        adjustment_id: u64,
        /// Proposed figures.
        settled: Settled,
        /// Why.
        reason: String,
        /// SM3 of the supporting document, if any.
        attachment_sm3: Option<Digest>,
    },
    /// The other carrier accepted them: the line settles at these figures.
    AdjustmentAccepted {
        /// The adjustment.
        adjustment_id: u64,
        /// The figures the line took.
        settled: Settled,
    },
    /// The other carrier rejected them.
    AdjustmentRejected {
        /// The adjustment.
        adjustment_id: u64,
        /// Why.
        reason: String,
    },
}

/// One entry of a line's history.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LineEvent {
    /// The line.
    pub line_no: u64,
    /// Position in the line's history (the reconciliation has none).
    pub seq: Option<u32>,
    /// What happened.
    pub event: LineEventKind,
    /// The side that acted (`None` for the reconciliation, which the contract did).
    pub side: Option<Side>,
    /// The organisation whose identity signed the transaction.
    pub msp_id: String,
    /// Its certificate's common name.
    pub common_name: String,
    /// Its department attribute, if any.
    pub department: Option<String>,
    /// The user a gateway signed for, if any.
    pub on_behalf_of: Option<ActingUser>,
    /// The transaction.
    pub tx_id: Digest,
    /// Its proposal time, ms since the epoch.
    pub at_ms: u64,
}

impl LineEvent {
    /// The entry `caller` adds to `line`'s history; counts it on the line.
    pub fn record(
        caller: &Caller,
        side: Side,
        line: &mut ReconciledLine,
        event: LineEventKind,
    ) -> Result<Self, crate::SettleError> {
        let seq = line.history;
        if usize::try_from(seq).unwrap_or(usize::MAX) >= LINE_HISTORY_MAX {
            return Err(crate::StateError::HistoryFull(line.line_no).into());
        }
        line.history = seq.saturating_add(1);
        Ok(Self {
            line_no: line.line_no,
            seq: Some(seq),
            event,
            side: Some(side),
            msp_id: caller.msp_id.clone(),
            common_name: caller.common_name.clone(),
            department: caller.department.clone(),
            on_behalf_of: caller.on_behalf_of.clone(),
            tx_id: caller.tx_id,
            at_ms: caller.at_ms,
        })
    }

    /// The reconciliation entry of `line`, made by `reconciled`'s transaction.
    pub fn reconciled(line: &ReconciledLine, reconciled: &Mark) -> Self {
        Self {
            line_no: line.line_no,
            seq: None,
            event: LineEventKind::Reconciled {
                a: line.a.clone(),
                b: line.b.clone(),
            },
            side: None,
            msp_id: reconciled.msp_id.clone(),
            common_name: reconciled.common_name.clone(),
            department: None,
            on_behalf_of: reconciled.on_behalf_of.clone(),
            tx_id: reconciled.tx_id,
            at_ms: reconciled.at_ms,
        }
    }

    /// The proposal entry of `adjustment`.
    pub fn proposed(adjustment: &Adjustment) -> LineEventKind {
        LineEventKind::AdjustmentProposed {
            adjustment_id: adjustment.id,
            settled: Settled {
                quantity: adjustment.quantity,
                amount_fen: adjustment.amount_fen,
            },
            reason: adjustment.reason.clone(),
            attachment_sm3: adjustment.attachment_sm3,
        }
    }
}
