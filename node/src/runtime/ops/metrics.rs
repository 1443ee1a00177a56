//! The node's Prometheus metrics: names, help texts and where each value comes from.
//!
//! Two kinds of source, and prometheus-client stays in `node/`:
//! - values the library crates already keep (heights, Raft status, the notices outbox,
//!   their `stats()` counters) are read at scrape time by [`ScrapeCollector`], so a
//!   scrape costs a few atomic loads and one outbox scan;
//! - values the node derives from the libraries' event streams (transactions by
//!   validation code from the peer's block events, batch sizes from the orderer's chain,
//!   connections and handshake failures from the network's connection events) are kept
//!   in node-owned instruments that the follower tasks of `follow` update.
//!
//! Every label set is bounded: validation codes and failure reasons are closed sets, and
//! the connected nodes are at most the network's connection limit.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use netsettle_ledger::Ledger;
use netsettle_net::NetHandle;
use netsettle_orderer::OrdererHandle;
use netsettle_orderer::stats::{OrdererStats, ProposalFailure};
use netsettle_peer::service::PeerHandle;
use netsettle_peer::stats::{HistogramSnapshot, PeerStats};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric as _, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::certs::WatchedCertificate;
use super::follow;

/// The content type of `/metrics` (prometheus-client writes OpenMetrics text, which
/// Prometheus reads).
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// A label set: fixed keys, values from a bounded set.
pub type Labels = Vec<(&'static str, String)>;

/// Bucket bounds of the orderer's batch sizes (envelopes per block).
const BATCH_ENVELOPES_BUCKETS: [f64; 10] =
    [1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0];

/// The registry `/metrics` encodes.
pub struct Metrics {
    registry: Registry,
}

impl Metrics {
    /// The metrics as OpenMetrics text.
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)?;
        Ok(text)
    }
}

/// The nodes connected right now, from the network's connection events; `/readyz` and
/// `netsettle_net_connections` read it.
#[derive(Debug, Default)]
pub struct Connections {
    /// Node id → (organisation, role).
    nodes: Mutex<BTreeMap<String, (String, String)>>,
}

impl Connections {
    /// Replaces the table with `nodes` (after missed events).
    pub(super) fn replace(&self, nodes: impl IntoIterator<Item = (String, (String, String))>) {
        if let Ok(mut table) = self.nodes.lock() {
            table.clear();
            table.extend(nodes);
        }
    }

    /// How many nodes are connected.
    pub fn n_connected(&self) -> usize {
        self.nodes.lock().map(|nodes| nodes.len()).unwrap_or(0)
    }

    fn snapshot(&self) -> Vec<(String, (String, String))> {
        self.nodes
            .lock()
            .map(|nodes| nodes.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default()
    }

    /// Records `node` as connected with its (organisation, role), or as gone (`None`).
    pub(super) fn set(&self, node: String, labels: Option<(String, String)>) {
        if let Ok(mut nodes) = self.nodes.lock() {
            match labels {
                Some(labels) => {
                    nodes.insert(node, labels);
                }
                None => {
                    nodes.remove(&node);
                }
            }
        }
    }
}

/// Node-owned instruments, updated by the follower tasks (`follow`).
#[derive(Debug, Default)]
pub(super) struct Instruments {
    /// Transactions by validation code.
    pub(super) transactions: Family<Labels, Counter>,
    /// Envelopes per block of the orderer's chain (orderers only).
    pub(super) batch_envelopes: Option<Histogram>,
    /// Authenticated connections.
    pub(super) tls_handshakes: Counter,
    /// Failed or refused connections by direction and reason class.
    pub(super) tls_failures: Family<Labels, Counter>,
    /// Nodes blacklisted from gossip.
    pub(super) gossip_penalties: Counter,
}

/// What the node runs, for the metrics to read.
pub struct Sources {
    /// The peer role.
    pub peer: Option<PeerHandle>,
    /// The orderer role.
    pub orderer: Option<OrdererHandle>,
    /// The network.
    pub net: Option<NetHandle>,
    /// The ledger whose notices outbox to report (a peer running `[notices]`).
    pub outbox: Option<Arc<Ledger>>,
    /// The node's own certificates (and its CA's).
    pub certificates: Vec<WatchedCertificate>,
}

/// Registers every metric and starts the follower tasks as roles of the node; they end
/// at `shutdown`. The registry and the connection table `/readyz` reads.
pub fn start(
    sources: Sources,
    shutdown: &watch::Receiver<bool>,
    roles: &mut JoinSet<anyhow::Result<()>>,
) -> (Arc<Metrics>, Arc<Connections>) {
    let mut registry = Registry::default();
    let instruments = Arc::new(Instruments {
        batch_envelopes: sources
            .orderer
            .as_ref()
            .map(|_| Histogram::new(BATCH_ENVELOPES_BUCKETS)),
        ..Instruments::default()
    });
    let connections = Arc::new(Connections::default());
    register(&mut registry, &instruments);
    if let Some(peer) = &sources.peer {
        let follower = follow::follow_transactions(peer.clone(), Arc::clone(&instruments));
        roles.spawn(follow::until_shutdown(shutdown.clone(), follower));
    }
    if let Some(orderer) = &sources.orderer {
        let follower = follow::follow_batches(orderer.clone(), Arc::clone(&instruments));
        roles.spawn(follow::until_shutdown(shutdown.clone(), follower));
    }
    if let Some(net) = &sources.net {
        let follower = follow::follow_connections(
            net.clone(),
            Arc::clone(&connections),
            Arc::clone(&instruments),
        );
        roles.spawn(follow::until_shutdown(shutdown.clone(), follower));
    }
    registry.register_collector(Box::new(ScrapeCollector {
        peer: sources.peer,
        orderer: sources.orderer,
        outbox: sources.outbox,
        certificates: sources.certificates,
        connections: Arc::clone(&connections),
    }));
    (Arc::new(Metrics { registry }), connections)
}

fn register(registry: &mut Registry, instruments: &Instruments) {
    registry.register(
        "netsettle_peer_transactions",
        "Transactions committed by this peer, by validation code",
        instruments.transactions.clone(),
    );
    if let Some(histogram) = &instruments.batch_envelopes {
        registry.register(
            "netsettle_orderer_batch_envelopes",
            "Envelopes per block this orderer's chain gained",
            histogram.clone(),
        );
    }
    registry.register(
        "netsettle_net_tls_handshakes",
        "Authenticated node connections (SM-TLS handshake and certificate checks passed)",
        instruments.tls_handshakes.clone(),
    );
    registry.register(
        "netsettle_net_tls_handshake_failures",
        "Connections that failed or were refused while connecting, by direction and reason",
        instruments.tls_failures.clone(),
    );
    registry.register(
        "netsettle_net_gossip_penalties",
        "Nodes blacklisted from gossip after too many invalid messages",
        instruments.gossip_penalties.clone(),
    );
}

/// Reads the libraries' state at scrape time.
struct ScrapeCollector {
    peer: Option<PeerHandle>,
    orderer: Option<OrdererHandle>,
    outbox: Option<Arc<Ledger>>,
    certificates: Vec<WatchedCertificate>,
    connections: Arc<Connections>,
}

impl std::fmt::Debug for ScrapeCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScrapeCollector").finish_non_exhaustive()
    }
}

impl Collector for ScrapeCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let mut heights = Vec::new();
        if let Some(peer) = &self.peer {
            heights.push((vec![("role", "peer".to_owned())], peer.height()));
        }
        if let Some(orderer) = &self.orderer {
            heights.push((
                vec![("role", "orderer".to_owned())],
                *orderer.height().borrow(),
            ));
        }
        gauges(
            &mut encoder,
            "netsettle_ledger_height",
            "Blocks in the chain (the next block's number)",
            &heights,
        )?;
        if let Some(orderer) = &self.orderer {
            encode_raft(&mut encoder, orderer)?;
        }
        if let Some(peer) = &self.peer {
            encode_peer(&mut encoder, peer.stats())?;
            counters(
                &mut encoder,
                "netsettle_peer_own_endorsements_trusted",
                "Endorsements this peer signed that its validator took without verifying them again",
                &[(Vec::new(), peer.own_endorsements().hits())],
            )?;
        }
        let connected: Vec<(Labels, u64)> = self
            .connections
            .snapshot()
            .into_iter()
            .map(|(node, (msp, role))| (vec![("node", node), ("msp", msp), ("role", role)], 1))
            .collect();
        gauges(
            &mut encoder,
            "netsettle_net_connections",
            "Connected nodes: 1 per node connected now, by node id, organisation and role",
            &connected,
        )?;
        if let Some(ledger) = &self.outbox {
            encode_outbox(&mut encoder, ledger)?;
        }
        encode_certificates(&mut encoder, &self.certificates)
    }
}

fn encode_raft(
    encoder: &mut DescriptorEncoder,
    orderer: &OrdererHandle,
) -> Result<(), std::fmt::Error> {
    let status = orderer.status().borrow().clone();
    let none: Labels = Vec::new();
    let values: [(&str, &str, u64); 7] = [
        (
            "netsettle_raft_consenter_id",
            "This orderer's consenter id",
            status.consenter_id,
        ),
        ("netsettle_raft_term", "The Raft term", status.term),
        (
            "netsettle_raft_leader",
            "The consenter id of the Raft leader this orderer knows (0: none)",
            status.leader_id,
        ),
        (
            "netsettle_raft_applied_index",
            "The last Raft log index applied",
            status.applied_index,
        ),
        (
            "netsettle_raft_snapshot_index",
            "The index of the latest Raft snapshot",
            status.snapshot_index,
        ),
        (
            "netsettle_orderer_pending_envelopes",
            "Envelopes committed in the Raft log and not yet cut into a block",
            status.pending_envelopes,
        ),
        (
            "netsettle_orderer_catching_up",
            "1 while the orderer fetches blocks from another orderer",
            u64::from(status.catching_up),
        ),
    ];
    for (name, help, value) in values {
        gauges(encoder, name, help, &[(none.clone(), value)])?;
    }
    let stats = orderer.stats();
    let commit_index = OrdererStats::get(&stats.commit_index);
    gauges(
        encoder,
        "netsettle_raft_commit_index",
        "The highest Raft log index this orderer knows to be committed",
        &[(none.clone(), commit_index)],
    )?;
    let failed: Vec<(Labels, u64)> = ProposalFailure::ALL
        .iter()
        .map(|reason| {
            let labels = vec![("reason", reason.as_str().to_owned())];
            (labels, stats.proposals_failed(*reason))
        })
        .collect();
    counters(
        encoder,
        "netsettle_raft_proposals_failed",
        "Broadcasts the core answered with an error, by reason (no_leader: no leader or quorum; busy; not_ordered_in_time; duplicate; other: config changed, not a consenter, refused update)",
        &failed,
    )?;
    counters(
        encoder,
        "netsettle_orderer_broadcasts_ordered",
        "Broadcasts ordered into the chain and acknowledged",
        &[(none.clone(), OrdererStats::get(&stats.broadcasts_ordered))],
    )?;
    counters(
        encoder,
        "netsettle_orderer_envelope_checks",
        "Broadcast envelopes checked (certificates, signature, policies)",
        &[(none.clone(), OrdererStats::get(&stats.envelope_checks))],
    )?;
    counters(
        encoder,
        "netsettle_orderer_envelope_check_batches",
        "Blocking-pool tasks the envelope checks ran in, one per batch of broadcasts that arrived together",
        &[(
            none.clone(),
            OrdererStats::get(&stats.envelope_check_batches),
        )],
    )?;
    counters(
        encoder,
        "netsettle_orderer_broadcast_batches",
        "orderer-broadcast-batch requests accepted, each several envelopes checked and answered one by one",
        &[(none, OrdererStats::get(&stats.broadcast_batches))],
    )
}

fn encode_peer(encoder: &mut DescriptorEncoder, stats: &PeerStats) -> Result<(), std::fmt::Error> {
    let read = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
    histogram(
        encoder,
        "netsettle_peer_block_commit_seconds",
        "Time to validate and commit one block (refused blocks included)",
        &stats.block_commit.snapshot(),
    )?;
    counters(
        encoder,
        "netsettle_peer_blocks_refused",
        "Blocks the committer refused",
        &[(Vec::new(), read(&stats.blocks_refused))],
    )?;
    let endorsements = [
        (
            vec![("result", "ok".to_owned())],
            read(&stats.endorsements_ok),
        ),
        (
            vec![("result", "failed".to_owned())],
            read(&stats.endorsements_failed),
        ),
    ];
    counters(
        encoder,
        "netsettle_peer_endorsements",
        "Endorsements by result (failed: refused proposal, contract error, busy)",
        &endorsements,
    )?;
    histogram(
        encoder,
        "netsettle_peer_endorsement_seconds",
        "Time per endorsement, failed ones included",
        &stats.endorse.snapshot(),
    )?;
    let gossip = [
        ("next", &stats.gossip_received_next),
        ("known", &stats.gossip_received_known),
        ("ahead", &stats.gossip_received_ahead),
        ("refused", &stats.gossip_received_refused),
    ]
    .map(|(outcome, counter)| (vec![("outcome", outcome.to_owned())], read(counter)));
    counters(
        encoder,
        "netsettle_peer_gossip_blocks_received",
        "Blocks received by gossip, by outcome (next: the next block, committed; known: held already; ahead: beyond the next height; refused: invalid, sender reported)",
        &gossip,
    )?;
    let transfer = [
        (
            vec![("direction", "fetched".to_owned())],
            read(&stats.state_transfer_blocks_fetched),
        ),
        (
            vec![("direction", "served".to_owned())],
            read(&stats.state_transfer_blocks_served),
        ),
    ];
    counters(
        encoder,
        "netsettle_peer_state_transfer_blocks",
        "Blocks moved by state transfer between peers, fetched from or served to other peers",
        &transfer,
    )?;
    counters(
        encoder,
        "netsettle_peer_orderer_blocks_fetched",
        "Blocks fetched from the orderers",
        &[(Vec::new(), read(&stats.orderer_blocks_fetched))],
    )
}

/// Encodes a library's latency histogram (cumulative buckets) as a Prometheus one.
fn histogram(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    snapshot: &HistogramSnapshot,
) -> Result<(), std::fmt::Error> {
    // prometheus-client sums the buckets itself: hand it each bucket's own count.
    let mut below = 0u64;
    let buckets: Vec<(f64, u64)> = snapshot
        .buckets
        .iter()
        .map(|(bound, cumulative)| {
            let own = cumulative.saturating_sub(below);
            below = *cumulative;
            (*bound, own)
        })
        .collect();
    let mut metric =
        encoder.encode_descriptor(name, &format!("{help}."), None, MetricType::Histogram)?;
    metric.encode_histogram::<NoLabelSet>(snapshot.sum_seconds, snapshot.count, &buckets, None)
}

fn encode_outbox(encoder: &mut DescriptorEncoder, ledger: &Ledger) -> Result<(), std::fmt::Error> {
    let counts = match ledger.outbox().counts() {
        Ok(counts) => counts,
        Err(error) => {
            tracing::warn!(%error, "metrics: reading the notices outbox failed");
            return Ok(());
        }
    };
    let values: Vec<(Labels, u64)> = [
        ("pending", counts.pending),
        ("sent", counts.sent),
        ("failed", counts.failed),
    ]
    .into_iter()
    .map(|(state, count)| (vec![("state", state.to_owned())], count))
    .collect();
    gauges(
        encoder,
        "netsettle_notices_outbox_entries",
        "Notices in the notifier's outbox, by state",
        &values,
    )
}

fn encode_certificates(
    encoder: &mut DescriptorEncoder,
    certificates: &[WatchedCertificate],
) -> Result<(), std::fmt::Error> {
    let now = crate::shared::now_unix().unwrap_or(0);
    let values: Vec<(Labels, f64)> = certificates
        .iter()
        .map(|certificate| {
            let labels = vec![
                ("certificate", certificate.kind.to_owned()),
                ("subject", certificate.subject.clone()),
            ];
            (labels, certificate.days_left(now))
        })
        .collect();
    gauges(
        encoder,
        "netsettle_certificate_expiry_days",
        "Days until the certificate expires (negative: expired), by kind (signing, tls, ca)",
        &values,
    )
}

/// Encodes one gauge metric with a sample per label set (none: the metric is left out).
fn gauges<
    V: prometheus_client::encoding::EncodeGaugeValue + Copy + std::fmt::Debug + Send + Sync + 'static,
>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    samples: &[(Labels, V)],
) -> Result<(), std::fmt::Error>
where
    ConstGauge<V>: prometheus_client::encoding::EncodeMetric,
{
    if samples.is_empty() {
        return Ok(());
    }
    let mut metric =
        encoder.encode_descriptor(name, &format!("{help}."), None, MetricType::Gauge)?;
    for (labels, value) in samples {
        if labels.is_empty() {
            // One unlabelled sample: no `{}` after the name.
            ConstGauge::new(*value).encode(metric)?;
            return Ok(());
        }
        ConstGauge::new(*value).encode(metric.encode_family(labels)?)?;
    }
    Ok(())
}

/// Encodes one counter metric read from a library's stats (name without `_total`).
fn counters(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    samples: &[(Labels, u64)],
) -> Result<(), std::fmt::Error> {
    if samples.is_empty() {
        return Ok(());
    }
    let mut metric =
        encoder.encode_descriptor(name, &format!("{help}."), None, MetricType::Counter)?;
    for (labels, value) in samples {
        if labels.is_empty() {
            // One unlabelled sample: no `{}` after the name.
            ConstCounter::new(*value).encode(metric)?;
            return Ok(());
        }
        ConstCounter::new(*value).encode(metric.encode_family(labels)?)?;
    }
    Ok(())
}
