//! One carrier's settlement report for one period: its lines, the CSV format people and
//! billing systems write, the JSON form of the API, and the canonical text whose SM3 digest
//! the carrier commits to at upload.
//!
//! # CSV format
//!
//! UTF-8 (a leading byte-order mark is skipped), `\n` or `\r\n` line ends. Blank lines
//! and lines starting with `#` are ignored. Billing exports that come out of Excel as
//! GBK or UTF-8 with a byte-order mark are converted on the client with
//! [`decode_report_bytes`] before parsing; anything else is refused there with the byte
//! offset that gave it away.
//! The first other line is the header, exactly:
//!
//! ```text
//! item,direction,area,quantity,unit,rate,amount_fen
//! ```
//!
//! then one line per settlement item, seven fields, no quoting:
//!
//! | field | meaning | form |
//! |---|---|---|
//! | `item` | settlement item / service type (`voice`, `sms`, `国内长途话音`, ...) | name |
//! | `direction` | `payable` (the reporting carrier pays) or `receivable` (it is paid) | word |
//! | `area` | local network area, e.g. the area code `0571` or `北京` | name |
//! | `quantity` | units carried | whole number, at most 10^15 |
//! | `unit` | `minute`, `message`, `MB`, `分钟`, ... | name |
//! | `rate` | yuan per unit | decimal, at most 6 decimals |
//! | `amount_fen` | what the line is worth, in fen (1/100 yuan) | whole number, at most 10^13 |
//!
//! A name is UTF-8 text of 1–64 bytes and at most 32 characters, normalised to NFC, with
//! no control or format characters, commas, quotes, surrounding space or leading `#`
//! (see [`crate::units::Token`]). Numbers have no sign, no leading zeros
//! and no separators; a negative number is an error. Each (item, direction, area) appears
//! once. The amount is the carrier's billed figure and is authoritative; quantity and rate
//! explain it.
//!
//! # Canonical text
//!
//! What is encrypted and committed to: three fixed comment lines naming the format, the
//! period and the carrier's MSP id, the header, then the lines sorted by (item, direction,
//! area) in byte order, rates with exactly six decimals, every line ending in `\n`:
//!
//! ```text
//! #netsettle-report v1
//! #period 2026-10
//! #carrier UnicomMSP
//! item,direction,area,quantity,unit,rate,amount_fen
//! voice,payable,0571,120000,minute,0.060000,720000
//! ```
//!
//! Canonical text is itself valid CSV. [`Report::from_canonical`] accepts only bytes that
//! [`Report::to_canonical`] would produce, so a commitment names exactly one report.

use core::fmt;

use crate::error::ReportError;
use crate::limits::{
    AMOUNT_FEN_MAX, MSP_ID_BYTES_MAX, QUANTITY_MAX, REPORT_BYTES_MAX, REPORT_LINES_MAX,
};
use crate::units::{Period, Rate, Token, parse_count};

/// The CSV header line.
pub const CSV_HEADER: &str = "item,direction,area,quantity,unit,rate,amount_fen";
/// First line of the canonical text.
pub const CANONICAL_MAGIC: &str = "#netsettle-report v1";

/// Who pays on a line, from the reporting carrier's point of view.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// The reporting carrier pays the counterparty.
    Payable,
    /// The counterparty pays the reporting carrier.
    Receivable,
}

impl Direction {
    /// The CSV word.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Payable => "payable",
            Self::Receivable => "receivable",
        }
    }

    fn parse(text: &str) -> Result<Self, String> {
        match text {
            "payable" => Ok(Self::Payable),
            "receivable" => Ok(Self::Receivable),
            _ => Err(format!(
                "direction {text:?} is neither payable nor receivable"
            )),
        }
    }
}

/// One line of a report.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportLine {
    /// Settlement item / service type.
    pub item: Token,
    /// Who pays, seen from the reporting carrier.
    pub direction: Direction,
    /// Local network area.
    pub area: Token,
    /// Units carried.
    pub quantity: u64,
    /// The unit of `quantity`.
    pub unit: Token,
    /// Yuan per unit, fixed point.
    pub rate: Rate,
    /// The line's amount in fen.
    pub amount_fen: u64,
}

impl ReportLine {
    /// The line's key within its report.
    pub fn key(&self) -> (&Token, Direction, &Token) {
        (&self.item, self.direction, &self.area)
    }

    fn key_text(&self) -> String {
        format!(
            "({}, {}, {})",
            self.item,
            self.direction.as_str(),
            self.area
        )
    }

    fn check_ranges(&self) -> Result<(), String> {
        if self.quantity > QUANTITY_MAX {
            return Err(format!("quantity {} is over {QUANTITY_MAX}", self.quantity));
        }
        if self.amount_fen > AMOUNT_FEN_MAX {
            return Err(format!(
                "amount_fen {} is over {AMOUNT_FEN_MAX}",
                self.amount_fen
            ));
        }
        Ok(())
    }

    fn parse_csv(text: &str) -> Result<Self, String> {
        let mut fields = text.split(',');
        let mut next = |name: &str| fields.next().ok_or_else(|| format!("missing field {name}"));
        let item = next("item")?.parse()?;
        let direction = Direction::parse(next("direction")?)?;
        let area = next("area")?.parse()?;
        let quantity = parse_count(next("quantity")?, "quantity", QUANTITY_MAX)?;
        let unit = next("unit")?.parse()?;
        let rate = next("rate")?.parse()?;
        let amount_fen = parse_count(next("amount_fen")?, "amount_fen", AMOUNT_FEN_MAX)?;
        if fields.next().is_some() {
            return Err("more than 7 fields".to_owned());
        }
        Ok(Self {
            item,
            direction,
            area,
            quantity,
            unit,
            rate,
            amount_fen,
        })
    }

    fn write_csv(&self, out: &mut String) {
        use fmt::Write as _;
        // Writing to a String cannot fail.
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{}",
            self.item,
            self.direction.as_str(),
            self.area,
            self.quantity,
            self.unit,
            self.rate,
            self.amount_fen
        );
    }
}

/// A carrier's report: period, carrier and lines sorted by key with no duplicates.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Report {
    period: Period,
    carrier: String,
    lines: Vec<ReportLine>,
}

/// The JSON form of a report, as the API takes it.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ReportJson {
    period: Period,
    carrier: String,
    lines: Vec<ReportLine>,
}

impl Report {
    /// A report from lines in any order; rejects duplicate keys, values out of range, an
    /// invalid carrier id and more than [`REPORT_LINES_MAX`] lines.
    pub fn new(
        period: Period,
        carrier: &str,
        mut lines: Vec<ReportLine>,
    ) -> Result<Self, ReportError> {
        check_msp_id(carrier).map_err(|reason| ReportError::Syntax { line_no: 0, reason })?;
        if lines.len() > REPORT_LINES_MAX {
            return Err(ReportError::TooManyLines {
                max: REPORT_LINES_MAX,
            });
        }
        for (idx, line) in lines.iter().enumerate() {
            line.check_ranges().map_err(|reason| ReportError::Syntax {
                line_no: idx.saturating_add(1),
                reason,
            })?;
        }
        lines.sort_unstable_by(|a, b| a.key().cmp(&b.key()));
        if let Some(pair) = lines
            .windows(2)
            .find(|pair| pair.first().map(ReportLine::key) == pair.last().map(ReportLine::key))
        {
            let key = pair.first().map(ReportLine::key_text).unwrap_or_default();
            return Err(ReportError::DuplicateLine(key));
        }
        Ok(Self {
            period,
            carrier: carrier.to_owned(),
            lines,
        })
    }

    /// Parses the CSV table (see the module doc) for `period` and `carrier`.
    pub fn from_csv(period: Period, carrier: &str, bytes: &[u8]) -> Result<Self, ReportError> {
        let text = checked_text(bytes)?;
        Self::new(period, carrier, parse_table(text)?)
    }

    /// Parses the JSON form: `{"period": "2026-10", "carrier": "UnicomMSP", "lines": [...]}`
    /// with lines as [`ReportLine`] objects (`rate` a decimal string).
    pub fn from_json(bytes: &[u8]) -> Result<Self, ReportError> {
        checked_text(bytes)?;
        let json: ReportJson =
            serde_json::from_slice(bytes).map_err(|error| ReportError::Syntax {
                line_no: error.line(),
                reason: error.to_string(),
            })?;
        Self::new(json.period, &json.carrier, json.lines)
    }

    /// The JSON form.
    pub fn to_json(&self) -> Vec<u8> {
        // Serialising plain structs of strings and integers cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Parses canonical text, rejecting anything [`Report::to_canonical`] would not
    /// produce.
    pub fn from_canonical(bytes: &[u8]) -> Result<Self, ReportError> {
        let text = checked_text(bytes)?;
        let mut rows = text.split_inclusive('\n');
        let mut header = |prefix: &str| -> Result<String, ReportError> {
            rows.next()
                .and_then(|row| row.strip_suffix('\n'))
                .and_then(|row| row.strip_prefix(prefix))
                .map(str::to_owned)
                .ok_or(ReportError::NotCanonical)
        };
        if !header(CANONICAL_MAGIC)?.is_empty() {
            return Err(ReportError::NotCanonical);
        }
        let period = header("#period ")?
            .parse()
            .map_err(|reason| ReportError::Syntax { line_no: 2, reason })?;
        let carrier = header("#carrier ")?;
        let report = Self::new(period, &carrier, parse_table(text)?)?;
        if report.to_canonical() != bytes {
            return Err(ReportError::NotCanonical);
        }
        Ok(report)
    }

    /// The canonical text (see the module doc).
    pub fn to_canonical(&self) -> Vec<u8> {
        let mut out =
            String::with_capacity(self.lines.len().saturating_mul(64).saturating_add(128));
        out.push_str(CANONICAL_MAGIC);
        out.push('\n');
        out.push_str(&format!(
            "#period {}\n#carrier {}\n{CSV_HEADER}\n",
            self.period, self.carrier
        ));
        for line in &self.lines {
            line.write_csv(&mut out);
        }
        out.into_bytes()
    }

    /// The plain CSV table (header and lines, key order), as billing systems write it.
    pub fn to_csv(&self) -> Vec<u8> {
        let mut out = String::with_capacity(self.lines.len().saturating_mul(64).saturating_add(64));
        out.push_str(CSV_HEADER);
        out.push('\n');
        for line in &self.lines {
            line.write_csv(&mut out);
        }
        out.into_bytes()
    }

    /// The period.
    pub fn period(&self) -> Period {
        self.period
    }

    /// The reporting carrier's MSP id.
    pub fn carrier(&self) -> &str {
        &self.carrier
    }

    /// The lines, sorted by key.
    pub fn lines(&self) -> &[ReportLine] {
        &self.lines
    }

    /// Checks that the report is the one an upload announced.
    pub fn check_header(&self, period: Period, carrier: &str) -> Result<(), ReportError> {
        if self.period != period || self.carrier != carrier {
            return Err(ReportError::WrongHeader {
                expected: format!("{period} from {carrier}"),
                found: format!("{} from {}", self.period, self.carrier),
            });
        }
        Ok(())
    }

    /// Sum of the amounts per direction (payable, receivable).
    pub fn totals_fen(&self) -> (u64, u64) {
        // The line and amount limits keep these sums far below u64::MAX.
        self.lines
            .iter()
            .fold((0u64, 0u64), |(payable, receivable), line| {
                match line.direction {
                    Direction::Payable => (payable.saturating_add(line.amount_fen), receivable),
                    Direction::Receivable => (payable, receivable.saturating_add(line.amount_fen)),
                }
            })
    }
}

/// Checks an MSP id: 1–128 bytes of `A-Z a-z 0-9 _ - .`.
pub(crate) fn check_msp_id(msp_id: &str) -> Result<(), String> {
    let allowed = |byte: u8| byte.is_ascii_alphanumeric() || matches!(byte, b'_' | b'-' | b'.');
    if msp_id.is_empty() || msp_id.len() > MSP_ID_BYTES_MAX || !msp_id.bytes().all(allowed) {
        return Err(format!("{msp_id:?} is not an MSP id"));
    }
    Ok(())
}

fn checked_text(bytes: &[u8]) -> Result<&str, ReportError> {
    if bytes.len() > REPORT_BYTES_MAX {
        return Err(ReportError::TooLarge {
            max: REPORT_BYTES_MAX,
            actual: bytes.len(),
        });
    }
    core::str::from_utf8(bytes).map_err(|_| ReportError::NotUtf8)
}

/// Parses the CSV table of `text`: skips comments and blank lines, expects the header,
/// then lines.
fn parse_table(text: &str) -> Result<Vec<ReportLine>, ReportError> {
    let text = text.strip_prefix('\u{FEFF}').unwrap_or(text);
    let mut lines = Vec::new();
    let mut seen_header = false;
    for (idx, row) in text.lines().enumerate() {
        let line_no = idx.saturating_add(1);
        let row = row.strip_suffix('\r').unwrap_or(row);
        if row.is_empty() || row.starts_with('#') {
            continue;
        }
        if !seen_header {
            if row != CSV_HEADER {
                return Err(ReportError::Syntax {
                    line_no,
                    reason: format!("expected the header {CSV_HEADER:?}"),
                });
            }
            seen_header = true;
            continue;
        }
        if lines.len() >= REPORT_LINES_MAX {
            return Err(ReportError::TooManyLines {
                max: REPORT_LINES_MAX,
            });
        }
        let line =
            ReportLine::parse_csv(row).map_err(|reason| ReportError::Syntax { line_no, reason })?;
        lines.push(line);
    }
    if !seen_header {
        return Err(ReportError::Syntax {
            line_no: 1,
            reason: "no header line".to_owned(),
        });
    }
    Ok(lines)
}

/// The encoding a report file turned out to be in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceEncoding {
    /// UTF-8 without a byte-order mark.
    Utf8,
    /// UTF-8 with a byte-order mark (Excel's "CSV UTF-8").
    Utf8Bom,
    /// GBK (Excel's "CSV" on a Chinese Windows).
    Gbk,
}

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// Decodes a report file as carriers' billing exports come: UTF-8 with or without a
/// byte-order mark, or GBK. GBK is tried only when the bytes are not UTF-8, and must
/// decode without a replacement character. Anything else (UTF-16, binary data, bytes that
/// are neither) is an error naming the byte offset that gave it away. Client side: the
/// contract only ever sees the canonical UTF-8 text.
pub fn decode_report_bytes(bytes: &[u8]) -> Result<(String, SourceEncoding), ReportError> {
    if bytes.len() > REPORT_BYTES_MAX {
        return Err(ReportError::TooLarge {
            max: REPORT_BYTES_MAX,
            actual: bytes.len(),
        });
    }
    if bytes.starts_with(b"\xFF\xFE") || bytes.starts_with(b"\xFE\xFF") {
        return Err(ReportError::Encoding {
            offset: 0,
            reason: "a UTF-16 byte-order mark: save the report as UTF-8 or GBK CSV".into(),
        });
    }
    // Text in any of the accepted encodings has no control bytes but tab and line ends
    // (GBK's multi-byte sequences never use bytes below 0x40); UTF-16 without a mark and
    // binary data do.
    let control = bytes
        .iter()
        .position(|byte| (*byte < 0x20 && !matches!(byte, b'\t' | b'\n' | b'\r')) || *byte == 0x7F);
    if let Some(offset) = control {
        return Err(ReportError::Encoding {
            offset,
            reason: format!(
                "control byte 0x{:02X}: not a text report (UTF-16 or binary?)",
                bytes.get(offset).copied().unwrap_or_default()
            ),
        });
    }
    if let Some(rest) = bytes.strip_prefix(UTF8_BOM) {
        return match core::str::from_utf8(rest) {
            Ok(text) => Ok((text.to_owned(), SourceEncoding::Utf8Bom)),
            Err(error) => Err(ReportError::Encoding {
                offset: error.valid_up_to().saturating_add(UTF8_BOM.len()),
                reason: "invalid UTF-8 after a UTF-8 byte-order mark".into(),
            }),
        };
    }
    let utf8_error = match core::str::from_utf8(bytes) {
        Ok(text) => return Ok((text.to_owned(), SourceEncoding::Utf8)),
        Err(error) => error,
    };
    decode_gbk(bytes)
        .map_err(|gbk_offset| ReportError::Encoding {
            offset: gbk_offset,
            reason: format!(
                "neither UTF-8 (invalid from byte {}) nor GBK (invalid from byte {gbk_offset})",
                utf8_error.valid_up_to()
            ),
        })
        .map(|text| (text, SourceEncoding::Gbk))
}

/// Decodes GBK without replacement; the error is the offset of the first malformed
/// sequence.
fn decode_gbk(bytes: &[u8]) -> Result<String, usize> {
    let mut decoder = encoding_rs::GBK.new_decoder_without_bom_handling();
    let capacity = decoder
        .max_utf8_buffer_length_without_replacement(bytes.len())
        .ok_or(0usize)?;
    let mut text = String::with_capacity(capacity);
    let (result, read) = decoder.decode_to_string_without_replacement(bytes, &mut text, true);
    match result {
        encoding_rs::DecoderResult::InputEmpty => Ok(text),
        encoding_rs::DecoderResult::Malformed(bad, after) => Err(read
            .saturating_sub(usize::from(bad))
            .saturating_sub(usize::from(after))),
        // The buffer was sized for the worst case, so this means a decoder bug; report
        // where it stopped rather than panic.
        encoding_rs::DecoderResult::OutputFull => Err(read),
    }
}
