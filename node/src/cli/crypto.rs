//! `netsettle key|cert|sign|verify|sm3`: SM2 keys, certificates, signatures and SM3
//! digests as files, so an operator (and the demo) can cross-check everything with the
//! system's `openssl`.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use netsettle_smcrypto::x509::{self, Certificate, CertificateParams, Role, SubjectName};
use netsettle_smcrypto::{PrivateKey, PublicKey, Signature};

use crate::shared::{now_unix, read_certificate, read_certificates, read_private_key, read_text};

/// Key management.
#[derive(Debug, clap::Subcommand)]
pub enum KeyCommand {
    /// Generate an SM2 key: PKCS#8 PEM (mode 0600) and, optionally, its SPKI public key.
    Gen {
        /// Where to write the private key.
        #[arg(long)]
        out: PathBuf,
        /// Where to write the public key (SPKI PEM).
        #[arg(long)]
        public_out: Option<PathBuf>,
    },
}

/// Certificates.
#[derive(Debug, clap::Subcommand)]
pub enum CertCommand {
    /// Self-sign a root CA certificate for an existing key.
    Root {
        /// The CA's private key (PKCS#8 PEM).
        #[arg(long)]
        key: PathBuf,
        /// Common name, e.g. `ca.unicom.example`.
        #[arg(long)]
        cn: String,
        /// Organisation (MSP id), e.g. `UnicomMSP`.
        #[arg(long)]
        org: String,
        /// Validity in days from now.
        #[arg(long, default_value_t = 3650)]
        days: i64,
        /// Where to write the certificate (PEM).
        #[arg(long)]
        out: PathBuf,
    },
    /// Issue an end-entity certificate for a public key, signed by a CA.
    Issue {
        /// The issuing CA's certificate.
        #[arg(long)]
        ca_cert: PathBuf,
        /// The issuing CA's private key.
        #[arg(long)]
        ca_key: PathBuf,
        /// The subject's public key (SPKI PEM) or private key (PKCS#8 PEM).
        #[arg(long)]
        subject_key: PathBuf,
        /// Common name.
        #[arg(long)]
        cn: String,
        /// Organisation (MSP id).
        #[arg(long)]
        org: String,
        /// Role OU: admin, peer, orderer or client.
        #[arg(long)]
        role: String,
        /// DNS subject alternative names.
        #[arg(long = "dns")]
        dns_names: Vec<String>,
        /// IP subject alternative names.
        #[arg(long = "ip")]
        ip_addresses: Vec<IpAddr>,
        /// Validity in days from now.
        #[arg(long, default_value_t = 365)]
        days: i64,
        /// Where to write the certificate (PEM).
        #[arg(long)]
        out: PathBuf,
    },
    /// Print a certificate's fields and verify it against a CA file.
    Show {
        /// The certificate (PEM).
        cert: PathBuf,
        /// Verify the chain against the roots in this PEM bundle.
        #[arg(long)]
        ca: Option<PathBuf>,
    },
}

pub fn run_key(command: KeyCommand) -> Result<()> {
    match command {
        KeyCommand::Gen { out, public_out } => {
            let key = PrivateKey::generate();
            key.write_pkcs8_pem_file(&out)
                .with_context(|| format!("writing {}", out.display()))?;
            if let Some(public_out) = public_out {
                write_text(&public_out, &key.public_key().to_spki_pem())?;
            }
            println!("{}", hex::encode(key.public_key().to_sec1_uncompressed()));
            Ok(())
        }
    }
}

pub fn run_cert(command: CertCommand) -> Result<()> {
    match command {
        CertCommand::Root {
            key,
            cn,
            org,
            days,
            out,
        } => {
            let key = read_private_key(&key)?;
            let (not_before, not_after) = validity(days)?;
            let params = CertificateParams::ca(subject(cn, org), None, not_before, not_after)?;
            let cert = x509::self_signed(&params, &key)?;
            write_text(&out, &cert.to_pem())?;
            println!("{}", cert.subject_dn());
            Ok(())
        }
        CertCommand::Issue {
            ca_cert,
            ca_key,
            subject_key,
            cn,
            org,
            role,
            dns_names,
            ip_addresses,
            days,
            out,
        } => {
            let ca_cert = read_certificate(&ca_cert)?;
            let ca_key = read_private_key(&ca_key)?;
            let subject_key = read_any_public_key(&subject_key)?;
            let role: Role = role.parse().map_err(|()| {
                anyhow::anyhow!("unknown role {role:?}: admin, peer, orderer or client")
            })?;
            let (not_before, not_after) = validity(days)?;
            let mut params =
                CertificateParams::end_entity(subject(cn, org), role, not_before, not_after)?;
            params.dns_names = dns_names;
            params.ip_addresses = ip_addresses;
            let cert = x509::issue(&params, &subject_key, &ca_cert, &ca_key)?;
            write_text(&out, &cert.to_pem())?;
            println!("{} serial {}", cert.subject_dn(), cert.serial_hex());
            Ok(())
        }
        CertCommand::Show { cert, ca } => {
            let cert = read_certificate(&cert)?;
            println!("subject:     {}", cert.subject_dn());
            println!("issuer:      {}", cert.issuer_dn());
            println!("serial:      {}", cert.serial_hex());
            println!(
                "role:        {}",
                cert.role()?.map_or("-".to_string(), |r| r.to_string())
            );
            println!("not before:  {}", cert.not_before_unix());
            println!("not after:   {}", cert.not_after_unix());
            println!("dns:         {:?}", cert.dns_names());
            println!("ip:          {:?}", cert.ip_addresses());
            println!("sm3:         {}", cert.sm3_fingerprint());
            if let Some(ca) = ca {
                let roots = read_certificates(&ca)?;
                x509::verify_chain(&cert, &[], &roots, now_unix()?)
                    .with_context(|| format!("verifying against {}", ca.display()))?;
                println!("chain:       OK");
            }
            Ok(())
        }
    }
}

/// `netsettle sign`: an SM2 signature (default ID, DER) over a file's bytes.
pub fn run_sign(key: &Path, input: &Path, out: &Path) -> Result<()> {
    let key = read_private_key(key)?;
    let message = std::fs::read(input).with_context(|| format!("reading {}", input.display()))?;
    let signature = key.sign(&message);
    std::fs::write(out, signature.as_der()).with_context(|| format!("writing {}", out.display()))
}

/// `netsettle verify`: check a DER SM2 signature over a file with a public key or a
/// certificate's key.
pub fn run_verify(public: &Path, input: &Path, signature: &Path) -> Result<()> {
    let public = read_any_public_key(public)?;
    let message = std::fs::read(input).with_context(|| format!("reading {}", input.display()))?;
    let der =
        std::fs::read(signature).with_context(|| format!("reading {}", signature.display()))?;
    let signature = Signature::from_der(&der)?;
    public.verify(&message, &signature)?;
    println!("signature OK");
    Ok(())
}

/// `netsettle sm3`: the SM3 digest of a file (hex).
pub fn run_sm3(path: &Path) -> Result<()> {
    let bytes =
        std::fs::read(path).map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?;
    println!("{}", netsettle_smcrypto::sm3(&bytes));
    Ok(())
}

fn subject(cn: String, org: String) -> SubjectName {
    SubjectName {
        common_name: cn,
        organization: Some(org),
        organizational_units: Vec::new(),
        country: Some("CN".to_string()),
    }
}

fn validity(days: i64) -> Result<(i64, i64)> {
    if days <= 0 {
        bail!("--days must be positive");
    }
    let now = now_unix()?;
    // Back-date by an hour so a node whose clock is slightly behind accepts a fresh cert.
    let not_before = now - 3600;
    let not_after = days
        .checked_mul(86_400)
        .and_then(|span| now.checked_add(span))
        .context("--days too large")?;
    Ok((not_before, not_after))
}

fn write_text(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

/// A public key from an SPKI PEM, a certificate PEM or a PKCS#8 private key PEM.
fn read_any_public_key(path: &Path) -> Result<PublicKey> {
    let text = read_text(path)?;
    if text.contains("BEGIN CERTIFICATE") {
        return Ok(Certificate::from_pem(&text)?.public_key().clone());
    }
    if text.contains("BEGIN PRIVATE KEY") {
        return Ok(PrivateKey::from_pkcs8_pem(&text)?.public_key().clone());
    }
    PublicKey::from_spki_pem(&text)
        .with_context(|| format!("parsing public key {}", path.display()))
}
