//! The crate's error type. [`CaError`] is what a caller of the library sees; [`Refusal`] is
//! the subset the server sends back over the wire when it declines a request, so the client
//! reports exactly the reason the server had (a wrong secret, a reused one, a missing role).

use std::path::PathBuf;

use netsettle_smcrypto::CryptoError;
use netsettle_smtls::TlsError;

/// A CA operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CaError {
    /// A file or directory could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory concerned.
        path: PathBuf,
        /// What the operating system reported.
        #[source]
        source: std::io::Error,
    },
    /// A file is larger than this crate reads for its kind.
    #[error("{} is larger than {max_bytes} bytes", path.display())]
    FileTooLarge {
        /// The file.
        path: PathBuf,
        /// The limit.
        max_bytes: u64,
    },
    /// `ca init` or `ca bootstrap` would overwrite an existing CA.
    #[error("{} already holds a CA; refusing to overwrite it", path.display())]
    AlreadyInitialised {
        /// The CA directory.
        path: PathBuf,
    },
    /// The registry file does not parse or is inconsistent.
    #[error("registry {}: {detail}", path.display())]
    Registry {
        /// The registry file.
        path: PathBuf,
        /// What is wrong with it.
        detail: String,
    },
    /// A bootstrap spec file does not parse or is inconsistent.
    #[error("spec {}: {detail}", path.display())]
    Spec {
        /// The spec file.
        path: PathBuf,
        /// What is wrong with it.
        detail: String,
    },
    /// A value given by the operator (name, host, attribute, reason code) is not acceptable.
    #[error("invalid {what}: {detail}")]
    Invalid {
        /// Which input.
        what: &'static str,
        /// Why.
        detail: String,
    },
    /// Key, certificate, CSR or CRL handling failed.
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    /// The SM-TLS connection could not be set up or broke.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// The peer sent bytes that are not a valid frame or message.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// The CA declined the request.
    #[error("CA refused the request: {0}")]
    Refused(#[from] Refusal),
}

impl CaError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> CaError {
        let path = path.into();
        move |source| CaError::Io { path, source }
    }

    pub(crate) fn invalid(what: &'static str, detail: impl Into<String>) -> CaError {
        CaError::Invalid {
            what,
            detail: detail.into(),
        }
    }
}

/// Why the CA declined a request. Sent to the client as is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub enum Refusal {
    /// No identity of this name is registered.
    #[error("identity {name:?} is not registered")]
    UnknownIdentity {
        /// The name asked for.
        name: String,
    },
    /// An identity of this name is already registered.
    #[error("identity {name:?} is already registered")]
    AlreadyRegistered {
        /// The name asked for.
        name: String,
    },
    /// The enrollment secret does not match the one registered.
    #[error("wrong enrollment secret for {name:?}")]
    WrongSecret {
        /// The identity.
        name: String,
    },
    /// The enrollment secret was already used; secrets are one-time.
    #[error(
        "enrollment secret for {name:?} was already used; re-enroll with the current certificate or ask the registrar for a new registration"
    )]
    SecretAlreadyUsed {
        /// The identity.
        name: String,
    },
    /// Too many wrong secrets came from this address; it must wait before trying again.
    /// (Wrong secrets never lock a registration.)
    #[error(
        "too many wrong enrollment secrets from this address; retry in {retry_after_seconds} s"
    )]
    EnrollmentThrottled {
        /// Seconds until the next attempt is accepted.
        retry_after_seconds: u64,
    },
    /// The identity re-enrolled as often as allowed within the window.
    #[error("{name:?} re-enrolled {count} times within {window_seconds} s; retry later")]
    ReenrollmentLimit {
        /// The identity.
        name: String,
        /// Re-enrollments within the window.
        count: usize,
        /// The window, seconds.
        window_seconds: i64,
    },
    /// The identity was revoked and can no longer enroll or re-enroll.
    #[error("identity {name:?} is revoked")]
    IdentityRevoked {
        /// The identity.
        name: String,
    },
    /// The operation needs a client certificate issued by this CA.
    #[error("{operation} needs a client certificate issued by this CA")]
    CertificateRequired {
        /// The operation attempted.
        operation: String,
    },
    /// The client's certificate does not allow the operation.
    #[error("not authorised: {reason}")]
    NotAuthorised {
        /// Why.
        reason: String,
    },
    /// No certificate with this serial was issued by this CA.
    #[error("no certificate with serial {serial} was issued by this CA")]
    UnknownSerial {
        /// The serial, hex.
        serial: String,
    },
    /// Nothing left to revoke: the certificate (or every certificate of the identity) is
    /// already revoked.
    #[error("{what} is already revoked")]
    AlreadyRevoked {
        /// The serial or identity.
        what: String,
    },
    /// A CSR asks for a subject alternative name that was not registered for the identity.
    #[error("CSR asks for SAN {host:?}, which is not registered for {name:?}")]
    HostNotRegistered {
        /// The identity.
        name: String,
        /// The host asked for.
        host: String,
    },
    /// The request is malformed or violates a limit.
    #[error("bad request: {detail}")]
    BadRequest {
        /// What is wrong.
        detail: String,
    },
    /// The CA failed internally (disk, signing); the request may be retried.
    #[error("CA internal error: {detail}")]
    Internal {
        /// What failed.
        detail: String,
    },
}
