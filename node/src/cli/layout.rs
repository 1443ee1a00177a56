//! `netsettle layout render`: turns a deployment layout (which node runs where, behind
//! which DMZ; see `configs/local.toml`) into one `netsettle node --config` file per process
//! and one forwarder map per carrier DMZ.
//!
//! The rule it encodes: a node dials nodes of its own carrier at their listen address
//! inside the cloud, and nodes of the other carrier only at that carrier's DMZ forwarder.
//! Node ids come from the nodes' TLS certificates, so the layout never repeats them.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use netsettle_client::{ConnectionProfile, ProfileNode};
use netsettle_net::NodeId;
use netsettle_peer::net::DeliverFrom;

use crate::shared::{read_certificate, read_text};

/// `netsettle layout …`
#[derive(Debug, clap::Subcommand)]
pub enum LayoutCommand {
    /// Write DIR/nodes/ORG-NAME.toml for every node, DIR/dmz/ORG.map for every DMZ and
    /// DIR/clients/ORG.toml, each carrier's connection profile.
    Render {
        /// The layout, e.g. configs/local.toml.
        #[arg(long)]
        layout: PathBuf,
        /// The deployment directory: holds the `ca bootstrap` output and genesis block
        /// the layout names, and receives `nodes/` and `dmz/`.
        #[arg(long)]
        base: PathBuf,
    },
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Layout {
    channel: String,
    genesis: PathBuf,
    orgs: Vec<LayoutOrg>,
    nodes: Vec<LayoutNode>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct LayoutOrg {
    msp_id: String,
    domain: String,
    crypto: PathBuf,
    dmz: IpAddr,
    clients: IpAddr,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
enum NodeKind {
    Orderer,
    Peer,
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct LayoutNode {
    name: String,
    org: String,
    kind: NodeKind,
    listen: SocketAddr,
    public_port: u16,
    ca: Option<SocketAddr>,
    /// Peers only: `"gossip"` for a peer with no orderer connection.
    #[serde(default)]
    deliver: DeliverFrom,
    /// The node's operations listener (`[operations]`), if it has one.
    operations: Option<SocketAddr>,
}

/// One node with everything derived: its full name, identity directory, node id and the
/// address the other carrier dials.
struct Placed<'a> {
    node: &'a LayoutNode,
    org: &'a LayoutOrg,
    full_name: String,
    identity_dir: PathBuf,
    node_id: NodeId,
    public: SocketAddr,
}

pub fn run(command: LayoutCommand) -> Result<()> {
    match command {
        LayoutCommand::Render { layout, base } => render(&layout, &base),
    }
}

fn render(layout_path: &Path, base: &Path) -> Result<()> {
    let layout: Layout = toml::from_str(&read_text(layout_path)?)
        .with_context(|| format!("parsing layout {}", layout_path.display()))?;
    let placed = place(&layout, base)?;
    let nodes_dir = base.join("nodes");
    let dmz_dir = base.join("dmz");
    let clients_dir = base.join("clients");
    for dir in [&nodes_dir, &dmz_dir, &clients_dir] {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    for node in &placed {
        let path = nodes_dir.join(format!("{}.toml", file_stem(node)));
        std::fs::write(&path, node_config(&layout, node, &placed)?)
            .with_context(|| format!("writing {}", path.display()))?;
        println!(
            "node {:<28} {} -> {}",
            node.full_name,
            node.node.listen,
            path.display()
        );
    }
    for org in &layout.orgs {
        let mut map = String::new();
        for node in placed.iter().filter(|node| node.org.msp_id == org.msp_id) {
            writeln!(map, "{}={}", node.public, node.node.listen)?;
        }
        let path = dmz_dir.join(format!("{}.map", org.msp_id));
        std::fs::write(&path, map).with_context(|| format!("writing {}", path.display()))?;
        println!("dmz  {:<28} {} -> {}", org.msp_id, org.dmz, path.display());
        let path = clients_dir.join(format!("{}.toml", org.msp_id.to_lowercase()));
        std::fs::write(&path, client_profile(&layout, org, &placed)?)
            .with_context(|| format!("writing {}", path.display()))?;
        println!(
            "client {:<26} {} -> {}",
            org.msp_id,
            org.clients,
            path.display()
        );
    }
    Ok(())
}

/// The address `from` uses for `node`: inside the cloud for its own carrier, the other
/// carrier's DMZ forwarder otherwise.
fn address_from(msp_id: &str, node: &Placed<'_>) -> SocketAddr {
    if node.org.msp_id == msp_id {
        node.node.listen
    } else {
        node.public
    }
}

/// A carrier's connection profile: its peers and orderers first, then the other
/// carrier's through its DMZ.
fn client_profile(layout: &Layout, org: &LayoutOrg, all: &[Placed<'_>]) -> Result<String> {
    let mut ordered: Vec<&Placed<'_>> = all.iter().collect();
    ordered.sort_by_key(|node| node.org.msp_id != org.msp_id);
    let nodes = |kind: NodeKind| -> Vec<ProfileNode> {
        ordered
            .iter()
            .filter(|node| node.node.kind == kind)
            .map(|node| ProfileNode {
                msp_id: node.org.msp_id.clone(),
                node_id: node.node_id.to_string(),
                address: address_from(&org.msp_id, node),
            })
            .collect()
    };
    let profile = ConnectionProfile::new(
        org.msp_id.clone(),
        layout.channel.clone(),
        Path::new("..").join(&layout.genesis),
        SocketAddr::new(org.clients, 0),
        nodes(NodeKind::Peer),
        nodes(NodeKind::Orderer),
    );
    Ok(format!(
        "# Generated by `netsettle layout render`; edits are overwritten.\n\
         # {}'s connection profile for netsettle tx / lifecycle / orderer.\n{}",
        org.msp_id,
        profile.to_toml()?
    ))
}

fn place<'a>(layout: &'a Layout, base: &Path) -> Result<Vec<Placed<'a>>> {
    let mut seen_public = BTreeMap::new();
    let mut placed = Vec::with_capacity(layout.nodes.len());
    for node in &layout.nodes {
        let org = layout
            .orgs
            .iter()
            .find(|org| org.msp_id == node.org)
            .with_context(|| format!("node {}: unknown org {}", node.name, node.org))?;
        let full_name = format!("{}.{}", node.name, org.domain);
        if node.kind == NodeKind::Orderer && node.deliver != DeliverFrom::Orderers {
            bail!("{full_name}: `deliver` is for peers");
        }
        let kind_dir = match node.kind {
            NodeKind::Orderer => "orderers",
            NodeKind::Peer => "peers",
        };
        let identity_dir = org.crypto.join(kind_dir).join(&full_name);
        let tls_cert = base.join(&identity_dir).join("tls/cert.pem");
        let node_id = NodeId::from_certificate(&read_certificate(&tls_cert)?);
        let public = SocketAddr::new(org.dmz, node.public_port);
        if let Some(other) = seen_public.insert(public, full_name.clone()) {
            bail!("{full_name} and {other} share the DMZ address {public}");
        }
        placed.push(Placed {
            node,
            org,
            full_name,
            identity_dir,
            node_id,
            public,
        });
    }
    Ok(placed)
}

fn file_stem(node: &Placed<'_>) -> String {
    format!("{}-{}", node.org.msp_id.to_lowercase(), node.node.name)
}

/// The node's config file. Paths are relative to `nodes/`, so the deployment directory
/// can move as a whole.
fn node_config(layout: &Layout, node: &Placed<'_>, all: &[Placed<'_>]) -> Result<String> {
    let up = |path: &Path| Path::new("..").join(path).display().to_string();
    let mut text = String::new();
    writeln!(
        text,
        "# Generated by `netsettle layout render`; edits are overwritten."
    )?;
    writeln!(text, "name = {:?}", node.full_name)?;
    writeln!(
        text,
        "data_dir = {:?}",
        up(&Path::new("data").join(&node.full_name))
    )?;
    writeln!(text, "\n[identity]\nmsp_id = {:?}", node.org.msp_id)?;
    writeln!(text, "dir = {:?}", up(&node.identity_dir))?;
    writeln!(text, "\n[channel]\nname = {:?}", layout.channel)?;
    writeln!(text, "genesis = {:?}", up(&layout.genesis))?;
    writeln!(text, "\n[network]\nlisten = \"{}\"", node.node.listen)?;
    writeln!(text, "external = \"{}\"", node.public)?;
    for other in all
        .iter()
        .filter(|other| other.full_name != node.full_name && !orderer_link_refused(node, other))
    {
        let address = address_from(&node.org.msp_id, other);
        writeln!(text, "\n[[network.peers]]  # {}", other.full_name)?;
        writeln!(
            text,
            "node_id = \"{}\"\naddress = \"{address}\"",
            other.node_id
        )?;
    }
    match (node.node.kind, node.node.deliver) {
        (NodeKind::Orderer, _) => writeln!(text, "\n[orderer]")?,
        (NodeKind::Peer, DeliverFrom::Orderers) => writeln!(text, "\n[peer]")?,
        (NodeKind::Peer, DeliverFrom::Gossip) => writeln!(text, "\n[peer]\ndeliver = \"gossip\"")?,
    }
    if let Some(ca) = node.node.ca {
        writeln!(text, "\n[ca]\ndir = {:?}", up(&node.org.crypto.join("ca")))?;
        writeln!(text, "listen = \"{ca}\"")?;
    }
    if let Some(operations) = node.node.operations {
        writeln!(text, "\n[operations]\nlisten = \"{operations}\"")?;
    }
    Ok(text)
}

/// A gossip-only peer has no orderer connection: neither side lists the other.
fn orderer_link_refused(a: &Placed<'_>, b: &Placed<'_>) -> bool {
    let gossip_only = |node: &Placed<'_>| {
        node.node.kind == NodeKind::Peer && node.node.deliver == DeliverFrom::Gossip
    };
    (gossip_only(a) && b.node.kind == NodeKind::Orderer)
        || (gossip_only(b) && a.node.kind == NodeKind::Orderer)
}
