//! An in-memory cluster of orderer cores (after raft-rs's `harness/src/network.rs`):
//! messages are routed through a queue the test controls, with seeded drops and
//! partitions; nodes can be stopped (their stores kept, as after a crash), restarted, or
//! wiped. Time is logical: `step` ticks every running node once and then delivers every
//! message until the network is quiet.

#![allow(dead_code, reason = "each test file uses a different subset")]

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use netsettle_orderer::{
    Actions, BroadcastAck, BroadcastError, Chain, CoreConfig, Event, MemChain, OrdererCore,
    RaftStore, RequestId, Signer, bootstrap_snapshot, prepare_chain, verify_envelope,
};
use netsettle_protocol::{Block, Envelope};
use raft::prelude::Message;

use netsettle_testkit::Consortium;
use netsettle_testkit::pki::NOW;
use netsettle_testkit::rng::Rng;

/// Messages delivered per step at most, so a livelock shows up as a failure, not a hang.
const MESSAGES_PER_STEP_MAX: usize = 100_000;

pub type Reply = Result<BroadcastAck, BroadcastError>;

pub struct Cluster {
    pub consortium: Consortium,
    running: BTreeMap<u64, OrdererCore<MemChain>>,
    stopped: BTreeMap<u64, (RaftStore, MemChain)>,
    queue: VecDeque<Message>,
    /// Links (from, to) that drop everything.
    cut_links: BTreeSet<(u64, u64)>,
    drop_per_mille: u64,
    rng: Rng,
    next_request: RequestId,
    pub replies: HashMap<RequestId, Reply>,
    /// Which node each request went to, to fail the open ones when it stops (as the
    /// service drops its reply channels).
    sent_to: HashMap<RequestId, u64>,
    pub ticks: u64,
    snapshot_interval: u64,
    /// Every node started so far (the genesis consenters, then added ones).
    members: BTreeSet<u64>,
    /// Rewrites blocks fetched for catch-up before they reach the fetching node (a
    /// faulty or malicious orderer).
    block_filter: Option<BlockFilter>,
}

pub type BlockFilter = Box<dyn FnMut(Vec<Block>) -> Vec<Block>>;

impl Cluster {
    pub fn new(consortium: Consortium, seed: u64, snapshot_interval: u64) -> Self {
        let mut cluster = Cluster {
            consortium,
            running: BTreeMap::new(),
            stopped: BTreeMap::new(),
            queue: VecDeque::new(),
            cut_links: BTreeSet::new(),
            drop_per_mille: 0,
            rng: Rng::new(seed),
            next_request: 1,
            replies: HashMap::new(),
            sent_to: HashMap::new(),
            ticks: 0,
            snapshot_interval,
            members: BTreeSet::new(),
            block_filter: None,
        };
        cluster.members = cluster
            .consortium
            .config
            .orderer
            .consenters
            .iter()
            .map(|c| c.id)
            .collect();
        for id in cluster.ids() {
            let chain = MemChain::default();
            prepare_chain(&chain, &cluster.consortium.genesis).unwrap();
            let store = RaftStore::memory(bootstrap_snapshot(&cluster.consortium.genesis).unwrap());
            cluster.start(id, store, chain);
        }
        cluster
    }

    /// Every node of the cluster, running or stopped.
    pub fn ids(&self) -> Vec<u64> {
        self.members.iter().copied().collect()
    }

    /// Starts orderer `id` (a spare of the consortium) from the genesis block, as a new
    /// machine joining; it votes once a config update made it a consenter.
    pub fn add_node(&mut self, id: u64) {
        self.members.insert(id);
        self.restart_wiped(id);
    }

    /// Rewrites every batch of blocks fetched for catch-up from now on (`None`: stop).
    pub fn set_block_filter(&mut self, filter: Option<BlockFilter>) {
        self.block_filter = filter;
    }

    pub fn core_mut(&mut self, id: u64) -> &mut OrdererCore<MemChain> {
        self.running.get_mut(&id).unwrap()
    }

    fn start(&mut self, id: u64, store: RaftStore, chain: MemChain) {
        let member = self.consortium.orderer_id(id).clone();
        let mut config = CoreConfig::new(id);
        config.snapshot_interval_entries = self.snapshot_interval;
        let signer = Signer {
            identity: member.identity(),
            key: member.key,
        };
        let core = OrdererCore::new(config, signer, store, chain).unwrap();
        self.running.insert(id, core);
    }

    pub fn core(&self, id: u64) -> &OrdererCore<MemChain> {
        &self.running[&id]
    }

    pub fn is_running(&self, id: u64) -> bool {
        self.running.contains_key(&id)
    }

    /// Crash: the node stops, its Raft store and chain survive.
    pub fn stop(&mut self, id: u64) {
        if let Some(core) = self.running.remove(&id) {
            self.stopped.insert(id, core.into_parts());
        }
        let open: Vec<RequestId> = self
            .sent_to
            .iter()
            .filter(|(request, node)| **node == id && !self.replies.contains_key(request))
            .map(|(request, _)| *request)
            .collect();
        for request in open {
            self.replies.insert(request, Err(BroadcastError::Stopped));
        }
    }

    /// Restart from what survived.
    pub fn restart(&mut self, id: u64) {
        if let Some((store, chain)) = self.stopped.remove(&id) {
            self.start(id, store, chain);
        }
    }

    /// Restart with empty disks: only the genesis block, as a replaced machine.
    pub fn restart_wiped(&mut self, id: u64) {
        self.stopped.remove(&id);
        let chain = MemChain::default();
        prepare_chain(&chain, &self.consortium.genesis).unwrap();
        let store = RaftStore::memory(bootstrap_snapshot(&self.consortium.genesis).unwrap());
        self.start(id, store, chain);
    }

    /// Cuts both directions between every node of `a` and every node of `b`.
    pub fn partition(&mut self, a: &[u64], b: &[u64]) {
        for &x in a {
            for &y in b {
                self.cut_links.insert((x, y));
                self.cut_links.insert((y, x));
            }
        }
    }

    pub fn heal(&mut self) {
        self.cut_links.clear();
    }

    pub fn set_drop_per_mille(&mut self, per_mille: u64) {
        self.drop_per_mille = per_mille;
    }

    pub fn leader(&self) -> Option<u64> {
        self.running
            .values()
            .filter(|core| core.is_leader())
            .map(|core| (core.term(), core.id()))
            .max()
            .map(|(_, id)| id)
    }

    /// Checks `envelope` as node `id` would and hands it to its core; the reply arrives
    /// in `replies` under the returned id (a refusal at once).
    pub fn broadcast(&mut self, id: u64, envelope: Envelope) -> RequestId {
        let request = self.next_request;
        self.next_request += 1;
        self.sent_to.insert(request, id);
        let Some(core) = self.running.get_mut(&id) else {
            self.replies.insert(request, Err(BroadcastError::Stopped));
            return request;
        };
        let verified = match verify_envelope(core.channel(), envelope, NOW) {
            Ok(verified) => verified,
            Err(error) => {
                self.replies.insert(request, Err(error));
                return request;
            }
        };
        let actions = core
            .on(Event::Envelope {
                request,
                envelope: Box::new(verified),
            })
            .unwrap();
        self.absorb(id, actions);
        request
    }

    /// Checks `envelopes` as node `id` would and hands them to its core as ONE input
    /// batch (as the service does under load), so they are proposed together.
    pub fn broadcast_batch(&mut self, id: u64, envelopes: Vec<Envelope>) -> Vec<RequestId> {
        let mut requests = Vec::new();
        let mut events = Vec::new();
        for envelope in envelopes {
            let request = self.next_request;
            self.next_request += 1;
            self.sent_to.insert(request, id);
            requests.push(request);
            let Some(core) = self.running.get(&id) else {
                self.replies.insert(request, Err(BroadcastError::Stopped));
                continue;
            };
            match verify_envelope(core.channel(), envelope, NOW) {
                Ok(verified) => events.push(Event::Envelope {
                    request,
                    envelope: Box::new(verified),
                }),
                Err(error) => {
                    self.replies.insert(request, Err(error));
                }
            }
        }
        if let Some(core) = self.running.get_mut(&id) {
            let actions = core.on_batch(events).unwrap();
            self.absorb(id, actions);
        }
        requests
    }

    fn absorb(&mut self, id: u64, actions: Actions) {
        self.queue.extend(actions.messages);
        for (request, reply) in actions.replies {
            let previous = self.replies.insert(request, reply);
            assert!(
                previous.is_none() || self.sent_to.get(&request) != Some(&id),
                "request {request} answered twice"
            );
        }
        if let Some(fetch) = actions.fetch {
            let blocks: Vec<Block> = match self.running.get(&fetch.from) {
                Some(source) if !self.cut_links.contains(&(fetch.from, id)) => (fetch.start
                    ..fetch.end)
                    .map_while(|n| source.chain().block(n).unwrap())
                    .collect(),
                _ => Vec::new(),
            };
            let blocks = match &mut self.block_filter {
                Some(filter) if !blocks.is_empty() => filter(blocks),
                _ => blocks,
            };
            if !blocks.is_empty()
                && let Some(core) = self.running.get_mut(&id)
            {
                let actions = core.on(Event::Blocks(blocks)).unwrap();
                self.absorb(id, actions);
            }
        }
    }

    fn deliver_all(&mut self) {
        let mut delivered = 0;
        while let Some(message) = self.queue.pop_front() {
            delivered += 1;
            assert!(
                delivered < MESSAGES_PER_STEP_MAX,
                "network never quiets down"
            );
            let (from, to) = (message.from, message.to);
            if self.cut_links.contains(&(from, to)) || self.rng.chance(self.drop_per_mille) {
                continue;
            }
            let Some(core) = self.running.get_mut(&to) else {
                continue;
            };
            let actions = core.on(Event::Raft(Box::new(message))).unwrap();
            self.absorb(to, actions);
        }
    }

    /// One logical tick for every running node, then every message until quiet.
    pub fn step(&mut self) {
        self.ticks += 1;
        let ids: Vec<u64> = self.running.keys().copied().collect();
        for id in ids {
            let core = self.running.get_mut(&id).unwrap();
            let actions = core.on(Event::Tick).unwrap();
            self.absorb(id, actions);
        }
        self.deliver_all();
    }

    /// Steps until `done` holds; false if `max_ticks` pass first.
    pub fn run_until(&mut self, max_ticks: u64, mut done: impl FnMut(&Cluster) -> bool) -> bool {
        for _ in 0..max_ticks {
            if done(self) {
                return true;
            }
            self.step();
        }
        done(self)
    }

    pub fn elect(&mut self) -> u64 {
        assert!(
            self.run_until(200, |c| c.leader().is_some()),
            "no leader elected"
        );
        self.leader().unwrap()
    }

    pub fn transfer_leader(&mut self, from: u64, to: u64) {
        let core = self.running.get_mut(&from).unwrap();
        let actions = core.on(Event::TransferLeader(to)).unwrap();
        self.absorb(from, actions);
        self.deliver_all();
    }

    pub fn chain(&self, id: u64) -> MemChain {
        match self.running.get(&id) {
            Some(core) => core.chain().clone(),
            None => self.stopped[&id].1.clone(),
        }
    }

    pub fn height(&self, id: u64) -> u64 {
        self.chain(id).height()
    }

    /// Block hashes of every node's chain, which must be prefixes of one another; returns
    /// the longest.
    pub fn assert_consistent(&self) -> Vec<Block> {
        let chains: Vec<(u64, Vec<Block>)> = self
            .ids()
            .into_iter()
            .filter(|id| self.running.contains_key(id) || self.stopped.contains_key(id))
            .map(|id| (id, self.chain(id).blocks()))
            .collect();
        let longest = chains
            .iter()
            .max_by_key(|(_, blocks)| blocks.len())
            .map(|(_, blocks)| blocks.clone())
            .unwrap_or_default();
        for (id, blocks) in &chains {
            for (mine, theirs) in blocks.iter().zip(&longest) {
                assert_eq!(
                    mine.hash(),
                    theirs.hash(),
                    "node {id} diverges at block {}",
                    mine.header.number
                );
            }
        }
        longest
    }

    /// Whether every running node's chain has reached `height`.
    pub fn all_at_least(&self, height: u64) -> bool {
        self.running
            .values()
            .all(|core| core.chain().height() >= height)
    }
}
