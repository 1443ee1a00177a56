//! Cross-checks against the system's OpenSSL 3 CLI, in both directions: what we issue and
//! sign, OpenSSL accepts; what OpenSSL makes, we accept. OpenSSL 3.0's CLI uses an empty
//! SM2 ID unless told otherwise, so every command passes `distid:1234567812345678`.
//!
//! A missing `openssl` binary fails these tests (`scripts/setup.sh` installs it): a skipped
//! interop test would look like a passing one.

use std::path::Path;
use std::process::Command;

use netsettle_smcrypto::x509::{
    self, CertificateParams, CertificateRequest, CrlEntry, CrlParams, CsrParams, RevocationReason,
    Role, SubjectName,
};
use netsettle_smcrypto::{
    CertificateError, CryptoError, DEFAULT_DIST_ID, EncodingError, PrivateKey, PublicKey,
    Signature, Sm4Key, TLS13_DIST_ID, cbc_decrypt, cbc_encrypt,
};

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

/// A fresh OpenSSL SM2 key in `dir/key_pem` (PKCS#8) and its public key in `dir/pub_pem`.
fn openssl_sm2_key_pair(dir: &Path, key_pem: &str, pub_pem: &str) {
    let paramgen = "ec_paramgen_curve:SM2";
    openssl(
        dir,
        &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            paramgen,
            "-out",
            key_pem,
        ],
    );
    openssl(dir, &["pkey", "-in", key_pem, "-pubout", "-out", pub_pem]);
}

/// Write `contents` into `dir/name`.
fn put(dir: &Path, name: &str, contents: impl AsRef<[u8]>) {
    std::fs::write(dir.join(name), contents).unwrap();
}

fn get(dir: &Path, name: &str) -> Vec<u8> {
    std::fs::read(dir.join(name)).unwrap()
}

#[test]
fn openssl_verifies_our_signature() {
    let dir = tempfile::tempdir().unwrap();
    let key = PrivateKey::generate();
    let message = b"settlement period 2026-10, carrier A";
    put(dir.path(), "pub.pem", key.public_key().to_spki_pem());
    put(dir.path(), "msg", message);
    put(dir.path(), "sig", key.sign(message).as_der());
    let out = openssl(
        dir.path(),
        &[
            "pkeyutl",
            "-verify",
            "-pubin",
            "-inkey",
            "pub.pem",
            "-rawin",
            "-digest",
            "sm3",
            "-in",
            "msg",
            "-sigfile",
            "sig",
            "-pkeyopt",
            DIST_ID_OPT,
        ],
    );
    assert!(out.contains("Signature Verified Successfully"), "{out}");
}

#[test]
fn we_verify_openssl_signature_with_openssl_key() {
    let dir = tempfile::tempdir().unwrap();
    openssl_sm2_key_pair(dir.path(), "key.pem", "pub.pem");
    let message = b"report commitment";
    put(dir.path(), "msg", message);
    openssl(
        dir.path(),
        &[
            "pkeyutl",
            "-sign",
            "-inkey",
            "key.pem",
            "-rawin",
            "-digest",
            "sm3",
            "-in",
            "msg",
            "-out",
            "sig",
            "-pkeyopt",
            DIST_ID_OPT,
        ],
    );
    let key = PrivateKey::from_pkcs8_pem(&String::from_utf8(get(dir.path(), "key.pem")).unwrap())
        .unwrap();
    let public =
        PublicKey::from_spki_pem(&String::from_utf8(get(dir.path(), "pub.pem")).unwrap()).unwrap();
    assert_eq!(&public, key.public_key());
    let signature = Signature::from_der(&get(dir.path(), "sig")).unwrap();
    assert_eq!(public.verify(message, &signature), Ok(()));
    assert_eq!(
        public.verify(b"another message", &signature),
        Err(CryptoError::BadSignature)
    );
}

#[test]
fn openssl_reads_our_keys() {
    let dir = tempfile::tempdir().unwrap();
    let key = PrivateKey::generate();
    key.write_pkcs8_pem_file(&dir.path().join("key.pem"))
        .unwrap();
    let public_pem = openssl(dir.path(), &["pkey", "-in", "key.pem", "-pubout"]);
    assert_eq!(public_pem, key.public_key().to_spki_pem());
    let text = openssl(dir.path(), &["pkey", "-in", "key.pem", "-noout", "-text"]);
    assert!(text.contains("ASN1 OID: SM2"), "{text}");
    put(dir.path(), "pub.pem", key.public_key().to_spki_pem());
    let again = openssl(dir.path(), &["pkey", "-pubin", "-in", "pub.pem", "-pubout"]);
    assert_eq!(again, key.public_key().to_spki_pem());
}

#[test]
fn we_parse_and_verify_openssl_csr() {
    let dir = tempfile::tempdir().unwrap();
    openssl(
        dir.path(),
        &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:SM2",
            "-out",
            "key.pem",
        ],
    );
    openssl(
        dir.path(),
        &[
            "req",
            "-new",
            "-key",
            "key.pem",
            "-subj",
            "/C=CN/O=CarrierB/OU=orderer/CN=orderer0.carrier-b",
            "-sigopt",
            DIST_ID_OPT,
            "-addext",
            "subjectAltName=DNS:orderer0.carrier-b,IP:10.1.2.3",
            "-out",
            "req.pem",
        ],
    );
    let csr = CertificateRequest::from_pem(&String::from_utf8(get(dir.path(), "req.pem")).unwrap())
        .unwrap();
    assert_eq!(csr.common_name().as_deref(), Some("orderer0.carrier-b"));
    assert_eq!(csr.organization().as_deref(), Some("CarrierB"));
    assert_eq!(csr.role(), Ok(Some(Role::Orderer)));
    assert_eq!(csr.dns_names(), ["orderer0.carrier-b".to_owned()]);
    assert_eq!(
        csr.ip_addresses(),
        ["10.1.2.3".parse::<std::net::IpAddr>().unwrap()]
    );
    let key = PrivateKey::from_pkcs8_pem(&String::from_utf8(get(dir.path(), "key.pem")).unwrap())
        .unwrap();
    assert_eq!(csr.public_key(), key.public_key());
}

#[test]
fn openssl_verifies_our_csr() {
    let dir = tempfile::tempdir().unwrap();
    let key = PrivateKey::generate();
    let params = CsrParams {
        subject: subject("peer1.carrier-a"),
        role: Some(Role::Peer),
        dns_names: vec!["peer1.carrier-a".to_owned()],
        ip_addresses: Vec::new(),
    };
    put(
        dir.path(),
        "req.pem",
        CertificateRequest::new(&params, &key).unwrap().to_pem(),
    );
    let out = openssl(
        dir.path(),
        &[
            "req",
            "-in",
            "req.pem",
            "-verify",
            "-noout",
            "-text",
            "-vfyopt",
            DIST_ID_OPT,
        ],
    );
    assert!(out.contains("DNS:peer1.carrier-a"), "{out}");
}

#[test]
fn openssl_parses_our_crl_and_verifies_its_signature() {
    let dir = tempfile::tempdir().unwrap();
    let now = now();
    let ca_key = PrivateKey::generate();
    let ca = x509::self_signed(
        &CertificateParams::ca(subject("CarrierA CA"), None, now - 60, now + 86_400).unwrap(),
        &ca_key,
    )
    .unwrap();
    let params = CrlParams {
        this_update_unix: now,
        next_update_unix: now + 86_400,
        crl_number: 7,
        entries: vec![CrlEntry {
            serial: vec![0x12, 0x34],
            revoked_at_unix: now - 30,
            reason: Some(RevocationReason::KeyCompromise),
        }],
    };
    let crl = x509::build_crl(&params, &ca, &ca_key).unwrap();
    put(dir.path(), "crl.pem", crl.to_pem());
    put(dir.path(), "ca.pem", ca.to_pem());
    let text = openssl(dir.path(), &["crl", "-in", "crl.pem", "-noout", "-text"]);
    assert!(text.contains("Serial Number: 1234"), "{text}");
    assert!(text.contains("Key Compromise"), "{text}");
    assert!(
        text.contains("X509v3 CRL Number: \n                7"),
        "{text}"
    );
    // `openssl crl -verify` has no distid option in 3.0, so check the signature over the
    // exposed TBS bytes with pkeyutl instead.
    put(dir.path(), "tbs", crl.tbs_der());
    put(dir.path(), "sig", crl.signature().as_der());
    put(dir.path(), "ca.pub", ca.public_key().to_spki_pem());
    let out = openssl(
        dir.path(),
        &[
            "pkeyutl",
            "-verify",
            "-pubin",
            "-inkey",
            "ca.pub",
            "-rawin",
            "-digest",
            "sm3",
            "-in",
            "tbs",
            "-sigfile",
            "sig",
            "-pkeyopt",
            DIST_ID_OPT,
        ],
    );
    assert!(out.contains("Signature Verified Successfully"), "{out}");
}

#[test]
fn sm4_cbc_matches_openssl_enc() {
    let dir = tempfile::tempdir().unwrap();
    let key_bytes: [u8; 16] = *b"netsettle-sm4-k1";
    let iv = *b"initialvector-16";
    for len in [0usize, 1, 15, 16, 17, 1000] {
        let plaintext: Vec<u8> = (0..len).map(|i| u8::try_from(i % 251).unwrap()).collect();
        put(dir.path(), "pt", &plaintext);
        openssl(
            dir.path(),
            &[
                "enc",
                "-sm4-cbc",
                "-K",
                &hex::encode(key_bytes),
                "-iv",
                &hex::encode(iv),
                "-in",
                "pt",
                "-out",
                "ct",
            ],
        );
        let key = Sm4Key::from_slice(&key_bytes).unwrap();
        let ours = cbc_encrypt(&key, &iv, &plaintext);
        assert_eq!(ours, get(dir.path(), "ct"), "length {len}");
        assert_eq!(cbc_decrypt(&key, &iv, &ours).unwrap(), plaintext);
    }
}

/// Make an OpenSSL root CA (`ca.key`, `ca.pem`) in `dir`, with extra `-addext` arguments.
fn openssl_root(dir: &Path, extra: &[&str]) {
    openssl(
        dir,
        &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:SM2",
            "-out",
            "ca.key",
        ],
    );
    let mut args = vec![
        "req",
        "-x509",
        "-new",
        "-key",
        "ca.key",
        "-subj",
        "/O=CarrierB/CN=CarrierB Root",
        "-sigopt",
        DIST_ID_OPT,
        "-days",
        "2",
    ];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["-out", "ca.pem"]);
    openssl(dir, &args);
}

fn read_certificate(dir: &Path, name: &str) -> x509::Certificate {
    x509::Certificate::from_pem(&String::from_utf8(get(dir, name)).unwrap()).unwrap()
}

#[test]
fn we_verify_openssl_issued_chain() {
    let dir = tempfile::tempdir().unwrap();
    openssl_root(dir.path(), &[]);
    openssl(
        dir.path(),
        &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:SM2",
            "-out",
            "leaf.key",
        ],
    );
    openssl(
        dir.path(),
        &[
            "req",
            "-new",
            "-key",
            "leaf.key",
            "-subj",
            "/O=CarrierB/OU=peer/CN=peer0.carrier-b",
            "-sigopt",
            DIST_ID_OPT,
            "-out",
            "leaf.csr",
        ],
    );
    openssl(
        dir.path(),
        &[
            "x509",
            "-req",
            "-in",
            "leaf.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "1",
            "-sigopt",
            DIST_ID_OPT,
            "-vfyopt",
            DIST_ID_OPT,
            "-out",
            "leaf.pem",
        ],
    );
    let root = read_certificate(dir.path(), "ca.pem");
    let leaf = read_certificate(dir.path(), "leaf.pem");
    assert!(root.is_ca());
    assert_eq!(leaf.role(), Ok(Some(Role::Peer)));
    let chain = x509::verify_chain(&leaf, &[], std::slice::from_ref(&root), now()).unwrap();
    assert_eq!(chain.certificates(), [leaf, root]);
}

#[test]
fn openssl_cert_with_unknown_critical_extension_is_not_trusted() {
    let dir = tempfile::tempdir().unwrap();
    openssl_root(
        dir.path(),
        &["-addext", "1.2.3.4=critical,ASN1:UTF8String:x"],
    );
    let root = read_certificate(dir.path(), "ca.pem");
    let leaf_key = PrivateKey::generate();
    let params =
        CertificateParams::end_entity(subject("leaf"), Role::Client, now() - 60, now() + 60)
            .unwrap();
    // The CA key is OpenSSL's; our issuer API needs it, so load it.
    let ca_key =
        PrivateKey::from_pkcs8_pem(&String::from_utf8(get(dir.path(), "ca.key")).unwrap()).unwrap();
    let leaf = x509::issue(&params, leaf_key.public_key(), &root, &ca_key).unwrap();
    assert_eq!(
        x509::verify_chain(&leaf, &[], std::slice::from_ref(&root), now()),
        Err(CertificateError::UnsupportedCriticalExtension {
            subject: root.subject_dn(),
            oid: "1.2.3.4".to_owned()
        }
        .into())
    );
}

#[test]
fn ecdsa_certificate_is_unsupported() {
    let dir = tempfile::tempdir().unwrap();
    openssl(
        dir.path(),
        &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
            "p256.key",
        ],
    );
    openssl(
        dir.path(),
        &[
            "req",
            "-x509",
            "-new",
            "-key",
            "p256.key",
            "-subj",
            "/CN=not national crypto",
            "-days",
            "1",
            "-out",
            "p256.pem",
        ],
    );
    let pem_text = String::from_utf8(get(dir.path(), "p256.pem")).unwrap();
    assert_eq!(
        x509::Certificate::from_pem(&pem_text),
        Err(EncodingError::UnsupportedAlgorithm {
            what: "certificate",
            oid: "1.2.840.10045.4.3.2".to_owned()
        }
        .into())
    );
}

/// Whether `openssl args…` in `dir` succeeds (for checks whose failure is an answer).
fn openssl_succeeds(dir: &Path, args: &[&str]) -> bool {
    Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|err| panic!("cannot run `openssl` ({err}); install it (scripts/setup.sh)"))
        .status
        .success()
}

/// The fast SM2 verifier and OpenSSL agree on OpenSSL's signatures (several keys, both
/// signer IDs, messages of many lengths) and on corrupted ones, which both reject.
#[test]
fn sm2_verify_agrees_with_openssl_on_valid_and_corrupted_signatures() {
    let dir = tempfile::tempdir().unwrap();
    for key_idx in 0..3 {
        let key_pem = format!("key{key_idx}.pem");
        let pub_pem = format!("pub{key_idx}.pem");
        openssl_sm2_key_pair(dir.path(), &key_pem, &pub_pem);
        let public =
            PublicKey::from_spki_pem(&String::from_utf8(get(dir.path(), &pub_pem)).unwrap())
                .unwrap();
        for msg_idx in 0..6usize {
            let dist_id = if msg_idx % 3 == 2 {
                TLS13_DIST_ID
            } else {
                DEFAULT_DIST_ID
            };
            let dist_id_opt = format!("distid:{dist_id}");
            let message: Vec<u8> = (0..msg_idx * 97 + key_idx)
                .map(|i| (i * 31 + msg_idx) as u8)
                .collect();
            put(dir.path(), "msg", &message);
            let sign = [
                "pkeyutl", "-sign", "-inkey", &key_pem, "-rawin", "-digest", "sm3",
            ];
            let io = ["-in", "msg", "-out", "sig", "-pkeyopt", &dist_id_opt];
            openssl(dir.path(), &[&sign[..], &io[..]].concat());
            let signature = Signature::from_der(&get(dir.path(), "sig")).unwrap();
            assert_eq!(public.verify_with_id(dist_id, &message, &signature), Ok(()));

            // One bit of the message flipped: OpenSSL and we both reject.
            let mut corrupted = message.clone();
            match corrupted.get_mut(msg_idx * 7 % message.len().max(1)) {
                Some(byte) => *byte ^= 0x10,
                None => corrupted.push(0),
            }
            put(dir.path(), "bad", &corrupted);
            let verify = ["pkeyutl", "-verify", "-pubin", "-inkey", &pub_pem, "-rawin"];
            let args = [
                "-digest",
                "sm3",
                "-in",
                "bad",
                "-sigfile",
                "sig",
                "-pkeyopt",
                &dist_id_opt,
            ];
            assert!(!openssl_succeeds(
                dir.path(),
                &[&verify[..], &args[..]].concat()
            ));
            assert_eq!(
                public.verify_with_id(dist_id, &corrupted, &signature),
                Err(CryptoError::BadSignature)
            );
            // The other signer ID: both reject.
            let other_id = if dist_id == DEFAULT_DIST_ID {
                TLS13_DIST_ID
            } else {
                DEFAULT_DIST_ID
            };
            let other_opt = format!("distid:{other_id}");
            let args = [
                "-digest", "sm3", "-in", "msg", "-sigfile", "sig", "-pkeyopt", &other_opt,
            ];
            assert!(!openssl_succeeds(
                dir.path(),
                &[&verify[..], &args[..]].concat()
            ));
            assert_eq!(
                public.verify_with_id(other_id, &message, &signature),
                Err(CryptoError::BadSignature)
            );
        }
    }
}
