//! Precomputed multiples for fixed-base scalar multiplication, and the wNAF recoding that
//! indexes them.
//!
//! A scalar k < 2^256 is cut into [`CHUNKS`] chunks of [`CHUNK_BITS`] bits,
//! k = Σ k_i · 2^(CHUNK_BITS·i), and a table holds, for each chunk i, the odd multiples
//! 1, 3, …, 2^(w−1) − 1 of B_i = 2^(CHUNK_BITS·i) · B in affine form. Then
//! k·B = Σ k_i·B_i, and all chunks of both scalars of a verification (s for G, t for
//! the key) share one accumulator: CHUNK_BITS doublings instead of 256, plus one mixed
//! addition per nonzero wNAF digit (about 256/(w+1) per scalar). Chunk 0's entries are the
//! plain odd multiples of B, which the one-off path (no key table) uses as an ordinary wNAF
//! table over all 256 bits.

use super::point::{Affine, Jacobian, batch_to_affine};

/// Chunks per 256-bit scalar: 8 chunks of 32 bits, so 32 doublings per verification.
pub(crate) const CHUNKS: usize = 8;

/// Bits per chunk.
pub(crate) const CHUNK_BITS: usize = 256 / CHUNKS;

/// wNAF digits of one chunk: a w-NAF of an n-bit number has at most n + 1 digits.
pub(crate) const CHUNK_DIGITS: usize = CHUNK_BITS + 1;

/// wNAF digits of a whole scalar.
pub(crate) const SCALAR_DIGITS: usize = 257;

/// Largest window any table uses (digits must fit an `i8`).
const WINDOW_MAX: u32 = 8;

/// Odd multiples of B·2^(CHUNK_BITS·i) for every chunk i, affine.
#[derive(Debug)]
pub(crate) struct FixedTable {
    window: u32,
    per_chunk: usize,
    entries: Vec<Affine>,
}

impl FixedTable {
    /// Build the table of `base` for wNAF window `window` (2..=8). `None` only if `base`
    /// has small order, which no point of the SM2 group other than infinity has.
    pub(crate) fn build(base: &Affine, window: u32) -> Option<FixedTable> {
        assert!(
            (2..=WINDOW_MAX).contains(&window),
            "window {window} out of range"
        );
        let per_chunk = 1usize << (window - 2);
        let mut points = Vec::with_capacity(CHUNKS * per_chunk);
        let mut chunk_base = base.to_jacobian();
        for chunk in 0..CHUNKS {
            let twice = chunk_base.double();
            let mut multiple = chunk_base;
            for _ in 0..per_chunk {
                points.push(multiple);
                multiple = multiple.add(&twice);
            }
            if chunk + 1 < CHUNKS {
                for _ in 0..CHUNK_BITS {
                    chunk_base = chunk_base.double();
                }
            }
        }
        let entries = batch_to_affine(&points)?;
        Some(FixedTable {
            window,
            per_chunk,
            entries,
        })
    }

    pub(crate) fn window(&self) -> u32 {
        self.window
    }

    /// `digit · B_chunk` for an odd digit with |digit| < 2^(w−1), as wNAF produces.
    #[inline]
    pub(crate) fn entry(&self, chunk: usize, digit: i8) -> Affine {
        let idx = chunk * self.per_chunk + usize::from(digit.unsigned_abs() >> 1);
        let point = self.entries[idx];
        if digit < 0 { point.neg() } else { point }
    }
}

/// Bits `pos .. pos + count` of `k` (count ≤ 32), zero past the top.
#[inline]
fn bits_at(k: &[u64; 4], pos: usize, count: usize) -> u64 {
    let limb = pos / 64;
    let offset = pos % 64;
    let low = k.get(limb).copied().unwrap_or(0) >> offset;
    let high = if offset + count > 64 {
        k.get(limb + 1).copied().unwrap_or(0) << (64 - offset)
    } else {
        0
    };
    (low | high) & ((1u64 << count) - 1)
}

/// The width-`window` NAF of bits `start .. start + len` of `k` into `out` (length at
/// least len + 1): odd digits in (−2^(w−1), 2^(w−1)), any two nonzero digits at least w
/// apart, Σ out[j]·2^j equal to the bits' value.
pub(crate) fn wnaf(k: &[u64; 4], start: usize, len: usize, window: u32, out: &mut [i8]) {
    let window_bits = window as usize;
    out.fill(0);
    let mut carry = 0u64;
    let mut bit = 0usize;
    while bit < len {
        if bits_at(k, start + bit, 1) == carry {
            bit += 1;
            continue;
        }
        let now = window_bits.min(len - bit);
        let word = bits_at(k, start + bit, now) + carry;
        // A word with its top window bit set becomes negative, carrying 2^w upwards.
        carry = (word >> (window_bits - 1)) & 1;
        let digit =
            i64::try_from(word).unwrap_or(0) - i64::try_from(carry << window_bits).unwrap_or(0);
        if let Some(slot) = out.get_mut(bit) {
            *slot = i8::try_from(digit).unwrap_or(0);
        }
        bit += now;
    }
    if let Some(slot) = out.get_mut(len) {
        *slot = i8::try_from(carry).unwrap_or(0);
    }
}

/// Odd multiples Q, 3Q, …, (2^(w−1) − 1)Q in Jacobian form, for a point seen once: cheaper
/// than normalising them for the few dozen additions they serve.
pub(crate) fn odd_multiples(point: &Affine, window: u32) -> Vec<Jacobian> {
    let count = 1usize << (window - 2);
    let base = point.to_jacobian();
    let twice = base.double();
    let mut out = Vec::with_capacity(count);
    let mut multiple = base;
    for _ in 0..count {
        out.push(multiple);
        multiple = multiple.add(&twice);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value_of(digits: &[i8]) -> i128 {
        digits
            .iter()
            .enumerate()
            .map(|(j, d)| i128::from(*d) << j)
            .sum()
    }

    #[test]
    fn wnaf_digits_reconstruct_and_are_sparse() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..2000 {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let k = [seed, seed.rotate_left(17), !seed, seed ^ 0xffff_0000];
            for window in 2..=WINDOW_MAX {
                for chunk in 0..CHUNKS {
                    let mut out = [0i8; CHUNK_DIGITS];
                    wnaf(&k, chunk * CHUNK_BITS, CHUNK_BITS, window, &mut out);
                    let expect = i128::from(bits_at(&k, chunk * CHUNK_BITS, CHUNK_BITS));
                    assert_eq!(value_of(&out), expect);
                    let mut last = None;
                    for (j, d) in out.iter().enumerate() {
                        if *d != 0 {
                            assert_eq!(d.rem_euclid(2), 1, "digit {d} even");
                            assert!(i32::from(d.unsigned_abs()) < 1 << (window - 1));
                            if let Some(prev) = last {
                                assert!(j - prev >= window as usize);
                            }
                            last = Some(j);
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn wnaf_of_all_ones_carries_into_the_top_digit() {
        let k = [u64::MAX; 4];
        let mut out = [0i8; SCALAR_DIGITS];
        wnaf(&k, 0, 256, 5, &mut out);
        assert_eq!(out[256], 1);
        assert_eq!(out[0], -1);
        assert!(out[1..256].iter().all(|d| *d == 0));
    }
}
