//! A seeded generator of realistic report pairs, for samples, tests, the demo and the
//! bench: voice, SMS, data and leased-line items over many local network areas, both
//! directions, and a controlled share of lines where the two carriers disagree slightly
//! (within tolerance), clearly (above it), or where only one of them billed the traffic.
//!
//! The generator is deterministic: the same spec gives byte-identical reports on every
//! machine (SplitMix64, integer arithmetic only).

use crate::agreement::Agreement;
use crate::error::ReportError;
use crate::report::{Direction, Report, ReportLine};
use crate::units::{Period, Rate, Token};

/// Settlement items: name, unit, rate in millionths of a yuan, typical monthly quantity.
const ITEMS: &[(&str, &str, u64, u64)] = &[
    ("voice_local", "minute", 60_000, 2_000_000),
    ("voice_long_distance", "minute", 70_000, 600_000),
    ("voice_roaming", "minute", 120_000, 150_000),
    ("voice_video", "minute", 100_000, 40_000),
    ("sms_p2p", "message", 30_000, 3_000_000),
    ("sms_a2p", "message", 50_000, 5_000_000),
    ("mms", "message", 100_000, 60_000),
    ("data_4g", "MB", 1_500, 40_000_000),
    ("data_5g", "MB", 1_000, 90_000_000),
    ("data_roaming", "MB", 3_000, 2_000_000),
    ("leased_line_2m", "circuit_month", 1_200_000_000, 40),
    ("leased_line_155m", "circuit_month", 9_000_000_000, 8),
    ("leased_line_10g", "circuit_month", 60_000_000_000, 2),
    ("ip_transit", "Mbps_month", 12_000_000, 3_000),
    ("signalling", "message", 200, 80_000_000),
    ("toll_free", "minute", 90_000, 90_000),
];

/// Well-known local network area codes; further areas get synthetic 4-digit codes.
const AREAS: &[&str] = &[
    "010", "020", "021", "022", "023", "024", "025", "027", "028", "029", "0311", "0351", "0371",
    "0431", "0451", "0471", "0531", "0551", "0571", "0591", "0731", "0771", "0791", "0851", "0871",
    "0891", "0898", "0931", "0951", "0971", "0991", "0755", "0756", "0757", "0760", "0769", "0512",
    "0510", "0574", "0577",
];

/// What to generate.
#[derive(Debug, Clone)]
pub struct SampleSpec {
    /// PRNG seed.
    pub seed: u64,
    /// The period.
    pub period: Period,
    /// Line keys to draw (each report has about this many lines).
    pub lines: usize,
    /// Per mille of lines where B's amount differs slightly (within 1 fen per 10,000).
    pub small_difference_per_mille: u64,
    /// Per mille of lines where B's amount differs by about 5 %.
    pub large_difference_per_mille: u64,
    /// Per mille of lines only one carrier reports.
    pub one_sided_per_mille: u64,
}

impl SampleSpec {
    /// A month with `lines` line keys and typical disagreement: 2 % small differences,
    /// 0.5 % large ones, 0.3 % one-sided lines.
    pub fn typical(seed: u64, period: Period, lines: usize) -> Self {
        Self {
            seed,
            period,
            lines,
            small_difference_per_mille: 20,
            large_difference_per_mille: 5,
            one_sided_per_mille: 3,
        }
    }
}

/// SplitMix64: small, fast, and identical everywhere.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// Seeded.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next value.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..bound` (`bound` > 0; tiny modulo bias is fine for samples).
    pub fn below(&mut self, bound: u64) -> u64 {
        self.next_u64() % bound.max(1)
    }
}

fn area(idx: usize) -> String {
    match AREAS.get(idx) {
        Some(code) => (*code).to_owned(),
        None => format!("{:04}", 1000usize.saturating_add(idx)),
    }
}

fn token(text: &str) -> Result<Token, ReportError> {
    text.parse()
        .map_err(|reason| ReportError::Syntax { line_no: 0, reason })
}

/// Amount of `quantity` units at `rate_micros`, rounded half up to whole fen.
pub fn amount_fen(quantity: u64, rate_micros: u64) -> u64 {
    let micros = u128::from(quantity) * u128::from(rate_micros);
    u64::try_from((micros + 5_000) / 10_000).unwrap_or(u64::MAX)
}

/// Generates A's and B's reports for `agreement`'s parties.
pub fn generate_pair(
    spec: &SampleSpec,
    agreement: &Agreement,
) -> Result<(Report, Report), ReportError> {
    let mut rng = SplitMix64::new(spec.seed);
    let n_per_area = ITEMS.len().saturating_mul(2);
    let mut lines_a = Vec::with_capacity(spec.lines);
    let mut lines_b = Vec::with_capacity(spec.lines);
    for idx in 0..spec.lines {
        let area_idx = idx / n_per_area;
        let within = idx % n_per_area;
        let Some(&(item, unit, rate_micros, typical)) = ITEMS.get(within / 2) else {
            continue;
        };
        let direction = if within.is_multiple_of(2) {
            Direction::Payable
        } else {
            Direction::Receivable
        };
        let quantity = typical / 2 + rng.below(typical.max(1));
        let amount = amount_fen(quantity, rate_micros);
        let line_a = ReportLine {
            item: token(item)?,
            direction,
            area: token(&area(area_idx))?,
            quantity,
            unit: token(unit)?,
            rate: Rate::from_micros(rate_micros).unwrap_or_default(),
            amount_fen: amount,
        };
        let mut line_b = line_a.clone();
        line_b.direction = match direction {
            Direction::Payable => Direction::Receivable,
            Direction::Receivable => Direction::Payable,
        };
        let roll = rng.below(1000);
        let small = spec.small_difference_per_mille;
        let large = small.saturating_add(spec.large_difference_per_mille);
        let one_sided = large.saturating_add(spec.one_sided_per_mille);
        if roll < small {
            line_b.quantity = quantity.saturating_add(1);
            line_b.amount_fen = amount.saturating_add(amount / 20_000);
        } else if roll < large {
            line_b.quantity = quantity.saturating_add(quantity / 20);
            line_b.amount_fen = amount.saturating_add(amount / 20).saturating_add(100);
        } else if roll < one_sided {
            if roll.is_multiple_of(2) {
                lines_a.push(line_a);
            } else {
                lines_b.push(line_b);
            }
            continue;
        }
        lines_a.push(line_a);
        lines_b.push(line_b);
    }
    let report_a = Report::new(spec.period, &agreement.party_a, lines_a)?;
    let report_b = Report::new(spec.period, &agreement.party_b, lines_b)?;
    Ok((report_a, report_b))
}
