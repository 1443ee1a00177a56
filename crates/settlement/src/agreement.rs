//! The settlement agreement between the two carriers: who the parties are, the currency,
//! when two figures for a line count as agreed, by which day of the following month each
//! report is due, and how long a round may wait for both reveals. It is proposed by one carrier's admin and takes effect when the other
//! carrier's admin accepts exactly the same terms.

use netsettle_smcrypto::{Hash, sm3};

use crate::SettleError;
use crate::limits::DEADLINE_MARGIN_MS_DEFAULT;
use crate::report::check_msp_id;
use crate::units::Period;

/// The only currency settled.
pub const CURRENCY: &str = "CNY";
/// Basis points in one whole.
pub const BASIS_POINTS_ONE: u32 = 10_000;
/// Longest reveal window: 90 days.
pub const REVEAL_WINDOW_MS_MAX: u64 = 90 * 24 * 3600 * 1000;
/// Latest upload deadline day: the 28th, a day every month has, so the term means the same
/// date every month (interconnection agreements name a fixed day, e.g. the 5th or 10th).
pub const UPLOAD_DEADLINE_DAY_MAX: u8 = 28;
/// Deadline days are Beijing time (UTC+08:00, no daylight saving), the time both carriers'
/// billing cycles and agreements use.
pub const BEIJING_UTC_OFFSET_MS: u64 = 8 * 3600 * 1000;
const DAY_MS: u64 = 24 * 3600 * 1000;

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
    /// The day of the month after the period (1 to [`UPLOAD_DEADLINE_DAY_MAX`]) by whose
    /// end, Beijing time, each carrier's report must be on the chain: `5` means period
    /// `2026-10` is due by 2026-11-05 24:00 (UTC+08:00). An upload after that (judged
    /// with [`Agreement::clock_margin_ms`], like every deadline) is shown late; lateness
    /// blocks nothing. `None` (the default when the JSON omits it, as agreements made
    /// before the term did): no upload deadline agreed, nobody is late.
    #[serde(default, deserialize_with = "upload_deadline_day")]
    pub upload_deadline_day: Option<u8>,
}

/// Decodes [`Agreement::upload_deadline_day`], naming the term in the error: serde's own
/// message ("expected u8") does not say which field, nor what a carrier should write.
fn upload_deadline_day<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<u8>, D::Error> {
    use serde::Deserialize as _;
    use serde::de::Error as _;
    Option::<u8>::deserialize(deserializer).map_err(|error| {
        D::Error::custom(format!(
            "upload_deadline_day is a day of the month after the period, 1 to \
             {UPLOAD_DEADLINE_DAY_MAX}: {error}"
        ))
    })
}

/// The terms as their digest sees them: the JSON of [`Agreement`], except that an absent
/// upload deadline is left out, so agreements made before that term keep their digest.
/// JSON only: the stored records use bincode, which cannot skip a field.
#[derive(serde::Serialize)]
struct DigestedTerms<'a> {
    party_a: &'a str,
    party_b: &'a str,
    currency: &'a str,
    tolerance_fen: u64,
    tolerance_bp: u32,
    reveal_window_ms: u64,
    clock_margin_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    upload_deadline_day: Option<u8>,
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
        if let Some(day) = self.upload_deadline_day
            && !(1..=UPLOAD_DEADLINE_DAY_MAX).contains(&day)
        {
            return Err(SettleError::bad(format!(
                "upload_deadline_day is a day of the month after the period, 1 to \
                 {UPLOAD_DEADLINE_DAY_MAX} (a day every month has), not {day}"
            )));
        }
        Ok(())
    }

    /// When `period`'s reports are due, ms since the epoch: the end (24:00 Beijing time)
    /// of [`Agreement::upload_deadline_day`] in the following month. `None` without that
    /// term (or with a day out of range, which [`Agreement::check`] refuses).
    pub fn upload_deadline_ms(&self, period: Period) -> Option<u64> {
        let day = self
            .upload_deadline_day
            .filter(|day| (1..=UPLOAD_DEADLINE_DAY_MAX).contains(day))?;
        let (year, month) = period.following();
        let midnight_ms = days_since_epoch(year, month, day)?
            .checked_add(1)?
            .checked_mul(DAY_MS)?;
        midnight_ms.checked_sub(BEIJING_UTC_OFFSET_MS)
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
        let terms = DigestedTerms {
            party_a: &self.party_a,
            party_b: &self.party_b,
            currency: &self.currency,
            tolerance_fen: self.tolerance_fen,
            tolerance_bp: self.tolerance_bp,
            reveal_window_ms: self.reveal_window_ms,
            clock_margin_ms: self.clock_margin_ms,
            upload_deadline_day: self.upload_deadline_day,
        };
        sm3(&serde_json::to_vec(&terms).unwrap_or_default())
    }
}

/// Days from 1970-01-01 to `year-month-day` (proleptic Gregorian; Howard Hinnant's
/// `days_from_civil`), for dates from 1970 on; `None` before that.
fn days_since_epoch(year: u16, month: u8, day: u8) -> Option<u64> {
    let (year, month, day) = (i64::from(year), i64::from(month), i64::from(day));
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    u64::try_from(era * 146_097 + day_of_era - 719_468).ok()
}

/// The date (year, month, day; proleptic Gregorian) of a day count since 1970-01-01, the
/// inverse of [`days_since_epoch`] (Howard Hinnant's `civil_from_days`); for showing the
/// chain's times as dates without a date crate.
pub fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days.saturating_add(719_468);
    let era = z / 146_097;
    let day_of_era = z % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_from_days_inverts_days_since_epoch() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(21_243), (2028, 2, 29));
        for days in (0..80_000u64).step_by(7) {
            let (year, month, day) = civil_from_days(days);
            let back = days_since_epoch(
                u16::try_from(year).expect("year"),
                u8::try_from(month).expect("month"),
                u8::try_from(day).expect("day"),
            );
            assert_eq!(back, Some(days));
        }
    }

    fn terms(tolerance_fen: u64, tolerance_bp: u32) -> Agreement {
        Agreement {
            party_a: "UnicomMSP".into(),
            party_b: "MobileMSP".into(),
            currency: CURRENCY.into(),
            tolerance_fen,
            tolerance_bp,
            reveal_window_ms: 86_400_000,
            clock_margin_ms: DEADLINE_MARGIN_MS_DEFAULT,
            upload_deadline_day: None,
        }
    }

    #[test]
    fn civil_days_match_known_dates() {
        assert_eq!(days_since_epoch(1970, 1, 1), Some(0));
        assert_eq!(days_since_epoch(2000, 3, 1), Some(11_017));
        assert_eq!(days_since_epoch(2026, 11, 5), Some(20_762));
        assert_eq!(days_since_epoch(2028, 2, 29), Some(21_243));
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
