//! The CA role as an operator runs it: `netsettle ca init`, a real `netsettle ca serve`
//! process on 127.0.0.1 (port 0, readiness line), and the client subcommands. Issued
//! certificates and the CRL are cross-checked with the system's `openssl`, and the CA is
//! restarted to show registrations and revocations persist.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use netsettle_smcrypto::x509::{Certificate, Crl};

const BIN: &str = env!("CARGO_BIN_EXE_netsettle");
const DIST_ID: &str = "distid:1234567812345678";
/// How long the CA may take to print its readiness line; only marks failure.
const READY_DEADLINE: Duration = Duration::from_secs(30);

/// A running `netsettle ca serve`, killed when dropped so a failing test leaves nothing.
struct CaProcess {
    child: Child,
    address: String,
}

impl CaProcess {
    fn start(dir: &Path) -> CaProcess {
        let mut child = Command::new(BIN)
            .args(["ca", "serve", "--dir"])
            .arg(dir)
            .args(["--listen", "127.0.0.1:0"])
            .env("NETSETTLE_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start netsettle ca serve");
        let stdout = child.stdout.take().expect("piped stdout");
        let (lines, ready) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if lines.send(line).is_err() {
                    break;
                }
            }
        });
        let mut process = CaProcess {
            child,
            address: String::new(),
        };
        let line = ready
            .recv_timeout(READY_DEADLINE)
            .expect("CA printed its readiness line");
        process.address = line
            .strip_prefix("netsettle ca listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_owned();
        process
    }

    fn stop(mut self) {
        self.child.kill().expect("kill CA");
        self.child.wait().expect("reap CA");
    }
}

impl Drop for CaProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn netsettle(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env("NETSETTLE_LOG", "warn")
        .output()
        .expect("run netsettle")
}

fn ok(args: &[&str]) -> String {
    let output = netsettle(args);
    assert!(
        output.status.success(),
        "netsettle {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("utf-8 stdout")
}

fn refused(args: &[&str]) -> String {
    let output = netsettle(args);
    assert!(!output.status.success(), "netsettle {args:?} should fail");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn openssl(args: &[&str]) -> String {
    let output = Command::new("openssl")
        .args(args)
        .output()
        .expect("run openssl");
    assert!(
        output.status.success(),
        "openssl {args:?} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn path(path: &Path) -> &str {
    path.to_str().expect("utf-8 temp path")
}

fn openssl_verify(ca: &Path, cert: &Path) {
    let out = openssl(&[
        "verify",
        "-CAfile",
        path(ca),
        "-vfyopt",
        DIST_ID,
        path(cert),
    ]);
    assert!(out.contains(": OK"), "{out}");
}

struct Ca {
    address: String,
    ca_cert: PathBuf,
}

impl Ca {
    fn with<'a>(&'a self, command: &'a str, rest: &[&'a str]) -> Vec<&'a str> {
        let mut args = vec!["ca", command, "--ca", &self.address, "--ca-cert"];
        args.push(path(&self.ca_cert));
        args.extend_from_slice(rest);
        args
    }
}

#[test]
fn ca_process_enrolls_revokes_and_survives_restart() {
    let temp = tempfile::tempdir().expect("temp dir");
    let dir = temp.path().join("ca");
    ok(&[
        "ca",
        "init",
        "--dir",
        path(&dir),
        "--name",
        "ca.unicom.example",
        "--org",
        "UnicomMSP",
        "--days",
        "30",
    ]);
    let ca_cert = dir.join("ca.pem");
    let admin = dir.join("admin");
    let server = CaProcess::start(&dir);
    let ca = Ca {
        address: server.address.clone(),
        ca_cert: ca_cert.clone(),
    };

    // A peer: the CA generates its secret; its TLS certificate names its hosts.
    let peer_dir = temp.path().join("peer0");
    let peer = "peer0.unicom.example";
    let secret = ok(&ca.with(
        "register",
        &[
            "--identity",
            path(&admin),
            "--name",
            peer,
            "--role",
            "peer",
            "--host",
            peer,
            "--host",
            "127.0.1.20",
        ],
    ));
    let secret = secret.trim();
    ok(&ca.with(
        "enroll",
        &["--name", peer, "--secret", secret, "--out", path(&peer_dir)],
    ));
    let reused = refused(&ca.with(
        "enroll",
        &[
            "--name",
            peer,
            "--secret",
            secret,
            "--out",
            path(&temp.path().join("again")),
        ],
    ));
    assert!(reused.contains("already used"), "{reused}");
    let peer_tls =
        Certificate::read_pem_file(&peer_dir.join("tls/cert.pem")).expect("peer TLS cert");
    assert_eq!(peer_tls.dns_names(), [peer.to_owned()]);

    // A client with a registrar-chosen secret; a wrong secret is refused first.
    let client_dir = temp.path().join("settlement");
    let client = "settlement@unicom.example";
    ok(&ca.with(
        "register",
        &[
            "--identity",
            path(&admin),
            "--name",
            client,
            "--role",
            "client",
            "--attr",
            "department=settlement",
            "--secret",
            "client-secret-123",
        ],
    ));
    let wrong = refused(&ca.with(
        "enroll",
        &[
            "--name",
            client,
            "--secret",
            "not-the-secret",
            "--out",
            path(&client_dir),
        ],
    ));
    assert!(wrong.contains("wrong enrollment secret"), "{wrong}");
    ok(&ca.with(
        "enroll",
        &[
            "--name",
            client,
            "--secret",
            "client-secret-123",
            "--out",
            path(&client_dir),
        ],
    ));

    for cert in ["msp/signcerts/cert.pem", "tls/cert.pem"] {
        openssl_verify(&ca_cert, &peer_dir.join(cert));
        openssl_verify(&ca_cert, &client_dir.join(cert));
    }
    let text = openssl(&[
        "x509",
        "-noout",
        "-text",
        "-in",
        path(&client_dir.join("msp/signcerts/cert.pem")),
    ]);
    assert!(
        text.contains("OU = department=settlement") && text.contains("OU = client"),
        "{text}"
    );

    // Only admins register.
    let denied = refused(&ca.with(
        "register",
        &[
            "--identity",
            path(&peer_dir),
            "--name",
            "rogue",
            "--role",
            "admin",
        ],
    ));
    assert!(denied.contains("not authorised"), "{denied}");

    // Registered before the restart, enrolled after it.
    let later_secret = ok(&ca.with(
        "register",
        &[
            "--identity",
            path(&admin),
            "--name",
            "finance@unicom.example",
            "--role",
            "client",
        ],
    ));

    // Revoke the client's TLS certificate; the CRL lists it and verifies under the CA key.
    let serial = client_tls_serial(&client_dir);
    let revoked = ok(&ca.with(
        "revoke",
        &[
            "--identity",
            path(&admin),
            "--serial",
            &serial,
            "--reason",
            "keyCompromise",
        ],
    ));
    assert!(revoked.contains(&serial), "{revoked}");
    let crl_path = temp.path().join("crl.der");
    ok(&ca.with(
        "crl",
        &[
            "--identity",
            path(&peer_dir),
            "--out",
            path(&crl_path),
            "--der",
        ],
    ));
    check_crl_with_openssl(temp.path(), &ca_cert, &crl_path, &serial);
    let stale = refused(&ca.with("reenroll", &["--identity", path(&client_dir)]));
    // Refused in the handshake (or, racing the rejection, on the request write).
    assert!(!stale.is_empty());

    // Restart: the pending registration still enrolls, the revocation is still in force,
    // and the peer re-enrolls with its current certificate.
    server.stop();
    let server = CaProcess::start(&dir);
    let ca = Ca {
        address: server.address.clone(),
        ca_cert: ca_cert.clone(),
    };
    let finance_dir = temp.path().join("finance");
    ok(&ca.with(
        "enroll",
        &[
            "--name",
            "finance@unicom.example",
            "--secret",
            later_secret.trim(),
            "--out",
            path(&finance_dir),
        ],
    ));
    openssl_verify(&ca_cert, &finance_dir.join("tls/cert.pem"));
    let crl_again = temp.path().join("crl-again.der");
    ok(&ca.with(
        "crl",
        &[
            "--identity",
            path(&peer_dir),
            "--out",
            path(&crl_again),
            "--der",
        ],
    ));
    check_crl_with_openssl(temp.path(), &ca_cert, &crl_again, &serial);
    ok(&ca.with("reenroll", &["--identity", path(&peer_dir)]));
    let renewed = Certificate::read_pem_file(&peer_dir.join("tls/cert.pem")).expect("renewed cert");
    assert_ne!(renewed.serial(), peer_tls.serial());
    assert_eq!(renewed.dns_names(), peer_tls.dns_names());
    openssl_verify(&ca_cert, &peer_dir.join("tls/cert.pem"));
    server.stop();
}

fn client_tls_serial(identity: &Path) -> String {
    let cert = Certificate::read_pem_file(&identity.join("tls/cert.pem")).expect("client TLS cert");
    cert.serial_hex().to_ascii_lowercase()
}

/// `openssl crl -text` parses the CRL and lists the serial; the signature over the
/// to-be-signed bytes verifies with the CA's public key under the default SM2 ID (OpenSSL
/// 3.0's own `crl -verify` only tries the empty ID).
fn check_crl_with_openssl(temp: &Path, ca_cert: &Path, crl_path: &Path, serial: &str) {
    let text = openssl(&[
        "crl",
        "-inform",
        "DER",
        "-noout",
        "-text",
        "-in",
        path(crl_path),
    ]);
    assert!(
        text.to_ascii_lowercase()
            .contains(&serial.to_ascii_lowercase()),
        "{text}"
    );
    assert!(text.contains("Key Compromise"), "{text}");
    let crl = Crl::from_der(&std::fs::read(crl_path).expect("read CRL")).expect("parse CRL");
    let tbs = temp.join("tbs.der");
    let sig = temp.join("sig.der");
    let public = temp.join("capub.pem");
    std::fs::write(&tbs, crl.tbs_der()).expect("write tbs");
    std::fs::write(&sig, crl.signature().as_der()).expect("write sig");
    let public_pem = openssl(&["x509", "-noout", "-pubkey", "-in", path(ca_cert)]);
    std::fs::write(&public, public_pem).expect("write public key");
    let out = openssl(&[
        "pkeyutl",
        "-verify",
        "-pubin",
        "-inkey",
        path(&public),
        "-rawin",
        "-digest",
        "sm3",
        "-pkeyopt",
        DIST_ID,
        "-in",
        path(&tbs),
        "-sigfile",
        path(&sig),
    ]);
    assert!(out.contains("Signature Verified Successfully"), "{out}");
}
