//! Unit tests of the verification arithmetic against independent references: a slow
//! shift-and-add modular multiplication for the field, the `sm2` crate's constant-time
//! point arithmetic for scalar multiplication, and the GB/T 32918.2 worked example.

use proptest::prelude::*;
use sm2::elliptic_curve::PrimeField as _;

use super::field::{Fe, P, add4, less_than, limbs_from_be, limbs_to_be, sub4};
use super::point::{Affine, Jacobian, batch_to_affine};
use super::scalar::{N, Scalar};
use super::table::FixedTable;
use super::*;

/// (a + b) mod p on canonical integers, by plain carries.
fn add_mod_p(a: &[u64; 4], b: &[u64; 4]) -> [u64; 4] {
    let (sum, carry) = add4(a, b);
    if carry == 1 || !less_than(&sum, &P) {
        sub4(&sum, &P).0
    } else {
        sum
    }
}

/// a·b mod p by double-and-add over b's bits: slow, but shares nothing with Montgomery.
fn mul_mod_p_slow(a: &[u64; 4], b: &[u64; 4]) -> [u64; 4] {
    let mut acc = [0u64; 4];
    for limb in b.iter().rev() {
        for bit in (0..64).rev() {
            acc = add_mod_p(&acc, &acc);
            if (limb >> bit) & 1 == 1 {
                acc = add_mod_p(&acc, a);
            }
        }
    }
    acc
}

fn below_p() -> impl Strategy<Value = [u64; 4]> {
    prop_oneof![
        any::<[u64; 4]>().prop_map(|limbs| if less_than(&limbs, &P) {
            limbs
        } else {
            sub4(&limbs, &P).0
        }),
        // Values near 0 and near p, where carries and conditional subtractions bite.
        (0u64..4).prop_map(|low| [low, 0, 0, 0]),
        (1u64..5).prop_map(|low| sub4(&P, &[low, 0, 0, 0]).0),
        Just([0, 0, 0, 1 << 63]),
        Just([u64::MAX, u64::MAX, u64::MAX, 0]),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    #[test]
    fn field_mul_matches_slow_reference(a in below_p(), b in below_p()) {
        let fa = Fe::from_canonical(a).unwrap();
        let fb = Fe::from_canonical(b).unwrap();
        prop_assert_eq!(fa.to_canonical(), a);
        prop_assert_eq!(fa.mul(&fb).to_canonical(), mul_mod_p_slow(&a, &b));
        prop_assert_eq!(fa.square().to_canonical(), mul_mod_p_slow(&a, &a));
        prop_assert_eq!(fa.add(&fb).to_canonical(), add_mod_p(&a, &b));
        prop_assert_eq!(fa.sub(&fb).add(&fb), fa);
        prop_assert_eq!(fa.neg().add(&fa), Fe::ZERO);
        prop_assert!(less_than(&fa.mul(&fb).0, &P));
    }

    #[test]
    fn field_inverse(a in below_p()) {
        let fa = Fe::from_canonical(a).unwrap();
        if a == [0; 4] {
            prop_assert_eq!(fa.invert(), Fe::ZERO);
        } else {
            prop_assert_eq!(fa.mul(&fa.invert()), Fe::ONE);
        }
    }

    #[test]
    fn scalar_add_sub_mod_n(a in any::<[u8; 32]>(), b in any::<[u8; 32]>()) {
        let x = Scalar::from_be_bytes_reduced(&a);
        let y = Scalar::from_be_bytes_reduced(&b);
        prop_assert!(less_than(&x.0, &N));
        let sum = x.add(&y);
        prop_assert!(less_than(&sum.0, &N));
        prop_assert_eq!(sum.sub(&y), x);
        // Same as the sm2 crate's scalar field.
        let sx = sm2::Scalar::from_repr(limbs_to_be(&x.0).into()).unwrap();
        let sy = sm2::Scalar::from_repr(limbs_to_be(&y.0).into()).unwrap();
        prop_assert_eq!(limbs_to_be(&sum.0), <[u8; 32]>::from((sx + sy).to_repr()));
        prop_assert_eq!(limbs_to_be(&x.sub(&y).0), <[u8; 32]>::from((sx - sy).to_repr()));
    }
}

#[test]
fn field_rejects_non_canonical_and_round_trips_bytes() {
    assert_eq!(Fe::from_canonical(P), None);
    assert_eq!(Fe::from_canonical([u64::MAX; 4]), None);
    let p_minus_1 = sub4(&P, &[1, 0, 0, 0]).0;
    let fe = Fe::from_canonical(p_minus_1).unwrap();
    assert_eq!(fe.add(&Fe::ONE), Fe::ZERO);
    assert_eq!(limbs_from_be(&fe.to_be_bytes()), p_minus_1);
    assert_eq!(Fe::ONE.to_canonical(), [1, 0, 0, 0]);
}

#[test]
fn scalar_ranges() {
    let n_bytes = limbs_to_be(&N);
    assert_eq!(Scalar::from_be_bytes_nonzero(&n_bytes), None);
    assert_eq!(Scalar::from_be_bytes_nonzero(&[0; 32]), None);
    assert_eq!(Scalar::from_be_bytes_nonzero(&[0xff; 32]), None);
    let n_minus_1 = limbs_to_be(&sub4(&N, &[1, 0, 0, 0]).0);
    assert!(Scalar::from_be_bytes_nonzero(&n_minus_1).is_some());
    assert_eq!(Scalar::from_be_bytes_reduced(&n_bytes), Scalar([0; 4]));
    assert_eq!(
        Scalar::from_be_bytes_reduced(&[0xff; 32]).0,
        sub4(&[u64::MAX; 4], &N).0
    );
}

fn generator_sm2() -> sm2::ProjectivePoint {
    sm2::ProjectivePoint::GENERATOR
}

/// The sm2 crate's affine `x ‖ y` of a point, `None` for infinity.
fn sm2_coordinates(point: &sm2::ProjectivePoint) -> Option<[u8; 64]> {
    let public = sm2::PublicKey::from_affine(point.to_affine()).ok()?;
    let sec1 = public.to_sec1_bytes();
    sec1.get(1..)?.try_into().ok()
}

fn our_coordinates(point: &Jacobian) -> Option<[u8; 64]> {
    let affine = point.to_affine()?;
    let mut out = [0u8; 64];
    out[..32].copy_from_slice(&affine.x.to_be_bytes());
    out[32..].copy_from_slice(&affine.y.to_be_bytes());
    Some(out)
}

fn scalar_pair() -> impl Strategy<Value = ([u8; 32], [u8; 32], [u8; 32])> {
    let nonzero_below_n = any::<[u8; 32]>().prop_map(|bytes| {
        let reduced = Scalar::from_be_bytes_reduced(&bytes);
        if reduced.is_zero() {
            [1u8; 32]
        } else {
            limbs_to_be(&reduced.0)
        }
    });
    (
        nonzero_below_n.clone(),
        nonzero_below_n.clone(),
        nonzero_below_n,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// s·G + t·P on all three paths equals the sm2 crate's, for a random key P = d·G.
    #[test]
    fn double_scalar_mul_matches_sm2_crate((s, t, d) in scalar_pair()) {
        let s_sm2 = sm2::Scalar::from_repr(s.into()).unwrap();
        let t_sm2 = sm2::Scalar::from_repr(t.into()).unwrap();
        let d_sm2 = sm2::Scalar::from_repr(d.into()).unwrap();
        let key_sm2 = generator_sm2() * d_sm2;
        let expect = sm2_coordinates(&(generator_sm2() * s_sm2 + key_sm2 * t_sm2));

        let key_bytes = sm2_coordinates(&key_sm2).unwrap();
        let key = parse_key(&key_bytes).unwrap();
        let s = Scalar::from_be_bytes_nonzero(&s).unwrap();
        let t = Scalar::from_be_bytes_nonzero(&t).unwrap();
        let key_table = FixedTable::build(&key, cache::KEY_TABLE_WINDOW).unwrap();
        prop_assert_eq!(our_coordinates(&mul_fixed_pair(generator_table(), &key_table, &s, &t)), expect);
        prop_assert_eq!(our_coordinates(&mul_one_off(generator_table(), &key, &s, &t)), expect);
    }
}

#[test]
fn exceptional_sums_reach_infinity_and_doubling() {
    // t·P = −s·G when P = G and t = n − s: the sum is infinity, which verification rejects.
    let g = generator();
    let s = Scalar([5, 0, 0, 0]);
    let t = Scalar(sub4(&N, &[5, 0, 0, 0]).0);
    let g_table = FixedTable::build(&g, cache::KEY_TABLE_WINDOW).unwrap();
    assert!(mul_one_off(generator_table(), &g, &s, &t).is_infinity());
    assert!(mul_fixed_pair(generator_table(), &g_table, &s, &t).is_infinity());
    // P = G and t = s: the accumulator meets equal points (doubling inside addition).
    let twice_s = mul_one_off(generator_table(), &g, &s, &s);
    let ten = mul_one_off(
        generator_table(),
        &g,
        &Scalar([3, 0, 0, 0]),
        &Scalar([7, 0, 0, 0]),
    );
    assert_eq!(our_coordinates(&twice_s), our_coordinates(&ten));
    let ten_sm2 = generator_sm2() * sm2::Scalar::from_u64(10);
    assert_eq!(our_coordinates(&ten), sm2_coordinates(&ten_sm2));
    // Jacobian addition's own special cases.
    let gj = g.to_jacobian();
    assert!(gj.add(&gj.neg()).is_infinity());
    assert_eq!(our_coordinates(&gj.add(&gj)), our_coordinates(&gj.double()));
    assert_eq!(
        our_coordinates(&Jacobian::INFINITY.add(&gj)),
        our_coordinates(&gj)
    );
    assert!(Jacobian::INFINITY.double().is_infinity());
    assert_eq!(batch_to_affine(&[gj, Jacobian::INFINITY]), None);
}

#[test]
fn curve_membership() {
    let b = curve_b();
    assert!(generator().is_on_curve(&b));
    let off = Affine {
        x: generator().x,
        y: generator().y.add(&Fe::ONE),
    };
    assert!(!off.is_on_curve(&b));
    let mut key = [0u8; 64];
    key[..32].copy_from_slice(&GENERATOR_X);
    key[32..].copy_from_slice(&GENERATOR_Y);
    assert!(parse_key(&key).is_some());
    key[63] ^= 1;
    assert!(parse_key(&key).is_none());
    // Coordinates ≥ p are refused even when they would reduce onto the curve.
    let mut wrapped = [0u8; 64];
    let x_plus_p = add4(&limbs_from_be(&GENERATOR_X), &P);
    assert_eq!(
        x_plus_p.1, 1,
        "x_G + p overflows 256 bits, so use y instead"
    );
    let y_plus_p = add4(&limbs_from_be(&GENERATOR_Y), &P);
    wrapped[..32].copy_from_slice(&GENERATOR_X);
    if y_plus_p.1 == 0 {
        wrapped[32..].copy_from_slice(&limbs_to_be(&y_plus_p.0));
        assert!(parse_key(&wrapped).is_none());
    }
    assert!(parse_key(&[0u8; 64]).is_none());
}

/// GB/T 32918.2 worked example (also GM/T 0003.2 Annex A on the recommended curve).
#[test]
fn gbt_32918_example_verifies_on_every_path() {
    let hex = |text: &str| -> Vec<u8> { hex::decode(text).unwrap() };
    let key: [u8; 64] = hex(concat!(
        "09F9DF311E5421A150DD7D161E4BC5C672179FAD1833FC076BB08FF356F35020",
        "CCEA490CE26775A52DC6EA718CC1AA600AED05FBF35E084A6632F6072DA9AD13"
    ))
    .try_into()
    .unwrap();
    let e: [u8; 32] = hex("F0B43E94BA45ACCAACE692ED534382EB17E6AB5A19CE7B31F4486FDFC0D28640")
        .try_into()
        .unwrap();
    let signature: [u8; 64] = hex(concat!(
        "F5A03B0648D2C4630EEAC513E1BB81A15944DA3827D5B74143AC7EACEEE720B3",
        "B1B6AA29DF212FD8763182BC0D421CA1BB9038FD1F7F42D4840B69C485BBC1AA"
    ))
    .try_into()
    .unwrap();
    for tables in [
        KeyTables::OneOff,
        KeyTables::Fresh,
        KeyTables::Cached,
        KeyTables::Cached,
        KeyTables::Cached,
    ] {
        assert!(
            verify_prehashed_with(&key, &e, &signature, tables),
            "{tables:?}"
        );
        let mut bad_e = e;
        bad_e[31] ^= 1;
        assert!(
            !verify_prehashed_with(&key, &bad_e, &signature, tables),
            "{tables:?}"
        );
    }
}
