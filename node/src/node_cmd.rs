//! `netsettle node --config FILE`: one process running the roles its config enables.
//!
//! Start-up is strict and ordered, so a misconfigured node stops before it talks to
//! anyone: load the config, load and check the node's identity (key matches certificate,
//! certificate valid in the channel's MSPs), open the ledger (a new ledger starts from the
//! genesis block; an existing one must hold the same genesis), then start each role. When
//! every role listens, one readiness line goes to stdout; scripts and tests wait for it
//! instead of sleeping. SIGINT or SIGTERM stops the roles and closes the ledger cleanly.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context as _, Result, bail};
use netsettle_ledger::Ledger;
use netsettle_msp::ChannelMsps;
use netsettle_net::{ChannelTrust, NetConfig, Network, NodeId};
use netsettle_orderer::consenters::FollowingTransport;
use netsettle_orderer::{CoreConfig, OrdererHandle, OrdererService, ServiceConfig};
use netsettle_protocol::{Block, ChannelConfig, Identity, Role, ValidationCode};
use netsettle_smcrypto::PrivateKey;

use crate::crypto_cmd::{now_unix, read_certificate, read_private_key};
use crate::node_config::{NetworkConfig, NodeConfig, OrdererRoleConfig};
use crate::peer_role;

/// Arguments of `netsettle node`.
#[derive(Debug, clap::Args)]
pub struct NodeArgs {
    /// The node configuration file (TOML; see `configs/nodes/` for examples).
    #[arg(long)]
    config: PathBuf,
}

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

pub fn run(args: &NodeArgs) -> Result<()> {
    let config = NodeConfig::load(&args.config)?;
    let context = prepare(config)?;
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?
        .block_on(serve(context))
}

/// Loads the identity and the ledger, checking both against the channel.
fn prepare(config: NodeConfig) -> Result<NodeContext> {
    let layout = netsettle_ca::IdentityLayout::new(&config.identity.dir);
    let signing_key = read_private_key(&layout.sign_key())?;
    let certificate = read_certificate(&layout.sign_cert())?;
    if certificate.public_key() != signing_key.public_key() {
        bail!(
            "{} does not hold the key of {}",
            layout.sign_key().display(),
            layout.sign_cert().display()
        );
    }
    let identity = Identity {
        msp_id: config.identity.msp_id.clone(),
        cert_der: certificate.der().to_vec(),
    };
    let genesis = read_genesis(&config.channel.genesis)?;
    let channel_config = genesis
        .config()
        .cloned()
        .context("the genesis block holds no channel configuration")?;
    if channel_config.channel != config.channel.name {
        bail!(
            "the genesis block is for channel {:?}, the config names {:?}",
            channel_config.channel,
            config.channel.name
        );
    }
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating {}", config.data_dir.display()))?;
    let (ledger, channel_config) = if config.orderer.is_some() && config.peer.is_none() {
        // The orderer opens its own chain; its config in force is checked there.
        (None, channel_config)
    } else {
        let ledger = open_ledger(&config.data_dir.join("ledger"), &genesis)?;
        // The config in force is the latest config block's, not necessarily the genesis's.
        let (channel_config, _) = ledger.config_in_force()?.context("the ledger is empty")?;
        (Some(Arc::new(ledger)), channel_config)
    };
    let msps = ChannelMsps::from_config(&channel_config)?;
    msps.validate(&identity, now_unix()?).with_context(|| {
        format!(
            "the node's own certificate {} is not valid in channel {}",
            layout.sign_cert().display(),
            channel_config.channel
        )
    })?;
    Ok(NodeContext {
        config,
        signing_key,
        identity,
        genesis,
        channel_config,
        ledger,
    })
}

fn read_genesis(path: &Path) -> Result<Block> {
    let bytes = read_bounded(path, netsettle_protocol::limits::BLOCK_BYTES_MAX)?;
    let block: Block = netsettle_protocol::decode(&bytes)
        .with_context(|| format!("decoding genesis block {}", path.display()))?;
    if block.header.number != 0 {
        bail!(
            "{} holds block {}, not a genesis block",
            path.display(),
            block.header.number
        );
    }
    Ok(block)
}

/// Reads a file, refusing it before reading when it is over `bytes_max`.
pub(crate) fn read_bounded(path: &Path, bytes_max: usize) -> Result<Vec<u8>> {
    let len = std::fs::metadata(path)
        .with_context(|| format!("reading {}", path.display()))?
        .len();
    if usize::try_from(len).map_or(true, |len| len > bytes_max) {
        bail!(
            "{} is {len} bytes, over the {bytes_max}-byte limit",
            path.display()
        );
    }
    std::fs::read(path).with_context(|| format!("reading {}", path.display()))
}

/// Opens the ledger; a new one starts from `genesis`, an existing one must begin with it.
fn open_ledger(path: &Path, genesis: &Block) -> Result<Ledger> {
    let ledger = Ledger::open(path)?;
    match ledger.block(0)? {
        None => {
            let mut first = genesis.clone();
            first.metadata.validation_codes = vec![ValidationCode::Valid; first.data.len()];
            ledger.commit_block(&first)?;
            tracing::info!(ledger = %path.display(), "ledger started from the genesis block");
        }
        Some(existing) => {
            if existing.hash() != genesis.hash() {
                bail!(
                    "ledger {} belongs to another channel: its genesis block is {}, the config's is {}",
                    path.display(),
                    existing.hash(),
                    genesis.hash()
                );
            }
        }
    }
    Ok(ledger)
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

    if let Some(ca) = &context.config.ca {
        let listener = tokio::net::TcpListener::bind(ca.listen)
            .await
            .with_context(|| format!("CA role: binding {}", ca.listen))?;
        let address = listener.local_addr().context("reading the CA address")?;
        ready.push(format!("ca={address}"));
        let serve_config = netsettle_ca::ServeConfig {
            dir: ca.dir.clone(),
        };
        let mut stop = shutdown_rx.clone();
        roles.spawn(async move {
            netsettle_ca::serve(serve_config, listener, async move {
                let _ = stop.wait_for(|stop| *stop).await;
            })
            .await
            .context("CA role")
        });
    }

    let network = match &context.config.network {
        Some(network_config) => {
            let network = start_network(&context, network_config).await?;
            ready.push(format!("node_id={}", network.node_id()));
            ready.push(format!("p2p={}", network.listen_addr()));
            Some(network)
        }
        None => None,
    };

    let orderer = match (&context.config.orderer, &network) {
        (Some(orderer_config), Some(network)) => {
            let (orderer, consenter_id) =
                start_orderer(&context, orderer_config, &network.handle())?;
            ready.push(format!("orderer=consenter-{consenter_id}"));
            Some(orderer)
        }
        (Some(_), None) => bail!("the orderer role needs a [network] section"),
        (None, _) => None,
    };

    let peer = match (&context.config.peer, &network, &context.ledger) {
        (Some(_), Some(network), Some(ledger)) => {
            let ledger = Arc::clone(ledger);
            let peer = peer_role::start(
                &context,
                ledger,
                &network.handle(),
                shutdown_rx.clone(),
                &mut roles,
            )?;
            ready.push("peer=on".to_owned());
            Some(peer)
        }
        (Some(_), None, _) => bail!("the peer role needs a [network] section"),
        _ => None,
    };

    if let Some(ledger) = &context.ledger {
        ready.push(format!("height={}", ledger.chain_info()?.height));
    }
    ready.push(format!("channel={}", context.channel_config.channel));
    // The readiness line: scripts and tests wait for it instead of sleeping.
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "netsettle node ready {}", ready.join(" ")).context("stdout")?;
    stdout.flush().context("stdout")?;
    drop(stdout);
    tracing::info!(name = %context.config.name, "node started");

    let outcome = tokio::select! {
        name = signals.recv() => {
            tracing::info!(signal = name, "shutting down");
            Ok(())
        }
        Some(finished) = roles.join_next() => {
            // A role must run until shutdown; one that ends early takes the node down.
            match finished {
                Ok(Ok(())) => Err(anyhow::anyhow!("a role stopped unexpectedly")),
                Ok(Err(error)) => Err(error),
                Err(panic) => Err(anyhow::anyhow!("a role task failed: {panic}")),
            }
        }
    };
    let _ = shutdown_tx.send(true);
    while let Some(finished) = roles.join_next().await {
        if let Ok(Err(error)) = finished {
            tracing::warn!(error = %format!("{error:#}"), "role stopped with an error");
        }
    }
    if let Some(peer) = peer {
        // Delivery stopped with the roles, which closes the committer's block queue.
        peer.handle.join().await;
    }
    if let Some(orderer) = orderer {
        orderer.shutdown().await;
    }
    if let Some(network) = network {
        network.shutdown().await;
    }
    outcome
}

/// Starts the orderer role: finds this node among the channel's consenters by its TLS
/// certificate (in the join block's config for an orderer added later), then runs the
/// Raft ordering service and its admin service over the network.
fn start_orderer(
    context: &NodeContext,
    config: &OrdererRoleConfig,
    net: &netsettle_net::NetHandle,
) -> Result<(OrdererHandle, u64)> {
    let channel_config = match &config.join_block {
        Some(path) => join_config(path, &context.channel_config.channel)?,
        None => context.channel_config.clone(),
    };
    let consenters = netsettle_msp::consenter_nodes(&channel_config, NodeId::from_public_key)?;
    let me = net.local_node();
    let consenter_id = consenters
        .iter()
        .find_map(|(id, node)| (*node == me).then_some(*id))
        .with_context(|| {
            format!(
                "this node's TLS certificate (node id {me}) is not a consenter of channel {} (config sequence {})",
                channel_config.channel, channel_config.sequence
            )
        })?;
    let mut core = CoreConfig::new(consenter_id);
    if let Some(tick_ms) = config.tick_ms {
        core.tick_ms = tick_ms;
    }
    if let Some(entries) = config.snapshot_interval_entries {
        if entries <= netsettle_orderer::limits::LOG_KEPT_BEHIND_SNAPSHOT_ENTRIES {
            bail!(
                "orderer.snapshot_interval_entries must be over {}",
                netsettle_orderer::limits::LOG_KEPT_BEHIND_SNAPSHOT_ENTRIES
            );
        }
        core.snapshot_interval_entries = entries;
    }
    let service_config = ServiceConfig {
        core,
        signer: netsettle_orderer::Signer {
            key: context.signing_key.clone(),
            identity: context.identity.clone(),
        },
        genesis: context.genesis.clone(),
        data_dir: context.config.data_dir.join("orderer"),
    };
    let transport = FollowingTransport::new(net.clone(), &channel_config)?;
    let orderer = OrdererService::spawn(service_config, Arc::new(transport))?;
    netsettle_orderer::net::serve(net, &orderer)?;
    netsettle_orderer::admin::serve(net, &orderer)?;
    tracing::info!(consenter_id, "orderer role started");
    Ok((orderer, consenter_id))
}

/// The configuration of the config block an added orderer joins with.
fn join_config(path: &Path, channel: &str) -> Result<ChannelConfig> {
    let bytes = read_bounded(path, netsettle_protocol::limits::BLOCK_BYTES_MAX)?;
    let block: Block = netsettle_protocol::decode(&bytes)
        .with_context(|| format!("decoding join block {}", path.display()))?;
    let config = block
        .config()
        .cloned()
        .with_context(|| format!("join block {} holds no configuration", path.display()))?;
    if config.channel != channel {
        bail!(
            "join block {} is for channel {:?}, not {channel:?}",
            path.display(),
            config.channel
        );
    }
    Ok(config)
}

/// Starts libp2p over SM-TLS with the node's TLS identity, trusting the channel's
/// organisations. Every role may connect at this level; each service names the roles it
/// serves.
async fn start_network(context: &NodeContext, config: &NetworkConfig) -> Result<Network> {
    let layout = netsettle_ca::IdentityLayout::new(&context.config.identity.dir);
    let identity = layout
        .tls_identity()
        .with_context(|| format!("loading the TLS identity in {}", layout.root().display()))?;
    let trust = ChannelTrust::new(
        &context.channel_config,
        &[Role::Orderer, Role::Peer, Role::Client, Role::Admin],
    )?;
    let mut net_config = NetConfig::new(identity, trust, config.listen);
    net_config.external = config.external;
    for peer in &config.peers {
        let node_id: NodeId = peer
            .node_id
            .parse()
            .with_context(|| format!("network.peers: bad node id {:?}", peer.node_id))?;
        net_config.known_peers.push((node_id, peer.address));
    }
    Network::start(net_config)
        .await
        .with_context(|| format!("starting the network on {}", config.listen))
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
