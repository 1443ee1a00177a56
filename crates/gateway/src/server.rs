//! The listener: TCP accept with connection limits (total and per source address),
//! the SM-TLS handshake with a required client certificate, then HTTP/1.1 (hyper) with
//! bounded headers and a header read timeout, serving the router with the connection's
//! caller attached to each request.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use netsettle_peer::service::PeerHandle;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::auth::Authenticator;
use crate::extract::Authenticated;
use crate::limits::HEADER_BYTES_MAX;
use crate::state::GatewayLimits;

/// Open connections, in total and per source address.
#[derive(Clone)]
struct Connections {
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
    limits: GatewayLimits,
}

/// A connection's slot; frees it when dropped.
struct Slot {
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
    address: IpAddr,
}

impl Connections {
    fn admit(&self, address: IpAddr) -> Option<Slot> {
        let mut open = self
            .open
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let total: usize = open.values().sum();
        let from_address = open.get(&address).copied().unwrap_or(0);
        if total >= self.limits.connections_max
            || from_address >= self.limits.connections_per_address_max
        {
            return None;
        }
        open.insert(address, from_address.saturating_add(1));
        Some(Slot {
            open: Arc::clone(&self.open),
            address,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self
            .open
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(count) = open.get_mut(&self.address) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&self.address);
            }
        }
    }
}

/// Serves `router` on `listener` until `shutdown` turns true, then closes every
/// connection.
pub async fn serve(
    listener: TcpListener,
    authenticator: Arc<Authenticator>,
    router: Router,
    limits: GatewayLimits,
    mut shutdown: watch::Receiver<bool>,
) {
    let connections = Connections {
        open: Arc::new(Mutex::new(HashMap::new())),
        limits: limits.capped(),
    };
    let mut tasks = JoinSet::new();
    loop {
        while tasks.try_join_next().is_some() {}
        let accepted = tokio::select! {
            _ = shutdown.wait_for(|stop| *stop) => break,
            accepted = listener.accept() => accepted,
        };
        let (tcp, remote) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                tracing::warn!(%error, "gateway accept failed");
                continue;
            }
        };
        let Some(slot) = connections.admit(remote.ip()) else {
            tracing::debug!(%remote, "gateway connection limit reached; closing");
            drop(tcp);
            continue;
        };
        let authenticator = Arc::clone(&authenticator);
        let router = router.clone();
        let header_read_timeout = connections.limits.header_read_timeout;
        tasks.spawn(async move {
            let _slot = slot;
            serve_connection(tcp, remote, &authenticator, router, header_read_timeout).await;
        });
    }
    tasks.shutdown().await;
}

async fn serve_connection(
    tcp: TcpStream,
    remote: SocketAddr,
    authenticator: &Authenticator,
    router: Router,
    header_read_timeout: core::time::Duration,
) {
    let _ = tcp.set_nodelay(true);
    // The handshake is bounded like the headers: a client that connects and sends
    // nothing would otherwise hold its connection slot for ever.
    let config = authenticator.server_config();
    let handshake = netsettle_smtls::accept(&config, tcp);
    let tls = match tokio::time::timeout(header_read_timeout, handshake).await {
        Ok(Ok(tls)) => tls,
        Ok(Err(error)) => {
            tracing::info!(%remote, %error, "gateway handshake refused");
            return;
        }
        Err(_) => {
            tracing::info!(%remote, "gateway handshake timed out");
            return;
        }
    };
    let caller = authenticator.caller(tls.peer().certificate(), now_unix());
    if let Err(reason) = &caller {
        tracing::info!(%remote, %reason, "gateway caller not vouched for by the channel");
    }
    let router = router.layer(axum::Extension(Authenticated(Arc::new(caller))));
    let service = TowerToHyperService::new(router);
    let served = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout)
        .max_buf_size(HEADER_BYTES_MAX)
        .serve_connection(TokioIo::new(tls), service)
        .await;
    if let Err(error) = served {
        tracing::debug!(%remote, %error, "gateway connection ended");
    }
}

fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()
        .and_then(|since| i64::try_from(since.as_secs()).ok())
        .unwrap_or(0)
}

/// Keeps the client trust on the channel config in force: every config the peer
/// commits replaces it (a new CRL refuses the certificates it lists from the next
/// handshake on). Runs until `shutdown`.
pub async fn follow_channel(
    peer: PeerHandle,
    authenticator: Arc<Authenticator>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut changes = peer.channel_changes();
    loop {
        tokio::select! {
            _ = shutdown.wait_for(|stop| *stop) => return,
            changed = changes.changed() => {
                if changed.is_err() {
                    return;
                }
            }
        }
        let channel = std::sync::Arc::clone(&changes.borrow_and_update());
        if let Err(error) = authenticator.replace(channel) {
            tracing::error!(%error, "keeping the gateway's client trust in force");
        }
    }
}
