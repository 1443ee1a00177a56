//! The one error type of this crate: every failure a caller can act on has its own variant.
//!
//! Related failures are grouped into sub-enums joined to [`CryptoError`] by `From` (as
//! rustls does): [`EncodingError`] for bytes that do not decode (PEM, DER, unsupported
//! algorithms) and [`CertificateError`] for certificates, CSRs and CRLs that decode but
//! must not be trusted. All of them stay `Clone + Eq` so tests can compare errors exactly.

use std::path::PathBuf;

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
    /// A message to seal is longer than one GCM nonce can cover (2^32 - 2 blocks):
    /// split it, or seal the parts under separate nonces.
    #[error("SM4-GCM message of {actual} bytes exceeds the {max} bytes one nonce covers")]
    GcmMessageTooLong {
        /// The most bytes one nonce covers.
        max: u64,
        /// The length given.
        actual: usize,
    },
    /// The operating system's random number generator failed.
    #[error("OS random number generator failed")]
    Rng,
    /// A batch handed to the parallel verifier has more jobs than it accepts; split it.
    #[error("verify batch of {actual} jobs exceeds the limit of {max}")]
    BatchTooLarge {
        /// The limit, [`crate::BATCH_JOBS_MAX`].
        max: usize,
        /// The batch size given.
        actual: usize,
    },
    /// Input bytes (PEM, DER) could not be decoded into the requested object.
    #[error(transparent)]
    Encoding(#[from] EncodingError),
    /// A certificate, CSR or CRL decoded but failed a validity or trust check.
    #[error(transparent)]
    Certificate(#[from] CertificateError),
    /// A key file does not hold the key of the certificate it is paired with.
    #[error("{} does not hold the key of {}", key.display(), cert.display())]
    KeyMismatch {
        /// The key file.
        key: PathBuf,
        /// The certificate file.
        cert: PathBuf,
    },
    /// A file is larger than the limit it is read with ([`crate::read_file_bounded`]).
    #[error("{} is over the {bytes_max}-byte limit", path.display())]
    FileTooLarge {
        /// The file.
        path: PathBuf,
        /// The limit.
        bytes_max: usize,
    },
    /// Reading or writing a key or certificate file failed.
    #[error("{}: {kind}", path.display())]
    Io {
        /// The file involved.
        path: PathBuf,
        /// What the operating system reported (e.g. `AlreadyExists`, `PermissionDenied`).
        kind: std::io::ErrorKind,
    },
}

/// Bytes that should hold a key, certificate, CSR or CRL could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodingError {
    /// The PEM armour or its base64 body is malformed.
    #[error("malformed PEM: {0}")]
    Pem(String),
    /// The PEM block is well formed but holds a different kind of object.
    #[error("expected PEM label {expected:?}, found {found:?}")]
    PemLabel {
        /// The label this function reads.
        expected: &'static str,
        /// The label in the input.
        found: String,
    },
    /// The DER structure is malformed or not the expected ASN.1 type.
    #[error("malformed DER in {what}: {detail}")]
    Der {
        /// The object being decoded.
        what: &'static str,
        /// The decoder's explanation.
        detail: String,
    },
    /// The object uses an algorithm other than SM2 keys / SM2-with-SM3 signatures.
    #[error("unsupported algorithm {oid} in {what}")]
    UnsupportedAlgorithm {
        /// Where the algorithm identifier was found.
        what: &'static str,
        /// The dotted OID found.
        oid: String,
    },
    /// The input is larger than this crate accepts for its kind.
    #[error("{what} is {actual} bytes, more than the {max} accepted")]
    TooLarge {
        /// The object being decoded.
        what: &'static str,
        /// The size limit.
        max: usize,
        /// The size given.
        actual: usize,
    },
}

/// A certificate, CSR or CRL decoded correctly but must not be trusted or used, or the
/// parameters for building one are inconsistent.
///
/// `subject` fields name the certificate concerned by its subject DN, so an operator can
/// tell which link of a chain failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CertificateError {
    /// The SM2-with-SM3 signature does not verify under the issuer's (or, for a CSR, the
    /// requester's own) public key.
    #[error("signature on {subject} does not verify")]
    BadSignature {
        /// The signed object's subject (the CRL issuer for CRLs).
        subject: String,
    },
    /// The certificate's notAfter is before the verification time.
    #[error("{subject} expired at {not_after} (checked at {at})")]
    Expired {
        /// The certificate's subject.
        subject: String,
        /// notAfter, unix seconds.
        not_after: i64,
        /// The verification time, unix seconds.
        at: i64,
    },
    /// The certificate's notBefore is after the verification time.
    #[error("{subject} not valid before {not_before} (checked at {at})")]
    NotYetValid {
        /// The certificate's subject.
        subject: String,
        /// notBefore, unix seconds.
        not_before: i64,
        /// The verification time, unix seconds.
        at: i64,
    },
    /// No trusted root or supplied intermediate is the issuer of this certificate.
    #[error("no trusted issuer {issuer} for {subject}")]
    UnknownIssuer {
        /// The certificate whose issuer was not found.
        subject: String,
        /// The issuer DN it names.
        issuer: String,
    },
    /// A certificate used as an issuer lacks basicConstraints `cA = TRUE`.
    #[error("{subject} is not a CA certificate")]
    NotCa {
        /// The would-be issuer.
        subject: String,
    },
    /// A certificate used as an issuer has a keyUsage without keyCertSign (or, for a CRL
    /// issuer, without cRLSign).
    #[error("{subject} key usage does not allow {usage}")]
    KeyUsageForbids {
        /// The would-be issuer.
        subject: String,
        /// The missing usage bit, e.g. `keyCertSign`.
        usage: &'static str,
    },
    /// An issuer's pathLenConstraint allows fewer intermediate CAs below it than the chain has.
    #[error("{subject} allows {path_len} intermediate CAs below it, chain has more")]
    PathLenExceeded {
        /// The constraining issuer.
        subject: String,
        /// Its pathLenConstraint.
        path_len: u8,
    },
    /// The chain would be longer than [`crate::x509::CHAIN_CERTS_MAX`] certificates.
    #[error("certificate chain longer than {max}")]
    ChainTooLong {
        /// The limit.
        max: usize,
    },
    /// An extension is present more than once or its contents do not decode.
    #[error("extension {oid} in {subject} is malformed or repeated")]
    BadExtension {
        /// The certificate concerned.
        subject: String,
        /// The extension's dotted OID.
        oid: String,
    },
    /// The certificate has a critical extension netsettle does not understand; RFC 5280
    /// §4.2 forbids relying on it.
    #[error("{subject} has unsupported critical extension {oid}")]
    UnsupportedCriticalExtension {
        /// The certificate concerned.
        subject: String,
        /// The extension's dotted OID.
        oid: String,
    },
    /// The subject carries more than one role OU (admin, peer, orderer, client), so its
    /// role is ambiguous.
    #[error("{subject} names more than one role in its OUs")]
    AmbiguousRole {
        /// The certificate concerned.
        subject: String,
    },
    /// The CRL's nextUpdate is before the time it is checked at: a fresher CRL is due.
    #[error("CRL from {issuer} is stale: nextUpdate {next_update}, checked at {at}")]
    CrlStale {
        /// The CRL issuer.
        issuer: String,
        /// nextUpdate, unix seconds.
        next_update: i64,
        /// The check time, unix seconds.
        at: i64,
    },
    /// The CRL names a different issuer than the certificate it is checked against.
    #[error("CRL issued by {crl_issuer}, not by {issuer}")]
    CrlIssuerMismatch {
        /// The issuer DN in the CRL.
        crl_issuer: String,
        /// The subject DN of the certificate offered as its issuer.
        issuer: String,
    },
    /// Parameters for building a certificate, CSR or CRL are inconsistent (e.g. notAfter
    /// before notBefore, an empty or oversized serial).
    #[error("invalid certificate parameters: {0}")]
    InvalidParams(&'static str),
}
