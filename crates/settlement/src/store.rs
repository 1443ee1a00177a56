//! The contract's state layout and record encoding over the contract [`Context`].
//!
//! Records are encoded with the protocol codec (`0x01 ‖ bincode`, size-checked both
//! ways); keys are composite keys:
//!
//! | key | record |
//! |---|---|
//! | `agreement` | [`AgreementRecord`]: the terms in force and their version |
//! | `agreement_proposal` | [`AgreementProposal`]: terms awaiting the other admin |
//! | `period ‖ YYYY-MM` | [`PeriodState`] |
//! | `upload ‖ YYYY-MM ‖ round ‖ msp` | the raw ciphertext of one carrier's upload in one round |
//! | `page ‖ YYYY-MM ‖ page` | [`Page`]: up to [`PAGE_LINES`] reconciled lines |
//! | `adjustment ‖ YYYY-MM ‖ id` | [`Adjustment`] |
//! | `audit ‖ YYYY-MM ‖ seq` | [`AuditEntry`] |
//! | `final ‖ YYYY-MM` | [`FinalData`] |
//! | `line_event ‖ YYYY-MM ‖ line_no ‖ seq` | [`LineEvent`]: one entry of a line's history |
//!
//! Numbers in keys are zero-padded decimal so key order is numeric order.

use netsettle_contract::{Context, ContractError, composite_key};
use netsettle_protocol::{InvalidMessage, Wire, decode, encode};

use crate::agreement::Agreement;
use crate::api::Digest;
use crate::error::SettleError;
use crate::finance::FinalData;
use crate::history::LineEvent;
use crate::limits::{PAGE_BYTES_MAX, PAGE_LINES, PERIOD_STATE_BYTES_MAX, RECORD_BYTES_MAX};
use crate::reconcile::ReconciledLine;
use crate::units::Period;
use crate::workflow::{Adjustment, AuditEntry, PeriodState};

/// The agreement in force.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AgreementRecord {
    /// The terms.
    pub agreement: Agreement,
    /// 1 for the first agreement, +1 per accepted change.
    pub version: u64,
    /// The admin organisation that proposed it.
    pub proposed_by: String,
    /// The admin organisation that accepted it.
    pub accepted_by: String,
    /// The accepting transaction.
    pub tx_id: Digest,
}

/// Terms proposed by one carrier's admin.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AgreementProposal {
    /// The terms.
    pub agreement: Agreement,
    /// SM3 of their JSON form.
    pub digest: Digest,
    /// The proposing organisation.
    pub proposed_by: String,
    /// The proposing transaction.
    pub tx_id: Digest,
}

/// Up to [`PAGE_LINES`] consecutive reconciled lines.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Page {
    /// The lines, `line_no` ascending and consecutive.
    pub lines: Vec<ReconciledLine>,
}

macro_rules! record {
    ($type:ty, $name:literal, $max:expr) => {
        impl Wire for $type {
            const NAME: &'static str = $name;
            const BYTES_MAX: usize = $max;
            fn check(&self) -> Result<(), InvalidMessage> {
                Ok(())
            }
        }
    };
}

record!(AgreementRecord, "settlement agreement", RECORD_BYTES_MAX);
record!(
    AgreementProposal,
    "settlement agreement proposal",
    RECORD_BYTES_MAX
);
record!(PeriodState, "settlement period", PERIOD_STATE_BYTES_MAX);
record!(Adjustment, "settlement adjustment", RECORD_BYTES_MAX);
record!(AuditEntry, "settlement audit entry", RECORD_BYTES_MAX);
record!(FinalData, "settlement final data", RECORD_BYTES_MAX);
record!(LineEvent, "settlement line event", RECORD_BYTES_MAX);

impl Wire for Page {
    const NAME: &'static str = "settlement page";
    const BYTES_MAX: usize = PAGE_BYTES_MAX;
    fn check(&self) -> Result<(), InvalidMessage> {
        if self.lines.len() > PAGE_LINES {
            return Err(InvalidMessage::TooMany {
                what: "page lines",
                max: PAGE_LINES,
                actual: self.lines.len(),
            });
        }
        let consecutive = self
            .lines
            .windows(2)
            .all(|pair| matches!(pair, [x, y] if x.line_no.checked_add(1) == Some(y.line_no)));
        if !consecutive {
            return Err(InvalidMessage::NotCanonical { what: "page lines" });
        }
        Ok(())
    }
}

/// Typed access to the contract's records.
pub struct Store<'c> {
    ctx: &'c mut dyn Context,
}

impl From<ContractError> for SettleError {
    fn from(error: ContractError) -> Self {
        Self::Context(error)
    }
}

fn number(value: u64) -> String {
    format!("{value:012}")
}

/// Key of the agreement in force.
pub fn agreement_key() -> Result<String, SettleError> {
    Ok(composite_key("agreement", &[])?)
}

/// Key of the pending agreement proposal.
pub fn agreement_proposal_key() -> Result<String, SettleError> {
    Ok(composite_key("agreement_proposal", &[])?)
}

/// Key of a period record.
pub fn period_key(period: Period) -> Result<String, SettleError> {
    Ok(composite_key("period", &[&period.to_string()])?)
}

/// Key of an upload's ciphertext.
pub fn upload_key(period: Period, round: u32, carrier: &str) -> Result<String, SettleError> {
    Ok(composite_key(
        "upload",
        &[&period.to_string(), &number(u64::from(round)), carrier],
    )?)
}

/// Key of a page.
pub fn page_key(period: Period, page: u64) -> Result<String, SettleError> {
    Ok(composite_key(
        "page",
        &[&period.to_string(), &number(page)],
    )?)
}

/// Key of an adjustment.
pub fn adjustment_key(period: Period, id: u64) -> Result<String, SettleError> {
    Ok(composite_key(
        "adjustment",
        &[&period.to_string(), &number(id)],
    )?)
}

/// Key of an audit entry; with `seq` `None`, the prefix of all of the period's entries.
pub fn audit_key(period: Period, seq: Option<u64>) -> Result<String, SettleError> {
    match seq {
        Some(seq) => Ok(composite_key(
            "audit",
            &[&period.to_string(), &number(seq)],
        )?),
        None => Ok(composite_key("audit", &[&period.to_string()])?),
    }
}

/// Key of a line history entry; with `seq` `None`, the prefix of all of the line's
/// entries.
pub fn line_event_key(
    period: Period,
    line_no: u64,
    seq: Option<u32>,
) -> Result<String, SettleError> {
    let period = period.to_string();
    let line_no = number(line_no);
    match seq {
        Some(seq) => Ok(composite_key(
            "line_event",
            &[&period, &line_no, &number(u64::from(seq))],
        )?),
        None => Ok(composite_key("line_event", &[&period, &line_no])?),
    }
}

/// The prefix of every period record's key.
pub fn periods_prefix() -> Result<String, SettleError> {
    Ok(composite_key("period", &[])?)
}

/// Key of the final data.
pub fn final_key(period: Period) -> Result<String, SettleError> {
    Ok(composite_key("final", &[&period.to_string()])?)
}

/// The page holding `line_no`.
pub fn page_of(line_no: u64) -> u64 {
    line_no / PAGE_LINES as u64
}

impl<'c> Store<'c> {
    /// Wraps a context.
    pub fn new(ctx: &'c mut dyn Context) -> Self {
        Self { ctx }
    }

    /// The context, for what is not a record (events, creator, history).
    pub fn ctx(&mut self) -> &mut dyn Context {
        self.ctx
    }

    /// Reads and decodes a record.
    pub fn get<T: Wire>(&mut self, key: &str) -> Result<Option<T>, SettleError> {
        match self.ctx.get(key)? {
            None => Ok(None),
            Some(bytes) => decode(&bytes)
                .map(Some)
                .map_err(|_| SettleError::Corrupt(T::NAME)),
        }
    }

    /// Encodes and writes a record.
    pub fn put<T: Wire>(&mut self, key: &str, record: &T) -> Result<(), SettleError> {
        let bytes = encode(record).map_err(|_| SettleError::Corrupt(T::NAME))?;
        self.ctx.put(key, &bytes)?;
        Ok(())
    }

    /// Reads raw bytes.
    pub fn get_raw(&mut self, key: &str) -> Result<Option<Vec<u8>>, SettleError> {
        Ok(self.ctx.get(key)?)
    }

    /// Writes raw bytes.
    pub fn put_raw(&mut self, key: &str, value: &[u8]) -> Result<(), SettleError> {
        Ok(self.ctx.put(key, value)?)
    }

    /// Deletes a key.
    pub fn delete(&mut self, key: &str) -> Result<(), SettleError> {
        Ok(self.ctx.delete(key)?)
    }

    /// The period record, or 404.
    pub fn period(&mut self, period: Period) -> Result<PeriodState, SettleError> {
        self.get(&period_key(period)?)?
            .ok_or_else(|| SettleError::NotFound(format!("period {period}")))
    }

    /// The page holding `line_no` of a reconciled period, or 404.
    pub fn page_for(
        &mut self,
        state: &PeriodState,
        line_no: u64,
    ) -> Result<(u64, Page), SettleError> {
        if line_no >= state.summary.lines {
            return Err(SettleError::NotFound(format!(
                "line {line_no} of period {}",
                state.period
            )));
        }
        let page_no = page_of(line_no);
        let page: Page = self
            .get(&page_key(state.period, page_no)?)?
            .ok_or(SettleError::Corrupt("page"))?;
        Ok((page_no, page))
    }
}
