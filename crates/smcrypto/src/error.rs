//! The one error type of this crate: every failure a caller can act on has its own variant.

/// A cryptographic operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CryptoError {
    /// The bytes are not a valid SM2 public key (not on the curve, wrong encoding).
    #[error("invalid SM2 public key")]
    InvalidPublicKey,
    /// The bytes are not a valid SM2 private key (zero, out of range, wrong length).
    #[error("invalid SM2 private key")]
    InvalidPrivateKey,
    /// The signature is not a well-formed DER `SEQUENCE { r, s }` with r, s in range.
    #[error("malformed SM2 signature")]
    MalformedSignature,
    /// The signature is well formed but does not verify for this key, ID and message.
    #[error("SM2 signature verification failed")]
    BadSignature,
    /// The signer's distinguishing ID is too long to encode (more than 8191 bytes).
    #[error("SM2 distinguishing ID too long")]
    DistIdTooLong,
    /// SM4-GCM authentication failed: wrong key, nonce, associated data, or tampered
    /// ciphertext or tag. No plaintext is released.
    #[error("SM4-GCM authentication failed (wrong key or tampered data)")]
    AuthenticationFailed,
    /// SM4-CBC ciphertext has a wrong length or bad PKCS#7 padding.
    #[error("SM4-CBC decryption failed: bad length or padding")]
    BadPadding,
    /// A fixed-size input (key, nonce, IV) had the wrong length.
    #[error("{what}: expected {expected} bytes, got {actual}")]
    InvalidLength {
        /// What the input was.
        what: &'static str,
        /// The length required.
        expected: usize,
        /// The length given.
        actual: usize,
    },
    /// The operating system's random number generator failed.
    #[error("OS random number generator failed")]
    Rng,
}
