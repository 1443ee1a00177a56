//! Sealing a report before it leaves the carrier, and opening it on chain after the
//! reveal.
//!
//! The client canonicalises its report, draws a fresh random SM4 key and GCM nonce, and
//! encrypts the canonical text with SM4-GCM; the associated data binds the ciphertext to
//! its period and carrier, so last month's upload cannot be replayed as this month's. It
//! commits to `SM3(key)` and `SM3(canonical text)` in the upload; the key stays on the
//! carrier's server until the reveal. The contract never makes keys: it only checks them.

use netsettle_smcrypto::{
    GCM_NONCE_BYTES, Hash, SM4_KEY_BYTES, Sm4Key, gcm_open, gcm_seal, random_bytes, sm3,
};

use crate::api::{HexBytes, RevealRequest, UploadRequest};
use crate::error::{ReportError, SettleError};
use crate::report::Report;
use crate::units::Period;

/// Domain tag that starts the SM4-GCM associated data of a report.
pub const REPORT_AAD_TAG: &[u8] = b"netsettle/v1/report\0";

/// `REPORT_AAD_TAG ‖ period ‖ 0x00 ‖ carrier`.
pub fn report_aad(period: Period, carrier: &str) -> Vec<u8> {
    let mut aad = REPORT_AAD_TAG.to_vec();
    aad.extend_from_slice(period.to_string().as_bytes());
    aad.push(0);
    aad.extend_from_slice(carrier.as_bytes());
    aad
}

/// The commitment to a report key: `SM3(key)`.
pub fn key_commitment(key: &Sm4Key) -> Hash {
    sm3(key.as_bytes())
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
    /// `SM3(key)`.
    pub key_commitment: Hash,
    /// `SM3(canonical text)`.
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
        };
        vec![crate::api::to_json(&request), self.ciphertext.clone()]
    }
}

/// Seals `report` under `key` and `nonce`. Use [`seal_report_fresh`] in production; this
/// form exists for reproducible tests.
pub fn seal_report(report: &Report, key: &Sm4Key, nonce: [u8; GCM_NONCE_BYTES]) -> SealedReport {
    let plaintext = report.to_canonical();
    let aad = report_aad(report.period(), report.carrier());
    SealedReport {
        period: report.period(),
        carrier: report.carrier().to_owned(),
        nonce,
        ciphertext: gcm_seal(key, &nonce, &aad, &plaintext),
        key_commitment: key_commitment(key),
        plaintext_commitment: sm3(&plaintext),
    }
}

/// Seals `report` under a fresh random key and nonce from the OS; returns the sealed
/// report and the key to keep until the reveal.
pub fn seal_report_fresh(report: &Report) -> Result<(SealedReport, Sm4Key), SettleError> {
    let key = Sm4Key::generate().map_err(|error| SettleError::Storage(error.to_string()))?;
    let mut nonce = [0u8; GCM_NONCE_BYTES];
    random_bytes(&mut nonce).map_err(|error| SettleError::Storage(error.to_string()))?;
    Ok((seal_report(report, &key, nonce), key))
}

/// The `reveal` arguments for `period` and `key`.
pub fn reveal_args(period: Period, key: &Sm4Key) -> Vec<Vec<u8>> {
    vec![crate::api::to_json(&RevealRequest {
        period,
        key: HexBytes(*key.as_bytes()),
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
    /// The plaintext is not a valid canonical report for this period and carrier.
    #[error("the decrypted report is malformed: {0}")]
    Malformed(#[from] ReportError),
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
    /// Committed `SM3(canonical text)`.
    pub plaintext_commitment: &'a Hash,
    /// The ciphertext.
    pub ciphertext: &'a [u8],
}

/// Decrypts and checks an uploaded report with its (already commitment-checked) key.
pub fn open_report(sealed: Sealed<'_>, key: &Sm4Key) -> Result<Report, OpenError> {
    let aad = report_aad(sealed.period, sealed.carrier);
    let plaintext =
        gcm_open(key, sealed.nonce, &aad, sealed.ciphertext).map_err(|_| OpenError::Decrypt)?;
    if sm3(&plaintext) != *sealed.plaintext_commitment {
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
