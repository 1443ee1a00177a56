//! Cross-checks against the system's OpenSSL 3 CLI, in both directions: what we issue and
//! sign, OpenSSL accepts; what OpenSSL makes, we accept. OpenSSL 3.0's CLI uses an empty
//! SM2 ID unless told otherwise, so every command passes `distid:1234567812345678`.
//!
//! A missing `openssl` binary fails these tests (`scripts/setup.sh` installs it): a skipped
//! interop test would look like a passing one.

use std::path::Path;
use std::process::Command;

use netsettle_smcrypto::PrivateKey;
use netsettle_smcrypto::x509::{self, CertificateParams, Role, SubjectName};

const DIST_ID_OPT: &str = "distid:1234567812345678";

/// Run `openssl args…` in `dir`; panic with its stderr if it fails.
fn openssl(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|err| {
            panic!("cannot run `openssl` ({err}); install it (scripts/setup.sh)")
        });
    assert!(
        output.status.success(),
        "openssl {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn now() -> i64 {
    let elapsed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    i64::try_from(elapsed.as_secs()).unwrap()
}

fn subject(common_name: &str) -> SubjectName {
    SubjectName {
        common_name: common_name.to_owned(),
        organization: Some("CarrierA".to_owned()),
        organizational_units: Vec::new(),
        country: Some("CN".to_owned()),
    }
}

#[test]
fn openssl_verifies_our_chain() {
    let dir = tempfile::tempdir().unwrap();
    let now = now();
    let root_key = PrivateKey::generate();
    let root = x509::self_signed(
        &CertificateParams::ca(subject("Root CA"), Some(1), now - 60, now + 86_400).unwrap(),
        &root_key,
    )
    .unwrap();
    let mid_key = PrivateKey::generate();
    let mid = x509::issue(
        &CertificateParams::ca(subject("Issuing CA"), Some(0), now - 60, now + 86_400).unwrap(),
        mid_key.public_key(),
        &root,
        &root_key,
    )
    .unwrap();
    let leaf_key = PrivateKey::generate();
    let mut params = CertificateParams::end_entity(
        subject("peer0.carrier-a"),
        Role::Peer,
        now - 60,
        now + 3_600,
    )
    .unwrap();
    params.dns_names = vec!["peer0.carrier-a".to_owned()];
    params.ip_addresses = vec!["127.0.0.1".parse().unwrap()];
    let leaf = x509::issue(&params, leaf_key.public_key(), &mid, &mid_key).unwrap();
    std::fs::write(dir.path().join("root.pem"), root.to_pem()).unwrap();
    std::fs::write(dir.path().join("mid.pem"), mid.to_pem()).unwrap();
    std::fs::write(dir.path().join("leaf.pem"), leaf.to_pem()).unwrap();
    // OpenSSL 3.0 applies `-vfyopt distid:` only to the target certificate's signature and
    // checks intermediates with an empty ID (openssl/openssl#23471), so a three-level SM2
    // chain cannot pass one `openssl verify -untrusted` call. Check each link instead: the
    // intermediate against the root, then the leaf against the intermediate as anchor.
    let out = openssl(
        dir.path(),
        &[
            "verify",
            "-CAfile",
            "root.pem",
            "-vfyopt",
            DIST_ID_OPT,
            "mid.pem",
        ],
    );
    assert_eq!(out.trim(), "mid.pem: OK");
    let out = openssl(
        dir.path(),
        &[
            "verify",
            "-partial_chain",
            "-CAfile",
            "mid.pem",
            "-vfyopt",
            DIST_ID_OPT,
            "leaf.pem",
        ],
    );
    assert_eq!(out.trim(), "leaf.pem: OK");
    let text = openssl(dir.path(), &["x509", "-in", "leaf.pem", "-noout", "-text"]);
    assert!(
        text.contains("DNS:peer0.carrier-a, IP Address:127.0.0.1"),
        "{text}"
    );
    assert!(text.contains("OU = peer"), "{text}");
    assert!(
        text.contains("TLS Web Server Authentication, TLS Web Client Authentication"),
        "{text}"
    );
}
