//! The argument encoding of the contract's functions: every function takes one JSON
//! object as its first argument (at most [`REQUEST_BYTES_MAX`] bytes); `upload` takes the
//! ciphertext as raw bytes in its second. Byte strings (nonces, keys, digests) are
//! lowercase hex in JSON and raw bytes in stored records ([`HexBytes`]).

use core::fmt;

use serde::de::DeserializeOwned;

use crate::error::SettleError;
use crate::limits::REQUEST_BYTES_MAX;
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
}

/// `confirm`: the version both sides sign off.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfirmRequest {
    /// The period.
    pub period: Period,
    /// The data version seen.
    pub version: u64,
}

/// `reset`, `period_get`, `final_get`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeriodRequest {
    /// The period.
    pub period: Period,
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

/// Parses the JSON request in `args[0]`, checking its size first.
pub fn parse_request<T: DeserializeOwned>(args: &[Vec<u8>]) -> Result<T, SettleError> {
    let bytes = args
        .first()
        .ok_or_else(|| SettleError::bad("missing the JSON request argument"))?;
    if bytes.len() > REQUEST_BYTES_MAX {
        return Err(SettleError::TooLarge {
            what: "request",
            max: REQUEST_BYTES_MAX,
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
