//! The settlement agreement between the two carriers: who the parties are, the currency,
//! when two figures for a line count as agreed, and how long a round may wait for both
//! reveals. It is proposed by one carrier's admin and takes effect when the other
//! carrier's admin accepts exactly the same terms.

use netsettle_smcrypto::{Hash, sm3};

use crate::SettleError;
use crate::limits::DEADLINE_MARGIN_MS_DEFAULT;
use crate::report::check_msp_id;

/// The only currency settled.
pub const CURRENCY: &str = "CNY";
/// Basis points in one whole.
pub const BASIS_POINTS_ONE: u32 = 10_000;
/// Longest reveal window: 90 days.
pub const REVEAL_WINDOW_MS_MAX: u64 = 90 * 24 * 3600 * 1000;

/// One side of the agreement.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub enum Side {
    /// `party_a` of the agreement.
    A,
    /// `party_b` of the agreement.
    B,
}

impl Side {
    /// The other side.
    pub fn other(self) -> Self {
        match self {
            Self::A => Self::B,
            Self::B => Self::A,
        }
    }
}

/// The terms both carriers signed up to.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Agreement {
    /// MSP id of one carrier, e.g. `UnicomMSP`.
    pub party_a: String,
    /// MSP id of the other carrier, e.g. `MobileMSP`.
    pub party_b: String,
    /// Always `CNY`; amounts are integer fen.
    pub currency: String,
    /// A line is agreed when its two amounts differ by at most this many fen...
    pub tolerance_fen: u64,
    /// ...or by at most this many basis points of the larger amount.
    pub tolerance_bp: u32,
    /// Both reports and both keys must be on the chain within this many milliseconds of
    /// the round's start (the first upload of a period, or the reset that opened a later
    /// round); after that, plus [`Agreement::clock_margin_ms`], either side may close the
    /// round (`reset`).
    pub reveal_window_ms: u64,
    /// The margin added to every deadline, because the contract's only time is the
    /// proposal timestamp the client chose. It must be at least twice the chain's
    /// timestamp bound ([`crate::limits::TX_TIME_BOUND_MS`]) for a deadline to hold against
    /// a back-dated upload and a forward-dated reset; that is the default when the JSON
    /// omits it. A carrier's admin must not accept less (only test chains do).
    #[serde(default = "default_clock_margin_ms")]
    pub clock_margin_ms: u64,
}

fn default_clock_margin_ms() -> u64 {
    DEADLINE_MARGIN_MS_DEFAULT
}

impl Agreement {
    /// Checks the terms: two different valid MSP ids, CNY, basis points at most 10,000,
    /// a reveal window from 1 ms to 90 days.
    pub fn check(&self) -> Result<(), SettleError> {
        check_msp_id(&self.party_a).map_err(SettleError::bad)?;
        check_msp_id(&self.party_b).map_err(SettleError::bad)?;
        if self.party_a == self.party_b {
            return Err(SettleError::bad("the two parties must differ"));
        }
        if self.currency != CURRENCY {
            return Err(SettleError::bad(format!("currency must be {CURRENCY}")));
        }
        if self.tolerance_bp > BASIS_POINTS_ONE {
            return Err(SettleError::bad("tolerance_bp is at most 10000"));
        }
        if self.reveal_window_ms == 0 || self.reveal_window_ms > REVEAL_WINDOW_MS_MAX {
            return Err(SettleError::bad("reveal_window_ms must be 1 ms to 90 days"));
        }
        if self.clock_margin_ms > REVEAL_WINDOW_MS_MAX {
            return Err(SettleError::bad("clock_margin_ms is at most 90 days"));
        }
        Ok(())
    }

    /// Which side `msp_id` is, if a party.
    pub fn side_of(&self, msp_id: &str) -> Option<Side> {
        if msp_id == self.party_a {
            Some(Side::A)
        } else if msp_id == self.party_b {
            Some(Side::B)
        } else {
            None
        }
    }

    /// The MSP id of `side`.
    pub fn party(&self, side: Side) -> &str {
        match side {
            Side::A => &self.party_a,
            Side::B => &self.party_b,
        }
    }

    /// Whether two amounts of the same line count as agreed. Symmetric in its arguments.
    pub fn within_tolerance(&self, first_fen: u64, second_fen: u64) -> bool {
        let difference = first_fen.abs_diff(second_fen);
        if difference <= self.tolerance_fen {
            return true;
        }
        let larger = u128::from(first_fen.max(second_fen));
        u128::from(difference) * u128::from(BASIS_POINTS_ONE)
            <= larger * u128::from(self.tolerance_bp)
    }

    /// SM3 of the JSON form: what the accepting admin names to accept these exact terms.
    pub fn digest(&self) -> Hash {
        sm3(&serde_json::to_vec(self).unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn terms(tolerance_fen: u64, tolerance_bp: u32) -> Agreement {
        Agreement {
            party_a: "UnicomMSP".into(),
            party_b: "MobileMSP".into(),
            currency: CURRENCY.into(),
            tolerance_fen,
            tolerance_bp,
            reveal_window_ms: 86_400_000,
            clock_margin_ms: DEADLINE_MARGIN_MS_DEFAULT,
        }
    }

    #[test]
    fn tolerance_is_absolute_or_relative() {
        let absolute = terms(100, 0);
        assert!(absolute.within_tolerance(1_000, 1_100));
        assert!(!absolute.within_tolerance(1_000, 1_101));
        let relative = terms(0, 50); // 0.5 %
        assert!(relative.within_tolerance(100_000, 100_500));
        assert!(!relative.within_tolerance(100_000, 100_503));
        assert!(
            relative.within_tolerance(100_503, 100_000)
                == relative.within_tolerance(100_000, 100_503)
        );
        assert!(terms(0, 0).within_tolerance(7, 7));
        assert!(!terms(0, 0).within_tolerance(7, 8));
    }

    #[test]
    fn terms_are_checked() {
        assert!(terms(0, 0).check().is_ok());
        assert!(terms(0, 10_001).check().is_err());
        let mut same = terms(0, 0);
        same.party_b = same.party_a.clone();
        assert!(same.check().is_err());
        let mut usd = terms(0, 0);
        usd.currency = "USD".into();
        assert!(usd.check().is_err());
    }
}
