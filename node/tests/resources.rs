//! One carrier tries to exhaust the consortium's ordering service, as real processes:
//! five Raft orderers, both carriers' endorsing peers and both DMZ forwarders (slot 14:
//! 127.14.x.x). Mobile, holding its own CA, mints four client certificates and has each
//! send every orderer an `orderer-broadcast` request that claims 128 MiB and arrives a
//! byte at a time. Before, four such requests held an orderer's whole inbound budget,
//! so every request was refused there, `orderer-raft` included, and ordering stopped.
//! Now Mobile holds at most its share at each orderer (two of the four are refused at
//! their header), consensus has its own reserve, and a Unicom settlement transaction
//! commits VALID at both carriers' peers while the flood is held.
//!
//! Waits are on events: readiness lines, the refusals of the flood, the CLI's own commit
//! wait. Deadlines only mark failure; every process is killed and reaped on drop.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use netsettle_ca::{Authority, Registration};
use netsettle_net::{ChannelTrust, NetConfig, Network, NodeId};
use netsettle_protocol::{BROADCAST_SERVICE, Block, ChannelConfig, Role, decode};
use netsettle_smcrypto::x509::Role as CertRole;
use netsettle_testkit::process::{Forwarder, Netsettle, ORDERERS, Process};

/// The binary under test.
const NETSETTLE: Netsettle = Netsettle(env!("CARGO_BIN_EXE_netsettle"));
/// The flood's claimed request size: the largest message a node accepts.
const CLAIMED_BYTES: u64 = 128 * 1024 * 1024;
/// Attacking client certificates (each its own connection to every orderer).
const N_ATTACKERS: usize = 4;
/// Marks failure of a wait for the flood's refusals.
const FLOOD_DEADLINE: Duration = Duration::from_secs(60);
/// An orderer drops a request still arriving after its request timeout (30 s), which
/// ends the flood there: the transaction must commit well within it to show that it
/// committed while the flood was held.
const COMMIT_UNDER_FLOOD_MAX: Duration = Duration::from_secs(25);

/// Mobile's CA mints `n` client certificates (the attacker's legitimate power).
fn mint_clients(dir: &Path, n: usize) -> Vec<netsettle_smtls::TlsIdentity> {
    let now = netsettle_ca::now_unix().unwrap();
    let mut authority = Authority::open(&dir.join("crypto/mobile/ca"), now).unwrap();
    (0..n)
        .map(|i| {
            let registration = Registration {
                name: format!("flood{i}@mobile.example"),
                role: CertRole::Client,
                hosts: Vec::new(),
                attributes: BTreeMap::new(),
                secret: None,
            };
            let (enrollment, _, tls_key) = authority.issue_local(registration, now).unwrap();
            netsettle_smtls::TlsIdentity::new(vec![enrollment.tls_cert], tls_key).unwrap()
        })
        .collect()
}

fn channel_config(dir: &Path) -> ChannelConfig {
    let genesis: Block = decode(&std::fs::read(dir.join("genesis.block")).unwrap()).unwrap();
    genesis.config().cloned().expect("genesis holds a config")
}

/// Starts the flood against every orderer and returns once each orderer has refused
/// what is beyond Mobile's share, keeping the networks (and so the admitted requests).
async fn flood(
    identities: Vec<netsettle_smtls::TlsIdentity>,
    config: &ChannelConfig,
    orderers: &[(NodeId, SocketAddr)],
) -> (Vec<Network>, tokio::task::JoinSet<(usize, bool)>) {
    let mut networks = Vec::new();
    for (i, identity) in identities.into_iter().enumerate() {
        let trust = ChannelTrust::new(config, &[Role::Orderer]).unwrap();
        let listen: SocketAddr = format!("127.14.9.{}:0", i + 1).parse().unwrap();
        let mut net = NetConfig::new(identity, trust, listen);
        net.limits.request_timeout = Duration::from_secs(600);
        net.known_peers = orderers.to_vec();
        networks.push(Network::start(net).await.unwrap());
    }
    let mut floods = tokio::task::JoinSet::new();
    for network in &networks {
        for (index, (node, _)) in orderers.iter().enumerate() {
            let handle = network.handle();
            let node = *node;
            floods.spawn(async move {
                let result = handle
                    .request_trickled(node, BROADCAST_SERVICE, CLAIMED_BYTES)
                    .await;
                (index, result.is_err())
            });
        }
    }
    // Mobile's share (half the shared pool) holds two 128 MiB requests per orderer.
    let mut refused = vec![0usize; orderers.len()];
    let wait = async {
        while refused.iter().any(|n| *n < N_ATTACKERS - 2) {
            let (index, failed) = floods.join_next().await.expect("flood tasks").unwrap();
            assert!(failed, "a 128 MiB flood request was answered");
            refused[index] += 1;
        }
    };
    tokio::time::timeout(FLOOD_DEADLINE, wait)
        .await
        .unwrap_or_else(|_| {
            panic!("the orderers never refused the flood beyond a share: {refused:?}")
        });
    (networks, floods)
}

#[test]
fn one_carriers_slow_128mib_flood_does_not_stop_ordering() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    NETSETTLE.consortium(dir);
    NETSETTLE.render_layout(dir, 14, "");
    let _dmz = Forwarder::both(dir);
    let orderers: Vec<Process> = ORDERERS
        .iter()
        .map(|name| NETSETTLE.start_node(dir, name))
        .collect();
    let _peers: Vec<Process> = ["unicommsp-peer0", "mobilemsp-peer0"]
        .iter()
        .map(|name| NETSETTLE.start_node(dir, name))
        .collect();
    NETSETTLE.define_settlement(dir);

    let config = channel_config(dir);
    let addresses: Vec<(NodeId, SocketAddr)> = orderers
        .iter()
        .map(|orderer| {
            (
                orderer.field("node_id").parse().unwrap(),
                orderer.field("p2p").parse().unwrap(),
            )
        })
        .collect();
    let identities = mint_clients(dir, N_ATTACKERS);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let (networks, mut floods) = runtime.block_on(flood(identities, &config, &addresses));

    // While Mobile's flood is held at every orderer, Unicom's transaction is ordered
    // (Raft among the orderers, Unicom's broadcast) and commits at both peers.
    let started = Instant::now();
    let output = NETSETTLE.propose(dir);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("code=VALID"), "{stdout}");
    assert!(
        started.elapsed() < COMMIT_UNDER_FLOOD_MAX,
        "the transaction took {:?}: it waited for the flood to end",
        started.elapsed()
    );

    runtime.block_on(async {
        floods.abort_all();
        for network in networks {
            network.shutdown().await;
        }
    });
    for orderer in orderers {
        orderer.stop();
    }
}
