//! Where an identity's files live: the directory layout the CA writes on enrolment and
//! every node, client and tool reads (Fabric-MSP style: `msp/` for the signing identity,
//! `tls/` for the TLS identity). Only paths live here; reading and checking the files is
//! the caller's (`Certificate::read_with_key`, `TlsIdentity::from_pem_files`), so this
//! crate stays free of I/O.

use std::path::{Path, PathBuf};

/// The files of an identity directory, Fabric-MSP style.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityLayout {
    root: PathBuf,
}

impl IdentityLayout {
    /// The layout rooted at `dir`.
    pub fn new(dir: &Path) -> IdentityLayout {
        IdentityLayout {
            root: dir.to_owned(),
        }
    }

    /// The identity directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `msp/cacerts/ca.pem`: the issuing root.
    pub fn msp_ca_cert(&self) -> PathBuf {
        self.root.join("msp").join("cacerts").join("ca.pem")
    }

    /// `msp/tlscacerts/ca.pem`: the root TLS peers chain to (the same CA).
    pub fn msp_tls_ca_cert(&self) -> PathBuf {
        self.root.join("msp").join("tlscacerts").join("ca.pem")
    }

    /// `msp/signcerts/cert.pem`: the signing certificate.
    pub fn sign_cert(&self) -> PathBuf {
        self.root.join("msp").join("signcerts").join("cert.pem")
    }

    /// `msp/keystore/key.pem`: the signing key (0600).
    pub fn sign_key(&self) -> PathBuf {
        self.root.join("msp").join("keystore").join("key.pem")
    }

    /// `tls/ca.pem`: the TLS root.
    pub fn tls_ca_cert(&self) -> PathBuf {
        self.root.join("tls").join("ca.pem")
    }

    /// `tls/cert.pem`: the TLS certificate (SANs = the registered hosts).
    pub fn tls_cert(&self) -> PathBuf {
        self.root.join("tls").join("cert.pem")
    }

    /// `tls/key.pem`: the TLS key (0600).
    pub fn tls_key(&self) -> PathBuf {
        self.root.join("tls").join("key.pem")
    }
}
