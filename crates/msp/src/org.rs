//! One organisation's MSP: its trust anchors, CRLs and role OUs, and the checks that turn
//! a certificate into a [`ValidatedIdentity`].

use std::collections::BTreeMap;

use netsettle_protocol::{OrgConfig, Role, RoleOus};
use netsettle_smcrypto::x509::{self, Certificate, Crl};
use netsettle_smcrypto::{CertificateError, CryptoError, Hash, Signature};

use crate::MspError;
use crate::attributes::certificate_attributes;

/// An identity that chains to its organisation's CA, is not revoked and has a role. It
/// says nothing about time by itself: [`Msp::validate`] checks validity at a given time
/// and callers re-check that time for cached identities.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidatedIdentity {
    /// The organisation.
    pub msp_id: String,
    /// The role from the certificate's OU.
    pub role: Role,
    /// The certificate.
    pub cert: Certificate,
    /// SM3 of the certificate DER: the identity's stable name in caches and policies
    /// (one identity signing twice counts once).
    pub fingerprint: Hash,
    /// The certificate's `key=value` subject OUs (e.g. `department=finance`), bounded; see
    /// [`crate::certificate_attributes`].
    pub attributes: BTreeMap<String, String>,
    /// The span in which every certificate of the chain is valid, unix seconds: the
    /// latest notBefore and the earliest notAfter.
    chain_not_before: i64,
    chain_not_after: i64,
}

impl ValidatedIdentity {
    /// Verify an SM2 signature (default signer ID) by this identity over `message`.
    pub fn verify(&self, message: &[u8], signature: &Signature) -> Result<(), MspError> {
        self.cert
            .public_key()
            .verify(message, signature)
            .map_err(|_| MspError::BadSignature {
                msp_id: self.msp_id.clone(),
                subject: self.cert.subject_dn(),
            })
    }

    /// Fail unless the certificate is valid at `at_unix` (cached identities are re-checked
    /// with this, since the cache outlives any one moment).
    pub fn check_time(&self, at_unix: i64) -> Result<(), MspError> {
        if at_unix < self.chain_not_before {
            return Err(MspError::NotYetValid {
                subject: self.cert.subject_dn(),
                not_before: self.chain_not_before,
                at: at_unix,
            });
        }
        if at_unix > self.chain_not_after {
            return Err(MspError::Expired {
                subject: self.cert.subject_dn(),
                not_after: self.chain_not_after,
                at: at_unix,
            });
        }
        Ok(())
    }
}

/// One organisation of the channel.
#[derive(Debug, Clone)]
pub struct Msp {
    msp_id: String,
    roots: Vec<Certificate>,
    intermediates: Vec<Certificate>,
    crls: Vec<Crl>,
    role_ous: RoleOus,
}

impl Msp {
    /// Build from the organisation's part of the channel config. Every root, intermediate
    /// and CRL must parse, and every CRL must be signed by one of the organisation's CAs.
    pub fn from_config(org: &OrgConfig) -> Result<Self, MspError> {
        let bad = |reason: String| MspError::BadConfig {
            msp_id: org.msp_id.clone(),
            reason,
        };
        let parse_all = |ders: &[Vec<u8>], what: &str| {
            ders.iter()
                .map(|der| Certificate::from_der(der).map_err(|e| bad(format!("{what}: {e}"))))
                .collect::<Result<Vec<_>, _>>()
        };
        let roots = parse_all(&org.root_certs_der, "root certificate")?;
        let intermediates = parse_all(&org.intermediate_certs_der, "intermediate certificate")?;
        if roots.is_empty() {
            return Err(bad("no root certificate".to_owned()));
        }
        let mut crls = Vec::with_capacity(org.crls_der.len());
        for der in &org.crls_der {
            let crl = Crl::from_der(der).map_err(|e| bad(format!("CRL: {e}")))?;
            let signed = roots
                .iter()
                .chain(&intermediates)
                .any(|ca| crl.verify_signed_by(ca).is_ok());
            if !signed {
                return Err(bad(format!(
                    "CRL from {} is not signed by any of the organisation's CAs",
                    crl.issuer_dn()
                )));
            }
            crls.push(crl);
        }
        Ok(Msp {
            msp_id: org.msp_id.clone(),
            roots,
            intermediates,
            crls,
            role_ous: org.role_ous.clone(),
        })
    }

    /// The MSP id.
    pub fn msp_id(&self) -> &str {
        &self.msp_id
    }

    /// The organisation's root certificates.
    pub fn roots(&self) -> &[Certificate] {
        &self.roots
    }

    /// Check a certificate claimed to belong to this organisation: it chains to one of
    /// its roots, every link is valid at `at_unix`, no link is revoked, and it has exactly
    /// one role OU.
    pub fn validate(
        &self,
        cert: &Certificate,
        at_unix: i64,
    ) -> Result<ValidatedIdentity, MspError> {
        let identity = self.validate_ignoring_time(cert, at_unix)?;
        identity.check_time(at_unix)?;
        Ok(identity)
    }

    /// The time-independent part of [`Msp::validate`] (chain signatures, revocation,
    /// role), which is what the cache keeps. The chain builder still needs a time; any
    /// validity failure it reports is mapped to the same errors `check_time` gives.
    pub(crate) fn validate_ignoring_time(
        &self,
        cert: &Certificate,
        at_unix: i64,
    ) -> Result<ValidatedIdentity, MspError> {
        let chain = x509::verify_chain(cert, &self.intermediates, &self.roots, at_unix)
            .map_err(|error| self.chain_error(cert, error))?;
        for link in chain.certificates() {
            self.check_not_revoked(link)?;
        }
        let role = self.role_of(cert)?;
        let links = chain.certificates();
        let chain_not_before = links.iter().map(Certificate::not_before_unix).max();
        let chain_not_after = links.iter().map(Certificate::not_after_unix).min();
        Ok(ValidatedIdentity {
            msp_id: self.msp_id.clone(),
            role,
            fingerprint: cert.sm3_fingerprint(),
            attributes: certificate_attributes(&cert.organizational_units()),
            cert: cert.clone(),
            chain_not_before: chain_not_before.unwrap_or_else(|| cert.not_before_unix()),
            chain_not_after: chain_not_after.unwrap_or_else(|| cert.not_after_unix()),
        })
    }

    fn chain_error(&self, cert: &Certificate, error: CryptoError) -> MspError {
        match error {
            CryptoError::Certificate(CertificateError::Expired {
                not_after,
                at,
                subject,
            }) => MspError::Expired {
                subject,
                not_after,
                at,
            },
            CryptoError::Certificate(CertificateError::NotYetValid {
                not_before,
                at,
                subject,
            }) => MspError::NotYetValid {
                subject,
                not_before,
                at,
            },
            CryptoError::Certificate(reason) => MspError::NotIssuedByOrg {
                msp_id: self.msp_id.clone(),
                subject: cert.subject_dn(),
                reason,
            },
            other => MspError::MalformedCertificate(other),
        }
    }

    fn check_not_revoked(&self, cert: &Certificate) -> Result<(), MspError> {
        let revoked = self
            .crls
            .iter()
            .any(|crl| crl.issuer_dn() == cert.issuer_dn() && crl.is_revoked(cert.serial()));
        if revoked {
            return Err(MspError::Revoked {
                msp_id: self.msp_id.clone(),
                subject: cert.subject_dn(),
                serial: cert.serial_hex(),
            });
        }
        Ok(())
    }

    fn role_of(&self, cert: &Certificate) -> Result<Role, MspError> {
        let ous = &self.role_ous;
        let table = [
            (ous.admin.as_str(), Role::Admin),
            (ous.peer.as_str(), Role::Peer),
            (ous.client.as_str(), Role::Client),
            (ous.orderer.as_str(), Role::Orderer),
        ];
        let found: Vec<Role> = cert
            .organizational_units()
            .iter()
            .filter_map(|ou| {
                table
                    .iter()
                    .find(|(name, _)| name == ou)
                    .map(|(_, role)| *role)
            })
            .collect();
        match found.as_slice() {
            [role] => Ok(*role),
            [] => Err(MspError::NoRole {
                subject: cert.subject_dn(),
                reason: "no role OU".to_owned(),
            }),
            _ => Err(MspError::NoRole {
                subject: cert.subject_dn(),
                reason: format!("{} role OUs", found.len()),
            }),
        }
    }
}
