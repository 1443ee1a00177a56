//! The face roles see: configuration, the handle, and the messages that come out of the
//! network. No libp2p type appears here; payloads are opaque bytes.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use libp2p::gossipsub::MessageId;
use libp2p::request_response::ResponseChannel;
use netsettle_protocol::Role;
use netsettle_smtls::TlsIdentity;
use tokio::sync::{broadcast, mpsc, oneshot};

use crate::admission::{BudgetPermit, GossipPermit};
use crate::codec::WireResponse;
use crate::error::NetError;
use crate::limits::{NetLimits, SERVICE_NAME_BYTES_MAX, TOPIC_NAME_BYTES_MAX};
use crate::live_trust::LiveTrust;
use crate::node_id::NodeId;
use crate::trust::{ChannelTrust, RemotePeer};

/// Service names starting with this are the network layer's own (identify).
pub(crate) const RESERVED_PREFIX: &str = "netsettle.";

/// How to start a node's network.
#[derive(Debug, Clone)]
pub struct NetConfig {
    /// This node's TLS certificate chain and key; its [`NodeId`] derives from them.
    pub identity: TlsIdentity,
    /// Which organisations and roles may connect (from the channel config).
    pub trust: ChannelTrust,
    /// Where to listen, inside this carrier's cloud. Port 0 picks a free port;
    /// [`crate::Network::listen_addr`] tells which.
    pub listen: SocketAddr,
    /// The address other nodes should dial: the DMZ forwarder's public `ip:port` that
    /// maps to `listen`. Advertised to every connected node.
    pub external: Option<SocketAddr>,
    /// Nodes to connect to at start and to redial with backoff whenever lost.
    pub known_peers: Vec<(NodeId, SocketAddr)>,
    /// Bounds on connections, queues, sizes and times.
    pub limits: NetLimits,
}

impl NetConfig {
    /// A config with no external address, no known peers and default limits.
    pub fn new(identity: TlsIdentity, trust: ChannelTrust, listen: SocketAddr) -> Self {
        NetConfig {
            identity,
            trust,
            listen,
            external: None,
            known_peers: Vec::new(),
            limits: NetLimits::default(),
        }
    }
}

/// Something that happened to a connection; for logs, metrics and for roles that wait
/// for a node to appear.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnectionEvent {
    /// A node is connected and authenticated (first connection to it).
    Connected {
        /// Who.
        peer: RemotePeer,
        /// The remote address of the connection (the forwarder's, across a DMZ).
        address: Option<SocketAddr>,
    },
    /// The last connection to a node closed.
    Disconnected {
        /// Who.
        node: NodeId,
    },
    /// Dialling failed (unreachable, or refused in the handshake: the reason says which).
    DialFailed {
        /// The node dialled, if dialled by id.
        node: Option<NodeId>,
        /// What went wrong.
        reason: String,
    },
    /// An incoming connection was refused during its handshake (unknown CA, revoked,
    /// role not allowed, limits).
    InboundRefused {
        /// The address it came from.
        from: Option<SocketAddr>,
        /// What went wrong.
        reason: String,
    },
    /// A connected node subscribed to a topic.
    TopicJoined {
        /// Who.
        node: NodeId,
        /// The topic.
        topic: String,
    },
    /// A node was blacklisted from gossip after too many invalid messages.
    Penalised {
        /// Who.
        node: NodeId,
        /// Invalid messages counted.
        invalid_messages: u32,
    },
}

/// A request from another node, to be answered exactly once with [`InboundRequest::respond`]
/// or [`InboundRequest::refuse`] (dropping it fails the caller's request).
#[derive(Debug)]
pub struct InboundRequest {
    /// The authenticated sender.
    pub from: RemotePeer,
    /// The service it was addressed to.
    pub service: String,
    /// The request bytes.
    pub payload: Vec<u8>,
    /// Its share of the inbound byte limits, returned when this request is dropped.
    pub(crate) _budget: Option<BudgetPermit>,
    pub(crate) responder: Responder,
    /// Closed by the network task when the caller can no longer get an answer.
    pub(crate) departed: oneshot::Receiver<()>,
}

#[derive(Debug)]
pub(crate) struct Responder {
    pub(crate) channel: ResponseChannel<WireResponse>,
    pub(crate) commands: mpsc::Sender<Command>,
}

impl InboundRequest {
    /// Resolves once the caller can no longer receive an answer: its connection closed,
    /// or the request outlived the request timeout here. A handler that holds a request
    /// (a long poll) selects on this to let go of what it holds for a departed caller.
    pub async fn departed(&mut self) {
        // The network task never sends; it drops its end when the caller is gone.
        let _ = (&mut self.departed).await;
    }

    /// Answer with `payload`.
    pub async fn respond(self, payload: Vec<u8>) -> Result<(), NetError> {
        self.responder.send(WireResponse::Ok(payload)).await
    }

    /// Refuse with a reason the caller sees as [`NetError::Refused`].
    pub async fn refuse(self, reason: impl Into<String>) -> Result<(), NetError> {
        self.responder
            .send(WireResponse::Refused(reason.into()))
            .await
    }
}

impl Responder {
    async fn send(self, response: WireResponse) -> Result<(), NetError> {
        self.commands
            .send(Command::Respond {
                channel: self.channel,
                response,
            })
            .await
            .map_err(|_| NetError::Shutdown)
    }
}

/// A gossip message delivered to a subscriber. Report every message with
/// [`NetHandle::accept`] or [`NetHandle::report_invalid`]: only accepted messages are
/// forwarded to other nodes, and invalid ones count against the node that sent them.
/// Its payload counts against the topic's queue byte limits until every copy of the
/// message is dropped.
#[derive(Debug, Clone)]
pub struct GossipMessage {
    /// The topic.
    pub topic: String,
    /// The node that forwarded it to us (not necessarily its author: payloads carry
    /// their own signatures).
    pub from: NodeId,
    /// The bytes published.
    pub payload: Vec<u8>,
    pub(crate) id: MessageId,
    pub(crate) _permit: Option<Arc<GossipPermit>>,
}

impl PartialEq for GossipMessage {
    fn eq(&self, other: &Self) -> bool {
        (&self.topic, self.from, &self.payload, &self.id)
            == (&other.topic, other.from, &other.payload, &other.id)
    }
}

impl Eq for GossipMessage {}

/// What a subscriber decided about a gossip message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    Accept,
    Reject,
}

/// Which inbound byte pool a service's requests draw on (see `admission`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ServiceClass {
    /// The shared pool only.
    General,
    /// The consensus reserve first, then the shared pool.
    Consensus,
}

pub(crate) struct ServiceEntry {
    pub(crate) allowed_roles: Vec<Role>,
    pub(crate) sender: mpsc::Sender<InboundRequest>,
    pub(crate) class: ServiceClass,
}

pub(crate) type Services = Arc<Mutex<HashMap<String, ServiceEntry>>>;

/// Commands from handles to the network task.
pub(crate) enum Command {
    Request {
        node: NodeId,
        service: String,
        payload: Vec<u8>,
        trickle_len: Option<u64>,
        reply: oneshot::Sender<Result<Vec<u8>, NetError>>,
    },
    Respond {
        channel: ResponseChannel<WireResponse>,
        response: WireResponse,
    },
    Publish {
        topic: String,
        payload: Vec<u8>,
        reply: oneshot::Sender<Result<(), NetError>>,
    },
    Subscribe {
        topic: String,
        allowed_roles: Vec<Role>,
        sender: mpsc::Sender<GossipMessage>,
        reply: oneshot::Sender<Result<(), NetError>>,
    },
    Validate {
        id: MessageId,
        from: NodeId,
        verdict: Verdict,
    },
    AddAddress {
        node: NodeId,
        address: SocketAddr,
    },
    Connected {
        reply: oneshot::Sender<Vec<RemotePeer>>,
    },
    /// Close every connection to these nodes (a new trust refused them).
    Disconnect {
        nodes: Vec<NodeId>,
    },
    Shutdown,
}

/// Commands waiting for the network task; handles wait when it is full.
pub(crate) const COMMAND_QUEUE_MAX: usize = 1024;

/// A cheap, cloneable handle to a running network. Every method fails with
/// [`NetError::Shutdown`] once the network has stopped.
#[derive(Clone)]
pub struct NetHandle {
    pub(crate) local: NodeId,
    pub(crate) commands: mpsc::Sender<Command>,
    pub(crate) services: Services,
    pub(crate) events: broadcast::Sender<ConnectionEvent>,
    pub(crate) limits: Arc<NetLimits>,
    /// The trust in force, replaced by `replace_trust` (module `live_trust`).
    pub(crate) trust: Arc<LiveTrust>,
}

impl core::fmt::Debug for NetHandle {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("NetHandle")
            .field("local", &self.local)
            .finish_non_exhaustive()
    }
}

fn check_name(name: &str, max: usize) -> Result<(), NetError> {
    let reason = if name.is_empty() {
        "empty"
    } else if name.len() > max {
        "too long"
    } else {
        return Ok(());
    };
    Err(NetError::InvalidName {
        name: name.chars().take(80).collect(),
        reason,
    })
}

impl NetHandle {
    /// This node's id.
    pub fn local_node(&self) -> NodeId {
        self.local
    }

    /// The limits in force.
    pub fn limits(&self) -> &NetLimits {
        &self.limits
    }

    async fn call<T>(&self, command: Command, reply: oneshot::Receiver<T>) -> Result<T, NetError> {
        self.commands
            .send(command)
            .await
            .map_err(|_| NetError::Shutdown)?;
        reply.await.map_err(|_| NetError::Shutdown)
    }

    /// Send `payload` to `service` on `node` and wait for its response (at most the
    /// request timeout). Connects first if needed, using the node's known addresses.
    pub async fn request(
        &self,
        node: NodeId,
        service: &str,
        payload: Vec<u8>,
    ) -> Result<Vec<u8>, NetError> {
        check_name(service, SERVICE_NAME_BYTES_MAX)?;
        if payload.len() > self.limits.message_bytes_max {
            return Err(NetError::MessageTooLarge {
                len: payload.len(),
                max: self.limits.message_bytes_max,
            });
        }
        let (reply, response) = oneshot::channel();
        let command = Command::Request {
            node,
            service: service.to_owned(),
            payload,
            trickle_len: None,
            reply,
        };
        self.call(command, response).await?
    }

    /// For resource tests only: a request that claims `claimed_len` payload bytes and
    /// then sends them one at a time, as a slow or hostile sender would, until the
    /// receiver resets the stream or the request times out. Shows what such a sender
    /// can hold at the receiver.
    #[doc(hidden)]
    pub async fn request_trickled(
        &self,
        node: NodeId,
        service: &str,
        claimed_len: u64,
    ) -> Result<Vec<u8>, NetError> {
        check_name(service, SERVICE_NAME_BYTES_MAX)?;
        let (reply, response) = oneshot::channel();
        let command = Command::Request {
            node,
            service: service.to_owned(),
            payload: Vec::new(),
            trickle_len: Some(claimed_len),
            reply,
        };
        self.call(command, response).await?
    }

    /// Receive requests for `service` from nodes whose role is in `allowed_roles`
    /// (others are refused with an explanation, before their payload is read). A service
    /// named in `limits.consensus_services` may draw on the consensus reserve. The queue
    /// holds
    /// `limits.service_queue_max` requests; beyond that callers are told the service is
    /// busy. One receiver per service; dropping it stops serving.
    pub fn serve(
        &self,
        service: &str,
        allowed_roles: &[Role],
    ) -> Result<mpsc::Receiver<InboundRequest>, NetError> {
        check_name(service, SERVICE_NAME_BYTES_MAX)?;
        if service.starts_with(RESERVED_PREFIX) {
            return Err(NetError::InvalidName {
                name: service.to_owned(),
                reason: "reserved for the network layer",
            });
        }
        let mut services = self.services.lock().unwrap_or_else(|e| e.into_inner());
        if services
            .get(service)
            .is_some_and(|entry| !entry.sender.is_closed())
        {
            return Err(NetError::AlreadyServed(service.to_owned()));
        }
        let (sender, receiver) = mpsc::channel(self.limits.service_queue_max);
        let class = if self.limits.consensus_services.iter().any(|s| s == service) {
            ServiceClass::Consensus
        } else {
            ServiceClass::General
        };
        services.insert(
            service.to_owned(),
            ServiceEntry {
                allowed_roles: allowed_roles.to_vec(),
                sender,
                class,
            },
        );
        Ok(receiver)
    }

    /// Publish `payload` on `topic` to every connected subscriber.
    pub async fn publish(&self, topic: &str, payload: Vec<u8>) -> Result<(), NetError> {
        check_name(topic, TOPIC_NAME_BYTES_MAX)?;
        if payload.len() > self.limits.gossip_bytes_max {
            return Err(NetError::MessageTooLarge {
                len: payload.len(),
                max: self.limits.gossip_bytes_max,
            });
        }
        let (reply, done) = oneshot::channel();
        let command = Command::Publish {
            topic: topic.to_owned(),
            payload,
            reply,
        };
        self.call(command, done).await?
    }

    /// Subscribe to `topic`, taking messages only from nodes whose role is in
    /// `allowed_roles` (a message another role forwards is rejected and counts against
    /// it, like an invalid one). The queue holds `limits.topic_queue_max` messages and
    /// `limits.topic_queue_bytes_max` payload bytes, at most
    /// `limits.topic_sender_bytes_max` of them from one sender; beyond that new messages
    /// are ignored (neither forwarded nor held against anyone). A new subscription to
    /// the same topic replaces the old one.
    pub async fn subscribe(
        &self,
        topic: &str,
        allowed_roles: &[Role],
    ) -> Result<mpsc::Receiver<GossipMessage>, NetError> {
        check_name(topic, TOPIC_NAME_BYTES_MAX)?;
        let (sender, receiver) = mpsc::channel(self.limits.topic_queue_max);
        let (reply, done) = oneshot::channel();
        let command = Command::Subscribe {
            topic: topic.to_owned(),
            allowed_roles: allowed_roles.to_vec(),
            sender,
            reply,
        };
        self.call(command, done).await??;
        Ok(receiver)
    }

    /// The message is valid: forward it to other subscribers.
    pub async fn accept(&self, message: &GossipMessage) -> Result<(), NetError> {
        self.validate(message, Verdict::Accept).await
    }

    /// The message is invalid (bad signature, malformed): drop it and count it against
    /// the node that sent it; after `limits.invalid_gossip_max` such messages that node
    /// is blacklisted from gossip.
    pub async fn report_invalid(&self, message: &GossipMessage) -> Result<(), NetError> {
        self.validate(message, Verdict::Reject).await
    }

    async fn validate(&self, message: &GossipMessage, verdict: Verdict) -> Result<(), NetError> {
        let command = Command::Validate {
            id: message.id.clone(),
            from: message.from,
            verdict,
        };
        self.commands
            .send(command)
            .await
            .map_err(|_| NetError::Shutdown)
    }

    /// Learn an address for `node` and keep it connected (redialled with backoff).
    pub async fn add_address(&self, node: NodeId, address: SocketAddr) -> Result<(), NetError> {
        self.commands
            .send(Command::AddAddress { node, address })
            .await
            .map_err(|_| NetError::Shutdown)
    }

    /// The nodes connected right now.
    pub async fn connected(&self) -> Result<Vec<RemotePeer>, NetError> {
        let (reply, peers) = oneshot::channel();
        self.call(Command::Connected { reply }, peers).await
    }

    /// A stream of connection events from now on. Slow readers lose the oldest events
    /// (bounded by `limits.event_queue_max`) and are told how many.
    pub fn events(&self) -> broadcast::Receiver<ConnectionEvent> {
        self.events.subscribe()
    }

    /// Ask the network task to stop; connections close. Idempotent.
    pub async fn shutdown(&self) {
        let _ = self.commands.send(Command::Shutdown).await;
    }
}
