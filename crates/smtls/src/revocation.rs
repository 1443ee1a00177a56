//! Revocation: the hook the verifiers ask about every certificate of a peer's chain, and
//! a CRL-backed implementation of it.
//!
//! The hook is a trait so the MSP can later supply CRLs fetched from both carriers' CAs
//! (and replace them while the node runs) without the TLS layer knowing where they come
//! from. A certificate whose status cannot be established is rejected, never waved
//! through.

use netsettle_smcrypto::x509::{Certificate, Crl};
use netsettle_smcrypto::{CertificateError, CryptoError};

/// Why a certificate's revocation status could not be established.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RevocationError {
    /// No CRL signed by the certificate's issuer is available.
    #[error("no CRL signed by {issuer}")]
    NoCrl {
        /// The issuer's subject DN.
        issuer: String,
    },
    /// The issuer's CRL is past its nextUpdate.
    #[error("CRL from {issuer} is stale: nextUpdate {next_update}, checked at {at}")]
    Stale {
        /// The CRL issuer.
        issuer: String,
        /// nextUpdate, unix seconds.
        next_update: i64,
        /// The check time, unix seconds.
        at: i64,
    },
    /// Any other failure of the revocation source (unreadable or forged CRL, ...).
    #[error("revocation check failed: {0}")]
    Crypto(#[from] CryptoError),
}

/// Decides whether a certificate has been revoked. Called for every certificate of a
/// verified peer chain except the trust anchor itself, with the certificate that issued
/// it (whose key signs the CRL).
///
/// Netsettle's CRLs arrive with the CA role; until then [`NoRevocation`] is the explicit
/// choice. Closures of the same shape implement this trait too.
pub trait RevocationCheck: Send + Sync {
    /// `Ok(true)` if `certificate` is revoked at `at_unix` (seconds), `Ok(false)` if it is
    /// known good, `Err` if its status cannot be determined (for example the CRL is
    /// stale); an undetermined status rejects the peer.
    fn is_revoked(
        &self,
        certificate: &Certificate,
        issuer: &Certificate,
        at_unix: i64,
    ) -> Result<bool, RevocationError>;
}

impl<F> RevocationCheck for F
where
    F: Fn(&Certificate, &Certificate, i64) -> Result<bool, RevocationError> + Send + Sync,
{
    fn is_revoked(
        &self,
        certificate: &Certificate,
        issuer: &Certificate,
        at_unix: i64,
    ) -> Result<bool, RevocationError> {
        self(certificate, issuer, at_unix)
    }
}

/// Revocation checking switched off: every certificate counts as not revoked. Use only
/// until CRL distribution is wired in; the name makes that choice visible at call sites.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoRevocation;

impl RevocationCheck for NoRevocation {
    fn is_revoked(
        &self,
        _certificate: &Certificate,
        _issuer: &Certificate,
        _at_unix: i64,
    ) -> Result<bool, RevocationError> {
        Ok(false)
    }
}

/// Revocation from a fixed set of CRLs (both carriers' CAs, any intermediates).
///
/// Hard-fail: each certificate's issuer must have a CRL here that it signed and whose
/// nextUpdate has not passed, or the status counts as unknown and the peer is rejected.
#[derive(Debug, Clone, Default)]
pub struct CrlRevocation {
    crls: Vec<Crl>,
}

impl CrlRevocation {
    /// Check against `crls`; their signatures are verified against the issuer at use.
    pub fn new(crls: Vec<Crl>) -> Self {
        CrlRevocation { crls }
    }
}

impl RevocationCheck for CrlRevocation {
    fn is_revoked(
        &self,
        certificate: &Certificate,
        issuer: &Certificate,
        at_unix: i64,
    ) -> Result<bool, RevocationError> {
        let mut stale = None;
        let mut found_fresh = false;
        // A CRL counts only if this issuer really signed it; a list with the right name
        // but another key is ignored, not trusted.
        for crl in self
            .crls
            .iter()
            .filter(|crl| crl.verify_signed_by(issuer).is_ok())
        {
            if let Err(err) = crl.check_fresh(at_unix) {
                stale = Some(err);
                continue;
            }
            if crl.is_revoked(certificate.serial()) {
                return Ok(true);
            }
            found_fresh = true;
        }
        match (found_fresh, stale) {
            (true, _) => Ok(false),
            (
                false,
                Some(CertificateError::CrlStale {
                    issuer,
                    next_update,
                    at,
                }),
            ) => Err(RevocationError::Stale {
                issuer,
                next_update,
                at,
            }),
            (false, Some(other)) => Err(RevocationError::Crypto(other.into())),
            (false, None) => Err(RevocationError::NoCrl {
                issuer: issuer.subject_dn(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use netsettle_smcrypto::PrivateKey;
    use netsettle_smcrypto::x509::{
        CertificateParams, CrlEntry, CrlParams, Role, SubjectName, build_crl, issue, self_signed,
    };

    use super::*;

    const NOW: i64 = 1_790_000_000;
    const DAY: i64 = 86_400;

    struct Ca {
        cert: Certificate,
        key: PrivateKey,
    }

    fn ca(name: &str) -> Ca {
        let key = PrivateKey::generate();
        let subject = SubjectName {
            common_name: name.to_owned(),
            ..SubjectName::default()
        };
        let params = CertificateParams::ca(subject, None, NOW - DAY, NOW + 365 * DAY).unwrap();
        Ca {
            cert: self_signed(&params, &key).unwrap(),
            key,
        }
    }

    fn leaf(ca: &Ca) -> Certificate {
        let key = PrivateKey::generate();
        let subject = SubjectName {
            common_name: "peer0".to_owned(),
            ..SubjectName::default()
        };
        let params =
            CertificateParams::end_entity(subject, Role::Peer, NOW - DAY, NOW + DAY).unwrap();
        issue(&params, key.public_key(), &ca.cert, &ca.key).unwrap()
    }

    fn crl(ca: &Ca, revoked: &[&Certificate], next_update_unix: i64) -> Crl {
        let params = CrlParams {
            this_update_unix: NOW - DAY,
            next_update_unix,
            crl_number: 1,
            entries: revoked
                .iter()
                .map(|cert| CrlEntry {
                    serial: cert.serial().to_vec(),
                    revoked_at_unix: NOW - DAY,
                    reason: None,
                })
                .collect(),
        };
        build_crl(&params, &ca.cert, &ca.key).unwrap()
    }

    #[test]
    fn listed_serial_is_revoked_and_others_are_not() {
        let ca = ca("carrier-a root CA");
        let (bad, good) = (leaf(&ca), leaf(&ca));
        let check = CrlRevocation::new(vec![crl(&ca, &[&bad], NOW + DAY)]);
        assert_eq!(check.is_revoked(&bad, &ca.cert, NOW), Ok(true));
        assert_eq!(check.is_revoked(&good, &ca.cert, NOW), Ok(false));
    }

    #[test]
    fn stale_crl_leaves_status_unknown() {
        let ca = ca("carrier-a root CA");
        let cert = leaf(&ca);
        let check = CrlRevocation::new(vec![crl(&ca, &[], NOW - 1)]);
        assert!(matches!(
            check.is_revoked(&cert, &ca.cert, NOW),
            Err(RevocationError::Stale { next_update, at: NOW, .. }) if next_update == NOW - 1
        ));
    }

    #[test]
    fn missing_or_forged_crl_leaves_status_unknown() {
        let ca_real = ca("carrier-a root CA");
        // Same name, different key: its CRL must not vouch for the real CA's certificates.
        let impostor = ca("carrier-a root CA");
        let cert = leaf(&ca_real);
        let none = CrlRevocation::new(Vec::new());
        assert!(matches!(
            none.is_revoked(&cert, &ca_real.cert, NOW),
            Err(RevocationError::NoCrl { .. })
        ));
        let forged = CrlRevocation::new(vec![crl(&impostor, &[], NOW + DAY)]);
        assert!(matches!(
            forged.is_revoked(&cert, &ca_real.cert, NOW),
            Err(RevocationError::NoCrl { .. })
        ));
        // A fresh CRL alongside a stale one is enough.
        let mixed = CrlRevocation::new(vec![
            crl(&ca_real, &[], NOW - 1),
            crl(&ca_real, &[], NOW + DAY),
        ]);
        assert_eq!(mixed.is_revoked(&cert, &ca_real.cert, NOW), Ok(false));
    }

    #[test]
    fn closures_are_revocation_checks() {
        let ca = ca("carrier-a root CA");
        let cert = leaf(&ca);
        let serial = cert.serial().to_vec();
        let check =
            move |c: &Certificate, _: &Certificate, _: i64| Ok(c.serial() == serial.as_slice());
        assert_eq!(
            RevocationCheck::is_revoked(&check, &cert, &ca.cert, NOW),
            Ok(true)
        );
        assert_eq!(NoRevocation.is_revoked(&cert, &ca.cert, NOW), Ok(false));
    }
}
