//! The adjustments file upload: a bounded `multipart/form-data` reader (the form's fields
//! and one file). The file's format is the CLI's `settlement adjust --file`, read by
//! [`netsettle_settlement::adjustments_file`].

use crate::limits::{FIELD_BYTES_MAX, MULTIPART_PARTS_MAX};

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

#[cfg(test)]
mod tests {
    use super::*;

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
