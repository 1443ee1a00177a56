//! The errors of this crate. A failed handshake is one variant with a matchable
//! [`HandshakeFailure`] reason and the side that detected it, because in TLS 1.3 the same
//! failure (say, an untrusted client certificate) is seen as a local verification error by
//! one peer and as an alert by the other; callers want the reason either way.

use core::fmt;
use std::io;
use std::path::PathBuf;

use rustls::{AlertDescription, CertificateError, PeerIncompatible};

/// Why a TLS handshake failed, whichever side noticed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum HandshakeFailure {
    /// The peer's certificate does not chain to any of our trust anchors.
    UnknownCa,
    /// A certificate in the peer's chain has expired.
    Expired,
    /// A certificate in the peer's chain is not valid yet.
    NotYetValid,
    /// The server's certificate does not name the host or IP address we connected to.
    NameMismatch,
    /// A certificate in the peer's chain is revoked.
    Revoked,
    /// The revocation status of a certificate in the peer's chain could not be determined
    /// (no usable or a stale CRL), so it was not trusted.
    RevocationUnknown,
    /// The peer's certificate is malformed, has a bad signature, the wrong key usage, or is
    /// otherwise unacceptable.
    BadCertificate,
    /// The client did not present a certificate; netsettle requires mutual authentication.
    NoClientCertificate,
    /// The peer offered no cipher suite, key-exchange group, signature scheme or protocol
    /// version in common with us. We accept only TLS 1.3 with `TLS_SM4_GCM_SM3`,
    /// `curveSM2` and `sm2sig_sm3`.
    NoCommonAlgorithms,
    /// The handshake signature (`CertificateVerify`) did not verify.
    BadHandshakeSignature,
    /// Any other protocol failure: malformed messages, unexpected alerts, decryption errors.
    Protocol,
}

impl fmt::Display for HandshakeFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HandshakeFailure::UnknownCa => "certificate issued by an unknown CA",
            HandshakeFailure::Expired => "certificate expired",
            HandshakeFailure::NotYetValid => "certificate not yet valid",
            HandshakeFailure::NameMismatch => "certificate does not match the server name",
            HandshakeFailure::Revoked => "certificate revoked",
            HandshakeFailure::RevocationUnknown => "certificate revocation status unknown",
            HandshakeFailure::BadCertificate => "certificate rejected",
            HandshakeFailure::NoClientCertificate => "client presented no certificate",
            HandshakeFailure::NoCommonAlgorithms => {
                "no common cipher suite, group or signature scheme \
                 (only TLS 1.3 TLS_SM4_GCM_SM3 / curveSM2 / sm2sig_sm3 are accepted)"
            }
            HandshakeFailure::BadHandshakeSignature => "handshake signature did not verify",
            HandshakeFailure::Protocol => "TLS protocol error",
        })
    }
}

/// Which end of the connection detected a handshake failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DetectedBy {
    /// We did, and sent the peer an alert.
    Us,
    /// The peer did, and told us with an alert.
    Peer,
}

impl fmt::Display for DetectedBy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DetectedBy::Us => "detected here",
            DetectedBy::Peer => "reported by the peer",
        })
    }
}

/// An error from building a TLS configuration or running a TLS connection.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// The handshake (or, for failures the server reports after the client finished, the
    /// first read) failed.
    #[error("TLS handshake failed: {reason} ({detected_by}): {source}")]
    Handshake {
        /// What went wrong.
        reason: HandshakeFailure,
        /// Who noticed.
        detected_by: DetectedBy,
        /// rustls's own description, with details such as the names presented.
        #[source]
        source: rustls::Error,
    },
    /// The handshake did not complete within the configured limit.
    #[error("TLS handshake did not complete within {seconds} s")]
    HandshakeTimeout {
        /// The limit that elapsed.
        seconds: u64,
    },
    /// The server name to connect to is neither a DNS name nor an IP address.
    #[error("invalid TLS server name {0:?}")]
    InvalidServerName(String),
    /// A socket or file operation failed.
    #[error("I/O error: {0}")]
    Io(#[source] io::Error),
    /// The configuration (identity, trust anchors) is unusable.
    #[error("TLS configuration: {0}")]
    Config(#[from] ConfigError),
}

impl TlsError {
    /// Classify an I/O error from a TLS stream: rustls errors that tokio-rustls wraps into
    /// `io::Error` become [`TlsError::Handshake`] with their reason, anything else stays
    /// [`TlsError::Io`]. Use it on read errors too: in TLS 1.3 the server rejects a client
    /// certificate after the client considers the handshake done, so the client learns of
    /// it on its first read.
    pub fn from_io(err: io::Error) -> TlsError {
        let rustls_error = err
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
            .cloned();
        match rustls_error {
            Some(source) => TlsError::from(source),
            None => TlsError::Io(err),
        }
    }

    /// The handshake failure reason, if this is a handshake failure.
    pub fn handshake_failure(&self) -> Option<(HandshakeFailure, DetectedBy)> {
        match self {
            TlsError::Handshake {
                reason,
                detected_by,
                ..
            } => Some((*reason, *detected_by)),
            _ => None,
        }
    }
}

impl From<rustls::Error> for TlsError {
    fn from(source: rustls::Error) -> TlsError {
        let (reason, detected_by) = classify(&source);
        TlsError::Handshake {
            reason,
            detected_by,
            source,
        }
    }
}

fn classify(err: &rustls::Error) -> (HandshakeFailure, DetectedBy) {
    match err {
        rustls::Error::InvalidCertificate(cert_err) => {
            (classify_certificate(cert_err), DetectedBy::Us)
        }
        rustls::Error::NoCertificatesPresented => {
            (HandshakeFailure::NoClientCertificate, DetectedBy::Us)
        }
        rustls::Error::PeerIncompatible(incompatible) => {
            (classify_incompatible(incompatible), DetectedBy::Us)
        }
        rustls::Error::AlertReceived(alert) => (classify_alert(*alert), DetectedBy::Peer),
        _ => (HandshakeFailure::Protocol, DetectedBy::Us),
    }
}

fn classify_certificate(err: &CertificateError) -> HandshakeFailure {
    match err {
        CertificateError::UnknownIssuer => HandshakeFailure::UnknownCa,
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
            HandshakeFailure::Expired
        }
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
            HandshakeFailure::NotYetValid
        }
        CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
            HandshakeFailure::NameMismatch
        }
        CertificateError::Revoked => HandshakeFailure::Revoked,
        CertificateError::UnknownRevocationStatus
        | CertificateError::ExpiredRevocationList
        | CertificateError::ExpiredRevocationListContext { .. } => {
            HandshakeFailure::RevocationUnknown
        }
        CertificateError::BadSignature => HandshakeFailure::BadHandshakeSignature,
        _ => HandshakeFailure::BadCertificate,
    }
}

fn classify_incompatible(err: &PeerIncompatible) -> HandshakeFailure {
    match err {
        PeerIncompatible::NoCipherSuitesInCommon
        | PeerIncompatible::NoKxGroupsInCommon
        | PeerIncompatible::NoSignatureSchemesInCommon
        | PeerIncompatible::NoCertificateRequestSignatureSchemesInCommon
        | PeerIncompatible::SupportedVersionsExtensionRequired
        | PeerIncompatible::ServerDoesNotSupportTls12Or13
        | PeerIncompatible::ServerTlsVersionIsDisabledByOurConfig
        | PeerIncompatible::Tls12NotOffered
        | PeerIncompatible::Tls12NotOfferedOrEnabled => HandshakeFailure::NoCommonAlgorithms,
        _ => HandshakeFailure::Protocol,
    }
}

fn classify_alert(alert: AlertDescription) -> HandshakeFailure {
    match alert {
        AlertDescription::UnknownCA => HandshakeFailure::UnknownCa,
        AlertDescription::CertificateExpired => HandshakeFailure::Expired,
        AlertDescription::CertificateRevoked => HandshakeFailure::Revoked,
        AlertDescription::CertificateRequired => HandshakeFailure::NoClientCertificate,
        AlertDescription::BadCertificate
        | AlertDescription::UnsupportedCertificate
        | AlertDescription::CertificateUnknown => HandshakeFailure::BadCertificate,
        AlertDescription::DecryptError => HandshakeFailure::BadHandshakeSignature,
        // rustls, like OpenSSL, answers "nothing in common" with handshake_failure, and an
        // unacceptable version with protocol_version.
        AlertDescription::HandshakeFailure
        | AlertDescription::ProtocolVersion
        | AlertDescription::InsufficientSecurity => HandshakeFailure::NoCommonAlgorithms,
        _ => HandshakeFailure::Protocol,
    }
}

/// A configuration input is unusable.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A PEM file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    ReadFile {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// A file is larger than any certificate chain, key or CA bundle we accept.
    #[error("{} is larger than {max_bytes} bytes", path.display())]
    FileTooLarge {
        /// The file.
        path: PathBuf,
        /// The limit.
        max_bytes: u64,
    },
    /// The PEM text holds no certificate, or a block that is not one.
    #[error("{what}: {detail}")]
    Pem {
        /// Which input.
        what: String,
        /// What is wrong with it.
        detail: String,
    },
    /// A certificate is not a well-formed SM2 X.509 certificate.
    #[error("{what}: {source}")]
    Certificate {
        /// Which input.
        what: String,
        /// What smcrypto found wrong.
        #[source]
        source: netsettle_smcrypto::CryptoError,
    },
    /// The private key is not a usable SM2 PKCS#8 key.
    #[error("{what}: {source}")]
    PrivateKey {
        /// Which input.
        what: String,
        /// What smcrypto found wrong.
        #[source]
        source: netsettle_smcrypto::CryptoError,
    },
    /// The identity's private key does not belong to its leaf certificate.
    #[error("private key does not match the certificate for {subject}")]
    KeyMismatch {
        /// The leaf certificate's subject.
        subject: String,
    },
    /// No certificate chain was given for an identity.
    #[error("identity has an empty certificate chain")]
    EmptyChain,
    /// The certificate chain is longer than we send or accept.
    #[error("certificate chain has {len} certificates, more than {max}")]
    ChainTooLong {
        /// The chain length given.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// No trusted root was configured, so no peer could ever be accepted.
    #[error("no trusted root certificates configured")]
    NoTrustAnchors,
    /// rustls refused the configuration.
    #[error("rustls: {0}")]
    Rustls(#[source] rustls::Error),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapped_rustls_errors_are_classified() {
        let io_err = io::Error::new(
            io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer),
        );
        let err = TlsError::from_io(io_err);
        assert_eq!(
            err.handshake_failure(),
            Some((HandshakeFailure::UnknownCa, DetectedBy::Us))
        );
        assert!(err.to_string().contains("unknown CA"), "{err}");

        let alert = io::Error::new(
            io::ErrorKind::InvalidData,
            rustls::Error::AlertReceived(AlertDescription::CertificateRequired),
        );
        assert_eq!(
            TlsError::from_io(alert).handshake_failure(),
            Some((HandshakeFailure::NoClientCertificate, DetectedBy::Peer))
        );

        let plain = TlsError::from_io(io::Error::from(io::ErrorKind::ConnectionReset));
        assert!(matches!(plain, TlsError::Io(_)));
        assert_eq!(plain.handshake_failure(), None);
    }

    #[test]
    fn incompatibility_is_no_common_algorithms() {
        for source in [
            rustls::Error::PeerIncompatible(PeerIncompatible::NoCipherSuitesInCommon),
            rustls::Error::PeerIncompatible(PeerIncompatible::NoKxGroupsInCommon),
            rustls::Error::AlertReceived(AlertDescription::HandshakeFailure),
        ] {
            let err = TlsError::from(source);
            assert_eq!(
                err.handshake_failure().map(|(reason, _)| reason),
                Some(HandshakeFailure::NoCommonAlgorithms)
            );
        }
    }
}
