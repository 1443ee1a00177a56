//! What can go wrong, by what the caller can do about it: fix the configuration, retry
//! later, or give up on that node.

use std::net::SocketAddr;

use crate::node_id::NodeId;

/// Errors of the network layer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NetError {
    /// The configuration cannot work (bad limits, unusable certificates or channel
    /// config). Fix it and start again.
    #[error("network configuration: {0}")]
    Config(String),
    /// Binding the listen address failed (in use, not local).
    #[error("cannot listen on {addr}: {reason}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// The operating system's or libp2p's explanation.
        reason: String,
    },
    /// Text that should name a node does not.
    #[error("invalid node id {text:?}: {reason}")]
    InvalidNodeId {
        /// The text (truncated).
        text: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// A service or topic name is empty or too long.
    #[error("invalid name {name:?}: {reason}")]
    InvalidName {
        /// The name (truncated).
        name: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// A payload exceeds the configured maximum; nothing was sent.
    #[error("message of {len} bytes exceeds the limit of {max} bytes")]
    MessageTooLarge {
        /// The payload length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// No connection to the node could be established: unreachable, or refused during
    /// the handshake (unknown CA, revoked certificate, role not allowed, a different
    /// node answering). The reason says which; retrying helps only for the first.
    #[error("cannot reach node {node}: {reason}")]
    Unreachable {
        /// The node dialled.
        node: NodeId,
        /// What went wrong.
        reason: String,
    },
    /// The request reached the node but did not produce a response: it timed out, the
    /// connection dropped, or the node refused the stream.
    #[error("request to {node} failed: {reason}")]
    RequestFailed {
        /// The node.
        node: NodeId,
        /// What went wrong.
        reason: String,
    },
    /// The remote service answered with an error (no such service, role not allowed,
    /// busy, or the handler's own error text).
    #[error("node {node} refused the request: {reason}")]
    Refused {
        /// The node.
        node: NodeId,
        /// Its explanation.
        reason: String,
    },
    /// Gossip refused to publish or subscribe (for example: no connected node
    /// subscribes to the topic yet, or the same payload was published before).
    #[error("gossip: {0}")]
    Publish(String),
    /// Too many of our requests await responses (`NetLimits::requests_in_flight_max`);
    /// retry when some have completed.
    #[error("{in_flight} requests already await responses")]
    Busy {
        /// Requests in flight.
        in_flight: usize,
    },
    /// This service already has a receiver; one per service.
    #[error("service {0:?} is already served")]
    AlreadyServed(String),
    /// The network task has stopped (shut down or crashed); nothing more can be sent.
    #[error("the network has shut down")]
    Shutdown,
}

/// Why a remote node's TLS identity was refused after a successful TLS handshake
/// (chain and revocation failures are refused inside the handshake itself).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdentityRefusal {
    /// No organisation of the channel vouches for the certificate.
    #[error("certificate {subject} belongs to no organisation of the channel: {reason}")]
    NoOrganisation {
        /// The certificate subject.
        subject: String,
        /// The MSP's explanation for the closest organisation.
        reason: String,
    },
    /// The certificate's role may not open node-to-node connections.
    #[error("certificate {subject} has role {role}, which may not connect to nodes")]
    RoleNotAllowed {
        /// The certificate subject.
        subject: String,
        /// The role.
        role: String,
    },
    /// A connected node's TLS chain no longer passes under the channel configuration now
    /// in force: it ends at no TLS root of the channel any more, or a CRL lists it.
    #[error("certificate {subject} is no longer trusted: {reason}")]
    TlsChain {
        /// The certificate subject.
        subject: String,
        /// What failed.
        reason: String,
    },
    /// The node that answered is not the node that was dialled.
    #[error("PeerId mismatch: dialled {expected}, but the certificate belongs to {actual}")]
    PeerIdMismatch {
        /// The dialled node.
        expected: String,
        /// The node whose certificate was presented.
        actual: String,
    },
}
