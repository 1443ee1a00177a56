//! Node-to-node networking: libp2p over TCP with RFC 8998 SM-TLS as the security
//! upgrade, yamux streams, request–response and gossip, behind a small API that hides
//! libp2p completely.
//!
//! # Using it
//!
//! ```text
//! let trust = ChannelTrust::new(&channel_config, &[Role::Peer, Role::Orderer])?;
//! let mut config = NetConfig::new(tls_identity, trust, "127.0.1.20:7051".parse()?);
//! config.external = Some("127.0.3.1:7051".parse()?);          // the DMZ forwarder
//! config.known_peers = vec![(other_node_id, "127.0.4.1:7051".parse()?)];
//! let network = Network::start(config).await?;
//! let net = network.handle();                                   // Clone, Send
//!
//! let mut raft = net.serve("raft", &[Role::Orderer])?;          // bounded Receiver
//! while let Some(request) = raft.recv().await {
//!     request.respond(handle(&request.payload)).await?;         // or .refuse(reason)
//! }
//! let reply = net.request(other_node_id, "raft", bytes).await?;  // with timeout
//!
//! let mut blocks = net.subscribe("blocks", &[Role::Peer]).await?; // senders' roles
//! net.publish("blocks", block_bytes).await?;
//! let message = blocks.recv().await.unwrap();
//! net.accept(&message).await?;            // or net.report_invalid(&message): penalised
//!
//! let mut events = net.events();          // Connected, Disconnected, DialFailed, ...
//! network.shutdown().await;
//! ```
//!
//! * [`NodeId`]: a node's name, derived from the SM2 public key of its TLS certificate
//!   (see `node_id` for the exact derivation); `Display`/`FromStr`.
//! * Services are short names (`raft`, `deliver`, `endorse`, ...); each is served by one
//!   bounded queue with a list of roles allowed to call it.
//! * Payloads are opaque bytes: roles encode their messages with `netsettle-protocol`.
//! * Each request is a yamux stream. At most `NetLimits::streams_per_node_max` of a
//!   node's requests are on the wire to one other node; more wait, in order, for earlier
//!   ones to finish (all of them together bounded by `requests_in_flight_max`). yamux
//!   closes the whole connection when a remote opens more streams than it allows, so
//!   this bound, the same on every node, keeps a burst of requests from failing them all.
//! * Inbound, a request's service and the sender's role are checked before its payload
//!   is read, and its bytes are held against the sender's connection, its organisation
//!   and a pool; consensus services have a reserve of their own (see `admission`).
//!   [`InboundRequest::departed`] tells a long-polling handler that its caller is gone.
//! * Handshakes in progress are bounded in total and per source address; a new one
//!   beyond either bound evicts the oldest (see `pending`).
//!
//! # What happens on a connection
//!
//! TCP, then multistream-select negotiates `/netsettle/sm-tls/1.0.0`, then a mutual TLS
//! 1.3 handshake with `TLS_SM4_GCM_SM3` only (`netsettle-smtls`), then yamux. The remote
//! chain must end at a TLS root of a channel organisation and not be revoked by that
//! organisation's CRL (refused inside the handshake with a TLS alert), then
//! `netsettle-msp` must accept it as a member with an allowed role, and when dialling by
//! node id the certificate's key must give that id (refused after the handshake with
//! [`IdentityRefusal`]).
//!
//! Each message leaves the codec in one write; what a stream writes before its flush is
//! one yamux frame, and the frames of one turn of the muxer are one TLS record and one
//! socket write (`coalesce`). Request streams negotiate their protocol lazily: the
//! request goes out with it, without a round trip.
//!
//! # What it leaves out
//!
//! Message semantics and signatures (roles check the SM2 signatures inside payloads),
//! peer discovery beyond the configured peers and what they advertise, NAT traversal
//! (the DMZ forwarders map fixed ports), and following the channel's config blocks: the
//! node hands each newer config's [`ChannelTrust`] to [`NetHandle::replace_trust`], which
//! puts it in force for new handshakes and closes the connections it no longer trusts.
//!
//! Reading order: `limits`, `node_id`, `error`, `trust`, `live_trust` (the trust in force
//! and the session table, replaceable while running), `pending` (handshakes in progress),
//! `tally` (write calls and TLS records counted), `coalesce` (the write buffers on
//! streams and under yamux), `upgrade` (the SM-TLS libp2p upgrade and transport),
//! `admission` (who may send what, and how many bytes), `codec`, `api`, `outbound` (our
//! requests per node), `runner` (the task owning the libp2p swarm).

mod admission;
mod api;
mod coalesce;
mod codec;
mod error;
mod limits;
mod live_trust;
mod node_id;
mod outbound;
mod pending;
mod runner;
mod tally;
mod trust;
mod upgrade;

pub use api::{ConnectionEvent, GossipMessage, InboundRequest, NetConfig, NetHandle};
pub use error::{IdentityRefusal, NetError};
pub use limits::{
    ADVERTISED_ADDRESSES_MAX, KNOWN_PEERS_MAX, MESSAGE_BYTES_MAX_DEFAULT, NetLimits,
    SERVICE_NAME_BYTES_MAX, TOPIC_NAME_BYTES_MAX,
};
pub use node_id::NodeId;
pub use runner::Network;
#[doc(hidden)]
pub use tally::WireCounts;
pub use trust::{ChannelTrust, RemotePeer};
pub use upgrade::SM_TLS_PROTOCOL;
