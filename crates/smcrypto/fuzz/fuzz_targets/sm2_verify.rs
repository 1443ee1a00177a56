//! Fuzz the variable-time SM2 verifier against the `sm2` crate: input is key `x ‖ y`
//! (64 bytes), signature `r ‖ s` (64 bytes), message. The checks live in
//! `netsettle_smcrypto::check_sm2_verify_differential`, which the corpus replay test in
//! the main workspace runs too.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    netsettle_smcrypto::check_sm2_verify_differential(data);
});
