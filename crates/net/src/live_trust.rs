//! Trust that follows the channel: the [`ChannelTrust`] in force and the TLS configs built
//! from it, replaced whole while the node runs ([`NetHandle::replace_trust`]).
//!
//! A replacement does two things. New handshakes use the new roots, CRLs and roles from
//! then on. And every session accepted earlier is judged again under the new trust (its
//! chain still ends at a TLS root, no CRL lists it, an organisation vouches for it with an
//! allowed role); a session that fails is removed from the session table and its
//! connections are closed, so a revoked certificate or a removed organisation loses its
//! live connections too, not only its next ones.
//!
//! Handshakes and replacements are ordered by one lock: a handshake admits its session
//! while holding the trust in force for reading, a replacement swaps the trust and
//! re-checks the table while holding it for writing. So a session is always either
//! admitted under the new trust or re-checked by the replacement, never neither. A
//! handshake that began under an older trust has its chain checked again at admission.

use std::sync::{Arc, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use libp2p::PeerId;
use rustls::{ClientConfig, ServerConfig};

use netsettle_smcrypto::x509::Certificate;
use netsettle_smtls::{Sm2ServerVerifier, TlsIdentity};

use crate::api::{Command, NetHandle};
use crate::error::{IdentityRefusal, NetError};
use crate::node_id::NodeId;
use crate::trust::{ChannelTrust, RemotePeer};
use crate::upgrade::Sessions;

/// Sessions kept in the table; beyond this a new node connects but is not recorded, and
/// the event loop refuses it. The table only ever holds members of the channel.
const SESSIONS_MAX: usize = 4096;

/// An authenticated remote node and the chain it presented (leaf first), kept so the
/// session can be judged again when the trust changes.
#[derive(Debug, Clone)]
pub(crate) struct Session {
    pub(crate) peer: RemotePeer,
    pub(crate) chain: Arc<[Certificate]>,
}

/// One trust and the TLS configs that enforce it in the handshake.
pub(crate) struct TrustInForce {
    pub(crate) trust: ChannelTrust,
    pub(crate) client: Arc<ClientConfig>,
    pub(crate) server: Arc<ServerConfig>,
}

impl TrustInForce {
    fn new(identity: &TlsIdentity, trust: ChannelTrust) -> Result<Self, NetError> {
        let config_error = |error| NetError::Config(format!("TLS: {error}"));
        let server = netsettle_smtls::server_config(identity, trust.anchors(), trust.revocation())
            .map_err(config_error)?;
        let client = netsettle_smtls::client_config(identity, trust.anchors(), trust.revocation())
            .map_err(config_error)?;
        // Nodes are named by their keys (checked at admission), not by the dialled
        // address: across the DMZ that is the forwarder's.
        let mut client = (*client).clone();
        client
            .dangerous()
            .set_certificate_verifier(Arc::new(Sm2ServerVerifier::for_nodes(
                trust.anchors().clone(),
                trust.revocation(),
            )));
        Ok(TrustInForce {
            trust,
            client: Arc::new(client),
            server,
        })
    }
}

/// The trust in force and the session table it guards.
pub(crate) struct LiveTrust {
    identity: TlsIdentity,
    in_force: RwLock<Arc<TrustInForce>>,
    sessions: Sessions,
}

impl LiveTrust {
    pub(crate) fn new(
        identity: &TlsIdentity,
        trust: ChannelTrust,
        sessions: Sessions,
    ) -> Result<Self, NetError> {
        Ok(LiveTrust {
            in_force: RwLock::new(Arc::new(TrustInForce::new(identity, trust)?)),
            identity: identity.clone(),
            sessions,
        })
    }

    /// The trust new handshakes start under.
    pub(crate) fn current(&self) -> Arc<TrustInForce> {
        let in_force = self.in_force.read().unwrap_or_else(|e| e.into_inner());
        Arc::clone(&in_force)
    }

    /// Admit a chain the TLS handshake verified under `started`: an organisation of the
    /// trust in force now must vouch for it (and, if the trust changed during the
    /// handshake, the chain must pass the new roots and CRLs too), and when dialling by
    /// id it must be the node dialled. Records the session.
    pub(crate) fn admit(
        &self,
        chain: Vec<Certificate>,
        expected: Option<PeerId>,
        started: &Arc<TrustInForce>,
    ) -> Result<PeerId, IdentityRefusal> {
        let in_force = self.in_force.read().unwrap_or_else(|e| e.into_inner());
        let at_unix = now_unix();
        let remote = match chain.first() {
            Some(leaf) if Arc::ptr_eq(&in_force, started) => {
                in_force.trust.authorize(leaf, at_unix)?
            }
            _ => in_force.trust.recheck(&chain, at_unix)?,
        };
        let peer_id = remote.node_id.peer_id();
        if let Some(expected) = expected
            && expected != peer_id
        {
            return Err(IdentityRefusal::PeerIdMismatch {
                expected: expected.to_string(),
                actual: peer_id.to_string(),
            });
        }
        let mut sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        if sessions.len() < SESSIONS_MAX || sessions.contains_key(&peer_id) {
            let session = Session {
                peer: remote,
                chain: chain.into(),
            };
            sessions.insert(peer_id, session);
        }
        Ok(peer_id)
    }

    /// Put `trust` in force and judge every session again under it; the sessions that
    /// fail are removed from the table and returned with the reason.
    fn replace(&self, trust: ChannelTrust) -> Result<Vec<(RemotePeer, IdentityRefusal)>, NetError> {
        let next = Arc::new(TrustInForce::new(&self.identity, trust)?);
        let mut in_force = self.in_force.write().unwrap_or_else(|e| e.into_inner());
        let current = &in_force.trust;
        if next.trust.channel() != current.channel() {
            return Err(NetError::Config(format!(
                "trust for channel {:?} offered to a node of channel {:?}",
                next.trust.channel(),
                current.channel()
            )));
        }
        if next.trust.sequence() < current.sequence() {
            return Err(NetError::Config(format!(
                "config sequence {} is older than the {} in force",
                next.trust.sequence(),
                current.sequence()
            )));
        }
        *in_force = Arc::clone(&next);
        let at_unix = now_unix();
        let mut sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        let mut refused = Vec::new();
        sessions.retain(
            |_, session| match next.trust.recheck(&session.chain, at_unix) {
                Ok(peer) => {
                    // The role or organisation may read differently under the new config.
                    session.peer = peer;
                    true
                }
                Err(refusal) => {
                    refused.push((session.peer.clone(), refusal));
                    false
                }
            },
        );
        Ok(refused)
    }
}

impl NetHandle {
    /// Put a new channel trust in force (the TLS roots, CRLs and roles of a newer config),
    /// without a restart: new handshakes are judged by it, and every connected node is
    /// judged again; the connections of nodes it no longer trusts (revoked, their
    /// organisation or root gone, their role no longer allowed) are closed, each with a
    /// [`crate::ConnectionEvent::Disconnected`]. Returns those nodes.
    ///
    /// Refused with [`NetError::Config`] for another channel or an older config sequence
    /// than the one in force (the same sequence again is accepted and changes nothing).
    pub async fn replace_trust(&self, trust: ChannelTrust) -> Result<Vec<NodeId>, NetError> {
        let live = Arc::clone(&self.trust);
        let sequence = trust.sequence();
        // Re-checking every session verifies SM2 signatures: off the async workers.
        let refused = tokio::task::spawn_blocking(move || live.replace(trust))
            .await
            .map_err(|error| NetError::Config(format!("replacing the trust failed: {error}")))??;
        let nodes: Vec<NodeId> = refused.iter().map(|(peer, _)| peer.node_id).collect();
        for (peer, refusal) in &refused {
            tracing::warn!(node = %peer.node_id, msp = %peer.msp_id, subject = %peer.subject,
                %refusal, sequence, "closing the connection of a node no longer trusted");
        }
        tracing::info!(sequence, closed = nodes.len(), "channel trust replaced");
        if !nodes.is_empty() {
            self.commands
                .send(Command::Disconnect {
                    nodes: nodes.clone(),
                })
                .await
                .map_err(|_| NetError::Shutdown)?;
        }
        Ok(nodes)
    }
}

fn now_unix() -> i64 {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since_epoch.as_secs()).unwrap_or(i64::MAX)
}
