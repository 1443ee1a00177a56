//! The tokio face of SM-TLS: `connect` and `accept` run a full, mutually authenticated
//! handshake within [`HANDSHAKE_TIMEOUT`] and return a [`TlsStream`] that carries the
//! peer's verified certificate.
//!
//! In TLS 1.3 the client finishes its side of the handshake before the server has
//! checked the client's certificate. If the server rejects it, the client's `connect`
//! still succeeds and the rejection arrives as an error on the client's first read;
//! [`TlsError::from_io`] turns that error into the same [`crate::HandshakeFailure`]
//! reasons `connect` reports.

use core::pin::Pin;
use core::task::{Context, Poll};
use core::time::Duration;
use std::io;
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ServerConfig};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpStream, ToSocketAddrs};
use tokio_rustls::{TlsAcceptor, TlsConnector};

use netsettle_smcrypto::x509::Certificate;

use crate::error::TlsError;

/// Longest a handshake (including the TCP connect for [`connect`]) may take. Bounds the
/// time a silent or slow peer can hold a connection slot before it is authenticated.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The peer's certificate chain as presented and verified during the handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerIdentity {
    certificate: Certificate,
    intermediates: Vec<Certificate>,
}

impl PeerIdentity {
    fn from_der(chain: Option<&[CertificateDer<'static>]>) -> Result<Self, TlsError> {
        let mut certs = chain.unwrap_or_default().iter();
        // Mutual authentication is mandatory on both sides, so a completed handshake always
        // has a peer chain; its absence means the configuration was bypassed.
        let Some(leaf) = certs.next() else {
            return Err(TlsError::from(rustls::Error::NoCertificatesPresented));
        };
        let parse = |der: &CertificateDer<'_>| {
            Certificate::from_der(der.as_ref()).map_err(|_| {
                TlsError::from(rustls::Error::InvalidCertificate(
                    rustls::CertificateError::BadEncoding,
                ))
            })
        };
        Ok(PeerIdentity {
            certificate: parse(leaf)?,
            intermediates: certs.map(parse).collect::<Result<_, _>>()?,
        })
    }

    /// The peer's end-entity certificate.
    pub fn certificate(&self) -> &Certificate {
        &self.certificate
    }

    /// Intermediates the peer sent after its leaf.
    pub fn intermediates(&self) -> &[Certificate] {
        &self.intermediates
    }
}

/// An established SM-TLS connection over `S`: read and write it like the plain stream.
pub struct TlsStream<S> {
    inner: tokio_rustls::TlsStream<S>,
    peer: PeerIdentity,
}

impl<S> TlsStream<S> {
    /// Who is on the other end, as verified in the handshake.
    pub fn peer(&self) -> &PeerIdentity {
        &self.peer
    }

    /// The underlying transport.
    pub fn get_ref(&self) -> &S {
        self.inner.get_ref().0
    }

    /// The tokio-rustls stream and the peer identity, for callers that need rustls's
    /// connection state.
    pub fn into_parts(self) -> (tokio_rustls::TlsStream<S>, PeerIdentity) {
        (self.inner, self.peer)
    }
}

impl<S> core::fmt::Debug for TlsStream<S> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TlsStream")
            .field("peer", &self.peer.certificate.subject_dn())
            .finish_non_exhaustive()
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for TlsStream<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for TlsStream<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// Dial `addr` over TCP and run the client handshake, expecting the server's
/// certificate to name `server_name` (a DNS name or an IP address literal).
pub async fn connect(
    config: &Arc<ClientConfig>,
    addr: impl ToSocketAddrs,
    server_name: &str,
) -> Result<TlsStream<TcpStream>, TlsError> {
    let server_name = parse_server_name(server_name)?;
    with_deadline(async {
        let tcp = TcpStream::connect(addr).await.map_err(TlsError::Io)?;
        // Handshake flights are small and latency-bound; do not let Nagle hold them.
        tcp.set_nodelay(true).map_err(TlsError::Io)?;
        client_handshake(config, tcp, server_name).await
    })
    .await
}

/// Run the client handshake over an already connected transport.
pub async fn connect_stream<S>(
    config: &Arc<ClientConfig>,
    stream: S,
    server_name: &str,
) -> Result<TlsStream<S>, TlsError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let server_name = parse_server_name(server_name)?;
    with_deadline(client_handshake(config, stream, server_name)).await
}

/// Run the server handshake over an accepted transport; the client must present a
/// certificate that our configuration trusts.
pub async fn accept<S>(config: &Arc<ServerConfig>, stream: S) -> Result<TlsStream<S>, TlsError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    with_deadline(async {
        let tls = TlsAcceptor::from(Arc::clone(config))
            .accept(stream)
            .await
            .map_err(TlsError::from_io)?;
        let peer = PeerIdentity::from_der(tls.get_ref().1.peer_certificates())?;
        Ok(TlsStream {
            inner: tokio_rustls::TlsStream::Server(tls),
            peer,
        })
    })
    .await
}

async fn client_handshake<S>(
    config: &Arc<ClientConfig>,
    stream: S,
    server_name: ServerName<'static>,
) -> Result<TlsStream<S>, TlsError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let tls = TlsConnector::from(Arc::clone(config))
        .connect(server_name, stream)
        .await
        .map_err(TlsError::from_io)?;
    let peer = PeerIdentity::from_der(tls.get_ref().1.peer_certificates())?;
    Ok(TlsStream {
        inner: tokio_rustls::TlsStream::Client(tls),
        peer,
    })
}

fn parse_server_name(server_name: &str) -> Result<ServerName<'static>, TlsError> {
    ServerName::try_from(server_name.to_owned())
        .map_err(|_| TlsError::InvalidServerName(server_name.to_owned()))
}

async fn with_deadline<T>(
    handshake: impl Future<Output = Result<T, TlsError>>,
) -> Result<T, TlsError> {
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake).await {
        Ok(result) => result,
        Err(_) => Err(TlsError::HandshakeTimeout {
            seconds: HANDSHAKE_TIMEOUT.as_secs(),
        }),
    }
}
