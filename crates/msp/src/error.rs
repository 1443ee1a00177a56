//! Why an identity or a policy check failed. Each variant is a distinct answer an
//! operator or client can act on (enrol again, ask the other carrier, fix the config).

use netsettle_protocol::InvalidMessage;
use netsettle_smcrypto::{CertificateError, CryptoError};

/// An identity or its signature was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MspError {
    /// The identity names an MSP id that is not an organisation of the channel.
    #[error("unknown organisation {msp_id:?}")]
    UnknownOrg {
        /// The MSP id claimed.
        msp_id: String,
    },
    /// The certificate bytes do not parse as an SM2 X.509 certificate.
    #[error("malformed certificate: {0}")]
    MalformedCertificate(CryptoError),
    /// The certificate does not chain to the roots of the organisation it claims (it may
    /// come from another organisation's CA, or from no CA the channel knows).
    #[error("certificate {subject} is not issued by {msp_id}'s CA: {reason}")]
    NotIssuedByOrg {
        /// The claimed organisation.
        msp_id: String,
        /// The certificate's subject.
        subject: String,
        /// What the chain check found.
        reason: CertificateError,
    },
    /// The certificate (or a CA on its chain) has expired at the time of the check.
    #[error("certificate {subject} expired at {not_after} (checked at {at})")]
    Expired {
        /// Whose certificate.
        subject: String,
        /// Its notAfter, unix seconds.
        not_after: i64,
        /// The time checked against.
        at: i64,
    },
    /// The certificate is not valid yet at the time of the check.
    #[error("certificate {subject} not valid before {not_before} (checked at {at})")]
    NotYetValid {
        /// Whose certificate.
        subject: String,
        /// Its notBefore, unix seconds.
        not_before: i64,
        /// The time checked against.
        at: i64,
    },
    /// The certificate, or a CA certificate on its chain, is on the organisation's CRL.
    #[error("certificate {subject} (serial {serial}) is revoked by {msp_id}")]
    Revoked {
        /// The organisation whose CRL lists it.
        msp_id: String,
        /// The revoked certificate's subject.
        subject: String,
        /// Its serial, hex.
        serial: String,
    },
    /// The certificate carries no role OU, or more than one.
    #[error("certificate {subject} has no single role OU ({reason})")]
    NoRole {
        /// Whose certificate.
        subject: String,
        /// What was found.
        reason: String,
    },
    /// The signature is malformed or does not verify under the identity's key.
    #[error("bad signature by {subject} of {msp_id}")]
    BadSignature {
        /// The signer's organisation.
        msp_id: String,
        /// The signer's subject.
        subject: String,
    },
    /// The channel configuration itself is unusable (a root or CRL does not parse, a CRL
    /// is not signed by the organisation's CA).
    #[error("channel configuration for {msp_id}: {reason}")]
    BadConfig {
        /// The organisation concerned.
        msp_id: String,
        /// What is wrong.
        reason: String,
    },
    /// The configuration fails the protocol's own limits and consistency checks.
    #[error("invalid channel configuration: {0}")]
    InvalidConfig(#[from] InvalidMessage),
}

/// A policy was not satisfied, or could not be evaluated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// The signers given do not satisfy the policy; `reason` says which part failed.
    #[error("policy not satisfied: {reason}")]
    NotSatisfied {
        /// Which principals or organisations were missing, in words.
        reason: String,
    },
    /// An implicit-meta policy names a sub-policy that organisations do not define.
    #[error("unknown sub-policy {name:?} (known: Readers, Writers, Admins, Endorsement)")]
    UnknownSubPolicy {
        /// The name used.
        name: String,
    },
    /// An organisation's sub-policy is itself implicit-meta, which would recurse.
    #[error("sub-policy {name:?} of {msp_id} must be a signature policy")]
    NestedImplicitMeta {
        /// The organisation.
        msp_id: String,
        /// The sub-policy.
        name: String,
    },
}
