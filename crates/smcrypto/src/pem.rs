//! PEM armour shared by keys, certificates, CSRs and CRLs: one place checks the size cap
//! and the label, so every `from_pem` rejects the wrong kind of file the same way.

use crate::EncodingError;

/// Largest PEM input accepted. A CRL for a two-carrier consortium stays far below this;
/// the cap only stops a hostile file from making us allocate without bound.
pub(crate) const PEM_BYTES_MAX: usize = 4 * 1024 * 1024;

/// Largest DER input accepted, for the same reason as [`PEM_BYTES_MAX`].
pub(crate) const DER_BYTES_MAX: usize = 3 * 1024 * 1024;

/// Decode one PEM block whose label must be `expected`; returns its DER body.
pub(crate) fn decode(pem: &str, expected: &'static str) -> Result<Vec<u8>, EncodingError> {
    check_size("PEM input", pem.len(), PEM_BYTES_MAX)?;
    let (label, der) =
        der::pem::decode_vec(pem.as_bytes()).map_err(|err| EncodingError::Pem(err.to_string()))?;
    if label != expected {
        return Err(EncodingError::PemLabel {
            expected,
            found: label.to_owned(),
        });
    }
    Ok(der)
}

/// Armour DER bytes with `label`, LF line endings (what OpenSSL writes on Unix).
pub(crate) fn encode(label: &'static str, der: &[u8]) -> String {
    der::pem::encode_string(label, der::pem::LineEnding::LF, der)
        .expect("PEM encoding of an in-memory DER buffer below the size cap cannot fail")
}

/// Reject inputs over `max` bytes before decoding them.
pub(crate) fn check_size(
    what: &'static str,
    actual: usize,
    max: usize,
) -> Result<(), EncodingError> {
    if actual > max {
        return Err(EncodingError::TooLarge { what, max, actual });
    }
    Ok(())
}

/// Turn a DER decoder error into ours, naming what was being decoded.
pub(crate) fn der_error(what: &'static str, err: der::Error) -> EncodingError {
    EncodingError::Der {
        what,
        detail: err.to_string(),
    }
}
