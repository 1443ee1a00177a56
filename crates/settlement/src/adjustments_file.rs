//! The file of adjustments staff propose in bulk (`netsettle settlement adjust --file`,
//! the console's upload): UTF-8 text (a byte-order mark dropped; GBK exports are converted
//! by the client first), an optional `line_no,…` header, `#` comments and blank lines
//! skipped, then `line_no,quantity,amount_fen,reason` rows, the reason last so that it may
//! hold commas (and surrounding quotes, which are dropped). The file is checked whole
//! before anything is sent: one bad row refuses it, naming its line.

use crate::api::AdjustmentEntry;
use crate::limits::{ADJUSTMENTS_FILE_MAX, REASON_BYTES_MAX};

/// Why an adjustments file was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AdjustmentsFileError {
    /// The file is not UTF-8 text.
    #[error("not UTF-8 text")]
    NotUtf8,
    /// A row is not `line_no,quantity,amount_fen,reason`.
    #[error("line {line}: {what}")]
    Row {
        /// 1-based line of the file.
        line: usize,
        /// What is wrong with it.
        what: String,
    },
    /// Only a header, comments or blank lines.
    #[error("no adjustments")]
    Empty,
    /// More rows than [`ADJUSTMENTS_FILE_MAX`].
    #[error("more than {ADJUSTMENTS_FILE_MAX} adjustments")]
    TooMany,
}

/// The adjustments of a whole file, in file order.
pub fn parse_adjustments(bytes: &[u8]) -> Result<Vec<AdjustmentEntry>, AdjustmentsFileError> {
    let bytes = bytes.strip_prefix("\u{feff}".as_bytes()).unwrap_or(bytes);
    let text = std::str::from_utf8(bytes).map_err(|_| AdjustmentsFileError::NotUtf8)?;
    let mut entries = Vec::new();
    for (index, row) in text.lines().enumerate() {
        let row = row.trim();
        if row.is_empty() || row.starts_with('#') || (index == 0 && row.starts_with("line_no")) {
            continue;
        }
        if entries.len() >= ADJUSTMENTS_FILE_MAX {
            return Err(AdjustmentsFileError::TooMany);
        }
        entries.push(parse_row(row, index.saturating_add(1))?);
    }
    if entries.is_empty() {
        return Err(AdjustmentsFileError::Empty);
    }
    Ok(entries)
}

fn parse_row(row: &str, line: usize) -> Result<AdjustmentEntry, AdjustmentsFileError> {
    let refused = |what: String| AdjustmentsFileError::Row { line, what };
    let mut parts = row.splitn(4, ',');
    let mut number = |what: &str| {
        let field = parts.next().map(str::trim).unwrap_or_default();
        field
            .parse::<u64>()
            .map_err(|_| refused(format!("{what} {field:?} is not a whole number")))
    };
    let (line_no, quantity, amount_fen) = (
        number("line_no")?,
        number("quantity")?,
        number("amount_fen")?,
    );
    let reason = parts.next().map(str::trim).unwrap_or_default();
    let reason = reason
        .strip_prefix('"')
        .and_then(|inner| inner.strip_suffix('"'))
        .unwrap_or(reason);
    if reason.is_empty() {
        return Err(refused("no reason".into()));
    }
    if reason.len() > REASON_BYTES_MAX {
        return Err(refused(format!(
            "reason longer than {REASON_BYTES_MAX} bytes"
        )));
    }
    Ok(AdjustmentEntry {
        line_no,
        quantity,
        amount_fen,
        reason: reason.to_owned(),
        attachment_sm3: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_read_whole_or_refused_with_its_line() {
        let read = parse_adjustments(
            "\u{feff}line_no,quantity,amount_fen,reason\n\
             2,87000000,8700000,\"1,000,000 MB removed\"\n\
             # a comment\n\
             \n\
             11, 441000 ,3087000,移动话单缺 10-17\n"
                .as_bytes(),
        )
        .expect("a good file");
        assert_eq!(read.len(), 2);
        assert_eq!((read[0].line_no, read[0].quantity), (2, 87_000_000));
        assert_eq!(read[0].reason, "1,000,000 MB removed");
        assert_eq!(read[1].reason, "移动话单缺 10-17");
        let long = format!("2,1,1,{}\n", "x".repeat(REASON_BYTES_MAX + 1));
        for (text, expected) in [
            (
                "2,1,1,ok\n4,sixty,600000,bad\n",
                "line 2: quantity \"sixty\"",
            ),
            ("2,1,1\n", "line 1: no reason"),
            ("2,1,1,\"\"\n", "line 1: no reason"),
            ("2,1,-5,negative\n", "amount_fen \"-5\""),
            ("line_no,quantity,amount_fen,reason\n", "no adjustments"),
            (long.as_str(), "line 1: reason longer than"),
        ] {
            let error = parse_adjustments(text.as_bytes()).expect_err(text);
            assert!(error.to_string().contains(expected), "{error}");
        }
        assert_eq!(
            parse_adjustments(b"\xff\xfe1,2"),
            Err(AdjustmentsFileError::NotUtf8)
        );
        let many = "1,1,1,r\n".repeat(ADJUSTMENTS_FILE_MAX + 1);
        assert_eq!(
            parse_adjustments(many.as_bytes()),
            Err(AdjustmentsFileError::TooMany)
        );
    }
}
