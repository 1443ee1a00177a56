//! Consensus and blocks: Unicom attacks Mobile's real orderers and peer over the network,
//! with what it legitimately holds (its CA, which mints certificates of any role; its
//! nodes' keys; its admin). Five-orderer consortium with both carriers' peer0, both DMZ
//! forwarders, loopback slot 11 (127.11.x.x). Unicom's orderer2 (consenter 3) does not run:
//! the test process holds its key and speaks as it.
//!
//! Attacks, each refused with a clear reason while the victim keeps running:
//! 1. an `orderer9` certificate minted by Unicom's CA speaks Raft to Mobile's orderer;
//! 2. consenter 3 (a real consenter) sends Raft messages claiming to be consenter 1, and a
//!    garbage snapshot as itself;
//! 3. Unicom's admin broadcasts back- and forward-dated envelopes to Mobile's orderer;
//! 4. Unicom's admin asks Mobile's leading orderer to hand leadership to Unicom;
//! 5. a block N signed by `orderer9` is gossiped to Mobile's peer by a minted `peer9`.
//!
//! Afterwards a real transaction commits VALID at both carriers' peers, Mobile's
//! processes are all still running, and the peers' ledgers verify and compare identical.
//! Waits are on readiness lines, answers and the CLI's own commit wait; deadlines only
//! mark failure; every process is killed and reaped on drop, the directory removed.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use netsettle_net::{ChannelTrust, NetConfig, NetError, NetHandle, Network, NodeId};
use netsettle_protocol::{
    BROADCAST_SERVICE, Block, BlockBatch, BlockRange, BroadcastResponse, BroadcastStatus,
    ChannelConfig, ORDERER_BLOCKS_SERVICE, ORDERER_RAFT_SERVICE, Role, decode, encode,
};
use netsettle_smcrypto::x509::Role as CertRole;
use netsettle_smtls::TlsIdentity;
use netsettle_testkit::block::next_block;
use netsettle_testkit::pki::{Member, TestOrg, now_unix};
use netsettle_testkit::process::{
    ADMIN_M, ADMIN_U, Forwarder, Netsettle, Process, REPO, load_member,
};
use netsettle_testkit::tx::{fresh_header, ordering_envelope};
use protobuf::Message as _;
use raft::prelude::{Message, MessageType, Snapshot};

/// The binary under test.
const NETSETTLE: Netsettle = Netsettle(env!("CARGO_BIN_EXE_netsettle"));
/// This file's loopback range, 127.11.x.x.
const SLOT: u8 = 11;
/// Marks failure only.
const DEADLINE: Duration = Duration::from_secs(60);
/// Pause before asking again after a refused or failed request (the answer itself is
/// the event waited for).
const RETRY_PAUSE: Duration = Duration::from_millis(200);

/// Every orderer but Unicom's orderer2, whose key the adversary uses.
const RUNNING_ORDERERS: [&str; 4] = [
    "unicommsp-orderer0",
    "unicommsp-orderer1",
    "mobilemsp-orderer0",
    "mobilemsp-orderer1",
];
const RUNNING_PEERS: [&str; 2] = ["unicommsp-peer0", "mobilemsp-peer0"];

/// The genesis block with anchor peers at this slot's DMZ addresses, and the layout.
fn deploy(dir: &Path) {
    NETSETTLE.consortium(dir);
    let profile = std::fs::read_to_string(format!("{REPO}/configs/consortium.toml"))
        .unwrap()
        .replace("\"127.0.", &format!("\"127.{SLOT}."));
    std::fs::write(dir.join("profile.toml"), profile).unwrap();
    NETSETTLE.genesis_from_profile(dir, "orderer0", "profile.toml");
    NETSETTLE.render_layout(dir, SLOT, "");
}

fn genesis_config(dir: &Path) -> ChannelConfig {
    let genesis: Block = decode(&std::fs::read(dir.join("genesis.block")).unwrap()).unwrap();
    genesis.config().cloned().expect("genesis holds a config")
}

/// A node of the adversary's own, in the test process, with some TLS identity.
struct Adversary {
    runtime: tokio::runtime::Runtime,
    network: Option<Network>,
    net: NetHandle,
}

impl Adversary {
    fn start(config: &ChannelConfig, identity: TlsIdentity, listen: &str) -> Adversary {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let trust = ChannelTrust::new(config, &[Role::Orderer, Role::Peer]).unwrap();
        let listen: SocketAddr = listen.parse().unwrap();
        let network = runtime
            .block_on(Network::start(NetConfig::new(identity, trust, listen)))
            .unwrap();
        let net = network.handle();
        Adversary {
            runtime,
            network: Some(network),
            net,
        }
    }

    /// One request to the node `process` runs; retried while the node cannot be reached
    /// yet (dialling), answered or refused once it can.
    fn request(
        &self,
        process: &Process,
        service: &str,
        payload: &[u8],
    ) -> Result<Vec<u8>, NetError> {
        let node: NodeId = process.field("node_id").parse().unwrap();
        let address: SocketAddr = process.field("p2p").parse().unwrap();
        let deadline = Instant::now() + DEADLINE;
        self.runtime.block_on(async {
            self.net.add_address(node, address).await.unwrap();
            loop {
                match self.net.request(node, service, payload.to_vec()).await {
                    Err(NetError::Refused { reason, .. }) if reason.starts_with("busy") => {}
                    Err(error @ NetError::Refused { .. }) => return Err(error),
                    Ok(answer) => return Ok(answer),
                    Err(error) => assert!(Instant::now() < deadline, "{service}: {error}"),
                }
                tokio::time::sleep(RETRY_PAUSE).await;
            }
        })
    }
}

impl Drop for Adversary {
    fn drop(&mut self) {
        if let Some(network) = self.network.take() {
            self.runtime.block_on(network.shutdown());
        }
    }
}

/// An `orderer-raft` request carrying one message.
fn raft_request(kind: MessageType, from: u64, to: u64, snapshot_data: Option<&[u8]>) -> Vec<u8> {
    let mut message = Message::default();
    message.set_msg_type(kind);
    message.from = from;
    message.to = to;
    message.term = 1_000;
    if let Some(data) = snapshot_data {
        let mut snapshot = Snapshot::default();
        snapshot.set_data(data.to_vec().into());
        snapshot.mut_metadata().index = 1_000_000;
        snapshot.mut_metadata().term = 1_000;
        snapshot.mut_metadata().mut_conf_state().voters = vec![1, 2, 3, 4, 5];
        message.set_snapshot(snapshot);
    }
    let bytes = message.write_to_bytes().unwrap();
    let mut request = u32::try_from(bytes.len()).unwrap().to_be_bytes().to_vec();
    request.extend_from_slice(&bytes);
    request
}

fn refusal(outcome: Result<Vec<u8>, NetError>) -> String {
    match outcome {
        Err(NetError::Refused { reason, .. }) => reason,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// The TLS identity of an identity directory `ca bootstrap` wrote.
fn tls_of(dir: &Path, identity: &str) -> TlsIdentity {
    let layout = netsettle_msp::IdentityLayout::new(&dir.join(identity));
    TlsIdentity::from_pem_files(&layout.tls_cert(), &layout.tls_key()).unwrap()
}

/// A certificate Unicom's CA mints, valid from an hour ago for a month.
fn mint(unicom: &TestOrg, name: &str, role: CertRole) -> Member {
    let now = now_unix();
    unicom.member_valid(name, role, now - 3_600, now + 30 * 86_400)
}

/// The consenter the orderers' status lines name as leader.
fn leader(dir: &Path) -> u64 {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let mut args = vec!["orderer", "status"];
        args.extend(ADMIN_U);
        let output = NETSETTLE.run(dir, &args);
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        let leaders: Vec<u64> = stdout
            .split_whitespace()
            .filter_map(|word| word.strip_prefix("leader="))
            .filter_map(|id| id.parse().ok())
            .collect();
        if leaders.len() == RUNNING_ORDERERS.len()
            && leaders[0] != 0
            && leaders.iter().all(|id| *id == leaders[0])
        {
            return leaders[0];
        }
        assert!(Instant::now() < deadline, "no agreed leader: {stdout}");
        std::thread::sleep(RETRY_PAUSE);
    }
}

/// Every block Unicom's own orderer0 has, through `orderer-blocks`.
fn chain_of(adversary: &Adversary, orderer: &Process) -> Vec<Block> {
    let mut blocks = Vec::new();
    loop {
        let start = u64::try_from(blocks.len()).unwrap();
        let request = encode(&BlockRange {
            start,
            end: start + 64,
        })
        .unwrap();
        let answer = adversary
            .request(orderer, ORDERER_BLOCKS_SERVICE, &request)
            .unwrap();
        let BlockBatch(batch) = decode(&answer).unwrap();
        if batch.is_empty() {
            return blocks;
        }
        blocks.extend(batch);
    }
}

fn assert_running(processes: &mut [Process], what: &str) {
    for process in processes {
        assert!(
            process.child.try_wait().unwrap().is_none(),
            "{} exited after {what}",
            process.ready
        );
    }
}

#[test]
fn unicom_cannot_speak_raft_falsely_date_envelopes_grab_leadership_or_forge_blocks() {
    let started = Instant::now();
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path();
    deploy(dir);
    let _dmz = Forwarder::both(dir);
    let mut orderers: Vec<Process> = RUNNING_ORDERERS
        .iter()
        .map(|name| NETSETTLE.start_node(dir, name))
        .collect();
    let mut peers: Vec<Process> = RUNNING_PEERS
        .iter()
        .map(|name| NETSETTLE.start_node(dir, name))
        .collect();
    NETSETTLE.define_settlement(dir);
    let config = genesis_config(dir);
    let unicom = TestOrg::from_ca_dir("UnicomMSP", &dir.join("crypto/unicom/ca"));
    let mobile_orderer = 2; // index of mobilemsp-orderer0 (consenter 4)

    // 1. A minted orderer9 speaks Raft: refused, whatever `from` it claims.
    let orderer9 = mint(&unicom, "orderer9", CertRole::Orderer);
    let minted = Adversary::start(&config, orderer9.tls_identity(), "127.11.1.41:0");
    for from in [9, 1] {
        let request = raft_request(MessageType::MsgRequestVote, from, 4, None);
        let reason =
            refusal(minted.request(&orderers[mobile_orderer], ORDERER_RAFT_SERVICE, &request));
        assert!(reason.contains("is not a consenter"), "{reason}");
    }

    // 2. Unicom's real consenter 3 speaks as consenter 1: refused. As itself, it sends a
    // snapshot that does not decode: refused before it is persisted.
    let consenter3 = Adversary::start(
        &config,
        tls_of(dir, "crypto/unicom/orderers/orderer2.unicom.example"),
        "127.11.1.42:0",
    );
    let request = raft_request(MessageType::MsgHeartbeat, 1, 4, None);
    let reason =
        refusal(consenter3.request(&orderers[mobile_orderer], ORDERER_RAFT_SERVICE, &request));
    assert!(reason.contains("forged raft sender"), "{reason}");
    let request = raft_request(MessageType::MsgSnapshot, 3, 4, Some(b"\x01garbage"));
    let reason =
        refusal(consenter3.request(&orderers[mobile_orderer], ORDERER_RAFT_SERVICE, &request));
    assert!(reason.contains("raft snapshot refused"), "{reason}");
    assert_running(&mut orderers, "the raft attacks");

    // 3. Back- and forward-dated envelopes from Unicom's admin: refused by Mobile's
    // orderer (a held, endorsed envelope looks back-dated the same way).
    let admin = load_member(&dir.join(ADMIN_U[3]), "UnicomMSP");
    let unicom_client = Adversary::start(&config, tls_of(dir, ADMIN_U[3]), "127.11.1.43:0");
    for offset_ms in [-3_600_000i64, 3_600_000] {
        let mut header = fresh_header(&admin.identity());
        header.timestamp.unix_time_ms = header
            .timestamp
            .unix_time_ms
            .checked_add_signed(offset_ms)
            .unwrap();
        let envelope = ordering_envelope(&admin, &admin, header, 16);
        let answer = unicom_client
            .request(
                &orderers[mobile_orderer],
                BROADCAST_SERVICE,
                &encode(&envelope).unwrap(),
            )
            .unwrap();
        let response: BroadcastResponse = decode(&answer).unwrap();
        assert_eq!(response.status, BroadcastStatus::BadRequest, "{response:?}");
        assert!(
            response.info.contains("from the orderer's clock"),
            "{response:?}"
        );
    }

    // 4. Leadership: Mobile's orderer leads (Unicom hands it over if it led: the leading
    // carrier may); Unicom's admin then tries to take it back: refused.
    let transfer = |to: &str, admin: [&str; 4]| {
        let mut args = vec![
            "orderer",
            "transfer-leader",
            "--to",
            to,
            "--wait-secs",
            "20",
        ];
        args.extend(admin);
        NETSETTLE.run(dir, &args)
    };
    if leader(dir) <= 3 {
        let output = transfer("4", ADMIN_U);
        assert!(output.status.success(), "{output:?}");
    }
    let mobile_leader = leader(dir);
    assert!(mobile_leader >= 4, "leader {mobile_leader}");
    let output = transfer("1", ADMIN_U);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "Unicom grabbed leadership");
    assert!(stderr.contains("not allowed"), "{stderr}");
    assert_eq!(leader(dir), mobile_leader);
    // Mobile's admin may move it (to its other orderer).
    let other = if mobile_leader == 4 { "5" } else { "4" };
    let output = transfer(other, ADMIN_M);
    assert!(output.status.success(), "{output:?}");

    // 5. A forged block N, signed by orderer9, gossiped to Mobile's peer by a minted peer9.
    let chain = chain_of(&minted, &orderers[0]);
    let tip = chain.last().unwrap();
    let forged_tx = ordering_envelope(&admin, &admin, fresh_header(&admin.identity()), 16);
    let forged = next_block(&orderer9, tip, vec![forged_tx]);
    let peer9 = mint(&unicom, "peer9", CertRole::Peer);
    let gossip = Adversary::start(&config, peer9.tls_identity(), "127.11.1.44:0");
    let topic = netsettle_peer::gossip::block_topic(&config.channel);
    let payload = encode(&forged).unwrap();
    gossip.runtime.block_on(async {
        let _blocks = gossip
            .net
            .subscribe(&topic, &[Role::Peer, Role::Orderer])
            .await
            .unwrap();
        let node: NodeId = peers[1].field("node_id").parse().unwrap();
        let address: SocketAddr = peers[1].field("p2p").parse().unwrap();
        gossip.net.add_address(node, address).await.unwrap();
        let deadline = Instant::now() + DEADLINE;
        // Published once the victim's subscription is known (the publish is the event).
        while let Err(error) = gossip.net.publish(&topic, payload.clone()).await {
            assert!(Instant::now() < deadline, "publishing: {error}");
            tokio::time::sleep(RETRY_PAUSE).await;
        }
    });

    // The victim keeps committing the real chain: a real transaction lands at both peers.
    let output = NETSETTLE.propose(dir);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("code=VALID"),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_running(&mut orderers, "every attack");
    assert_running(&mut peers, "every attack");

    drop((minted, consenter3, unicom_client, gossip));
    for process in peers.into_iter().chain(orderers) {
        process.stop();
    }
    for carrier in ["unicom", "mobile"] {
        let ledger = format!("data/peer0.{carrier}.example/ledger");
        let verified = NETSETTLE.ok(dir, &["ledger", "verify", "--path", &ledger]);
        assert!(verified.contains("height"), "{verified}");
    }
    let compared = NETSETTLE.ok(
        dir,
        &[
            "ledger",
            "compare",
            "data/peer0.unicom.example/ledger",
            "data/peer0.mobile.example/ledger",
        ],
    );
    assert!(
        compared.lines().any(|line| line.trim() == "identical"),
        "{compared}"
    );
    // And the orderers' chains: Mobile's agree with Unicom's.
    let orderer_ledger = |name: &str| format!("data/{name}/orderer/ledger");
    for name in [
        "orderer0.unicom.example",
        "orderer1.unicom.example",
        "orderer1.mobile.example",
    ] {
        let compared = NETSETTLE.ok(
            dir,
            &[
                "ledger",
                "compare",
                &orderer_ledger("orderer0.mobile.example"),
                &orderer_ledger(name),
            ],
        );
        assert!(compared.contains("identical"), "{name}: {compared}");
    }
    eprintln!("chain adversary test took {:?}", started.elapsed());
}
