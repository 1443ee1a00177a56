//! The security upgrade: RFC 8998 SM-TLS (our `netsettle-smtls` provider and verifiers)
//! implemented through libp2p's public connection-upgrade traits, and the transport that
//! runs it on TCP before yamux.
//!
//! libp2p's own `authenticate` step cannot tell an upgrade which `PeerId` was dialled, so
//! the transport runs the two negotiations itself (multistream-select, exactly as libp2p
//! does) and hands [`SmTlsUpgrade`] the expected `PeerId` taken from the dialled
//! address's `/p2p/` suffix. A dial whose certificate belongs to another node fails in
//! the upgrade with [`IdentityRefusal::PeerIdMismatch`].
//!
//! The TLS server-name check is replaced by that `PeerId` check: across the DMZ the
//! dialled address is the forwarder's, which no node certificate names.

use core::iter;
use core::pin::Pin;
use core::task::{Context, Poll};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex};

use futures::future::{Abortable, BoxFuture};
use futures::{AsyncRead, AsyncWrite, FutureExt as _};
use libp2p::core::muxing::StreamMuxerBox;
use libp2p::core::transport::Boxed;
use libp2p::core::transport::timeout::TransportTimeout;
use libp2p::core::transport::{DialOpts, ListenerId, PortUse, TransportError, TransportEvent};
use libp2p::core::upgrade::{InboundConnectionUpgrade, OutboundConnectionUpgrade, UpgradeInfo};
use libp2p::core::{ConnectedPoint, Transport};
use libp2p::multiaddr::Protocol;
use libp2p::{Multiaddr, PeerId};
use multistream_select::{Version, dialer_select_proto, listener_select_proto};
use rustls::pki_types::{CertificateDer, ServerName};

use netsettle_smcrypto::x509::Certificate;
use netsettle_smtls::{TlsError, TlsIdentity};

use crate::coalesce::{BufferedStreams, SharedWrites, WriteBuffer};
use crate::error::{IdentityRefusal, NetError};
use crate::limits::NetLimits;
use crate::live_trust::{LiveTrust, Session, TrustInForce};
use crate::pending::PendingHandshakes;
use crate::tally::{Tallied, WireTally};
use crate::trust::{ChannelTrust, RemotePeer};

/// The protocol name negotiated for the security upgrade.
pub const SM_TLS_PROTOCOL: &str = "/netsettle/sm-tls/1.0.0";

/// Authenticated remote nodes by `PeerId`, filled by the upgrade (`LiveTrust::admit`) and
/// read by the event loop when libp2p reports the connection (libp2p's connection only
/// carries the `PeerId`). Entries are removed when the last connection closes, or when a
/// new trust no longer accepts them; the map can only hold members of the channel, and is
/// bounded regardless.
pub(crate) type Sessions = Arc<Mutex<HashMap<PeerId, Session>>>;

/// Why a connection upgrade failed.
#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum UpgradeFailure {
    #[error("protocol negotiation failed: {0}")]
    Negotiation(String),
    #[error("SM-TLS: {0}")]
    Tls(String),
    #[error("refused: {0}")]
    Identity(#[from] IdentityRefusal),
    #[error("multiplexer negotiation failed: {0}")]
    Multiplex(String),
    #[error("evicted: newer connections needed the pending handshake slot")]
    Evicted,
}

/// Everything the upgrade needs, shared by all connections: the trust in force (replaced
/// while the node runs) and the session table.
pub(crate) struct Handshake {
    live: Arc<LiveTrust>,
}

impl Handshake {
    pub(crate) fn new(
        identity: &TlsIdentity,
        trust: ChannelTrust,
        sessions: Sessions,
    ) -> Result<Self, NetError> {
        Ok(Handshake {
            live: Arc::new(LiveTrust::new(identity, trust, sessions)?),
        })
    }

    /// The trust in force, for the handle that replaces it.
    pub(crate) fn live(&self) -> Arc<LiveTrust> {
        Arc::clone(&self.live)
    }

    /// Authorise the verified peer chain and check it is the node we meant to reach.
    fn authorize(
        &self,
        chain: Option<&[CertificateDer<'static>]>,
        expected: Option<PeerId>,
        started: &Arc<TrustInForce>,
    ) -> Result<PeerId, UpgradeFailure> {
        // rustls only completes a handshake with a verified client and server chain, so
        // a missing or unparsable chain here means the configuration was bypassed.
        let chain = chain
            .filter(|chain| !chain.is_empty())
            .and_then(|chain| {
                chain
                    .iter()
                    .map(|der| Certificate::from_der(der.as_ref()).ok())
                    .collect::<Option<Vec<_>>>()
            })
            .ok_or_else(|| UpgradeFailure::Tls("no peer certificate".to_owned()))?;
        Ok(self.live.admit(chain, expected, started)?)
    }
}

fn tls_error_text(error: std::io::Error) -> String {
    TlsError::from_io(error).to_string()
}

/// The SM-TLS security upgrade for one connection.
#[derive(Clone)]
pub(crate) struct SmTlsUpgrade {
    handshake: Arc<Handshake>,
    /// The node dialled, when dialling by node id.
    expected: Option<PeerId>,
}

impl UpgradeInfo for SmTlsUpgrade {
    type Info = &'static str;
    type InfoIter = iter::Once<&'static str>;

    fn protocol_info(&self) -> Self::InfoIter {
        iter::once(SM_TLS_PROTOCOL)
    }
}

impl<C> InboundConnectionUpgrade<C> for SmTlsUpgrade
where
    C: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    type Output = (PeerId, futures_rustls::TlsStream<C>);
    type Error = UpgradeFailure;
    type Future = BoxFuture<'static, Result<Self::Output, Self::Error>>;

    fn upgrade_inbound(self, socket: C, _: Self::Info) -> Self::Future {
        async move {
            let in_force = self.handshake.live.current();
            let acceptor = futures_rustls::TlsAcceptor::from(in_force.server.clone());
            let stream = acceptor
                .accept(socket)
                .await
                .map_err(|e| UpgradeFailure::Tls(tls_error_text(e)))?;
            let peer_id = self.handshake.authorize(
                stream.get_ref().1.peer_certificates(),
                None,
                &in_force,
            )?;
            Ok((peer_id, stream.into()))
        }
        .boxed()
    }
}

impl<C> OutboundConnectionUpgrade<C> for SmTlsUpgrade
where
    C: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    type Output = (PeerId, futures_rustls::TlsStream<C>);
    type Error = UpgradeFailure;
    type Future = BoxFuture<'static, Result<Self::Output, Self::Error>>;

    fn upgrade_outbound(self, socket: C, _: Self::Info) -> Self::Future {
        async move {
            let in_force = self.handshake.live.current();
            let connector = futures_rustls::TlsConnector::from(in_force.client.clone());
            // Any name will do: the node verifier checks the leaf against its own name;
            // the node's identity is its key, checked by `authorize`.
            let name = ServerName::try_from("node.netsettle").expect("a valid DNS name");
            let stream = connector
                .connect(name, socket)
                .await
                .map_err(|e| UpgradeFailure::Tls(tls_error_text(e)))?;
            let peer_id = self.handshake.authorize(
                stream.get_ref().1.peer_certificates(),
                self.expected,
                &in_force,
            )?;
            Ok((peer_id, stream.into()))
        }
        .boxed()
    }
}

/// The `PeerId` of a dialled `/ip4/../tcp/../p2p/<id>` address.
fn dialled_peer(address: &Multiaddr) -> Option<PeerId> {
    match address.iter().last() {
        Some(Protocol::P2p(peer_id)) => Some(peer_id),
        _ => None,
    }
}

/// TCP, then SM-TLS, then yamux, within the handshake timeout; inbound handshakes hold
/// a slot of `pending` until done and are evicted when newer ones need it. What every
/// connection writes once TLS starts is counted in `tally`.
pub(crate) fn transport(
    handshake: Arc<Handshake>,
    limits: &NetLimits,
    pending: Arc<PendingHandshakes>,
    tally: Arc<WireTally>,
) -> Boxed<(PeerId, StreamMuxerBox)> {
    let tcp = NewPortPerDial(libp2p::tcp::tokio::Transport::new(
        libp2p::tcp::Config::default().nodelay(true),
    ));
    let mut yamux = libp2p::yamux::Config::default();
    yamux.set_max_num_streams(limits.muxer_streams_max());
    let upgraded = tcp.and_then(move |socket, endpoint| {
        let upgrade = SmTlsUpgrade {
            handshake: handshake.clone(),
            expected: match &endpoint {
                ConnectedPoint::Dialer { address, .. } => dialled_peer(address),
                ConnectedPoint::Listener { .. } => None,
            },
        };
        let slot = match &endpoint {
            ConnectedPoint::Listener { send_back_addr, .. } => {
                let source = crate::runner::to_socket_addr(send_back_addr)
                    .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |address| address.ip());
                Some(pending.admit(source))
            }
            ConnectedPoint::Dialer { .. } => None,
        };
        let upgrading =
            secure_and_multiplex(socket, endpoint, upgrade, yamux.clone(), Arc::clone(&tally));
        async move {
            let Some((slot, registration)) = slot else {
                return upgrading.await;
            };
            let result = Abortable::new(upgrading, registration).await;
            drop(slot);
            result.unwrap_or(Err(UpgradeFailure::Evicted))
        }
    });
    TransportTimeout::new(upgraded, limits.handshake_timeout).boxed()
}

/// TCP that never dials from its listening port. libp2p reuses the listen port for
/// outgoing connections by default (for NAT hole punching, which the DMZ forwarders make
/// pointless); on loopback that makes two nodes with fixed ports dialling each other's
/// forwarders fail with "address in use".
struct NewPortPerDial<T>(T);

impl<T: Transport + Unpin> Transport for NewPortPerDial<T> {
    type Output = T::Output;
    type Error = T::Error;
    type ListenerUpgrade = T::ListenerUpgrade;
    type Dial = T::Dial;

    fn listen_on(
        &mut self,
        id: ListenerId,
        addr: Multiaddr,
    ) -> Result<(), TransportError<Self::Error>> {
        self.0.listen_on(id, addr)
    }

    fn remove_listener(&mut self, id: ListenerId) -> bool {
        self.0.remove_listener(id)
    }

    fn dial(
        &mut self,
        addr: Multiaddr,
        opts: DialOpts,
    ) -> Result<Self::Dial, TransportError<Self::Error>> {
        let opts = DialOpts {
            port_use: PortUse::New,
            ..opts
        };
        self.0.dial(addr, opts)
    }

    fn poll(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<TransportEvent<Self::ListenerUpgrade, Self::Error>> {
        Pin::new(&mut self.0).poll(cx)
    }
}

async fn secure_and_multiplex<C>(
    socket: C,
    endpoint: ConnectedPoint,
    upgrade: SmTlsUpgrade,
    yamux: libp2p::yamux::Config,
    tally: Arc<WireTally>,
) -> Result<(PeerId, StreamMuxerBox), UpgradeFailure>
where
    C: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let negotiation =
        |e: multistream_select::NegotiationError| UpgradeFailure::Negotiation(e.to_string());
    let (peer_id, tls) = if endpoint.is_listener() {
        let (info, io) = listener_select_proto(socket, upgrade.protocol_info())
            .await
            .map_err(negotiation)?;
        upgrade
            .upgrade_inbound(Tallied::new(io, tally), info)
            .await?
    } else {
        let (info, io) = dialer_select_proto(socket, upgrade.protocol_info(), Version::V1)
            .await
            .map_err(negotiation)?;
        upgrade
            .upgrade_outbound(Tallied::new(io, tally), info)
            .await?
    };
    // yamux writes each frame's header and body separately and flushes after each
    // frame: gathered here, the frames of one turn of the muxer leave as one TLS record
    // and one write; on each stream, what is written before a flush is one frame
    // (`coalesce`).
    let connection = Arc::new(Mutex::new(WriteBuffer::for_connection(tls)));
    let tls = SharedWrites(Arc::clone(&connection));
    // In TLS 1.3 a client learns that the server refused its certificate only on its
    // first read, which is this negotiation: report it as the TLS failure it is.
    let muxer = if endpoint.is_listener() {
        let (info, io) = listener_select_proto(tls, yamux.protocol_info())
            .await
            .map_err(after_handshake)?;
        yamux
            .upgrade_inbound(io, info)
            .await
            .map_err(|e| UpgradeFailure::Multiplex(e.to_string()))?
    } else {
        let (info, io) = dialer_select_proto(tls, yamux.protocol_info(), Version::V1)
            .await
            .map_err(after_handshake)?;
        yamux
            .upgrade_outbound(io, info)
            .await
            .map_err(|e| UpgradeFailure::Multiplex(e.to_string()))?
    };
    Ok((
        peer_id,
        StreamMuxerBox::new(BufferedStreams::new(muxer, connection)),
    ))
}

/// A failure right after the TLS handshake: a TLS alert from the remote (it refused our
/// certificate) or a plain multiplexer negotiation failure.
fn after_handshake(error: multistream_select::NegotiationError) -> UpgradeFailure {
    let multistream_select::NegotiationError::ProtocolError(
        multistream_select::ProtocolError::IoError(io),
    ) = error
    else {
        return UpgradeFailure::Multiplex(error.to_string());
    };
    match TlsError::from_io(io) {
        TlsError::Io(io) => UpgradeFailure::Multiplex(io.to_string()),
        tls => UpgradeFailure::Tls(tls.to_string()),
    }
}

/// The node id of an authenticated session, for the event loop.
pub(crate) fn session(sessions: &Sessions, peer_id: &PeerId) -> Option<RemotePeer> {
    let sessions = sessions.lock().unwrap_or_else(|e| e.into_inner());
    sessions.get(peer_id).map(|session| session.peer.clone())
}

/// Forget a node whose last connection closed.
pub(crate) fn forget(sessions: &Sessions, peer_id: &PeerId) {
    let mut sessions = sessions.lock().unwrap_or_else(|e| e.into_inner());
    sessions.remove(peer_id);
}
