//! The follower tasks behind the node-owned metrics: each follows one library event
//! stream (the peer's block events, the orderer's chain height, the network's connection
//! events) and updates [`Instruments`] or the [`Connections`] table. A lagging
//! subscription catches up from the source's state (the ledger, the connected nodes)
//! rather than losing counts. They run as roles of the node and end at shutdown; one
//! whose source ends waits for the shutdown, so it never takes the node down.

use std::sync::Arc;

use netsettle_net::{ConnectionEvent, NetHandle};
use netsettle_orderer::OrdererHandle;
use netsettle_peer::service::PeerHandle;
use tokio::sync::{broadcast, watch};

use super::metrics::{Connections, Instruments};

/// Runs `follower` until `shutdown` turns; a follower never ends the node.
pub(super) async fn until_shutdown(
    mut shutdown: watch::Receiver<bool>,
    follower: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let source_ended = tokio::select! {
        _ = shutdown.wait_for(|stop| *stop) => false,
        () = follower => true,
    };
    if source_ended {
        // Its source ended, which only happens on the way down; wait for the shutdown.
        let _ = shutdown.wait_for(|stop| *stop).await;
    }
    Ok(())
}

/// Counts each committed transaction by its validation code, from the peer's block
/// events; blocks a lagging subscription missed are read back from the ledger.
pub(super) async fn follow_transactions(peer: PeerHandle, instruments: Arc<Instruments>) {
    let mut events = peer.subscribe();
    let mut next = peer.height();
    loop {
        match events.recv().await {
            Ok(event) => {
                if event.number < next {
                    continue;
                }
                count_from_ledger(&peer, next, event.number, &instruments).await;
                // Logged as the peer's: these lines are about its blocks.
                tracing::debug!(
                    target: "netsettle::runtime::peer",
                    number = event.number,
                    n_txs = event.txs.len(),
                    "block committed"
                );
                for tx in &event.txs {
                    count_transaction(&instruments, tx.code.as_str());
                    if !tx.code.is_valid() {
                        // The one log line per invalid transaction: operators search by id.
                        tracing::info!(
                            target: "netsettle::runtime::peer",
                            number = event.number,
                            tx_id = %tx.tx_id,
                            code = tx.code.as_str(),
                            "transaction committed invalid"
                        );
                    }
                }
                next = event.number.saturating_add(1);
            }
            Err(broadcast::error::RecvError::Lagged(_)) => {
                let height = peer.height();
                count_from_ledger(&peer, next, height, &instruments).await;
                next = next.max(height);
            }
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}

/// Counts the transactions of committed blocks `start..end` from the ledger.
async fn count_from_ledger(
    peer: &PeerHandle,
    start: u64,
    end: u64,
    instruments: &Arc<Instruments>,
) {
    if start >= end {
        return;
    }
    let ledger = Arc::clone(peer.ledger());
    let read = tokio::task::spawn_blocking(move || {
        let mut codes = Vec::new();
        for number in start..end {
            match ledger.block(number) {
                Ok(Some(block)) => codes.extend(block.metadata.validation_codes),
                Ok(None) => break,
                Err(error) => {
                    tracing::warn!(number, %error, "metrics: reading a block back failed");
                    break;
                }
            }
        }
        codes
    })
    .await;
    for code in read.unwrap_or_default() {
        count_transaction(instruments, code.as_str());
    }
}

fn count_transaction(instruments: &Instruments, code: &'static str) {
    instruments
        .transactions
        .get_or_create(&vec![("code", code.to_owned())])
        .inc();
}

/// Observes each new block of the orderer's chain: how many envelopes it batched.
pub(super) async fn follow_batches(orderer: OrdererHandle, instruments: Arc<Instruments>) {
    let Some(histogram) = instruments.batch_envelopes.clone() else {
        return;
    };
    let mut heights = orderer.height();
    let mut next = *heights.borrow_and_update();
    while heights.changed().await.is_ok() {
        let height = *heights.borrow_and_update();
        let ledger = Arc::clone(orderer.ledger());
        let start = next;
        let sizes = tokio::task::spawn_blocking(move || {
            (start..height)
                .map_while(|number| ledger.block(number).ok().flatten())
                .map(|block| block.data.len())
                .collect::<Vec<_>>()
        })
        .await
        .unwrap_or_default();
        for size in sizes {
            // Block sizes are far below 2^52: exact as f64.
            histogram.observe(f64::from(u32::try_from(size).unwrap_or(u32::MAX)));
        }
        next = next.max(height);
    }
}

/// Keeps the connection table and the handshake counters from the network's events; a
/// lagging subscription re-reads the connected nodes.
pub(super) async fn follow_connections(
    net: NetHandle,
    connections: Arc<Connections>,
    instruments: Arc<Instruments>,
) {
    let mut events = net.events();
    refresh_connections(&net, &connections).await;
    loop {
        match events.recv().await {
            Ok(event) => on_connection_event(event, &connections, &instruments),
            Err(broadcast::error::RecvError::Lagged(_)) => {
                refresh_connections(&net, &connections).await
            }
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}

async fn refresh_connections(net: &NetHandle, connections: &Connections) {
    let Ok(peers) = net.connected().await else {
        return;
    };
    connections.replace(peers.into_iter().map(|peer| {
        let role = format!("{:?}", peer.role).to_lowercase();
        (peer.node_id.to_string(), (peer.msp_id, role))
    }));
}

fn on_connection_event(
    event: ConnectionEvent,
    connections: &Connections,
    instruments: &Instruments,
) {
    match event {
        ConnectionEvent::Connected { peer, .. } => {
            instruments.tls_handshakes.inc();
            let role = format!("{:?}", peer.role).to_lowercase();
            connections.set(peer.node_id.to_string(), Some((peer.msp_id, role)));
        }
        ConnectionEvent::Disconnected { node } => connections.set(node.to_string(), None),
        ConnectionEvent::DialFailed { reason, .. } => {
            count_failure(instruments, "outbound", &reason);
        }
        ConnectionEvent::InboundRefused { reason, .. } => {
            count_failure(instruments, "inbound", &reason);
        }
        ConnectionEvent::Penalised { .. } => {
            instruments.gossip_penalties.inc();
        }
        _ => {}
    }
}

fn count_failure(instruments: &Instruments, direction: &'static str, reason: &str) {
    let labels = vec![
        ("direction", direction.to_owned()),
        ("reason", failure_reason(reason).to_owned()),
    ];
    instruments.tls_failures.get_or_create(&labels).inc();
}

/// A closed set of failure reasons from the network's free-text one, so the label's
/// values stay bounded.
pub fn failure_reason(reason: &str) -> &'static str {
    let reason = reason.to_lowercase();
    let classes: [(&[&str], &'static str); 8] = [
        (&["revoked"], "revoked"),
        (
            &[
                "unknown ca",
                "unknownca",
                "unknownissuer",
                "unknown issuer",
                "issuer",
                "certificate chain",
                "badsignature",
            ],
            "untrusted_certificate",
        ),
        (
            &["expired", "notvalidyet", "not valid"],
            "certificate_validity",
        ),
        (&["role", "may not"], "role_not_allowed"),
        (&["peer id", "wrong peer", "wrongpeerid"], "wrong_node"),
        (&["limit", "too many"], "limits"),
        (&["timed out", "timeout"], "timeout"),
        (
            &["connection refused", "unreachable", "no route", "reset"],
            "unreachable",
        ),
    ];
    classes
        .iter()
        .find(|(needles, _)| needles.iter().any(|needle| reason.contains(needle)))
        .map_or("other", |(_, class)| class)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_reasons_fall_into_a_closed_set() {
        assert_eq!(failure_reason("certificate revoked by CRL"), "revoked");
        assert_eq!(
            failure_reason("Transport error: invalid peer certificate: UnknownCa"),
            "untrusted_certificate"
        );
        assert_eq!(
            failure_reason("handshake: invalid peer certificate: Expired"),
            "certificate_validity"
        );
        assert_eq!(
            failure_reason("Connection refused (os error 111)"),
            "unreachable"
        );
        assert_eq!(
            failure_reason("role Client not allowed"),
            "role_not_allowed"
        );
        assert_eq!(failure_reason("something new"), "other");
    }
}
