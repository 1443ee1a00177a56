//! Admission of inbound requests: who may send what, and how many request bytes each
//! may make us hold.
//!
//! A request's header (service name, then its length) is judged before any payload byte
//! is read: the service must exist and the sender's role (from its authenticated TLS
//! session) must be allowed to call it, then its claimed length is reserved in three
//! places at once, all or nothing:
//!
//! - the sender's connection (`inbound_connection_bytes_max`), so one connection cannot
//!   take more than its share however many streams it opens;
//! - the sender's organisation (`inbound_org_bytes_max` of the shared pool, half of the
//!   consensus reserve), so one carrier's clients cannot starve the other carrier;
//! - a pool: consensus services (`NetLimits::consensus_services`, `orderer-raft`) draw
//!   on their own reserve (`inbound_consensus_bytes_max`) first and only then on the
//!   shared pool (`inbound_bytes_max`); every other service draws on the shared pool
//!   only. A client flood can therefore fill the shared pool but never the reserve.
//!
//! libp2p's request–response codec does not know which connection it reads for; each
//! connection gets its own codec clone, made right after the connection is established.
//! [`ConnectionStamp`], a behaviour placed before the request–response behaviour, hands
//! the connection's authenticated peer to that clone (see `FrameCodec`'s `Clone`).

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use libp2p::core::Endpoint;
use libp2p::core::transport::PortUse;
use libp2p::swarm::{
    ConnectionDenied, ConnectionId, FromSwarm, NetworkBehaviour, THandler, THandlerInEvent,
    THandlerOutEvent, ToSwarm, dummy,
};
use libp2p::{Multiaddr, PeerId};

use crate::api::{ServiceClass, Services};
use crate::limits::{IDENTIFY_BYTES_MAX, NetLimits};
use crate::node_id::NodeId;
use crate::trust::RemotePeer;
use crate::upgrade::{self, Sessions};

/// The network layer's own service: each side tells the other the addresses it wants
/// to be dialled at. Any authenticated node may call it; its messages are tiny.
pub(crate) const IDENTIFY_SERVICE: &str = "netsettle.identify";

/// The bounds admission enforces, taken from [`NetLimits`].
#[derive(Debug, Clone, Copy)]
struct Bounds {
    connection_bytes_max: usize,
    org_bytes_max: usize,
    shared_bytes_max: usize,
    consensus_bytes_max: usize,
    consensus_org_bytes_max: usize,
}

/// Bytes held from the two pools.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Held {
    shared: usize,
    consensus: usize,
}

#[derive(Debug, Default)]
struct Pools {
    total: Held,
    by_org: HashMap<String, Held>,
}

/// Decides which inbound requests are read, for every connection of one node.
pub(crate) struct Admission {
    bounds: Bounds,
    services: Services,
    pools: Mutex<Pools>,
    /// The connection whose codec is about to be cloned (see the module doc).
    next_connection: Mutex<Option<Arc<ConnectionShare>>>,
}

impl core::fmt::Debug for Admission {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Admission")
            .field("bounds", &self.bounds)
            .finish_non_exhaustive()
    }
}

/// One connection's authenticated peer and the request bytes it holds.
#[derive(Debug)]
pub(crate) struct ConnectionShare {
    peer: RemotePeer,
    used: AtomicUsize,
}

/// Bytes reserved for one request, returned when dropped.
#[derive(Debug)]
pub(crate) struct BudgetPermit {
    admission: Arc<Admission>,
    connection: Arc<ConnectionShare>,
    bytes: usize,
    held: Held,
}

impl Admission {
    pub(crate) fn new(limits: &NetLimits, services: Services) -> Arc<Self> {
        Arc::new(Admission {
            bounds: Bounds {
                connection_bytes_max: limits.inbound_connection_bytes_max,
                org_bytes_max: limits.inbound_org_bytes_max,
                shared_bytes_max: limits.inbound_bytes_max,
                consensus_bytes_max: limits.inbound_consensus_bytes_max,
                consensus_org_bytes_max: limits.inbound_consensus_bytes_max / 2,
            },
            services,
            pools: Mutex::new(Pools::default()),
            next_connection: Mutex::new(None),
        })
    }

    /// Announce the connection whose codec is cloned next.
    fn stamp(&self, connection: Option<Arc<ConnectionShare>>) {
        *self
            .next_connection
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = connection;
    }

    /// The connection announced by [`ConnectionStamp`], taken once.
    pub(crate) fn take_next_connection(&self) -> Option<Arc<ConnectionShare>> {
        self.next_connection
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
    }

    /// Judge a request header: `Ok(None)` for the network's own identify exchange,
    /// `Ok(Some(permit))` when `len` payload bytes may be read, `Err(reason)` otherwise.
    pub(crate) fn admit(
        self: &Arc<Self>,
        connection: Option<&Arc<ConnectionShare>>,
        service: &str,
        len: usize,
    ) -> Result<Option<BudgetPermit>, String> {
        if service == IDENTIFY_SERVICE {
            if len > IDENTIFY_BYTES_MAX {
                return Err(format!("identify message of {len} bytes"));
            }
            return Ok(None);
        }
        let Some(connection) = connection else {
            return Err("connection not authenticated".to_owned());
        };
        let class = self.service_class(&connection.peer, service)?;
        self.reserve(connection, class, len).map(Some)
    }

    /// The service's class if the peer's role may call it.
    fn service_class(&self, peer: &RemotePeer, service: &str) -> Result<ServiceClass, String> {
        let services = self.services.lock().unwrap_or_else(|e| e.into_inner());
        let Some(entry) = services.get(service) else {
            return Err(format!("no service {service:?} on this node"));
        };
        if !entry.allowed_roles.contains(&peer.role) {
            return Err(format!(
                "role {:?} of {} may not use service {service:?}",
                peer.role, peer.msp_id
            ));
        }
        Ok(entry.class)
    }

    fn reserve(
        self: &Arc<Self>,
        connection: &Arc<ConnectionShare>,
        class: ServiceClass,
        len: usize,
    ) -> Result<BudgetPermit, String> {
        let bounds = self.bounds;
        let mut pools = self.pools.lock().unwrap_or_else(|e| e.into_inner());
        let connection_used = connection.used.load(Ordering::Acquire);
        if connection_used.saturating_add(len) > bounds.connection_bytes_max {
            return Err(format!(
                "this connection holds {connection_used} request bytes; {len} more would pass \
                 its share of {}",
                bounds.connection_bytes_max
            ));
        }
        let org = pools
            .by_org
            .get(&connection.peer.msp_id)
            .copied()
            .unwrap_or_default();
        let total = pools.total;
        let from_consensus = match class {
            ServiceClass::Consensus => {
                let free = bounds
                    .consensus_bytes_max
                    .saturating_sub(total.consensus)
                    .min(bounds.consensus_org_bytes_max.saturating_sub(org.consensus));
                free.min(len)
            }
            ServiceClass::General => 0,
        };
        let from_shared = len.saturating_sub(from_consensus);
        let shared_fits = total.shared.saturating_add(from_shared) <= bounds.shared_bytes_max
            && org.shared.saturating_add(from_shared) <= bounds.org_bytes_max;
        if !shared_fits {
            return Err(format!(
                "inbound request bytes at their limit ({} of {} held, {} by {}); refusing \
                 {len} more",
                total.shared, bounds.shared_bytes_max, org.shared, connection.peer.msp_id
            ));
        }
        let held = Held {
            shared: from_shared,
            consensus: from_consensus,
        };
        pools.total.shared = total.shared.saturating_add(held.shared);
        pools.total.consensus = total.consensus.saturating_add(held.consensus);
        let entry = pools
            .by_org
            .entry(connection.peer.msp_id.clone())
            .or_default();
        entry.shared = entry.shared.saturating_add(held.shared);
        entry.consensus = entry.consensus.saturating_add(held.consensus);
        connection
            .used
            .store(connection_used.saturating_add(len), Ordering::Release);
        Ok(BudgetPermit {
            admission: Arc::clone(self),
            connection: Arc::clone(connection),
            bytes: len,
            held,
        })
    }

    fn release(&self, permit: &BudgetPermit) {
        let mut pools = self.pools.lock().unwrap_or_else(|e| e.into_inner());
        let held = permit.held;
        debug_assert!(pools.total.shared >= held.shared, "shared pool underflow");
        debug_assert!(pools.total.consensus >= held.consensus, "reserve underflow");
        pools.total.shared = pools.total.shared.saturating_sub(held.shared);
        pools.total.consensus = pools.total.consensus.saturating_sub(held.consensus);
        let msp_id = &permit.connection.peer.msp_id;
        if let Some(org) = pools.by_org.get_mut(msp_id) {
            org.shared = org.shared.saturating_sub(held.shared);
            org.consensus = org.consensus.saturating_sub(held.consensus);
            if *org == Held::default() {
                pools.by_org.remove(msp_id);
            }
        }
        let before = permit.connection.used.load(Ordering::Acquire);
        debug_assert!(before >= permit.bytes, "connection share underflow");
        permit
            .connection
            .used
            .store(before.saturating_sub(permit.bytes), Ordering::Release);
    }

    /// Bytes held from the shared pool and the consensus reserve.
    #[cfg(test)]
    pub(crate) fn held(&self) -> (usize, usize) {
        let pools = self.pools.lock().unwrap_or_else(|e| e.into_inner());
        (pools.total.shared, pools.total.consensus)
    }
}

impl Drop for BudgetPermit {
    fn drop(&mut self) {
        self.admission.release(self);
    }
}

impl ConnectionShare {
    pub(crate) fn new(peer: RemotePeer) -> Arc<Self> {
        Arc::new(ConnectionShare {
            peer,
            used: AtomicUsize::new(0),
        })
    }
}

/// A behaviour that does nothing but tell [`Admission`] which authenticated peer the
/// connection being established belongs to, just before the request–response
/// behaviour clones its codec for that connection. It must come right before the
/// request–response behaviour in `Behaviour`.
pub(crate) struct ConnectionStamp {
    pub(crate) sessions: Sessions,
    pub(crate) admission: Arc<Admission>,
}

impl ConnectionStamp {
    fn stamp(&self, peer: &PeerId) {
        let session = upgrade::session(&self.sessions, peer);
        self.admission.stamp(session.map(ConnectionShare::new));
    }
}

impl NetworkBehaviour for ConnectionStamp {
    type ConnectionHandler = dummy::ConnectionHandler;
    type ToSwarm = Infallible;

    fn handle_established_inbound_connection(
        &mut self,
        _: ConnectionId,
        peer: PeerId,
        _: &Multiaddr,
        _: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        self.stamp(&peer);
        Ok(dummy::ConnectionHandler)
    }

    fn handle_established_outbound_connection(
        &mut self,
        _: ConnectionId,
        peer: PeerId,
        _: &Multiaddr,
        _: Endpoint,
        _: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        self.stamp(&peer);
        Ok(dummy::ConnectionHandler)
    }

    fn on_swarm_event(&mut self, _: FromSwarm) {}

    fn on_connection_handler_event(
        &mut self,
        _: PeerId,
        _: ConnectionId,
        event: THandlerOutEvent<Self>,
    ) {
        match event {}
    }

    fn poll(&mut self, _: &mut Context<'_>) -> Poll<ToSwarm<Self::ToSwarm, THandlerInEvent<Self>>> {
        Poll::Pending
    }
}

/// Gossip payload bytes waiting for one subscriber, in total and per sender.
#[derive(Debug)]
pub(crate) struct GossipBudget {
    total_bytes_max: usize,
    sender_bytes_max: usize,
    held: Mutex<GossipHeld>,
}

#[derive(Debug, Default)]
struct GossipHeld {
    total: usize,
    by_sender: HashMap<NodeId, usize>,
}

/// One queued gossip message's bytes, returned when its last copy is dropped.
#[derive(Debug)]
pub(crate) struct GossipPermit {
    budget: Arc<GossipBudget>,
    from: NodeId,
    bytes: usize,
}

impl GossipBudget {
    pub(crate) fn new(limits: &NetLimits) -> Arc<Self> {
        Arc::new(GossipBudget {
            total_bytes_max: limits.topic_queue_bytes_max,
            sender_bytes_max: limits.topic_sender_bytes_max,
            held: Mutex::new(GossipHeld::default()),
        })
    }

    /// Room for `bytes` more from `from`, or `None` when the queue or the sender's share
    /// of it is full.
    pub(crate) fn reserve(self: &Arc<Self>, from: NodeId, bytes: usize) -> Option<GossipPermit> {
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        let sender = held.by_sender.get(&from).copied().unwrap_or(0);
        if held.total.saturating_add(bytes) > self.total_bytes_max
            || sender.saturating_add(bytes) > self.sender_bytes_max
        {
            return None;
        }
        held.total = held.total.saturating_add(bytes);
        held.by_sender.insert(from, sender.saturating_add(bytes));
        Some(GossipPermit {
            budget: Arc::clone(self),
            from,
            bytes,
        })
    }
}

impl Drop for GossipPermit {
    fn drop(&mut self) {
        let mut held = self.budget.held.lock().unwrap_or_else(|e| e.into_inner());
        debug_assert!(held.total >= self.bytes, "gossip budget underflow");
        held.total = held.total.saturating_sub(self.bytes);
        if let Some(sender) = held.by_sender.get_mut(&self.from) {
            *sender = sender.saturating_sub(self.bytes);
            if *sender == 0 {
                held.by_sender.remove(&self.from);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::ServiceEntry;
    use netsettle_protocol::Role;
    use tokio::sync::mpsc;

    const MIB: usize = 1024 * 1024;

    fn peer(msp_id: &str, role: Role, n: u8) -> Arc<ConnectionShare> {
        let key = netsettle_smcrypto::PrivateKey::generate();
        let _ = n;
        ConnectionShare::new(RemotePeer {
            node_id: crate::NodeId::from_public_key(key.public_key()),
            msp_id: msp_id.to_owned(),
            role,
            fingerprint: netsettle_smcrypto::sm3(&[n]),
            subject: format!("CN=n{n}"),
        })
    }

    fn admission() -> Arc<Admission> {
        let services: Services = Arc::default();
        let mut map = services.lock().unwrap();
        for (name, roles, class) in [
            (
                "bulk",
                vec![Role::Client, Role::Peer],
                ServiceClass::General,
            ),
            ("orderer-raft", vec![Role::Orderer], ServiceClass::Consensus),
        ] {
            let (sender, receiver) = mpsc::channel(1);
            std::mem::forget(receiver);
            map.insert(
                name.to_owned(),
                ServiceEntry {
                    allowed_roles: roles,
                    sender,
                    class,
                },
            );
        }
        drop(map);
        Admission::new(&NetLimits::default(), services)
    }

    #[test]
    fn a_client_flood_leaves_the_consensus_reserve_and_the_other_carrier_alone() {
        let admission = admission();
        let clients: Vec<_> = (0..8).map(|n| peer("MobileMSP", Role::Client, n)).collect();
        let mut held = Vec::new();
        let mut refused = 0;
        for client in &clients {
            match admission.admit(Some(client), "bulk", 128 * MIB) {
                Ok(permit) => held.push(permit),
                Err(_) => refused += 1,
            }
        }
        // One carrier holds at most its share of the shared pool.
        assert_eq!(held.len(), 2, "{refused} refused");
        // A second request on a connection at its share is refused.
        assert!(admission.admit(Some(&clients[0]), "bulk", 1).is_err());
        // The other carrier's clients still get in, and consensus is untouched.
        let own = peer("UnicomMSP", Role::Client, 20);
        assert!(admission.admit(Some(&own), "bulk", MIB).unwrap().is_some());
        let orderer = peer("UnicomMSP", Role::Orderer, 21);
        let raft = admission.admit(Some(&orderer), "orderer-raft", 128 * MIB);
        assert!(raft.is_ok());
        assert_eq!(admission.held().1, 128 * MIB);
        // Role and service are checked before anything is reserved.
        assert!(
            admission
                .admit(Some(&clients[5]), "orderer-raft", 1)
                .unwrap_err()
                .contains("may not use")
        );
        assert!(admission.admit(Some(&clients[5]), "nothing", 1).is_err());
        assert!(admission.admit(None, "bulk", 1).is_err());
        drop(raft);
        drop(held);
        assert_eq!(admission.held(), (0, 0));
    }
}
