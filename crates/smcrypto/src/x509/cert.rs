//! The parsed, SM2-only certificate that the TLS verifiers, the CA and the MSP read.
//!
//! Parsing does all the checking that does not need other certificates (algorithms,
//! extension syntax, duplicate extensions), so the accessors are infallible and chain
//! verification only deals with trust.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::sync::Arc;

use der::Decode as _;
use der::oid::{AssociatedOid as _, ObjectIdentifier};
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{self, BasicConstraints, SubjectAltName};

use super::{
    ExtendedKeyUsage, KeyUsage, OID_CLIENT_AUTH, OID_COMMON_NAME, OID_ORGANIZATION,
    OID_SERVER_AUTH, Role, SignedParts, first_value, name_role, name_units, normalize_serial,
    spki_public_key, split_signed, time_to_unix,
};
use crate::{CertificateError, CryptoError, Hash, PublicKey, Signature, pem};

/// PEM label of an X.509 certificate.
pub const CERTIFICATE_PEM_LABEL: &str = "CERTIFICATE";

/// Longest certificate accepted, in DER bytes. Ours are under 1 KiB; the cap only bounds
/// what a peer can make us parse.
pub const CERTIFICATE_DER_BYTES_MAX: usize = 16 * 1024;

/// Most certificates accepted from one PEM bundle.
pub const PEM_BUNDLE_CERTS_MAX: usize = 64;

/// An X.509 v3 certificate with an SM2 key and an SM2-with-SM3 signature. Parsed once
/// and shared: a clone (identity caches hand one out on every hit) is a reference count,
/// not a copy of the DER and the parsed structure.
#[derive(Clone, Debug)]
pub struct Certificate(Arc<CertificateInner>);

#[derive(Debug)]
struct CertificateInner {
    der: Vec<u8>,
    inner: x509_cert::Certificate,
    signed: SignedParts,
    public_key: PublicKey,
    extensions: ParsedExtensions,
}

/// The extensions netsettle reads, decoded once at parse time.
#[derive(Clone, Debug, Default)]
pub(crate) struct ParsedExtensions {
    pub(crate) basic_constraints: Option<BasicConstraints>,
    pub(crate) key_usage: Option<KeyUsage>,
    pub(crate) extended_key_usage: Option<ExtendedKeyUsage>,
    pub(crate) dns_names: Vec<String>,
    pub(crate) ip_addresses: Vec<IpAddr>,
    pub(crate) subject_key_id: Option<Vec<u8>>,
    pub(crate) authority_key_id: Option<Vec<u8>>,
    /// The first critical extension we do not understand: RFC 5280 §4.2 forbids trusting
    /// such a certificate, so chain verification rejects it.
    pub(crate) unknown_critical: Option<String>,
}

impl PartialEq for Certificate {
    fn eq(&self, other: &Self) -> bool {
        self.0.der == other.0.der
    }
}

impl Eq for Certificate {}

impl Certificate {
    /// Parse DER, accepting only SM2 keys and SM2-with-SM3 signatures.
    pub fn from_der(der: &[u8]) -> Result<Self, CryptoError> {
        pem::check_size("certificate", der.len(), CERTIFICATE_DER_BYTES_MAX)?;
        let inner = x509_cert::Certificate::from_der(der)
            .map_err(|err| pem::der_error("certificate", err))?;
        let signed = split_signed(der, "certificate")?;
        // The algorithm inside the TBS must match the outer one (RFC 5280 §4.1.1.2).
        if inner.signature_algorithm() != inner.tbs_certificate().signature() {
            return Err(crate::EncodingError::Der {
                what: "certificate",
                detail: "inner and outer signature algorithms differ".to_owned(),
            }
            .into());
        }
        let public_key = spki_public_key(inner.tbs_certificate().subject_public_key_info())?;
        let subject = inner.tbs_certificate().subject().to_string();
        let extensions = parse_extensions(inner.tbs_certificate().extensions(), &subject)?;
        Ok(Certificate(Arc::new(CertificateInner {
            der: der.to_vec(),
            inner,
            signed,
            public_key,
            extensions,
        })))
    }

    /// Parse one `-----BEGIN CERTIFICATE-----` block.
    pub fn from_pem(pem_text: &str) -> Result<Self, CryptoError> {
        let der = pem::decode(pem_text, CERTIFICATE_PEM_LABEL)?;
        Self::from_der(&der)
    }

    /// Parse every certificate in a PEM bundle (e.g. a roots file), in order.
    pub fn from_pem_bundle(pem_text: &str) -> Result<Vec<Self>, CryptoError> {
        pem::check_size("PEM bundle", pem_text.len(), pem::PEM_BYTES_MAX)?;
        let end_marker = "-----END CERTIFICATE-----";
        let mut certificates = Vec::new();
        let mut rest = pem_text;
        while let Some(end) = rest.find(end_marker) {
            let (block, tail) = rest.split_at(end.saturating_add(end_marker.len()));
            if certificates.len() >= PEM_BUNDLE_CERTS_MAX {
                return Err(crate::EncodingError::TooLarge {
                    what: "PEM bundle (certificates)",
                    max: PEM_BUNDLE_CERTS_MAX,
                    actual: certificates.len().saturating_add(1),
                }
                .into());
            }
            // Bundles written by `openssl` often put `subject=`/`issuer=` lines between
            // blocks; only the armoured part is a certificate.
            let armoured = block
                .find("-----BEGIN")
                .and_then(|start| block.get(start..))
                .unwrap_or(block);
            certificates.push(Self::from_pem(armoured)?);
            rest = tail;
        }
        Ok(certificates)
    }

    /// Read a private key (PKCS#8 PEM) and the certificate (PEM) issued for it, refusing
    /// a pair whose certificate holds another key: the one check every signer's files get.
    pub fn read_with_key(
        cert_path: &std::path::Path,
        key_path: &std::path::Path,
    ) -> Result<(Self, crate::PrivateKey), CryptoError> {
        let key = crate::PrivateKey::read_pkcs8_pem_file(key_path)?;
        let cert = Self::read_pem_file(cert_path)?;
        if cert.public_key() != key.public_key() {
            return Err(CryptoError::KeyMismatch {
                key: key_path.to_path_buf(),
                cert: cert_path.to_path_buf(),
            });
        }
        Ok((cert, key))
    }

    /// Read one certificate from a PEM file.
    pub fn read_pem_file(path: &std::path::Path) -> Result<Self, CryptoError> {
        Self::from_pem(&crate::keys::read_text_file(path)?)
    }

    /// Read every certificate from a PEM bundle file (e.g. the consortium's roots).
    pub fn read_pem_bundle_file(path: &std::path::Path) -> Result<Vec<Self>, CryptoError> {
        Self::from_pem_bundle(&crate::keys::read_text_file(path)?)
    }

    /// The DER encoding, exactly as parsed or issued.
    pub fn der(&self) -> &[u8] {
        &self.0.der
    }

    /// PEM (`CERTIFICATE`).
    pub fn to_pem(&self) -> String {
        pem::encode(CERTIFICATE_PEM_LABEL, &self.0.der)
    }

    /// The underlying `x509-cert` structure, for fields this wrapper does not expose.
    pub fn inner(&self) -> &x509_cert::Certificate {
        &self.0.inner
    }

    /// The subject DN in RFC 4514 form, e.g. `CN=peer0,OU=peer,O=CarrierA`.
    pub fn subject_dn(&self) -> String {
        self.0.inner.tbs_certificate().subject().to_string()
    }

    /// The issuer DN in RFC 4514 form.
    pub fn issuer_dn(&self) -> String {
        self.0.inner.tbs_certificate().issuer().to_string()
    }

    /// The subject CN, if present.
    pub fn common_name(&self) -> Option<String> {
        first_value(self.0.inner.tbs_certificate().subject(), OID_COMMON_NAME)
    }

    /// The subject O (the holder's carrier / MSP), if present.
    pub fn organization(&self) -> Option<String> {
        first_value(self.0.inner.tbs_certificate().subject(), OID_ORGANIZATION)
    }

    /// All subject OUs, role OU included, in order.
    pub fn organizational_units(&self) -> Vec<String> {
        name_units(self.0.inner.tbs_certificate().subject())
    }

    /// The role named by a subject OU; `Ok(None)` if no OU names a role (e.g. a CA), an
    /// error if more than one does.
    pub fn role(&self) -> Result<Option<Role>, CertificateError> {
        name_role(self.0.inner.tbs_certificate().subject())
    }

    /// The serial number as a positive big-endian magnitude, no leading zeros.
    pub fn serial(&self) -> &[u8] {
        normalize_serial(self.0.inner.tbs_certificate().serial_number().as_bytes())
    }

    /// The serial number as lowercase hex (no leading zero bytes).
    pub fn serial_hex(&self) -> String {
        hex::encode(self.serial())
    }

    /// notBefore, unix seconds.
    pub fn not_before_unix(&self) -> i64 {
        time_to_unix(self.0.inner.tbs_certificate().validity().not_before)
    }

    /// notAfter, unix seconds.
    pub fn not_after_unix(&self) -> i64 {
        time_to_unix(self.0.inner.tbs_certificate().validity().not_after)
    }

    /// SAN DNS names.
    pub fn dns_names(&self) -> &[String] {
        &self.0.extensions.dns_names
    }

    /// SAN IP addresses.
    pub fn ip_addresses(&self) -> &[IpAddr] {
        &self.0.extensions.ip_addresses
    }

    /// The subject's SM2 public key.
    pub fn public_key(&self) -> &PublicKey {
        &self.0.public_key
    }

    /// Whether basicConstraints says `cA = TRUE`.
    pub fn is_ca(&self) -> bool {
        self.0
            .extensions
            .basic_constraints
            .as_ref()
            .is_some_and(|constraints| constraints.ca)
    }

    /// The pathLenConstraint of a CA certificate (`None`: unlimited or not a CA).
    pub fn path_len(&self) -> Option<u8> {
        self.0
            .extensions
            .basic_constraints
            .as_ref()
            .filter(|constraints| constraints.ca)
            .and_then(|constraints| constraints.path_len_constraint)
    }

    /// The keyUsage extension, if present.
    pub fn key_usage(&self) -> Option<KeyUsage> {
        self.0.extensions.key_usage
    }

    /// The extendedKeyUsage extension, if present.
    pub fn extended_key_usage(&self) -> Option<ExtendedKeyUsage> {
        self.0.extensions.extended_key_usage
    }

    /// The subjectKeyIdentifier, if present.
    pub fn subject_key_id(&self) -> Option<&[u8]> {
        self.0.extensions.subject_key_id.as_deref()
    }

    /// The authorityKeyIdentifier's keyIdentifier, if present.
    pub fn authority_key_id(&self) -> Option<&[u8]> {
        self.0.extensions.authority_key_id.as_deref()
    }

    /// Check the signature (SM2-with-SM3, default ID) against a would-be issuer's key.
    pub fn verify_signed_by(&self, issuer_key: &PublicKey) -> Result<(), CryptoError> {
        issuer_key
            .verify(&self.0.signed.tbs_der, &self.0.signed.signature)
            .map_err(|err| match err {
                CryptoError::BadSignature => CertificateError::BadSignature {
                    subject: self.subject_dn(),
                }
                .into(),
                other => other,
            })
    }

    /// SM3 over the DER: the fingerprint operators compare out of band.
    pub fn sm3_fingerprint(&self) -> Hash {
        crate::sm3(&self.0.der)
    }

    /// The exact to-be-signed bytes.
    pub fn tbs_der(&self) -> &[u8] {
        &self.0.signed.tbs_der
    }

    /// The certificate's DER signature.
    pub fn signature(&self) -> &Signature {
        &self.0.signed.signature
    }

    pub(crate) fn extensions(&self) -> &ParsedExtensions {
        &self.0.extensions
    }

    pub(crate) fn subject_name(&self) -> &x509_cert::name::Name {
        self.0.inner.tbs_certificate().subject()
    }

    pub(crate) fn issuer_name(&self) -> &x509_cert::name::Name {
        self.0.inner.tbs_certificate().issuer()
    }
}

/// Decode the extensions we use, rejecting duplicates and malformed contents.
pub(crate) fn parse_extensions(
    extensions: Option<&x509_cert::ext::Extensions>,
    subject: &str,
) -> Result<ParsedExtensions, CertificateError> {
    let mut parsed = ParsedExtensions::default();
    let mut seen = BTreeSet::new();
    for extension in extensions.map(Vec::as_slice).unwrap_or(&[]) {
        let bad = || CertificateError::BadExtension {
            subject: subject.to_owned(),
            oid: extension.extn_id.to_string(),
        };
        if !seen.insert(extension.extn_id) {
            return Err(bad());
        }
        let known = apply_extension(
            &mut parsed,
            extension.extn_id,
            extension.extn_value.as_bytes(),
        )
        .map_err(|_| bad())?;
        if !known && extension.critical && parsed.unknown_critical.is_none() {
            parsed.unknown_critical = Some(extension.extn_id.to_string());
        }
    }
    Ok(parsed)
}

/// Decode one extension into `parsed`; `Ok(false)` if we do not know it.
fn apply_extension(
    parsed: &mut ParsedExtensions,
    oid: ObjectIdentifier,
    value: &[u8],
) -> der::Result<bool> {
    if oid == BasicConstraints::OID {
        parsed.basic_constraints = Some(BasicConstraints::from_der(value)?);
    } else if oid == pkix::KeyUsage::OID {
        parsed.key_usage = Some(key_usage_from(pkix::KeyUsage::from_der(value)?));
    } else if oid == pkix::ExtendedKeyUsage::OID {
        let purposes = pkix::ExtendedKeyUsage::from_der(value)?;
        parsed.extended_key_usage = Some(ExtendedKeyUsage {
            server_auth: purposes.0.contains(&OID_SERVER_AUTH),
            client_auth: purposes.0.contains(&OID_CLIENT_AUTH),
        });
    } else if oid == SubjectAltName::OID {
        let (dns_names, ip_addresses) = alt_names(&SubjectAltName::from_der(value)?)?;
        parsed.dns_names = dns_names;
        parsed.ip_addresses = ip_addresses;
    } else if oid == pkix::SubjectKeyIdentifier::OID {
        let identifier = pkix::SubjectKeyIdentifier::from_der(value)?;
        parsed.subject_key_id = Some(identifier.0.as_bytes().to_vec());
    } else if oid == pkix::AuthorityKeyIdentifier::OID {
        let identifier = pkix::AuthorityKeyIdentifier::from_der(value)?;
        parsed.authority_key_id = identifier.key_identifier.map(|id| id.as_bytes().to_vec());
    } else {
        return Ok(false);
    }
    Ok(true)
}

/// DNS names and IP addresses from a SAN; other name forms are ignored, an IP that is not
/// 4 or 16 bytes is malformed.
pub(crate) fn alt_names(names: &SubjectAltName) -> der::Result<(Vec<String>, Vec<IpAddr>)> {
    let mut dns_names = Vec::new();
    let mut ip_addresses = Vec::new();
    for name in &names.0 {
        match name {
            GeneralName::DnsName(dns) => dns_names.push(dns.to_string()),
            GeneralName::IpAddress(octets) => ip_addresses.push(ip_from_octets(octets.as_bytes())?),
            _ => {}
        }
    }
    Ok((dns_names, ip_addresses))
}

fn ip_from_octets(octets: &[u8]) -> der::Result<IpAddr> {
    if let Ok(v4) = <[u8; 4]>::try_from(octets) {
        return Ok(IpAddr::from(v4));
    }
    <[u8; 16]>::try_from(octets)
        .map(IpAddr::from)
        .map_err(|_| der::Tag::OctetString.value_error().into())
}

fn key_usage_from(usage: pkix::KeyUsage) -> KeyUsage {
    KeyUsage {
        digital_signature: usage.digital_signature(),
        non_repudiation: usage.non_repudiation(),
        key_encipherment: usage.key_encipherment(),
        key_agreement: usage.key_agreement(),
        key_cert_sign: usage.key_cert_sign(),
        crl_sign: usage.crl_sign(),
    }
}

/// Re-encode our [`KeyUsage`] as the x509-cert flag set.
pub(crate) fn key_usage_to(usage: KeyUsage) -> pkix::KeyUsage {
    use pkix::KeyUsages;
    let mut flags = der::flagset::FlagSet::<KeyUsages>::default();
    let bits = [
        (usage.digital_signature, KeyUsages::DigitalSignature),
        (usage.non_repudiation, KeyUsages::NonRepudiation),
        (usage.key_encipherment, KeyUsages::KeyEncipherment),
        (usage.key_agreement, KeyUsages::KeyAgreement),
        (usage.key_cert_sign, KeyUsages::KeyCertSign),
        (usage.crl_sign, KeyUsages::CRLSign),
    ];
    for (set, flag) in bits {
        if set {
            flags |= flag;
        }
    }
    pkix::KeyUsage(flags)
}
