//! X.509 v2 certificate revocation lists signed with SM2: what a carrier's CA publishes so
//! both sides stop trusting a compromised node or user.
//!
//! The CRL only answers "is this serial revoked, and is this list authentic and fresh";
//! which CRL applies to which chain is decided above (TLS verifier, MSP).

use std::collections::BTreeSet;

use der::asn1::{BitString, Uint};
use der::oid::AssociatedOid as _;
use der::{Decode as _, Encode as _};
use x509_cert::crl::{CertificateList, RevokedCert, TbsCertList};
use x509_cert::ext::pkix::{AuthorityKeyIdentifier, CrlNumber, CrlReason};
use x509_cert::ext::{Extension, ToExtension as _};

use super::{
    Certificate, SM2_WITH_SM3, SignedParts, key_identifier, normalize_serial, octet_string,
    serial_number, split_signed, time_from_unix, time_to_unix,
};
use crate::{CertificateError, CryptoError, PrivateKey, Signature, pem};

/// PEM label of a CRL.
pub const CRL_PEM_LABEL: &str = "X509 CRL";

/// Most entries accepted in one CRL, parsed or built. Two carriers revoke a handful of
/// certificates a year; the cap bounds the memory a hostile CRL can claim.
pub const CRL_ENTRIES_MAX: usize = 100_000;

/// Why a certificate was revoked (RFC 5280 §5.3.1 CRLReason).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RevocationReason {
    /// No reason given.
    Unspecified,
    /// The subject's private key was compromised.
    KeyCompromise,
    /// The issuing CA's key was compromised.
    CaCompromise,
    /// The subject changed organisation.
    AffiliationChanged,
    /// Replaced by a new certificate.
    Superseded,
    /// No longer needed.
    CessationOfOperation,
    /// Temporarily on hold.
    CertificateHold,
    /// Taken off hold (delta CRLs only).
    RemoveFromCrl,
    /// A privilege was withdrawn.
    PrivilegeWithdrawn,
    /// An attribute authority was compromised.
    AaCompromise,
}

/// One revoked certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrlEntry {
    /// Serial number, positive big-endian magnitude.
    pub serial: Vec<u8>,
    /// When it was revoked, unix seconds.
    pub revoked_at_unix: i64,
    /// Why, if stated.
    pub reason: Option<RevocationReason>,
}

/// Inputs for [`build_crl`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrlParams {
    /// thisUpdate, unix seconds.
    pub this_update_unix: i64,
    /// nextUpdate, unix seconds: when relying parties must fetch a fresher CRL.
    pub next_update_unix: i64,
    /// Monotonic CRL number (the CA keeps the counter).
    pub crl_number: u64,
    /// The revoked certificates.
    pub entries: Vec<CrlEntry>,
}

/// A parsed, SM2-signed CRL. Its signature is checked with [`Crl::verify_signed_by`].
#[derive(Debug, Clone)]
pub struct Crl {
    der: Vec<u8>,
    inner: CertificateList,
    signed: SignedParts,
    entries: Vec<CrlEntry>,
    revoked_serials: BTreeSet<Vec<u8>>,
    crl_number: Option<u64>,
}

impl PartialEq for Crl {
    fn eq(&self, other: &Self) -> bool {
        self.der == other.der
    }
}

impl Eq for Crl {}

/// Build and sign a CRL as `issuer` (which must be a CA whose key is `issuer_key`).
pub fn build_crl(
    params: &CrlParams,
    issuer: &Certificate,
    issuer_key: &PrivateKey,
) -> Result<Crl, CryptoError> {
    check_params(params, issuer, issuer_key)?;
    let issuer_name = issuer.subject_name().clone();
    let tbs = TbsCertList {
        version: x509_cert::Version::V2,
        signature: spki::AlgorithmIdentifierOwned {
            oid: SM2_WITH_SM3,
            parameters: None,
        },
        issuer: issuer_name.clone(),
        this_update: time_from_unix(params.this_update_unix)?,
        next_update: Some(time_from_unix(params.next_update_unix)?),
        revoked_certificates: revoked_list(&params.entries, &issuer_name)?,
        crl_extensions: Some(crl_extensions(params.crl_number, issuer, &issuer_name)?),
    };
    let tbs_der = tbs.to_der().map_err(|err| pem::der_error("CRL", err))?;
    let signature = issuer_key.sign(&tbs_der);
    let list = CertificateList {
        tbs_cert_list: tbs,
        signature_algorithm: spki::AlgorithmIdentifierOwned {
            oid: SM2_WITH_SM3,
            parameters: None,
        },
        signature: BitString::from_bytes(signature.as_der())
            .map_err(|_| CryptoError::MalformedSignature)?,
    };
    let der = list.to_der().map_err(|err| pem::der_error("CRL", err))?;
    Crl::from_der(&der)
}

fn check_params(
    params: &CrlParams,
    issuer: &Certificate,
    issuer_key: &PrivateKey,
) -> Result<(), CryptoError> {
    if issuer.public_key() != issuer_key.public_key() {
        return Err(CertificateError::InvalidParams(
            "issuer key does not match issuer certificate",
        )
        .into());
    }
    if params.next_update_unix < params.this_update_unix {
        return Err(CertificateError::InvalidParams("nextUpdate is before thisUpdate").into());
    }
    if params.entries.len() > CRL_ENTRIES_MAX {
        return Err(CertificateError::InvalidParams("too many CRL entries").into());
    }
    Ok(())
}

fn revoked_list(
    entries: &[CrlEntry],
    issuer_name: &x509_cert::name::Name,
) -> Result<Option<Vec<RevokedCert>>, CryptoError> {
    // RFC 5280 §5.1.2.6: when nothing is revoked, the list is absent, not empty.
    if entries.is_empty() {
        return Ok(None);
    }
    let mut revoked = Vec::with_capacity(entries.len());
    for entry in entries {
        let extensions = match entry.reason {
            Some(reason) => Some(vec![
                reason_to(reason)
                    .to_extension(issuer_name, &[])
                    .map_err(|_| CertificateError::InvalidParams("CRL reason does not encode"))?,
            ]),
            None => None,
        };
        revoked.push(RevokedCert {
            serial_number: serial_number(&entry.serial)?,
            revocation_date: time_from_unix(entry.revoked_at_unix)?,
            crl_entry_extensions: extensions,
        });
    }
    Ok(Some(revoked))
}

/// authorityKeyIdentifier (the issuer's SKI, so verifiers can pick the right CA key) and
/// cRLNumber, both required by RFC 5280 §5.2.
fn crl_extensions(
    crl_number: u64,
    issuer: &Certificate,
    issuer_name: &x509_cert::name::Name,
) -> Result<Vec<Extension>, CryptoError> {
    let encode_failed = |_| {
        CryptoError::from(CertificateError::InvalidParams(
            "CRL extension does not encode",
        ))
    };
    let key_id = issuer
        .subject_key_id()
        .map_or_else(|| key_identifier(issuer.public_key()), <[u8]>::to_vec);
    let aki = AuthorityKeyIdentifier {
        key_identifier: Some(octet_string(&key_id)),
        ..AuthorityKeyIdentifier::default()
    };
    let number = CrlNumber(Uint::new(&crl_number.to_be_bytes()).map_err(encode_failed)?);
    // Criticality of these two does not depend on the other extensions, so none are passed.
    let aki_extension = aki.to_extension(issuer_name, &[]).map_err(encode_failed)?;
    let number_extension = number
        .to_extension(issuer_name, &[])
        .map_err(encode_failed)?;
    let extensions = vec![aki_extension, number_extension];
    Ok(extensions)
}

impl Crl {
    /// Parse DER, accepting only SM2-with-SM3 signed v2 CRLs.
    pub fn from_der(der: &[u8]) -> Result<Self, CryptoError> {
        pem::check_size("CRL", der.len(), pem::DER_BYTES_MAX)?;
        let inner = CertificateList::from_der(der).map_err(|err| pem::der_error("CRL", err))?;
        let signed = split_signed(der, "CRL")?;
        if inner.signature_algorithm != inner.tbs_cert_list.signature {
            return Err(crate::EncodingError::Der {
                what: "CRL",
                detail: "inner and outer signature algorithms differ".to_owned(),
            }
            .into());
        }
        let issuer = inner.tbs_cert_list.issuer.to_string();
        let entries = parse_entries(
            inner
                .tbs_cert_list
                .revoked_certificates
                .as_deref()
                .unwrap_or(&[]),
            &issuer,
        )?;
        let crl_number = parse_crl_number(
            inner.tbs_cert_list.crl_extensions.as_deref().unwrap_or(&[]),
            &issuer,
        )?;
        let revoked_serials = entries.iter().map(|entry| entry.serial.clone()).collect();
        Ok(Crl {
            der: der.to_vec(),
            inner,
            signed,
            entries,
            revoked_serials,
            crl_number,
        })
    }

    /// Parse one `-----BEGIN X509 CRL-----` block.
    pub fn from_pem(pem_text: &str) -> Result<Self, CryptoError> {
        let der = pem::decode(pem_text, CRL_PEM_LABEL)?;
        Self::from_der(&der)
    }

    /// Read a CRL from a PEM file.
    pub fn read_pem_file(path: &std::path::Path) -> Result<Self, CryptoError> {
        Self::from_pem(&crate::keys::read_text_file(path)?)
    }

    /// The DER encoding.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// PEM (`X509 CRL`).
    pub fn to_pem(&self) -> String {
        pem::encode(CRL_PEM_LABEL, &self.der)
    }

    /// The exact to-be-signed bytes (`tbsCertList`) the signature covers.
    pub fn tbs_der(&self) -> &[u8] {
        &self.signed.tbs_der
    }

    /// The DER SM2 signature.
    pub fn signature(&self) -> &Signature {
        &self.signed.signature
    }

    /// The issuer DN in RFC 4514 form.
    pub fn issuer_dn(&self) -> String {
        self.inner.tbs_cert_list.issuer.to_string()
    }

    /// thisUpdate, unix seconds.
    pub fn this_update_unix(&self) -> i64 {
        time_to_unix(self.inner.tbs_cert_list.this_update)
    }

    /// nextUpdate, unix seconds, if present.
    pub fn next_update_unix(&self) -> Option<i64> {
        self.inner.tbs_cert_list.next_update.map(time_to_unix)
    }

    /// The cRLNumber extension, if present.
    pub fn crl_number(&self) -> Option<u64> {
        self.crl_number
    }

    /// The revoked certificates, in CRL order.
    pub fn entries(&self) -> &[CrlEntry] {
        &self.entries
    }

    /// Whether `serial` (big-endian, leading zeros ignored) is on this list.
    pub fn is_revoked(&self, serial: &[u8]) -> bool {
        self.revoked_serials.contains(normalize_serial(serial))
    }

    /// Check that `issuer` issued this CRL: same name, cRLSign allowed if keyUsage is
    /// present, and the SM2 signature verifies under its key.
    pub fn verify_signed_by(&self, issuer: &Certificate) -> Result<(), CryptoError> {
        if issuer.subject_name() != &self.inner.tbs_cert_list.issuer {
            return Err(CertificateError::CrlIssuerMismatch {
                crl_issuer: self.issuer_dn(),
                issuer: issuer.subject_dn(),
            }
            .into());
        }
        if issuer.key_usage().is_some_and(|usage| !usage.crl_sign) {
            return Err(CertificateError::KeyUsageForbids {
                subject: issuer.subject_dn(),
                usage: "cRLSign",
            }
            .into());
        }
        issuer
            .public_key()
            .verify(&self.signed.tbs_der, &self.signed.signature)
            .map_err(|_| {
                CertificateError::BadSignature {
                    subject: self.issuer_dn(),
                }
                .into()
            })
    }

    /// Fail with `CrlStale` if nextUpdate has passed at `at_unix`: relying on an old CRL
    /// would miss recent revocations.
    pub fn check_fresh(&self, at_unix: i64) -> Result<(), CertificateError> {
        match self.next_update_unix() {
            Some(next_update) if next_update < at_unix => Err(CertificateError::CrlStale {
                issuer: self.issuer_dn(),
                next_update,
                at: at_unix,
            }),
            _ => Ok(()),
        }
    }
}

fn parse_entries(revoked: &[RevokedCert], issuer: &str) -> Result<Vec<CrlEntry>, CryptoError> {
    pem::check_size("CRL entries", revoked.len(), CRL_ENTRIES_MAX)?;
    let mut entries = Vec::with_capacity(revoked.len());
    for cert in revoked {
        let mut reason = None;
        for extension in cert.crl_entry_extensions.as_deref().unwrap_or(&[]) {
            if extension.extn_id == CrlReason::OID {
                let decoded =
                    CrlReason::from_der(extension.extn_value.as_bytes()).map_err(|_| {
                        CertificateError::BadExtension {
                            subject: issuer.to_owned(),
                            oid: extension.extn_id.to_string(),
                        }
                    })?;
                reason = Some(reason_from(decoded));
            }
        }
        entries.push(CrlEntry {
            serial: normalize_serial(cert.serial_number.as_bytes()).to_vec(),
            revoked_at_unix: time_to_unix(cert.revocation_date),
            reason,
        });
    }
    Ok(entries)
}

/// The cRLNumber as a u64; a number that does not fit is malformed for our purposes.
fn parse_crl_number(
    extensions: &[Extension],
    issuer: &str,
) -> Result<Option<u64>, CertificateError> {
    let Some(extension) = extensions
        .iter()
        .find(|extension| extension.extn_id == CrlNumber::OID)
    else {
        return Ok(None);
    };
    let bad = || CertificateError::BadExtension {
        subject: issuer.to_owned(),
        oid: extension.extn_id.to_string(),
    };
    let number = CrlNumber::from_der(extension.extn_value.as_bytes()).map_err(|_| bad())?;
    let magnitude = normalize_serial(number.0.as_bytes());
    let mut bytes = [0u8; 8];
    let start = bytes.len().checked_sub(magnitude.len()).ok_or_else(bad)?;
    bytes
        .get_mut(start..)
        .ok_or_else(bad)?
        .copy_from_slice(magnitude);
    Ok(Some(u64::from_be_bytes(bytes)))
}

fn reason_to(reason: RevocationReason) -> CrlReason {
    match reason {
        RevocationReason::Unspecified => CrlReason::Unspecified,
        RevocationReason::KeyCompromise => CrlReason::KeyCompromise,
        RevocationReason::CaCompromise => CrlReason::CaCompromise,
        RevocationReason::AffiliationChanged => CrlReason::AffiliationChanged,
        RevocationReason::Superseded => CrlReason::Superseded,
        RevocationReason::CessationOfOperation => CrlReason::CessationOfOperation,
        RevocationReason::CertificateHold => CrlReason::CertificateHold,
        RevocationReason::RemoveFromCrl => CrlReason::RemoveFromCRL,
        RevocationReason::PrivilegeWithdrawn => CrlReason::PrivilegeWithdrawn,
        RevocationReason::AaCompromise => CrlReason::AaCompromise,
    }
}

fn reason_from(reason: CrlReason) -> RevocationReason {
    match reason {
        CrlReason::Unspecified => RevocationReason::Unspecified,
        CrlReason::KeyCompromise => RevocationReason::KeyCompromise,
        CrlReason::CaCompromise => RevocationReason::CaCompromise,
        CrlReason::AffiliationChanged => RevocationReason::AffiliationChanged,
        CrlReason::Superseded => RevocationReason::Superseded,
        CrlReason::CessationOfOperation => RevocationReason::CessationOfOperation,
        CrlReason::CertificateHold => RevocationReason::CertificateHold,
        CrlReason::RemoveFromCRL => RevocationReason::RemoveFromCrl,
        CrlReason::PrivilegeWithdrawn => RevocationReason::PrivilegeWithdrawn,
        CrlReason::AaCompromise => RevocationReason::AaCompromise,
    }
}
