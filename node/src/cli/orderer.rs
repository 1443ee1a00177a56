//! `netsettle orderer status|transfer-leader`: an admin's view of the ordering service,
//! over the orderers' `orderer-admin` service (`netsettle_orderer::admin`), with a
//! carrier's connection profile and an admin's identity directory.
//!
//! `status` asks every orderer of the profile (or one) and prints one line each:
//!
//! ```text
//! orderer consenter=3 leader=1 term=2 height=12 applied=40 snapshot=0 voters=1,2,3,4,5 learners= consenters=1,2,3,4,5 config=0 catching_up=false pending=0 member=true node=16Uiu2…
//! orderer node=16Uiu2… unreachable: …
//! ```
//!
//! `transfer-leader --to N` hands Raft leadership to consenter N and waits until an
//! orderer reports N as leader.
//!
//! `deliver --start N [--stop M] --out DIR` fetches blocks through signed delivery
//! (`orderer-deliver`: each request signed by the caller, checked against the channel's
//! Readers policy), from the profile's orderers in turn, writes each as `DIR/N.block` and
//! prints `block N hash=… txs=…`; without `--stop` it keeps following new blocks.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use netsettle_client::{ConnectionProfile, Endpoint, Gateway, Signer};
use netsettle_net::{ChannelTrust, NetConfig, NetHandle, Network, NodeId};
use netsettle_orderer::admin::NOT_ALLOWED;
use netsettle_protocol::{
    AdminReply, AdminRequest, DeliverStatus, ORDERER_ADMIN_SERVICE, OrdererStatus, Role, decode,
    encode,
};
use netsettle_smtls::TlsIdentity;

use crate::shared::{ClientArgs, runtime};

/// How long one orderer may take to answer.
const ANSWER_WAIT: Duration = Duration::from_secs(5);
/// Pause between status polls while waiting for a leader change.
const POLL_INTERVAL: Duration = Duration::from_millis(200);
/// How often a transfer that has not happened yet is asked for again.
const TRANSFER_ASK_INTERVAL: Duration = Duration::from_secs(3);

/// Operate the ordering service.
#[derive(Debug, clap::Subcommand)]
pub enum OrdererCommand {
    /// Print each orderer's Raft and chain state.
    Status {
        #[command(flatten)]
        admin: ClientArgs,
        /// Ask only the orderer with this consenter id.
        #[arg(long)]
        consenter: Option<u64>,
    },
    /// Fetch blocks through signed delivery (Readers policy) into a directory.
    Deliver {
        #[command(flatten)]
        admin: ClientArgs,
        /// The first block.
        #[arg(long, default_value_t = 0)]
        start: u64,
        /// The last block (inclusive); without it, follow new blocks until stopped.
        #[arg(long)]
        stop: Option<u64>,
        /// Where to write the blocks (`N.block`, protocol encoding).
        #[arg(long)]
        out: PathBuf,
    },
    /// Hand Raft leadership to a consenter and wait until it leads.
    TransferLeader {
        #[command(flatten)]
        admin: ClientArgs,
        /// The consenter id to lead next.
        #[arg(long)]
        to: u64,
        /// Seconds to wait for the new leader.
        #[arg(long, default_value_t = 30)]
        wait_secs: u64,
    },
}

pub fn run(command: OrdererCommand) -> Result<()> {
    runtime()?.block_on(async {
        match command {
            OrdererCommand::Status { admin, consenter } => status(&admin, consenter).await,
            OrdererCommand::TransferLeader {
                admin,
                to,
                wait_secs,
            } => transfer_leader(&admin, to, Duration::from_secs(wait_secs)).await,
            OrdererCommand::Deliver {
                admin,
                start,
                stop,
                out,
            } => deliver(&admin, start, stop, &out).await,
        }
    })
}

/// Fetches blocks `start..=stop` through signed delivery, failing over between the
/// profile's orderers, and writes each to `out`.
async fn deliver(args: &ClientArgs, start: u64, stop: Option<u64>, out: &Path) -> Result<()> {
    if stop.is_some_and(|stop| stop < start) {
        bail!(
            "--stop {} is before --start {start}",
            stop.unwrap_or_default()
        );
    }
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let (gateway, signer) = Gateway::from_profile(&args.profile, &args.identity)
        .await
        .with_context(|| format!("connecting through {}", args.profile.display()))?;
    let outcome = deliver_into(&gateway, &signer, start, stop, out).await;
    gateway.close().await;
    outcome
}

async fn deliver_into(
    gateway: &Gateway,
    signer: &Signer,
    start: u64,
    stop: Option<u64>,
    out: &Path,
) -> Result<()> {
    let orderers = gateway.orderers().to_vec();
    let (mut next, mut turn, mut failures) = (start, 0usize, 0usize);
    while stop.is_none_or(|stop| next <= stop) {
        let Some(orderer) = orderers.get(turn % orderers.len().max(1)) else {
            bail!("the profile lists no orderer");
        };
        let batch = match gateway.deliver(signer, orderer, next, stop).await {
            Ok(batch) => batch,
            Err(error) => {
                failures += 1;
                if failures >= 3 * orderers.len() {
                    return Err(error).context("no orderer delivered");
                }
                tracing::warn!(orderer = %orderer.node_id, %error, "deliver failed; next orderer");
                turn += 1;
                continue;
            }
        };
        failures = 0;
        for block in &batch.blocks {
            if block.header.number != next {
                bail!(
                    "orderer sent block {} where {next} was due",
                    block.header.number
                );
            }
            let path = out.join(format!("{next}.block"));
            std::fs::write(&path, encode(block)?)
                .with_context(|| format!("writing {}", path.display()))?;
            println!(
                "block {next} hash={} txs={}",
                block.header.hash(),
                block.data.len()
            );
            next += 1;
        }
        match batch.status {
            None => {}
            Some(DeliverStatus::Success) => break,
            Some(status) => bail!("orderer {} refused delivery: {status:?}", orderer.node_id),
        }
    }
    Ok(())
}

/// The admin's network endpoint (its TLS identity, trusting the genesis block's
/// orderers) and the profile's orderers.
async fn connect(args: &ClientArgs) -> Result<(Network, Vec<Endpoint>)> {
    let profile = ConnectionProfile::load(&args.profile)?;
    let layout = netsettle_msp::IdentityLayout::new(&args.identity);
    let tls = TlsIdentity::from_pem_files(&layout.tls_cert(), &layout.tls_key())
        .with_context(|| format!("loading the TLS identity in {}", args.identity.display()))?;
    let trust = ChannelTrust::new(&profile.genesis_config()?, &[Role::Orderer])?;
    let mut net = NetConfig::new(tls, trust, profile.listen);
    let mut orderers = Vec::with_capacity(profile.orderers.len());
    for orderer in &profile.orderers {
        let node_id: NodeId = orderer
            .node_id
            .parse()
            .with_context(|| format!("bad node id {:?}", orderer.node_id))?;
        net.known_peers.push((node_id, orderer.address));
        orderers.push(Endpoint {
            msp_id: orderer.msp_id.clone(),
            node_id,
        });
    }
    let network = Network::start(net)
        .await
        .context("starting the admin's network endpoint")?;
    Ok((network, orderers))
}

async fn ask(net: &NetHandle, orderer: &Endpoint, request: &AdminRequest) -> Result<AdminReply> {
    let bytes = tokio::time::timeout(
        ANSWER_WAIT,
        net.request(orderer.node_id, ORDERER_ADMIN_SERVICE, encode(request)?),
    )
    .await
    .context("no answer in time")??;
    Ok(decode::<AdminReply>(&bytes)?)
}

/// Every orderer's status, asked in parallel, in profile order.
async fn statuses(
    net: &NetHandle,
    orderers: &[Endpoint],
) -> Vec<(Endpoint, Result<OrdererStatus>)> {
    let mut tasks = tokio::task::JoinSet::new();
    for (index, orderer) in orderers.iter().cloned().enumerate() {
        let net = net.clone();
        tasks.spawn(async move {
            let answer = match ask(&net, &orderer, &AdminRequest::Status).await {
                Ok(AdminReply::Status(status)) => Ok(status),
                Ok(AdminReply::Refused(reason)) => Err(anyhow::anyhow!("refused: {reason}")),
                Ok(other) => Err(anyhow::anyhow!("unexpected answer {other:?}")),
                Err(error) => Err(error),
            };
            (index, orderer, answer)
        });
    }
    let mut answers = Vec::with_capacity(orderers.len());
    while let Some(joined) = tasks.join_next().await {
        if let Ok(answer) = joined {
            answers.push(answer);
        }
    }
    answers.sort_by_key(|(index, _, _)| *index);
    answers
        .into_iter()
        .map(|(_, orderer, answer)| (orderer, answer))
        .collect()
}

fn ids(ids: &[u64]) -> String {
    ids.iter().map(u64::to_string).collect::<Vec<_>>().join(",")
}

fn status_line(orderer: &Endpoint, status: &OrdererStatus) -> String {
    format!(
        "orderer consenter={} leader={} term={} height={} applied={} snapshot={} voters={} learners={} consenters={} config={} catching_up={} pending={} member={} node={}",
        status.consenter_id,
        status.leader_id,
        status.term,
        status.height,
        status.applied_index,
        status.snapshot_index,
        ids(&status.voters),
        ids(&status.learners),
        ids(&status.consenters),
        status.config_sequence,
        status.catching_up,
        status.pending_envelopes,
        status.is_consenter(),
        orderer.node_id
    )
}

async fn status(args: &ClientArgs, consenter: Option<u64>) -> Result<()> {
    let (network, orderers) = connect(args).await?;
    let answers = statuses(&network.handle(), &orderers).await;
    network.shutdown().await;
    let mut answered = 0usize;
    for (orderer, answer) in &answers {
        match answer {
            Ok(status) if consenter.is_none_or(|id| id == status.consenter_id) => {
                answered += 1;
                println!("{}", status_line(orderer, status));
            }
            Ok(_) => {}
            Err(error) if consenter.is_none() => {
                println!("orderer node={} unreachable: {error:#}", orderer.node_id);
            }
            Err(_) => {}
        }
    }
    if answered == 0 {
        match consenter {
            Some(id) => bail!("consenter {id} did not answer"),
            None => bail!("no orderer answered"),
        }
    }
    Ok(())
}

async fn transfer_leader(args: &ClientArgs, to: u64, wait: Duration) -> Result<()> {
    let (network, orderers) = connect(args).await?;
    let outcome = transfer_and_wait(&network.handle(), &orderers, to, wait).await;
    network.shutdown().await;
    let (from, term) = outcome?;
    println!("leader transferred from consenter {from} to consenter {to} (term {term})");
    Ok(())
}

/// Asks the orderers in turn until one hands the request to Raft, then waits until the
/// orderers report `to` as leader, asking again now and then: Raft drops a transfer the
/// transferee does not complete within an election timeout (it was behind, say). The old
/// leader and the new term.
async fn transfer_and_wait(
    net: &NetHandle,
    orderers: &[Endpoint],
    to: u64,
    wait: Duration,
) -> Result<(u64, u64)> {
    let deadline = tokio::time::Instant::now() + wait;
    let voters = statuses(net, orderers)
        .await
        .into_iter()
        .find_map(|(_, answer)| answer.ok())
        .map(|status| status.voters)
        .context("no orderer answered")?;
    if !voters.contains(&to) {
        bail!(
            "consenter {to} is not a Raft voter (voters {})",
            ids(&voters)
        );
    }
    let mut from = None;
    let mut last = String::from("no orderer in the profile");
    let mut asked_at: Option<tokio::time::Instant> = None;
    loop {
        if asked_at.is_none_or(|at| at.elapsed() >= TRANSFER_ASK_INTERVAL) {
            match request_transfer(net, orderers, to).await {
                Ok(leader) => {
                    from.get_or_insert(leader);
                    asked_at = Some(tokio::time::Instant::now());
                }
                // The leader refused this admin (only its own carrier's may move it):
                // asking again changes nothing.
                Err(reason) if reason.contains(NOT_ALLOWED) => bail!("{reason}"),
                Err(reason) => last = reason,
            }
        }
        if let Some(from) = from {
            let answers: Vec<OrdererStatus> = statuses(net, orderers)
                .await
                .into_iter()
                .filter_map(|(_, answer)| answer.ok())
                .collect();
            if let Some(status) = answers
                .iter()
                .find(|status| status.consenter_id == to && status.leader_id == to)
            {
                return Ok((from, status.term));
            }
            last = format!(
                "leaders seen: {:?}",
                answers.iter().map(|s| s.leader_id).collect::<Vec<_>>()
            );
        }
        if tokio::time::Instant::now() >= deadline {
            bail!(
                "consenter {to} does not lead after {} s ({last})",
                wait.as_secs()
            );
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// Hands the transfer to the first orderer that takes it; the leader it named.
async fn request_transfer(
    net: &NetHandle,
    orderers: &[Endpoint],
    to: u64,
) -> std::result::Result<u64, String> {
    let mut last = String::from("no orderer in the profile");
    for orderer in orderers {
        match ask(net, orderer, &AdminRequest::TransferLeader { to }).await {
            Ok(AdminReply::TransferRequested { leader }) => return Ok(leader),
            // The leader's verdict on this admin outweighs the followers' "ask the leader".
            Ok(AdminReply::Refused(reason)) if reason.contains(NOT_ALLOWED) => return Err(reason),
            Ok(AdminReply::Refused(reason)) => last = reason,
            Ok(other) => last = format!("unexpected answer {other:?}"),
            Err(error) => last = format!("{error:#}"),
        }
    }
    Err(last)
}
