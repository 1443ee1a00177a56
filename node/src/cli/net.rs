//! `netsettle net id|listen|ping`: the node-to-node network (libp2p over SM-TLS) between
//! real processes, for tests, benches and the demo, before the orderer and peer roles run
//! over it. `listen` serves `echo` (payload back) and `bulk` (its length back);
//! `ping` makes N requests of a given size to one of them and prints the rates.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context as _, Result, bail};
use netsettle_net::{ChannelTrust, ConnectionEvent, NetConfig, Network, NodeId};
use netsettle_protocol::limits::BLOCK_BYTES_MAX;
use netsettle_protocol::{Block, Role};
use netsettle_smtls::TlsIdentity;

use crate::shared::read_bounded;

/// Largest request `ping` sends.
const PING_SIZE_MAX: usize = 64 * 1024 * 1024;

/// A node's network identity and the channel it trusts.
#[derive(Debug, clap::Args)]
pub struct NetNodeArgs {
    /// Identity directory (`tls/cert.pem`, `tls/key.pem`), as `ca bootstrap` writes it.
    #[arg(long)]
    identity: PathBuf,
    /// The channel's genesis (or latest config) block: which organisations may connect.
    #[arg(long)]
    genesis: PathBuf,
    /// Address to listen on inside this carrier's cloud; port 0 picks a free one.
    #[arg(long)]
    listen: SocketAddr,
    /// Address other nodes dial (the DMZ forwarder's public ip:port).
    #[arg(long)]
    external: Option<SocketAddr>,
    /// A node to keep connected, `NODE_ID@ip:port`; repeatable.
    #[arg(long = "peer")]
    peers: Vec<String>,
}

/// Network commands.
#[derive(Debug, clap::Subcommand)]
pub enum NetCommand {
    /// Print the node id of a TLS certificate.
    Id {
        /// TLS certificate (PEM, leaf first).
        #[arg(long)]
        cert: PathBuf,
    },
    /// Run a network node serving `echo` and `bulk` until killed; prints
    /// `listening node=ID addr=ADDR` when ready and one line per connection event.
    Listen {
        #[command(flatten)]
        node: NetNodeArgs,
    },
    /// Send `count` requests of `size` bytes to a node and print round trips/s and MB/s.
    Ping {
        #[command(flatten)]
        node: NetNodeArgs,
        /// The node to ping.
        #[arg(long)]
        to: String,
        /// Its address (direct or through a DMZ forwarder).
        #[arg(long)]
        addr: SocketAddr,
        /// Requests to make, one after another.
        #[arg(long, default_value_t = 1)]
        count: u32,
        /// Payload bytes per request.
        #[arg(long, default_value_t = 64)]
        size: usize,
        /// Use the `bulk` service (replies with the length only) instead of `echo`.
        #[arg(long)]
        bulk: bool,
    },
}

pub fn run(command: NetCommand) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    match command {
        NetCommand::Id { cert } => {
            let certificate = netsettle_smcrypto::x509::Certificate::read_pem_file(&cert)
                .with_context(|| format!("reading {}", cert.display()))?;
            println!("{}", NodeId::from_certificate(&certificate));
            Ok(())
        }
        NetCommand::Listen { node } => runtime.block_on(listen(&node)),
        NetCommand::Ping {
            node,
            to,
            addr,
            count,
            size,
            bulk,
        } => runtime.block_on(ping(&node, &to, addr, count, size, bulk)),
    }
}

fn read_channel_config(path: &Path) -> Result<netsettle_protocol::ChannelConfig> {
    let bytes = read_bounded(path, BLOCK_BYTES_MAX)?;
    let block: Block = netsettle_protocol::decode(&bytes)
        .with_context(|| format!("decoding block {}", path.display()))?;
    block
        .config()
        .cloned()
        .with_context(|| format!("{} is not a config block", path.display()))
}

fn parse_peer(text: &str) -> Result<(NodeId, SocketAddr)> {
    let (id, addr) = text
        .split_once('@')
        .with_context(|| format!("peer {text:?} is not NODE_ID@ip:port"))?;
    Ok((
        id.parse()?,
        addr.parse().with_context(|| format!("address {addr:?}"))?,
    ))
}

fn net_config(args: &NetNodeArgs) -> Result<NetConfig> {
    let identity = TlsIdentity::from_pem_files(
        &args.identity.join("tls").join("cert.pem"),
        &args.identity.join("tls").join("key.pem"),
    )
    .with_context(|| format!("loading TLS identity from {}", args.identity.display()))?;
    let channel = read_channel_config(&args.genesis)?;
    let trust = ChannelTrust::new(&channel, &[Role::Peer, Role::Orderer])?;
    let mut config = NetConfig::new(identity, trust, args.listen);
    config.external = args.external;
    config.known_peers = args
        .peers
        .iter()
        .map(|peer| parse_peer(peer))
        .collect::<Result<_>>()?;
    Ok(config)
}

fn print_line(line: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{line}");
    let _ = stdout.flush();
}

async fn listen(args: &NetNodeArgs) -> Result<()> {
    let network = Network::start(net_config(args)?).await?;
    let net = network.handle();
    let mut events = net.events();
    let allowed = [Role::Peer, Role::Orderer];
    let mut echo = net.serve("echo", &allowed)?;
    let mut bulk = net.serve("bulk", &allowed)?;
    print_line(&format!(
        "listening node={} addr={}",
        network.node_id(),
        network.listen_addr()
    ));
    loop {
        tokio::select! {
            Some(request) = echo.recv() => {
                let payload = request.payload.clone();
                let _ = request.respond(payload).await;
            }
            Some(request) = bulk.recv() => {
                let len = u64::try_from(request.payload.len()).unwrap_or(u64::MAX);
                let _ = request.respond(len.to_be_bytes().to_vec()).await;
            }
            event = events.recv() => match event {
                Ok(event) => print_event(&event),
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    print_line(&format!("events-lost count={n}"));
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
            },
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    network.shutdown().await;
    Ok(())
}

fn print_event(event: &ConnectionEvent) {
    let line = match event {
        ConnectionEvent::Connected { peer, address } => format!(
            "connected node={} msp={} role={:?} from={}",
            peer.node_id,
            peer.msp_id,
            peer.role,
            address.map_or_else(|| "?".to_owned(), |a| a.to_string())
        ),
        ConnectionEvent::Disconnected { node } => format!("disconnected node={node}"),
        ConnectionEvent::DialFailed { node, reason } => format!(
            "dial-failed node={} reason={reason}",
            node.map_or_else(|| "?".to_owned(), |n| n.to_string())
        ),
        ConnectionEvent::InboundRefused { from, reason } => format!(
            "refused from={} reason={reason}",
            from.map_or_else(|| "?".to_owned(), |a| a.to_string())
        ),
        other => format!("{other:?}"),
    };
    print_line(&line);
}

async fn ping(
    args: &NetNodeArgs,
    to: &str,
    addr: SocketAddr,
    count: u32,
    size: usize,
    bulk: bool,
) -> Result<()> {
    if size > PING_SIZE_MAX {
        bail!("--size is at most {PING_SIZE_MAX} bytes");
    }
    let node: NodeId = to.parse()?;
    let mut config = net_config(args)?;
    config.known_peers.push((node, addr));
    let network = Network::start(config).await?;
    let net = network.handle();
    let service = if bulk { "bulk" } else { "echo" };
    let payload = vec![0x5a; size];
    // The first request connects (TCP, SM-TLS, yamux); time the rest separately.
    let connect_started = Instant::now();
    net.request(node, service, payload.clone()).await?;
    let connect_ms = connect_started.elapsed().as_secs_f64() * 1000.0;
    let started = Instant::now();
    for _ in 1..count {
        let reply = net.request(node, service, payload.clone()).await?;
        let expected = if bulk { 8 } else { size };
        if reply.len() != expected {
            bail!("reply of {} bytes, expected {expected}", reply.len());
        }
    }
    let timed = count.saturating_sub(1);
    let seconds = started.elapsed().as_secs_f64().max(1e-9);
    let per_second = f64::from(timed) / seconds;
    let megabytes_per_second = per_second * size as f64 / 1_000_000.0;
    print_line(&format!(
        "ping ok service={service} count={count} size={size} first_ms={connect_ms:.1} \
         round_trips_per_s={per_second:.0} mb_per_s={megabytes_per_second:.1}"
    ));
    network.shutdown().await;
    Ok(())
}
