//! Finance sign-off and payment, pure (MISSION §2 step 7): once the data is final, each
//! carrier's finance department approves it; after both approvals the payer's finance
//! records the payment of the net amount and the payee's finance acknowledges it, which
//! closes the period. Only identities whose certificate carries `department=finance` take
//! these steps, and they take no other ([`crate::workflow::finance_side`],
//! [`crate::workflow::settlement_side`]).
//!
//! ```text
//!  Final ──approve A, approve B──▶ (pay by the payer) ──ack by the payee──▶ Closed
//!                          └── net zero: the second approval closes the period
//! ```
//!
//! When the final data nets to zero there is nothing to pay: the second approval closes
//! the period at once, and `pay` is refused (409).

use crate::agreement::Side;
use crate::api::{AckRequest, PayRequest};
use crate::error::{AccessError, SettleError, StateError};
use crate::limits::PAYMENT_REFERENCE_BYTES_MAX;
use crate::workflow::{
    Action, Caller, Mark, NetPosition, Payment, PeriodState, Phase, finance_side,
};

/// What an approval did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Approved {
    /// The approving side.
    pub side: Side,
    /// Both sides have now approved.
    pub both: bool,
    /// The approval closed the period (both approved, nothing to pay).
    pub closed: bool,
}

/// Checks a payment reference: 1 to [`PAYMENT_REFERENCE_BYTES_MAX`] bytes, no control
/// characters, no surrounding space.
pub fn check_reference(reference: &str) -> Result<(), SettleError> {
    if reference.len() > PAYMENT_REFERENCE_BYTES_MAX {
        return Err(SettleError::TooLarge {
            what: "reference",
            max: PAYMENT_REFERENCE_BYTES_MAX,
            actual: reference.len(),
        });
    }
    if reference.is_empty()
        || reference.trim() != reference
        || reference.chars().any(char::is_control)
    {
        return Err(SettleError::bad(
            "a payment reference must be non-empty text without control characters or surrounding space",
        ));
    }
    Ok(())
}

impl PeriodState {
    /// The final data's net position, which finalising recorded.
    fn net_position(&self) -> Result<NetPosition, SettleError> {
        self.net
            .ok_or(SettleError::Corrupt("period (final without net position)"))
    }

    /// What `side`'s finance must do next in a final period.
    pub(crate) fn finance_move(&self, side: Side) -> Option<Action> {
        if self.side(side).approval.is_none() {
            return Some(Action::Approve);
        }
        // Nothing more for this side until the other side's finance approved too.
        self.side(side.other()).approval.as_ref()?;
        let payer = self.net?.payer?;
        match &self.payment {
            None => (side == payer).then_some(Action::Pay),
            Some(payment) if payment.acknowledged.is_none() => {
                (side == payer.other()).then_some(Action::Acknowledge)
            }
            Some(_) => None,
        }
    }

    /// Records the net position of data that just became final.
    pub fn record_net(&mut self, payer: Option<Side>, amount_fen: u64) {
        self.net = Some(NetPosition { payer, amount_fen });
    }

    /// Step `approve`: the caller's finance department approves the final data, once.
    pub fn approve(&mut self, caller: &Caller) -> Result<Approved, SettleError> {
        let side = finance_side(&self.agreement, caller)?;
        self.require(&[Phase::Final], "approve")?;
        if self.side(side).approval.is_some() {
            return Err(StateError::AlreadyApproved(caller.msp_id.clone()).into());
        }
        let net = self.net_position()?;
        self.side_mut(side).approval = Some(Mark::of(caller));
        let both = self.a.approval.is_some() && self.b.approval.is_some();
        let closed = both && net.payer.is_none();
        if closed {
            self.phase = Phase::Closed;
        }
        Ok(Approved { side, both, closed })
    }

    /// Step `pay`: the payer's finance records the payment of exactly the net amount,
    /// after both approvals.
    pub fn pay(&mut self, caller: &Caller, request: &PayRequest) -> Result<Side, SettleError> {
        let side = finance_side(&self.agreement, caller)?;
        self.require(&[Phase::Final], "pay")?;
        check_reference(&request.reference)?;
        let net = self.net_position()?;
        let payer = net.payer.ok_or(StateError::NothingToPay)?;
        if let Some(payment) = &self.payment {
            return Err(StateError::AlreadyPaid(payment.reference.clone()).into());
        }
        if side != payer {
            return Err(AccessError::WrongCarrier(format!(
                "{} is the payee; the payer {} records the payment",
                caller.msp_id,
                self.agreement.party(payer)
            ))
            .into());
        }
        self.require_approvals()?;
        if request.amount_fen != net.amount_fen {
            return Err(StateError::PaymentAmount {
                expected: net.amount_fen,
                given: request.amount_fen,
            }
            .into());
        }
        self.payment = Some(Payment {
            reference: request.reference.clone(),
            amount_fen: request.amount_fen,
            paid_at_ms: request.paid_at_ms,
            recorded: Mark::of(caller),
            acknowledged: None,
        });
        Ok(side)
    }

    /// Step `ack`: the payee's finance acknowledges the recorded payment; the period is
    /// closed.
    pub fn acknowledge(
        &mut self,
        caller: &Caller,
        request: &AckRequest,
    ) -> Result<Side, SettleError> {
        let side = finance_side(&self.agreement, caller)?;
        self.require(&[Phase::Final], "ack")?;
        check_reference(&request.reference)?;
        let net = self.net_position()?;
        let payer = net.payer.ok_or(StateError::NothingToPay)?;
        if side == payer {
            return Err(AccessError::WrongCarrier(format!(
                "{} is the payer; the payee {} acknowledges the payment",
                caller.msp_id,
                self.agreement.party(payer.other())
            ))
            .into());
        }
        let payment = self.payment.as_mut().ok_or(StateError::NoPayment)?;
        if payment.reference != request.reference {
            return Err(StateError::ReferenceMismatch {
                recorded: payment.reference.clone(),
            }
            .into());
        }
        payment.acknowledged = Some(Mark::of(caller));
        self.phase = Phase::Closed;
        Ok(side)
    }

    fn require_approvals(&self) -> Result<(), SettleError> {
        let waiting: Vec<&str> = [Side::A, Side::B]
            .into_iter()
            .filter(|side| self.side(*side).approval.is_none())
            .map(|side| self.agreement.party(side))
            .collect();
        if waiting.is_empty() {
            Ok(())
        } else {
            Err(StateError::AwaitingApproval(waiting.join(" and ")).into())
        }
    }
}
