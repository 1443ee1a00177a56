//! What the CLI verbs and the node runtime share, so no command file imports another:
//! bounded file reads, loading keys and certificates, the clock, the configuration a
//! config block carries, and the client's connection (profile + identity directory).

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use netsettle_client::{Gateway, Signer};
use netsettle_protocol::Identity;
use netsettle_smcrypto::PrivateKey;
use netsettle_smcrypto::x509::Certificate;

/// Largest text file (key, certificate, profile, update, edited config) the tools read.
const TEXT_FILE_BYTES_MAX: usize = 64 * 1024 * 1024;

/// Reads a file, refusing it when it is over `bytes_max`.
pub fn read_bounded(path: &Path, bytes_max: usize) -> Result<Vec<u8>> {
    Ok(netsettle_smcrypto::read_file_bounded(path, bytes_max)?)
}

/// Reads a text file (key, certificate, profile, update, edited config), at most
/// [`TEXT_FILE_BYTES_MAX`] bytes.
pub fn read_text(path: &Path) -> Result<String> {
    Ok(netsettle_smcrypto::read_text_file_bounded(
        path,
        TEXT_FILE_BYTES_MAX,
    )?)
}

pub fn now_unix() -> Result<i64> {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .context("system clock before 1970")?
        .as_secs();
    Ok(i64::try_from(secs)?)
}

/// A signer's key and certificate (which must hold that key), as the identity of
/// organisation `msp_id`.
pub fn read_signer(key: &Path, cert: &Path, msp_id: &str) -> Result<(PrivateKey, Identity)> {
    let (cert, key) = Certificate::read_with_key(cert, key)?;
    Ok((
        key,
        Identity {
            msp_id: msp_id.to_owned(),
            cert_der: cert.der().to_vec(),
        },
    ))
}

pub fn read_private_key(path: &Path) -> Result<PrivateKey> {
    PrivateKey::read_pkcs8_pem_file(path).with_context(|| format!("loading key {}", path.display()))
}

pub fn read_certificate(path: &Path) -> Result<Certificate> {
    Certificate::from_pem(&read_text(path)?).with_context(|| format!("parsing {}", path.display()))
}

pub fn read_certificates(path: &Path) -> Result<Vec<Certificate>> {
    Certificate::from_pem_bundle(&read_text(path)?)
        .with_context(|| format!("parsing {}", path.display()))
}

/// Who calls, and through which connection profile.
#[derive(Debug, clap::Args)]
pub struct ClientArgs {
    /// The carrier's connection profile, e.g. DIR/clients/unicommsp.toml.
    #[arg(long)]
    pub profile: PathBuf,
    /// The caller's identity directory (msp/ and tls/), e.g.
    /// crypto/unicom/users/settlement@unicom.example.
    #[arg(long)]
    pub identity: PathBuf,
}

/// Loads the profile and identity and starts the client's network endpoint.
pub async fn connect(args: &ClientArgs) -> Result<(Gateway, Signer)> {
    Gateway::from_profile(&args.profile, &args.identity)
        .await
        .with_context(|| {
            format!(
                "connecting as {} through {}",
                args.identity.display(),
                args.profile.display()
            )
        })
}

/// The multi-threaded async runtime of the client tools and the node.
pub fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}
