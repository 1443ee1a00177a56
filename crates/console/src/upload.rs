//! The adjustments file upload: a bounded `multipart/form-data` reader (the form's fields
//! and one file) and the file's format, the same as the CLI's `settlement adjust --file`:
//! UTF-8 (a byte-order mark dropped), an optional `line_no,…` header, `#` comments and
//! blank lines skipped, then `line_no,quantity,amount_fen,reason` rows (the reason may
//! hold commas and be quoted). Bad input is refused whole, naming the line.

use netsettle_settlement::api::AdjustmentEntry;

use crate::limits::{ADJUSTMENTS_FILE_MAX, FIELD_BYTES_MAX, MULTIPART_PARTS_MAX};

/// Why an upload was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UploadError {
    /// The request is not `multipart/form-data` with a boundary, or its parts are broken.
    #[error("the upload is not a valid multipart form: {0}")]
    Multipart(&'static str),
    /// Too many parts, or a field other than the file is too long.
    #[error("the upload has too many or too large fields")]
    TooLarge,
    /// The file is not UTF-8 text.
    #[error("the adjustments file is not UTF-8 text")]
    NotUtf8,
    /// A row is not `line_no,quantity,amount_fen,reason`.
    #[error("the adjustments file, line {line}: {what}")]
    Row {
        /// 1-based line of the file.
        line: usize,
        /// What is wrong.
        what: String,
    },
    /// No rows, or more than [`ADJUSTMENTS_FILE_MAX`].
    #[error("the adjustments file holds no adjustments, or more than {ADJUSTMENTS_FILE_MAX}")]
    Count,
}

/// A multipart form: its plain fields and the bytes of its (first) file part.
#[derive(Debug, Default)]
pub struct Multipart {
    /// Name and value of each non-file part.
    pub fields: Vec<(String, String)>,
    /// The file part's content, if there was one.
    pub file: Option<Vec<u8>>,
}

/// The boundary of a `multipart/form-data` content type.
pub fn boundary(content_type: &str) -> Option<&str> {
    let (kind, params) = content_type.split_once(';')?;
    if !kind.trim().eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    params
        .split(';')
        .filter_map(|param| param.trim().split_once('='))
        .find(|(key, _)| key.eq_ignore_ascii_case("boundary"))
        .map(|(_, value)| value.trim_matches('"'))
        .filter(|value| !value.is_empty() && value.len() <= 70)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

/// The `name` and whether the part is a file, from a part's headers.
fn disposition(headers: &str) -> Option<(String, bool)> {
    let line = headers.lines().find(|line| {
        line.to_ascii_lowercase()
            .starts_with("content-disposition:")
    })?;
    let mut name = None;
    let mut file = false;
    for param in line.split(';').skip(1) {
        let Some((key, value)) = param.trim().split_once('=') else {
            continue;
        };
        match key.trim() {
            "name" => name = Some(value.trim_matches('"').to_owned()),
            "filename" => file = true,
            _ => {}
        }
    }
    Some((name?, file))
}

/// Reads a whole multipart body (already bounded by the request limit).
pub fn parse_multipart(body: &[u8], boundary: &str) -> Result<Multipart, UploadError> {
    let delimiter = format!("--{boundary}");
    let start = find(body, delimiter.as_bytes()).ok_or(UploadError::Multipart("no boundary"))?;
    let mut rest = body
        .get(start + delimiter.len()..)
        .ok_or(UploadError::Multipart("truncated"))?;
    let separator = format!("\r\n--{boundary}");
    let mut form = Multipart::default();
    for _ in 0..=MULTIPART_PARTS_MAX {
        if rest.starts_with(b"--") {
            return Ok(form);
        }
        let part = rest
            .strip_prefix(b"\r\n")
            .ok_or(UploadError::Multipart("no line break after a boundary"))?;
        let end =
            find(part, separator.as_bytes()).ok_or(UploadError::Multipart("unterminated part"))?;
        let (content, after) = part.split_at(end);
        rest = after.get(separator.len()..).unwrap_or_default();
        let head_end =
            find(content, b"\r\n\r\n").ok_or(UploadError::Multipart("no part headers"))?;
        let (head, value) = content.split_at(head_end);
        let value = value.get(4..).unwrap_or_default();
        let head = std::str::from_utf8(head).map_err(|_| UploadError::Multipart("part headers"))?;
        let (name, is_file) = disposition(head).ok_or(UploadError::Multipart("no part name"))?;
        if is_file {
            if form.file.is_none() {
                form.file = Some(value.to_vec());
            }
        } else {
            if value.len() > FIELD_BYTES_MAX {
                return Err(UploadError::TooLarge);
            }
            let value = String::from_utf8(value.to_vec())
                .map_err(|_| UploadError::Multipart("field text"))?;
            form.fields.push((name, value));
        }
    }
    Err(UploadError::TooLarge)
}

/// The adjustments of a file in the CLI's format.
pub fn adjustments(bytes: &[u8]) -> Result<Vec<AdjustmentEntry>, UploadError> {
    let bytes = bytes.strip_prefix("\u{feff}".as_bytes()).unwrap_or(bytes);
    let text = std::str::from_utf8(bytes).map_err(|_| UploadError::NotUtf8)?;
    let mut entries = Vec::new();
    for (index, row) in text.lines().enumerate() {
        let row = row.trim();
        if row.is_empty() || row.starts_with('#') || (index == 0 && row.starts_with("line_no")) {
            continue;
        }
        let line = index.saturating_add(1);
        let mut parts = row.splitn(4, ',');
        let mut number = |what: &str| {
            let field = parts.next().map(str::trim).unwrap_or_default();
            field.parse::<u64>().map_err(|_| UploadError::Row {
                line,
                what: format!("{what} {field:?} is not a whole number"),
            })
        };
        let (line_no, quantity, amount_fen) = (
            number("line_no")?,
            number("quantity")?,
            number("amount_fen")?,
        );
        let reason = parts.next().map(str::trim).unwrap_or_default();
        if reason.is_empty() {
            return Err(UploadError::Row {
                line,
                what: "no reason".into(),
            });
        }
        if entries.len() >= ADJUSTMENTS_FILE_MAX {
            return Err(UploadError::Count);
        }
        entries.push(AdjustmentEntry {
            line_no,
            quantity,
            amount_fen,
            reason: reason.trim_matches('"').to_owned(),
            attachment_sm3: None,
        });
    }
    if entries.is_empty() {
        return Err(UploadError::Count);
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_read_whole_or_refused_with_its_line() {
        let read = adjustments(
            "\u{feff}line_no,quantity,amount_fen,reason\n\
             2,87000000,8700000,\"1,000,000 MB removed\"\n\
             # a comment\n\
             \n\
             11, 441000 ,3087000,移动话单缺 10-17\n"
                .as_bytes(),
        )
        .unwrap();
        assert_eq!(read.len(), 2);
        assert_eq!((read[0].line_no, read[0].quantity), (2, 87_000_000));
        assert_eq!(read[0].reason, "1,000,000 MB removed");
        assert_eq!(read[1].reason, "移动话单缺 10-17");
        for (text, expected) in [
            (
                "2,1,1,ok\n4,sixty,600000,bad\n",
                "line 2: quantity \"sixty\"",
            ),
            ("2,1,1\n", "line 1: no reason"),
            ("2,1,-5,negative\n", "amount_fen \"-5\""),
            ("line_no,quantity,amount_fen,reason\n", "no adjustments"),
        ] {
            let error = adjustments(text.as_bytes()).unwrap_err();
            assert!(error.to_string().contains(expected), "{error}");
        }
        assert_eq!(adjustments(b"\xff\xfe1,2"), Err(UploadError::NotUtf8));
    }

    #[test]
    fn multipart_bodies() {
        let body = b"--XyZ\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\ntoken\r\n\
            --XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.csv\"\r\n\
            Content-Type: text/csv\r\n\r\n1,2,3,why\r\n\r\n--XyZ--\r\n";
        assert_eq!(boundary("multipart/form-data; boundary=XyZ"), Some("XyZ"));
        assert_eq!(boundary("application/x-www-form-urlencoded"), None);
        let form = parse_multipart(body, "XyZ").unwrap();
        assert_eq!(form.fields, vec![("csrf".to_owned(), "token".to_owned())]);
        assert_eq!(form.file.as_deref(), Some(&b"1,2,3,why\r\n"[..]));
        assert!(parse_multipart(b"--XyZ\r\nno headers", "XyZ").is_err());
        assert!(parse_multipart(b"nothing", "XyZ").is_err());
        let many =
            "--B\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\n1\r\n".repeat(20) + "--B--";
        assert_eq!(
            parse_multipart(many.as_bytes(), "B").unwrap_err(),
            UploadError::TooLarge
        );
    }
}
