//! Block dissemination among peers, as real processes: five Raft orderers, two peers per
//! carrier, both DMZ forwarders (slot 7: 127.7.x.x). Mobile's peer1 runs with no orderer
//! connection (`deliver = "gossip"`): it gets every block from the other peers, by gossip
//! and state transfer (`peer-blocks`). Both peer1s are stopped, miss blocks, restart and
//! catch up (Unicom's from the orderers, Mobile's from peers only). At the end every
//! peer's ledger verifies and the carriers' ledgers compare identical.
//!
//! Waits are on events: readiness lines, the CLI's own commit wait, and `peer-tx-status`
//! requests the peer answers when the transaction commits there. Deadlines only mark
//! failure; every process is killed and reaped on drop.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use netsettle_net::{ChannelTrust, NetConfig, NetHandle, Network, NodeId};
use netsettle_protocol::{
    Block, ChannelConfig, Role, TX_STATUS_SERVICE, TxId, TxStatus, TxStatusRequest, decode, encode,
};
use netsettle_testkit::process::{Forwarder, Netsettle, ORDERERS, PEERS, Process, REPO};

/// The binary under test.
const NETSETTLE: Netsettle = Netsettle(env!("CARGO_BIN_EXE_netsettle"));

/// The longest the test waits for one peer to commit one transaction.
const COMMIT_DEADLINE: Duration = Duration::from_secs(40);
/// Pause before asking a peer again after a failed request (not a synchronisation: the
/// successful request itself waits for the commit).
const RETRY_PAUSE: Duration = Duration::from_millis(200);

/// The genesis block with anchor peers at this slot's DMZ addresses (the stock profile
/// names the demo's), then the layout with Mobile's peer1 gossip-only.
fn deploy(dir: &Path) {
    NETSETTLE.consortium(dir);
    let profile = std::fs::read_to_string(format!("{REPO}/configs/consortium.toml"))
        .unwrap()
        .replace("\"127.0.", "\"127.7.");
    assert!(profile.contains("anchor_peers = [\"127.7.3.1:7060\"]"));
    std::fs::write(dir.join("profile.toml"), profile).unwrap();
    NETSETTLE.genesis_from_profile(dir, "orderer0", "profile.toml");
    NETSETTLE.render_layout(dir, 7, "");
    let layout = std::fs::read_to_string(dir.join("layout.toml")).unwrap();
    let mobile_peer1 = "name = \"peer1\"\norg = \"MobileMSP\"\nkind = \"peer\"\n";
    assert!(layout.contains(mobile_peer1), "{layout}");
    let layout = layout.replace(
        mobile_peer1,
        &format!("{mobile_peer1}deliver = \"gossip\"\n"),
    );
    std::fs::write(dir.join("layout.toml"), layout).unwrap();
    NETSETTLE.ok(
        dir,
        &["layout", "render", "--layout", "layout.toml", "--base", "."],
    );
    let gossip_only = std::fs::read_to_string(dir.join("nodes/mobilemsp-peer1.toml")).unwrap();
    assert!(gossip_only.contains("deliver = \"gossip\""));
    assert!(!gossip_only.contains("# orderer"), "{gossip_only}");
    let orderer = std::fs::read_to_string(dir.join("nodes/unicommsp-orderer0.toml")).unwrap();
    assert!(!orderer.contains("peer1.mobile.example"), "{orderer}");
}

/// An agreement proposal; its transaction id once committed VALID at both endorsing
/// peers (the CLI waits for them).
fn propose_committed(dir: &Path) -> TxId {
    let output = NETSETTLE.propose(dir);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    committed_tx(&String::from_utf8_lossy(&output.stdout))
}

fn committed_tx(output: &str) -> TxId {
    assert!(output.contains("code=VALID"), "{output}");
    let tx = output
        .split_whitespace()
        .find_map(|word| word.strip_prefix("tx="))
        .unwrap_or_else(|| panic!("no tx= in {output}"));
    tx.parse().unwrap()
}

/// A client of the peers' `peer-tx-status` service (Unicom's admin TLS identity).
struct StatusClient {
    runtime: tokio::runtime::Runtime,
    network: Option<Network>,
    net: NetHandle,
}

impl StatusClient {
    fn new(dir: &Path) -> StatusClient {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let genesis: Block = decode(&std::fs::read(dir.join("genesis.block")).unwrap()).unwrap();
        let config: ChannelConfig = genesis.config().cloned().expect("genesis holds a config");
        let layout = netsettle_msp::IdentityLayout::new(
            &dir.join("crypto/unicom/users/admin@unicom.example"),
        );
        let identity =
            netsettle_smtls::TlsIdentity::from_pem_files(&layout.tls_cert(), &layout.tls_key())
                .unwrap();
        let trust = ChannelTrust::new(&config, &[Role::Peer]).unwrap();
        let listen: SocketAddr = "127.7.1.31:0".parse().unwrap();
        let network = runtime
            .block_on(Network::start(NetConfig::new(identity, trust, listen)))
            .unwrap();
        let net = network.handle();
        StatusClient {
            runtime,
            network: Some(network),
            net,
        }
    }

    /// Waits until `peer` committed `tx_id`; its block number.
    fn wait_committed(&self, peer: &Process, tx_id: &TxId) -> u64 {
        let node: NodeId = peer.field("node_id").parse().unwrap();
        let address: SocketAddr = peer.field("p2p").parse().unwrap();
        let request = encode(&TxStatusRequest {
            tx_id: *tx_id,
            wait_ms: 10_000,
        })
        .unwrap();
        let deadline = Instant::now() + COMMIT_DEADLINE;
        self.runtime.block_on(async {
            self.net.add_address(node, address).await.unwrap();
            loop {
                // Each request waits at the peer until the transaction commits there.
                match self
                    .net
                    .request(node, TX_STATUS_SERVICE, request.clone())
                    .await
                {
                    Ok(bytes) => match decode::<TxStatus>(&bytes).unwrap() {
                        TxStatus::Committed { block, code, .. } => {
                            assert!(code.is_valid(), "{tx_id} is {code:?} at {}", peer.ready);
                            return block;
                        }
                        TxStatus::NotCommitted { height } => {
                            assert!(
                                Instant::now() < deadline,
                                "{tx_id} not committed at {} (height {height})",
                                peer.ready
                            );
                        }
                    },
                    // Not reachable yet (the node is still dialling): retry, bounded.
                    Err(error) => {
                        assert!(Instant::now() < deadline, "asking {}: {error}", peer.ready);
                        tokio::time::sleep(RETRY_PAUSE).await;
                    }
                }
            }
        })
    }
}

impl Drop for StatusClient {
    fn drop(&mut self) {
        if let Some(network) = self.network.take() {
            self.runtime.block_on(network.shutdown());
        }
    }
}

#[test]
fn peers_share_blocks_by_gossip_and_catch_up_by_state_transfer() {
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    deploy(dir);
    let _dmz = Forwarder::both(dir);
    let orderers: Vec<Process> = ORDERERS
        .iter()
        .map(|name| NETSETTLE.start_node(dir, name))
        .collect();
    let mut peers: Vec<Option<Process>> = PEERS
        .iter()
        .map(|name| Some(NETSETTLE.start_node(dir, name)))
        .collect();
    let status = StatusClient::new(dir);
    let wait_everywhere = |peers: &[Option<Process>], tx_id: &TxId| -> Vec<u64> {
        peers
            .iter()
            .flatten()
            .map(|peer| status.wait_committed(peer, tx_id))
            .collect()
    };

    // The lifecycle and a first settlement transaction: every peer has them, Mobile's
    // peer1 by gossip alone.
    NETSETTLE.define_settlement(dir);
    let first = propose_committed(dir);
    let blocks = wait_everywhere(&peers, &first);
    assert!(
        blocks.windows(2).all(|pair| pair[0] == pair[1]),
        "{blocks:?}"
    );

    // Both peer1s stop and miss blocks.
    peers[1].take().unwrap().stop();
    peers[3].take().unwrap().stop();
    let missed: Vec<TxId> = (0..3).map(|_| propose_committed(dir)).collect();

    // Restarted, they catch up: Unicom's from the orderers; then Mobile's gossip-only
    // peer, when nothing new is gossiped, from the other peers (state transfer).
    peers[1] = Some(NETSETTLE.start_node(dir, PEERS[1]));
    for tx_id in &missed {
        wait_everywhere(&peers, tx_id);
    }
    peers[3] = Some(NETSETTLE.start_node(dir, PEERS[3]));
    for tx_id in &missed {
        wait_everywhere(&peers, tx_id);
    }
    // And gossip carries the next block to all of them.
    let last = propose_committed(dir);
    let blocks = wait_everywhere(&peers, &last);
    assert!(
        blocks.windows(2).all(|pair| pair[0] == pair[1]),
        "{blocks:?}"
    );
    let height = blocks[0] + 1;

    // Stop everything; every ledger verifies and the carriers' ledgers agree.
    drop(status);
    for peer in peers.into_iter().flatten() {
        peer.stop();
    }
    for orderer in orderers {
        orderer.stop();
    }
    for name in ["peer0", "peer1"] {
        for carrier in ["unicom", "mobile"] {
            let ledger = format!("data/{name}.{carrier}.example/ledger");
            let verified = NETSETTLE.ok(dir, &["ledger", "verify", "--path", &ledger]);
            assert!(verified.contains(&format!("height {height}")), "{verified}");
        }
    }
    for (a, b) in [
        ("peer0.unicom", "peer0.mobile"),
        ("peer1.unicom", "peer1.mobile"),
        ("peer0.unicom", "peer1.mobile"),
    ] {
        let compared = NETSETTLE.ok(
            dir,
            &[
                "ledger",
                "compare",
                &format!("data/{a}.example/ledger"),
                &format!("data/{b}.example/ledger"),
            ],
        );
        assert!(
            compared.lines().any(|line| line.trim() == "identical"),
            "{a} vs {b}: {compared}"
        );
    }
    eprintln!("peer gossip test took {:?}", started.elapsed());
}
