//! The signed webhook format of notices: what a carrier's node POSTs to its staff's
//! endpoints (webhooks, the staff console) when it is someone's move, and how a receiver
//! checks that a notice came from the node.
//!
//! A notice is a small JSON document ([`Notice`]). The node signs
//! `"netsettle-notice-v1\n" ‖ timestamp (decimal Unix ms) ‖ "\n" ‖ body` with its SM2
//! signing key (default distinguishing ID, DER signature) and sends the signature hex
//! encoded in [`HEADER_SIGNATURE`], the timestamp in [`HEADER_TIMESTAMP`] and the notice
//! id in [`HEADER_NOTICE_ID`]. Binding the timestamp lets a receiver refuse an old
//! notice replayed by someone who recorded it; the id lets it drop a notice delivered
//! twice (the node's outbox retries until it sees a 2xx, so a receiver that answered
//! late can see one again).
//!
//! The receiver holds the node's signing certificate (the carrier's own node: it trusts
//! its own carrier's operators, nobody else), checks the signature against its public
//! key, then the timestamp against its clock, then parses the body.

use netsettle_smcrypto::{PrivateKey, PublicKey, Signature};
use serde::{Deserialize, Serialize};

/// Header carrying the notice id (the same as the body's `id`).
pub const HEADER_NOTICE_ID: &str = "x-netsettle-notice-id";
/// Header carrying the signing time, decimal Unix milliseconds.
pub const HEADER_TIMESTAMP: &str = "x-netsettle-timestamp";
/// Header carrying the hex-encoded DER SM2 signature.
pub const HEADER_SIGNATURE: &str = "x-netsettle-signature";

/// Largest notice body a receiver reads; a notice is a few hundred bytes.
pub const NOTICE_BYTES_MAX: usize = 16 * 1024;

/// Longest distance between a notice's timestamp and the receiver's clock: retries are
/// re-signed at each attempt, so an honest notice is always fresh.
pub const NOTICE_SKEW_MS_MAX: i64 = 5 * 60 * 1000;

const SIGNATURE_DOMAIN: &[u8] = b"netsettle-notice-v1\n";

/// Largest hex-encoded signature accepted (a DER SM2 signature is at most 72 bytes).
const SIGNATURE_HEX_MAX: usize = 2 * 80;

/// One notice for one recipient: whose move it is and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Notice {
    /// Unique per event and recipient; stays the same across retries and restarts.
    pub id: String,
    /// What happened, a stable snake_case name (`counterpart_uploaded`, `reveal_due`,
    /// `reconciled`, `adjustment_proposed`, `finance_approval_due`, `deadline_near`, …).
    pub kind: String,
    /// The channel the event happened on.
    pub channel: String,
    /// The carrier (MSP id) whose staff the notice is for.
    pub carrier: String,
    /// The settlement period (`YYYY-MM`), when the event belongs to one.
    pub period: Option<String>,
    /// A one-line, human-readable text for the staff member (SMS-sized).
    pub text: String,
    /// The block of the event, when it came from one (reminders do not).
    pub block: Option<u64>,
    /// The transaction id (hex) of the event, when it came from one.
    pub tx_id: Option<String>,
    /// When the event happened: the block's time, or the reminder's time (Unix ms).
    pub at_ms: i64,
    /// The configured recipient the notice was addressed to.
    pub recipient: String,
}

/// Why a received notice was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum NoticeError {
    /// The body is larger than [`NOTICE_BYTES_MAX`].
    #[error("notice body of {0} bytes is over the {NOTICE_BYTES_MAX}-byte limit")]
    TooLarge(usize),
    /// A required header is missing or not text.
    #[error("notice header {0} missing")]
    MissingHeader(&'static str),
    /// The timestamp header is not a decimal number.
    #[error("notice timestamp {0:?} is not a number")]
    BadTimestamp(String),
    /// The signature header is not hex DER.
    #[error("notice signature is not a hex-encoded DER signature")]
    BadSignatureEncoding,
    /// No trusted key verifies the signature.
    #[error("notice signature does not verify against any trusted node key")]
    BadSignature,
    /// The timestamp is further from the receiver's clock than [`NOTICE_SKEW_MS_MAX`].
    #[error("notice signed at {signed_ms} ms, {skew_ms} ms away from the receiver's clock")]
    Stale {
        /// The notice's timestamp.
        signed_ms: i64,
        /// Its distance from the receiver's clock.
        skew_ms: i64,
    },
    /// The body is not a notice.
    #[error("notice body is not a notice: {0}")]
    BadBody(String),
    /// The id header and the body's id differ.
    #[error("notice id header {header:?} differs from the body's {body:?}")]
    IdMismatch {
        /// The header's id.
        header: String,
        /// The body's id.
        body: String,
    },
}

/// The headers a node sends with a notice body signed at `timestamp_ms`, as
/// `(name, value)` pairs.
pub fn sign_notice(
    key: &PrivateKey,
    notice_id: &str,
    timestamp_ms: i64,
    body: &[u8],
) -> [(&'static str, String); 3] {
    let signature = key.sign(&signed_message(timestamp_ms, body));
    [
        (HEADER_NOTICE_ID, notice_id.to_owned()),
        (HEADER_TIMESTAMP, timestamp_ms.to_string()),
        (HEADER_SIGNATURE, hex::encode(signature.as_der())),
    ]
}

/// Checks a received notice: the signature against `trusted` (the node signing keys the
/// receiver trusts), the timestamp against `now_ms`, then the body. `header` looks a
/// header up by its lower-case name.
pub fn verify_notice<'h>(
    trusted: &[PublicKey],
    header: impl Fn(&str) -> Option<&'h str>,
    body: &[u8],
    now_ms: i64,
) -> Result<Notice, NoticeError> {
    if body.len() > NOTICE_BYTES_MAX {
        return Err(NoticeError::TooLarge(body.len()));
    }
    let id = header(HEADER_NOTICE_ID).ok_or(NoticeError::MissingHeader(HEADER_NOTICE_ID))?;
    let timestamp = header(HEADER_TIMESTAMP).ok_or(NoticeError::MissingHeader(HEADER_TIMESTAMP))?;
    let signature = header(HEADER_SIGNATURE).ok_or(NoticeError::MissingHeader(HEADER_SIGNATURE))?;
    let signed_ms: i64 = timestamp
        .parse()
        .map_err(|_| NoticeError::BadTimestamp(timestamp.chars().take(32).collect()))?;
    if signature.len() > SIGNATURE_HEX_MAX {
        return Err(NoticeError::BadSignatureEncoding);
    }
    let der = hex::decode(signature).map_err(|_| NoticeError::BadSignatureEncoding)?;
    let signature = Signature::from_der(&der).map_err(|_| NoticeError::BadSignatureEncoding)?;
    let message = signed_message(signed_ms, body);
    if !trusted
        .iter()
        .any(|key| key.verify(&message, &signature).is_ok())
    {
        return Err(NoticeError::BadSignature);
    }
    let skew_ms = now_ms.saturating_sub(signed_ms).saturating_abs();
    if skew_ms > NOTICE_SKEW_MS_MAX {
        return Err(NoticeError::Stale { signed_ms, skew_ms });
    }
    let notice: Notice =
        serde_json::from_slice(body).map_err(|error| NoticeError::BadBody(error.to_string()))?;
    if notice.id != id {
        return Err(NoticeError::IdMismatch {
            header: id.chars().take(128).collect(),
            body: notice.id,
        });
    }
    Ok(notice)
}

fn signed_message(timestamp_ms: i64, body: &[u8]) -> Vec<u8> {
    let timestamp = timestamp_ms.to_string();
    let mut message = Vec::with_capacity(SIGNATURE_DOMAIN.len() + timestamp.len() + 1 + body.len());
    message.extend_from_slice(SIGNATURE_DOMAIN);
    message.extend_from_slice(timestamp.as_bytes());
    message.push(b'\n');
    message.extend_from_slice(body);
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW_MS: i64 = 1_790_000_000_000;

    fn notice() -> Notice {
        Notice {
            id: "12-0-1/settlement-desk".to_owned(),
            kind: "counterpart_uploaded".to_owned(),
            channel: "settlement".to_owned(),
            carrier: "UnicomMSP".to_owned(),
            period: Some("2026-11".to_owned()),
            text: "MobileMSP uploaded its 2026-11 report; upload yours".to_owned(),
            block: Some(12),
            tx_id: Some("ab".repeat(32)),
            at_ms: NOW_MS - 1_000,
            recipient: "settlement-desk".to_owned(),
        }
    }

    fn check(
        trusted: &[PublicKey],
        headers: &[(&'static str, String)],
        body: &[u8],
    ) -> Result<Notice, NoticeError> {
        verify_notice(
            trusted,
            |name| {
                headers
                    .iter()
                    .find(|(header, _)| *header == name)
                    .map(|(_, value)| value.as_str())
            },
            body,
            NOW_MS,
        )
    }

    #[test]
    fn a_signed_notice_verifies_and_every_alteration_is_refused() {
        let node = PrivateKey::generate();
        let other = PrivateKey::generate();
        let trusted = [node.public_key().clone()];
        let body = serde_json::to_vec(&notice()).unwrap();
        let headers = sign_notice(&node, &notice().id, NOW_MS, &body).to_vec();
        assert_eq!(check(&trusted, &headers, &body), Ok(notice()));

        // Signed by a key the receiver does not trust.
        let forged = sign_notice(&other, &notice().id, NOW_MS, &body).to_vec();
        assert_eq!(
            check(&trusted, &forged, &body),
            Err(NoticeError::BadSignature)
        );

        // The body changed after signing.
        let mut altered = body.clone();
        let at = altered.iter().position(|b| *b == b'1').unwrap();
        altered[at] = b'2';
        assert_eq!(
            check(&trusted, &headers, &altered),
            Err(NoticeError::BadSignature)
        );

        // The timestamp changed after signing (a replay made to look fresh).
        let mut moved = headers.clone();
        moved[1].1 = (NOW_MS + 1).to_string();
        assert_eq!(
            check(&trusted, &moved, &body),
            Err(NoticeError::BadSignature)
        );

        // A missing header, a malformed timestamp or signature.
        assert_eq!(
            check(&trusted, &headers[..2], &body),
            Err(NoticeError::MissingHeader(HEADER_SIGNATURE))
        );
        let mut words = headers.clone();
        words[1].1 = "yesterday".to_owned();
        assert!(matches!(
            check(&trusted, &words, &body),
            Err(NoticeError::BadTimestamp(_))
        ));
        let mut garbage = headers.clone();
        garbage[2].1 = "zz".to_owned();
        assert_eq!(
            check(&trusted, &garbage, &body),
            Err(NoticeError::BadSignatureEncoding)
        );
        garbage[2].1 = "ab".repeat(200);
        assert_eq!(
            check(&trusted, &garbage, &body),
            Err(NoticeError::BadSignatureEncoding)
        );
    }

    #[test]
    fn old_oversize_malformed_and_mislabelled_notices_are_refused() {
        let node = PrivateKey::generate();
        let trusted = [node.public_key().clone()];
        let body = serde_json::to_vec(&notice()).unwrap();

        let old = NOW_MS - NOTICE_SKEW_MS_MAX - 1;
        let headers = sign_notice(&node, &notice().id, old, &body).to_vec();
        assert!(matches!(
            check(&trusted, &headers, &body),
            Err(NoticeError::Stale { .. })
        ));

        let big = vec![b' '; NOTICE_BYTES_MAX + 1];
        let headers = sign_notice(&node, "x", NOW_MS, &big).to_vec();
        assert_eq!(
            check(&trusted, &headers, &big),
            Err(NoticeError::TooLarge(NOTICE_BYTES_MAX + 1))
        );

        let junk = b"{\"id\":\"x\"}";
        let headers = sign_notice(&node, "x", NOW_MS, junk).to_vec();
        assert!(matches!(
            check(&trusted, &headers, junk),
            Err(NoticeError::BadBody(_))
        ));

        let headers = sign_notice(&node, "another-id", NOW_MS, &body).to_vec();
        assert!(matches!(
            check(&trusted, &headers, &body),
            Err(NoticeError::IdMismatch { .. })
        ));
    }
}
