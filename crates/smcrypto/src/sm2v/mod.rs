//! Variable-time SM2 signature verification (GB/T 32918.2 §7), specialised to the
//! recommended curve: verification handles only public data (keys, signatures, message
//! hashes), so it may branch and index on values, which the constant-time `sm2` crate
//! may not. Signing stays on the `sm2` crate.
//!
//! How it is fast, in order of effect:
//! - a fixed-base table for G ([`generator_table`], built once) and, for signers seen more
//!   than once, a per-key table in a small bounded cache ([`cache`]), both cut into 32-bit
//!   chunks so s·G + t·P takes 32 doublings instead of 256 ([`table`]);
//! - both products in one accumulator (Straus/Shamir): the doublings are shared;
//! - a one-off key gets a 5-bit wNAF over all 256 bits, interleaved with G's table;
//! - the final x is compared in Jacobian coordinates, X = x·Z², with no inversion;
//! - field arithmetic specialised to the SM2 prime ([`field`]).

mod cache;
mod differential;
mod field;
mod point;
mod scalar;
mod table;

#[cfg(test)]
mod tests;

use std::sync::OnceLock;

use field::{Fe, P, add4, less_than};
use point::{Affine, Jacobian};
use scalar::{N, Scalar};
use table::{CHUNK_BITS, CHUNK_DIGITS, CHUNKS, FixedTable, SCALAR_DIGITS};

pub(crate) use cache::KeyBytes;
pub use differential::check_sm2_verify_differential;

/// Parse 64 hex digits into 32 bytes at compile time (curve constants are written in hex,
/// as the standard prints them).
const fn hex32(text: &str) -> [u8; 32] {
    const fn nibble(c: u8) -> u8 {
        match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            b'A'..=b'F' => c - b'A' + 10,
            _ => panic!("not a hex digit"),
        }
    }
    let bytes = text.as_bytes();
    assert!(bytes.len() == 64, "curve constants are 32 bytes");
    let mut out = [0u8; 32];
    let mut idx = 0;
    while idx < 32 {
        out[idx] = (nibble(bytes[2 * idx]) << 4) | nibble(bytes[2 * idx + 1]);
        idx += 1;
    }
    out
}

/// SM2 recommended-curve parameters (GB/T 32918.5): a, b and the base point G.
pub(crate) const CURVE_A: [u8; 32] =
    hex32("FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC");
pub(crate) const CURVE_B: [u8; 32] =
    hex32("28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93");
pub(crate) const GENERATOR_X: [u8; 32] =
    hex32("32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7");
pub(crate) const GENERATOR_Y: [u8; 32] =
    hex32("BC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0");

/// wNAF window of G's table: 64 odd multiples per chunk, 512 points, 32 KiB. Built once
/// per process at first use (well under a millisecond), which is why it is a `OnceLock`
/// and not a generated constant: a build script would need a second copy of the curve
/// arithmetic, and 32 KiB of checked-in numbers cannot be reviewed.
const GENERATOR_TABLE_WINDOW: u32 = 8;

/// wNAF window for a one-off key's odd multiples (8 Jacobian points).
const ONE_OFF_WINDOW: u32 = 5;

/// The curve's b in Montgomery form.
fn curve_b() -> Fe {
    static B: OnceLock<Fe> = OnceLock::new();
    *B.get_or_init(|| Fe::from_be_bytes(&CURVE_B).expect("b is below p"))
}

/// The base point G.
pub(crate) fn generator() -> Affine {
    Affine {
        x: Fe::from_be_bytes(&GENERATOR_X).expect("x_G is below p"),
        y: Fe::from_be_bytes(&GENERATOR_Y).expect("y_G is below p"),
    }
}

fn generator_table() -> &'static FixedTable {
    static TABLE: OnceLock<FixedTable> = OnceLock::new();
    TABLE.get_or_init(|| {
        FixedTable::build(&generator(), GENERATOR_TABLE_WINDOW).expect("G has order n")
    })
}

/// Whether the key `x ‖ y` is a point of the curve (coordinates below p, on the curve;
/// the affine encoding cannot name infinity).
fn parse_key(key: &KeyBytes) -> Option<Affine> {
    let (x_bytes, y_bytes) = key.split_at(32);
    let point = Affine {
        x: Fe::from_be_bytes(x_bytes.try_into().ok()?)?,
        y: Fe::from_be_bytes(y_bytes.try_into().ok()?)?,
    };
    point.is_on_curve(&curve_b()).then_some(point)
}

/// GB/T 32918.2 §7.1 B1–B7 on a hashed message: does `r ‖ s` verify for `e` under `key`?
/// `e` is SM3(Z ‖ M), already bound to the signer ID. Per-key tables come from the shared
/// cache; [`verify_prehashed_with`] lets tests choose.
pub(crate) fn verify_prehashed(key: &KeyBytes, e: &[u8; 32], signature: &[u8; 64]) -> bool {
    verify_prehashed_with(key, e, signature, KeyTables::Cached)
}

/// Test and fuzz hook: the verdict of both paths (one-off key; shared cache, which gives a
/// key its table from the second sighting on) on one hashed message, so differential
/// tests can hold both against the `sm2` crate and OpenSSL. Production code calls
/// [`crate::PublicKey::verify`].
#[doc(hidden)]
pub fn verify_prehashed_every_path(
    key: &[u8; 64],
    e: &[u8; 32],
    signature: &[u8; 64],
) -> [bool; 2] {
    [KeyTables::OneOff, KeyTables::Cached]
        .map(|tables| verify_prehashed_with(key, e, signature, tables))
}

/// Where the key's multiples come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyTables {
    /// The shared bounded cache (what production uses).
    Cached,
    /// Always the one-off path.
    OneOff,
    /// Always a freshly built table (the recurring-signer arithmetic without the cache).
    #[cfg(test)]
    Fresh,
}

pub(crate) fn verify_prehashed_with(
    key: &KeyBytes,
    e: &[u8; 32],
    signature: &[u8; 64],
    tables: KeyTables,
) -> bool {
    let (r_bytes, s_bytes) = signature.split_at(32);
    let (Ok(r_bytes), Ok(s_bytes)) = (r_bytes.try_into(), s_bytes.try_into()) else {
        return false;
    };
    // B1, B2: r, s ∈ [1, n−1].
    let (Some(r), Some(s)) = (
        Scalar::from_be_bytes_nonzero(r_bytes),
        Scalar::from_be_bytes_nonzero(s_bytes),
    ) else {
        return false;
    };
    let Some(point) = parse_key(key) else {
        return false;
    };
    // B5: t = (r + s) mod n, t ≠ 0.
    let t = r.add(&s);
    if t.is_zero() {
        return false;
    }
    // B6: (x1, y1) = s·G + t·P.
    let key_table = match tables {
        KeyTables::Cached => cache::table_for(key, &point),
        KeyTables::OneOff => None,
        #[cfg(test)]
        KeyTables::Fresh => {
            FixedTable::build(&point, cache::KEY_TABLE_WINDOW).map(std::sync::Arc::new)
        }
    };
    let sum = match key_table {
        Some(key_table) => mul_fixed_pair(generator_table(), &key_table, &s, &t),
        None => mul_one_off(generator_table(), &point, &s, &t),
    };
    if sum.is_infinity() {
        return false;
    }
    // B7: R = (e + x1) mod n must equal r, i.e. x1 ≡ r − e (mod n). x1 < p < 2n, so
    // x1 is c = (r − e) mod n itself or c + n when that is still below p; compare
    // X = x1·Z² for each candidate instead of inverting Z.
    let e = Scalar::from_be_bytes_reduced(e);
    let c = r.sub(&e);
    x_matches(&sum, &c.0) || {
        let (c_plus_n, carry) = add4(&c.0, &N);
        carry == 0 && less_than(&c_plus_n, &P) && x_matches(&sum, &c_plus_n)
    }
}

/// Whether the affine x of `point` (not infinity) is the integer `candidate` (< p).
fn x_matches(point: &Jacobian, candidate: &[u64; 4]) -> bool {
    let Some(candidate) = Fe::from_canonical(*candidate) else {
        return false;
    };
    candidate.mul(&point.z.square()) == point.x
}

/// s·G + t·P with both tables chunked: 32 shared doublings.
fn mul_fixed_pair(g: &FixedTable, p: &FixedTable, s: &Scalar, t: &Scalar) -> Jacobian {
    let mut s_digits = [[0i8; CHUNK_DIGITS]; CHUNKS];
    let mut t_digits = [[0i8; CHUNK_DIGITS]; CHUNKS];
    for (chunk, (s_out, t_out)) in s_digits.iter_mut().zip(t_digits.iter_mut()).enumerate() {
        table::wnaf(&s.0, chunk * CHUNK_BITS, CHUNK_BITS, g.window(), s_out);
        table::wnaf(&t.0, chunk * CHUNK_BITS, CHUNK_BITS, p.window(), t_out);
    }
    let mut acc = Jacobian::INFINITY;
    for pos in (0..CHUNK_DIGITS).rev() {
        if !acc.is_infinity() {
            acc = acc.double();
        }
        for (chunk, (s_chunk, t_chunk)) in s_digits.iter().zip(t_digits.iter()).enumerate() {
            let s_digit = s_chunk[pos];
            if s_digit != 0 {
                acc = acc.add_affine(&g.entry(chunk, s_digit));
            }
            let t_digit = t_chunk[pos];
            if t_digit != 0 {
                acc = acc.add_affine(&p.entry(chunk, t_digit));
            }
        }
    }
    acc
}

/// s·G + t·P for a key without a table: 256 shared doublings, G from chunk 0 of its
/// table, P from its odd multiples.
fn mul_one_off(g: &FixedTable, point: &Affine, s: &Scalar, t: &Scalar) -> Jacobian {
    let mut s_digits = [0i8; SCALAR_DIGITS];
    let mut t_digits = [0i8; SCALAR_DIGITS];
    table::wnaf(&s.0, 0, 256, g.window(), &mut s_digits);
    table::wnaf(&t.0, 0, 256, ONE_OFF_WINDOW, &mut t_digits);
    let multiples = table::odd_multiples(point, ONE_OFF_WINDOW);
    let mut acc = Jacobian::INFINITY;
    for (s_digit, t_digit) in s_digits.iter().zip(t_digits.iter()).rev() {
        if !acc.is_infinity() {
            acc = acc.double();
        }
        if *s_digit != 0 {
            acc = acc.add_affine(&g.entry(0, *s_digit));
        }
        if *t_digit != 0 {
            let multiple = multiples[usize::from(t_digit.unsigned_abs() >> 1)];
            let term = if *t_digit < 0 {
                multiple.neg()
            } else {
                multiple
            };
            acc = acc.add(&term);
        }
    }
    acc
}
