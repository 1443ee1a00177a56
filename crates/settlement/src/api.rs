//! The argument encoding of the contract's functions: every function takes one JSON
//! object as its first argument (at most [`REQUEST_BYTES_MAX`] bytes); `upload` takes the
//! ciphertext as raw bytes in its second. Byte strings (nonces, keys, digests) are
//! lowercase hex in JSON and raw bytes in stored records ([`HexBytes`]).

use core::fmt;

use serde::de::DeserializeOwned;

use crate::error::SettleError;
use crate::limits::{ACTING_USER_BYTES_MAX, BULK_REQUEST_BYTES_MAX, REQUEST_BYTES_MAX};
use crate::units::Period;

/// A fixed-size byte string: hex in human-readable formats (JSON), raw bytes in the
/// contract's binary records.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HexBytes<const N: usize>(pub [u8; N]);

/// An SM3 digest as it appears in requests, records and events.
pub type Digest = HexBytes<32>;

impl<const N: usize> fmt::Debug for HexBytes<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl<const N: usize> fmt::Display for HexBytes<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl From<netsettle_smcrypto::Hash> for HexBytes<32> {
    fn from(hash: netsettle_smcrypto::Hash) -> Self {
        Self(hash.0)
    }
}

impl<const N: usize> serde::Serialize for HexBytes<N> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.serialize_str(&hex::encode(self.0))
        } else {
            use serde::ser::SerializeTuple as _;
            let mut tuple = serializer.serialize_tuple(N)?;
            for byte in &self.0 {
                tuple.serialize_element(byte)?;
            }
            tuple.end()
        }
    }
}

impl<'de, const N: usize> serde::Deserialize<'de> for HexBytes<N> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error as _;
        if deserializer.is_human_readable() {
            let text = String::deserialize(deserializer)?;
            let mut out = [0u8; N];
            hex::decode_to_slice(&text, &mut out).map_err(|_| {
                D::Error::custom(format!("expected {} hex digits", N.saturating_mul(2)))
            })?;
            Ok(Self(out))
        } else {
            deserializer.deserialize_tuple(N, ByteArrayVisitor::<N>)
        }
    }
}

struct ByteArrayVisitor<const N: usize>;

impl<'de, const N: usize> serde::de::Visitor<'de> for ByteArrayVisitor<N> {
    type Value = HexBytes<N>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{N} bytes")
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = [0u8; N];
        for (idx, slot) in out.iter_mut().enumerate() {
            *slot = seq
                .next_element()?
                .ok_or_else(|| serde::de::Error::invalid_length(idx, &self))?;
        }
        Ok(HexBytes(out))
    }
}

/// `upload`: args `[json, ciphertext]`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UploadRequest {
    /// The period, `YYYY-MM`.
    pub period: Period,
    /// The 12-byte SM4-GCM nonce.
    pub nonce: HexBytes<12>,
    /// `SM3("netsettle/v1/key\0" ‖ key ‖ salt)` ([`crate::seal::key_commitment`]).
    pub key_commitment: Digest,
    /// `SM3("netsettle/v1/plaintext\0" ‖ salt ‖ canonical report text)`
    /// ([`crate::seal::plaintext_commitment`]); binding for the period once both uploads
    /// are in.
    pub plaintext_commitment: Digest,
    /// The authenticated user a gateway signs for (see [`ActingUser`]), recorded next to
    /// the signing identity in the audit trail and line history.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_behalf_of: Option<ActingUser>,
}

/// `reveal`: the 16-byte SM4 key of this round and the 16-byte commitment salt.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevealRequest {
    /// The period.
    pub period: Period,
    /// The key.
    pub key: HexBytes<16>,
    /// The salt of the plaintext commitment.
    pub salt: HexBytes<16>,
    /// The authenticated user a gateway signs for (see [`ActingUser`]), recorded next to
    /// the signing identity in the audit trail and line history.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_behalf_of: Option<ActingUser>,
}

/// `dispute`: mark a settled line disputed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DisputeRequest {
    /// The period.
    pub period: Period,
    /// The line.
    pub line_no: u64,
    /// Why.
    pub reason: String,
    /// The authenticated user a gateway signs for (see [`ActingUser`]), recorded next to
    /// the signing identity in the audit trail and line history.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_behalf_of: Option<ActingUser>,
}

/// `adjust_propose`: new figures for a line.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdjustRequest {
    /// The period.
    pub period: Period,
    /// The line.
    pub line_no: u64,
    /// New quantity.
    pub quantity: u64,
    /// New amount in fen.
    pub amount_fen: u64,
    /// Why.
    pub reason: String,
    /// SM3 of a supporting document kept off chain, if any.
    #[serde(default)]
    pub attachment_sm3: Option<Digest>,
    /// The authenticated user a gateway signs for (see [`ActingUser`]), recorded next to
    /// the signing identity in the audit trail and line history.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_behalf_of: Option<ActingUser>,
}

/// `adjust_accept` / `adjust_reject`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecideRequest {
    /// The period.
    pub period: Period,
    /// The adjustment.
    pub adjustment_id: u64,
    /// Why (required to reject).
    #[serde(default)]
    pub reason: Option<String>,
    /// The authenticated user a gateway signs for (see [`ActingUser`]), recorded next to
    /// the signing identity in the audit trail and line history.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_behalf_of: Option<ActingUser>,
}

/// `confirm`: the version both sides sign off.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfirmRequest {
    /// The period.
    pub period: Period,
    /// The data version seen.
    pub version: u64,
    /// The authenticated user a gateway signs for (see [`ActingUser`]), recorded next to
    /// the signing identity in the audit trail and line history.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_behalf_of: Option<ActingUser>,
}

/// `reset`, `approve`, `period_get`, `final_get` (queries ignore `on_behalf_of`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeriodRequest {
    /// The period.
    pub period: Period,
    /// The authenticated user a gateway signs for (see [`ActingUser`]), recorded next to
    /// the signing identity in the audit trail and line history.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_behalf_of: Option<ActingUser>,
}

/// `agreement_accept`: the digest of the exact terms proposed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AcceptAgreementRequest {
    /// [`crate::agreement::Agreement::digest`] of the pending proposal.
    pub digest: Digest,
}

/// `lines_get`, `audit_get`: a page of a list.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListRequest {
    /// The period.
    pub period: Period,
    /// First entry (line number or audit sequence number).
    #[serde(default)]
    pub from: u64,
    /// Entries at most (capped by the contract's limits).
    pub limit: u64,
    /// `lines_get` only: return only lines that are disputed or one-sided.
    #[serde(default)]
    pub open_only: bool,
}

/// `adjustment_get`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdjustmentRequest {
    /// The period.
    pub period: Period,
    /// The adjustment.
    pub adjustment_id: u64,
}

/// Export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExportFormat {
    /// CSV with `#` header lines.
    Csv,
    /// One JSON object.
    Json,
}

/// `export`: the finance export of a final period.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportRequest {
    /// The period.
    pub period: Period,
    /// CSV or JSON.
    pub format: ExportFormat,
    /// First line.
    #[serde(default)]
    pub from: u64,
    /// Lines at most (capped by the contract's limits).
    pub limit: u64,
}

/// The user an HTTP gateway acts for when it signs with the carrier's settlement identity
/// on behalf of an authenticated caller: non-empty UTF-8, at most
/// [`ACTING_USER_BYTES_MAX`] bytes, no control or format characters, no leading or
/// trailing space. Checked when the request is parsed, so a bad one is a 400 and
/// nothing is recorded.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct ActingUser(String);

impl ActingUser {
    /// Checks `name`.
    pub fn new(name: impl Into<String>) -> Result<Self, SettleError> {
        let name = name.into();
        if name.len() > ACTING_USER_BYTES_MAX {
            return Err(SettleError::TooLarge {
                what: "on_behalf_of",
                max: ACTING_USER_BYTES_MAX,
                actual: name.len(),
            });
        }
        let bad_char = name
            .chars()
            .any(|c| c.is_control() || crate::units::is_format_char(c));
        if name.is_empty() || name.trim() != name || bad_char {
            return Err(SettleError::bad(
                "on_behalf_of must be non-empty text without control or format characters or surrounding space",
            ));
        }
        Ok(Self(name))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ActingUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for ActingUser {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        Self::new(name).map_err(serde::de::Error::custom)
    }
}

/// `approve`: a carrier's finance department signs off the final data (a
/// [`PeriodRequest`]). `pay`: the payer records the payment of the net amount.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PayRequest {
    /// The period.
    pub period: Period,
    /// The payer's payment reference (bank transfer id), as the payee will see it.
    pub reference: String,
    /// The amount paid, fen: must equal the final data's net amount.
    pub amount_fen: u64,
    /// When the payment was made, if the payer's system knows it (ms since the epoch);
    /// the transaction's own time is recorded regardless.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paid_at_ms: Option<u64>,
    /// See [`ActingUser`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_behalf_of: Option<ActingUser>,
}

/// `ack`: the payee acknowledges the payment recorded under `reference`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AckRequest {
    /// The period.
    pub period: Period,
    /// The reference of the recorded payment.
    pub reference: String,
    /// See [`ActingUser`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_behalf_of: Option<ActingUser>,
}

/// `periods_list`: a page of the periods that have a record, ascending.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeriodsListRequest {
    /// First period (inclusive); the earliest if absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<Period>,
    /// Periods at most (capped by the contract's limits).
    pub limit: u64,
}

/// `line_history`: every event on one line.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LineHistoryRequest {
    /// The period.
    pub period: Period,
    /// The line.
    pub line_no: u64,
}

/// One entry of [`AdjustManyRequest`]: new figures for a line.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdjustmentEntry {
    /// The line.
    pub line_no: u64,
    /// New quantity.
    pub quantity: u64,
    /// New amount in fen.
    pub amount_fen: u64,
    /// Why.
    pub reason: String,
    /// SM3 of a supporting document kept off chain, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attachment_sm3: Option<Digest>,
}

/// `adjust_propose_many`: up to [`crate::limits::BULK_ADJUSTMENTS_MAX`] adjustments in one transaction,
/// all or nothing (one bad entry refuses the whole transaction, naming its index).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdjustManyRequest {
    /// The period.
    pub period: Period,
    /// The adjustments, in the order their ids are given.
    pub adjustments: Vec<AdjustmentEntry>,
    /// See [`ActingUser`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_behalf_of: Option<ActingUser>,
}

/// One rejection of [`DecideManyRequest`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RejectEntry {
    /// The adjustment.
    pub adjustment_id: u64,
    /// Why.
    pub reason: String,
}

/// `adjust_decide_many`: accept and reject many of the other carrier's adjustments in one
/// transaction, all or nothing; together at most [`crate::limits::BULK_ADJUSTMENTS_MAX`] ids, each at
/// most once.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecideManyRequest {
    /// The period.
    pub period: Period,
    /// Adjustments to accept.
    #[serde(default)]
    pub accept: Vec<u64>,
    /// Adjustments to reject, each with its reason.
    #[serde(default)]
    pub reject: Vec<RejectEntry>,
    /// See [`ActingUser`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_behalf_of: Option<ActingUser>,
}

/// Parses the JSON request in `args[0]`, checking its size first.
pub fn parse_request<T: DeserializeOwned>(args: &[Vec<u8>]) -> Result<T, SettleError> {
    parse_request_within(args, REQUEST_BYTES_MAX)
}

/// Parses the JSON request of a bulk function ([`AdjustManyRequest`],
/// [`DecideManyRequest`]), which may be up to [`BULK_REQUEST_BYTES_MAX`] bytes.
pub fn parse_bulk_request<T: DeserializeOwned>(args: &[Vec<u8>]) -> Result<T, SettleError> {
    parse_request_within(args, BULK_REQUEST_BYTES_MAX)
}

fn parse_request_within<T: DeserializeOwned>(
    args: &[Vec<u8>],
    max: usize,
) -> Result<T, SettleError> {
    let bytes = args
        .first()
        .ok_or_else(|| SettleError::bad("missing the JSON request argument"))?;
    if bytes.len() > max {
        return Err(SettleError::TooLarge {
            what: "request",
            max,
            actual: bytes.len(),
        });
    }
    serde_json::from_slice(bytes).map_err(|error| SettleError::bad(format!("request: {error}")))
}

/// JSON bytes of a value made of plain structs, strings and integers.
pub fn to_json<T: serde::Serialize>(value: &T) -> Vec<u8> {
    // Such values always serialise; an empty vector would only signal a bug in a type.
    serde_json::to_vec(value).unwrap_or_default()
}
