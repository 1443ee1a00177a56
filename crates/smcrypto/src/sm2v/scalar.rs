//! The little arithmetic modulo the group order n that verification needs: range checks,
//! `t = (r + s) mod n`, `(r − e) mod n`. No multiplication or inversion mod n is needed,
//! because verification never divides by s (that is the signer's job).

use super::field::{add4, less_than, limbs_from_be, sub4};

/// The order n of the SM2 base point, little-endian limbs.
pub(crate) const N: [u64; 4] = [
    0x53bb_f409_39d5_4123,
    0x7203_df6b_21c6_052b,
    0xffff_ffff_ffff_ffff,
    0xffff_fffe_ffff_ffff,
];

/// An integer in [0, n), plain (not Montgomery) little-endian limbs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Scalar(pub(crate) [u64; 4]);

impl Scalar {
    /// From 32 big-endian bytes; `None` unless the integer is in [1, n−1] (the range
    /// GB/T 32918.2 §7.1 B1/B2 demands of r and s).
    pub(crate) fn from_be_bytes_nonzero(bytes: &[u8; 32]) -> Option<Scalar> {
        let limbs = limbs_from_be(bytes);
        if limbs == [0; 4] || !less_than(&limbs, &N) {
            return None;
        }
        Some(Scalar(limbs))
    }

    /// From 32 big-endian bytes, reduced mod n: a hash value e is below 2^256 < 2n, so one
    /// conditional subtraction suffices.
    pub(crate) fn from_be_bytes_reduced(bytes: &[u8; 32]) -> Scalar {
        let limbs = limbs_from_be(bytes);
        let (d, borrow) = sub4(&limbs, &N);
        if borrow == 0 {
            Scalar(d)
        } else {
            Scalar(limbs)
        }
    }

    pub(crate) fn is_zero(&self) -> bool {
        self.0 == [0; 4]
    }

    pub(crate) fn add(&self, other: &Scalar) -> Scalar {
        let (sum, carry) = add4(&self.0, &other.0);
        let (d, borrow) = sub4(&sum, &N);
        if carry == 1 || borrow == 0 {
            Scalar(d)
        } else {
            Scalar(sum)
        }
    }

    pub(crate) fn sub(&self, other: &Scalar) -> Scalar {
        let (d, borrow) = sub4(&self.0, &other.0);
        if borrow == 1 {
            Scalar(add4(&d, &N).0)
        } else {
            Scalar(d)
        }
    }
}
