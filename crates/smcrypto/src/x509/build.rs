//! Issuing certificates: a self-signed root, or a certificate for any SM2 public key signed
//! by an issuer. The x509-cert builder assembles the TBS; we sign its exact bytes with our
//! own SM2 signer (default ID, DER signature), because the `sm2` crate's bit-string
//! encoding is the raw `r‖s` form that X.509 does not use.

use std::net::IpAddr;

use der::asn1::{BitString, Ia5String};
use der::oid::ObjectIdentifier;
use spki::SubjectPublicKeyInfoRef;
use x509_cert::builder::{Builder as _, CertificateBuilder, profile::BuilderProfile};
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{
    AuthorityKeyIdentifier, BasicConstraints, SubjectAltName, SubjectKeyIdentifier,
};
use x509_cert::ext::{Extension, ToExtension as _};
use x509_cert::name::Name;
use x509_cert::time::Validity;

use super::cert::key_usage_to;
use super::{
    Certificate, ExtendedKeyUsage, KeyUsage, OID_CLIENT_AUTH, OID_SERVER_AUTH, Role, SubjectName,
    build_name, key_identifier, octet_string, serial_number, time_from_unix,
};
use crate::{CertificateError, CryptoError, PrivateKey, PublicKey};

/// Most SAN entries in one certificate: a node needs a handful of names.
pub const SAN_ENTRIES_MAX: usize = 64;

/// Everything that goes into a certificate besides the keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateParams {
    /// Subject name fields (CN, O, OUs, C).
    pub subject: SubjectName,
    /// Role OU to add to the subject (Fabric NodeOUs); `None` for CAs.
    pub role: Option<Role>,
    /// Serial number, positive big-endian, 1..=20 bytes; see [`super::random_serial`].
    pub serial: Vec<u8>,
    /// notBefore, unix seconds.
    pub not_before_unix: i64,
    /// notAfter, unix seconds.
    pub not_after_unix: i64,
    /// SAN DNS names.
    pub dns_names: Vec<String>,
    /// SAN IP addresses.
    pub ip_addresses: Vec<IpAddr>,
    /// basicConstraints `cA`.
    pub is_ca: bool,
    /// pathLenConstraint (only meaningful when `is_ca`).
    pub path_len: Option<u8>,
    /// keyUsage bits (the extension is always written, marked critical).
    pub key_usage: KeyUsage,
    /// extendedKeyUsage purposes (written only if at least one is set).
    pub extended_key_usage: ExtendedKeyUsage,
}

impl CertificateParams {
    /// An end-entity certificate for `role`: digitalSignature, serverAuth and clientAuth
    /// (every node-to-node link is mutual TLS), random serial.
    pub fn end_entity(
        subject: SubjectName,
        role: Role,
        not_before_unix: i64,
        not_after_unix: i64,
    ) -> Result<Self, CryptoError> {
        Ok(CertificateParams {
            subject,
            role: Some(role),
            serial: super::random_serial()?,
            not_before_unix,
            not_after_unix,
            dns_names: Vec::new(),
            ip_addresses: Vec::new(),
            is_ca: false,
            path_len: None,
            key_usage: KeyUsage {
                digital_signature: true,
                ..KeyUsage::default()
            },
            extended_key_usage: ExtendedKeyUsage {
                server_auth: true,
                client_auth: true,
            },
        })
    }

    /// A CA certificate: keyCertSign and cRLSign, the given path length, random serial.
    pub fn ca(
        subject: SubjectName,
        path_len: Option<u8>,
        not_before_unix: i64,
        not_after_unix: i64,
    ) -> Result<Self, CryptoError> {
        Ok(CertificateParams {
            subject,
            role: None,
            serial: super::random_serial()?,
            not_before_unix,
            not_after_unix,
            dns_names: Vec::new(),
            ip_addresses: Vec::new(),
            is_ca: true,
            path_len,
            key_usage: KeyUsage {
                digital_signature: true,
                key_cert_sign: true,
                crl_sign: true,
                ..KeyUsage::default()
            },
            extended_key_usage: ExtendedKeyUsage::default(),
        })
    }

    fn check(&self) -> Result<(), CertificateError> {
        if self.not_after_unix < self.not_before_unix {
            return Err(CertificateError::InvalidParams(
                "notAfter is before notBefore",
            ));
        }
        if self.subject.common_name.is_empty() {
            return Err(CertificateError::InvalidParams("empty common name"));
        }
        if self.dns_names.len().saturating_add(self.ip_addresses.len()) > SAN_ENTRIES_MAX {
            return Err(CertificateError::InvalidParams("too many SAN entries"));
        }
        if self.path_len.is_some() && !self.is_ca {
            return Err(CertificateError::InvalidParams(
                "pathLen on a non-CA certificate",
            ));
        }
        Ok(())
    }
}

/// A self-signed certificate (a root CA when `params.is_ca`).
pub fn self_signed(
    params: &CertificateParams,
    key: &PrivateKey,
) -> Result<Certificate, CryptoError> {
    let subject = build_name(&params.subject, params.role)?;
    let key_id = key_identifier(key.public_key());
    let issuer = IssuerInfo {
        name: subject.clone(),
        key_id: key_id.clone(),
    };
    build_and_sign(params, subject, key.public_key(), &issuer, key)
}

/// A certificate for `subject_key`, signed by `issuer_key` on behalf of `issuer`. The
/// issuer must be a CA whose key matches `issuer_key`: anything else is a programming
/// error in the CA and is refused before signing.
pub fn issue(
    params: &CertificateParams,
    subject_key: &PublicKey,
    issuer: &Certificate,
    issuer_key: &PrivateKey,
) -> Result<Certificate, CryptoError> {
    if issuer.public_key() != issuer_key.public_key() {
        return Err(CertificateError::InvalidParams(
            "issuer key does not match issuer certificate",
        )
        .into());
    }
    if !issuer.is_ca() {
        return Err(CertificateError::NotCa {
            subject: issuer.subject_dn(),
        }
        .into());
    }
    let subject = build_name(&params.subject, params.role)?;
    let issuer_info = IssuerInfo {
        name: issuer.subject_name().clone(),
        // Chain builders match AKI to the issuer's SKI, so copy it when the issuer has one.
        key_id: issuer
            .subject_key_id()
            .map_or_else(|| key_identifier(issuer.public_key()), <[u8]>::to_vec),
    };
    build_and_sign(params, subject, subject_key, &issuer_info, issuer_key)
}

/// The issuer-side inputs of a certificate: its name and the key id for the AKI.
pub(crate) struct IssuerInfo {
    pub(crate) name: Name,
    pub(crate) key_id: Vec<u8>,
}

/// Build the TBS for `params`, sign it with `signer` and parse the result back. Tests use
/// it directly to forge certificates that `issue` refuses to make.
pub(crate) fn build_and_sign(
    params: &CertificateParams,
    subject: Name,
    subject_key: &PublicKey,
    issuer: &IssuerInfo,
    signer: &PrivateKey,
) -> Result<Certificate, CryptoError> {
    params.check()?;
    let extensions = certificate_extensions(params, &subject, subject_key, &issuer.key_id)?;
    let profile = FixedProfile {
        subject,
        issuer: issuer.name.clone(),
        extensions,
    };
    let validity = Validity::new(
        time_from_unix(params.not_before_unix)?,
        time_from_unix(params.not_after_unix)?,
    );
    let spki = spki::SubjectPublicKeyInfoOwned::try_from(subject_key.to_spki_der().as_slice())
        .map_err(|_| CryptoError::InvalidPublicKey)?;
    let mut builder =
        CertificateBuilder::new(profile, serial_number(&params.serial)?, validity, spki)
            .map_err(builder_error)?;
    let signing_key = signer.signing_key_default();
    let tbs_der = builder.finalize(signing_key).map_err(builder_error)?;
    let signature = signer.sign(&tbs_der);
    let bits =
        BitString::from_bytes(signature.as_der()).map_err(|_| CryptoError::MalformedSignature)?;
    let certificate = builder.assemble(bits, signing_key).map_err(builder_error)?;
    let der = der::Encode::to_der(&certificate)
        .map_err(|err| crate::pem::der_error("certificate", err))?;
    Certificate::from_der(&der)
}

fn builder_error(_: x509_cert::builder::Error) -> CryptoError {
    CertificateError::InvalidParams("x509 builder rejected the certificate fields").into()
}

/// The extensions, in the order OpenSSL writes them: basicConstraints, keyUsage,
/// extendedKeyUsage, subjectAltName, subjectKeyIdentifier, authorityKeyIdentifier.
fn certificate_extensions(
    params: &CertificateParams,
    subject: &Name,
    subject_key: &PublicKey,
    issuer_key_id: &[u8],
) -> Result<Vec<Extension>, CryptoError> {
    let mut extensions: Vec<Extension> = Vec::new();
    let encode_failed =
        |_| CryptoError::from(CertificateError::InvalidParams("extension does not encode"));
    let basic = BasicConstraints {
        ca: params.is_ca,
        path_len_constraint: params.path_len,
    };
    extensions.push(
        basic
            .to_extension(subject, &extensions)
            .map_err(encode_failed)?,
    );
    let usage = key_usage_to(params.key_usage);
    extensions.push(
        usage
            .to_extension(subject, &extensions)
            .map_err(encode_failed)?,
    );
    if let Some(purposes) = extended_key_usage(params.extended_key_usage) {
        extensions.push(
            purposes
                .to_extension(subject, &extensions)
                .map_err(encode_failed)?,
        );
    }
    if let Some(names) = alt_names(params)? {
        extensions.push(
            names
                .to_extension(subject, &extensions)
                .map_err(encode_failed)?,
        );
    }
    let ski = SubjectKeyIdentifier(octet_string(&key_identifier(subject_key)));
    extensions.push(
        ski.to_extension(subject, &extensions)
            .map_err(encode_failed)?,
    );
    let aki = AuthorityKeyIdentifier {
        key_identifier: Some(octet_string(issuer_key_id)),
        ..AuthorityKeyIdentifier::default()
    };
    extensions.push(
        aki.to_extension(subject, &extensions)
            .map_err(encode_failed)?,
    );
    Ok(extensions)
}

fn extended_key_usage(
    purposes: ExtendedKeyUsage,
) -> Option<x509_cert::ext::pkix::ExtendedKeyUsage> {
    let mut oids: Vec<ObjectIdentifier> = Vec::new();
    if purposes.server_auth {
        oids.push(OID_SERVER_AUTH);
    }
    if purposes.client_auth {
        oids.push(OID_CLIENT_AUTH);
    }
    (!oids.is_empty()).then_some(x509_cert::ext::pkix::ExtendedKeyUsage(oids))
}

/// The SAN extension for `params`, or `None` when there are no names.
pub(crate) fn alt_names(params: &CertificateParams) -> Result<Option<SubjectAltName>, CryptoError> {
    san_from(&params.dns_names, &params.ip_addresses)
}

pub(crate) fn san_from(
    dns_names: &[String],
    ip_addresses: &[IpAddr],
) -> Result<Option<SubjectAltName>, CryptoError> {
    let mut names = Vec::new();
    for dns in dns_names {
        let text = Ia5String::new(dns)
            .map_err(|_| CertificateError::InvalidParams("DNS name is not ASCII"))?;
        names.push(GeneralName::DnsName(text));
    }
    names.extend(ip_addresses.iter().map(|ip| GeneralName::from(*ip)));
    Ok((!names.is_empty()).then_some(SubjectAltName(names)))
}

/// A builder profile that writes exactly the subject, issuer and extensions we computed,
/// instead of one of x509-cert's CA/Browser Forum profiles.
struct FixedProfile {
    subject: Name,
    issuer: Name,
    extensions: Vec<Extension>,
}

impl BuilderProfile for FixedProfile {
    fn get_issuer(&self, _subject: &Name) -> Name {
        self.issuer.clone()
    }

    fn get_subject(&self) -> Name {
        self.subject.clone()
    }

    fn build_extensions(
        &self,
        _spk: SubjectPublicKeyInfoRef<'_>,
        _issuer_spk: SubjectPublicKeyInfoRef<'_>,
        _tbs: &x509_cert::TbsCertificate,
    ) -> x509_cert::builder::Result<Vec<Extension>> {
        Ok(self.extensions.clone())
    }
}
