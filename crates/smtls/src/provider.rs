//! The rustls `CryptoProvider` for RFC 8998: one cipher suite, one group, one signature
//! scheme. Because the provider lists nothing else, rustls can negotiate nothing else;
//! a peer that offers only AES/ECDSA/X25519 finds no overlap and the handshake fails.

use std::sync::Arc;

use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};

use crate::kx::CURVE_SM2_GROUP;
use crate::sign::{OS_RANDOM, SM2_KEY_PROVIDER};
use crate::suite::TLS13_SM4_GCM_SM3;

/// rustls's WebPKI verifiers are never used with this provider: SM2 needs the signer ID
/// to differ between certificates (default ID) and handshakes (RFC 8998 ID), which a
/// single WebPKI algorithm cannot express, and webpki cannot parse SM2 keys anyway. The
/// table is left empty so that if someone plugs a WebPKI verifier in by mistake it
/// rejects every signature instead of checking the wrong thing. Our own verifiers in
/// `verify.rs` do all certificate and handshake-signature checks.
static NO_WEBPKI_ALGORITHMS: WebPkiSupportedAlgorithms = WebPkiSupportedAlgorithms {
    all: &[],
    mapping: &[],
};

/// The SM-only provider: `TLS_SM4_GCM_SM3`, `curveSM2`, `sm2sig_sm3`, SM2 PKCS#8 keys,
/// the OS RNG.
pub fn provider() -> CryptoProvider {
    CryptoProvider {
        cipher_suites: vec![TLS13_SM4_GCM_SM3],
        kx_groups: vec![&CURVE_SM2_GROUP],
        signature_verification_algorithms: NO_WEBPKI_ALGORITHMS,
        secure_random: &OS_RANDOM,
        key_provider: &SM2_KEY_PROVIDER,
    }
}

/// [`provider`] behind the `Arc` rustls's config builders take.
pub fn provider_arc() -> Arc<CryptoProvider> {
    Arc::new(provider())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::suite::{CURVE_SM2, TLS_SM4_GCM_SM3};

    #[test]
    fn offers_exactly_the_rfc8998_algorithms() {
        let p = provider();
        let suites: Vec<_> = p.cipher_suites.iter().map(|s| s.suite()).collect();
        assert_eq!(suites, vec![TLS_SM4_GCM_SM3]);
        let groups: Vec<_> = p.kx_groups.iter().map(|g| g.name()).collect();
        assert_eq!(groups, vec![CURVE_SM2]);
        assert!(p.cipher_suites.iter().all(|s| s.tls13().is_some()));
        assert!(!p.fips());
    }
}
