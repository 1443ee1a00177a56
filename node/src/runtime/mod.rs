//! `netsettle node --config FILE`: one process running the roles its config enables.
//!
//! Start-up is strict and ordered, so a misconfigured node stops before it talks to
//! anyone: load the config, load and check the node's identity (key matches certificate,
//! certificate valid in the channel's MSPs), open the ledger (a new ledger starts from the
//! genesis block; an existing one must hold the same genesis), then start each role. When
//! every role listens, one readiness line goes to stdout; scripts and tests wait for it
//! instead of sleeping. SIGINT or SIGTERM stops the roles and closes the ledger cleanly.
//!
//! This file supervises the roles and shuts them down; `config` is the config file,
//! `startup` the checks before any role runs, `ca`, `network`, `orderer`, `peer` wire
//! one role each to its library crate, and `trust` keeps the network's trust on the
//! config the roles have in force.

use std::io::Write as _;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context as _, Result, bail};
use netsettle_ledger::Ledger;
use netsettle_protocol::{Block, ChannelConfig, Identity};
use netsettle_smcrypto::PrivateKey;

use self::config::NodeConfig;

mod ca;
pub mod config;
mod gateway;
mod network;
mod notices;
mod ops;
mod orderer;
mod peer;
mod startup;
mod trust;

/// What every role of the process shares: who the node is and the channel state.
pub struct NodeContext {
    /// The parsed configuration.
    pub config: NodeConfig,
    /// The node's SM2 signing key.
    pub signing_key: PrivateKey,
    /// The node's identity (MSP id + signing certificate).
    pub identity: Identity,
    /// The channel's genesis block.
    pub genesis: Block,
    /// The channel configuration in force at start.
    pub channel_config: ChannelConfig,
    /// The node's own ledger (`DATA/ledger`), unless the node is only an orderer (the
    /// orderer keeps its chain under `DATA/orderer`).
    pub ledger: Option<Arc<Ledger>>,
}

/// `netsettle node --config FILE`: start up, run the roles until a shutdown signal or a
/// role's end, shut down.
pub fn run(config_path: &Path) -> Result<()> {
    let config = NodeConfig::load(config_path)?;
    let context = startup::prepare(config)?;
    crate::shared::runtime()?.block_on(serve(context))
}

/// Runs the roles until a shutdown signal.
async fn serve(context: NodeContext) -> Result<()> {
    let mut signals = ShutdownSignals::install()?;
    let (shutdown_tx, shutdown_rx) = tokio::sync::watch::channel(false);
    let mut roles = tokio::task::JoinSet::new();
    let mut ready = vec![
        format!("name={}", context.config.name),
        format!("roles={}", context.config.roles().join(",")),
    ];

    if let Some(ca_config) = &context.config.ca {
        let address = ca::start(ca_config, shutdown_rx.clone(), &mut roles).await?;
        ready.push(format!("ca={address}"));
    }

    let network = match &context.config.network {
        Some(network_config) => {
            let network = network::start(&context, network_config).await?;
            ready.push(format!("node_id={}", network.node_id()));
            ready.push(format!("p2p={}", network.listen_addr()));
            Some(network)
        }
        None => None,
    };

    let orderer = match (&context.config.orderer, &network) {
        (Some(orderer_config), Some(network)) => {
            let (orderer, consenter_id) = orderer::start(
                &context,
                orderer_config,
                &network.handle(),
                &shutdown_rx,
                &mut roles,
            )?;
            ready.push(format!("orderer=consenter-{consenter_id}"));
            Some(orderer)
        }
        (Some(_), None) => bail!("the orderer role needs a [network] section"),
        (None, _) => None,
    };

    let peer = match (&context.config.peer, &network, &context.ledger) {
        (Some(_), Some(network), Some(ledger)) => {
            let peer = peer::start(
                &context,
                Arc::clone(ledger),
                &network.handle(),
                shutdown_rx.clone(),
                &mut roles,
            )?;
            supervise_committer(&peer.handle, &shutdown_rx, &mut roles);
            ready.push("peer=on".to_owned());
            if let Some(gateway_config) = &context.config.gateway {
                let address = gateway::start(
                    &context,
                    gateway_config,
                    &peer.handle,
                    &shutdown_rx,
                    &mut roles,
                )
                .await?;
                ready.push(format!("gateway={address}"));
            }
            if let Some(settings) = &context.config.notices {
                notices::start(
                    &context,
                    settings,
                    ledger,
                    &peer.handle,
                    &shutdown_rx,
                    &mut roles,
                );
                ready.push(format!("notices={}", settings.addressees.len()));
            }
            Some(peer)
        }
        (Some(_), None, _) => bail!("the peer role needs a [network] section"),
        _ => None,
    };

    if let Some(network) = &network {
        // The network's TLS roots, CRLs and roles follow the config each role puts in force.
        let sources = [
            orderer.as_ref().map(|orderer| orderer.channel_changes()),
            peer.as_ref().map(|peer| peer.handle.channel_changes()),
        ];
        let in_force = context.channel_config.sequence;
        trust::start(
            network.handle(),
            sources,
            in_force,
            &shutdown_rx,
            &mut roles,
        );
    }

    let probes = start_operations(
        &context,
        &network,
        &orderer,
        &peer,
        &shutdown_rx,
        &mut roles,
    )
    .await?
    .map(|(address, probes)| {
        ready.push(format!("operations={address}"));
        probes
    });

    if let Some(ledger) = &context.ledger {
        ready.push(format!("height={}", ledger.chain_info()?.height));
    }
    ready.push(format!("channel={}", context.channel_config.channel));
    // The readiness line: scripts and tests wait for it instead of sleeping.
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "netsettle node ready {}", ready.join(" ")).context("stdout")?;
    stdout.flush().context("stdout")?;
    drop(stdout);
    if let Some(probes) = &probes {
        probes
            .started
            .store(true, std::sync::atomic::Ordering::Release);
    }
    tracing::info!(name = %context.config.name, "node started");

    // `None`: a role ended early without saying why (e.g. a delivery task whose committer
    // had gone); the reason is then the first error another role reports on the way down.
    let mut outcome = tokio::select! {
        name = signals.recv() => {
            tracing::info!(signal = name, "shutting down");
            Some(Ok(()))
        }
        Some(finished) = roles.join_next() => {
            // A role must run until shutdown; one that ends early takes the node down.
            match finished {
                Ok(Ok(())) => None,
                Ok(Err(error)) => Some(Err(error)),
                Err(panic) => Some(Err(anyhow::anyhow!("a role task failed: {panic}"))),
            }
        }
    };
    let _ = shutdown_tx.send(true);
    while let Some(finished) = roles.join_next().await {
        if let Ok(Err(error)) = finished {
            tracing::warn!(error = %format!("{error:#}"), "role stopped with an error");
            if outcome.is_none() {
                outcome = Some(Err(error));
            }
        }
    }
    if let Some(peer) = peer {
        // Delivery stopped with the roles, which closes the committer's block queue.
        if let Err(error) = peer.handle.join().await {
            tracing::warn!(%error, "the committer stopped with an error");
            if outcome.is_none() {
                outcome = Some(Err(anyhow::Error::new(error).context("peer role")));
            }
        }
    }
    if let Some(orderer) = orderer {
        orderer.shutdown().await;
    }
    if let Some(network) = network {
        network.shutdown().await;
    }
    outcome.unwrap_or_else(|| Err(anyhow::anyhow!("a role stopped unexpectedly")))
}

/// The certificate expiry checks (always), and the operations listener with its metrics
/// when the config has `[operations]`: its address and what `/readyz` looks at.
async fn start_operations(
    context: &NodeContext,
    network: &Option<netsettle_net::Network>,
    orderer: &Option<netsettle_orderer::OrdererHandle>,
    peer: &Option<peer::PeerRole>,
    shutdown: &tokio::sync::watch::Receiver<bool>,
    roles: &mut tokio::task::JoinSet<Result<()>>,
) -> Result<Option<(std::net::SocketAddr, Arc<ops::Probes>)>> {
    let certificates = ops::certs::node_certificates(context)?;
    let warn_days = context
        .config
        .operations
        .as_ref()
        .map_or(config::CERT_EXPIRY_WARN_DAYS_DEFAULT, |operations| {
            operations.cert_expiry_warn_days
        });
    ops::certs::start_checks(certificates.clone(), warn_days, shutdown, roles);
    let Some(operations) = &context.config.operations else {
        return Ok(None);
    };
    let peer_handle = peer.as_ref().map(|peer| peer.handle.clone());
    let sources = ops::metrics::Sources {
        outbox: peer_handle
            .as_ref()
            .filter(|_| context.config.notices.is_some())
            .map(|peer| Arc::clone(peer.ledger())),
        peer: peer_handle,
        orderer: orderer.clone(),
        net: network.as_ref().map(|network| network.handle()),
        certificates,
    };
    let (metrics, connections) = ops::metrics::start(sources, shutdown, roles);
    let probes = Arc::new(ops::Probes {
        started: std::sync::atomic::AtomicBool::new(false),
        ledger: context
            .ledger
            .clone()
            .or_else(|| orderer.as_ref().map(|orderer| Arc::clone(orderer.ledger()))),
        orderer: orderer.clone(),
        connections: network.as_ref().map(|_| connections),
    });
    let address = ops::start(
        operations.listen,
        Arc::clone(&probes),
        metrics,
        shutdown,
        roles,
    )
    .await?;
    Ok(Some((address, probes)))
}

/// Makes the peer's committer a role of the node: a committer that ends before shutdown
/// (its ledger failed, a panic) ends the node with the reason.
fn supervise_committer(
    peer: &netsettle_peer::service::PeerHandle,
    shutdown: &tokio::sync::watch::Receiver<bool>,
    roles: &mut tokio::task::JoinSet<Result<()>>,
) {
    let peer = peer.clone();
    let mut stop = shutdown.clone();
    let stopping = shutdown.clone();
    roles.spawn(async move {
        // Shutdown first: once it is asked for, delivery stops and closes the committer's
        // queue, so the committer ending then is the shutdown, not a failure.
        tokio::select! {
            biased;
            _ = stop.wait_for(|stop| *stop) => Ok(()),
            outcome = peer.join() => match outcome {
                Ok(()) if *stopping.borrow() => Ok(()),
                Ok(()) => Err(anyhow::anyhow!("peer role: the committer stopped")),
                Err(error) => Err(anyhow::Error::new(error).context("peer role")),
            },
        }
    });
}

/// SIGINT and SIGTERM, registered before the readiness line so a signal sent right after
/// it is never missed (the default action would kill the process uncleanly).
struct ShutdownSignals {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

impl ShutdownSignals {
    fn install() -> Result<ShutdownSignals> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(ShutdownSignals {
            interrupt: signal(SignalKind::interrupt()).context("installing the SIGINT handler")?,
            terminate: signal(SignalKind::terminate()).context("installing the SIGTERM handler")?,
        })
    }

    async fn recv(&mut self) -> &'static str {
        tokio::select! {
            _ = self.interrupt.recv() => "SIGINT",
            _ = self.terminate.recv() => "SIGTERM",
        }
    }
}
