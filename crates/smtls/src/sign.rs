//! Handshake signatures: the `sm2sig_sm3` signing key rustls asks to sign
//! `CertificateVerify`, the key loader, and the RNG rustls draws randoms from.
//!
//! RFC 8998 §3.2.1 fixes the SM2 signer ID for TLS 1.3 handshake signatures to
//! `TLSv1.3+GM+Cipher+Suite` ([`TLS13_DIST_ID`]); certificates keep the GM/T 0009 default
//! ID. Signing here therefore always passes the TLS ID explicitly.

use std::sync::Arc;

use rustls::crypto::{GetRandomFailed, KeyProvider, SecureRandom};
use rustls::pki_types::{PrivateKeyDer, SubjectPublicKeyInfoDer};
use rustls::sign::{Signer, SigningKey};
use rustls::{Error, SignatureAlgorithm, SignatureScheme};

use netsettle_smcrypto::{PrivateKey, TLS13_DIST_ID, random_bytes};

use crate::suite::SM2SIG_SM3;

/// SM2 has no code point in TLS 1.2's SignatureAlgorithm registry. rustls consults this
/// value only to filter TLS 1.2 cipher suites, and this provider has none; a private-use
/// value (224–255) keeps it from aliasing a real algorithm.
const SM2_SIGNATURE_ALGORITHM: SignatureAlgorithm = SignatureAlgorithm::Unknown(0xE0);

/// An SM2 private key that signs TLS 1.3 handshakes with `sm2sig_sm3`.
#[derive(Debug)]
pub(crate) struct Sm2SigningKey {
    key: Arc<PrivateKey>,
    spki_der: Vec<u8>,
}

impl Sm2SigningKey {
    pub(crate) fn new(key: PrivateKey) -> Self {
        let spki_der = key.public_key().to_spki_der();
        Sm2SigningKey {
            key: Arc::new(key),
            spki_der,
        }
    }
}

impl SigningKey for Sm2SigningKey {
    fn choose_scheme(&self, offered: &[SignatureScheme]) -> Option<Box<dyn Signer>> {
        if !offered.contains(&SM2SIG_SM3) {
            return None;
        }
        Some(Box::new(Sm2Signer {
            key: Arc::clone(&self.key),
        }))
    }

    fn public_key(&self) -> Option<SubjectPublicKeyInfoDer<'_>> {
        Some(SubjectPublicKeyInfoDer::from(self.spki_der.as_slice()))
    }

    fn algorithm(&self) -> SignatureAlgorithm {
        SM2_SIGNATURE_ALGORITHM
    }
}

#[derive(Debug)]
struct Sm2Signer {
    key: Arc<PrivateKey>,
}

impl Signer for Sm2Signer {
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, Error> {
        let signature = self
            .key
            .sign_with_id(TLS13_DIST_ID, message)
            .map_err(|err| Error::General(format!("SM2 handshake signature failed: {err}")))?;
        Ok(signature.as_der().to_vec())
    }

    fn scheme(&self) -> SignatureScheme {
        SM2SIG_SM3
    }
}

/// Loads SM2 private keys (PKCS#8, as `openssl genpkey` writes them) for rustls.
#[derive(Debug)]
pub(crate) struct Sm2KeyProvider;

pub(crate) static SM2_KEY_PROVIDER: Sm2KeyProvider = Sm2KeyProvider;

impl KeyProvider for Sm2KeyProvider {
    fn load_private_key(
        &self,
        key_der: PrivateKeyDer<'static>,
    ) -> Result<Arc<dyn SigningKey>, Error> {
        let PrivateKeyDer::Pkcs8(pkcs8) = key_der else {
            return Err(Error::General(
                "only PKCS#8 SM2 private keys are supported".into(),
            ));
        };
        let key = PrivateKey::from_pkcs8_der(pkcs8.secret_pkcs8_der())
            .map_err(|err| Error::General(format!("not an SM2 PKCS#8 private key: {err}")))?;
        Ok(Arc::new(Sm2SigningKey::new(key)))
    }
}

/// The operating system's RNG, through smcrypto.
#[derive(Debug)]
pub(crate) struct OsRandom;

pub(crate) static OS_RANDOM: OsRandom = OsRandom;

impl SecureRandom for OsRandom {
    fn fill(&self, buf: &mut [u8]) -> Result<(), GetRandomFailed> {
        random_bytes(buf).map_err(|_| GetRandomFailed)
    }
}

#[cfg(test)]
mod tests {
    use rustls::pki_types::PrivatePkcs8KeyDer;

    use super::*;
    use netsettle_smcrypto::Signature;

    #[test]
    fn signs_with_the_rfc8998_id_only_when_offered() {
        let key = PrivateKey::generate();
        let public = key.public_key().clone();
        let signing = Sm2SigningKey::new(key);
        assert!(
            signing
                .choose_scheme(&[SignatureScheme::ECDSA_NISTP256_SHA256])
                .is_none()
        );
        let signer = signing
            .choose_scheme(&[SignatureScheme::ED25519, SM2SIG_SM3])
            .unwrap();
        assert_eq!(signer.scheme(), SM2SIG_SM3);
        let der = signer.sign(b"transcript").unwrap();
        let signature = Signature::from_der(&der).unwrap();
        assert_eq!(
            public.verify_with_id(TLS13_DIST_ID, b"transcript", &signature),
            Ok(())
        );
        // A certificate-style (default ID) verification must fail: the ID is bound.
        assert!(public.verify(b"transcript", &signature).is_err());
    }

    #[test]
    fn key_provider_loads_pkcs8_and_rejects_garbage() {
        let key = PrivateKey::generate();
        let der = key.to_pkcs8_der();
        let loaded = SM2_KEY_PROVIDER
            .load_private_key(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(der.to_vec())))
            .unwrap();
        assert_eq!(
            loaded.public_key().unwrap().as_ref(),
            key.public_key().to_spki_der().as_slice()
        );
        let garbage =
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(vec![0x30, 0x03, 0x02, 0x01, 0x00]));
        assert!(SM2_KEY_PROVIDER.load_private_key(garbage).is_err());
    }

    #[test]
    fn random_fills() {
        let mut a = [0u8; 32];
        let mut b = [0u8; 32];
        OS_RANDOM.fill(&mut a).unwrap();
        OS_RANDOM.fill(&mut b).unwrap();
        assert_ne!(a, b);
    }
}
