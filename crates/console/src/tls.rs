//! The console's listener for browsers over ordinary TLS: a PEM certificate chain and
//! key configured by the carrier, rustls with its standard `ring` provider passed to this
//! config alone. Node links never see this provider: they build their configs with the
//! SM-TLS provider explicitly (`netsettle_smtls`).

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

use crate::config::TlsConfig;
use crate::error::ConsoleError;
use crate::limits::TLS_PEM_BYTES_MAX;

fn read(path: &Path) -> Result<Vec<u8>, ConsoleError> {
    netsettle_smcrypto::read_file_bounded(path, TLS_PEM_BYTES_MAX)
        .map_err(|error| ConsoleError::Tls(format!("{}: {error}", path.display())))
}

/// The acceptor for `config`'s certificate chain and key.
pub fn acceptor(config: &TlsConfig) -> Result<TlsAcceptor, ConsoleError> {
    let chain_pem = read(&config.cert)?;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&chain_pem)
        .collect::<Result<_, _>>()
        .map_err(|error| ConsoleError::Tls(format!("{}: {error}", config.cert.display())))?;
    if chain.is_empty() {
        return Err(ConsoleError::Tls(format!(
            "{}: no certificate in it",
            config.cert.display()
        )));
    }
    let key_pem = read(&config.key)?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem)
        .map_err(|error| ConsoleError::Tls(format!("{}: {error}", config.key.display())))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|error| ConsoleError::Tls(error.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|error| ConsoleError::Tls(format!("certificate and key: {error}")))?;
    server.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(server)))
}
