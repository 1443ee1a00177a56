//! The orderer process tests' harness: the five orderer processes of the consortium (no
//! peers) behind both carriers' DMZ forwarders, and an admin client in the test process
//! that broadcasts signed envelopes and asks the orderers' `orderer-admin` service for
//! their status, over the same libp2p/SM-TLS network the CLI uses.
//!
//! Nothing here sleeps to synchronise: waits are on readiness lines, status answers and
//! acknowledgements, with a deadline that only marks failure. The client's retry
//! backoff is what any client does against a leaderless service.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use netsettle_client::ConnectionProfile;
use netsettle_net::{ChannelTrust, NetConfig, NetHandle, Network, NodeId};
use netsettle_protocol::{
    AdminReply, AdminRequest, Block, BroadcastResponse, BroadcastStatus, Envelope,
    ORDERER_ADMIN_SERVICE, OrdererStatus, Payload, Role, TxId, decode, encode,
};
use netsettle_smtls::TlsIdentity;

use crate::WAIT_MAX;
use crate::pki::Member;
use crate::process::{Forwarder, Netsettle, ORDERERS, Process, load_member};
use crate::tx::{fresh_header, ordering_envelope};
/// Unicom's admin: a writer of the channel and allowed on `orderer-admin`.
pub const ADMIN_IDENTITY: &str = "crypto/unicom/users/admin@unicom.example";
pub const ADMIN_PROFILE: &str = "clients/unicommsp.toml";
/// How long one request may take before the client counts it as failed.
const REQUEST_WAIT: Duration = Duration::from_secs(10);

/// Five orderer processes and the two DMZ forwarders, in a temporary directory; every
/// process is killed when dropped.
pub struct Orderers {
    pub dir: tempfile::TempDir,
    netsettle: Netsettle,
    /// Consenter id → (node config name, running process).
    nodes: BTreeMap<u64, (String, Option<Process>)>,
    _dmz: [Forwarder; 2],
}

impl Orderers {
    /// Sets up the consortium on loopback `slot` with port `prefix`, lets `tweak` edit
    /// every orderer's config text, and starts the forwarders and the five orderers.
    pub fn start(
        netsettle: Netsettle,
        slot: u8,
        prefix: &str,
        tweak: impl Fn(&str) -> String,
    ) -> Orderers {
        let dir = tempfile::tempdir().unwrap();
        netsettle.consortium(dir.path());
        netsettle.render_layout(dir.path(), slot, prefix);
        Orderers::launch(netsettle, dir, &ORDERERS, tweak)
    }

    /// Starts the forwarders and the orderers `names` of a consortium already set up and
    /// rendered in `dir`, after `tweak` edited their config text.
    pub fn launch(
        netsettle: Netsettle,
        dir: tempfile::TempDir,
        names: &[&str],
        tweak: impl Fn(&str) -> String,
    ) -> Orderers {
        for name in names {
            let path = node_config(dir.path(), name);
            let text = std::fs::read_to_string(&path).unwrap();
            std::fs::write(&path, tweak(&text)).unwrap();
        }
        let dmz = Forwarder::both(dir.path());
        let mut orderers = Orderers {
            dir,
            netsettle,
            nodes: BTreeMap::new(),
            _dmz: dmz,
        };
        for name in names {
            orderers.add(name);
        }
        orderers
    }

    /// Starts the orderer whose node config is `nodes/NAME.toml`; its consenter id.
    pub fn add(&mut self, name: &str) -> u64 {
        let node = self.netsettle.node(&node_config(self.path(), name));
        let id = consenter_of(&node);
        let previous = self.nodes.insert(id, (name.to_owned(), Some(node)));
        assert!(previous.is_none(), "two orderers are consenter {id}");
        id
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn ids(&self) -> Vec<u64> {
        self.nodes.keys().copied().collect()
    }

    pub fn is_running(&self, id: u64) -> bool {
        self.nodes.get(&id).is_some_and(|(_, node)| node.is_some())
    }

    /// `kill -9` of consenter `id`.
    pub fn kill(&mut self, id: u64) {
        let (_, node) = self.nodes.get_mut(&id).expect("known consenter");
        drop(node.take().expect("running"));
    }

    /// Starts consenter `id` again (from its data directory, whatever is left of it).
    pub fn restart(&mut self, id: u64) {
        let path = self.path().to_path_buf();
        let netsettle = self.netsettle;
        let (name, node) = self.nodes.get_mut(&id).expect("known consenter");
        assert!(node.is_none(), "consenter {id} is running");
        let started = netsettle.node(&node_config(&path, name));
        assert_eq!(consenter_of(&started), id);
        *node = Some(started);
    }

    /// The data directory of consenter `id` (`DATA/orderer/{ledger,raft}` under it).
    pub fn data_dir(&self, id: u64) -> PathBuf {
        let name = &self.nodes[&id].0;
        let text = std::fs::read_to_string(node_config(self.path(), name)).unwrap();
        let data_dir = text
            .lines()
            .find_map(|line| line.strip_prefix("data_dir = "))
            .expect("data_dir in the node config")
            .trim_matches('"');
        self.path().join("nodes").join(data_dir)
    }

    pub fn ledger_dir(&self, id: u64) -> PathBuf {
        self.data_dir(id).join("orderer/ledger")
    }

    /// SIGTERM to every running orderer, each must exit cleanly.
    pub fn stop_all(&mut self) {
        for (_, node) in self.nodes.values_mut() {
            if let Some(node) = node.take() {
                node.stop();
            }
        }
    }

    /// `netsettle ledger compare` of every orderer's ledger with consenter `with`'s: the
    /// same block hashes (orderers sign differently; the hashes do not cover that).
    pub fn assert_same_blocks(&self, with: u64) {
        self.assert_same_blocks_among(with, &self.ids());
    }

    /// The same, for the orderers `ids` only.
    pub fn assert_same_blocks_among(&self, with: u64, ids: &[u64]) {
        let reference = self.ledger_dir(with);
        for id in ids.iter().copied().filter(|id| *id != with) {
            let output = self.netsettle.ok(
                self.path(),
                &[
                    "ledger",
                    "compare",
                    reference.to_str().unwrap(),
                    self.ledger_dir(id).to_str().unwrap(),
                ],
            );
            assert!(output.contains("identical"), "consenter {id}: {output}");
        }
    }

    /// Every transaction id in consenter `id`'s chain (config envelopes left out), in
    /// order, read from its ledger once it is stopped.
    pub fn chain_tx_ids(&self, id: u64) -> Vec<TxId> {
        let ledger = netsettle_ledger::Ledger::open(&self.ledger_dir(id)).unwrap();
        let height = ledger.chain_info().unwrap().height;
        let mut ids = Vec::new();
        for number in 1..height {
            let block: Block = ledger.block(number).unwrap().unwrap();
            ids.extend(
                block
                    .data
                    .iter()
                    .filter(|envelope| matches!(envelope.payload, Payload::Transaction(_)))
                    .map(Envelope::tx_id),
            );
        }
        ids
    }
}

fn node_config(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("nodes/{name}.toml"))
}

fn consenter_of(node: &Process) -> u64 {
    node.field("orderer")
        .strip_prefix("consenter-")
        .and_then(|id| id.parse().ok())
        .expect("orderer=consenter-N in the readiness line")
}

/// Sets `key = value` in the `[orderer]` section of a node config.
pub fn with_orderer_option(key: &str, value: &str) -> impl Fn(&str) -> String {
    let line = format!("[orderer]\n{key} = {value}");
    move |text: &str| text.replace("[orderer]", &line)
}

/// What became of one submission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Landed {
    /// Acknowledged (committed in the Raft log).
    Acked,
    /// A retry was refused as a duplicate: an earlier attempt had landed.
    DuplicateOnRetry,
}

/// One envelope's way through the ordering service.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub tx_id: TxId,
    pub attempts: u32,
    /// The errors that made the client retry, in order.
    pub retried_after: Vec<String>,
    pub landed: Result<Landed, String>,
}

/// A client in the test process: Unicom's admin, over libp2p/SM-TLS, connected to the
/// five orderers through the carrier's connection profile.
pub struct Client {
    pub runtime: tokio::runtime::Runtime,
    network: Network,
    net: NetHandle,
    orderers: Vec<NodeId>,
    admin: Member,
}

impl Client {
    pub fn connect(dir: &Path) -> Arc<Client> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let profile = ConnectionProfile::load(&dir.join(ADMIN_PROFILE)).unwrap();
        let config = profile.genesis_config().unwrap();
        let admin = load_member(&dir.join(ADMIN_IDENTITY), &profile.msp_id);
        let layout = netsettle_msp::IdentityLayout::new(&dir.join(ADMIN_IDENTITY));
        let trust = ChannelTrust::new(&config, &[Role::Orderer]).unwrap();
        let mut net_config = NetConfig::new(
            TlsIdentity::from_pem_files(&layout.tls_cert(), &layout.tls_key()).unwrap(),
            trust,
            profile.listen,
        );
        let mut orderers = Vec::new();
        for orderer in &profile.orderers {
            let node_id: NodeId = orderer.node_id.parse().unwrap();
            net_config.known_peers.push((node_id, orderer.address));
            orderers.push(node_id);
        }
        let network = runtime.block_on(Network::start(net_config)).unwrap();
        let net = network.handle();
        Arc::new(Client {
            runtime,
            network,
            net,
            orderers,
            admin,
        })
    }

    /// A fresh envelope for ordering only (~`pad_bytes` of arguments), at the wall-clock
    /// time; the admin's own endorsement stands in for the peers'.
    pub fn envelope(&self, pad_bytes: usize) -> Envelope {
        let header = fresh_header(&self.admin.identity());
        ordering_envelope(&self.admin, &self.admin, header, pad_bytes)
    }

    async fn broadcast_once(
        &self,
        orderer: NodeId,
        bytes: Vec<u8>,
    ) -> Result<BroadcastResponse, String> {
        let reply = tokio::time::timeout(
            REQUEST_WAIT,
            self.net.request(orderer, "orderer-broadcast", bytes),
        )
        .await
        .map_err(|_| "no answer in time".to_owned())?
        .map_err(|error| error.to_string())?;
        BroadcastResponse::decode_any(&reply).map_err(|error| error.to_string())
    }

    /// Sends `envelope` to the orderers, starting with the `first`-th, until it lands:
    /// an error that is safe to retry moves on to the next orderer (backing off after a
    /// full round); a duplicate on a retry means an earlier attempt landed.
    pub async fn submit(&self, envelope: &Envelope, first: usize) -> Outcome {
        let tx_id = envelope.tx_id();
        let bytes = encode(envelope).unwrap();
        let deadline = Instant::now() + WAIT_MAX;
        let mut outcome = Outcome {
            tx_id,
            attempts: 0,
            retried_after: Vec::new(),
            landed: Err("never sent".to_owned()),
        };
        let mut backoff = Duration::from_millis(50);
        loop {
            let orderer = self.orderers[(first + outcome.attempts as usize) % self.orderers.len()];
            outcome.attempts += 1;
            let error = match self.broadcast_once(orderer, bytes.clone()).await {
                Ok(response) => match response.status {
                    BroadcastStatus::Success => {
                        outcome.landed = Ok(Landed::Acked);
                        return outcome;
                    }
                    BroadcastStatus::BadRequest
                        if outcome.attempts > 1 && response.info.contains("already ordered") =>
                    {
                        outcome.landed = Ok(Landed::DuplicateOnRetry);
                        return outcome;
                    }
                    BroadcastStatus::ServiceUnavailable => response.info,
                    status => {
                        outcome.landed = Err(format!("{status:?}: {}", response.info));
                        return outcome;
                    }
                },
                Err(error) => error,
            };
            outcome.retried_after.push(error);
            if Instant::now() >= deadline {
                outcome.landed = Err(format!("gave up after {} attempts", outcome.attempts));
                return outcome;
            }
            if (outcome.attempts as usize).is_multiple_of(self.orderers.len()) {
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
            }
        }
    }

    /// Sends one envelope until it lands (see [`Client::submit`]).
    pub fn submit_blocking(&self, envelope: &Envelope) -> Outcome {
        self.runtime.block_on(self.submit(envelope, 0))
    }

    /// One broadcast to the `index`-th orderer of the profile, and its answer.
    pub fn broadcast_to(
        &self,
        index: usize,
        envelope: &Envelope,
    ) -> Result<BroadcastResponse, String> {
        let orderer = self.orderers[index];
        self.runtime
            .block_on(self.broadcast_once(orderer, encode(envelope).unwrap()))
    }

    /// The profile's orderers, in order.
    pub fn orderer_nodes(&self) -> &[NodeId] {
        &self.orderers
    }

    /// Asks every orderer for its status; the ones that answer, by consenter id.
    pub fn statuses(&self) -> BTreeMap<u64, OrdererStatus> {
        self.runtime.block_on(async {
            let mut asks = tokio::task::JoinSet::new();
            for orderer in self.orderers.clone() {
                let net = self.net.clone();
                asks.spawn(async move {
                    let request = encode(&AdminRequest::Status).unwrap();
                    let reply = tokio::time::timeout(
                        Duration::from_secs(2),
                        net.request(orderer, ORDERER_ADMIN_SERVICE, request),
                    )
                    .await;
                    match reply {
                        Ok(Ok(bytes)) => match decode::<AdminReply>(&bytes) {
                            Ok(AdminReply::Status(status)) => Some(status),
                            _ => None,
                        },
                        _ => None,
                    }
                });
            }
            let mut statuses = BTreeMap::new();
            while let Some(joined) = asks.join_next().await {
                if let Ok(Some(status)) = joined {
                    statuses.insert(status.consenter_id, status);
                }
            }
            statuses
        })
    }

    /// Waits until `done` holds for the orderers' answers; panics with `what` after
    /// `WAIT_MAX`. Each round asks every orderer once (the answers are the events).
    pub fn wait_status(
        &self,
        what: &str,
        mut done: impl FnMut(&BTreeMap<u64, OrdererStatus>) -> bool,
    ) -> BTreeMap<u64, OrdererStatus> {
        let deadline = Instant::now() + WAIT_MAX;
        loop {
            let statuses = self.statuses();
            if done(&statuses) {
                return statuses;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: last answers {statuses:#?}"
            );
            // Pace the rounds: status answers change at Raft-tick speed.
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The leader a majority of the answering orderers agree on, once there is one.
    pub fn wait_leader(&self, not: Option<u64>) -> u64 {
        let statuses = self.wait_status("no agreed leader", |statuses| {
            agreed_leader(statuses).is_some_and(|leader| Some(leader) != not)
        });
        agreed_leader(&statuses).unwrap()
    }

    /// Waits until the orderers in `ids` answer with one height, nothing pending and the
    /// same applied index, and returns that height.
    pub fn wait_settled(&self, ids: &[u64]) -> u64 {
        let statuses = self.wait_status("orderers do not settle", |statuses| {
            let answers: Vec<&OrdererStatus> =
                ids.iter().filter_map(|id| statuses.get(id)).collect();
            answers.len() == ids.len()
                && answers.iter().all(|s| {
                    s.pending_envelopes == 0
                        && !s.catching_up
                        && s.height == answers[0].height
                        && s.applied_index == answers[0].applied_index
                })
        });
        statuses[&ids[0]].height
    }

    pub fn close(self: Arc<Self>) {
        let client = Arc::into_inner(self).expect("no submissions running");
        client.runtime.block_on(client.network.shutdown());
    }
}

/// The leader named by a majority of the five consenters, if one is.
pub fn agreed_leader(statuses: &BTreeMap<u64, OrdererStatus>) -> Option<u64> {
    let mut votes: HashMap<u64, usize> = HashMap::new();
    for status in statuses.values().filter(|s| s.leader_id != 0) {
        *votes.entry(status.leader_id).or_default() += 1;
    }
    votes
        .into_iter()
        .find(|(leader, count)| {
            *count >= 3 && statuses.get(leader).is_some_and(|s| s.leader_id == *leader)
        })
        .map(|(leader, _)| leader)
}

/// Submissions running in the background: `count` envelopes, at most `in_flight` at a
/// time, spread over the orderers.
pub struct Load {
    landed: tokio::sync::watch::Receiver<u64>,
    task: tokio::task::JoinHandle<Vec<Outcome>>,
}

impl Load {
    pub fn start(client: &Arc<Client>, count: usize, in_flight: usize, pad_bytes: usize) -> Load {
        let (counter, landed) = tokio::sync::watch::channel(0u64);
        let counter = Arc::new(counter);
        let client_task = Arc::clone(client);
        let task = client.runtime.spawn(async move {
            let permits = Arc::new(tokio::sync::Semaphore::new(in_flight));
            let mut running = tokio::task::JoinSet::new();
            for index in 0..count {
                let permit = Arc::clone(&permits).acquire_owned().await.unwrap();
                let client = Arc::clone(&client_task);
                let counter = Arc::clone(&counter);
                running.spawn(async move {
                    let envelope = client.envelope(pad_bytes);
                    let outcome = client.submit(&envelope, index).await;
                    if outcome.landed.is_ok() {
                        counter.send_modify(|landed| *landed += 1);
                    }
                    drop(permit);
                    outcome
                });
            }
            let mut outcomes = Vec::with_capacity(count);
            while let Some(joined) = running.join_next().await {
                outcomes.push(joined.unwrap());
            }
            outcomes
        });
        Load { landed, task }
    }

    pub fn landed(&self) -> u64 {
        *self.landed.borrow()
    }

    /// Blocks until `n` submissions have landed.
    pub fn wait_landed(&mut self, client: &Client, n: u64) {
        let landed = &mut self.landed;
        let waited = client.runtime.block_on(async {
            tokio::time::timeout(WAIT_MAX, landed.wait_for(|landed| *landed >= n))
                .await
                .map(|result| result.map(|_| ()))
        });
        assert!(
            matches!(waited, Ok(Ok(_))),
            "only {} of {n} landed in time",
            self.landed()
        );
    }

    pub fn finish(self, client: &Client) -> Vec<Outcome> {
        client.runtime.block_on(self.task).unwrap()
    }
}

/// Every submission landed, and every transaction is in the chain exactly once.
pub fn assert_exactly_once(outcomes: &[Outcome], chain: &[TxId]) {
    let failed: Vec<&Outcome> = outcomes.iter().filter(|o| o.landed.is_err()).collect();
    assert!(
        failed.is_empty(),
        "{} did not land, e.g. {:?}",
        failed.len(),
        failed.first()
    );
    let distinct: HashSet<TxId> = chain.iter().copied().collect();
    assert_eq!(
        distinct.len(),
        chain.len(),
        "a transaction is in two blocks"
    );
    for outcome in outcomes {
        assert!(
            distinct.contains(&outcome.tx_id),
            "landed {:?} is not in the chain",
            outcome
        );
    }
    assert_eq!(
        chain.len(),
        outcomes.len(),
        "the chain holds transactions nobody submitted"
    );
}
