//! HMAC-SM3 (RFC 2104 with SM3 as the hash): the PRF behind HKDF in the RFC 8998 TLS 1.3
//! key schedule, and a general keyed MAC for the rest of netsettle.
//!
//! The keyed state (inner and outer pads already absorbed) is computed once in
//! [`HmacSm3Key::new`] and cloned per message, because the TLS key schedule computes many
//! MACs under the same key.

use core::fmt;

use hmac::{KeyInit as _, Mac as _};

/// Length of an HMAC-SM3 tag (the SM3 digest length).
pub const HMAC_SM3_TAG_BYTES: usize = 32;

type HmacSm3 = hmac::Hmac<sm3::Sm3>;

/// An HMAC-SM3 key, ready to authenticate any number of messages. Never printed.
#[derive(Clone)]
pub struct HmacSm3Key {
    keyed: HmacSm3,
}

impl HmacSm3Key {
    /// Key HMAC-SM3 with `key` of any length (HMAC hashes keys longer than a block).
    pub fn new(key: &[u8]) -> Self {
        // HMAC accepts keys of every length, so `new_from_slice` cannot fail here; falling
        // back to hashing the key ourselves would change the MAC, so there is no fallback.
        let keyed = HmacSm3::new_from_slice(key)
            .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
        HmacSm3Key { keyed }
    }

    /// The tag over the concatenation of `parts`, without building the concatenation.
    pub fn tag(&self, parts: &[&[u8]]) -> [u8; HMAC_SM3_TAG_BYTES] {
        let mut mac = self.keyed.clone();
        for part in parts {
            mac.update(part);
        }
        mac.finalize().into_bytes().into()
    }

    /// Check `tag` over the concatenation of `parts` in constant time.
    pub fn verify(&self, parts: &[&[u8]], tag: &[u8]) -> bool {
        let mut mac = self.keyed.clone();
        for part in parts {
            mac.update(part);
        }
        mac.verify_slice(tag).is_ok()
    }
}

/// One-shot HMAC-SM3 of `message` under `key`.
pub fn hmac_sm3(key: &[u8], message: &[u8]) -> [u8; HMAC_SM3_TAG_BYTES] {
    HmacSm3Key::new(key).tag(&[message])
}

impl fmt::Debug for HmacSm3Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HmacSm3Key(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 2104 HMAC written out over our own SM3, to check the `hmac` crate's
    /// construction independently (no published HMAC-SM3 vectors ship with GB/T 32905).
    fn reference_hmac(key: &[u8], message: &[u8]) -> [u8; 32] {
        const BLOCK: usize = 64;
        let mut k0 = [0u8; BLOCK];
        if key.len() > BLOCK {
            k0[..32].copy_from_slice(crate::sm3(key).as_bytes());
        } else {
            k0[..key.len()].copy_from_slice(key);
        }
        let mut inner = crate::Sm3Hasher::new();
        inner.update(&k0.map(|b| b ^ 0x36));
        inner.update(message);
        let inner = inner.finalize();
        let mut outer = crate::Sm3Hasher::new();
        outer.update(&k0.map(|b| b ^ 0x5c));
        outer.update(inner.as_bytes());
        outer.finalize().0
    }

    #[test]
    fn matches_rfc2104_construction() {
        for key_len in [0usize, 1, 16, 32, 63, 64, 65, 200] {
            let key: Vec<u8> = (0..key_len).map(|i| (i * 7 + 3) as u8).collect();
            for message in [&b""[..], b"abc", &[0x5au8; 1000]] {
                assert_eq!(
                    hmac_sm3(&key, message),
                    reference_hmac(&key, message),
                    "key_len {key_len}"
                );
            }
        }
    }

    // Cross-checked with `openssl dgst -sm3 -hmac key` and python `hmac.new(.., "sm3")`.
    #[test]
    fn known_answer() {
        let tag = hmac_sm3(b"key", b"The quick brown fox jumps over the lazy dog");
        assert_eq!(
            hex::encode(tag),
            "bd4a34077888162b210645b8ebf74b9af357303789357a27c7fc457244ebd398"
        );
    }

    #[test]
    fn parts_equal_concatenation_and_verify() {
        let key = HmacSm3Key::new(b"settlement key");
        let tag = key.tag(&[b"2026", b"-10"]);
        assert_eq!(tag, key.tag(&[b"2026-10"]));
        assert!(key.verify(&[b"2026-10"], &tag));
        assert!(!key.verify(&[b"2026-11"], &tag));
        assert!(!key.verify(&[b"2026-10"], &tag[..31]));
    }
}
