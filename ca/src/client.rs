//! The client side of the enrollment protocol: what `netsettle ca register|enroll|
//! reenroll|revoke|crl` and a node's own tooling call. Keys are generated here and never
//! sent; only CSRs travel.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;

use rustls::ClientConfig;

use netsettle_smcrypto::PrivateKey;
use netsettle_smcrypto::x509::{Certificate, CertificateRequest, Crl, Role};
use netsettle_smtls::TrustAnchors;

use crate::authority::csr_params;
use netsettle_msp::IdentityLayout;
use netsettle_smtls::TlsIdentity;

use crate::layout::{IdentityFiles, write_identity};
use crate::wire::{self, Request, Response};
use crate::{CaError, RevokeTarget};

/// A connection recipe for one CA: where it listens, the name its certificate carries,
/// and the TLS configuration (with or without a client certificate).
#[derive(Debug, Clone)]
pub struct CaClient {
    address: String,
    server_name: String,
    config: Arc<ClientConfig>,
    ca_cert: Certificate,
    /// The local address to connect from, if not the system's choice.
    source: Option<IpAddr>,
}

/// What an enrollment wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enrolled {
    /// The signing certificate.
    pub sign_cert: Certificate,
    /// The TLS certificate.
    pub tls_cert: Certificate,
}

impl CaClient {
    /// A client without a certificate: it can only enroll.
    pub fn anonymous(
        address: &str,
        server_name: &str,
        ca_cert: Certificate,
    ) -> Result<Self, CaError> {
        let trust = trust(&ca_cert)?;
        Ok(CaClient {
            address: address.to_owned(),
            server_name: server_name.to_owned(),
            config: crate::tls::anonymous_client_config(&trust)?,
            ca_cert,
            source: None,
        })
    }

    /// A client authenticated by the TLS identity in an identity directory.
    pub fn with_identity(
        address: &str,
        server_name: &str,
        ca_cert: Certificate,
        identity_dir: &Path,
    ) -> Result<Self, CaError> {
        let trust = trust(&ca_cert)?;
        let layout = IdentityLayout::new(identity_dir);
        let identity = TlsIdentity::from_pem_files(&layout.tls_cert(), &layout.tls_key())
            .map_err(|err| CaError::Tls(err.into()))?;
        Ok(CaClient {
            address: address.to_owned(),
            server_name: server_name.to_owned(),
            config: crate::tls::client_config(&identity, &trust)?,
            ca_cert,
            source: None,
        })
    }

    /// Connect from `source` (a host with several addresses; the CA throttles wrong
    /// secrets per source address).
    pub fn from_source(mut self, source: IpAddr) -> Self {
        self.source = Some(source);
        self
    }

    /// Send one request on a fresh connection and return the answer; a refusal becomes
    /// [`CaError::Refused`].
    pub async fn call(&self, request: &Request) -> Result<Response, CaError> {
        let mut tls = match self.source {
            None => {
                netsettle_smtls::connect(&self.config, self.address.as_str(), &self.server_name)
                    .await?
            }
            Some(source) => {
                let tcp = connect_from(source, &self.address).await?;
                netsettle_smtls::connect_stream(&self.config, tcp, &self.server_name).await?
            }
        };
        wire::write_message(&mut tls, request).await?;
        let Some(body) = wire::read_frame::<Response, _>(&mut tls).await? else {
            return Err(CaError::Protocol(
                "CA closed the connection without answering".to_owned(),
            ));
        };
        match wire::decode_body::<Response>(&body)? {
            Response::Refused(refusal) => Err(CaError::Refused(refusal)),
            response => Ok(response),
        }
    }

    /// Register an identity; returns its enrollment secret.
    pub async fn register(
        &self,
        name: &str,
        role: Role,
        hosts: Vec<String>,
        attributes: Vec<(String, String)>,
        secret: Option<String>,
    ) -> Result<String, CaError> {
        let request = Request::Register {
            name: name.to_owned(),
            role: role.into(),
            hosts,
            attributes,
            secret,
        };
        match self.call(&request).await? {
            Response::Registered { secret } => Ok(secret),
            other => Err(unexpected(&other)),
        }
    }

    /// Enroll with a one-time secret and write the identity directory `out`.
    pub async fn enroll(&self, name: &str, secret: &str, out: &Path) -> Result<Enrolled, CaError> {
        let (sign_key, tls_key, sign_csr, tls_csr) = fresh_keys(name)?;
        let request = Request::Enroll {
            name: name.to_owned(),
            secret: secret.to_owned(),
            sign_csr: sign_csr.der().to_vec(),
            tls_csr: tls_csr.der().to_vec(),
        };
        let response = self.call(&request).await?;
        self.store(response, &sign_key, &tls_key, out)
    }

    /// Re-enroll the identity in `dir` (the client must have been built with
    /// [`Self::with_identity`] on the same directory): new keys, new certificates,
    /// replaced in place.
    pub async fn reenroll(&self, name: &str, dir: &Path) -> Result<Enrolled, CaError> {
        let (sign_key, tls_key, sign_csr, tls_csr) = fresh_keys(name)?;
        let request = Request::Reenroll {
            sign_csr: sign_csr.der().to_vec(),
            tls_csr: tls_csr.der().to_vec(),
        };
        let response = self.call(&request).await?;
        self.store(response, &sign_key, &tls_key, dir)
    }

    /// Revoke; returns the serials revoked and the new CRL.
    pub async fn revoke(
        &self,
        target: RevokeTarget,
        reason: u8,
    ) -> Result<(Vec<String>, Crl), CaError> {
        let request = match target {
            RevokeTarget::Serial(serial) => Request::RevokeSerial { serial, reason },
            RevokeTarget::Name(name) => Request::RevokeName { name, reason },
        };
        match self.call(&request).await? {
            Response::Revoked { serials, crl } => Ok((serials, self.checked_crl(&crl)?)),
            other => Err(unexpected(&other)),
        }
    }

    /// Fetch a freshly signed CRL; its signature is checked against the CA root.
    pub async fn crl(&self) -> Result<Crl, CaError> {
        match self.call(&Request::Crl).await? {
            Response::Crl { crl } => self.checked_crl(&crl),
            other => Err(unexpected(&other)),
        }
    }

    fn checked_crl(&self, der: &[u8]) -> Result<Crl, CaError> {
        let crl = Crl::from_der(der)?;
        crl.verify_signed_by(&self.ca_cert)?;
        Ok(crl)
    }

    fn store(
        &self,
        response: Response,
        sign_key: &PrivateKey,
        tls_key: &PrivateKey,
        out: &Path,
    ) -> Result<Enrolled, CaError> {
        let Response::Enrolled {
            sign_cert,
            tls_cert,
            ca_cert,
        } = response
        else {
            return Err(unexpected(&response));
        };
        let sign_cert = Certificate::from_der(&sign_cert)?;
        let tls_cert = Certificate::from_der(&tls_cert)?;
        let ca_cert = Certificate::from_der(&ca_cert)?;
        // Trust nothing the server says about itself: the root must be the one we dialled
        // with, and the certificates must certify our keys.
        if ca_cert != self.ca_cert
            || sign_cert.public_key() != sign_key.public_key()
            || tls_cert.public_key() != tls_key.public_key()
        {
            return Err(CaError::Protocol(
                "CA answered with certificates that do not match the request".to_owned(),
            ));
        }
        write_identity(
            &IdentityLayout::new(out),
            &IdentityFiles {
                ca_cert: &ca_cert,
                sign_cert: &sign_cert,
                sign_key,
                tls_cert: &tls_cert,
                tls_key,
            },
        )?;
        Ok(Enrolled {
            sign_cert,
            tls_cert,
        })
    }
}

fn fresh_keys(
    name: &str,
) -> Result<
    (
        PrivateKey,
        PrivateKey,
        CertificateRequest,
        CertificateRequest,
    ),
    CaError,
> {
    let sign_key = PrivateKey::generate();
    let tls_key = PrivateKey::generate();
    let sign_csr = CertificateRequest::new(&csr_params(name), &sign_key)?;
    let tls_csr = CertificateRequest::new(&csr_params(name), &tls_key)?;
    Ok((sign_key, tls_key, sign_csr, tls_csr))
}

fn trust(ca_cert: &Certificate) -> Result<TrustAnchors, CaError> {
    TrustAnchors::new(vec![ca_cert.clone()]).map_err(|err| CaError::Tls(err.into()))
}

fn unexpected(response: &Response) -> CaError {
    let kind = match response {
        Response::Registered { .. } => "Registered",
        Response::Enrolled { .. } => "Enrolled",
        Response::Revoked { .. } => "Revoked",
        Response::Crl { .. } => "Crl",
        Response::Refused(_) => "Refused",
    };
    CaError::Protocol(format!("unexpected {kind} response"))
}

/// A TCP connection to `address` from the local address `source`.
async fn connect_from(source: IpAddr, address: &str) -> Result<tokio::net::TcpStream, CaError> {
    let io = |err: std::io::Error| CaError::Tls(netsettle_smtls::TlsError::Io(err));
    let remote: SocketAddr = tokio::net::lookup_host(address)
        .await
        .map_err(io)?
        .next()
        .ok_or_else(|| CaError::invalid("CA address", format!("{address} resolves to nothing")))?;
    let socket = match source {
        IpAddr::V4(_) => tokio::net::TcpSocket::new_v4(),
        IpAddr::V6(_) => tokio::net::TcpSocket::new_v6(),
    }
    .map_err(io)?;
    socket.bind(SocketAddr::new(source, 0)).map_err(io)?;
    let tcp = socket.connect(remote).await.map_err(io)?;
    tcp.set_nodelay(true).map_err(io)?;
    Ok(tcp)
}
