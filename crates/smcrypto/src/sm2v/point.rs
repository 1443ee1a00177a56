//! Points of the SM2 curve y² = x³ − 3x + b: affine for precomputed tables (mixed
//! additions are the cheapest), Jacobian (X/Z², Y/Z³) while accumulating, so nothing
//! needs an inversion until a table is normalised. Formulas from the Explicit-Formulas
//! Database (dbl-2001-b for a = −3, madd-2007-bl, add-2007-bl), with the exceptional cases
//! (infinity, P + P, P − P) branched on: variable time, public data only.

use super::field::Fe;

/// An affine point, never the point at infinity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Affine {
    pub(crate) x: Fe,
    pub(crate) y: Fe,
}

/// A Jacobian point; Z = 0 is the point at infinity.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Jacobian {
    pub(crate) x: Fe,
    pub(crate) y: Fe,
    pub(crate) z: Fe,
}

impl Affine {
    /// Whether (x, y) satisfies y² = x³ − 3x + b.
    pub(crate) fn is_on_curve(&self, b: &Fe) -> bool {
        let x2 = self.x.square();
        let three_x = self.x.double().add(&self.x);
        let rhs = x2.mul(&self.x).sub(&three_x).add(b);
        self.y.square() == rhs
    }

    pub(crate) fn neg(&self) -> Affine {
        Affine {
            x: self.x,
            y: self.y.neg(),
        }
    }

    pub(crate) fn to_jacobian(self) -> Jacobian {
        Jacobian {
            x: self.x,
            y: self.y,
            z: Fe::ONE,
        }
    }
}

impl Jacobian {
    pub(crate) const INFINITY: Jacobian = Jacobian {
        x: Fe::ONE,
        y: Fe::ONE,
        z: Fe::ZERO,
    };

    pub(crate) fn is_infinity(&self) -> bool {
        self.z.is_zero()
    }

    pub(crate) fn neg(&self) -> Jacobian {
        Jacobian {
            x: self.x,
            y: self.y.neg(),
            z: self.z,
        }
    }

    /// 2·self (dbl-2001-b, a = −3): 3M + 5S. Infinity doubles to infinity (Z stays 0),
    /// and the curve has no point of order 2, so no other case is exceptional.
    #[inline]
    pub(crate) fn double(&self) -> Jacobian {
        let delta = self.z.square();
        let gamma = self.y.square();
        let beta = self.x.mul(&gamma);
        let t = self.x.sub(&delta).mul(&self.x.add(&delta));
        let alpha = t.double().add(&t);
        let beta4 = beta.double().double();
        let x3 = alpha.square().sub(&beta4.double());
        let z3 = self.y.add(&self.z).square().sub(&gamma).sub(&delta);
        let gamma2_8 = gamma.square().double().double().double();
        let y3 = alpha.mul(&beta4.sub(&x3)).sub(&gamma2_8);
        Jacobian {
            x: x3,
            y: y3,
            z: z3,
        }
    }

    /// self + other with `other` affine (madd-2007-bl): 7M + 4S.
    #[inline]
    pub(crate) fn add_affine(&self, other: &Affine) -> Jacobian {
        if self.is_infinity() {
            return other.to_jacobian();
        }
        let z1z1 = self.z.square();
        let u2 = other.x.mul(&z1z1);
        let s2 = other.y.mul(&self.z).mul(&z1z1);
        let h = u2.sub(&self.x);
        let r = s2.sub(&self.y).double();
        if h.is_zero() {
            // Same x: either the same point (double it) or its negation (sum is infinity).
            return if r.is_zero() {
                self.double()
            } else {
                Jacobian::INFINITY
            };
        }
        let hh = h.square();
        let i = hh.double().double();
        let j = h.mul(&i);
        let v = self.x.mul(&i);
        let x3 = r.square().sub(&j).sub(&v.double());
        let y3 = r.mul(&v.sub(&x3)).sub(&self.y.mul(&j).double());
        let z3 = self.z.add(&h).square().sub(&z1z1).sub(&hh);
        Jacobian {
            x: x3,
            y: y3,
            z: z3,
        }
    }

    /// self + other, both Jacobian (add-2007-bl): 11M + 5S.
    pub(crate) fn add(&self, other: &Jacobian) -> Jacobian {
        if self.is_infinity() {
            return *other;
        }
        if other.is_infinity() {
            return *self;
        }
        let z1z1 = self.z.square();
        let z2z2 = other.z.square();
        let u1 = self.x.mul(&z2z2);
        let u2 = other.x.mul(&z1z1);
        let s1 = self.y.mul(&other.z).mul(&z2z2);
        let s2 = other.y.mul(&self.z).mul(&z1z1);
        let h = u2.sub(&u1);
        let r = s2.sub(&s1).double();
        if h.is_zero() {
            return if r.is_zero() {
                self.double()
            } else {
                Jacobian::INFINITY
            };
        }
        let i = h.double().square();
        let j = h.mul(&i);
        let v = u1.mul(&i);
        let x3 = r.square().sub(&j).sub(&v.double());
        let y3 = r.mul(&v.sub(&x3)).sub(&s1.mul(&j).double());
        let z3 = self.z.add(&other.z).square().sub(&z1z1).sub(&z2z2).mul(&h);
        Jacobian {
            x: x3,
            y: y3,
            z: z3,
        }
    }

    /// The affine point, `None` for infinity. One inversion: tests and one-off uses only.
    #[cfg(test)]
    pub(crate) fn to_affine(self) -> Option<Affine> {
        if self.is_infinity() {
            return None;
        }
        let z_inv = self.z.invert();
        let z_inv2 = z_inv.square();
        Some(Affine {
            x: self.x.mul(&z_inv2),
            y: self.y.mul(&z_inv2).mul(&z_inv),
        })
    }
}

/// All points affine with one inversion (Montgomery's trick). `None` if any is infinity;
/// table entries are nonzero multiples below n of a point of order n, so never are.
pub(crate) fn batch_to_affine(points: &[Jacobian]) -> Option<Vec<Affine>> {
    if points.iter().any(Jacobian::is_infinity) {
        return None;
    }
    // prefix[i] = z_0 · … · z_i
    let mut prefix = Vec::with_capacity(points.len());
    let mut acc = Fe::ONE;
    for point in points {
        acc = acc.mul(&point.z);
        prefix.push(acc);
    }
    let mut inv = acc.invert();
    let mut out = vec![
        Affine {
            x: Fe::ZERO,
            y: Fe::ZERO
        };
        points.len()
    ];
    for idx in (0..points.len()).rev() {
        // inv = (z_0 · … · z_idx)⁻¹ here; peel off z_idx.
        let z_inv = match idx.checked_sub(1).and_then(|prev| prefix.get(prev)) {
            Some(before) => inv.mul(before),
            None => inv,
        };
        let point = points.get(idx)?;
        inv = inv.mul(&point.z);
        let z_inv2 = z_inv.square();
        let slot = out.get_mut(idx)?;
        *slot = Affine {
            x: point.x.mul(&z_inv2),
            y: point.y.mul(&z_inv2).mul(&z_inv),
        };
    }
    Some(out)
}
