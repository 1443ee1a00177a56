//! The SMS-gateway adapter's request template: carriers' internal SMS platforms take an
//! HTTP request of their own shape, so the config gives the method, extra headers, and a
//! body (and URL path) with placeholders: `{phone}`, `{text}`, `{id}`, `{period}`,
//! `{kind}`. Values are escaped for where they land: form encoding or JSON string
//! escaping in the body (per the configured encoding), percent-encoding in the path, so a
//! notice text can never break the request's structure.
//!
//! A `{` not followed by a lower-case name and `}` is literal, so JSON templates such as
//! `{"to":"{phone}","msg":"{text}"}` need no escaping; an unknown name is refused.

use std::collections::BTreeMap;

use super::limits::TEMPLATE_BYTES_MAX;

/// How placeholder values are escaped in the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Encoding {
    /// `application/x-www-form-urlencoded`.
    Form,
    /// `application/json`: values are JSON-escaped inside the template's quotes.
    Json,
}

/// What is wrong with an SMS template.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TemplateError {
    /// `encoding` is missing or not `form` / `json`.
    #[error("sms encoding {0:?} is not form or json")]
    BadEncoding(String),
    /// The method is not GET, POST or PUT.
    #[error("sms method {0:?} is not GET, POST or PUT")]
    BadMethod(String),
    /// A body is needed (POST, PUT) and the template is empty.
    #[error("sms body template is empty")]
    EmptyBody,
    /// The template is longer than [`TEMPLATE_BYTES_MAX`].
    #[error("sms template over {TEMPLATE_BYTES_MAX} bytes")]
    TooLong,
    /// `{name}` names no placeholder.
    #[error("sms template placeholder {{{0}}} is unknown (phone, text, id, period, kind)")]
    UnknownPlaceholder(String),
    /// A header name or value is not allowed.
    #[error("sms header {0:?} is not a token with a visible-ASCII value, or is set by the node")]
    BadHeader(String),
    /// A `json` template does not give JSON.
    #[error("sms json body template does not give JSON: {0}")]
    NotJson(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Phone,
    Text,
    Id,
    Period,
    Kind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Literal(String),
    Field(Field),
}

/// The values of one notice's placeholders.
#[derive(Debug, Clone, Copy)]
pub struct Values<'a> {
    /// The recipient's phone numbers, joined by commas.
    pub phone: &'a str,
    /// The notice text.
    pub text: &'a str,
    /// The notice id.
    pub id: &'a str,
    /// The period, empty if none.
    pub period: &'a str,
    /// The notice kind.
    pub kind: &'a str,
}

impl Values<'_> {
    fn get(&self, field: Field) -> &str {
        match field {
            Field::Phone => self.phone,
            Field::Text => self.text,
            Field::Id => self.id,
            Field::Period => self.period,
            Field::Kind => self.kind,
        }
    }
}

/// A checked SMS request template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmsTemplate {
    method: &'static str,
    headers: Vec<(String, String)>,
    encoding: Encoding,
    body: Vec<Piece>,
    path: Vec<Piece>,
}

impl SmsTemplate {
    /// Checks and compiles a template; `path` is the URL's path and query, which may hold
    /// placeholders too.
    pub fn new(
        method: &str,
        headers: &BTreeMap<String, String>,
        encoding: Encoding,
        body: &str,
        path: &str,
    ) -> Result<SmsTemplate, TemplateError> {
        let method = match method {
            "GET" => "GET",
            "POST" => "POST",
            "PUT" => "PUT",
            other => return Err(TemplateError::BadMethod(other.to_owned())),
        };
        if body.len() > TEMPLATE_BYTES_MAX || path.len() > TEMPLATE_BYTES_MAX {
            return Err(TemplateError::TooLong);
        }
        if body.trim().is_empty() && method != "GET" {
            return Err(TemplateError::EmptyBody);
        }
        let headers = check_headers(headers)?;
        let template = SmsTemplate {
            method,
            headers,
            encoding,
            body: parse(body)?,
            path: parse(path)?,
        };
        if encoding == Encoding::Json && !template.body.is_empty() {
            let sample = Values {
                phone: "+8613800000000",
                text: "a \"quoted\" text\nwith a new line",
                id: "1-0-0:desk",
                period: "2026-11",
                kind: "reveal_due",
            };
            serde_json::from_str::<serde_json::Value>(&template.body(&sample))
                .map_err(|error| TemplateError::NotJson(error.to_string()))?;
        }
        Ok(template)
    }

    /// The HTTP method.
    pub fn method(&self) -> &'static str {
        self.method
    }

    /// The configured headers, then `content-type` unless configured.
    pub fn headers(&self) -> Vec<(String, String)> {
        let mut out = self.headers.clone();
        if !out.iter().any(|(name, _)| name == "content-type") && !self.body.is_empty() {
            let content_type = match self.encoding {
                Encoding::Form => "application/x-www-form-urlencoded; charset=utf-8",
                Encoding::Json => "application/json; charset=utf-8",
            };
            out.push(("content-type".to_owned(), content_type.to_owned()));
        }
        out
    }

    /// The body for `values`, each value escaped per the encoding.
    pub fn body(&self, values: &Values<'_>) -> String {
        render(&self.body, values, |value, out| match self.encoding {
            Encoding::Form => percent_encode(value, true, out),
            Encoding::Json => json_escape(value, out),
        })
    }

    /// The URL path and query for `values`, each value percent-encoded.
    pub fn path(&self, values: &Values<'_>) -> String {
        render(&self.path, values, |value, out| {
            percent_encode(value, false, out)
        })
    }
}

fn check_headers(
    headers: &BTreeMap<String, String>,
) -> Result<Vec<(String, String)>, TemplateError> {
    if headers.len() > 16 {
        return Err(TemplateError::BadHeader(format!(
            "{} headers",
            headers.len()
        )));
    }
    let mut out = Vec::with_capacity(headers.len());
    for (name, value) in headers {
        let lower = name.to_ascii_lowercase();
        let token = !name.is_empty()
            && name.len() <= 64
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
        let visible = value.len() <= 1024 && value.bytes().all(|b| (0x20..0x7f).contains(&b));
        let reserved = matches!(
            lower.as_str(),
            "host" | "content-length" | "transfer-encoding" | "connection"
        );
        if !token || !visible || reserved {
            return Err(TemplateError::BadHeader(name.chars().take(64).collect()));
        }
        out.push((lower, value.clone()));
    }
    Ok(out)
}

fn parse(template: &str) -> Result<Vec<Piece>, TemplateError> {
    let mut pieces = Vec::new();
    let mut literal = String::new();
    let mut rest = template;
    while let Some(at) = rest.find('{') {
        let (before, from_brace) = rest.split_at(at);
        literal.push_str(before);
        let after = from_brace.get(1..).unwrap_or("");
        let name_len = after
            .bytes()
            .take_while(|b| b.is_ascii_lowercase() || *b == b'_')
            .count();
        let (name, tail) = after.split_at(name_len);
        match tail.strip_prefix('}') {
            Some(tail) if name_len > 0 => {
                let field = match name {
                    "phone" => Field::Phone,
                    "text" => Field::Text,
                    "id" => Field::Id,
                    "period" => Field::Period,
                    "kind" => Field::Kind,
                    other => return Err(TemplateError::UnknownPlaceholder(other.to_owned())),
                };
                if !literal.is_empty() {
                    pieces.push(Piece::Literal(core::mem::take(&mut literal)));
                }
                pieces.push(Piece::Field(field));
                rest = tail;
            }
            _ => {
                literal.push('{');
                rest = after;
            }
        }
    }
    literal.push_str(rest);
    if !literal.is_empty() {
        pieces.push(Piece::Literal(literal));
    }
    Ok(pieces)
}

fn render(pieces: &[Piece], values: &Values<'_>, escape: impl Fn(&str, &mut String)) -> String {
    let mut out = String::new();
    for piece in pieces {
        match piece {
            Piece::Literal(text) => out.push_str(text),
            Piece::Field(field) => escape(values.get(*field), &mut out),
        }
    }
    out
}

/// Percent-encodes all but RFC 3986's unreserved characters; in form encoding a space is
/// `+`.
fn percent_encode(value: &str, form: bool, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for byte in value.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(char::from(byte));
            }
            b' ' if form => out.push('+'),
            _ => {
                out.push('%');
                out.push(char::from(HEX[usize::from(byte >> 4)]));
                out.push(char::from(HEX[usize::from(byte & 0x0f)]));
            }
        }
    }
}

/// The JSON string escaping of `value`, without the quotes (the template has them).
fn json_escape(value: &str, out: &mut String) {
    let quoted = serde_json::Value::String(value.to_owned()).to_string();
    let inner = quoted
        .strip_prefix('"')
        .and_then(|rest| rest.strip_suffix('"'))
        .unwrap_or("");
    out.push_str(inner);
}
