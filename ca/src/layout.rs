//! Where things live on disk: the CA directory, and writing the identity directory
//! (`netsettle_msp::IdentityLayout`) that enrollment and bootstrap both produce (so a node
//! reads the same layout however its certificates were made).

use std::path::{Path, PathBuf};

use netsettle_msp::IdentityLayout;
use netsettle_smcrypto::PrivateKey;
use netsettle_smcrypto::x509::Certificate;

use crate::CaError;
use crate::files::{self, PUBLIC_FILE_MODE};

/// The files of a CA directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaLayout {
    root: PathBuf,
}

impl CaLayout {
    /// The layout rooted at `dir`.
    pub fn new(dir: &Path) -> CaLayout {
        CaLayout {
            root: dir.to_owned(),
        }
    }

    /// The CA directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The root certificate (PEM), to hand to every node and to the other carrier.
    pub fn ca_cert(&self) -> PathBuf {
        self.root.join("ca.pem")
    }

    /// The root private key (PKCS#8 PEM, 0600).
    pub fn ca_key(&self) -> PathBuf {
        self.root.join("ca.key")
    }

    /// The enrollment server's own TLS certificate (PEM).
    pub fn server_tls_cert(&self) -> PathBuf {
        self.root.join("tls").join("cert.pem")
    }

    /// The enrollment server's TLS private key (0600).
    pub fn server_tls_key(&self) -> PathBuf {
        self.root.join("tls").join("key.pem")
    }

    /// Registrations and issued serials.
    pub fn registry(&self) -> PathBuf {
        self.root.join("registry.toml")
    }

    /// The latest CRL (PEM).
    pub fn crl(&self) -> PathBuf {
        self.root.join("crl.pem")
    }

    /// The bootstrap admin's identity directory written by `ca init`.
    pub fn bootstrap_admin(&self) -> PathBuf {
        self.root.join("admin")
    }
}

/// The certificates and keys of one identity, to be written to an identity directory.
#[derive(Debug)]
pub struct IdentityFiles<'a> {
    /// The issuing root.
    pub ca_cert: &'a Certificate,
    /// The signing certificate.
    pub sign_cert: &'a Certificate,
    /// The signing key.
    pub sign_key: &'a PrivateKey,
    /// The TLS certificate.
    pub tls_cert: &'a Certificate,
    /// The TLS key.
    pub tls_key: &'a PrivateKey,
}

/// Write (or, on re-enrollment, replace) an identity directory. Keys are written before
/// certificates so a crash in between leaves a key without its certificate, which
/// re-enrollment repairs, rather than a certificate whose key is lost.
pub fn write_identity(
    layout: &IdentityLayout,
    identity: &IdentityFiles<'_>,
) -> Result<(), CaError> {
    for path in [
        layout.msp_ca_cert(),
        layout.msp_tls_ca_cert(),
        layout.sign_cert(),
        layout.sign_key(),
        layout.tls_cert(),
    ] {
        if let Some(parent) = path.parent() {
            files::create_dir(parent)?;
        }
    }
    files::write_key_atomic(&layout.sign_key(), identity.sign_key)?;
    files::write_key_atomic(&layout.tls_key(), identity.tls_key)?;
    let ca_pem = identity.ca_cert.to_pem();
    for path in [
        layout.msp_ca_cert(),
        layout.msp_tls_ca_cert(),
        layout.tls_ca_cert(),
    ] {
        files::write_atomic(&path, ca_pem.as_bytes(), PUBLIC_FILE_MODE)?;
    }
    files::write_atomic(
        &layout.sign_cert(),
        identity.sign_cert.to_pem().as_bytes(),
        PUBLIC_FILE_MODE,
    )?;
    files::write_atomic(
        &layout.tls_cert(),
        identity.tls_cert.to_pem().as_bytes(),
        PUBLIC_FILE_MODE,
    )
}
