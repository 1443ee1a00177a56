//! SM4 (GB/T 32907): SM4-GCM for settlement reports and TLS records, SM4-CBC with PKCS#7
//! padding for interoperability with tools that only have CBC (OpenSSL 3.0's `enc`).

use cbc::cipher::{BlockModeDecrypt as _, BlockModeEncrypt as _, KeyIvInit as _};
use core::fmt;
use subtle::ConstantTimeEq as _;
use zeroize::Zeroize;

use crate::CryptoError;
use crate::sm4gcm::Sm4GcmKey;

/// SM4 key length.
pub const SM4_KEY_BYTES: usize = 16;
/// SM4 block length (also the CBC IV length).
pub const SM4_BLOCK_BYTES: usize = 16;
/// SM4-GCM nonce length (RFC 8998 §3.1 fixes 12 bytes).
pub const GCM_NONCE_BYTES: usize = 12;
/// SM4-GCM tag length (RFC 8998 §3.1 fixes 16 bytes).
pub const GCM_TAG_BYTES: usize = 16;

type Sm4CbcEnc = cbc::Encryptor<sm4::Sm4>;
type Sm4CbcDec = cbc::Decryptor<sm4::Sm4>;

/// A 16-byte SM4 key, wiped when dropped, never printed, compared in constant time.
#[derive(Clone)]
pub struct Sm4Key([u8; SM4_KEY_BYTES]);

impl Sm4Key {
    /// A fresh random key from the OS RNG.
    pub fn generate() -> Result<Self, CryptoError> {
        let mut key = [0u8; SM4_KEY_BYTES];
        random_bytes(&mut key)?;
        Ok(Sm4Key(key))
    }

    /// From exactly 16 bytes.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, CryptoError> {
        let key: [u8; SM4_KEY_BYTES] =
            bytes.try_into().map_err(|_| CryptoError::InvalidLength {
                what: "SM4 key",
                expected: SM4_KEY_BYTES,
                actual: bytes.len(),
            })?;
        Ok(Sm4Key(key))
    }

    /// The key bytes.
    pub fn as_bytes(&self) -> &[u8; SM4_KEY_BYTES] {
        &self.0
    }
}

/// Equality takes the same time whichever byte differs: a comparison that stopped at the
/// first differing byte would tell someone who can time it (a counterparty submitting
/// guessed keys) how many leading bytes of a key they got right.
impl PartialEq for Sm4Key {
    fn eq(&self, other: &Self) -> bool {
        self.0[..].ct_eq(&other.0[..]).into()
    }
}

impl Eq for Sm4Key {}

impl Drop for Sm4Key {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl fmt::Debug for Sm4Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Sm4Key(..)")
    }
}

/// Fill `out` from the operating system's RNG.
pub fn random_bytes(out: &mut [u8]) -> Result<(), CryptoError> {
    getrandom::fill(out).map_err(|_| CryptoError::Rng)
}

/// SM4-GCM encrypt: returns `ciphertext ‖ tag` (16-byte tag). For many messages under one
/// key (TLS records), build an [`Sm4GcmKey`] once instead.
pub fn gcm_seal(
    key: &Sm4Key,
    nonce: &[u8; GCM_NONCE_BYTES],
    aad: &[u8],
    plaintext: &[u8],
) -> Vec<u8> {
    let mut buffer = Vec::with_capacity(plaintext.len().saturating_add(GCM_TAG_BYTES));
    buffer.extend_from_slice(plaintext);
    let tag = Sm4GcmKey::new(key)
        .seal_in_place_detached(nonce, aad, &mut buffer)
        .expect("SM4-GCM encryption of an in-memory buffer cannot fail below 64 GiB");
    buffer.extend_from_slice(&tag);
    buffer
}

/// SM4-GCM decrypt `ciphertext ‖ tag`. Any tampering, or a wrong key, nonce or AAD, gives
/// [`CryptoError::AuthenticationFailed`] and no plaintext.
pub fn gcm_open(
    key: &Sm4Key,
    nonce: &[u8; GCM_NONCE_BYTES],
    aad: &[u8],
    sealed: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    let Some(body_len) = sealed.len().checked_sub(GCM_TAG_BYTES) else {
        return Err(CryptoError::AuthenticationFailed);
    };
    let (body, tag) = sealed.split_at(body_len);
    let tag: &[u8; GCM_TAG_BYTES] = tag
        .try_into()
        .map_err(|_| CryptoError::AuthenticationFailed)?;
    let mut buffer = body.to_vec();
    Sm4GcmKey::new(key).open_in_place_detached(nonce, aad, &mut buffer, tag)?;
    Ok(buffer)
}

/// SM4-CBC encrypt with PKCS#7 padding; matches `openssl enc -sm4-cbc -K .. -iv ..`.
pub fn cbc_encrypt(key: &Sm4Key, iv: &[u8; SM4_BLOCK_BYTES], plaintext: &[u8]) -> Vec<u8> {
    Sm4CbcEnc::new(key.as_bytes().into(), iv.into())
        .encrypt_padded_vec::<cbc::cipher::block_padding::Pkcs7>(plaintext)
}

/// SM4-CBC decrypt and strip PKCS#7 padding. CBC is not authenticated: use it only where
/// another check (a signature, a digest) covers the plaintext.
pub fn cbc_decrypt(
    key: &Sm4Key,
    iv: &[u8; SM4_BLOCK_BYTES],
    ciphertext: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    Sm4CbcDec::new(key.as_bytes().into(), iv.into())
        .decrypt_padded_vec::<cbc::cipher::block_padding::Pkcs7>(ciphertext)
        .map_err(|_| CryptoError::BadPadding)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(hex_key: &str) -> Sm4Key {
        Sm4Key::from_slice(&hex::decode(hex_key).unwrap()).unwrap()
    }

    // GB/T 32907-2016 Appendix A example 1: one block, no padding; CBC with a zero IV
    // reduces to ECB for the first block, so the first 16 bytes must match.
    #[test]
    fn gbt_32907_example_1() {
        let k = key("0123456789abcdeffedcba9876543210");
        let pt = hex::decode("0123456789abcdeffedcba9876543210").unwrap();
        let ct = cbc_encrypt(&k, &[0u8; 16], &pt);
        assert_eq!(hex::encode(&ct[..16]), "681edf34d206965e86b3e94f536e4246");
        assert_eq!(ct.len(), 32, "PKCS#7 adds a full block");
        assert_eq!(cbc_decrypt(&k, &[0u8; 16], &ct).unwrap(), pt);
    }

    // RFC 8998 Appendix A.1 SM4-GCM test vector.
    #[test]
    fn rfc8998_sm4_gcm_vector() {
        let k = key("0123456789ABCDEFFEDCBA9876543210");
        let nonce: [u8; 12] = hex::decode("00001234567800000000ABCD")
            .unwrap()
            .try_into()
            .unwrap();
        let aad = hex::decode("FEEDFACEDEADBEEFFEEDFACEDEADBEEFABADDAD2").unwrap();
        let pt = hex::decode(
            "AAAAAAAAAAAAAAAABBBBBBBBBBBBBBBBCCCCCCCCCCCCCCCCDDDDDDDDDDDDDDDD\
             EEEEEEEEEEEEEEEEFFFFFFFFFFFFFFFFEEEEEEEEEEEEEEEEAAAAAAAAAAAAAAAA",
        )
        .unwrap();
        let sealed = gcm_seal(&k, &nonce, &aad, &pt);
        let expected_ct = "17F399F08C67D5EE19D0DC9969C4BB7D5FD46FD3756489069157B282BB200735\
                           D82710CA5C22F0CCFA7CBF93D496AC15A56834CBCF98C397B4024A2691233B8D";
        let expected_tag = "83DE3541E4C2B58177E065A9BF7B62EC";
        assert_eq!(hex::encode_upper(&sealed[..pt.len()]), expected_ct);
        assert_eq!(hex::encode_upper(&sealed[pt.len()..]), expected_tag);
        assert_eq!(gcm_open(&k, &nonce, &aad, &sealed).unwrap(), pt);
    }

    #[test]
    fn gcm_rejects_tampering() {
        let k = Sm4Key::generate().unwrap();
        let nonce = [7u8; 12];
        let sealed = gcm_seal(&k, &nonce, b"aad", b"report bytes");
        for idx in 0..sealed.len() {
            let mut bad = sealed.clone();
            bad[idx] ^= 1;
            assert_eq!(
                gcm_open(&k, &nonce, b"aad", &bad),
                Err(CryptoError::AuthenticationFailed)
            );
        }
        assert_eq!(
            gcm_open(&k, &[8u8; 12], b"aad", &sealed),
            Err(CryptoError::AuthenticationFailed)
        );
        assert_eq!(
            gcm_open(&k, &nonce, b"other", &sealed),
            Err(CryptoError::AuthenticationFailed)
        );
        let other = Sm4Key::generate().unwrap();
        assert_eq!(
            gcm_open(&other, &nonce, b"aad", &sealed),
            Err(CryptoError::AuthenticationFailed)
        );
        assert_eq!(
            gcm_open(&k, &nonce, b"aad", &sealed[..10]),
            Err(CryptoError::AuthenticationFailed)
        );
    }

    /// Equal exactly when every byte is, wherever the difference is; the comparison goes
    /// through `subtle` (no early exit), so this checks the answers, not the timing.
    #[test]
    fn key_equality_is_bytewise() {
        let base = [0x5au8; SM4_KEY_BYTES];
        let k = Sm4Key(base);
        assert_eq!(k, Sm4Key(base));
        assert_eq!(k, k.clone());
        for index in 0..SM4_KEY_BYTES {
            for bit in 0..8 {
                let mut other = base;
                other[index] ^= 1 << bit;
                assert_ne!(k, Sm4Key(other), "byte {index} bit {bit}");
            }
        }
        assert_ne!(Sm4Key::generate().unwrap(), Sm4Key::generate().unwrap());
    }

    #[test]
    fn cbc_rejects_bad_length() {
        let k = Sm4Key::generate().unwrap();
        assert_eq!(
            cbc_decrypt(&k, &[0u8; 16], &[1u8; 15]),
            Err(CryptoError::BadPadding)
        );
    }
}
