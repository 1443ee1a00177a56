//! What can go wrong starting or running the console, one variant per failure an operator
//! can act on.

use std::path::PathBuf;

/// A console failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConsoleError {
    /// The config file could not be read.
    #[error("cannot read {path}: {source}")]
    ReadConfig {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The config file is not valid (syntax, unknown key, bad value).
    #[error("invalid console config: {0}")]
    Config(String),
    /// Plain HTTP was asked for on an address other than loopback.
    #[error(
        "listen address {0} is not loopback: plain HTTP is only served on loopback, configure [tls] cert and key"
    )]
    PlainNotLoopback(std::net::SocketAddr),
    /// The TLS certificate or key could not be loaded.
    #[error("TLS certificate/key: {0}")]
    Tls(String),
    /// A node signing certificate for notices could not be read.
    #[error("notice signer certificate {path}: {reason}")]
    NoticeSigner {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The listener could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: std::net::SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// Hashing a password failed.
    #[error("password hash: {0}")]
    PasswordHash(String),
    /// The system random source failed.
    #[error("random source: {0}")]
    Random(String),
}
