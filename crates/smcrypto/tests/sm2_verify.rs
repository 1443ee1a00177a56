//! Differential tests of the variable-time SM2 verifier (`PublicKey::verify*` and its two
//! internal paths: one-off key and shared key cache) against the `sm2`
//! crate's constant-time verifier, over many random keys, messages and signatures, valid
//! and invalid. The cross-checks with the system OpenSSL are in `openssl.rs`.
//!
//! Every case signs once with the `sm2` crate and then verifies a dozen variants, each on
//! both paths, so a run covers well over 100,000 verifications in a few seconds.
//! Variants built by corrupting a valid signature are invalid by construction (a forgery
//! by accident has probability ~2^-256); a sample of cases is also re-verified by the
//! `sm2` crate, which must agree on every variant.

use std::sync::OnceLock;

use netsettle_smcrypto::{
    CryptoError, DEFAULT_DIST_ID, PrivateKey, PublicKey, Signature, Sm3Hasher, TLS13_DIST_ID,
    verify_prehashed_every_path,
};
use proptest::prelude::*;

/// The group order n, big-endian.
const N: [u8; 32] = [
    0xff, 0xff, 0xff, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0x72, 0x03, 0xdf, 0x6b, 0x21, 0xc6, 0x05, 0x2b, 0x53, 0xbb, 0xf4, 0x09, 0x39, 0xd5, 0x41, 0x23,
];

/// Signers that recur, as a channel's client, endorsers and orderers do: their keys get
/// cached tables after the second verification.
fn recurring_keys() -> &'static [PrivateKey] {
    static KEYS: OnceLock<Vec<PrivateKey>> = OnceLock::new();
    KEYS.get_or_init(|| (0..8).map(|_| PrivateKey::generate()).collect())
}

fn coordinates(key: &PublicKey) -> [u8; 64] {
    key.to_sec1_uncompressed()[1..].try_into().unwrap()
}

fn e_value(key: &PublicKey, dist_id: &str, message: &[u8]) -> [u8; 32] {
    let mut hasher = Sm3Hasher::new();
    hasher.update(key.z_value(dist_id).unwrap().as_bytes());
    hasher.update(message);
    *hasher.finalize().as_bytes()
}

/// 256-bit big-endian a − b (wrapping).
fn sub_be(a: &[u8; 32], b: &[u8; 32]) -> [u8; 32] {
    let mut out = [0u8; 32];
    let mut borrow = 0i16;
    for idx in (0..32).rev() {
        let mut d = i16::from(a[idx]) - i16::from(b[idx]) - borrow;
        borrow = i16::from(d < 0);
        if d < 0 {
            d += 256;
        }
        out[idx] = u8::try_from(d).unwrap();
    }
    out
}

fn split(raw: &[u8; 64]) -> ([u8; 32], [u8; 32]) {
    (raw[..32].try_into().unwrap(), raw[32..].try_into().unwrap())
}

fn join(r: &[u8; 32], s: &[u8; 32]) -> [u8; 64] {
    let mut out = [0u8; 64];
    out[..32].copy_from_slice(r);
    out[32..].copy_from_slice(s);
    out
}

/// One invalid variant: which key, hashed message and raw signature to try.
struct Variant {
    name: &'static str,
    key: [u8; 64],
    e: [u8; 32],
    raw: [u8; 64],
}

/// Invalid variants of a valid (key, message, signature).
fn invalid_variants(
    key: &PublicKey,
    other: &PublicKey,
    message: &[u8],
    raw: &[u8; 64],
    flip_bit: usize,
) -> Vec<Variant> {
    let xy = coordinates(key);
    let e = e_value(key, DEFAULT_DIST_ID, message);
    let (r, s) = split(raw);
    let byte = flip_bit / 8 % 32;
    let mask = 1u8 << (flip_bit % 8);
    let mut flipped_message = message.to_vec();
    if let Some(first) = flipped_message.get_mut(flip_bit / 8 % message.len().max(1)) {
        *first ^= mask;
    } else {
        flipped_message.push(1);
    }
    let mut r_flipped = r;
    r_flipped[byte] ^= mask;
    let mut s_flipped = s;
    s_flipped[byte] ^= mask;
    let mut off_curve = xy;
    off_curve[32 + byte] ^= mask;
    let variant = |name, key, e, raw| Variant { name, key, e, raw };
    vec![
        variant(
            "message bit flipped",
            xy,
            e_value(key, DEFAULT_DIST_ID, &flipped_message),
            *raw,
        ),
        variant(
            "TLS signer ID",
            xy,
            e_value(key, TLS13_DIST_ID, message),
            *raw,
        ),
        variant("r bit flipped", xy, e, join(&r_flipped, &s)),
        variant("s bit flipped", xy, e, join(&r, &s_flipped)),
        variant("r and s swapped", xy, e, join(&s, &r)),
        variant(
            "other key",
            coordinates(other),
            e_value(other, DEFAULT_DIST_ID, message),
            *raw,
        ),
        variant("off-curve key", off_curve, e, *raw),
        variant("infinity key", [0u8; 64], e, *raw),
        variant("r = 0", xy, e, join(&[0; 32], &s)),
        variant("s = 0", xy, e, join(&r, &[0; 32])),
        variant("r = n", xy, e, join(&N, &s)),
        variant("s = n", xy, e, join(&r, &N)),
        variant("r = 2^256 - 1", xy, e, join(&[0xff; 32], &s)),
        variant("r + s = n", xy, e, join(&r, &sub_be(&N, &r))),
    ]
}

/// The `sm2` crate's verdict on a raw variant, through the public key types; keys it
/// cannot parse (off-curve, infinity) count as rejected.
fn reference_accepts(variant: &Variant, message: &[u8]) -> bool {
    let mut sec1 = [4u8; 65];
    sec1[1..].copy_from_slice(&variant.key);
    let Ok(key) = PublicKey::from_sec1(&sec1) else {
        return false;
    };
    let Ok(signature) = Signature::from_raw(&variant.raw) else {
        return false;
    };
    key.verify_with_id_sm2_crate(DEFAULT_DIST_ID, message, &signature)
        .is_ok()
}

fn check_case(
    signer: &PrivateKey,
    other: &PublicKey,
    message: &[u8],
    flip_bit: usize,
    reference: bool,
) {
    let key = signer.public_key();
    let signature = signer.sign(message);
    let raw = signature.to_raw().unwrap();
    let e = e_value(key, DEFAULT_DIST_ID, message);
    assert_eq!(
        verify_prehashed_every_path(&coordinates(key), &e, &raw),
        [true; 2],
        "valid signature rejected"
    );
    assert_eq!(key.verify(message, &signature), Ok(()));
    let tls = signer.sign_with_id(TLS13_DIST_ID, message).unwrap();
    assert_eq!(key.verify_with_id(TLS13_DIST_ID, message, &tls), Ok(()));
    assert_eq!(key.verify(message, &tls), Err(CryptoError::BadSignature));
    if reference {
        assert_eq!(
            key.verify_with_id_sm2_crate(DEFAULT_DIST_ID, message, &signature),
            Ok(())
        );
    }
    for variant in invalid_variants(key, other, message, &raw, flip_bit) {
        assert_eq!(
            verify_prehashed_every_path(&variant.key, &variant.e, &variant.raw),
            [false; 2],
            "{} accepted",
            variant.name
        );
        if reference && variant.e == e {
            // Same message and ID: the reference sees exactly what we saw.
            assert!(!reference_accepts(&variant, message), "{}", variant.name);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    /// Recurring signers (cached tables after the first sightings).
    #[test]
    fn recurring_signers(signer_idx in 0usize..8, other_idx in 0usize..8,
                         message in proptest::collection::vec(any::<u8>(), 0..600),
                         flip_bit in 0usize..4096) {
        let keys = recurring_keys();
        let other = keys[(signer_idx + 1 + other_idx % 7) % 8].public_key();
        check_case(&keys[signer_idx], other, &message, flip_bit, false);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Fresh keys every case (the one-off path through the cache), every 4th case also
    /// checked by the sm2 crate variant by variant.
    #[test]
    fn one_off_signers(message in proptest::collection::vec(any::<u8>(), 0..600),
                       flip_bit in 0usize..4096, reference in proptest::bool::weighted(0.25)) {
        let signer = PrivateKey::generate();
        let other = PrivateKey::generate();
        check_case(&signer, other.public_key(), &message, flip_bit, reference);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    /// Arbitrary signatures over arbitrary messages by recurring keys: both verifiers
    /// reject them (and agree, which is the point).
    #[test]
    fn arbitrary_signatures_agree_with_sm2_crate(signer_idx in 0usize..8,
                                                 raw in any::<[u8; 64]>(),
                                                 message in proptest::collection::vec(any::<u8>(), 0..64)) {
        let key = recurring_keys()[signer_idx].public_key();
        let e = e_value(key, DEFAULT_DIST_ID, &message);
        let ours = verify_prehashed_every_path(&coordinates(key), &e, &raw);
        prop_assert_eq!(ours[0], ours[1]);
        if let Ok(signature) = Signature::from_raw(&raw) {
            prop_assert_eq!(
                key.verify(&message, &signature).is_ok(),
                key.verify_with_id_sm2_crate(DEFAULT_DIST_ID, &message, &signature).is_ok()
            );
            prop_assert_eq!(key.verify(&message, &signature).is_ok(), ours[0]);
        } else {
            prop_assert_eq!(ours, [false; 2]);
        }
    }
}

/// GB/T 32918.2 (GM/T 0003.2) worked example through the public API, both verifiers.
#[test]
fn published_example_on_both_verifiers() {
    let key = PrivateKey::from_bytes(
        &hex::decode("3945208F7B2144B13F36E38AC6D39F95889393692860B51A42FB81EF4DF7C5B8").unwrap(),
    )
    .unwrap();
    let signature = Signature::from_raw(
        &hex::decode(concat!(
            "F5A03B0648D2C4630EEAC513E1BB81A15944DA3827D5B74143AC7EACEEE720B3",
            "B1B6AA29DF212FD8763182BC0D421CA1BB9038FD1F7F42D4840B69C485BBC1AA"
        ))
        .unwrap(),
    )
    .unwrap();
    let public = key.public_key();
    for _ in 0..3 {
        assert_eq!(public.verify(b"message digest", &signature), Ok(()));
        assert_eq!(
            public.verify(b"message digesT", &signature),
            Err(CryptoError::BadSignature)
        );
    }
    assert_eq!(
        public.verify_with_id_sm2_crate(DEFAULT_DIST_ID, b"message digest", &signature),
        Ok(())
    );
}
