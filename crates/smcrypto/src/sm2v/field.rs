//! Arithmetic modulo the SM2 prime p = 2^256 − 2^224 − 2^96 + 2^64 − 1, in Montgomery form
//! with R = 2^256, four 64-bit limbs (little-endian), products in `u128`.
//!
//! Variable time: this code only ever sees public data (public keys, signatures, message
//! hashes), so it may branch on values, which keeps it short and fast. Never use it on
//! secrets; signing stays on the constant-time `sm2` crate.
//!
//! Why Montgomery is cheap here: p ≡ −1 (mod 2^64), so the per-word Montgomery factor
//! −p⁻¹ mod 2^64 is 1 and each reduction step multiplies by p's limbs, which are all-ones
//! words or all-ones minus 2^32: the lowest word cancels outright and the rest is adds.

/// p as little-endian limbs.
pub(crate) const P: [u64; 4] = [
    0xffff_ffff_ffff_ffff,
    0xffff_ffff_0000_0000,
    0xffff_ffff_ffff_ffff,
    0xffff_fffe_ffff_ffff,
];

/// R² mod p, to enter Montgomery form with one multiplication.
const R2: [u64; 4] = [
    0x0000_0002_0000_0003,
    0x0000_0002_ffff_ffff,
    0x0000_0001_0000_0001,
    0x0000_0004_0000_0002,
];

/// R mod p: the Montgomery form of 1.
const R1: [u64; 4] = [
    0x0000_0000_0000_0001,
    0x0000_0000_ffff_ffff,
    0x0000_0000_0000_0000,
    0x0000_0001_0000_0000,
];

/// A field element in Montgomery form, always fully reduced into [0, p).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Fe(pub(crate) [u64; 4]);

/// Low and high halves of a 128-bit value.
#[inline(always)]
fn split(v: u128) -> (u64, u64) {
    // Truncation is the point: the low word, then the carry word.
    (v as u64, (v >> 64) as u64)
}

#[inline(always)]
fn mac(acc: u64, a: u64, b: u64, carry: u64) -> (u64, u64) {
    split(u128::from(acc) + u128::from(a) * u128::from(b) + u128::from(carry))
}

#[inline(always)]
fn adc(a: u64, b: u64, carry: u64) -> (u64, u64) {
    split(u128::from(a) + u128::from(b) + u128::from(carry))
}

#[inline(always)]
fn sbb(a: u64, b: u64, borrow: u64) -> (u64, u64) {
    // borrow is 0 or 1; the returned borrow is 1 when the subtraction wrapped.
    let (d1, o1) = a.overflowing_sub(b);
    let (d2, o2) = d1.overflowing_sub(borrow);
    (d2, u64::from(o1 | o2))
}

/// `a − b` over four limbs and the final borrow (0 or 1).
#[inline(always)]
pub(crate) fn sub4(a: &[u64; 4], b: &[u64; 4]) -> ([u64; 4], u64) {
    let (d0, c) = sbb(a[0], b[0], 0);
    let (d1, c) = sbb(a[1], b[1], c);
    let (d2, c) = sbb(a[2], b[2], c);
    let (d3, c) = sbb(a[3], b[3], c);
    ([d0, d1, d2, d3], c)
}

/// `a + b` over four limbs and the final carry (0 or 1).
#[inline(always)]
pub(crate) fn add4(a: &[u64; 4], b: &[u64; 4]) -> ([u64; 4], u64) {
    let (d0, c) = adc(a[0], b[0], 0);
    let (d1, c) = adc(a[1], b[1], c);
    let (d2, c) = adc(a[2], b[2], c);
    let (d3, c) = adc(a[3], b[3], c);
    ([d0, d1, d2, d3], c)
}

/// Whether `a < b` as 256-bit integers.
#[inline(always)]
pub(crate) fn less_than(a: &[u64; 4], b: &[u64; 4]) -> bool {
    sub4(a, b).1 == 1
}

/// 32 big-endian bytes as little-endian limbs.
pub(crate) fn limbs_from_be(bytes: &[u8; 32]) -> [u64; 4] {
    let mut limbs = [0u64; 4];
    for (limb, chunk) in limbs.iter_mut().rev().zip(bytes.chunks_exact(8)) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        *limb = u64::from_be_bytes(word);
    }
    limbs
}

/// Little-endian limbs as 32 big-endian bytes.
#[cfg(test)]
pub(crate) fn limbs_to_be(limbs: &[u64; 4]) -> [u8; 32] {
    let mut bytes = [0u8; 32];
    for (chunk, limb) in bytes.chunks_exact_mut(8).zip(limbs.iter().rev()) {
        chunk.copy_from_slice(&limb.to_be_bytes());
    }
    bytes
}

/// Montgomery reduction of a 512-bit product: `t · R⁻¹ mod p`, for `t < p · 2^256`.
#[inline(always)]
fn montgomery_reduce(t: [u64; 8]) -> Fe {
    let [t0, mut t1, mut t2, mut t3, mut t4, mut t5, mut t6, mut t7] = t;
    // Each round adds m·p·2^(64i) with m = the lowest live word (−p⁻¹ ≡ 1 mod 2^64):
    // t_i + m·(2^64 − 1) = m·2^64, so the lowest word becomes 0 with carry exactly m.
    let m = t0;
    let (x1, c) = mac(t1, m, P[1], m);
    let (x2, c) = mac(t2, m, P[2], c);
    let (x3, c) = mac(t3, m, P[3], c);
    let (x4, top) = adc(t4, c, 0);
    (t1, t2, t3, t4) = (x1, x2, x3, x4);

    let m = t1;
    let (x2, c) = mac(t2, m, P[1], m);
    let (x3, c) = mac(t3, m, P[2], c);
    let (x4, c) = mac(t4, m, P[3], c);
    let (x5, top) = adc(t5, c, top);
    (t2, t3, t4, t5) = (x2, x3, x4, x5);

    let m = t2;
    let (x3, c) = mac(t3, m, P[1], m);
    let (x4, c) = mac(t4, m, P[2], c);
    let (x5, c) = mac(t5, m, P[3], c);
    let (x6, top) = adc(t6, c, top);
    (t3, t4, t5, t6) = (x3, x4, x5, x6);

    let m = t3;
    let (x4, c) = mac(t4, m, P[1], m);
    let (x5, c) = mac(t5, m, P[2], c);
    let (x6, c) = mac(t6, m, P[3], c);
    let (x7, top) = adc(t7, c, top);
    (t4, t5, t6, t7) = (x4, x5, x6, x7);

    // The result is below 2p: one conditional subtraction, including the 257th bit.
    let r = [t4, t5, t6, t7];
    let (d, borrow) = sub4(&r, &P);
    if top == 1 || borrow == 0 {
        Fe(d)
    } else {
        Fe(r)
    }
}

impl Fe {
    pub(crate) const ZERO: Fe = Fe([0; 4]);
    pub(crate) const ONE: Fe = Fe(R1);

    /// From a canonical integer below p (as limbs); `None` if it is not below p.
    pub(crate) fn from_canonical(limbs: [u64; 4]) -> Option<Fe> {
        if !less_than(&limbs, &P) {
            return None;
        }
        Some(Fe(limbs).mul(&Fe(R2)))
    }

    /// From 32 big-endian bytes; `None` unless the integer is below p.
    pub(crate) fn from_be_bytes(bytes: &[u8; 32]) -> Option<Fe> {
        Self::from_canonical(limbs_from_be(bytes))
    }

    /// The canonical integer (out of Montgomery form) as limbs.
    #[cfg(test)]
    pub(crate) fn to_canonical(self) -> [u64; 4] {
        montgomery_reduce([self.0[0], self.0[1], self.0[2], self.0[3], 0, 0, 0, 0]).0
    }

    /// The canonical integer as 32 big-endian bytes.
    #[cfg(test)]
    pub(crate) fn to_be_bytes(self) -> [u8; 32] {
        limbs_to_be(&self.to_canonical())
    }

    pub(crate) fn is_zero(&self) -> bool {
        self.0 == [0; 4]
    }

    #[inline]
    pub(crate) fn add(&self, other: &Fe) -> Fe {
        let (sum, carry) = add4(&self.0, &other.0);
        let (d, borrow) = sub4(&sum, &P);
        if carry == 1 || borrow == 0 {
            Fe(d)
        } else {
            Fe(sum)
        }
    }

    #[inline]
    pub(crate) fn sub(&self, other: &Fe) -> Fe {
        let (d, borrow) = sub4(&self.0, &other.0);
        if borrow == 1 {
            Fe(add4(&d, &P).0)
        } else {
            Fe(d)
        }
    }

    #[inline]
    pub(crate) fn double(&self) -> Fe {
        self.add(self)
    }

    #[inline]
    pub(crate) fn neg(&self) -> Fe {
        Fe::ZERO.sub(self)
    }

    #[inline]
    pub(crate) fn mul(&self, other: &Fe) -> Fe {
        let a = &self.0;
        let b = &other.0;
        let (t0, c) = mac(0, a[0], b[0], 0);
        let (t1, c) = mac(0, a[0], b[1], c);
        let (t2, c) = mac(0, a[0], b[2], c);
        let (t3, t4) = mac(0, a[0], b[3], c);

        let (t1, c) = mac(t1, a[1], b[0], 0);
        let (t2, c) = mac(t2, a[1], b[1], c);
        let (t3, c) = mac(t3, a[1], b[2], c);
        let (t4, t5) = mac(t4, a[1], b[3], c);

        let (t2, c) = mac(t2, a[2], b[0], 0);
        let (t3, c) = mac(t3, a[2], b[1], c);
        let (t4, c) = mac(t4, a[2], b[2], c);
        let (t5, t6) = mac(t5, a[2], b[3], c);

        let (t3, c) = mac(t3, a[3], b[0], 0);
        let (t4, c) = mac(t4, a[3], b[1], c);
        let (t5, c) = mac(t5, a[3], b[2], c);
        let (t6, t7) = mac(t6, a[3], b[3], c);

        montgomery_reduce([t0, t1, t2, t3, t4, t5, t6, t7])
    }

    #[inline]
    pub(crate) fn square(&self) -> Fe {
        let a = &self.0;
        // Cross products once, doubled, then the squares on the diagonal.
        let (t1, c) = mac(0, a[0], a[1], 0);
        let (t2, c) = mac(0, a[0], a[2], c);
        let (t3, t4) = mac(0, a[0], a[3], c);
        let (t3, c) = mac(t3, a[1], a[2], 0);
        let (t4, t5) = mac(t4, a[1], a[3], c);
        let (t5, t6) = mac(t5, a[2], a[3], 0);

        let t7 = t6 >> 63;
        let t6 = (t6 << 1) | (t5 >> 63);
        let t5 = (t5 << 1) | (t4 >> 63);
        let t4 = (t4 << 1) | (t3 >> 63);
        let t3 = (t3 << 1) | (t2 >> 63);
        let t2 = (t2 << 1) | (t1 >> 63);
        let t1 = t1 << 1;

        let (t0, c) = mac(0, a[0], a[0], 0);
        let (t1, c) = adc(t1, c, 0);
        let (t2, c) = mac(t2, a[1], a[1], c);
        let (t3, c) = adc(t3, c, 0);
        let (t4, c) = mac(t4, a[2], a[2], c);
        let (t5, c) = adc(t5, c, 0);
        let (t6, c) = mac(t6, a[3], a[3], c);
        let (t7, _) = adc(t7, c, 0);

        montgomery_reduce([t0, t1, t2, t3, t4, t5, t6, t7])
    }

    /// The inverse by Fermat (`self^(p−2)`); zero maps to zero. Only table builds and
    /// tests use it, once per batch of points, so plain square-and-multiply is enough.
    pub(crate) fn invert(&self) -> Fe {
        self.pow_vartime(&sub4(&P, &[2, 0, 0, 0]).0)
    }

    /// `self^exp` by left-to-right square-and-multiply (variable time).
    pub(crate) fn pow_vartime(&self, exp: &[u64; 4]) -> Fe {
        let mut acc = Fe::ONE;
        for limb in exp.iter().rev() {
            for bit in (0..64).rev() {
                acc = acc.square();
                if (limb >> bit) & 1 == 1 {
                    acc = acc.mul(self);
                }
            }
        }
        acc
    }
}
