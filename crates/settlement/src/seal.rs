//! Sealing a report before it leaves the carrier, and opening it on chain after the
//! reveal.
//!
//! The client canonicalises its report, draws a fresh random SM4 key, GCM nonce and
//! commitment salt, and encrypts the canonical text with SM4-GCM; the associated data
//! binds the ciphertext to its period and carrier, so last month's upload cannot be
//! replayed as this month's. The upload commits to
//!
//! - `plaintext_commitment = SM3("netsettle/v1/plaintext\0" ‖ salt ‖ canonical text)`:
//!   the report itself. The 16-byte salt is secret until the reveal, so the counterparty
//!   cannot test a guessed report (e.g. the mirror image of its own) against the public
//!   commitment. Once both uploads are on the chain this commitment is binding for the
//!   whole period: a later round accepts only an upload with the same commitment, i.e.
//!   the same report under the same salt (with a fresh key and nonce: [`reseal_report_fresh`]).
//! - `key_commitment = SM3("netsettle/v1/key\0" ‖ key ‖ salt)`: this round's opening, so a
//!   wrong key or salt at the reveal is refused and changes nothing.
//!
//! The key and salt ([`Opening`]) stay on the carrier's server until the reveal. The
//! contract never makes keys or salts: it only checks them.

use netsettle_smcrypto::{
    GCM_NONCE_BYTES, Hash, SM4_KEY_BYTES, Sm3Hasher, Sm4Key, gcm_open, gcm_seal, random_bytes,
};

use crate::api::{HexBytes, RevealRequest, UploadRequest};
use crate::error::{ReportError, SettleError};
use crate::report::Report;
use crate::units::Period;

/// Domain tag that starts the SM4-GCM associated data of a report.
pub const REPORT_AAD_TAG: &[u8] = b"netsettle/v1/report\0";
/// Domain tag of the plaintext commitment.
pub const PLAINTEXT_COMMITMENT_TAG: &[u8] = b"netsettle/v1/plaintext\0";
/// Domain tag of the key commitment.
pub const KEY_COMMITMENT_TAG: &[u8] = b"netsettle/v1/key\0";
/// Bytes of a commitment salt: 128 bits, so a guessed report cannot be tested against a
/// commitment by trying salts.
pub const SALT_BYTES: usize = 16;

/// `REPORT_AAD_TAG ‖ period ‖ 0x00 ‖ carrier`.
pub fn report_aad(period: Period, carrier: &str) -> Vec<u8> {
    let mut aad = REPORT_AAD_TAG.to_vec();
    aad.extend_from_slice(period.to_string().as_bytes());
    aad.push(0);
    aad.extend_from_slice(carrier.as_bytes());
    aad
}

/// The commitment to a round's opening: `SM3(KEY_COMMITMENT_TAG ‖ key ‖ salt)`.
pub fn key_commitment(key: &[u8; SM4_KEY_BYTES], salt: &[u8; SALT_BYTES]) -> Hash {
    let mut hasher = Sm3Hasher::new();
    hasher.update(KEY_COMMITMENT_TAG);
    hasher.update(key);
    hasher.update(salt);
    hasher.finalize()
}

/// The commitment to a report: `SM3(PLAINTEXT_COMMITMENT_TAG ‖ salt ‖ canonical text)`.
pub fn plaintext_commitment(salt: &[u8; SALT_BYTES], canonical: &[u8]) -> Hash {
    let mut hasher = Sm3Hasher::new();
    hasher.update(PLAINTEXT_COMMITMENT_TAG);
    hasher.update(salt);
    hasher.update(canonical);
    hasher.finalize()
}

/// What opens an upload: the round's key and the period's salt. Secret until the reveal.
#[derive(Clone)]
pub struct Opening {
    /// The SM4 key of this round's ciphertext.
    pub key: Sm4Key,
    /// The salt of the plaintext commitment (the same in every round of a period).
    pub salt: [u8; SALT_BYTES],
}

impl core::fmt::Debug for Opening {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Opening(..)")
    }
}

/// An encrypted report and what its upload commits to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedReport {
    /// The period.
    pub period: Period,
    /// The reporting carrier's MSP id.
    pub carrier: String,
    /// The GCM nonce.
    pub nonce: [u8; GCM_NONCE_BYTES],
    /// SM4-GCM of the canonical text (tag at the end).
    pub ciphertext: Vec<u8>,
    /// `SM3(KEY_COMMITMENT_TAG ‖ key ‖ salt)`.
    pub key_commitment: Hash,
    /// `SM3(PLAINTEXT_COMMITMENT_TAG ‖ salt ‖ canonical text)`.
    pub plaintext_commitment: Hash,
}

impl SealedReport {
    /// The `upload` arguments: the JSON request and the ciphertext.
    pub fn upload_args(&self) -> Vec<Vec<u8>> {
        let request = UploadRequest {
            period: self.period,
            nonce: HexBytes(self.nonce),
            key_commitment: HexBytes(self.key_commitment.0),
            plaintext_commitment: HexBytes(self.plaintext_commitment.0),
            on_behalf_of: None,
        };
        vec![crate::api::to_json(&request), self.ciphertext.clone()]
    }
}

/// Seals `report` under `opening` and `nonce`. Use [`seal_report_fresh`] in production;
/// this form exists for reproducible tests.
pub fn seal_report(
    report: &Report,
    opening: &Opening,
    nonce: [u8; GCM_NONCE_BYTES],
) -> SealedReport {
    let plaintext = report.to_canonical();
    let aad = report_aad(report.period(), report.carrier());
    SealedReport {
        period: report.period(),
        carrier: report.carrier().to_owned(),
        nonce,
        ciphertext: gcm_seal(&opening.key, &nonce, &aad, &plaintext),
        key_commitment: key_commitment(opening.key.as_bytes(), &opening.salt),
        plaintext_commitment: plaintext_commitment(&opening.salt, &plaintext),
    }
}

/// Seals `report` under a fresh random key, nonce and salt from the OS; returns the
/// sealed report and the opening to keep until the reveal (keep the salt for the whole
/// period: a later round must reuse it).
pub fn seal_report_fresh(report: &Report) -> Result<(SealedReport, Opening), SettleError> {
    let mut salt = [0u8; SALT_BYTES];
    random_bytes(&mut salt).map_err(|error| SettleError::Storage(error.to_string()))?;
    reseal_report_fresh(report, salt)
}

/// Seals `report` again for a later round of the same period: a fresh key and nonce, the
/// salt of the first sealing, hence the same plaintext commitment.
pub fn reseal_report_fresh(
    report: &Report,
    salt: [u8; SALT_BYTES],
) -> Result<(SealedReport, Opening), SettleError> {
    let key = Sm4Key::generate().map_err(|error| SettleError::Storage(error.to_string()))?;
    let mut nonce = [0u8; GCM_NONCE_BYTES];
    random_bytes(&mut nonce).map_err(|error| SettleError::Storage(error.to_string()))?;
    let opening = Opening { key, salt };
    Ok((seal_report(report, &opening, nonce), opening))
}

/// The `reveal` arguments for `period` and `opening`.
pub fn reveal_args(period: Period, opening: &Opening) -> Vec<Vec<u8>> {
    vec![crate::api::to_json(&RevealRequest {
        period,
        key: HexBytes(*opening.key.as_bytes()),
        salt: HexBytes(opening.salt),
        on_behalf_of: None,
    })]
}

/// Why an uploaded report could not be opened after its key was revealed. The fault is
/// the uploader's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// SM4-GCM authentication failed: the ciphertext, nonce or associated data do not
    /// belong to this key.
    #[error("the ciphertext does not decrypt under the revealed key (tampered or mismatched)")]
    Decrypt,
    /// The plaintext is not the one committed to at upload.
    #[error("the decrypted report does not match its plaintext commitment")]
    PlaintextMismatch,
    /// The plaintext is the committed one but not a valid canonical report for this
    /// period and carrier.
    #[error("the decrypted report is malformed: {0}")]
    Malformed(#[from] ReportError),
}

impl OpenError {
    /// Whether the committed plaintext itself is shown to be invalid: no later round can
    /// open that commitment, so its uploader is in default at once. A ciphertext that
    /// does not decrypt, or decrypts to something else, could still be replaced by one
    /// that opens to the committed plaintext.
    pub fn commitment_unopenable(&self) -> bool {
        matches!(self, Self::Malformed(_))
    }
}

/// What an upload recorded, as [`open_report`] needs it.
#[derive(Debug, Clone, Copy)]
pub struct Sealed<'a> {
    /// Period of the upload.
    pub period: Period,
    /// Uploading carrier.
    pub carrier: &'a str,
    /// GCM nonce.
    pub nonce: &'a [u8; GCM_NONCE_BYTES],
    /// The committed `SM3(PLAINTEXT_COMMITMENT_TAG ‖ salt ‖ canonical text)`.
    pub plaintext_commitment: &'a Hash,
    /// The ciphertext.
    pub ciphertext: &'a [u8],
}

/// Decrypts and checks an uploaded report with its (already commitment-checked) opening:
/// the plaintext must be the committed one under the salt, then a canonical report of
/// the upload's period and carrier.
pub fn open_report(sealed: Sealed<'_>, opening: &Opening) -> Result<Report, OpenError> {
    let aad = report_aad(sealed.period, sealed.carrier);
    let plaintext = gcm_open(&opening.key, sealed.nonce, &aad, sealed.ciphertext)
        .map_err(|_| OpenError::Decrypt)?;
    if plaintext_commitment(&opening.salt, &plaintext) != *sealed.plaintext_commitment {
        return Err(OpenError::PlaintextMismatch);
    }
    let report = Report::from_canonical(&plaintext)?;
    report.check_header(sealed.period, sealed.carrier)?;
    Ok(report)
}

/// An SM4 key from its 16 bytes.
pub fn key_from_bytes(bytes: &[u8; SM4_KEY_BYTES]) -> Result<Sm4Key, SettleError> {
    Sm4Key::from_slice(bytes).map_err(|error| SettleError::bad(error.to_string()))
}

/// The opening a reveal carries.
pub fn opening_from_bytes(
    key: &[u8; SM4_KEY_BYTES],
    salt: &[u8; SALT_BYTES],
) -> Result<Opening, SettleError> {
    Ok(Opening {
        key: key_from_bytes(key)?,
        salt: *salt,
    })
}
