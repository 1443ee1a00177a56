//! Chain verification: from a leaf through supplied intermediates to one of a set of
//! trusted roots, checking signatures, validity times, CA flags, keyCertSign and path
//! lengths. Revocation is deliberately not here: callers (the TLS verifier, the MSP) check
//! the serials of the returned chain against their CRLs.

use super::Certificate;
use crate::{CertificateError, CryptoError};

/// Longest chain accepted, leaf and root included. A consortium CA hierarchy is root →
/// (intermediate) → leaf; the cap bounds the work an attacker-supplied chain can cause.
pub const CHAIN_CERTS_MAX: usize = 6;

/// A chain that verified: `certificates()[0]` is the leaf, the last is the trusted root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedChain {
    certificates: Vec<Certificate>,
}

impl VerifiedChain {
    /// Leaf first, root last.
    pub fn certificates(&self) -> &[Certificate] {
        &self.certificates
    }

    /// The end-entity certificate.
    pub fn leaf(&self) -> &Certificate {
        // A verified chain always holds at least the leaf and its root.
        self.certificates
            .first()
            .expect("verified chains are never empty")
    }

    /// The trust anchor the chain ends at.
    pub fn root(&self) -> &Certificate {
        self.certificates
            .last()
            .expect("verified chains are never empty")
    }
}

/// Verify `leaf` at time `at_unix` against `roots`, using `intermediates` as needed.
///
/// Roots are trust anchors: their own signature and constraints are not what makes them
/// trusted, but their validity period, CA flag and keyCertSign are still enforced since
/// they sign the next link.
pub fn verify_chain(
    leaf: &Certificate,
    intermediates: &[Certificate],
    roots: &[Certificate],
    at_unix: i64,
) -> Result<VerifiedChain, CryptoError> {
    check_time(leaf, at_unix)?;
    check_critical_extensions(leaf)?;
    let mut chain = vec![leaf.clone()];
    loop {
        if chain.len() >= CHAIN_CERTS_MAX {
            return Err(CertificateError::ChainTooLong {
                max: CHAIN_CERTS_MAX,
            }
            .into());
        }
        let child = chain.last().expect("chain starts with the leaf");
        if let Some(root) = find_issuer(child, roots)? {
            check_issuer(&root, &chain, at_unix)?;
            chain.push(root);
            return Ok(VerifiedChain {
                certificates: chain,
            });
        }
        // A certificate already on the path cannot appear again: a self-signed
        // "intermediate" would otherwise loop until the length cap.
        let unused: Vec<Certificate> = intermediates
            .iter()
            .filter(|candidate| !chain.contains(candidate))
            .cloned()
            .collect();
        let Some(intermediate) = find_issuer(child, &unused)? else {
            return Err(CertificateError::UnknownIssuer {
                subject: child.subject_dn(),
                issuer: child.issuer_dn(),
            }
            .into());
        };
        check_issuer(&intermediate, &chain, at_unix)?;
        chain.push(intermediate);
    }
}

/// The candidate whose subject is `child`'s issuer and whose key verifies `child`'s
/// signature. `Ok(None)` if no candidate has the right name; `BadSignature` if some do
/// but none of their keys verifies (a forged or tampered certificate).
fn find_issuer(
    child: &Certificate,
    candidates: &[Certificate],
) -> Result<Option<Certificate>, CryptoError> {
    let mut named = candidates
        .iter()
        .filter(|candidate| candidate.subject_name() == child.issuer_name())
        .peekable();
    if named.peek().is_none() {
        return Ok(None);
    }
    let mut last_error = None;
    for candidate in named {
        match child.verify_signed_by(candidate.public_key()) {
            Ok(()) => return Ok(Some(candidate.clone())),
            Err(err) => last_error = Some(err),
        }
    }
    Err(last_error.expect("at least one named candidate was tried"))
}

/// Everything an issuer must satisfy to sign the certificates below it in `chain`.
fn check_issuer(
    issuer: &Certificate,
    chain: &[Certificate],
    at_unix: i64,
) -> Result<(), CryptoError> {
    check_time(issuer, at_unix)?;
    check_critical_extensions(issuer)?;
    if !issuer.is_ca() {
        return Err(CertificateError::NotCa {
            subject: issuer.subject_dn(),
        }
        .into());
    }
    // RFC 5280 §4.2.1.3: if keyUsage is present, keyCertSign must be set to sign certificates.
    if issuer.key_usage().is_some_and(|usage| !usage.key_cert_sign) {
        return Err(CertificateError::KeyUsageForbids {
            subject: issuer.subject_dn(),
            usage: "keyCertSign",
        }
        .into());
    }
    // Certificates below this issuer, excluding the leaf, are the intermediate CAs that its
    // pathLenConstraint limits.
    let intermediates_below = chain.len().saturating_sub(1);
    if let Some(path_len) = issuer.path_len()
        && intermediates_below > usize::from(path_len)
    {
        return Err(CertificateError::PathLenExceeded {
            subject: issuer.subject_dn(),
            path_len,
        }
        .into());
    }
    Ok(())
}

fn check_time(certificate: &Certificate, at_unix: i64) -> Result<(), CertificateError> {
    if at_unix < certificate.not_before_unix() {
        return Err(CertificateError::NotYetValid {
            subject: certificate.subject_dn(),
            not_before: certificate.not_before_unix(),
            at: at_unix,
        });
    }
    if at_unix > certificate.not_after_unix() {
        return Err(CertificateError::Expired {
            subject: certificate.subject_dn(),
            not_after: certificate.not_after_unix(),
            at: at_unix,
        });
    }
    Ok(())
}

fn check_critical_extensions(certificate: &Certificate) -> Result<(), CertificateError> {
    match &certificate.extensions().unknown_critical {
        Some(oid) => Err(CertificateError::UnsupportedCriticalExtension {
            subject: certificate.subject_dn(),
            oid: oid.clone(),
        }),
        None => Ok(()),
    }
}
