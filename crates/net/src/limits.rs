//! Every bound the network layer enforces, in one struct with documented defaults, plus
//! the constants that are not meant to be tuned. A slow or hostile peer can hold at most
//! these amounts of our memory and connection slots.

use core::time::Duration;

use netsettle_protocol::ORDERER_RAFT_SERVICE;
use netsettle_protocol::limits::FRAME_BYTES_MAX;

/// Longest service name on the wire (`raft`, `deliver`, `endorse`, ...).
pub const SERVICE_NAME_BYTES_MAX: usize = 64;
/// Longest topic name.
pub const TOPIC_NAME_BYTES_MAX: usize = 128;
/// Addresses a node may advertise in its identify exchange; more are ignored.
pub const ADVERTISED_ADDRESSES_MAX: usize = 8;
/// Identify exchanges are tiny: addresses and an agent string.
pub const IDENTIFY_BYTES_MAX: usize = 4 * 1024;
/// Smallest message limit accepted in [`NetLimits`]: room for an identify exchange.
pub const MESSAGE_BYTES_MIN: usize = IDENTIFY_BYTES_MAX;
/// Known peers (configured or added) the node keeps redialling.
pub const KNOWN_PEERS_MAX: usize = 256;
/// Default largest request or response: a block with the message around it, or the
/// largest message roles exchange between nodes (an orderer's Raft snapshot carries up to
/// a block of pending envelopes plus a channel configuration; `netsettle-orderer`
/// asserts that it fits).
pub const MESSAGE_BYTES_MAX_DEFAULT: usize = 128 * 1024 * 1024;
/// yamux's stream limit per connection is never set below its own default.
const MUXER_STREAMS_MIN: usize = 512;
/// yamux wants a connection receive window (1 GiB by default) of at least 256 KiB per
/// stream; this keeps [`NetLimits::muxer_streams_max`] within it.
const STREAMS_PER_NODE_MAX_LIMIT: usize = 1024;

/// The plaintext of one full TLS record (RFC 8446 §5.1: 2^14 bytes), also yamux's
/// largest data frame. Bounds the head of a message's payload copied into one write with
/// its header (`codec`), and each write buffer (`coalesce`): one per connection, and one
/// per yamux stream while that stream has unflushed bytes.
pub(crate) const WRITE_COALESCE_BYTES: usize = 16 * 1024;

const _: () = assert!(FRAME_BYTES_MAX >= MESSAGE_BYTES_MIN);
const _: () = assert!(FRAME_BYTES_MAX <= MESSAGE_BYTES_MAX_DEFAULT);
const _: () = assert!(4 * STREAMS_PER_NODE_MAX_LIMIT * 256 * 1024 <= 1024 * 1024 * 1024);
const _: () = assert!(SERVICE_NAME_BYTES_MAX <= u8::MAX as usize);

/// Tunable limits of one node. `NetLimits::default()` suits the consortium (5 orderers,
/// a few peers per carrier, blocks up to `FRAME_BYTES_MAX`, Raft snapshots up to
/// [`MESSAGE_BYTES_MAX_DEFAULT`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct NetLimits {
    /// Largest request or response payload, checked before sending and before reading.
    pub message_bytes_max: usize,
    /// Largest gossip payload.
    pub gossip_bytes_max: usize,
    /// Request bytes held at once in the shared pool, from the moment a request's length
    /// is read until its handler drops the [`crate::InboundRequest`]. Beyond it new
    /// requests are refused before their payload is read, so a member that floods large
    /// requests (or a slow handler) cannot exhaust memory. Requests are admitted only
    /// after their service and the sender's role are checked.
    pub inbound_bytes_max: usize,
    /// One organisation's share of `inbound_bytes_max`: one carrier's flood cannot take
    /// the shared pool from the other carrier.
    pub inbound_org_bytes_max: usize,
    /// Request bytes one connection may hold at once, whatever service it calls.
    pub inbound_connection_bytes_max: usize,
    /// A reserve only requests to `consensus_services` may use (before they draw on the
    /// shared pool), so client traffic can never starve consensus. One organisation may
    /// hold at most half of it.
    pub inbound_consensus_bytes_max: usize,
    /// The services whose requests may draw on `inbound_consensus_bytes_max`.
    pub consensus_services: Vec<String>,
    /// Established connections from other nodes.
    pub inbound_connections_max: u32,
    /// Established connections we opened.
    pub outbound_connections_max: u32,
    /// Connections still in their handshake (unauthenticated): a flood of TCP connects
    /// cannot hold more slots than this.
    pub pending_connections_max: u32,
    /// Connections in their handshake from one IP address; a new one beyond it evicts
    /// that address's oldest (across a DMZ every remote node shares the forwarder's
    /// address, so evicting, not refusing, keeps real handshakes going).
    pub pending_connections_per_source_max: u32,
    /// Our requests on the wire to one node at once (each is a yamux stream); further
    /// requests to that node wait in order until earlier ones finish. Every node of a
    /// consortium must use the same value: a connection carries this many streams from
    /// each side, and the muxer closes a connection whose remote opens more than
    /// [`NetLimits::muxer_streams_max`].
    pub streams_per_node_max: usize,
    /// Our own requests awaiting responses (on the wire or waiting for a stream), all
    /// nodes together; beyond it [`crate::NetHandle::request`] fails at once with
    /// [`crate::NetError::Busy`].
    pub requests_in_flight_max: usize,
    /// Inbound requests waiting in one service's queue; beyond it callers get "busy".
    pub service_queue_max: usize,
    /// Gossip messages waiting for one subscriber; beyond it messages are ignored (not
    /// forwarded, not penalised).
    pub topic_queue_max: usize,
    /// Gossip payload bytes waiting for one subscriber, all senders together (one
    /// organisation at most half of it); beyond it messages are ignored like those
    /// beyond `topic_queue_max`.
    pub topic_queue_bytes_max: usize,
    /// Gossip payload bytes from one sender waiting for one subscriber, so one node
    /// cannot fill the queue for everyone.
    pub topic_sender_bytes_max: usize,
    /// Connection events waiting for the reader; beyond it events are dropped (counted).
    pub event_queue_max: usize,
    /// Outgoing messages queued per connection inside gossipsub.
    pub gossip_peer_queue_max: usize,
    /// A request without a response after this long fails.
    pub request_timeout: Duration,
    /// TCP connect plus SM-TLS plus yamux negotiation must finish within this.
    pub handshake_timeout: Duration,
    /// First redial delay after a known peer is lost; doubles up to the maximum.
    pub redial_backoff_min: Duration,
    /// Longest redial delay.
    pub redial_backoff_max: Duration,
    /// Gossip messages a peer may send that callers report invalid before it is
    /// blacklisted from gossip.
    pub invalid_gossip_max: u32,
}

impl Default for NetLimits {
    fn default() -> Self {
        NetLimits {
            message_bytes_max: MESSAGE_BYTES_MAX_DEFAULT,
            gossip_bytes_max: FRAME_BYTES_MAX,
            inbound_bytes_max: 4 * MESSAGE_BYTES_MAX_DEFAULT,
            inbound_org_bytes_max: 2 * MESSAGE_BYTES_MAX_DEFAULT,
            inbound_connection_bytes_max: MESSAGE_BYTES_MAX_DEFAULT,
            inbound_consensus_bytes_max: 2 * MESSAGE_BYTES_MAX_DEFAULT,
            consensus_services: vec![ORDERER_RAFT_SERVICE.to_owned()],
            inbound_connections_max: 64,
            outbound_connections_max: 64,
            pending_connections_max: 32,
            pending_connections_per_source_max: 8,
            streams_per_node_max: 256,
            requests_in_flight_max: 1024,
            service_queue_max: 256,
            topic_queue_max: 256,
            topic_queue_bytes_max: 2 * FRAME_BYTES_MAX,
            topic_sender_bytes_max: FRAME_BYTES_MAX,
            event_queue_max: 256,
            gossip_peer_queue_max: 1024,
            request_timeout: Duration::from_secs(30),
            handshake_timeout: netsettle_smtls::HANDSHAKE_TIMEOUT,
            redial_backoff_min: Duration::from_millis(200),
            redial_backoff_max: Duration::from_secs(30),
            invalid_gossip_max: 3,
        }
    }
}

impl NetLimits {
    /// Reject settings that would break the layer (zero queues, tiny messages).
    pub(crate) fn check(&self) -> Result<(), String> {
        if self.message_bytes_max < MESSAGE_BYTES_MIN || self.gossip_bytes_max < MESSAGE_BYTES_MIN {
            return Err(format!(
                "message limits must be at least {MESSAGE_BYTES_MIN} bytes"
            ));
        }
        let inbound = [
            ("inbound_bytes_max", self.inbound_bytes_max),
            ("inbound_org_bytes_max", self.inbound_org_bytes_max),
            (
                "inbound_connection_bytes_max",
                self.inbound_connection_bytes_max,
            ),
        ];
        for (name, value) in inbound {
            if value < self.message_bytes_max {
                return Err(format!("{name} must hold at least one message"));
            }
        }
        if self.topic_queue_bytes_max < self.gossip_bytes_max
            || self.topic_sender_bytes_max < self.gossip_bytes_max
        {
            return Err("gossip queue byte limits must hold at least one message".to_owned());
        }
        if self.pending_connections_per_source_max == 0 || self.pending_connections_max == 0 {
            return Err("pending connection limits must be at least 1".to_owned());
        }
        if self.streams_per_node_max > STREAMS_PER_NODE_MAX_LIMIT {
            return Err(format!(
                "streams_per_node_max must be at most {STREAMS_PER_NODE_MAX_LIMIT}"
            ));
        }
        let queues = [
            self.streams_per_node_max,
            self.requests_in_flight_max,
            self.service_queue_max,
            self.topic_queue_max,
            self.event_queue_max,
            self.gossip_peer_queue_max,
        ];
        if queues.contains(&0) {
            return Err("queue limits must be at least 1".to_owned());
        }
        if self.redial_backoff_min.is_zero() || self.redial_backoff_min > self.redial_backoff_max {
            return Err("redial backoff must satisfy 0 < min <= max".to_owned());
        }
        Ok(())
    }

    /// Request streams one connection carries at once: ours to the node and the node's
    /// to us (the request–response handler's limit).
    pub(crate) fn connection_streams_max(&self) -> usize {
        self.streams_per_node_max.saturating_mul(2)
    }

    /// The muxer's stream limit per connection. yamux closes the whole connection when a
    /// remote opens a stream beyond it, so it sits well above what well-behaved nodes
    /// open (both sides' requests, plus gossip, identify and streams that finished but
    /// are not yet reclaimed).
    pub(crate) fn muxer_streams_max(&self) -> usize {
        self.connection_streams_max()
            .saturating_mul(2)
            .max(MUXER_STREAMS_MIN)
    }
}
