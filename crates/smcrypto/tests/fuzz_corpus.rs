//! Replays the SM2 verifier fuzz target's corpus (`fuzz/corpus/sm2_verify/`) through the
//! same checks the fuzz target runs, so every seed (and every crash input added to the
//! corpus) is checked by the ordinary test suite, without nightly or libFuzzer.

use std::path::Path;

use netsettle_smcrypto::{PublicKey, Signature, check_sm2_verify_differential};

fn corpus() -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/sm2_verify");
    let mut inputs: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|err| panic!("cannot read {}: {err}", dir.display()))
        .map(|entry| {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&path).unwrap())
        })
        .collect();
    inputs.sort();
    inputs
}

#[test]
fn fuzz_corpus_replays_clean() {
    let inputs = corpus();
    assert!(
        inputs.len() >= 6,
        "corpus went missing: {} inputs",
        inputs.len()
    );
    for (name, data) in &inputs {
        // Three times: from the second run on the key is in the cache (the table path).
        for _ in 0..3 {
            let result = std::panic::catch_unwind(|| check_sm2_verify_differential(data));
            assert!(
                result.is_ok(),
                "corpus input {name} failed the differential check"
            );
        }
    }
}

/// The seed the fuzzer mutates from must really be a valid signature, or the fuzzer would
/// only ever explore rejections.
#[test]
fn valid_seed_is_valid() {
    let (_, data) = corpus()
        .into_iter()
        .find(|(name, _)| name == "gbt32918_example_valid")
        .expect("valid seed present");
    let mut sec1 = [4u8; 65];
    sec1[1..].copy_from_slice(&data[..64]);
    let key = PublicKey::from_sec1(&sec1).unwrap();
    let signature = Signature::from_raw(&data[64..128]).unwrap();
    assert_eq!(key.verify(&data[128..], &signature), Ok(()));
}
