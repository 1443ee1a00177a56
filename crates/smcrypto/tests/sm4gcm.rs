//! Known answers and differential tests for the kept-key SM4-GCM ([`Sm4GcmKey`]): the
//! GB/T 32907 SM4 vectors, the RFC 8998 SM4-GCM vector, and random keys, nonces, AAD and
//! lengths against the RustCrypto `sm4` + `aes-gcm` composition, on every counter path:
//! the AES-NI ones (`AesNi8`, `AesNi4`, forced) and the T-table fallback (`Lanes4`,
//! `Single`), whatever the CPU. The AES-NI S-box derivation is checked on all 256 inputs.

use netsettle_smcrypto::{
    CryptoError, CtrPath, GCM_TAG_BYTES, Sm4GcmKey, Sm4Key, gcm_open, gcm_seal,
    sm4_aesni_available, sm4_aesni_avx2_available, sm4_encrypt_block, sm4_encrypt_block_with,
    sm4_sbox, sm4_sbox_aesni, sm4_sbox_model, sm4gcm_reference as reference,
};
use proptest::prelude::*;

const PATHS: [CtrPath; 5] = [
    CtrPath::AesNiAvx2,
    CtrPath::AesNi8,
    CtrPath::AesNi4,
    CtrPath::Lanes4,
    CtrPath::Single,
];

/// The affine maps and field isomorphism around AES's S-box, in plain Rust, give SM4's
/// S-box for all 256 inputs (checks the derived constants on any CPU).
#[test]
fn sbox_model_matches_table_exhaustively() {
    for x in 0..=255u8 {
        assert_eq!(sm4_sbox_model(x), sm4_sbox(x), "input {x:#04x}");
    }
}

/// The same through the instructions (`PSHUFB` nibble maps around `AESENCLAST`), 16
/// inputs per call so every byte position sees 16 values and all 256 inputs are covered;
/// a second pass rotates the positions so every input visits every position once.
#[test]
fn sbox_aesni_matches_table_exhaustively() {
    let Some(_) = sm4_sbox_aesni([0; 16]) else {
        assert!(!sm4_aesni_available());
        return;
    };
    for shift in 0..16u8 {
        for base in (0..=255u8).step_by(16) {
            let input: [u8; 16] = core::array::from_fn(|i| {
                base.wrapping_add(u8::try_from(i).unwrap().wrapping_add(shift) % 16)
            });
            let expected = input.map(sm4_sbox);
            assert_eq!(sm4_sbox_aesni(input), Some(expected), "inputs {input:02x?}");
        }
    }
}

/// The AES-NI paths are not silently the fallback here: when the CPU reports AES-NI and
/// SSSE3 (and AVX2), detection finds them (so `AesNiAvx2`/`AesNi8`/`AesNi4` below run the
/// new code).
#[test]
fn aesni_detected_when_cpu_has_it() {
    let Ok(cpuinfo) = std::fs::read_to_string("/proc/cpuinfo") else {
        return;
    };
    let flags = cpuinfo
        .lines()
        .find(|l| l.starts_with("flags"))
        .unwrap_or("");
    let has = |flag: &str| flags.split_whitespace().any(|f| f == flag);
    let x86 = cfg!(target_arch = "x86_64");
    assert_eq!(sm4_aesni_available(), x86 && has("aes") && has("ssse3"));
    assert_eq!(sm4_aesni_avx2_available(), x86 && has("aes") && has("avx2"));
}

fn key(hex_key: &str) -> Sm4Key {
    Sm4Key::from_slice(&hex::decode(hex_key).unwrap()).unwrap()
}

fn block(hex_block: &str) -> [u8; 16] {
    hex::decode(hex_block).unwrap().try_into().unwrap()
}

/// GB/T 32907-2016 Appendix A example 1.
#[test]
fn gbt_32907_single_block() {
    let k = key("0123456789abcdeffedcba9876543210");
    let mut b = block("0123456789abcdeffedcba9876543210");
    sm4_encrypt_block(&k, &mut b);
    assert_eq!(hex::encode(b), "681edf34d206965e86b3e94f536e4246");
}

/// GB/T 32907-2016 Appendix A example 1 through each path's cipher.
#[test]
fn gbt_32907_single_block_every_path() {
    let k = key("0123456789abcdeffedcba9876543210");
    for path in PATHS {
        let mut b = block("0123456789abcdeffedcba9876543210");
        sm4_encrypt_block_with(path, &k, &mut b);
        assert_eq!(
            hex::encode(b),
            "681edf34d206965e86b3e94f536e4246",
            "{path:?}"
        );
    }
}

/// GB/T 32907-2016 Appendix A example 2: the same block encrypted 1,000,000 times, on the
/// table path and on the AES-NI path.
#[test]
fn gbt_32907_million_iterations() {
    let k = key("0123456789abcdeffedcba9876543210");
    for path in [CtrPath::Lanes4, CtrPath::AesNi4, CtrPath::AesNiAvx2] {
        let mut b = block("0123456789abcdeffedcba9876543210");
        for _ in 0..1_000_000 {
            sm4_encrypt_block_with(path, &k, &mut b);
        }
        assert_eq!(
            hex::encode(b),
            "595298c7c6fd271f0402f804c33d3f66",
            "{path:?}"
        );
    }
}

/// A 1,000-step chain where each step's output becomes the next key and block, checked
/// against the `sm4` crate on the table and AES-NI paths: exercises the key schedule on
/// 1,000 unrelated keys.
#[test]
fn chained_keys_match_sm4_crate() {
    let mut ours = block("00112233445566778899aabbccddeeff");
    let mut theirs = ours;
    let mut k = key("0123456789abcdeffedcba9876543210");
    for step in 0..1_000 {
        let mut through_aesni = ours;
        sm4_encrypt_block(&k, &mut ours);
        sm4_encrypt_block_with(CtrPath::AesNi4, &k, &mut through_aesni);
        reference::encrypt_block(&k, &mut theirs);
        assert_eq!(ours, theirs, "step {step}");
        assert_eq!(through_aesni, theirs, "step {step}, AES-NI");
        k = Sm4Key::from_slice(&ours).unwrap();
    }
}

/// RFC 8998 Appendix A.1.
#[test]
fn rfc8998_sm4_gcm_vector() {
    let k = Sm4GcmKey::new(&key("0123456789ABCDEFFEDCBA9876543210"));
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
    let expected_ct = "17F399F08C67D5EE19D0DC9969C4BB7D5FD46FD3756489069157B282BB200735\
                       D82710CA5C22F0CCFA7CBF93D496AC15A56834CBCF98C397B4024A2691233B8D";
    for path in PATHS {
        let mut buffer = pt.clone();
        let tag = k.seal_with(path, &nonce, &aad, &mut buffer).unwrap();
        assert_eq!(hex::encode_upper(&buffer), expected_ct, "{path:?}");
        assert_eq!(hex::encode_upper(tag), "83DE3541E4C2B58177E065A9BF7B62EC");
        k.open_with(path, &nonce, &aad, &mut buffer, &tag).unwrap();
        assert_eq!(buffer, pt, "{path:?}");
    }
}

/// Every flipped bit of ciphertext, tag or AAD, and a wrong nonce, is refused, and the
/// buffer is left as it was (no plaintext released).
#[test]
fn tampering_fails_and_leaves_buffer() {
    let k = Sm4GcmKey::new(&Sm4Key::generate().unwrap());
    let nonce = [3u8; 12];
    let aad = b"record header".to_vec();
    let mut ct = b"net amount 4200 fen, period 2026-10".to_vec();
    let tag = k.seal_in_place_detached(&nonce, &aad, &mut ct).unwrap();
    for path in PATHS {
        for bit in 0..ct.len() * 8 {
            let mut bad = ct.clone();
            bad[bit / 8] ^= 1 << (bit % 8);
            let before = bad.clone();
            let got = k.open_with(path, &nonce, &aad, &mut bad, &tag);
            assert_eq!(got, Err(CryptoError::AuthenticationFailed));
            assert_eq!(bad, before, "buffer changed on failure");
        }
        for bit in 0..GCM_TAG_BYTES * 8 {
            let mut bad_tag = tag;
            bad_tag[bit / 8] ^= 1 << (bit % 8);
            let mut buffer = ct.clone();
            let got = k.open_with(path, &nonce, &aad, &mut buffer, &bad_tag);
            assert_eq!(got, Err(CryptoError::AuthenticationFailed));
            assert_eq!(buffer, ct);
        }
        for bit in 0..aad.len() * 8 {
            let mut bad_aad = aad.clone();
            bad_aad[bit / 8] ^= 1 << (bit % 8);
            let mut buffer = ct.clone();
            let got = k.open_with(path, &nonce, &bad_aad, &mut buffer, &tag);
            assert_eq!(got, Err(CryptoError::AuthenticationFailed));
        }
        let mut buffer = ct.clone();
        let got = k.open_with(path, &[4u8; 12], &aad, &mut buffer, &tag);
        assert_eq!(got, Err(CryptoError::AuthenticationFailed));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    /// Both counter paths, in place and through the copying `gcm_seal`/`gcm_open`, give
    /// the RustCrypto composition's bytes, and each opens the other's output.
    #[test]
    fn matches_rustcrypto_composition(
        key_bytes in any::<[u8; 16]>(),
        nonce in any::<[u8; 12]>(),
        aad in proptest::collection::vec(any::<u8>(), 0..80),
        plaintext in proptest::collection::vec(any::<u8>(), 0..4096),
    ) {
        let raw = Sm4Key::from_slice(&key_bytes).unwrap();
        let expected = reference::seal(&raw, &nonce, &aad, &plaintext).unwrap();
        prop_assert_eq!(&gcm_seal(&raw, &nonce, &aad, &plaintext), &expected);
        prop_assert_eq!(&gcm_open(&raw, &nonce, &aad, &expected).unwrap(), &plaintext);
        prop_assert_eq!(&reference::open(&raw, &nonce, &aad, &expected).unwrap(), &plaintext);
        let k = Sm4GcmKey::new(&raw);
        let (expected_ct, expected_tag) = expected.split_at(plaintext.len());
        for path in PATHS {
            let mut buffer = plaintext.clone();
            let tag = k.seal_with(path, &nonce, &aad, &mut buffer).unwrap();
            prop_assert_eq!(&buffer[..], expected_ct);
            prop_assert_eq!(&tag[..], expected_tag);
            k.open_with(path, &nonce, &aad, &mut buffer, &tag).unwrap();
            prop_assert_eq!(&buffer, &plaintext);
        }
    }
}
