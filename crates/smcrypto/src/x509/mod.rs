//! SM2 X.509: certificates, CSRs, CRLs and chain verification, on the RustCrypto
//! `x509-cert`/`der`/`spki` types, never hand-written DER.
//!
//! Every object here carries an SM2 key (id-ecPublicKey with the SM2 curve OID
//! 1.2.156.10197.1.301) and an SM2-with-SM3 signature (1.2.156.10197.1.501) made with the
//! GM/T 0009 default signer ID, which is what OpenSSL 3 and the Chinese CA ecosystem use for
//! certificates. Anything else is rejected at parse time, so callers never see a
//! certificate they could not verify.
//!
//! Roles follow Fabric's NodeOUs: an OU of `admin`, `peer`, `orderer` or `client` in the
//! subject says what the holder may do; `netsettle-msp` turns that into policy.

mod build;
mod cert;
mod chain;
mod crl;
mod csr;
#[cfg(test)]
mod tests;

pub use build::{CertificateParams, SAN_ENTRIES_MAX, issue, self_signed};
pub use cert::{
    CERTIFICATE_DER_BYTES_MAX, CERTIFICATE_PEM_LABEL, Certificate, PEM_BUNDLE_CERTS_MAX,
};
pub use chain::{CHAIN_CERTS_MAX, VerifiedChain, verify_chain};
pub use crl::{
    CRL_ENTRIES_MAX, CRL_PEM_LABEL, Crl, CrlEntry, CrlParams, RevocationReason, build_crl,
};
pub use csr::{CSR_DER_BYTES_MAX, CSR_PEM_LABEL, CertificateRequest, CsrParams};

use core::fmt;
use core::str::FromStr;

use der::asn1::{BitStringRef, OctetString};
use der::oid::ObjectIdentifier;
use der::{Decode as _, Encode as _};

use crate::{CertificateError, CryptoError, EncodingError, PublicKey, Signature, pem};

/// OID of the SM2-with-SM3 signature algorithm (GM/T 0006).
pub const SM2_WITH_SM3_OID: &str = "1.2.156.10197.1.501";
/// OID of the SM2 curve, carried as the id-ecPublicKey parameter.
pub const SM2_CURVE_OID: &str = "1.2.156.10197.1.301";

const SM2_WITH_SM3: ObjectIdentifier = ObjectIdentifier::new_unwrap(SM2_WITH_SM3_OID);
const OID_COMMON_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.3");
const OID_COUNTRY: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.6");
const OID_ORGANIZATION: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.10");
const OID_ORGANIZATIONAL_UNIT: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.11");
const OID_SERVER_AUTH: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.1");
const OID_CLIENT_AUTH: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.2");

/// Longest serial number RFC 5280 allows, in bytes.
pub const SERIAL_BYTES_MAX: usize = 20;
/// Length of our subject key identifiers: SM3 of the public key, truncated to 160 bits
/// as RFC 7093 §2 allows, so no SHA-1 is needed anywhere.
pub const KEY_ID_BYTES: usize = 20;

/// What a certificate's holder does in the consortium, named by a subject OU as Fabric's
/// NodeOUs do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// Administers its organisation: installs contracts, updates channel configuration.
    Admin,
    /// Endorses and commits transactions.
    Peer,
    /// Orders transactions into blocks.
    Orderer,
    /// Submits transactions (a carrier's settlement system).
    Client,
}

impl Role {
    /// The OU string that names this role.
    pub fn as_ou(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Peer => "peer",
            Role::Orderer => "orderer",
            Role::Client => "client",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_ou())
    }
}

impl FromStr for Role {
    type Err = ();

    /// Exact, lowercase match only: `Peer` or ` peer` is not a role OU, so a typo cannot
    /// silently grant one.
    fn from_str(ou: &str) -> Result<Self, ()> {
        match ou {
            "admin" => Ok(Role::Admin),
            "peer" => Ok(Role::Peer),
            "orderer" => Ok(Role::Orderer),
            "client" => Ok(Role::Client),
            _ => Err(()),
        }
    }
}

/// The subject (or issuer) fields netsettle uses. The role OU is added separately from
/// [`CertificateParams::role`] so it cannot be misspelt.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SubjectName {
    /// CN: the node or user name, e.g. `peer0.carrier-a`.
    pub common_name: String,
    /// O: the carrier (MSP) the holder belongs to.
    pub organization: Option<String>,
    /// OUs other than the role OU.
    pub organizational_units: Vec<String>,
    /// C: two-letter country code, e.g. `CN`.
    pub country: Option<String>,
}

/// The keyUsage bits netsettle sets or checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct KeyUsage {
    /// Signing transactions, blocks, TLS handshakes.
    pub digital_signature: bool,
    /// Non-repudiation (contentCommitment).
    pub non_repudiation: bool,
    /// Key encipherment.
    pub key_encipherment: bool,
    /// Key agreement (SM2 key exchange).
    pub key_agreement: bool,
    /// Signing certificates: required on every issuer in a chain.
    pub key_cert_sign: bool,
    /// Signing CRLs.
    pub crl_sign: bool,
}

/// The extendedKeyUsage purposes netsettle uses for TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ExtendedKeyUsage {
    /// id-kp-serverAuth.
    pub server_auth: bool,
    /// id-kp-clientAuth.
    pub client_auth: bool,
}

/// A signed X.509 object (certificate, CSR, CRL) split into the exact bytes that were
/// signed, the algorithm and the signature. Signatures are checked over the original TBS
/// bytes, never a re-encoding, so a certificate from another encoder verifies as issued.
#[derive(der::Sequence)]
struct SignedRef<'a> {
    tbs: der::AnyRef<'a>,
    algorithm: spki::AlgorithmIdentifierRef<'a>,
    signature: BitStringRef<'a>,
}

/// The TBS bytes and DER signature of a signed object, checked to use SM2-with-SM3.
#[derive(Clone, Debug)]
pub(crate) struct SignedParts {
    pub(crate) tbs_der: Vec<u8>,
    pub(crate) signature: Signature,
}

pub(crate) fn split_signed(der: &[u8], what: &'static str) -> Result<SignedParts, CryptoError> {
    let signed = SignedRef::from_der(der).map_err(|err| pem::der_error(what, err))?;
    check_signature_algorithm(
        &signed.algorithm.oid,
        signed.algorithm.parameters.is_some(),
        what,
    )?;
    let tbs_der = signed
        .tbs
        .to_der()
        .map_err(|err| pem::der_error(what, err))?;
    let signature_der = signed
        .signature
        .as_bytes()
        .ok_or_else(|| EncodingError::Der {
            what,
            detail: "signature BIT STRING has unused bits".to_owned(),
        })?;
    let signature = Signature::from_der(signature_der)?;
    Ok(SignedParts { tbs_der, signature })
}

/// Accept only SM2-with-SM3 without parameters, as GM/T 0015 and OpenSSL encode it.
fn check_signature_algorithm(
    oid: &ObjectIdentifier,
    has_parameters: bool,
    what: &'static str,
) -> Result<(), EncodingError> {
    if *oid != SM2_WITH_SM3 || has_parameters {
        return Err(EncodingError::UnsupportedAlgorithm {
            what,
            oid: oid.to_string(),
        });
    }
    Ok(())
}

/// The SM2 key in a SubjectPublicKeyInfo; anything but id-ecPublicKey on the SM2 curve is
/// an unsupported algorithm.
pub(crate) fn spki_public_key(
    spki: &spki::SubjectPublicKeyInfoOwned,
) -> Result<PublicKey, CryptoError> {
    let der = spki
        .to_der()
        .map_err(|err| pem::der_error("SubjectPublicKeyInfo", err))?;
    PublicKey::from_spki_der(&der)
}

/// Our key identifier: the first 160 bits of SM3 over the subjectPublicKey bits (the
/// uncompressed point), RFC 7093 §2 method with SM3 in place of SHA-256.
pub(crate) fn key_identifier(public_key: &PublicKey) -> Vec<u8> {
    let digest = crate::sm3(&public_key.to_sec1_uncompressed());
    digest
        .as_bytes()
        .iter()
        .take(KEY_ID_BYTES)
        .copied()
        .collect()
}

pub(crate) fn octet_string(bytes: &[u8]) -> OctetString {
    OctetString::new(bytes).expect("a key identifier is far below the OCTET STRING limit")
}

/// Unix seconds → an X.509 `Time` (UTCTime before 2050, GeneralizedTime after).
pub(crate) fn time_from_unix(seconds: i64) -> Result<x509_cert::time::Time, CryptoError> {
    let seconds = u64::try_from(seconds)
        .map_err(|_| CertificateError::InvalidParams("times before 1970 cannot be encoded"))?;
    let date = der::DateTime::from_unix_duration(core::time::Duration::from_secs(seconds))
        .map_err(|_| CertificateError::InvalidParams("time beyond year 9999"))?;
    Ok(x509_cert::time::Time::from(date))
}

/// An X.509 `Time` → unix seconds. Every encodable time (1970..9999) fits an i64.
pub(crate) fn time_to_unix(time: x509_cert::time::Time) -> i64 {
    i64::try_from(time.to_unix_duration().as_secs()).unwrap_or(i64::MAX)
}

/// Serial bytes as a positive big-endian magnitude with leading zeros stripped, the form
/// CRLs and revocation lists compare.
pub(crate) fn normalize_serial(bytes: &[u8]) -> &[u8] {
    let first_nonzero = bytes
        .iter()
        .position(|byte| *byte != 0)
        .unwrap_or(bytes.len());
    bytes.get(first_nonzero..).unwrap_or(&[])
}

/// Check and encode a serial number given as a positive big-endian magnitude.
pub(crate) fn serial_number(
    bytes: &[u8],
) -> Result<x509_cert::serial_number::SerialNumber, CryptoError> {
    let magnitude = normalize_serial(bytes);
    if magnitude.is_empty() {
        return Err(CertificateError::InvalidParams("serial number must be positive").into());
    }
    if magnitude.len() > SERIAL_BYTES_MAX {
        return Err(CertificateError::InvalidParams("serial number longer than 20 bytes").into());
    }
    x509_cert::serial_number::SerialNumber::new(magnitude).map_err(|_| {
        CertificateError::InvalidParams("serial number does not encode in 20 bytes").into()
    })
}

/// A fresh random 16-byte serial with the top bit clear, so it stays positive and 16 bytes.
pub fn random_serial() -> Result<Vec<u8>, CryptoError> {
    let mut serial = vec![0u8; 16];
    crate::random_bytes(&mut serial)?;
    if let Some(first) = serial.first_mut() {
        *first = (*first & 0x7f) | 0x01;
    }
    Ok(serial)
}

/// Build a distinguished name from our subject fields plus an optional role OU, one
/// attribute per RDN in the order C, O, OU…, CN (the order OpenSSL prints).
pub(crate) fn build_name(
    subject: &SubjectName,
    role: Option<Role>,
) -> Result<x509_cert::name::Name, CryptoError> {
    let mut attributes: Vec<(ObjectIdentifier, der::Tag, &str)> = Vec::new();
    if let Some(country) = &subject.country {
        attributes.push((OID_COUNTRY, der::Tag::PrintableString, country));
    }
    if let Some(organization) = &subject.organization {
        attributes.push((OID_ORGANIZATION, der::Tag::Utf8String, organization));
    }
    for unit in &subject.organizational_units {
        attributes.push((OID_ORGANIZATIONAL_UNIT, der::Tag::Utf8String, unit));
    }
    if let Some(role) = role {
        attributes.push((OID_ORGANIZATIONAL_UNIT, der::Tag::Utf8String, role.as_ou()));
    }
    attributes.push((OID_COMMON_NAME, der::Tag::Utf8String, &subject.common_name));
    let mut rdns = x509_cert::name::RdnSequence::default();
    for (oid, tag, text) in attributes {
        rdns.push(single_attribute_rdn(oid, tag, text)?);
    }
    // `Name` has no public safe constructor from RDNs, so round-trip through DER, which
    // also re-checks what we built.
    let der = rdns
        .to_der()
        .map_err(|_| CertificateError::InvalidParams("subject does not encode"))?;
    x509_cert::name::Name::from_der(&der)
        .map_err(|_| CertificateError::InvalidParams("subject does not encode").into())
}

fn single_attribute_rdn(
    oid: ObjectIdentifier,
    tag: der::Tag,
    text: &str,
) -> Result<x509_cert::name::RelativeDistinguishedName, CryptoError> {
    let invalid = |_| CertificateError::InvalidParams("subject attribute does not encode");
    let value = der::Any::new(tag, text.as_bytes()).map_err(invalid)?;
    let attribute = x509_cert::attr::AttributeTypeAndValue { oid, value };
    x509_cert::name::RelativeDistinguishedName::try_from(vec![attribute])
        .map_err(|_| CertificateError::InvalidParams("subject attribute does not encode").into())
}

/// All string values of one attribute type in a name, in order.
pub(crate) fn name_values(name: &x509_cert::name::Name, oid: ObjectIdentifier) -> Vec<String> {
    name.iter()
        .filter(|attribute| attribute.oid == oid)
        .filter_map(|attribute| {
            x509_cert::ext::pkix::name::DirectoryString::try_from(&attribute.value).ok()
        })
        .map(String::from)
        .collect()
}

/// The unique role OU in a name, if any.
pub(crate) fn name_role(name: &x509_cert::name::Name) -> Result<Option<Role>, CertificateError> {
    let mut roles = name_values(name, OID_ORGANIZATIONAL_UNIT)
        .into_iter()
        .filter_map(|unit| unit.parse::<Role>().ok());
    let first = roles.next();
    if roles.next().is_some() {
        return Err(CertificateError::AmbiguousRole {
            subject: name.to_string(),
        });
    }
    Ok(first)
}

/// All OU values, role OU included.
pub(crate) fn name_units(name: &x509_cert::name::Name) -> Vec<String> {
    name_values(name, OID_ORGANIZATIONAL_UNIT)
}

pub(crate) fn first_value(name: &x509_cert::name::Name, oid: ObjectIdentifier) -> Option<String> {
    name_values(name, oid).into_iter().next()
}
