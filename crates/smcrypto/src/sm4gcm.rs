//! SM4-GCM with the key expanded once: [`Sm4GcmKey`] holds the 32 SM4 round keys and the
//! GHASH key, so a TLS connection (or a report) pays the key schedule once, not per record,
//! and seals or opens in the caller's buffer without allocating.
//!
//! SM4 runs through four 256-entry T-tables (S-box and linear transform L merged, as in
//! table-based AES) on four counter blocks at a time, so the four independent dependency
//! chains overlap in the CPU; the RustCrypto `sm4` crate does one block at a time with a
//! separate S-box and L. GHASH comes from the `ghash` crate, which uses PCLMULQDQ when the
//! CPU has it (runtime detection) and a portable constant-time multiplier otherwise.
//!
//! Table lookups index memory with secret-dependent bytes, a cache-timing channel an
//! attacker on the same core could observe; the `sm4` crate's S-box lookups have the same
//! property. So when the CPU has AES-NI and SSSE3 (detected once per key), CTR runs on
//! `sm4ni` instead: SM4's S-box through `AESENCLAST` in registers, up to 32 blocks per
//! step, no secret-indexed memory and faster; the per-record tag mask E_K(J0) too. The
//! tables remain for other CPUs and for what runs once per key: the key schedule and the
//! GHASH key H.

use ghash::GHash;
use ghash::universal_hash::UniversalHash as _;
use subtle::ConstantTimeEq as _;
use zeroize::Zeroize;

use crate::CryptoError;
use crate::sm4ni::{self, AesNi, AesNiAvx2};
use crate::symmetric::{GCM_NONCE_BYTES, GCM_TAG_BYTES, SM4_BLOCK_BYTES, Sm4Key};

/// GCM's 32-bit block counter starts at 2 for data, so at most 2^32 - 2 blocks per nonce
/// (NIST SP 800-38D §5.2.1.1).
pub const GCM_PLAINTEXT_BYTES_MAX: u64 = ((1u64 << 32) - 2) * 16;

/// Counter blocks encrypted together on the fast path.
const LANES: usize = 4;
const CHUNK_BYTES: usize = LANES * SM4_BLOCK_BYTES;

/// GB/T 32907 §6.2 S-box.
const SBOX: [u8; 256] = [
    0xd6, 0x90, 0xe9, 0xfe, 0xcc, 0xe1, 0x3d, 0xb7, 0x16, 0xb6, 0x14, 0xc2, 0x28, 0xfb, 0x2c, 0x05,
    0x2b, 0x67, 0x9a, 0x76, 0x2a, 0xbe, 0x04, 0xc3, 0xaa, 0x44, 0x13, 0x26, 0x49, 0x86, 0x06, 0x99,
    0x9c, 0x42, 0x50, 0xf4, 0x91, 0xef, 0x98, 0x7a, 0x33, 0x54, 0x0b, 0x43, 0xed, 0xcf, 0xac, 0x62,
    0xe4, 0xb3, 0x1c, 0xa9, 0xc9, 0x08, 0xe8, 0x95, 0x80, 0xdf, 0x94, 0xfa, 0x75, 0x8f, 0x3f, 0xa6,
    0x47, 0x07, 0xa7, 0xfc, 0xf3, 0x73, 0x17, 0xba, 0x83, 0x59, 0x3c, 0x19, 0xe6, 0x85, 0x4f, 0xa8,
    0x68, 0x6b, 0x81, 0xb2, 0x71, 0x64, 0xda, 0x8b, 0xf8, 0xeb, 0x0f, 0x4b, 0x70, 0x56, 0x9d, 0x35,
    0x1e, 0x24, 0x0e, 0x5e, 0x63, 0x58, 0xd1, 0xa2, 0x25, 0x22, 0x7c, 0x3b, 0x01, 0x21, 0x78, 0x87,
    0xd4, 0x00, 0x46, 0x57, 0x9f, 0xd3, 0x27, 0x52, 0x4c, 0x36, 0x02, 0xe7, 0xa0, 0xc4, 0xc8, 0x9e,
    0xea, 0xbf, 0x8a, 0xd2, 0x40, 0xc7, 0x38, 0xb5, 0xa3, 0xf7, 0xf2, 0xce, 0xf9, 0x61, 0x15, 0xa1,
    0xe0, 0xae, 0x5d, 0xa4, 0x9b, 0x34, 0x1a, 0x55, 0xad, 0x93, 0x32, 0x30, 0xf5, 0x8c, 0xb1, 0xe3,
    0x1d, 0xf6, 0xe2, 0x2e, 0x82, 0x66, 0xca, 0x60, 0xc0, 0x29, 0x23, 0xab, 0x0d, 0x53, 0x4e, 0x6f,
    0xd5, 0xdb, 0x37, 0x45, 0xde, 0xfd, 0x8e, 0x2f, 0x03, 0xff, 0x6a, 0x72, 0x6d, 0x6c, 0x5b, 0x51,
    0x8d, 0x1b, 0xaf, 0x92, 0xbb, 0xdd, 0xbc, 0x7f, 0x11, 0xd9, 0x5c, 0x41, 0x1f, 0x10, 0x5a, 0xd8,
    0x0a, 0xc1, 0x31, 0x88, 0xa5, 0xcd, 0x7b, 0xbd, 0x2d, 0x74, 0xd0, 0x12, 0xb8, 0xe5, 0xb4, 0xb0,
    0x89, 0x69, 0x97, 0x4a, 0x0c, 0x96, 0x77, 0x7e, 0x65, 0xb9, 0xf1, 0x09, 0xc5, 0x6e, 0xc6, 0x84,
    0x18, 0xf0, 0x7d, 0xec, 0x3a, 0xdc, 0x4d, 0x20, 0x79, 0xee, 0x5f, 0x3e, 0xd7, 0xcb, 0x39, 0x48,
];

/// GB/T 32907 §7.3 system parameter FK.
const FK: [u32; 4] = [0xa3b1_bac6, 0x56aa_3350, 0x677d_9197, 0xb270_22dc];

/// The T-tables: `T[j][b]` is L applied to S(b) placed in byte j (big-endian) of a word.
/// L commutes with rotation, so each table is the first rotated.
static T: [[u32; 256]; 4] = t_tables();

const fn linear_round(b: u32) -> u32 {
    b ^ b.rotate_left(2) ^ b.rotate_left(10) ^ b.rotate_left(18) ^ b.rotate_left(24)
}

const fn t_tables() -> [[u32; 256]; 4] {
    let mut t = [[0u32; 256]; 4];
    let mut i = 0;
    while i < 256 {
        let w = linear_round((SBOX[i] as u32) << 24);
        t[0][i] = w;
        t[1][i] = w.rotate_right(8);
        t[2][i] = w.rotate_right(16);
        t[3][i] = w.rotate_right(24);
        i += 1;
    }
    t
}

/// The round function's T: S-box on each byte, then L, in four lookups.
#[inline(always)]
fn t_round(x: u32) -> u32 {
    let [b0, b1, b2, b3] = x.to_be_bytes();
    T[0][usize::from(b0)] ^ T[1][usize::from(b1)] ^ T[2][usize::from(b2)] ^ T[3][usize::from(b3)]
}

/// The key schedule's T': the same S-box, a different linear map.
fn t_key(x: u32) -> u32 {
    let b = u32::from_be_bytes(x.to_be_bytes().map(|byte| SBOX[usize::from(byte)]));
    b ^ b.rotate_left(13) ^ b.rotate_left(23)
}

/// GB/T 32907 §7.3 CK: byte j of word i is (4i + j) * 7 mod 256.
fn ck(i: u8) -> u32 {
    let base = i.wrapping_mul(4);
    u32::from_be_bytes([0u8, 1, 2, 3].map(|j| base.wrapping_add(j).wrapping_mul(7)))
}

/// 32 round keys, grouped by four so the round loop needs no index arithmetic.
#[derive(Clone)]
struct RoundKeys([[u32; 4]; 8]);

impl RoundKeys {
    fn expand(key: &[u8; 16]) -> Self {
        let words: [u32; 4] = core::array::from_fn(|i| {
            let start = i * 4;
            u32::from_be_bytes([key[start], key[start + 1], key[start + 2], key[start + 3]])
        });
        let mut k = [
            words[0] ^ FK[0],
            words[1] ^ FK[1],
            words[2] ^ FK[2],
            words[3] ^ FK[3],
        ];
        let mut rk = [[0u32; 4]; 8];
        let mut round = 0u8;
        for group in rk.iter_mut() {
            for slot in group.iter_mut() {
                let next = k[0] ^ t_key(k[1] ^ k[2] ^ k[3] ^ ck(round));
                *slot = next;
                k = [k[1], k[2], k[3], next];
                round += 1;
            }
        }
        k.zeroize();
        RoundKeys(rk)
    }

    /// Encrypts `N` blocks together: each round's lookups for the N blocks are independent,
    /// so they overlap instead of waiting on each other.
    #[inline(always)]
    fn encrypt_lanes<const N: usize>(&self, blocks: &mut [[u8; 16]; N]) {
        let mut x: [[u32; 4]; N] = core::array::from_fn(|lane| load_words(&blocks[lane]));
        for [k0, k1, k2, k3] in self.0 {
            for s in x.iter_mut() {
                s[0] ^= t_round(s[1] ^ s[2] ^ s[3] ^ k0);
            }
            for s in x.iter_mut() {
                s[1] ^= t_round(s[2] ^ s[3] ^ s[0] ^ k1);
            }
            for s in x.iter_mut() {
                s[2] ^= t_round(s[3] ^ s[0] ^ s[1] ^ k2);
            }
            for s in x.iter_mut() {
                s[3] ^= t_round(s[0] ^ s[1] ^ s[2] ^ k3);
            }
        }
        for (block, s) in blocks.iter_mut().zip(x) {
            // The reverse transform R: the last four words, in reverse order.
            *block = store_words([s[3], s[2], s[1], s[0]]);
        }
    }
}

impl Drop for RoundKeys {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

fn load_words(block: &[u8; 16]) -> [u32; 4] {
    core::array::from_fn(|i| {
        let start = i * 4;
        u32::from_be_bytes([
            block[start],
            block[start + 1],
            block[start + 2],
            block[start + 3],
        ])
    })
}

fn store_words(words: [u32; 4]) -> [u8; 16] {
    let mut out = [0u8; 16];
    for (chunk, word) in out.chunks_exact_mut(4).zip(words) {
        chunk.copy_from_slice(&word.to_be_bytes());
    }
    out
}

/// Which SM4 counter-mode path to run. All give the same bytes; tests run all.
#[doc(hidden)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CtrPath {
    /// AES-NI S-box, eight counter blocks per step on AVX2 registers (the default when the
    /// CPU has AES-NI and AVX2); falls back to `AesNi8`, then `Lanes4`.
    AesNiAvx2,
    /// AES-NI S-box, eight counter blocks per step as two groups of four on SSE registers
    /// (the default with AES-NI and SSSE3 but no AVX2); falls back to `Lanes4`.
    AesNi8,
    /// AES-NI S-box, four counter blocks per step; falls back to `Lanes4` likewise.
    AesNi4,
    /// T-tables, four counter blocks per step (the default without AES-NI).
    Lanes4,
    /// One block at a time, the plain reference path.
    Single,
}

/// An SM4-GCM key with its schedule and GHASH key computed once (RFC 8998 §3.1 sizes:
/// 12-byte nonce, 16-byte tag).
#[derive(Clone)]
pub struct Sm4GcmKey {
    round_keys: RoundKeys,
    ghash: GHash,
    /// Present when the CPU has AES-NI and SSSE3 (checked once, at key expansion).
    aesni: Option<AesNi>,
    /// Present when the CPU has AES-NI and AVX2.
    avx2: Option<AesNiAvx2>,
}

impl core::fmt::Debug for Sm4GcmKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Sm4GcmKey(..)")
    }
}

impl Sm4GcmKey {
    /// Expands `key`: the SM4 round keys and H = E_K(0^128).
    pub fn new(key: &Sm4Key) -> Self {
        let round_keys = RoundKeys::expand(key.as_bytes());
        let mut h = [[0u8; 16]; 1];
        round_keys.encrypt_lanes(&mut h);
        let ghash = GHash::new(&ghash::Key::from(h[0]));
        h.zeroize();
        Sm4GcmKey {
            round_keys,
            ghash,
            aesni: AesNi::detect(),
            avx2: AesNiAvx2::detect(),
        }
    }

    /// The fastest counter path this CPU runs.
    fn default_path(&self) -> CtrPath {
        if self.avx2.is_some() {
            CtrPath::AesNiAvx2
        } else if self.aesni.is_some() {
            CtrPath::AesNi8
        } else {
            CtrPath::Lanes4
        }
    }

    /// Encrypts `buffer` in place and returns the tag.
    pub fn seal_in_place_detached(
        &self,
        nonce: &[u8; GCM_NONCE_BYTES],
        aad: &[u8],
        buffer: &mut [u8],
    ) -> Result<[u8; GCM_TAG_BYTES], CryptoError> {
        self.seal_with(self.default_path(), nonce, aad, buffer)
    }

    /// Checks `tag` over `aad` and the ciphertext in `buffer` first (constant-time
    /// comparison), and only then decrypts in place: on failure `buffer` is unchanged and
    /// no plaintext is released.
    pub fn open_in_place_detached(
        &self,
        nonce: &[u8; GCM_NONCE_BYTES],
        aad: &[u8],
        buffer: &mut [u8],
        tag: &[u8; GCM_TAG_BYTES],
    ) -> Result<(), CryptoError> {
        self.open_with(self.default_path(), nonce, aad, buffer, tag)
    }

    #[doc(hidden)]
    pub fn seal_with(
        &self,
        path: CtrPath,
        nonce: &[u8; GCM_NONCE_BYTES],
        aad: &[u8],
        buffer: &mut [u8],
    ) -> Result<[u8; GCM_TAG_BYTES], CryptoError> {
        check_length(buffer.len())?;
        self.ctr_xor(path, nonce, buffer);
        Ok(self.tag(path, nonce, aad, buffer))
    }

    #[doc(hidden)]
    pub fn open_with(
        &self,
        path: CtrPath,
        nonce: &[u8; GCM_NONCE_BYTES],
        aad: &[u8],
        buffer: &mut [u8],
        tag: &[u8; GCM_TAG_BYTES],
    ) -> Result<(), CryptoError> {
        if check_length(buffer.len()).is_err() {
            return Err(CryptoError::AuthenticationFailed);
        }
        let expected = self.tag(path, nonce, aad, buffer);
        if !bool::from(expected.ct_eq(tag)) {
            return Err(CryptoError::AuthenticationFailed);
        }
        self.ctr_xor(path, nonce, buffer);
        Ok(())
    }

    /// GHASH over aad and ciphertext with their bit lengths, masked with E_K(J0).
    fn tag(
        &self,
        path: CtrPath,
        nonce: &[u8; GCM_NONCE_BYTES],
        aad: &[u8],
        ciphertext: &[u8],
    ) -> [u8; 16] {
        let mut ghash = self.ghash.clone();
        ghash.update_padded(aad);
        ghash.update_padded(ciphertext);
        let mut lengths = [0u8; 16];
        let (aad_bits, text_bits) = lengths.split_at_mut(8);
        aad_bits.copy_from_slice(&bit_length(aad.len()).to_be_bytes());
        text_bits.copy_from_slice(&bit_length(ciphertext.len()).to_be_bytes());
        ghash.update(&[ghash::Block::from(lengths)]);
        let digest: [u8; 16] = ghash.finalize().into();
        let mask = self.tag_mask(path, nonce);
        core::array::from_fn(|i| digest[i] ^ mask[i])
    }

    /// E_K(J0), J0 = nonce ‖ 1: on the AES-NI paths through AES-NI, so no per-record block
    /// goes through the secret-indexed tables (the first of four keystream blocks; the
    /// other three are the price of that); on the table paths through the tables.
    fn tag_mask(&self, path: CtrPath, nonce: &[u8; GCM_NONCE_BYTES]) -> [u8; 16] {
        let aesni_path = matches!(path, CtrPath::AesNiAvx2 | CtrPath::AesNi8 | CtrPath::AesNi4);
        if let (true, Some(proof)) = (aesni_path, self.aesni) {
            let words = load_words(&counter_block(nonce, 1));
            let nonce_words = [words[0], words[1], words[2]];
            return sm4ni::keystream::<1>(proof, &self.round_keys.0, nonce_words, 1)[0][0];
        }
        let mut mask = [counter_block(nonce, 1)];
        self.round_keys.encrypt_lanes(&mut mask);
        mask[0]
    }

    /// XORs the keystream for counters 2, 3, … into `buffer`.
    fn ctr_xor(&self, path: CtrPath, nonce: &[u8; GCM_NONCE_BYTES], buffer: &mut [u8]) {
        let mut counter = 2u32;
        if let (CtrPath::AesNiAvx2, Some(proof)) = (path, self.avx2) {
            return self.ctr_xor_avx2(proof, nonce, buffer);
        }
        match (path, self.aesni) {
            (CtrPath::AesNi8 | CtrPath::AesNiAvx2, Some(proof)) => {
                self.ctr_xor_aesni::<2>(proof, nonce, buffer)
            }
            (CtrPath::AesNi4, Some(proof)) => self.ctr_xor_aesni::<1>(proof, nonce, buffer),
            (CtrPath::AesNiAvx2 | CtrPath::AesNi8 | CtrPath::AesNi4 | CtrPath::Lanes4, _) => {
                for chunk in buffer.chunks_mut(CHUNK_BYTES) {
                    let mut blocks: [[u8; 16]; LANES] = core::array::from_fn(|lane| {
                        // Lane is below 4; the length check bounds the counter.
                        counter_block(nonce, counter.wrapping_add(lane as u32))
                    });
                    counter = counter.wrapping_add(LANES as u32);
                    self.round_keys.encrypt_lanes(&mut blocks);
                    xor_keystream(chunk, blocks.as_flattened());
                }
            }
            (CtrPath::Single, _) => {
                for chunk in buffer.chunks_mut(SM4_BLOCK_BYTES) {
                    let mut block = [counter_block(nonce, counter)];
                    counter = counter.wrapping_add(1);
                    self.round_keys.encrypt_lanes(&mut block);
                    xor_keystream(chunk, &block[0]);
                }
            }
        }
    }
}

impl Sm4GcmKey {
    /// CTR through the AES-NI S-box, `4 * G` blocks per step on SSE registers.
    fn ctr_xor_aesni<const G: usize>(
        &self,
        proof: AesNi,
        nonce: &[u8; GCM_NONCE_BYTES],
        buffer: &mut [u8],
    ) {
        ctr_xor_steps(nonce, 2, buffer, 4 * G, |words, counter, chunk| {
            let blocks = sm4ni::keystream::<G>(proof, &self.round_keys.0, words, counter);
            xor_keystream(chunk, blocks.as_flattened().as_flattened());
        });
    }

    /// CTR on AVX2 registers: 32 blocks a step while at least 32 remain (four chains in
    /// flight; two reached 1.5x the tables, four 2x), then eight a step for the tail, so a
    /// short record does not pay for 32.
    fn ctr_xor_avx2(&self, proof: AesNiAvx2, nonce: &[u8; GCM_NONCE_BYTES], buffer: &mut [u8]) {
        const WIDE_BYTES: usize = 32 * SM4_BLOCK_BYTES;
        let wide_len = buffer.len() - buffer.len() % WIDE_BYTES;
        let (wide, tail) = buffer.split_at_mut(wide_len);
        let counter = ctr_xor_steps(nonce, 2, wide, 32, |words, counter, chunk| {
            let blocks = sm4ni::keystream_avx2::<4>(proof, &self.round_keys.0, words, counter);
            xor_keystream(chunk, blocks.as_flattened().as_flattened().as_flattened());
        });
        ctr_xor_steps(nonce, counter, tail, 8, |words, counter, chunk| {
            let blocks = sm4ni::keystream_avx2::<1>(proof, &self.round_keys.0, words, counter);
            xor_keystream(chunk, blocks.as_flattened().as_flattened().as_flattened());
        });
    }
}

/// Splits `buffer` into steps of `step_blocks` blocks and has `keystream_xor(nonce words,
/// first counter, chunk)` XOR each step's keystream into its chunk, counters from
/// `counter`; returns the next unused counter.
fn ctr_xor_steps(
    nonce: &[u8; GCM_NONCE_BYTES],
    counter: u32,
    buffer: &mut [u8],
    step_blocks: usize,
    keystream_xor: impl Fn([u32; 3], u32, &mut [u8]),
) -> u32 {
    let nonce_words: [u32; 3] = core::array::from_fn(|i| {
        let start = i * 4;
        u32::from_be_bytes([
            nonce[start],
            nonce[start + 1],
            nonce[start + 2],
            nonce[start + 3],
        ])
    });
    let blocks_per_step = u32::try_from(step_blocks).unwrap_or(u32::MAX);
    let mut counter = counter;
    for chunk in buffer.chunks_mut(step_blocks * SM4_BLOCK_BYTES) {
        keystream_xor(nonce_words, counter, chunk);
        // The length check bounds the counter below 2^32.
        counter = counter.wrapping_add(blocks_per_step);
    }
    counter
}

fn check_length(len: usize) -> Result<(), CryptoError> {
    if u64::try_from(len).map_or(true, |len| len > GCM_PLAINTEXT_BYTES_MAX) {
        return Err(CryptoError::GcmMessageTooLong {
            max: GCM_PLAINTEXT_BYTES_MAX,
            actual: len,
        });
    }
    Ok(())
}

fn bit_length(len: usize) -> u64 {
    // Lengths were checked against GCM_PLAINTEXT_BYTES_MAX (or are AAD held in memory), so
    // the bit count fits in 64 bits.
    u64::try_from(len).unwrap_or(u64::MAX).wrapping_mul(8)
}

fn counter_block(nonce: &[u8; GCM_NONCE_BYTES], counter: u32) -> [u8; 16] {
    let mut block = [0u8; 16];
    let (head, tail) = block.split_at_mut(GCM_NONCE_BYTES);
    head.copy_from_slice(nonce);
    tail.copy_from_slice(&counter.to_be_bytes());
    block
}

fn xor_keystream(data: &mut [u8], keystream: &[u8]) {
    for (byte, key) in data.iter_mut().zip(keystream) {
        *byte ^= key;
    }
}

/// The RustCrypto `sm4` + `aes-gcm` composition the crate used before [`Sm4GcmKey`]: the
/// reference for differential tests and the "old path" in the benches.
#[doc(hidden)]
pub mod reference {
    use aes_gcm::aead::{AeadInOut as _, KeyInit as _};

    use crate::CryptoError;
    use crate::symmetric::{GCM_NONCE_BYTES, GCM_TAG_BYTES, Sm4Key};

    type Sm4Gcm = aes_gcm::AesGcm<sm4::Sm4, aes_gcm::aead::consts::U12>;

    /// Seals a copy of `plaintext`, rebuilding the cipher (as every record used to).
    pub fn seal(
        key: &Sm4Key,
        nonce: &[u8; GCM_NONCE_BYTES],
        aad: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        let mut buffer = plaintext.to_vec();
        let tag = Sm4Gcm::new(key.as_bytes().into())
            .encrypt_inout_detached(nonce.into(), aad, buffer.as_mut_slice().into())
            .map_err(|_| CryptoError::AuthenticationFailed)?;
        buffer.extend_from_slice(&tag);
        Ok(buffer)
    }

    /// Opens `ciphertext ‖ tag`.
    pub fn open(
        key: &Sm4Key,
        nonce: &[u8; GCM_NONCE_BYTES],
        aad: &[u8],
        sealed: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        let body_len = sealed
            .len()
            .checked_sub(GCM_TAG_BYTES)
            .ok_or(CryptoError::AuthenticationFailed)?;
        let (body, tag) = sealed.split_at(body_len);
        let tag: &[u8; GCM_TAG_BYTES] = tag
            .try_into()
            .map_err(|_| CryptoError::AuthenticationFailed)?;
        let mut buffer = body.to_vec();
        Sm4Gcm::new(key.as_bytes().into())
            .decrypt_inout_detached(nonce.into(), aad, buffer.as_mut_slice().into(), tag.into())
            .map_err(|_| CryptoError::AuthenticationFailed)?;
        Ok(buffer)
    }

    /// One SM4 block through the `sm4` crate (for the key-schedule tests).
    pub fn encrypt_block(key: &Sm4Key, block: &mut [u8; 16]) {
        use sm4::cipher::{BlockCipherEncrypt as _, KeyInit as _};
        sm4::Sm4::new(key.as_bytes().into()).encrypt_block(block.into());
    }
}

/// One SM4 block through [`Sm4GcmKey`]'s key schedule and round function (tests only).
#[doc(hidden)]
pub fn sm4_encrypt_block(key: &Sm4Key, block: &mut [u8; 16]) {
    let mut blocks = [*block];
    RoundKeys::expand(key.as_bytes()).encrypt_lanes(&mut blocks);
    *block = blocks[0];
}

/// One SM4 block through `path`'s cipher: on the AES-NI paths the block is the counter
/// block (nonce = its first 12 bytes, counter = its last word), so CTR's first keystream
/// block is E_K(block). Lets the GB/T block vectors run through every path (tests only).
#[doc(hidden)]
pub fn sm4_encrypt_block_with(path: CtrPath, key: &Sm4Key, block: &mut [u8; 16]) {
    let round_keys = RoundKeys::expand(key.as_bytes());
    let words = load_words(block);
    let nonce = [words[0], words[1], words[2]];
    if let (CtrPath::AesNiAvx2, Some(proof)) = (path, AesNiAvx2::detect()) {
        *block = sm4ni::keystream_avx2::<1>(proof, &round_keys.0, nonce, words[3])[0][0][0];
        return;
    }
    match (path, AesNi::detect()) {
        (CtrPath::AesNi8 | CtrPath::AesNiAvx2, Some(proof)) => {
            let blocks = sm4ni::keystream::<2>(
                proof,
                &round_keys.0,
                [words[0], words[1], words[2]],
                words[3],
            );
            *block = blocks[0][0];
        }
        (CtrPath::AesNi4, Some(proof)) => {
            let blocks = sm4ni::keystream::<1>(
                proof,
                &round_keys.0,
                [words[0], words[1], words[2]],
                words[3],
            );
            *block = blocks[0][0];
        }
        _ => {
            let mut blocks = [*block];
            round_keys.encrypt_lanes(&mut blocks);
            *block = blocks[0];
        }
    }
}

/// SM4's S-box from the GB/T 32907 table (tests compare the AES-NI derivation with it).
#[doc(hidden)]
pub fn sm4_sbox(x: u8) -> u8 {
    SBOX[usize::from(x)]
}

/// SM4's S-box on 16 bytes through AES-NI, or `None` when this CPU lacks AES-NI or SSSE3.
#[doc(hidden)]
pub fn sm4_sbox_aesni(bytes: [u8; 16]) -> Option<[u8; 16]> {
    AesNi::detect().map(|proof| sm4ni::sbox_x16(proof, bytes))
}

/// Whether [`CtrPath::AesNi8`] and [`CtrPath::AesNi4`] run on this CPU (else they fall back).
/// [`CtrPath::AesNiAvx2`] needs AVX2 as well: see [`sm4_aesni_avx2_available`].
#[doc(hidden)]
pub fn sm4_aesni_available() -> bool {
    AesNi::detect().is_some()
}

/// Whether [`CtrPath::AesNiAvx2`] runs on this CPU (else it falls back to `AesNi8`).
#[doc(hidden)]
pub fn sm4_aesni_avx2_available() -> bool {
    AesNiAvx2::detect().is_some()
}
