//! PKCS#10 certificate signing requests with SM2 keys: how a node asks its carrier's CA
//! for a certificate without the private key ever leaving the node.
//!
//! Parsing verifies the self-signature, so a `CertificateRequest` value always proves
//! possession of its key; the CA still decides the subject, role and SANs it grants.

use std::net::IpAddr;

use der::asn1::BitString;
use der::oid::AssociatedOid as _;
use der::{Decode as _, Encode as _};
use x509_cert::builder::Builder as _;
use x509_cert::request::{CertReq, ExtensionReq, RequestBuilder};

use super::build::san_from;
use super::cert::parse_extensions;
use super::{
    OID_COMMON_NAME, OID_ORGANIZATION, Role, SignedParts, SubjectName, build_name, first_value,
    name_role, name_units, spki_public_key, split_signed,
};
use crate::{CertificateError, CryptoError, PrivateKey, PublicKey, pem};

/// PEM label of a PKCS#10 request.
pub const CSR_PEM_LABEL: &str = "CERTIFICATE REQUEST";

/// Longest CSR accepted, in DER bytes.
pub const CSR_DER_BYTES_MAX: usize = 16 * 1024;

/// What a node asks for.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CsrParams {
    /// Requested subject.
    pub subject: SubjectName,
    /// Requested role OU.
    pub role: Option<Role>,
    /// Requested SAN DNS names.
    pub dns_names: Vec<String>,
    /// Requested SAN IP addresses.
    pub ip_addresses: Vec<IpAddr>,
}

/// A parsed PKCS#10 request whose self-signature has been verified.
#[derive(Debug, Clone)]
pub struct CertificateRequest {
    der: Vec<u8>,
    inner: CertReq,
    public_key: PublicKey,
    dns_names: Vec<String>,
    ip_addresses: Vec<IpAddr>,
}

impl PartialEq for CertificateRequest {
    fn eq(&self, other: &Self) -> bool {
        self.der == other.der
    }
}

impl Eq for CertificateRequest {}

impl CertificateRequest {
    /// Build a request for `key`'s public key and sign it with `key` (default ID).
    pub fn new(params: &CsrParams, key: &PrivateKey) -> Result<Self, CryptoError> {
        let subject = build_name(&params.subject, params.role)?;
        let mut builder = RequestBuilder::new(subject).map_err(builder_error)?;
        if let Some(names) = san_from(&params.dns_names, &params.ip_addresses)? {
            builder
                .add_extension(&names)
                .map_err(|_| CertificateError::InvalidParams("SAN does not encode"))?;
        }
        let signing_key = key.signing_key_default();
        let info_der = builder.finalize(signing_key).map_err(builder_error)?;
        let signature = key.sign(&info_der);
        let bits = BitString::from_bytes(signature.as_der())
            .map_err(|_| CryptoError::MalformedSignature)?;
        let request = builder.assemble(bits, signing_key).map_err(builder_error)?;
        let der = request.to_der().map_err(|err| pem::der_error("CSR", err))?;
        Self::from_der(&der)
    }

    /// Parse DER and verify the self-signature (SM2-with-SM3, default ID).
    pub fn from_der(der: &[u8]) -> Result<Self, CryptoError> {
        pem::check_size("CSR", der.len(), CSR_DER_BYTES_MAX)?;
        let inner = CertReq::from_der(der).map_err(|err| pem::der_error("CSR", err))?;
        let signed = split_signed(der, "CSR")?;
        let public_key = spki_public_key(&inner.info.public_key)?;
        verify_self_signature(&signed, &public_key, &inner)?;
        let (dns_names, ip_addresses) = requested_alt_names(&inner)?;
        Ok(CertificateRequest {
            der: der.to_vec(),
            inner,
            public_key,
            dns_names,
            ip_addresses,
        })
    }

    /// Parse one `-----BEGIN CERTIFICATE REQUEST-----` block.
    pub fn from_pem(pem_text: &str) -> Result<Self, CryptoError> {
        let der = pem::decode(pem_text, CSR_PEM_LABEL)?;
        Self::from_der(&der)
    }

    /// The DER encoding.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// PEM (`CERTIFICATE REQUEST`).
    pub fn to_pem(&self) -> String {
        pem::encode(CSR_PEM_LABEL, &self.der)
    }

    /// The requester's SM2 public key (proven by the self-signature).
    pub fn public_key(&self) -> &PublicKey {
        &self.public_key
    }

    /// The requested subject DN in RFC 4514 form.
    pub fn subject_dn(&self) -> String {
        self.inner.info.subject.to_string()
    }

    /// The requested CN.
    pub fn common_name(&self) -> Option<String> {
        first_value(&self.inner.info.subject, OID_COMMON_NAME)
    }

    /// The requested O.
    pub fn organization(&self) -> Option<String> {
        first_value(&self.inner.info.subject, OID_ORGANIZATION)
    }

    /// The requested OUs, role OU included.
    pub fn organizational_units(&self) -> Vec<String> {
        name_units(&self.inner.info.subject)
    }

    /// The requested role, if an OU names one.
    pub fn role(&self) -> Result<Option<Role>, CertificateError> {
        name_role(&self.inner.info.subject)
    }

    /// Requested SAN DNS names.
    pub fn dns_names(&self) -> &[String] {
        &self.dns_names
    }

    /// Requested SAN IP addresses.
    pub fn ip_addresses(&self) -> &[IpAddr] {
        &self.ip_addresses
    }
}

fn verify_self_signature(
    signed: &SignedParts,
    public_key: &PublicKey,
    inner: &CertReq,
) -> Result<(), CryptoError> {
    public_key
        .verify(&signed.tbs_der, &signed.signature)
        .map_err(|_| {
            CertificateError::BadSignature {
                subject: inner.info.subject.to_string(),
            }
            .into()
        })
}

/// SANs from the extensionRequest attribute (RFC 2985), if the request carries one.
fn requested_alt_names(request: &CertReq) -> Result<(Vec<String>, Vec<IpAddr>), CryptoError> {
    let subject = request.info.subject.to_string();
    let bad = || CertificateError::BadExtension {
        subject: subject.clone(),
        oid: ExtensionReq::OID.to_string(),
    };
    let Some(attribute) = request
        .info
        .attributes
        .iter()
        .find(|attribute| attribute.oid == ExtensionReq::OID)
    else {
        return Ok((Vec::new(), Vec::new()));
    };
    let Some(value) = attribute.values.iter().next() else {
        return Err(bad().into());
    };
    let value_der = value.to_der().map_err(|_| bad())?;
    let requested = ExtensionReq::from_der(&value_der).map_err(|_| bad())?;
    let parsed = parse_extensions(Some(&requested.0), &subject)?;
    Ok((parsed.dns_names, parsed.ip_addresses))
}

fn builder_error(_: x509_cert::builder::Error) -> CryptoError {
    CertificateError::InvalidParams("x509 builder rejected the request fields").into()
}
