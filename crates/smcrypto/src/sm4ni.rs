//! SM4 counter-mode keystream through AES-NI: SM4's S-box for 16 bytes at once with one
//! `AESENCLAST`, four (SSE) or eight (AVX2) counter blocks per group of registers, several
//! groups per step.
//!
//! Why this works: both S-boxes are inversion in GF(2^8) between affine maps, in different
//! field representations (SM4: x^8+x^7+x^6+x^5+x^4+x^2+1, AES: x^8+x^4+x^3+x+1). With T a
//! field isomorphism from SM4's field to AES's, and A the SM4 affine map,
//! S_sm4(x) = A·T⁻¹·A_aes⁻¹·(S_aes(T·(A·x + c)) + 0x63) + c, so SM4's S-box is an input
//! affine map, AES SubBytes, and an output affine map. Each affine map runs as two 4-bit
//! `PSHUFB` lookups (low and high nibble). The constants are computed below by `const fn`s
//! from the two fields' definitions (T from a root of SM4's polynomial in AES's field), not
//! typed in; `tests/sm4gcm.rs` checks the result against the S-box table for all 256
//! inputs, through the model and through the instructions.
//!
//! Unlike the T-table path, nothing here indexes memory with secret bytes: the S-box is
//! computed in registers, so there is no cache-timing channel.
//!
//! Step widths: four blocks (one group of 128-bit registers), eight as two interleaved
//! 4-block groups whose independent chains overlap in the CPU, and 8 or 32 (four
//! interleaved groups) on 256-bit AVX2 registers (per group, blocks 0-3 in the low halves,
//! 4-7 in the high halves), which halves the instruction count of the nibble lookups and
//! L. `AESENCLAST` has no 256-bit form without VAES, so there the two halves take one
//! instruction each. One chain of rounds is latency-bound (each round waits on the
//! previous one), hence the interleaved groups.

/// SM4's field: x^8 + x^7 + x^6 + x^5 + x^4 + x^2 + 1 (GB/T 32907 S-box construction).
const SM4_FIELD_POLY: u16 = 0x1f5;
/// AES's field: x^8 + x^4 + x^3 + x + 1 (FIPS 197 §4).
const AES_FIELD_POLY: u16 = 0x11b;
/// The constant of SM4's affine map (applied before and after the inversion).
const SM4_AFFINE_CONST: u8 = 0xd3;
/// The constant of AES's affine map.
const AES_AFFINE_CONST: u8 = 0x63;

/// Multiplication in GF(2^8) modulo `poly`.
const fn gf_mul(a: u8, b: u8, poly: u16) -> u8 {
    let mut acc = 0u16;
    let mut a = a as u16;
    let mut b = b;
    while b != 0 {
        if b & 1 == 1 {
            acc ^= a;
        }
        b >>= 1;
        a <<= 1;
        if a & 0x100 != 0 {
            a ^= poly;
        }
    }
    acc as u8
}

/// SM4's linear part: the circulant matrix with first row 11100101, which is the XOR of
/// the byte's rotations by 0, 1, 3, 6 and 7.
const fn sm4_linear(x: u8) -> u8 {
    x ^ x.rotate_left(1) ^ x.rotate_left(3) ^ x.rotate_left(6) ^ x.rotate_left(7)
}

/// AES's linear part: the XOR of the byte's rotations by 0 to 4.
const fn aes_linear(x: u8) -> u8 {
    x ^ x.rotate_left(1) ^ x.rotate_left(2) ^ x.rotate_left(3) ^ x.rotate_left(4)
}

/// The isomorphism T from SM4's field to AES's, as a table: x^i maps to beta^i, where beta
/// is the first root of SM4's polynomial in AES's field (any of its eight roots works).
const fn field_isomorphism() -> [u8; 256] {
    let mut beta = 2u16;
    while beta < 256 {
        // Evaluate SM4's polynomial at beta, in AES's field.
        let mut sum = 0u8;
        let mut power = 1u8;
        let mut i = 0;
        while i <= 8 {
            if (SM4_FIELD_POLY >> i) & 1 == 1 {
                sum ^= power;
            }
            power = gf_mul(power, beta as u8, AES_FIELD_POLY);
            i += 1;
        }
        if sum == 0 {
            break;
        }
        beta += 1;
    }
    // A root always exists: SM4's polynomial is irreducible of degree 8, so it splits in
    // every field with 256 elements. Fail the build if the arithmetic above is wrong.
    assert!(beta < 256);
    let mut basis = [0u8; 8];
    let mut power = 1u8;
    let mut i = 0;
    while i < 8 {
        basis[i] = power;
        power = gf_mul(power, beta as u8, AES_FIELD_POLY);
        i += 1;
    }
    let mut table = [0u8; 256];
    let mut x = 0;
    while x < 256 {
        let mut image = 0u8;
        let mut bit = 0;
        while bit < 8 {
            if (x >> bit) & 1 == 1 {
                image ^= basis[bit];
            }
            bit += 1;
        }
        table[x] = image;
        x += 1;
    }
    table
}

/// The inverse of a bijective byte map given as a table.
const fn invert(table: &[u8; 256]) -> [u8; 256] {
    let mut inverse = [0u8; 256];
    let mut x = 0;
    while x < 256 {
        inverse[table[x] as usize] = x as u8;
        x += 1;
    }
    inverse
}

const fn aes_linear_table() -> [u8; 256] {
    let mut table = [0u8; 256];
    let mut x = 0;
    while x < 256 {
        table[x] = aes_linear(x as u8);
        x += 1;
    }
    table
}

const TO_AES_FIELD: [u8; 256] = field_isomorphism();
const FROM_AES_FIELD: [u8; 256] = invert(&TO_AES_FIELD);
const AES_LINEAR_INVERSE: [u8; 256] = invert(&aes_linear_table());

/// The affine map before `AESENCLAST`: SM4's affine map, then into AES's field.
const fn input_map(x: u8) -> u8 {
    TO_AES_FIELD[(sm4_linear(x) ^ SM4_AFFINE_CONST) as usize]
}

/// The affine map after `AESENCLAST` (zero round key): undo AES's affine map, back into
/// SM4's field, then SM4's affine map.
const fn output_map(y: u8) -> u8 {
    let inverse = FROM_AES_FIELD[AES_LINEAR_INVERSE[(y ^ AES_AFFINE_CONST) as usize] as usize];
    sm4_linear(inverse) ^ SM4_AFFINE_CONST
}

/// Which affine map a table describes.
#[derive(Clone, Copy)]
enum AffineMap {
    Input,
    Output,
}

const fn apply(map: AffineMap, x: u8) -> u8 {
    match map {
        AffineMap::Input => input_map(x),
        AffineMap::Output => output_map(x),
    }
}

/// `PSHUFB` tables for an affine map f: `low[i] = f(i)` (carries the constant) and
/// `high[i] = f(i << 4) ^ f(0)`, so f(x) = low[x & 15] ^ high[x >> 4].
const fn nibble_tables(map: AffineMap) -> [[u8; 16]; 2] {
    let mut tables = [[0u8; 16]; 2];
    let mut i = 0;
    while i < 16 {
        tables[0][i] = apply(map, i as u8);
        tables[1][i] = apply(map, (i as u8) << 4) ^ apply(map, 0);
        i += 1;
    }
    tables
}

const INPUT_NIBBLES: [[u8; 16]; 2] = nibble_tables(AffineMap::Input);
const OUTPUT_NIBBLES: [[u8; 16]; 2] = nibble_tables(AffineMap::Output);

/// AES's S-box computed from its definition (inverse by x^254, then the affine map), for
/// the scalar model only; the fast path uses the instruction.
fn aes_sbox(x: u8) -> u8 {
    let mut inverse = 1u8;
    for _ in 0..254 {
        inverse = gf_mul(inverse, x, AES_FIELD_POLY);
    }
    aes_linear(inverse) ^ AES_AFFINE_CONST
}

/// SM4's S-box as this module computes it (nibble tables around AES's S-box), in plain
/// Rust: checks the derived constants on any CPU.
#[doc(hidden)]
pub fn sbox_model(x: u8) -> u8 {
    let nibble = |tables: &[[u8; 16]; 2], b: u8| {
        tables[0][usize::from(b & 15)] ^ tables[1][usize::from(b >> 4)]
    };
    nibble(&OUTPUT_NIBBLES, aes_sbox(nibble(&INPUT_NIBBLES, x)))
}

#[cfg(target_arch = "x86_64")]
pub use x86::{AesNi, AesNiAvx2, keystream, keystream_avx2, sbox_x16};

#[cfg(not(target_arch = "x86_64"))]
pub use portable::{AesNi, AesNiAvx2, keystream, keystream_avx2, sbox_x16};

/// Other architectures: no proof can exist, so the callers' fallback always runs.
#[cfg(not(target_arch = "x86_64"))]
mod portable {
    #[derive(Clone, Copy, Debug)]
    pub enum AesNi {}

    impl AesNi {
        pub fn detect() -> Option<Self> {
            None
        }
    }

    #[derive(Clone, Copy, Debug)]
    pub enum AesNiAvx2 {}

    impl AesNiAvx2 {
        pub fn detect() -> Option<Self> {
            None
        }
    }

    pub fn sbox_x16(proof: AesNi, _bytes: [u8; 16]) -> [u8; 16] {
        match proof {}
    }

    pub fn keystream_avx2<const G: usize>(
        proof: AesNiAvx2,
        _round_keys: &[[u32; 4]; 8],
        _nonce: [u32; 3],
        _counter: u32,
    ) -> [[[[u8; 16]; 4]; 2]; G] {
        match proof {}
    }

    pub fn keystream<const G: usize>(
        proof: AesNi,
        _round_keys: &[[u32; 4]; 8],
        _nonce: [u32; 3],
        _counter: u32,
    ) -> [[[u8; 16]; 4]; G] {
        match proof {}
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use core::arch::x86_64::{
        __m128i, __m256i, _mm_aesenclast_si128, _mm_and_si128, _mm_cvtsi128_si64, _mm_set_epi32,
        _mm_set_epi64x, _mm_set1_epi8, _mm_set1_epi32, _mm_setzero_si128, _mm_shuffle_epi8,
        _mm_slli_epi32, _mm_srli_epi32, _mm_unpackhi_epi32, _mm_unpackhi_epi64, _mm_unpacklo_epi32,
        _mm_unpacklo_epi64, _mm_xor_si128, _mm256_and_si256, _mm256_broadcastsi128_si256,
        _mm256_castsi256_si128, _mm256_extracti128_si256, _mm256_set_epi32, _mm256_set_m128i,
        _mm256_set1_epi8, _mm256_set1_epi32, _mm256_shuffle_epi8, _mm256_slli_epi32,
        _mm256_srli_epi32, _mm256_unpackhi_epi32, _mm256_unpackhi_epi64, _mm256_unpacklo_epi32,
        _mm256_unpacklo_epi64, _mm256_xor_si256,
    };

    use super::{INPUT_NIBBLES, OUTPUT_NIBBLES};

    /// Proof that this CPU has AES-NI and SSSE3: only [`AesNi::detect`] makes one, after
    /// `is_x86_feature_detected!` said yes to both.
    #[derive(Clone, Copy, Debug)]
    pub struct AesNi(());

    impl AesNi {
        pub fn detect() -> Option<Self> {
            let present = is_x86_feature_detected!("aes") && is_x86_feature_detected!("ssse3");
            present.then_some(AesNi(()))
        }
    }

    /// The byte shuffles this module needs.
    #[derive(Clone, Copy)]
    enum Shuffle {
        /// AESENCLAST applies ShiftRows (state byte r + 4c takes byte r + 4((c + r) mod
        /// 4)); this undoes it: byte r + 4c takes byte r + 4((c - r) mod 4).
        InvShiftRows,
        /// Each 32-bit lane rotated left by 8k bits (little-endian lanes: byte i of the
        /// lane moves to byte i + k).
        RotateLanes(usize),
        /// Byte swap within each 32-bit lane: SM4 words are big-endian in memory.
        SwapBytes,
    }

    /// A shuffle as a `PSHUFB` mask (result byte j = source byte mask[j]).
    const fn shuffle(kind: Shuffle) -> [u8; 16] {
        let mut out = [0u8; 16];
        let mut j = 0;
        while j < 16 {
            let (row, column) = (j % 4, j / 4);
            let source = match kind {
                Shuffle::InvShiftRows => row + 4 * ((column + 4 - row) % 4),
                Shuffle::RotateLanes(k) => (j & !3) | ((j + 4 - k) % 4),
                Shuffle::SwapBytes => (j & !3) | (3 - row),
            };
            out[j] = source as u8;
            j += 1;
        }
        out
    }

    const INV_SHIFT_ROWS: [u8; 16] = shuffle(Shuffle::InvShiftRows);
    const ROTATE_8: [u8; 16] = shuffle(Shuffle::RotateLanes(1));
    const ROTATE_16: [u8; 16] = shuffle(Shuffle::RotateLanes(2));
    const ROTATE_24: [u8; 16] = shuffle(Shuffle::RotateLanes(3));
    const SWAP_BYTES: [u8; 16] = shuffle(Shuffle::SwapBytes);

    #[inline]
    #[target_feature(enable = "sse2")]
    fn vector(bytes: [u8; 16]) -> __m128i {
        let (low, high) = bytes.split_at(8);
        let word = |half: &[u8]| {
            let mut buffer = [0u8; 8];
            buffer.copy_from_slice(half);
            i64::from_le_bytes(buffer)
        };
        _mm_set_epi64x(word(high), word(low))
    }

    #[inline]
    #[target_feature(enable = "sse2")]
    fn to_bytes(v: __m128i) -> [u8; 16] {
        let low = _mm_cvtsi128_si64(v).to_le_bytes();
        let high = _mm_cvtsi128_si64(_mm_unpackhi_epi64(v, v)).to_le_bytes();
        let mut out = [0u8; 16];
        out[..8].copy_from_slice(&low);
        out[8..].copy_from_slice(&high);
        out
    }

    fn lane(word: u32) -> i32 {
        i32::from_ne_bytes(word.to_ne_bytes())
    }

    /// The constant registers of one step, built once per call.
    #[derive(Clone, Copy)]
    struct Constants {
        input_low: __m128i,
        input_high: __m128i,
        output_low: __m128i,
        output_high: __m128i,
        low_nibble: __m128i,
        inv_shift_rows: __m128i,
        rotate_8: __m128i,
        rotate_16: __m128i,
        rotate_24: __m128i,
    }

    impl Constants {
        #[inline]
        #[target_feature(enable = "sse2")]
        fn new() -> Self {
            Constants {
                input_low: vector(INPUT_NIBBLES[0]),
                input_high: vector(INPUT_NIBBLES[1]),
                output_low: vector(OUTPUT_NIBBLES[0]),
                output_high: vector(OUTPUT_NIBBLES[1]),
                low_nibble: _mm_set1_epi8(0x0f),
                inv_shift_rows: vector(INV_SHIFT_ROWS),
                rotate_8: vector(ROTATE_8),
                rotate_16: vector(ROTATE_16),
                rotate_24: vector(ROTATE_24),
            }
        }
    }

    /// An affine byte map through its two nibble tables.
    #[inline]
    #[target_feature(enable = "ssse3")]
    fn affine(c: &Constants, low: __m128i, high: __m128i, x: __m128i) -> __m128i {
        let low_nibbles = _mm_and_si128(x, c.low_nibble);
        let high_nibbles = _mm_and_si128(_mm_srli_epi32::<4>(x), c.low_nibble);
        _mm_xor_si128(
            _mm_shuffle_epi8(low, low_nibbles),
            _mm_shuffle_epi8(high, high_nibbles),
        )
    }

    /// SM4's S-box on all 16 bytes.
    #[inline]
    #[target_feature(enable = "aes,ssse3")]
    fn sbox(c: &Constants, x: __m128i) -> __m128i {
        let mapped = affine(c, c.input_low, c.input_high, x);
        let unshifted = _mm_shuffle_epi8(mapped, c.inv_shift_rows);
        let substituted = _mm_aesenclast_si128(unshifted, _mm_setzero_si128());
        affine(c, c.output_low, c.output_high, substituted)
    }

    /// The round function's T (S-box, then L) on four 32-bit lanes.
    #[inline]
    #[target_feature(enable = "aes,ssse3")]
    fn t_round(c: &Constants, x: __m128i) -> __m128i {
        let b = sbox(c, x);
        // L(b) = b ^ (b <<< 2) ^ (b <<< 10) ^ (b <<< 18) ^ (b <<< 24)
        //      = b ^ (b <<< 24) ^ ((b ^ (b <<< 8) ^ (b <<< 16)) <<< 2).
        let r8 = _mm_shuffle_epi8(b, c.rotate_8);
        let r16 = _mm_shuffle_epi8(b, c.rotate_16);
        let r24 = _mm_shuffle_epi8(b, c.rotate_24);
        let inner = _mm_xor_si128(_mm_xor_si128(b, r8), r16);
        let rotated = _mm_xor_si128(_mm_slli_epi32::<2>(inner), _mm_srli_epi32::<30>(inner));
        _mm_xor_si128(_mm_xor_si128(b, r24), rotated)
    }

    /// SM4's S-box on 16 bytes through the instructions (tests check it exhaustively).
    pub fn sbox_x16(_proof: AesNi, bytes: [u8; 16]) -> [u8; 16] {
        #[target_feature(enable = "aes,ssse3")]
        fn run(bytes: [u8; 16]) -> [u8; 16] {
            to_bytes(sbox(&Constants::new(), vector(bytes)))
        }
        // SAFETY: an `AesNi` exists only after `is_x86_feature_detected!("aes")` and
        // `("ssse3")` returned true (`AesNi::detect`), the features `run` enables.
        unsafe { run(bytes) }
    }

    /// The keystream for counters `counter`, `counter + 1`, … (`4 * G` blocks, wrapping
    /// as GCM's 32-bit counter does) after the 12-byte nonce given as three words.
    pub fn keystream<const G: usize>(
        _proof: AesNi,
        round_keys: &[[u32; 4]; 8],
        nonce: [u32; 3],
        counter: u32,
    ) -> [[[u8; 16]; 4]; G] {
        // SAFETY: an `AesNi` exists only after `is_x86_feature_detected!("aes")` and
        // `("ssse3")` returned true (`AesNi::detect`), the features `keystream_x4` enables.
        unsafe { keystream_x4::<G>(round_keys, nonce, counter) }
    }

    #[target_feature(enable = "aes,ssse3")]
    fn keystream_x4<const G: usize>(
        round_keys: &[[u32; 4]; 8],
        nonce: [u32; 3],
        counter: u32,
    ) -> [[[u8; 16]; 4]; G] {
        let c = Constants::new();
        // Word i of four blocks in one register: the state is transposed, so each round
        // works on the same word of every block.
        let mut state: [[__m128i; 4]; G] = core::array::from_fn(|group| {
            // G is 1 or 2, so the group index always fits.
            let group = u32::try_from(group).unwrap_or(0);
            let first = counter.wrapping_add(4u32.wrapping_mul(group));
            let counters = _mm_set_epi32(
                lane(first.wrapping_add(3)),
                lane(first.wrapping_add(2)),
                lane(first.wrapping_add(1)),
                lane(first),
            );
            [
                _mm_set1_epi32(lane(nonce[0])),
                _mm_set1_epi32(lane(nonce[1])),
                _mm_set1_epi32(lane(nonce[2])),
                counters,
            ]
        });
        for keys in round_keys {
            for (word, key) in keys.iter().enumerate() {
                let k = _mm_set1_epi32(lane(*key));
                for s in state.iter_mut() {
                    let [x0, x1, x2, x3] = rotate(s, word);
                    let input = _mm_xor_si128(_mm_xor_si128(x1, x2), _mm_xor_si128(x3, k));
                    s[word] = _mm_xor_si128(x0, t_round(&c, input));
                }
            }
        }
        let mut out = [[[0u8; 16]; 4]; G];
        for (blocks, s) in out.iter_mut().zip(state) {
            *blocks = output_blocks(s);
        }
        out
    }

    /// The four words in round order when word `first` is the one being replaced.
    #[inline]
    fn rotate<T: Copy>(s: &[T; 4], first: usize) -> [T; 4] {
        core::array::from_fn(|i| s[(first + i) % 4])
    }

    /// Transposes back and applies the reverse transform R (words 3, 2, 1, 0), big-endian.
    #[inline]
    #[target_feature(enable = "ssse3")]
    fn output_blocks(s: [__m128i; 4]) -> [[u8; 16]; 4] {
        let [x0, x1, x2, x3] = s;
        let t0 = _mm_unpacklo_epi32(x3, x2);
        let t1 = _mm_unpacklo_epi32(x1, x0);
        let t2 = _mm_unpackhi_epi32(x3, x2);
        let t3 = _mm_unpackhi_epi32(x1, x0);
        let swap = vector(SWAP_BYTES);
        [
            _mm_unpacklo_epi64(t0, t1),
            _mm_unpackhi_epi64(t0, t1),
            _mm_unpacklo_epi64(t2, t3),
            _mm_unpackhi_epi64(t2, t3),
        ]
        .map(|block| to_bytes(_mm_shuffle_epi8(block, swap)))
    }

    /// Proof that this CPU has AES-NI and AVX2: only [`AesNiAvx2::detect`] makes one.
    #[derive(Clone, Copy, Debug)]
    pub struct AesNiAvx2(());

    impl AesNiAvx2 {
        pub fn detect() -> Option<Self> {
            let present = is_x86_feature_detected!("aes") && is_x86_feature_detected!("avx2");
            present.then_some(AesNiAvx2(()))
        }
    }

    /// The constant registers of the AVX2 step: each 128-bit table in both halves, since
    /// `VPSHUFB` shuffles within each half.
    #[derive(Clone, Copy)]
    struct Constants256 {
        input_low: __m256i,
        input_high: __m256i,
        output_low: __m256i,
        output_high: __m256i,
        low_nibble: __m256i,
        inv_shift_rows: __m256i,
        rotate_8: __m256i,
        rotate_16: __m256i,
        rotate_24: __m256i,
    }

    impl Constants256 {
        #[inline]
        #[target_feature(enable = "avx2")]
        fn new() -> Self {
            let both = |bytes: [u8; 16]| _mm256_broadcastsi128_si256(vector(bytes));
            Constants256 {
                input_low: both(INPUT_NIBBLES[0]),
                input_high: both(INPUT_NIBBLES[1]),
                output_low: both(OUTPUT_NIBBLES[0]),
                output_high: both(OUTPUT_NIBBLES[1]),
                low_nibble: _mm256_set1_epi8(0x0f),
                inv_shift_rows: both(INV_SHIFT_ROWS),
                rotate_8: both(ROTATE_8),
                rotate_16: both(ROTATE_16),
                rotate_24: both(ROTATE_24),
            }
        }
    }

    #[inline]
    #[target_feature(enable = "avx2")]
    fn affine256(c: &Constants256, low: __m256i, high: __m256i, x: __m256i) -> __m256i {
        let low_nibbles = _mm256_and_si256(x, c.low_nibble);
        let high_nibbles = _mm256_and_si256(_mm256_srli_epi32::<4>(x), c.low_nibble);
        _mm256_xor_si256(
            _mm256_shuffle_epi8(low, low_nibbles),
            _mm256_shuffle_epi8(high, high_nibbles),
        )
    }

    /// SM4's S-box on 32 bytes: `AESENCLAST` has no 256-bit form without VAES, so the
    /// two halves go through it separately.
    #[inline]
    #[target_feature(enable = "aes,avx2")]
    fn sbox256(c: &Constants256, x: __m256i) -> __m256i {
        let mapped = affine256(c, c.input_low, c.input_high, x);
        let unshifted = _mm256_shuffle_epi8(mapped, c.inv_shift_rows);
        let zero = _mm_setzero_si128();
        let low = _mm_aesenclast_si128(_mm256_castsi256_si128(unshifted), zero);
        let high = _mm_aesenclast_si128(_mm256_extracti128_si256::<1>(unshifted), zero);
        let substituted = _mm256_set_m128i(high, low);
        affine256(c, c.output_low, c.output_high, substituted)
    }

    #[inline]
    #[target_feature(enable = "aes,avx2")]
    fn t_round256(c: &Constants256, x: __m256i) -> __m256i {
        let b = sbox256(c, x);
        let r8 = _mm256_shuffle_epi8(b, c.rotate_8);
        let r16 = _mm256_shuffle_epi8(b, c.rotate_16);
        let r24 = _mm256_shuffle_epi8(b, c.rotate_24);
        let inner = _mm256_xor_si256(_mm256_xor_si256(b, r8), r16);
        let rotated = _mm256_xor_si256(
            _mm256_slli_epi32::<2>(inner),
            _mm256_srli_epi32::<30>(inner),
        );
        _mm256_xor_si256(_mm256_xor_si256(b, r24), rotated)
    }

    /// `8 * G` counter blocks on 256-bit registers (per group, blocks 0-3 in the low halves
    /// and 4-7 in the high halves), in the same order as [`keystream`] with `2 * G` groups.
    /// `G > 1` keeps independent dependency chains in flight: one chain alone waits on each
    /// round's latency (`AESENCLAST`, the lane moves, the shuffles) most of the time.
    pub fn keystream_avx2<const G: usize>(
        _proof: AesNiAvx2,
        round_keys: &[[u32; 4]; 8],
        nonce: [u32; 3],
        counter: u32,
    ) -> [[[[u8; 16]; 4]; 2]; G] {
        // SAFETY: an `AesNiAvx2` exists only after `is_x86_feature_detected!("aes")` and
        // `("avx2")` returned true (`AesNiAvx2::detect`), the features `keystream_x8` enables.
        unsafe { keystream_x8::<G>(round_keys, nonce, counter) }
    }

    #[target_feature(enable = "aes,avx2")]
    fn keystream_x8<const G: usize>(
        round_keys: &[[u32; 4]; 8],
        nonce: [u32; 3],
        counter: u32,
    ) -> [[[[u8; 16]; 4]; 2]; G] {
        let c = Constants256::new();
        let mut state: [[__m256i; 4]; G] = core::array::from_fn(|group| {
            // G is at most 4, so the group index always fits.
            let group = u32::try_from(group).unwrap_or(0);
            let first = counter.wrapping_add(8u32.wrapping_mul(group));
            let at = |i: u32| lane(first.wrapping_add(i));
            [
                _mm256_set1_epi32(lane(nonce[0])),
                _mm256_set1_epi32(lane(nonce[1])),
                _mm256_set1_epi32(lane(nonce[2])),
                _mm256_set_epi32(at(7), at(6), at(5), at(4), at(3), at(2), at(1), at(0)),
            ]
        });
        for keys in round_keys {
            for (word, key) in keys.iter().enumerate() {
                let k = _mm256_set1_epi32(lane(*key));
                for s in state.iter_mut() {
                    let [x0, x1, x2, x3] = rotate(s, word);
                    let input = _mm256_xor_si256(_mm256_xor_si256(x1, x2), _mm256_xor_si256(x3, k));
                    s[word] = _mm256_xor_si256(x0, t_round256(&c, input));
                }
            }
        }
        let mut out = [[[[0u8; 16]; 4]; 2]; G];
        for (blocks, s) in out.iter_mut().zip(state) {
            *blocks = output_blocks256(s);
        }
        out
    }

    /// [`output_blocks`] on both halves.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn output_blocks256(s: [__m256i; 4]) -> [[[u8; 16]; 4]; 2] {
        let [x0, x1, x2, x3] = s;
        let t0 = _mm256_unpacklo_epi32(x3, x2);
        let t1 = _mm256_unpacklo_epi32(x1, x0);
        let t2 = _mm256_unpackhi_epi32(x3, x2);
        let t3 = _mm256_unpackhi_epi32(x1, x0);
        let swap = _mm256_broadcastsi128_si256(vector(SWAP_BYTES));
        let blocks = [
            _mm256_unpacklo_epi64(t0, t1),
            _mm256_unpackhi_epi64(t0, t1),
            _mm256_unpacklo_epi64(t2, t3),
            _mm256_unpackhi_epi64(t2, t3),
        ]
        .map(|block| _mm256_shuffle_epi8(block, swap));
        let low = blocks.map(|b| to_bytes(_mm256_castsi256_si128(b)));
        let high = blocks.map(|b| to_bytes(_mm256_extracti128_si256::<1>(b)));
        [low, high]
    }
}
