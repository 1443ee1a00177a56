//! The RFC 8998 algorithm identifiers and the one TLS 1.3 cipher suite,
//! `TLS_SM4_GCM_SM3`, with its SM3 transcript hash and HMAC-SM3–based HKDF.
//!
//! rustls has no names for the SM code points, so they are spelled as `Unknown(..)`
//! values; rustls treats those as opaque numbers and only compares them, which is all a
//! provider needs.

use rustls::crypto::hash::{self, HashAlgorithm};
use rustls::crypto::hmac;
use rustls::crypto::tls13::HkdfUsingHmac;
use rustls::{
    CipherSuite, CipherSuiteCommon, NamedGroup, SignatureScheme, SupportedCipherSuite,
    Tls13CipherSuite,
};

use netsettle_smcrypto::{HmacSm3Key, Sm3Hasher};

use crate::aead::SM4_GCM;

/// `TLS_SM4_GCM_SM3` {0x00, 0xC6} (RFC 8998 §2).
pub const TLS_SM4_GCM_SM3: CipherSuite = CipherSuite::Unknown(0x00C6);

/// `curveSM2` (41): ECDHE on the SM2 curve (RFC 8998 §2).
pub const CURVE_SM2: NamedGroup = NamedGroup::Unknown(0x0029);

/// `sm2sig_sm3` {0x07, 0x08}: SM2 signatures over SM3 (RFC 8998 §2).
pub const SM2SIG_SM3: SignatureScheme = SignatureScheme::Unknown(0x0708);

/// SM3 has no code point in the (closed) TLS 1.2 HashAlgorithm registry. rustls only
/// compares this value between suites (for resumption) and looks up precomputed
/// empty-input digests, which it then computes itself for unknown values. The value is
/// taken from the private-use range (224–255) so it can never alias a real algorithm.
const SM3_HASH_ALGORITHM: HashAlgorithm = HashAlgorithm::Unknown(0xE0);

/// SM3 digest length.
const SM3_OUTPUT_BYTES: usize = 32;

/// The single cipher suite this crate offers and accepts.
pub static TLS13_SM4_GCM_SM3: SupportedCipherSuite = SupportedCipherSuite::Tls13(&SUITE);

static SUITE: Tls13CipherSuite = Tls13CipherSuite {
    common: CipherSuiteCommon {
        suite: TLS_SM4_GCM_SM3,
        hash_provider: &SM3,
        // SM4 is a 128-bit block cipher, so the GCM bound for AES applies unchanged:
        // 2^24 full-size records per key keeps the distinguishing advantage near 2^-60.
        confidentiality_limit: 1 << 24,
    },
    hkdf_provider: &HKDF_SM3,
    aead_alg: &SM4_GCM,
    // QUIC is not used in netsettle and RFC 8998 defines no QUIC header protection.
    quic: None,
};

pub(crate) static HKDF_SM3: HkdfUsingHmac<'static> = HkdfUsingHmac(&HMAC_SM3);

/// SM3 as rustls's transcript hash.
pub(crate) struct Sm3;

pub(crate) static SM3: Sm3 = Sm3;

impl hash::Hash for Sm3 {
    fn start(&self) -> Box<dyn hash::Context> {
        Box::new(Sm3Context(Sm3Hasher::new()))
    }

    fn hash(&self, data: &[u8]) -> hash::Output {
        hash::Output::new(netsettle_smcrypto::sm3(data).as_bytes())
    }

    fn output_len(&self) -> usize {
        SM3_OUTPUT_BYTES
    }

    fn algorithm(&self) -> HashAlgorithm {
        SM3_HASH_ALGORITHM
    }
}

struct Sm3Context(Sm3Hasher);

impl hash::Context for Sm3Context {
    fn fork_finish(&self) -> hash::Output {
        hash::Output::new(self.0.clone().finalize().as_bytes())
    }

    fn fork(&self) -> Box<dyn hash::Context> {
        Box::new(Sm3Context(self.0.clone()))
    }

    fn finish(self: Box<Self>) -> hash::Output {
        hash::Output::new(self.0.finalize().as_bytes())
    }

    fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }
}

/// HMAC-SM3, from which rustls derives HKDF-SM3 for the key schedule.
pub(crate) struct HmacSm3;

pub(crate) static HMAC_SM3: HmacSm3 = HmacSm3;

impl hmac::Hmac for HmacSm3 {
    fn with_key(&self, key: &[u8]) -> Box<dyn hmac::Key> {
        Box::new(HmacSm3KeyAdapter(HmacSm3Key::new(key)))
    }

    fn hash_output_len(&self) -> usize {
        SM3_OUTPUT_BYTES
    }
}

struct HmacSm3KeyAdapter(HmacSm3Key);

impl hmac::Key for HmacSm3KeyAdapter {
    fn sign_concat(&self, first: &[u8], middle: &[&[u8]], last: &[u8]) -> hmac::Tag {
        let mut parts: Vec<&[u8]> = Vec::with_capacity(middle.len().saturating_add(2));
        parts.push(first);
        parts.extend_from_slice(middle);
        parts.push(last);
        hmac::Tag::new(&self.0.tag(&parts))
    }

    fn tag_len(&self) -> usize {
        SM3_OUTPUT_BYTES
    }
}

#[cfg(test)]
mod tests {
    use rustls::crypto::hash::Hash as _;
    use rustls::crypto::hmac::Hmac as _;
    use rustls::crypto::tls13::{Hkdf as _, expand};

    use super::*;

    #[test]
    fn code_points_are_rfc8998() {
        assert_eq!(u16::from(TLS_SM4_GCM_SM3), 0x00C6);
        assert_eq!(u16::from(CURVE_SM2), 41);
        assert_eq!(u16::from(SM2SIG_SM3), 0x0708);
        assert_eq!(TLS13_SM4_GCM_SM3.suite(), TLS_SM4_GCM_SM3);
        // rustls must not already know these numbers under another name, or it would
        // canonicalise them and our `Unknown` constants would never compare equal.
        assert_eq!(CipherSuite::from(0x00C6), TLS_SM4_GCM_SM3);
        assert_eq!(NamedGroup::from(0x0029), CURVE_SM2);
        assert_eq!(SignatureScheme::from(0x0708), SM2SIG_SM3);
        assert_eq!(HashAlgorithm::from(0xE0), SM3_HASH_ALGORITHM);
    }

    #[test]
    fn transcript_hash_is_sm3_and_forks() {
        // GB/T 32905 example 1.
        let expected = "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0";
        let mut ctx = SM3.start();
        ctx.update(b"a");
        let fork = ctx.fork();
        ctx.update(b"bc");
        assert_eq!(hex(ctx.fork_finish().as_ref()), expected);
        assert_eq!(hex(ctx.finish().as_ref()), expected);
        assert_eq!(hex(fork.finish().as_ref()), hex(SM3.hash(b"a").as_ref()));
        assert_eq!(hex(SM3.hash(b"abc").as_ref()), expected);
    }

    #[test]
    fn hmac_concat_matches_one_shot() {
        let key = HMAC_SM3.with_key(b"key");
        let tag = key.sign_concat(
            b"The quick ",
            &[b"brown fox ", b"jumps over "],
            b"the lazy dog",
        );
        // Cross-checked with `openssl dgst -sm3 -hmac key`.
        assert_eq!(
            hex(tag.as_ref()),
            "bd4a34077888162b210645b8ebf74b9af357303789357a27c7fc457244ebd398"
        );
    }

    #[test]
    fn hkdf_sm3_matches_rfc5869_construction() {
        // HKDF written out over HMAC-SM3 (RFC 5869 §2.2–2.3), so the key schedule's
        // extract/expand is checked against an independent composition.
        let salt = b"salt";
        let ikm = b"input keying material";
        let info = b"tls13 derived";
        let prk = netsettle_smcrypto::hmac_sm3(salt, ikm);
        let t1 = netsettle_smcrypto::HmacSm3Key::new(&prk).tag(&[info, &[1u8]]);
        let t2 = netsettle_smcrypto::HmacSm3Key::new(&prk).tag(&[&t1, info, &[2u8]]);
        let expected: Vec<u8> = [t1, t2].concat().into_iter().take(48).collect();

        let expander = HKDF_SM3.extract_from_secret(Some(salt), ikm);
        let okm: [u8; 48] = expand(expander.as_ref(), &[info]);
        assert_eq!(okm.to_vec(), expected);
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }
}
