//! The network task: one tokio task owns the libp2p `Swarm` and `select!`s over swarm
//! events, handle commands and the redial timer. Everything it holds is bounded: our
//! requests by `requests_in_flight_max` (at most `streams_per_node_max` of them on the
//! wire to one node, the rest waiting in order, see `outbound`) and the request timeout,
//! per-peer state by the connection limits, known peers by `KNOWN_PEERS_MAX`.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use libp2p::core::ConnectedPoint;
use libp2p::gossipsub::{
    self, IdentTopic, MessageAcceptance, MessageAuthenticity, MessageId, ValidationMode,
};
use libp2p::multiaddr::Protocol;
use libp2p::request_response::{self, InboundRequestId, OutboundRequestId, ProtocolSupport};
use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{Multiaddr, PeerId, Swarm, connection_limits};
use netsettle_protocol::Role;
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::admission::{
    Admission as InboundAdmission, ConnectionStamp, GossipBudget, IDENTIFY_SERVICE,
};
use crate::api::{
    COMMAND_QUEUE_MAX, Command, ConnectionEvent, GossipMessage, InboundRequest, NetConfig,
    NetHandle, RESERVED_PREFIX, Responder, Services, Verdict,
};
use crate::codec::{
    FrameCodec, REQUEST_PROTOCOL, SUBSTREAM_NEGOTIATION, WireRequest, WireResponse,
};
use crate::error::NetError;
use crate::limits::{ADVERTISED_ADDRESSES_MAX, IDENTIFY_BYTES_MAX, KNOWN_PEERS_MAX, NetLimits};
use crate::node_id::NodeId;
use crate::outbound::{Admission, OutboundRequests};
use crate::pending::PendingHandshakes;
use crate::tally::{WireCounts, WireTally};
use crate::trust::RemotePeer;
use crate::upgrade::{self, Handshake, Sessions};

// The network layer's own service (`admission::IDENTIFY_SERVICE`): each side tells the
// other the addresses it wants to be dialled at (its external address, else its listen
// address). libp2p's identify protocol cannot be used: it carries a libp2p public key
// (Ed25519, secp256k1, ECDSA, RSA) whose hash must equal the `PeerId`, and SM2 is none
// of those.
const _: () = assert!(IDENTIFY_SERVICE.len() > RESERVED_PREFIX.len());

/// Connections stay open while idle: consortium nodes talk all the time and reconnecting
/// costs a full SM2 handshake.
const IDLE_CONNECTION_TIMEOUT: Duration = Duration::from_secs(3600);

#[derive(NetworkBehaviour)]
#[behaviour(prelude = "libp2p::swarm::derive_prelude")]
struct Behaviour {
    limits: connection_limits::Behaviour,
    /// Must come right before `requests` (see `admission`).
    stamp: ConnectionStamp,
    requests: request_response::Behaviour<FrameCodec>,
    gossip: gossipsub::Behaviour,
}

/// A running network: the task and a handle to it.
pub struct Network {
    handle: NetHandle,
    listen_addr: SocketAddr,
    task: JoinHandle<()>,
    tally: Arc<WireTally>,
}

impl core::fmt::Debug for Network {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Network")
            .field("node", &self.handle.local)
            .field("listen_addr", &self.listen_addr)
            .finish_non_exhaustive()
    }
}

impl Network {
    /// Bind the listen address, start the network task and dial the known peers.
    /// Returns once the node is listening.
    pub async fn start(config: NetConfig) -> Result<Network, NetError> {
        config.limits.check().map_err(NetError::Config)?;
        if config.known_peers.len() > KNOWN_PEERS_MAX {
            return Err(NetError::Config(format!(
                "{} known peers, more than {KNOWN_PEERS_MAX}",
                config.known_peers.len()
            )));
        }
        let local = NodeId::from_certificate(config.identity.leaf());
        let sessions: Sessions = Arc::default();
        let handshake = Handshake::new(&config.identity, config.trust.clone(), sessions.clone())?;
        let trust = handshake.live();
        let pending = PendingHandshakes::new(
            usize::try_from(config.limits.pending_connections_max).unwrap_or(usize::MAX),
            usize::try_from(config.limits.pending_connections_per_source_max).unwrap_or(usize::MAX),
        );
        let tally = Arc::new(WireTally::default());
        let transport = upgrade::transport(
            Arc::new(handshake),
            &config.limits,
            pending,
            Arc::clone(&tally),
        );
        let services: Services = Arc::new(Mutex::new(HashMap::new()));
        let stamp = ConnectionStamp {
            sessions: sessions.clone(),
            admission: InboundAdmission::new(&config.limits, services.clone()),
        };
        let behaviour = behaviour(&config.limits, stamp)?;
        let swarm_config = libp2p::swarm::Config::with_tokio_executor()
            .with_idle_connection_timeout(IDLE_CONNECTION_TIMEOUT)
            .with_substream_upgrade_protocol_override(SUBSTREAM_NEGOTIATION);
        let mut swarm = Swarm::new(transport, behaviour, local.peer_id(), swarm_config);

        let listen_error = |reason: String| NetError::Listen {
            addr: config.listen,
            reason,
        };
        swarm
            .listen_on(to_multiaddr(config.listen))
            .map_err(|e| listen_error(e.to_string()))?;
        let listen_addr = wait_listening(&mut swarm).await.map_err(listen_error)?;
        let advertised = to_multiaddr(config.external.unwrap_or(listen_addr));
        swarm.add_external_address(advertised.clone());

        let (commands, command_rx) = mpsc::channel(COMMAND_QUEUE_MAX);
        let (events, _) = broadcast::channel(config.limits.event_queue_max);
        let handle = NetHandle {
            local,
            commands: commands.clone(),
            services: services.clone(),
            events: events.clone(),
            limits: Arc::new(config.limits.clone()),
            trust,
        };
        let outbound = OutboundRequests::new(
            config.limits.streams_per_node_max,
            config.limits.requests_in_flight_max,
        );
        let mut runner = Runner {
            swarm,
            commands,
            sessions,
            services,
            events,
            limits: config.limits,
            advertised,
            topics: HashMap::new(),
            pending: HashMap::new(),
            answering: HashMap::new(),
            outbound,
            known: HashMap::new(),
            invalid_gossip: HashMap::new(),
            dial_errors: HashMap::new(),
        };
        for (node, address) in config.known_peers {
            runner.add_known(node, address);
        }
        tracing::info!(node = %local, %listen_addr, advertised = %runner.advertised, "network listening");
        let task = tokio::spawn(runner.run(command_rx));
        Ok(Network {
            handle,
            listen_addr,
            task,
            tally,
        })
    }

    /// A handle for roles; clone it freely.
    pub fn handle(&self) -> NetHandle {
        self.handle.clone()
    }

    /// This node's id.
    pub fn node_id(&self) -> NodeId {
        self.handle.local
    }

    /// The address actually bound (resolves port 0).
    pub fn listen_addr(&self) -> SocketAddr {
        self.listen_addr
    }

    /// For tests and benches: write calls and TLS records this node sent on all its
    /// connections so far (see `tally`).
    #[doc(hidden)]
    pub fn wire_counts(&self) -> WireCounts {
        self.tally.counts()
    }

    /// Stop the task, close every connection and wait until it is done.
    pub async fn shutdown(self) {
        self.handle.shutdown().await;
        let _ = self.task.await;
    }
}

fn behaviour(limits: &NetLimits, stamp: ConnectionStamp) -> Result<Behaviour, NetError> {
    // Inbound handshakes are bounded by `PendingHandshakes` in the transport, which
    // evicts the oldest; this is only a backstop above it (evicted handshakes take a
    // moment to be reported), never the bound that refuses a real node.
    let connection_limits = connection_limits::ConnectionLimits::default()
        .with_max_established_incoming(Some(limits.inbound_connections_max))
        .with_max_established_outgoing(Some(limits.outbound_connections_max))
        .with_max_pending_incoming(Some(limits.pending_connections_max.saturating_mul(2)))
        .with_max_pending_outgoing(Some(limits.pending_connections_max))
        .with_max_established_per_peer(Some(2));
    let requests = request_response::Behaviour::with_codec(
        FrameCodec {
            message_bytes_max: limits.message_bytes_max,
            admission: Arc::clone(&stamp.admission),
            connection: None,
        },
        [(REQUEST_PROTOCOL, ProtocolSupport::Full)],
        request_response::Config::default()
            .with_request_timeout(limits.request_timeout)
            .with_max_concurrent_streams(limits.connection_streams_max()),
    );
    // Anonymous gossip: libp2p's message signatures would be Ed25519/secp256k1, not SM2.
    // Blocks carry the orderers' SM2 signatures, which subscribers check themselves.
    // Message ids are the SM3 of the payload, so a block is delivered once however many
    // nodes forward it.
    let gossip_config = gossipsub::ConfigBuilder::default()
        .validation_mode(ValidationMode::Anonymous)
        .validate_messages()
        .max_transmit_size(limits.gossip_bytes_max.saturating_add(1024))
        .connection_handler_queue_len(limits.gossip_peer_queue_max)
        .message_id_fn(|message| {
            gossipsub::MessageId::from(netsettle_smcrypto::sm3(&message.data).0.to_vec())
        })
        .build()
        .map_err(|e| NetError::Config(format!("gossip: {e}")))?;
    let gossip = gossipsub::Behaviour::new(MessageAuthenticity::Anonymous, gossip_config)
        .map_err(|e| NetError::Config(format!("gossip: {e}")))?;
    Ok(Behaviour {
        limits: connection_limits::Behaviour::new(connection_limits),
        stamp,
        requests,
        gossip,
    })
}

async fn wait_listening(swarm: &mut Swarm<Behaviour>) -> Result<SocketAddr, String> {
    loop {
        match swarm.select_next_some().await {
            SwarmEvent::NewListenAddr { address, .. } => {
                return to_socket_addr(&address)
                    .ok_or_else(|| format!("unexpected listen address {address}"));
            }
            SwarmEvent::ListenerError { error, .. } => return Err(error.to_string()),
            SwarmEvent::ListenerClosed { reason, .. } => {
                return Err(format!("listener closed: {reason:?}"));
            }
            _ => {}
        }
    }
}

pub(crate) fn to_multiaddr(address: SocketAddr) -> Multiaddr {
    let ip = match address.ip() {
        IpAddr::V4(ip) => Protocol::Ip4(ip),
        IpAddr::V6(ip) => Protocol::Ip6(ip),
    };
    Multiaddr::empty()
        .with(ip)
        .with(Protocol::Tcp(address.port()))
}

pub(crate) fn to_socket_addr(address: &Multiaddr) -> Option<SocketAddr> {
    let mut parts = address.iter();
    let ip = match parts.next()? {
        Protocol::Ip4(ip) => IpAddr::V4(ip),
        Protocol::Ip6(ip) => IpAddr::V6(ip),
        _ => return None,
    };
    match parts.next()? {
        Protocol::Tcp(port) => Some(SocketAddr::new(ip, port)),
        _ => None,
    }
}

/// A peer we keep connected.
struct KnownPeer {
    addresses: Vec<Multiaddr>,
    backoff: Duration,
    next_dial: Option<Instant>,
}

struct Runner {
    swarm: Swarm<Behaviour>,
    commands: mpsc::Sender<Command>,
    sessions: Sessions,
    services: Services,
    events: broadcast::Sender<ConnectionEvent>,
    limits: NetLimits,
    advertised: Multiaddr,
    topics: HashMap<gossipsub::TopicHash, Subscription>,
    pending: HashMap<OutboundRequestId, Pending>,
    /// Inbound requests handed to a service and not answered yet: dropping the sender
    /// tells the handler its caller is gone ([`InboundRequest::departed`]). Bounded by
    /// the streams libp2p lets each connection open.
    answering: HashMap<InboundRequestId, oneshot::Sender<()>>,
    /// Our callers' requests, per node: on the wire (also in `pending`) or waiting.
    outbound: OutboundRequests<PeerId, CallerRequest>,
    known: HashMap<PeerId, KnownPeer>,
    invalid_gossip: HashMap<PeerId, u32>,
    /// Why the last dial of each node failed: libp2p reports a failed request only as
    /// "dial failure", the reason arrives separately just before.
    dial_errors: HashMap<PeerId, String>,
}

/// Dial failure reasons kept; beyond this the table is cleared (they are only needed
/// for the moment between the two libp2p events).
const DIAL_ERRORS_MAX: usize = 1024;

/// A topic we subscribed to.
struct Subscription {
    name: String,
    sender: mpsc::Sender<GossipMessage>,
    allowed_roles: Vec<Role>,
    bytes: Arc<GossipBudget>,
}

/// A caller's request, on its way out.
struct CallerRequest {
    node: NodeId,
    request: WireRequest,
    reply: oneshot::Sender<Result<Vec<u8>, NetError>>,
}

/// An outbound request awaiting its response.
enum Pending {
    Caller {
        node: NodeId,
        reply: oneshot::Sender<Result<Vec<u8>, NetError>>,
    },
    Identify,
}

impl Runner {
    async fn run(mut self, mut command_rx: mpsc::Receiver<Command>) {
        let mut redial = tokio::time::interval(self.limits.redial_backoff_min);
        redial.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        self.dial_due(Instant::now());
        loop {
            tokio::select! {
                event = self.swarm.select_next_some() => self.on_swarm(event),
                command = command_rx.recv() => match command {
                    Some(Command::Shutdown) | None => break,
                    Some(command) => self.on_command(command),
                },
                _ = redial.tick() => {
                    let now = Instant::now();
                    self.dial_due(now);
                    self.expire_waiting_requests(now);
                }
            }
        }
        tracing::info!(node = %self.swarm.local_peer_id(), "network stopped");
    }

    fn emit(&self, event: ConnectionEvent) {
        // No receiver is fine: events are informational.
        let _ = self.events.send(event);
    }

    fn add_known(&mut self, node: NodeId, address: SocketAddr) {
        let peer_id = node.peer_id();
        let address = to_multiaddr(address);
        self.swarm.add_peer_address(peer_id, address.clone());
        if !self.known.contains_key(&peer_id) && self.known.len() >= KNOWN_PEERS_MAX {
            tracing::warn!(%node, "known-peer table full; address kept but not redialled");
            return;
        }
        let min = self.limits.redial_backoff_min;
        let known = self.known.entry(peer_id).or_insert_with(|| KnownPeer {
            addresses: Vec::new(),
            backoff: min,
            next_dial: None,
        });
        if !known.addresses.contains(&address) && known.addresses.len() < ADVERTISED_ADDRESSES_MAX {
            known.addresses.push(address);
        }
        if !self.swarm.is_connected(&peer_id) {
            known.next_dial = Some(Instant::now());
        }
    }

    fn dial_due(&mut self, now: Instant) {
        let due: Vec<(PeerId, Vec<Multiaddr>)> = self
            .known
            .iter_mut()
            .filter(|(_, known)| known.next_dial.is_some_and(|at| at <= now))
            .map(|(peer_id, known)| {
                known.next_dial = None;
                (*peer_id, known.addresses.clone())
            })
            .collect();
        for (peer_id, addresses) in due {
            let opts = DialOpts::peer_id(peer_id)
                .addresses(addresses)
                .condition(PeerCondition::DisconnectedAndNotDialing)
                .build();
            if let Err(error) = self.swarm.dial(opts) {
                tracing::debug!(%peer_id, %error, "dial not started");
            }
        }
    }

    /// Schedule the next redial of a known peer, doubling its backoff.
    fn schedule_redial(&mut self, peer_id: &PeerId) {
        let max = self.limits.redial_backoff_max;
        if let Some(known) = self.known.get_mut(peer_id) {
            known.next_dial = Some(Instant::now() + known.backoff);
            known.backoff = known.backoff.saturating_mul(2).min(max);
        }
    }

    fn on_command(&mut self, command: Command) {
        match command {
            Command::Request {
                node,
                service,
                payload,
                trickle_len,
                reply,
            } => {
                let request = WireRequest {
                    trickle_len,
                    ..WireRequest::outbound(service, payload)
                };
                let caller = CallerRequest {
                    node,
                    request,
                    reply,
                };
                match self.outbound.admit(node.peer_id(), caller, Instant::now()) {
                    Admission::Send(caller) => self.send_request(caller),
                    Admission::Queued => {}
                    Admission::Busy(caller, in_flight) => {
                        let _ = caller.reply.send(Err(NetError::Busy { in_flight }));
                    }
                }
            }
            Command::Respond { channel, response } => {
                if self
                    .swarm
                    .behaviour_mut()
                    .requests
                    .send_response(channel, response)
                    .is_err()
                {
                    tracing::debug!("response dropped: the requester is gone");
                }
            }
            Command::Publish {
                topic,
                payload,
                reply,
            } => {
                let result = self
                    .swarm
                    .behaviour_mut()
                    .gossip
                    .publish(IdentTopic::new(topic), payload)
                    .map(|_| ())
                    .map_err(|e| NetError::Publish(e.to_string()));
                let _ = reply.send(result);
            }
            Command::Subscribe {
                topic,
                allowed_roles,
                sender,
                reply,
            } => {
                let ident = IdentTopic::new(topic.clone());
                let result = self
                    .swarm
                    .behaviour_mut()
                    .gossip
                    .subscribe(&ident)
                    .map(|_| ())
                    .map_err(|e| NetError::Publish(e.to_string()));
                if result.is_ok() {
                    let subscription = Subscription {
                        name: topic,
                        sender,
                        allowed_roles,
                        bytes: GossipBudget::new(&self.limits),
                    };
                    self.topics.insert(ident.hash(), subscription);
                }
                let _ = reply.send(result);
            }
            Command::Validate { id, from, verdict } => self.on_verdict(&id, from, verdict),
            Command::AddAddress { node, address } => self.add_known(node, address),
            Command::Connected { reply } => {
                let sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
                let connected = self
                    .swarm
                    .connected_peers()
                    .filter_map(|peer_id| sessions.get(peer_id).map(|s| s.peer.clone()))
                    .collect();
                let _ = reply.send(connected);
            }
            Command::Disconnect { nodes } => {
                for node in nodes {
                    // Not connected (any more) is fine: the session is gone either way.
                    let _ = self.swarm.disconnect_peer_id(node.peer_id());
                }
            }
            Command::Shutdown => unreachable!("handled by the loop"),
        }
    }

    fn send_request(&mut self, caller: CallerRequest) {
        let CallerRequest {
            node,
            request,
            reply,
        } = caller;
        let id = self
            .swarm
            .behaviour_mut()
            .requests
            .send_request(&node.peer_id(), request);
        self.pending.insert(id, Pending::Caller { node, reply });
    }

    /// A caller's request to `node` is done: the next one waiting for that node goes out.
    fn caller_finished(&mut self, node: NodeId) {
        if let Some(next) = self.outbound.finished(node.peer_id()) {
            self.send_request(next);
        }
    }

    /// Fail the requests that waited the whole request timeout without getting a stream.
    fn expire_waiting_requests(&mut self, now: Instant) {
        for caller in self.outbound.expire(now, self.limits.request_timeout) {
            let reason = format!(
                "no stream to the node within {:?}: {} earlier requests to it still open",
                self.limits.request_timeout, self.limits.streams_per_node_max
            );
            let error = NetError::RequestFailed {
                node: caller.node,
                reason,
            };
            let _ = caller.reply.send(Err(error));
        }
    }

    fn on_verdict(&mut self, id: &MessageId, from: NodeId, verdict: Verdict) {
        let source = from.peer_id();
        let acceptance = match verdict {
            Verdict::Accept => MessageAcceptance::Accept,
            Verdict::Reject => MessageAcceptance::Reject,
        };
        let gossip = &mut self.swarm.behaviour_mut().gossip;
        gossip.report_message_validation_result(id, &source, acceptance);
        if verdict == Verdict::Accept {
            return;
        }
        let count = self.invalid_gossip.entry(source).or_insert(0);
        *count = count.saturating_add(1);
        let count = *count;
        if count >= self.limits.invalid_gossip_max {
            self.swarm.behaviour_mut().gossip.blacklist_peer(&source);
            tracing::warn!(node = %from, count, "blacklisted from gossip: invalid messages");
            self.emit(ConnectionEvent::Penalised {
                node: from,
                invalid_messages: count,
            });
        }
    }

    fn on_swarm(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::ConnectionEstablished {
                peer_id,
                endpoint,
                num_established,
                ..
            } => self.on_connected(peer_id, &endpoint, num_established.get()),
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established: 0,
                ..
            } => self.on_disconnected(peer_id),
            SwarmEvent::OutgoingConnectionError { peer_id, error, .. } => {
                let node = peer_id.and_then(|p| NodeId::from_peer_id(p).ok());
                tracing::info!(node = ?node, %error, "dial failed");
                // libp2p's dial error text already lists each address with its cause.
                let reason = error.to_string();
                if let Some(peer_id) = peer_id {
                    self.schedule_redial(&peer_id);
                    if self.dial_errors.len() >= DIAL_ERRORS_MAX {
                        self.dial_errors.clear();
                    }
                    self.dial_errors.insert(peer_id, reason.clone());
                }
                self.emit(ConnectionEvent::DialFailed { node, reason });
            }
            SwarmEvent::IncomingConnectionError {
                send_back_addr,
                error,
                ..
            } => {
                tracing::info!(from = %send_back_addr, %error, "incoming connection refused");
                self.emit(ConnectionEvent::InboundRefused {
                    from: to_socket_addr(&send_back_addr),
                    reason: error_chain(&error),
                });
            }
            SwarmEvent::Behaviour(BehaviourEvent::Requests(event)) => self.on_request_event(event),
            SwarmEvent::Behaviour(BehaviourEvent::Gossip(event)) => self.on_gossip_event(event),
            _ => {}
        }
    }

    fn on_connected(&mut self, peer_id: PeerId, endpoint: &ConnectedPoint, n_connections: u32) {
        self.dial_errors.remove(&peer_id);
        let min = self.limits.redial_backoff_min;
        if let Some(known) = self.known.get_mut(&peer_id) {
            known.backoff = min;
            known.next_dial = None;
        }
        if n_connections > 1 {
            return;
        }
        let Some(peer) = upgrade::session(&self.sessions, &peer_id) else {
            // The upgrade records every session before libp2p reports it.
            tracing::error!(%peer_id, "connection without an authenticated session");
            let _ = self.swarm.disconnect_peer_id(peer_id);
            return;
        };
        let address = to_socket_addr(endpoint.get_remote_address());
        tracing::info!(node = %peer.node_id, msp = %peer.msp_id, role = ?peer.role, ?address, "connected");
        let identify = WireRequest::outbound(
            IDENTIFY_SERVICE.to_owned(),
            self.advertised.to_string().into_bytes(),
        );
        let id = self
            .swarm
            .behaviour_mut()
            .requests
            .send_request(&peer_id, identify);
        self.pending.insert(id, Pending::Identify);
        self.emit(ConnectionEvent::Connected { peer, address });
    }

    fn on_disconnected(&mut self, peer_id: PeerId) {
        upgrade::forget(&self.sessions, &peer_id);
        self.invalid_gossip.remove(&peer_id);
        if let Ok(node) = NodeId::from_peer_id(peer_id) {
            tracing::info!(%node, "disconnected");
            self.emit(ConnectionEvent::Disconnected { node });
        }
        self.schedule_redial(&peer_id);
    }

    fn on_request_event(&mut self, event: request_response::Event<WireRequest, WireResponse>) {
        match event {
            request_response::Event::Message { peer, message, .. } => match message {
                request_response::Message::Request {
                    request_id,
                    request,
                    channel,
                } => self.on_inbound_request(peer, request_id, request, channel),
                request_response::Message::Response {
                    request_id,
                    response,
                } => self.on_response(peer, request_id, response),
            },
            request_response::Event::OutboundFailure {
                peer,
                request_id,
                error,
                ..
            } => {
                let mut reason = error_chain(&error);
                if let Some(dial_error) = self.dial_errors.get(&peer) {
                    reason = format!("{reason}: {dial_error}");
                }
                if let request_response::OutboundFailure::Io(io) = &error
                    && io.kind() == std::io::ErrorKind::UnexpectedEof
                {
                    // The receiver reads a request's length first and drops the stream
                    // when it is over its limits; the sender only sees the stream end.
                    reason.push_str(
                        " (the node closed the stream: the request may exceed its \
                         message_bytes_max or inbound_bytes_max)",
                    );
                }
                match self.pending.remove(&request_id) {
                    Some(Pending::Caller { node, reply }) => {
                        let error = match error {
                            request_response::OutboundFailure::DialFailure => {
                                NetError::Unreachable { node, reason }
                            }
                            _ => NetError::RequestFailed { node, reason },
                        };
                        let _ = reply.send(Err(error));
                        self.caller_finished(node);
                    }
                    Some(Pending::Identify) => {
                        tracing::debug!(%peer, %reason, "identify failed");
                    }
                    None => {}
                }
            }
            request_response::Event::InboundFailure {
                peer,
                request_id,
                error,
                ..
            } => {
                self.answering.remove(&request_id);
                tracing::info!(%peer, error = %error_chain(&error), "inbound request failed");
            }
            request_response::Event::ResponseSent { request_id, .. } => {
                self.answering.remove(&request_id);
            }
        }
    }

    fn on_response(&mut self, peer: PeerId, request_id: OutboundRequestId, response: WireResponse) {
        match self.pending.remove(&request_id) {
            Some(Pending::Caller { node, reply }) => {
                let result = match response {
                    WireResponse::Ok(payload) => Ok(payload),
                    WireResponse::Refused(reason) => Err(NetError::Refused { node, reason }),
                };
                let _ = reply.send(result);
                self.caller_finished(node);
            }
            Some(Pending::Identify) => {
                if let WireResponse::Ok(payload) = response {
                    self.learn_addresses(peer, &payload);
                }
            }
            None => {}
        }
    }

    /// Record the addresses a node advertises (identify), bounded in count and size.
    fn learn_addresses(&mut self, peer_id: PeerId, payload: &[u8]) {
        if payload.len() > IDENTIFY_BYTES_MAX {
            return;
        }
        let text = String::from_utf8_lossy(payload);
        for line in text.lines().take(ADVERTISED_ADDRESSES_MAX) {
            if let Ok(address) = line.parse::<Multiaddr>()
                && to_socket_addr(&address).is_some()
            {
                self.swarm.add_peer_address(peer_id, address.clone());
                if let Some(known) = self.known.get_mut(&peer_id)
                    && !known.addresses.contains(&address)
                    && known.addresses.len() < ADVERTISED_ADDRESSES_MAX
                {
                    known.addresses.push(address);
                }
            }
        }
    }

    fn on_inbound_request(
        &mut self,
        peer_id: PeerId,
        request_id: InboundRequestId,
        mut request: WireRequest,
        channel: request_response::ResponseChannel<WireResponse>,
    ) {
        let respond = |swarm: &mut Swarm<Behaviour>, channel, response| {
            let _ = swarm
                .behaviour_mut()
                .requests
                .send_response(channel, response);
        };
        if let Some(reason) = request.refusal.take() {
            respond(&mut self.swarm, channel, WireResponse::Refused(reason));
            return;
        }
        if request.service == IDENTIFY_SERVICE {
            self.learn_addresses(peer_id, &request.payload);
            let ours = WireResponse::Ok(self.advertised.to_string().into_bytes());
            respond(&mut self.swarm, channel, ours);
            return;
        }
        let Some(from) = upgrade::session(&self.sessions, &peer_id) else {
            let refusal = WireResponse::Refused("not authenticated".to_owned());
            respond(&mut self.swarm, channel, refusal);
            return;
        };
        let refusal = match self.route(from, request_id, request, channel) {
            Ok(()) => return,
            Err((channel, reason)) => (channel, reason),
        };
        respond(&mut self.swarm, refusal.0, WireResponse::Refused(refusal.1));
    }

    /// Hand a request to its service's queue, or say why not.
    fn route(
        &mut self,
        from: RemotePeer,
        request_id: InboundRequestId,
        request: WireRequest,
        channel: request_response::ResponseChannel<WireResponse>,
    ) -> Result<(), (request_response::ResponseChannel<WireResponse>, String)> {
        let services = self.services.lock().unwrap_or_else(|e| e.into_inner());
        let Some(entry) = services.get(&request.service) else {
            return Err((
                channel,
                format!("no service {:?} on this node", request.service),
            ));
        };
        if !entry.allowed_roles.contains(&from.role) {
            let reason = format!(
                "role {:?} of {} may not use service {:?}",
                from.role, from.msp_id, request.service
            );
            return Err((channel, reason));
        }
        let permit = match entry.sender.try_reserve() {
            Ok(permit) => permit,
            Err(mpsc::error::TrySendError::Full(())) => {
                return Err((channel, format!("service {:?} is busy", request.service)));
            }
            Err(mpsc::error::TrySendError::Closed(())) => {
                return Err((
                    channel,
                    format!("service {:?} has stopped", request.service),
                ));
            }
        };
        let (caller_present, departed) = oneshot::channel();
        permit.send(InboundRequest {
            from,
            service: request.service,
            payload: request.payload,
            _budget: request.permit,
            responder: Responder {
                channel,
                commands: self.commands.clone(),
            },
            departed,
        });
        drop(services);
        self.answering.insert(request_id, caller_present);
        Ok(())
    }

    fn on_gossip_event(&mut self, event: gossipsub::Event) {
        match event {
            gossipsub::Event::Message {
                propagation_source,
                message_id,
                message,
            } => self.on_gossip_message(propagation_source, message_id, message),
            gossipsub::Event::Subscribed { peer_id, topic } => {
                // Topics are identity-hashed: the hash is the name.
                if let Ok(node) = NodeId::from_peer_id(peer_id) {
                    self.emit(ConnectionEvent::TopicJoined {
                        node,
                        topic: topic.into_string(),
                    });
                }
            }
            _ => {}
        }
    }
}

impl Runner {
    /// Hand a gossip message to its subscriber if its sender's role may gossip on the
    /// topic and the subscriber's queue has room (in messages, bytes, and the sender's
    /// and its organisation's shares of the bytes).
    fn on_gossip_message(
        &mut self,
        source: PeerId,
        message_id: MessageId,
        message: gossipsub::Message,
    ) {
        let Ok(from) = NodeId::from_peer_id(source) else {
            return;
        };
        let session = upgrade::session(&self.sessions, &source);
        let role = session.as_ref().map(|peer| peer.role);
        let Some(subscription) = self.topics.get(&message.topic) else {
            self.ignore_gossip(&message_id, &source);
            return;
        };
        if !role.is_some_and(|role| subscription.allowed_roles.contains(&role)) {
            tracing::warn!(node = %from, ?role, topic = %subscription.name, "gossip from a role that may not send it");
            self.on_verdict(&message_id, from, Verdict::Reject);
            return;
        }
        let org = session.as_ref().map_or("", |peer| peer.msp_id.as_str());
        let Some(permit) = subscription.bytes.reserve(from, org, message.data.len()) else {
            tracing::debug!(node = %from, topic = %subscription.name, "gossip queue bytes full");
            self.ignore_gossip(&message_id, &source);
            return;
        };
        let delivered = GossipMessage {
            topic: subscription.name.clone(),
            from,
            payload: message.data,
            id: message_id.clone(),
            _permit: Some(Arc::new(permit)),
        };
        if subscription.sender.try_send(delivered).is_err() {
            self.ignore_gossip(&message_id, &source);
        }
    }

    /// Nobody to judge it (full queue or no subscriber): do not forward, do not penalise.
    fn ignore_gossip(&mut self, message_id: &MessageId, source: &PeerId) {
        self.swarm
            .behaviour_mut()
            .gossip
            .report_message_validation_result(message_id, source, MessageAcceptance::Ignore);
    }
}

/// An error with its sources, for messages that say what really went wrong (libp2p
/// wraps the TLS alert a few levels deep).
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
