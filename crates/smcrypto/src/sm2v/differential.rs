//! One differential check of the fast verifier against the `sm2` crate on arbitrary bytes,
//! shared by the cargo-fuzz target (`fuzz/fuzz_targets/sm2_verify.rs`) and the test that
//! replays its corpus (`tests/fuzz_corpus.rs`), so both run exactly the same checks.

use super::{KeyTables, verify_prehashed_with};
use crate::{DEFAULT_DIST_ID, PublicKey, Signature, Sm3Hasher, sm3};

/// Input layout: key `x ‖ y` (64 bytes), signature `r ‖ s` (64 bytes), then the message.
const KEY_BYTES: usize = 64;
const SIGNATURE_BYTES: usize = 64;

/// Panics if the fast verifier's paths disagree with each other or with the `sm2` crate
/// on `data`, or if either accepts a key that is not a curve point. Inputs too short to
/// hold a key and a signature are ignored.
#[doc(hidden)]
pub fn check_sm2_verify_differential(data: &[u8]) {
    let Some((key, rest)) = data.split_first_chunk::<KEY_BYTES>() else {
        return;
    };
    let Some((raw, message)) = rest.split_first_chunk::<SIGNATURE_BYTES>() else {
        return;
    };
    let mut sec1 = [4u8; 1 + KEY_BYTES];
    sec1[1..].copy_from_slice(key);
    let Ok(public) = PublicKey::from_sec1(&sec1) else {
        // Not a point: whatever e is, nothing may verify.
        let e = sm3(message);
        for tables in [KeyTables::OneOff, KeyTables::Cached] {
            assert!(
                !verify_prehashed_with(key, e.as_bytes(), raw, tables),
                "a signature verified under a key that is not a curve point"
            );
        }
        return;
    };
    let z = public
        .z_value(DEFAULT_DIST_ID)
        .expect("the default ID fits");
    let mut hasher = Sm3Hasher::new();
    hasher.update(z.as_bytes());
    hasher.update(message);
    let e = hasher.finalize();
    let one_off = verify_prehashed_with(key, e.as_bytes(), raw, KeyTables::OneOff);
    let cached = verify_prehashed_with(key, e.as_bytes(), raw, KeyTables::Cached);
    assert_eq!(one_off, cached, "one-off and cached paths disagree");
    let reference = Signature::from_raw(raw).is_ok_and(|signature| {
        public
            .verify_with_id_sm2_crate(DEFAULT_DIST_ID, message, &signature)
            .is_ok()
    });
    assert_eq!(one_off, reference, "fast verifier and sm2 crate disagree");
    if let Ok(signature) = Signature::from_raw(raw) {
        assert_eq!(public.verify(message, &signature).is_ok(), reference);
    }
}
