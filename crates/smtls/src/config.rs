//! Building rustls configurations for netsettle links: a node's identity (one SM2
//! certificate chain and its key), the trust anchors (both carriers' root CAs), and the
//! server and client configs that tie them to the SM-only provider and our verifiers.
//!
//! Both configs enforce TLS 1.3 only and mutual authentication, and disable session
//! resumption: a resumed session would skip certificate verification, and with it the
//! revocation check, so every connection pays for a full handshake.

use std::io;
use std::path::Path;
use std::sync::Arc;

use rustls::client::Resumption;
use rustls::pki_types::CertificateDer;
use rustls::server::NoServerSessionStorage;
use rustls::sign::{CertifiedKey, SingleCertAndKey};
use rustls::{ClientConfig, ServerConfig};

use netsettle_smcrypto::x509::{CHAIN_CERTS_MAX, Certificate};
use netsettle_smcrypto::{CryptoError, PrivateKey};

use crate::error::ConfigError;
use crate::provider::provider_arc;
use crate::revocation::RevocationCheck;
use crate::sign::Sm2SigningKey;
use crate::verify::{Sm2ClientVerifier, Sm2ServerVerifier};

/// Largest PEM file (certificate chain, key or root bundle) we read: far above any real
/// chain, small enough that a wrong path (a log, a disk image) fails fast.
pub const PEM_FILE_BYTES_MAX: u64 = 1024 * 1024;

/// Most trust anchors a configuration may hold: a consortium has a handful of CAs.
pub const TRUST_ANCHORS_MAX: usize = 64;

/// A node's TLS identity: its certificate chain (leaf first, then any intermediates; no
/// root) and the SM2 private key of the leaf.
#[derive(Clone)]
pub struct TlsIdentity {
    leaf: Certificate,
    intermediates: Vec<Certificate>,
    private_key: PrivateKey,
}

impl TlsIdentity {
    /// An identity from parsed parts, checking that the key belongs to the leaf.
    pub fn new(cert_chain: Vec<Certificate>, private_key: PrivateKey) -> Result<Self, ConfigError> {
        // The peer's verifier accepts at most CHAIN_CERTS_MAX certificates including the
        // root, which we do not send.
        if cert_chain.len() >= CHAIN_CERTS_MAX {
            return Err(ConfigError::ChainTooLong {
                len: cert_chain.len(),
                max: CHAIN_CERTS_MAX - 1,
            });
        }
        let mut certs = cert_chain.into_iter();
        let Some(leaf) = certs.next() else {
            return Err(ConfigError::EmptyChain);
        };
        if leaf.public_key() != private_key.public_key() {
            return Err(ConfigError::KeyMismatch {
                subject: leaf.subject_dn(),
            });
        }
        Ok(TlsIdentity {
            leaf,
            intermediates: certs.collect(),
            private_key,
        })
    }

    /// An identity from PEM text: a certificate bundle (leaf first) and a PKCS#8 key.
    pub fn from_pem(cert_chain_pem: &str, private_key_pem: &str) -> Result<Self, ConfigError> {
        let cert_chain = parse_bundle(cert_chain_pem, "certificate chain")?;
        let private_key = PrivateKey::from_pkcs8_pem(private_key_pem).map_err(|source| {
            ConfigError::PrivateKey {
                what: "private key".to_owned(),
                source,
            }
        })?;
        Self::new(cert_chain, private_key)
    }

    /// An identity from a PEM certificate-chain file and a PEM PKCS#8 key file.
    pub fn from_pem_files(
        cert_chain_path: &Path,
        private_key_path: &Path,
    ) -> Result<Self, ConfigError> {
        let chain_pem = read_pem_file(cert_chain_path)?;
        let key_pem = read_pem_file(private_key_path)?;
        let cert_chain = parse_bundle(&chain_pem, &cert_chain_path.display().to_string())?;
        let private_key =
            PrivateKey::from_pkcs8_pem(&key_pem).map_err(|source| ConfigError::PrivateKey {
                what: private_key_path.display().to_string(),
                source,
            })?;
        Self::new(cert_chain, private_key)
    }

    /// The end-entity certificate this identity presents.
    pub fn leaf(&self) -> &Certificate {
        &self.leaf
    }

    /// The intermediates sent after the leaf (often none).
    pub fn intermediates(&self) -> &[Certificate] {
        &self.intermediates
    }

    fn certified_key(&self) -> Arc<CertifiedKey> {
        let chain_der = core::iter::once(&self.leaf)
            .chain(&self.intermediates)
            .map(|cert| CertificateDer::from(cert.der().to_vec()))
            .collect();
        let key = Arc::new(Sm2SigningKey::new(self.private_key.clone()));
        Arc::new(CertifiedKey::new(chain_der, key))
    }
}

impl core::fmt::Debug for TlsIdentity {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TlsIdentity")
            .field("leaf", &self.leaf().subject_dn())
            .field("intermediates", &self.intermediates.len())
            .finish_non_exhaustive()
    }
}

/// The root certificates a peer's chain must end at: both carriers' CA roots.
#[derive(Debug, Clone)]
pub struct TrustAnchors {
    roots: Arc<[Certificate]>,
}

impl TrustAnchors {
    /// Trust exactly these roots. At least one, all CA certificates.
    pub fn new(roots: Vec<Certificate>) -> Result<Self, ConfigError> {
        if roots.is_empty() {
            return Err(ConfigError::NoTrustAnchors);
        }
        if roots.len() > TRUST_ANCHORS_MAX {
            return Err(ConfigError::Pem {
                what: "trust anchors".to_owned(),
                detail: format!("{} roots, more than {TRUST_ANCHORS_MAX}", roots.len()),
            });
        }
        if let Some(not_ca) = roots.iter().find(|root| !root.is_ca()) {
            return Err(ConfigError::Pem {
                what: "trust anchors".to_owned(),
                detail: format!("{} is not a CA certificate", not_ca.subject_dn()),
            });
        }
        Ok(TrustAnchors {
            roots: roots.into(),
        })
    }

    /// Trust the roots in a PEM bundle.
    pub fn from_pem(roots_pem: &str) -> Result<Self, ConfigError> {
        Self::new(parse_bundle(roots_pem, "trust anchors")?)
    }

    /// Trust the roots in these PEM files (for example one per carrier).
    pub fn from_pem_files<P: AsRef<Path>>(paths: &[P]) -> Result<Self, ConfigError> {
        let mut roots = Vec::new();
        for path in paths {
            let path = path.as_ref();
            let pem = read_pem_file(path)?;
            roots.extend(parse_bundle(&pem, &path.display().to_string())?);
        }
        Self::new(roots)
    }

    /// The trusted roots.
    pub fn roots(&self) -> &[Certificate] {
        &self.roots
    }
}

fn parse_bundle(pem: &str, what: &str) -> Result<Vec<Certificate>, ConfigError> {
    let certs = Certificate::from_pem_bundle(pem).map_err(|source| ConfigError::Certificate {
        what: what.to_owned(),
        source,
    })?;
    if certs.is_empty() {
        return Err(ConfigError::Pem {
            what: what.to_owned(),
            detail: "no CERTIFICATE block found".to_owned(),
        });
    }
    Ok(certs)
}

fn read_pem_file(path: &Path) -> Result<String, ConfigError> {
    let bytes_max = usize::try_from(PEM_FILE_BYTES_MAX).unwrap_or(usize::MAX);
    netsettle_smcrypto::read_text_file_bounded(path, bytes_max).map_err(|error| match error {
        CryptoError::FileTooLarge { .. } => ConfigError::FileTooLarge {
            path: path.to_owned(),
            max_bytes: PEM_FILE_BYTES_MAX,
        },
        CryptoError::Io { kind, .. } => ConfigError::ReadFile {
            path: path.to_owned(),
            source: io::Error::from(kind),
        },
        other => ConfigError::ReadFile {
            path: path.to_owned(),
            source: io::Error::other(other),
        },
    })
}

/// A server configuration: presents `identity`, requires a client certificate that
/// chains to `trust`, and consults `revocation` for every peer certificate.
pub fn server_config(
    identity: &TlsIdentity,
    trust: &TrustAnchors,
    revocation: Arc<dyn RevocationCheck>,
) -> Result<Arc<ServerConfig>, ConfigError> {
    let verifier = Arc::new(Sm2ClientVerifier::new(trust.clone(), revocation));
    let mut config = ServerConfig::builder_with_provider(provider_arc())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(ConfigError::Rustls)?
        .with_client_cert_verifier(verifier)
        .with_cert_resolver(Arc::new(SingleCertAndKey::from(identity.certified_key())));
    config.session_storage = Arc::new(NoServerSessionStorage {});
    config.send_tls13_tickets = 0;
    Ok(Arc::new(config))
}

/// A client configuration: presents `identity`, accepts servers whose chain ends at
/// `trust` and names the host dialled, and consults `revocation` for every peer
/// certificate.
pub fn client_config(
    identity: &TlsIdentity,
    trust: &TrustAnchors,
    revocation: Arc<dyn RevocationCheck>,
) -> Result<Arc<ClientConfig>, ConfigError> {
    let verifier = Arc::new(Sm2ServerVerifier::new(trust.clone(), revocation));
    let mut config = ClientConfig::builder_with_provider(provider_arc())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(ConfigError::Rustls)?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_client_cert_resolver(Arc::new(SingleCertAndKey::from(identity.certified_key())));
    config.resumption = Resumption::disabled();
    Ok(Arc::new(config))
}
