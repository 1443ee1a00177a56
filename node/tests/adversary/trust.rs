//! Trust follows the channel (issue 15), over real processes: five Raft orderers and two
//! peers per carrier behind both DMZ forwarders (loopback slot 15), and test-side network
//! speakers (`netsettle_net` in this process) that dial every node directly.
//!
//! - A Unicom identity minted at Unicom's CA (a peer certificate of no node the
//!   connection profile lists) is answered by every node. Unicom's CA revokes it; a CRL
//!   update signed by both carriers' admins is submitted through the orderers. Every
//!   node, orderer-only nodes included, then closes its session and refuses its new
//!   handshakes, without a restart.
//! - A node of a third organisation (PartnerMSP, its own CA from `netsettle ca bootstrap`)
//!   is refused by every node until a config update adds its root, then answered by
//!   every node, again without a restart.
//!
//! Afterwards every ledger verifies and the peers' ledgers are identical.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::Path;

use netsettle_net::{ConnectionEvent, NetError, NetHandle, Network, NodeId};
use netsettle_protocol::{
    Block, BlockRange, ChannelConfig, ORDERER_BLOCKS_SERVICE, PEER_BLOCKS_SERVICE,
};
use netsettle_smcrypto::x509::Certificate;
use netsettle_smtls::TlsIdentity;
use netsettle_testkit::WAIT_MAX;
use netsettle_testkit::process::{ADMIN_U, Consortium, Netsettle, ORDERERS, PEERS, Process};
use tokio::sync::broadcast;

/// The binary under test.
const NETSETTLE: Netsettle = Netsettle(env!("CARGO_BIN_EXE_netsettle"));

/// This file's loopback range: 127.15.x.x.
const SLOT: u8 = 15;

/// The minted Unicom identity: a peer certificate of a node no profile lists.
const INTRUDER: &str = "intruder";
/// Where the intruder listens, inside Unicom's cloud.
const INTRUDER_LISTEN: &str = "127.15.1.40:0";
/// The third organisation's spec (`netsettle ca bootstrap`).
const PARTNER_SPEC: &str = r#"
[org]
name = "partner"
msp_id = "PartnerMSP"
domain = "partner.example"

[ca]
hosts = ["127.15.5.1"]

[[peers]]
name = "peer0"
hosts = ["127.15.5.20"]

[[admins]]
name = "admin"
"#;
const PARTNER_PEER: &str = "crypto/partner/peers/peer0.partner.example";
const PARTNER_LISTEN: &str = "127.15.5.20:0";

/// A node under test as a speaker reaches it.
struct Node {
    name: &'static str,
    id: NodeId,
    address: SocketAddr,
    /// A service of its role that a peer-role caller may use.
    service: &'static str,
}

#[test]
fn revoked_and_new_roots_take_effect_at_every_node_without_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let Consortium {
        peers,
        orderers,
        dmz: _dmz,
    } = NETSETTLE.start_consortium(dir, SLOT, &ORDERERS, &PEERS);
    let nodes = nodes(&orderers, &peers);
    let genesis = genesis_config(dir);
    let ca = orderers[0].field("ca");
    mint_intruder(dir, &ca);

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let intruder = runtime.block_on(async {
        let intruder = speaker(dir, INTRUDER, &genesis, INTRUDER_LISTEN, &nodes).await;
        for node in &nodes {
            answered(&intruder.handle(), node).await;
        }
        intruder
    });
    let mut intruder_events = intruder.handle().events();

    revoke_intruder(dir, &ca);
    runtime.block_on(async {
        let net = intruder.handle();
        closed_then_refused(&mut intruder_events, &nodes, "revoked").await;
        for node in &nodes {
            refused(&net, node, "revoked").await;
        }
    });

    NETSETTLE.ok(
        dir,
        &[
            "ca",
            "bootstrap",
            "--spec",
            &partner_spec(dir),
            "--out",
            "crypto/partner",
        ],
    );
    let partner = runtime.block_on(async {
        let partner = speaker(dir, PARTNER_PEER, &genesis, PARTNER_LISTEN, &nodes).await;
        let net = partner.handle();
        for node in &nodes {
            refused(&net, node, "").await;
        }
        partner
    });
    let mut partner_events = partner.handle().events();
    add_partner(dir);
    runtime.block_on(async {
        let net = partner.handle();
        each_node(
            &mut partner_events,
            &nodes,
            "connected",
            |event| match event {
                ConnectionEvent::Connected { peer, .. } => Some(peer.node_id),
                _ => None,
            },
        )
        .await;
        for node in &nodes {
            answered(&net, node).await;
        }
        // The revoked identity stays refused under the newer config too.
        refused(&intruder.handle(), &nodes[0], "revoked").await;
        intruder.shutdown().await;
        partner.shutdown().await;
    });

    for peer in peers {
        peer.stop();
    }
    for orderer in orderers {
        orderer.stop();
    }
    ledgers_verify_and_agree(dir);
}

/// Every started node with its id and listen address from its readiness line.
fn nodes(orderers: &[Process], peers: &[Process]) -> Vec<Node> {
    let orderers = ORDERERS
        .iter()
        .zip(orderers)
        .map(|(name, process)| (*name, process, ORDERER_BLOCKS_SERVICE));
    let peers = PEERS
        .iter()
        .zip(peers)
        .map(|(name, process)| (*name, process, PEER_BLOCKS_SERVICE));
    orderers
        .chain(peers)
        .map(|(name, process, service)| Node {
            name,
            id: process.field("node_id").parse().unwrap(),
            address: process.field("p2p").parse().unwrap(),
            service,
        })
        .collect()
}

fn genesis_config(dir: &Path) -> ChannelConfig {
    let bytes = std::fs::read(dir.join("genesis.block")).unwrap();
    let block: Block = netsettle_protocol::decode(&bytes).unwrap();
    block.config().cloned().unwrap()
}

/// The arguments that reach Unicom's CA as Unicom's admin.
fn unicom_ca(ca: &str) -> [&str; 8] {
    [
        "--ca",
        ca,
        "--ca-cert",
        "crypto/unicom/msp/cacerts/ca.pem",
        "--server-name",
        "ca.unicom.example",
        "--identity",
        ADMIN_U[3],
    ]
}

/// Unicom's CA issues a peer identity to a node that is not in the layout.
fn mint_intruder(dir: &Path, ca: &str) {
    let mut register = vec!["ca", "register"];
    register.extend(unicom_ca(ca));
    register.extend([
        "--name",
        INTRUDER,
        "--role",
        "peer",
        "--host",
        "127.15.1.40",
    ]);
    let secret = NETSETTLE.ok(dir, &register);
    let mut enroll = vec!["ca", "enroll"];
    enroll.extend(&unicom_ca(ca)[..6]);
    enroll.extend([
        "--name",
        INTRUDER,
        "--secret",
        secret.trim(),
        "--out",
        INTRUDER,
    ]);
    NETSETTLE.ok(dir, &enroll);
}

/// A network node of this process holding the identity in `identity_dir`, trusting the
/// genesis config, keeping every node under test known (redialled while refused).
async fn speaker(
    dir: &Path,
    identity_dir: &str,
    genesis: &ChannelConfig,
    listen: &str,
    nodes: &[Node],
) -> Network {
    let tls = dir.join(identity_dir).join("tls");
    let identity = TlsIdentity::from_pem_files(&tls.join("cert.pem"), &tls.join("key.pem"))
        .expect("the speaker's TLS identity");
    let network = netsettle_testkit::net::start(identity, genesis, listen).await;
    for node in nodes {
        network
            .handle()
            .add_address(node.id, node.address)
            .await
            .unwrap();
    }
    network
}

/// The node answers a request of its service (the service's refusal is an answer too:
/// the request was authenticated and routed).
async fn answered(net: &NetHandle, node: &Node) {
    let range = netsettle_protocol::encode(&BlockRange { start: 0, end: 1 }).unwrap();
    match net.request(node.id, node.service, range).await {
        Ok(_) | Err(NetError::Refused { .. }) => {}
        Err(error) => panic!("{} does not answer: {error}", node.name),
    }
}

/// The node refuses the handshake; the reason names `why` (if not empty).
async fn refused(net: &NetHandle, node: &Node, why: &str) {
    let range = netsettle_protocol::encode(&BlockRange { start: 0, end: 1 }).unwrap();
    match net.request(node.id, node.service, range).await {
        Err(NetError::Unreachable { reason, .. }) => {
            assert!(
                reason.to_lowercase().contains(why),
                "{} refused, but not as {why:?}: {reason}",
                node.name
            );
        }
        other => panic!("{} did not refuse the handshake: {other:?}", node.name),
    }
}

/// Waits until every node produced an event `pick` names it in; fails after
/// [`WAIT_MAX`] naming the nodes that did not.
async fn each_node(
    events: &mut broadcast::Receiver<ConnectionEvent>,
    nodes: &[Node],
    what: &str,
    mut pick: impl FnMut(&ConnectionEvent) -> Option<NodeId>,
) {
    let mut missing: BTreeSet<String> = nodes.iter().map(|node| node.id.to_string()).collect();
    let wait = async {
        while !missing.is_empty() {
            match events.recv().await {
                Ok(event) => {
                    if let Some(node) = pick(&event) {
                        missing.remove(&node.to_string());
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => panic!("events closed"),
            }
        }
    };
    if tokio::time::timeout(WAIT_MAX, wait).await.is_err() {
        let names: Vec<&str> = nodes
            .iter()
            .filter(|node| missing.contains(&node.id.to_string()))
            .map(|node| node.name)
            .collect();
        panic!("no {what} from {names:?} within {WAIT_MAX:?}");
    }
}

/// Every node closes the speaker's session, then refuses its redial in the handshake,
/// with a reason naming `why`.
async fn closed_then_refused(
    events: &mut broadcast::Receiver<ConnectionEvent>,
    nodes: &[Node],
    why: &str,
) {
    let mut closed = BTreeSet::new();
    each_node(events, nodes, "close, then refused redial", |event| {
        match event {
            ConnectionEvent::Disconnected { node } => {
                closed.insert(*node);
            }
            ConnectionEvent::DialFailed {
                node: Some(node),
                reason,
            } if closed.contains(node) && reason.to_lowercase().contains(why) => {
                return Some(*node);
            }
            _ => {}
        }
        None
    })
    .await;
}

/// Unicom's CA revokes the intruder; the CRL goes into the channel config with both
/// carriers' admins' signatures, submitted through the orderers.
fn revoke_intruder(dir: &Path, ca: &str) {
    let mut revoke = vec!["ca", "revoke"];
    revoke.extend(unicom_ca(ca));
    revoke.extend(["--name", INTRUDER, "--reason", "keyCompromise"]);
    NETSETTLE.ok(dir, &revoke);
    NETSETTLE.unicom_crl_update(dir, &unicom_ca(ca));
    sign_and_submit(dir, "crl-update.json", 1);
}

fn partner_spec(dir: &Path) -> String {
    let path = dir.join("partner.toml");
    std::fs::write(&path, PARTNER_SPEC).unwrap();
    path.to_str().unwrap().to_owned()
}

/// A config update adding PartnerMSP (its roots; policies like Unicom's), signed by both
/// carriers' admins and submitted through the orderers.
fn add_partner(dir: &Path) {
    let ledger = "data/peer0.unicom.example/ledger";
    let current = NETSETTLE.ok(dir, &["configtx", "inspect", "--from-ledger", ledger]);
    let mut config: serde_json::Value = serde_json::from_str(&current).unwrap();
    let orgs = config["orgs"].as_array_mut().unwrap();
    let mut partner = orgs
        .iter()
        .find(|org| org["msp_id"] == "UnicomMSP")
        .unwrap()
        .clone();
    let der = |path: &str| {
        let certificate = Certificate::read_pem_file(&dir.join(path)).unwrap();
        serde_json::json!([certificate.der()])
    };
    let policies = partner["policies"]
        .to_string()
        .replace("UnicomMSP", "PartnerMSP");
    partner["msp_id"] = "PartnerMSP".into();
    partner["root_certs_der"] = der("crypto/partner/msp/cacerts/ca.pem");
    partner["tls_root_certs_der"] = der("crypto/partner/msp/tlscacerts/ca.pem");
    partner["intermediate_certs_der"] = serde_json::json!([]);
    partner["crls_der"] = serde_json::json!([]);
    partner["anchor_peers"] = serde_json::json!([]);
    partner["orderer_endpoints"] = serde_json::json!([]);
    partner["policies"] = serde_json::from_str(&policies).unwrap();
    orgs.push(partner);
    orgs.sort_by_key(|org| org["msp_id"].as_str().unwrap().to_owned());
    std::fs::write(dir.join("partner.json"), config.to_string()).unwrap();
    NETSETTLE.ok(
        dir,
        &[
            "configtx",
            "update",
            "--from-ledger",
            ledger,
            "--edited",
            "partner.json",
            "--out",
            "partner-update.json",
        ],
    );
    sign_and_submit(dir, "partner-update.json", 2);
}

/// Both carriers' admins sign `update`; Unicom's admin submits it and waits for Unicom's
/// peers to have config `sequence` in force.
fn sign_and_submit(dir: &Path, update: &str, sequence: u64) {
    for (carrier, msp_id) in [("unicom", "UnicomMSP"), ("mobile", "MobileMSP")] {
        let admin = format!("crypto/{carrier}/users/admin@{carrier}.example/msp");
        NETSETTLE.ok(
            dir,
            &[
                "configtx",
                "sign",
                "--update",
                update,
                "--signer-key",
                &format!("{admin}/keystore/key.pem"),
                "--signer-cert",
                &format!("{admin}/signcerts/cert.pem"),
                "--signer-msp",
                msp_id,
            ],
        );
    }
    let mut submit = vec!["configtx", "submit"];
    submit.extend(ADMIN_U);
    submit.extend(["--update", update]);
    let submitted = NETSETTLE.ok(dir, &submit);
    assert!(
        submitted.contains(&format!("config sequence {sequence}")),
        "{submitted}"
    );
}

/// Every peer's and orderer's ledger verifies; the peers' ledgers are identical and end
/// with the partner's config in force.
fn ledgers_verify_and_agree(dir: &Path) {
    let peer_ledgers = PEERS.map(|name| {
        let (org, node) = name.split_once('-').unwrap();
        let domain = org.trim_end_matches("msp");
        format!("data/{node}.{domain}.example/ledger")
    });
    for ledger in &peer_ledgers {
        let verified = NETSETTLE.ok(dir, &["ledger", "verify", "--path", ledger]);
        assert!(verified.contains("height 3"), "{ledger}: {verified}");
        let config = NETSETTLE.ok(dir, &["configtx", "inspect", "--from-ledger", ledger]);
        assert!(config.contains("PartnerMSP"), "{ledger}: {config}");
    }
    for name in ORDERERS {
        let (org, node) = name.split_once('-').unwrap();
        let domain = org.trim_end_matches("msp");
        let ledger = format!("data/{node}.{domain}.example/orderer/ledger");
        let verified = NETSETTLE.ok(dir, &["ledger", "verify", "--path", &ledger]);
        assert!(verified.contains("height 3"), "{ledger}: {verified}");
    }
    for other in &peer_ledgers[1..] {
        let compared = NETSETTLE.ok(dir, &["ledger", "compare", &peer_ledgers[0], other]);
        assert!(
            compared.lines().any(|line| line.trim() == "identical"),
            "{} vs {other}: {compared}",
            peer_ledgers[0]
        );
    }
}
