//! The small value types every settlement record is built from: the period id, fixed-point
//! rates, and the bounded text tokens of a line key. Each parses strictly and has exactly
//! one text form, which the canonical report encoding relies on.

use core::fmt;
use core::str::FromStr;

use crate::limits::{RATE_DECIMALS, RATE_MICROS_MAX, TOKEN_BYTES_MAX, TOKEN_CHARS_MAX};

/// A settlement period, `YYYY-MM` (year 2000–9999).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "String", into = "String")]
pub struct Period {
    year: u16,
    month: u8,
}

impl Period {
    /// The period of `year` and `month` (1–12), if valid.
    pub fn new(year: u16, month: u8) -> Option<Self> {
        ((2000..=9999).contains(&year) && (1..=12).contains(&month)).then_some(Self { year, month })
    }

    /// The year and month after the period (reports are due in it); the year may be
    /// 10000 after `9999-12`.
    pub fn following(self) -> (u16, u8) {
        if self.month >= 12 {
            (self.year.saturating_add(1), 1)
        } else {
            (self.year, self.month.saturating_add(1))
        }
    }
}

impl FromStr for Period {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let invalid = || format!("period {text:?} is not YYYY-MM");
        let (year, month) = text.split_once('-').ok_or_else(invalid)?;
        if year.len() != 4 || month.len() != 2 || !all_digits(year) || !all_digits(month) {
            return Err(invalid());
        }
        let year: u16 = year.parse().map_err(|_| invalid())?;
        let month: u8 = month.parse().map_err(|_| invalid())?;
        Self::new(year, month).ok_or_else(invalid)
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

impl TryFrom<String> for Period {
    type Error = String;
    fn try_from(text: String) -> Result<Self, Self::Error> {
        text.parse()
    }
}

impl From<Period> for String {
    fn from(period: Period) -> Self {
        period.to_string()
    }
}

fn all_digits(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|byte| byte.is_ascii_digit())
}

/// A rate in millionths of a yuan per unit, written as a decimal with up to six digits
/// after the point (`0.06`, `12.345678`); its canonical text always has six.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Default,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(try_from = "String", into = "String")]
pub struct Rate {
    micros: u64,
}

impl Rate {
    /// From millionths of a yuan, if within [`RATE_MICROS_MAX`].
    pub fn from_micros(micros: u64) -> Option<Self> {
        (micros <= RATE_MICROS_MAX).then_some(Self { micros })
    }

    /// Millionths of a yuan per unit.
    pub fn micros(self) -> u64 {
        self.micros
    }
}

impl FromStr for Rate {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let invalid = || format!("rate {text:?} is not a decimal with at most 6 decimals");
        let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
        let fraction_ok = fraction.is_empty() && !text.contains('.') || all_digits(fraction);
        if !all_digits(whole) || !fraction_ok || fraction.len() > 6 || whole.len() > 13 {
            return Err(invalid());
        }
        let whole: u64 = whole.parse().map_err(|_| invalid())?;
        let mut micros_fraction: u64 = 0;
        let mut digits_written: u32 = 0;
        for digit in fraction.bytes() {
            micros_fraction = micros_fraction * 10 + u64::from(digit - b'0');
            digits_written += 1;
        }
        let scale = 10u64.pow(RATE_DECIMALS - digits_written);
        whole
            .checked_mul(10u64.pow(RATE_DECIMALS))
            .and_then(|micros| micros.checked_add(micros_fraction * scale))
            .and_then(Self::from_micros)
            .ok_or_else(|| format!("rate {text:?} is out of range"))
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let one = 10u64.pow(RATE_DECIMALS);
        write!(f, "{}.{:06}", self.micros / one, self.micros % one)
    }
}

impl TryFrom<String> for Rate {
    type Error = String;
    fn try_from(text: String) -> Result<Self, Self::Error> {
        text.parse()
    }
}

impl From<Rate> for String {
    fn from(rate: Rate) -> Self {
        rate.to_string()
    }
}

/// A name in a line key or unit: a settlement item (`voice`, `国内长途话音`), a local network
/// area (`0571`, `北京`) or a unit (`minute`, `分钟`). UTF-8, kept in Unicode normalisation
/// form C so that the same name typed or exported two ways has one canonical text and one
/// commitment; 1 to [`TOKEN_BYTES_MAX`] bytes and at most [`TOKEN_CHARS_MAX`] characters
/// (after normalisation); no control or format characters ([`is_format_char`]), no
/// U+FFFD (the mark of a botched conversion), no leading or trailing white space, no
/// comma or double quote (the CSV has no quoting), and no leading `#` (a comment line).
/// Names sort in byte order.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "String", into = "String")]
pub struct Token(String);

impl Token {
    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Token {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        use unicode_normalization::UnicodeNormalization as _;
        // Bound the input before normalising it (NFC never more than triples a length).
        if text.len() > TOKEN_BYTES_MAX.saturating_mul(3) {
            return Err(format!("name {text:?} is over {TOKEN_BYTES_MAX} bytes"));
        }
        let name: String = text.nfc().collect();
        if name.is_empty() {
            return Err("a name must not be empty".to_owned());
        }
        if name.len() > TOKEN_BYTES_MAX || name.chars().count() > TOKEN_CHARS_MAX {
            return Err(format!(
                "name {name:?} is over {TOKEN_BYTES_MAX} bytes or {TOKEN_CHARS_MAX} characters"
            ));
        }
        let bad = name
            .chars()
            .find(|c| c.is_control() || is_format_char(*c) || matches!(c, ',' | '"' | '\u{FFFD}'));
        if let Some(bad) = bad {
            return Err(format!(
                "name {name:?} holds {bad:?} (U+{:04X}): no control, format or replacement characters, commas or quotes",
                u32::from(bad)
            ));
        }
        if name.trim() != name || name.starts_with('#') {
            return Err(format!(
                "name {name:?} must not start or end with white space or start with #"
            ));
        }
        Ok(Self(name))
    }
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for Token {
    type Error = String;
    fn try_from(text: String) -> Result<Self, Self::Error> {
        text.parse()
    }
}

impl From<Token> for String {
    fn from(token: Token) -> Self {
        token.0
    }
}

/// Parses a non-negative integer with no sign, no leading zeros (except `0` itself) and
/// at most `max`, so every number has one text form.
pub(crate) fn parse_count(text: &str, what: &str, max: u64) -> Result<u64, String> {
    if text.starts_with('-') {
        return Err(format!("{what} {text:?} is negative"));
    }
    let canonical = all_digits(text) && (text == "0" || !text.starts_with('0'));
    if !canonical || text.len() > 20 {
        return Err(format!("{what} {text:?} is not a whole number"));
    }
    text.parse::<u64>()
        .ok()
        .filter(|value| *value <= max)
        .ok_or_else(|| format!("{what} {text:?} is over its maximum {max}"))
}

/// Whether `c` is a Unicode format character (general category Cf: soft hyphen, zero-width
/// spaces and joiners, bidirectional controls, the byte-order mark, tag characters, ...).
/// They are invisible, so two names that differ only by one look the same to people
/// while their commitments differ; names and user ids refuse them.
pub fn is_format_char(c: char) -> bool {
    matches!(
        u32::from(c),
        0x00AD
            | 0x0600..=0x0605
            | 0x061C
            | 0x06DD
            | 0x070F
            | 0x0890..=0x0891
            | 0x08E2
            | 0x180E
            | 0x200B..=0x200F
            | 0x202A..=0x202E
            | 0x2060..=0x2064
            | 0x2066..=0x206F
            | 0xFEFF
            | 0xFFF9..=0xFFFB
            | 0x110BD
            | 0x110CD
            | 0x13430..=0x1343F
            | 0x1BCA0..=0x1BCA3
            | 0x1D173..=0x1D17A
            | 0xE0001
            | 0xE0020..=0xE007F
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_parse_strictly() {
        assert_eq!("2026-10".parse::<Period>().unwrap().to_string(), "2026-10");
        for bad in [
            "2026-13", "2026-00", "26-10", "2026-1", "2026/10", "1999-12", "+026-10", "",
        ] {
            assert!(bad.parse::<Period>().is_err(), "{bad}");
        }
    }

    #[test]
    fn rates_have_one_text_form() {
        assert_eq!("0.06".parse::<Rate>().unwrap().micros(), 60_000);
        assert_eq!("12".parse::<Rate>().unwrap().to_string(), "12.000000");
        assert_eq!("0.000001".parse::<Rate>().unwrap().micros(), 1);
        for bad in [
            "",
            ".",
            "1.",
            ".5",
            "-1",
            "1.0000001",
            "1e3",
            "0x10",
            "1.2.3",
            "99999999999999",
        ] {
            assert!(bad.parse::<Rate>().is_err(), "{bad}");
        }
    }

    #[test]
    fn counts_reject_signs_and_leading_zeros() {
        assert_eq!(parse_count("0", "q", 10), Ok(0));
        assert!(parse_count("-1", "q", 10).unwrap_err().contains("negative"));
        assert!(parse_count("01", "q", 10).is_err());
        assert!(parse_count("11", "q", 10).is_err());
        assert!(parse_count("99999999999999999999999", "q", u64::MAX).is_err());
    }
}
