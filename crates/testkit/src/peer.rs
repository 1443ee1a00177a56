//! A peer for tests: a ledger in a temporary directory, a small key-value contract, a
//! running peer service over the consortium's genesis block, and a chain of committable
//! blocks.

use std::path::Path;
use std::sync::Arc;

use netsettle_contract::{Context, Contract, ContractError};
use netsettle_ledger::Ledger;
use netsettle_peer::endorser::Endorser;
use netsettle_peer::lifecycle::ContractRegistry;
use netsettle_peer::service::{self, PeerHandle, PeerParts};
use netsettle_peer::validator::Validator;
use netsettle_protocol::{Block, ContractId, ValidationCode};
use netsettle_smcrypto::{BatchVerifier, Hash, sm3};
use tokio::sync::mpsc;

use crate::block::next_block;
use crate::channel::Consortium;
use crate::pki::Member;
use crate::tx::{proposal, transaction, writes};

/// A ledger in a fresh temporary directory; the directory goes when the guard drops.
pub struct TempLedger {
    pub ledger: Ledger,
    _dir: tempfile::TempDir,
}

impl TempLedger {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        let ledger = Ledger::open(dir.path()).expect("ledger opens");
        TempLedger { ledger, _dir: dir }
    }
}

impl Default for TempLedger {
    fn default() -> Self {
        Self::new()
    }
}

/// Marks every transaction of `block` valid and commits it without validation: for
/// setting up state in simulator tests.
pub fn commit_unvalidated(ledger: &Ledger, mut block: Block) {
    block.metadata.validation_codes = vec![ValidationCode::Valid; block.data.len()];
    ledger.commit_block(&block).expect("block commits");
}

/// The seed of [`KvContract`]'s package digest (`sm3(KV_DIGEST_SEED)`), for contract
/// definitions that name it.
pub const KV_DIGEST_SEED: &[u8] = b"kv contract 1.0";

/// A key-value contract `kv` 1.0: `put k v`, `get k`, `delete k`, `range start end
/// limit`, `move from to` (reads both, deletes one, writes the other), `fail`, `emit name`.
pub struct KvContract;

fn arg(args: &[Vec<u8>], index: usize) -> Result<String, ContractError> {
    let bytes = args
        .get(index)
        .ok_or_else(|| ContractError::bad_request(format!("missing argument {index}")))?;
    String::from_utf8(bytes.clone()).map_err(|_| ContractError::bad_request("not UTF-8"))
}

impl Contract for KvContract {
    fn id(&self) -> ContractId {
        ContractId {
            name: "kv".to_owned(),
            version: "1.0".to_owned(),
        }
    }

    fn package_digest(&self) -> Hash {
        sm3(KV_DIGEST_SEED)
    }

    fn invoke(
        &self,
        ctx: &mut dyn Context,
        function: &str,
        args: &[Vec<u8>],
    ) -> Result<Vec<u8>, ContractError> {
        match function {
            "put" => {
                ctx.put(&arg(args, 0)?, arg(args, 1)?.as_bytes())?;
                Ok(Vec::new())
            }
            "get" => Ok(ctx.get(&arg(args, 0)?)?.unwrap_or_default()),
            "delete" => {
                ctx.delete(&arg(args, 0)?)?;
                Ok(Vec::new())
            }
            "range" => {
                let limit: usize = arg(args, 2)?
                    .parse()
                    .map_err(|_| ContractError::bad_request("limit"))?;
                let entries = ctx.range(&arg(args, 0)?, &arg(args, 1)?, limit)?;
                let mut out = Vec::new();
                for (key, value) in entries {
                    out.extend_from_slice(key.as_bytes());
                    out.push(b'=');
                    out.extend_from_slice(&value);
                    out.push(b';');
                }
                Ok(out)
            }
            "move" => {
                let from = arg(args, 0)?;
                let to = arg(args, 1)?;
                let value = ctx
                    .get(&from)?
                    .ok_or_else(|| ContractError::not_found("no such key"))?;
                ctx.get(&to)?;
                ctx.delete(&from)?;
                ctx.put(&to, &value)?;
                Ok(Vec::new())
            }
            "emit" => {
                ctx.emit_event(&arg(args, 0)?, b"payload")?;
                Ok(Vec::new())
            }
            "fail" => Err(ContractError::conflict("wrong state")),
            _ => Err(ContractError::bad_request("unknown function")),
        }
    }
}

/// A running peer service on `dir` from the consortium's genesis block, signing as
/// `member`, with [`KvContract`] installed when `with_kv`; the handle and the sender of
/// its block channel.
pub fn start_peer(
    consortium: &Consortium,
    member: &Member,
    dir: &Path,
    with_kv: bool,
) -> (PeerHandle, mpsc::Sender<Block>) {
    let ledger = Arc::new(Ledger::open(dir).expect("ledger opens"));
    let mut registry = ContractRegistry::new();
    if with_kv {
        registry.install(Arc::new(KvContract)).expect("kv installs");
    }
    let endorser = Endorser::new(
        Arc::new(member.key.clone()),
        member.identity(),
        Arc::new(registry),
    );
    let (blocks, receiver) = mpsc::channel(netsettle_peer::limits::BLOCK_QUEUE_MAX);
    let validator = Validator::new(BatchVerifier::with_available_parallelism());
    let handle = service::spawn(PeerParts {
        ledger,
        genesis: consortium.genesis.clone(),
        endorser,
        validator,
        blocks: receiver,
    })
    .expect("peer service starts");
    (handle, blocks)
}

/// The genesis block and `n` blocks after it, each with one transaction endorsed by
/// Unicom's peer alone (hence invalid under the default policy, but committable), signed
/// by `signer`.
pub fn chain(consortium: &Consortium, signer: &Member, n: u64) -> Vec<Block> {
    let mut blocks = vec![consortium.genesis.clone()];
    for seed in 1..=n {
        let signed = proposal(&consortium.unicom_client, seed, "kv", "put", &[]);
        let envelope = transaction(
            &signed.proposal,
            &consortium.unicom_client,
            writes("kv", &[("k", Some("v"))]),
            &[&consortium.unicom_peer],
        );
        let previous = blocks.last().expect("genesis is there");
        let block = next_block(signer, previous, vec![envelope]);
        blocks.push(block);
    }
    blocks
}

/// A node config for `member` on `listen` with [`crate::net::test_limits`], trusting the
/// channel's peers, orderers and clients: what a peer serving clients, or a client of it,
/// runs in tests.
#[cfg(feature = "net")]
pub fn member_net_config(
    member: &Member,
    channel: &netsettle_protocol::ChannelConfig,
    listen: &str,
) -> netsettle_net::NetConfig {
    use netsettle_protocol::Role;
    let roles = [Role::Peer, Role::Orderer, Role::Client];
    let trust =
        netsettle_net::ChannelTrust::new(channel, &roles).expect("the config's trust loads");
    let listen: std::net::SocketAddr = listen.parse().expect("a socket address");
    let mut net = netsettle_net::NetConfig::new(member.tls_identity(), trust, listen);
    net.limits = crate::net::test_limits();
    net
}

/// A peer service ([`start_peer`]) with its network side (`netsettle_peer::net`, blocks
/// by gossip only) on a real network node: its services answer requests over SM-TLS.
#[cfg(feature = "net")]
pub struct NetPeer {
    /// The peer service.
    pub peer: PeerHandle,
    /// Its committer's block queue.
    pub blocks: mpsc::Sender<Block>,
    /// Its network node.
    pub net: netsettle_net::Network,
    stop: tokio::sync::watch::Sender<bool>,
    tasks: Vec<netsettle_peer::net::PeerNetTask>,
}

#[cfg(feature = "net")]
impl NetPeer {
    /// Starts `member`'s peer on `dir` ([`start_peer`]) and serves it on `listen`.
    pub async fn start(
        consortium: &Consortium,
        member: &Member,
        dir: &Path,
        with_kv: bool,
        listen: &str,
    ) -> NetPeer {
        let (peer, blocks) = start_peer(consortium, member, dir, with_kv);
        let net =
            netsettle_net::Network::start(member_net_config(member, &consortium.config, listen))
                .await
                .expect("the network starts");
        let (stop, shutdown) = tokio::sync::watch::channel(false);
        let config = netsettle_peer::net::PeerNetConfig {
            msp_id: member.msp_id.clone(),
            deliver_from: netsettle_peer::net::DeliverFrom::Gossip,
            known_nodes: Vec::new(),
        };
        let tasks =
            netsettle_peer::net::spawn(&net.handle(), &peer, &config, blocks.clone(), &shutdown)
                .expect("the peer's network side starts");
        NetPeer {
            peer,
            blocks,
            net,
            stop,
            tasks,
        }
    }

    /// Stops the network side (each task given a minute at most) and the node.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = tokio::time::timeout(std::time::Duration::from_secs(60), task).await;
        }
        self.net.shutdown().await;
    }
}
