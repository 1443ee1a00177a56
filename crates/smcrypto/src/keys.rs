//! SM2 key files in the formats OpenSSL 3 reads and writes: PKCS#8 (`PRIVATE KEY`) for
//! private keys and SubjectPublicKeyInfo (`PUBLIC KEY`) for public keys, both with
//! id-ecPublicKey and the SM2 curve OID 1.2.156.10197.1.301 — what
//! `openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:SM2` produces.
//!
//! Private key files are created with mode 0600 from the first byte on (never widened
//! then narrowed), and never overwrite an existing file, so a key cannot leak through a
//! pre-existing file with looser permissions.

use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::Path;

use pkcs8::{DecodePrivateKey as _, EncodePrivateKey as _};
use spki::{DecodePublicKey as _, EncodePublicKey as _};
use zeroize::Zeroizing;

use crate::pem::{self, DER_BYTES_MAX, PEM_BYTES_MAX};
use crate::{CryptoError, EncodingError, PrivateKey, PublicKey};

/// PEM label of an unencrypted PKCS#8 private key.
pub const PRIVATE_KEY_PEM_LABEL: &str = "PRIVATE KEY";
/// PEM label of a SubjectPublicKeyInfo public key.
pub const PUBLIC_KEY_PEM_LABEL: &str = "PUBLIC KEY";

/// Owner read/write only: private key files must not be readable by other users.
const PRIVATE_KEY_FILE_MODE: u32 = 0o600;

impl PrivateKey {
    /// Parse an unencrypted PKCS#8 DER private key (SM2 curve only).
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, CryptoError> {
        pem::check_size("PKCS#8 private key", der.len(), DER_BYTES_MAX)?;
        let secret = sm2::SecretKey::from_pkcs8_der(der)
            .map_err(|err| pkcs8_error(err, "PKCS#8 private key"))?;
        Ok(PrivateKey::from_sm2(secret))
    }

    /// Parse a `-----BEGIN PRIVATE KEY-----` PEM block.
    pub fn from_pkcs8_pem(pem_text: &str) -> Result<Self, CryptoError> {
        let der = Zeroizing::new(pem::decode(pem_text, PRIVATE_KEY_PEM_LABEL)?);
        Self::from_pkcs8_der(&der)
    }

    /// PKCS#8 DER (with the public key included, as OpenSSL writes it), wiped on drop.
    pub fn to_pkcs8_der(&self) -> Zeroizing<Vec<u8>> {
        let document = self
            .secret()
            .to_pkcs8_der()
            .expect("PKCS#8 encoding of a valid SM2 key cannot fail");
        Zeroizing::new(document.as_bytes().to_vec())
    }

    /// PKCS#8 PEM (`PRIVATE KEY`), wiped on drop.
    pub fn to_pkcs8_pem(&self) -> Zeroizing<String> {
        Zeroizing::new(pem::encode(PRIVATE_KEY_PEM_LABEL, &self.to_pkcs8_der()))
    }

    /// Write the PKCS#8 PEM to a new file created with mode 0600 and synced to disk.
    /// Fails with `Io { kind: AlreadyExists }` rather than replace an existing file.
    pub fn write_pkcs8_pem_file(&self, path: &Path) -> Result<(), CryptoError> {
        let io_error = |err: std::io::Error| CryptoError::Io {
            path: path.to_path_buf(),
            kind: err.kind(),
        };
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(PRIVATE_KEY_FILE_MODE)
            .open(path)
            .map_err(io_error)?;
        file.write_all(self.to_pkcs8_pem().as_bytes())
            .map_err(io_error)?;
        file.sync_all().map_err(io_error)
    }

    /// Read a PKCS#8 PEM private key file (as written by [`Self::write_pkcs8_pem_file`] or
    /// `openssl genpkey`).
    pub fn read_pkcs8_pem_file(path: &Path) -> Result<Self, CryptoError> {
        let text = Zeroizing::new(read_text_file(path)?);
        Self::from_pkcs8_pem(&text)
    }
}

impl PublicKey {
    /// Parse a DER SubjectPublicKeyInfo holding an SM2 key.
    pub fn from_spki_der(der: &[u8]) -> Result<Self, CryptoError> {
        pem::check_size("SubjectPublicKeyInfo", der.len(), DER_BYTES_MAX)?;
        let point = sm2::PublicKey::from_public_key_der(der)
            .map_err(|err| spki_error(err, "SubjectPublicKeyInfo"))?;
        Ok(PublicKey::from_sm2(point))
    }

    /// Parse a `-----BEGIN PUBLIC KEY-----` PEM block.
    pub fn from_spki_pem(pem_text: &str) -> Result<Self, CryptoError> {
        let der = pem::decode(pem_text, PUBLIC_KEY_PEM_LABEL)?;
        Self::from_spki_der(&der)
    }

    /// DER SubjectPublicKeyInfo (id-ecPublicKey, SM2 curve, uncompressed point).
    pub fn to_spki_der(&self) -> Vec<u8> {
        self.as_sm2()
            .to_public_key_der()
            .expect("SPKI encoding of a valid SM2 point cannot fail")
            .into_vec()
    }

    /// PEM SubjectPublicKeyInfo (`PUBLIC KEY`), as `openssl pkey -pubout` writes.
    pub fn to_spki_pem(&self) -> String {
        pem::encode(PUBLIC_KEY_PEM_LABEL, &self.to_spki_der())
    }
}

/// Read a whole text file, refusing anything over the PEM size cap.
/// A PEM file (key, certificate, CRL), at most [`PEM_BYTES_MAX`] bytes.
pub(crate) fn read_text_file(path: &Path) -> Result<String, CryptoError> {
    crate::file::read_text_file_bounded(path, PEM_BYTES_MAX)
}

fn pkcs8_error(err: pkcs8::Error, what: &'static str) -> CryptoError {
    match err {
        pkcs8::Error::Asn1(err) => pem::der_error(what, err).into(),
        pkcs8::Error::PublicKey(err) => spki_error(err, what),
        _ => CryptoError::InvalidPrivateKey,
    }
}

fn spki_error(err: spki::Error, what: &'static str) -> CryptoError {
    match err {
        spki::Error::OidUnknown { oid } => EncodingError::UnsupportedAlgorithm {
            what,
            oid: oid.to_string(),
        }
        .into(),
        spki::Error::Asn1(err) => pem::der_error(what, err).into(),
        _ => CryptoError::InvalidPublicKey,
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    // Generated by `openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:SM2`.
    const OPENSSL_KEY_PEM: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqBHM9VAYItBG0wawIBAQQgPkX1MBebX8L750k2
Rpz2KY58sXPvUGCuYAkD9vktIbehRANCAASdrScE4pjSREv7HcbGisLqQeuj8OhC
+0oQswrXXQVZmkxLqk3V5IugMdPWIzsrweU3WOVsq5hMFldHopUWd3eZ
-----END PRIVATE KEY-----
";

    #[test]
    fn openssl_private_key_loads_and_reencodes_identically() {
        let key = PrivateKey::from_pkcs8_pem(OPENSSL_KEY_PEM).unwrap();
        assert_eq!(
            hex::encode(key.to_bytes()),
            "3e45f530179b5fc2fbe74936469cf6298e7cb173ef5060ae600903f6f92d21b7"
        );
        assert_eq!(key.to_pkcs8_pem().as_str(), OPENSSL_KEY_PEM);
    }

    #[test]
    fn public_key_round_trips_through_spki() {
        let key = PrivateKey::generate();
        let pem_text = key.public_key().to_spki_pem();
        assert!(pem_text.starts_with("-----BEGIN PUBLIC KEY-----\n"));
        assert_eq!(
            &PublicKey::from_spki_pem(&pem_text).unwrap(),
            key.public_key()
        );
        let der = key.public_key().to_spki_der();
        assert_eq!(&PublicKey::from_spki_der(&der).unwrap(), key.public_key());
    }

    #[test]
    fn wrong_label_and_garbage_rejected() {
        let key = PrivateKey::generate();
        let public_pem = key.public_key().to_spki_pem();
        assert_eq!(
            PrivateKey::from_pkcs8_pem(&public_pem).unwrap_err(),
            CryptoError::Encoding(EncodingError::PemLabel {
                expected: PRIVATE_KEY_PEM_LABEL,
                found: PUBLIC_KEY_PEM_LABEL.to_owned(),
            })
        );
        assert!(matches!(
            PrivateKey::from_pkcs8_pem("not pem"),
            Err(CryptoError::Encoding(EncodingError::Pem(_)))
        ));
        assert!(matches!(
            PublicKey::from_spki_der(&[0x30, 0x03, 0x02, 0x01, 0x00]),
            Err(CryptoError::Encoding(EncodingError::Der { .. }))
        ));
        let huge = "A".repeat(PEM_BYTES_MAX + 1);
        assert!(matches!(
            PrivateKey::from_pkcs8_pem(&huge),
            Err(CryptoError::Encoding(EncodingError::TooLarge { .. }))
        ));
    }

    // A P-256 key from `openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256`:
    // well-formed PKCS#8, but not an SM2 key.
    #[test]
    fn other_curve_rejected_as_unsupported() {
        let p256 = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg8Rf2DxThSbHBN+7y
PAS8klBb23I/mg7NqO5c7gDWLJShRANCAAQfibAiFo+HD89emNystS5ZeFX81PVW
lkjJ0jSrr3Yrqr1xEnw9PZVgW1etp+pv9GyyxXph0nU+Adu5X4wmC7x1
-----END PRIVATE KEY-----
";
        assert!(matches!(
            PrivateKey::from_pkcs8_pem(p256),
            Err(CryptoError::Encoding(
                EncodingError::UnsupportedAlgorithm { .. }
            ))
        ));
    }

    #[test]
    fn key_file_is_created_0600_and_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.key");
        let key = PrivateKey::generate();
        key.write_pkcs8_pem_file(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let again = PrivateKey::read_pkcs8_pem_file(&path).unwrap();
        assert_eq!(again.public_key(), key.public_key());
        let err = PrivateKey::generate()
            .write_pkcs8_pem_file(&path)
            .unwrap_err();
        assert_eq!(
            err,
            CryptoError::Io {
                path: path.clone(),
                kind: std::io::ErrorKind::AlreadyExists
            }
        );
        let missing = dir.path().join("missing.key");
        assert!(matches!(
            PrivateKey::read_pkcs8_pem_file(&missing),
            Err(CryptoError::Io {
                kind: std::io::ErrorKind::NotFound,
                ..
            })
        ));
    }

    #[test]
    fn a_certificate_is_read_only_with_its_own_key() {
        use crate::x509::{self, Certificate, CertificateParams, SubjectName};
        let dir = tempfile::tempdir().unwrap();
        let key = PrivateKey::generate();
        let subject = SubjectName {
            common_name: "ca.test".to_owned(),
            organization: None,
            organizational_units: Vec::new(),
            country: None,
        };
        let params = CertificateParams::ca(subject, None, 0, 4_000_000_000).unwrap();
        let cert = x509::self_signed(&params, &key).unwrap();
        let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
        std::fs::write(&cert_path, cert.to_pem()).unwrap();
        key.write_pkcs8_pem_file(&key_path).unwrap();
        let (read_cert, read_key) = Certificate::read_with_key(&cert_path, &key_path).unwrap();
        assert_eq!(read_cert.der(), cert.der());
        assert_eq!(read_key.public_key(), key.public_key());
        let other_path = dir.path().join("other.pem");
        PrivateKey::generate()
            .write_pkcs8_pem_file(&other_path)
            .unwrap();
        assert_eq!(
            Certificate::read_with_key(&cert_path, &other_path).map(|_| ()),
            Err(CryptoError::KeyMismatch {
                key: other_path,
                cert: cert_path
            })
        );
    }
}
