//! `netsettle tx invoke|query` and `netsettle lifecycle approve|commit|query`: a client
//! of the consortium, connecting with a carrier's connection profile (written by
//! `netsettle layout render`) and a user's identity directory.
//!
//! `invoke` endorses at one peer of every carrier, orders the transaction and waits for
//! it to commit; it prints `committed tx=… block=… code=…` and the contract's answer, and
//! fails unless the code is VALID. `query` asks one peer of the caller's carrier and
//! orders nothing.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use netsettle_client::{Endpoint, Gateway, GatewayConfig, Signer};
use netsettle_net::{ChannelTrust, NetConfig, NodeId};
use netsettle_peer::lifecycle::{ContractDefinition, LIFECYCLE_VERSION};
use netsettle_peer::{Contract as _, LIFECYCLE_NAMESPACE};
use netsettle_protocol::{
    ContractId, Identity, Policy, Principal, Role, SignaturePolicy, ValidationCode, encode,
};

use crate::configtx_cmd::config_of;
use crate::crypto_cmd::{read_certificate, read_private_key, read_text};
use crate::node_cmd::read_bounded;

/// Who calls, and through which connection profile.
#[derive(Debug, clap::Args)]
pub struct ClientArgs {
    /// The carrier's connection profile, e.g. DIR/clients/unicommsp.toml.
    #[arg(long)]
    profile: PathBuf,
    /// The caller's identity directory (msp/ and tls/), e.g.
    /// crypto/unicom/users/settlement@unicom.example.
    #[arg(long)]
    identity: PathBuf,
}

/// Submit or evaluate a contract call.
#[derive(Debug, clap::Subcommand)]
pub enum TxCommand {
    /// Endorse at every carrier, order, and wait for the commit.
    Invoke(CallArgs),
    /// Run on one peer of the caller's carrier; nothing is ordered.
    Query(CallArgs),
}

/// A contract call.
#[derive(Debug, clap::Args)]
pub struct CallArgs {
    #[command(flatten)]
    client: ClientArgs,
    /// The contract, NAME or NAME:VERSION (default version 1.0).
    #[arg(long)]
    contract: String,
    /// The function.
    #[arg(long)]
    function: String,
    /// An argument, as text (repeat in order).
    #[arg(long = "arg")]
    args: Vec<String>,
    /// An argument read from a file, appended after the --arg ones (repeat in order).
    #[arg(long = "arg-file")]
    arg_files: Vec<PathBuf>,
}

/// The contract lifecycle: each carrier's admin approves, then one commits.
#[derive(Debug, clap::Subcommand)]
pub enum LifecycleCommand {
    /// Approve the settlement contract built into this binary for the caller's carrier.
    Approve(DefinitionArgs),
    /// Put the definition in force once every carrier approved it.
    Commit(DefinitionArgs),
    /// Show the definition in force.
    Query {
        #[command(flatten)]
        client: ClientArgs,
        /// The contract name.
        #[arg(long, default_value = "settlement")]
        name: String,
    },
}

/// The definition of the built-in settlement contract.
#[derive(Debug, clap::Args)]
pub struct DefinitionArgs {
    #[command(flatten)]
    client: ClientArgs,
    /// 1 for the first definition, one more for each redefinition.
    #[arg(long, default_value_t = 1)]
    sequence: u64,
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Profile {
    msp_id: String,
    channel: String,
    genesis: PathBuf,
    listen: SocketAddr,
    peers: Vec<ProfileNode>,
    orderers: Vec<ProfileNode>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ProfileNode {
    msp_id: String,
    node_id: String,
    address: SocketAddr,
}

pub fn run_tx(command: TxCommand) -> Result<()> {
    runtime()?.block_on(async {
        match command {
            TxCommand::Invoke(call) => invoke(&call).await,
            TxCommand::Query(call) => query(&call).await,
        }
    })
}

pub fn run_lifecycle(command: LifecycleCommand) -> Result<()> {
    runtime()?.block_on(async {
        match command {
            LifecycleCommand::Approve(args) => define(&args, "approve").await,
            LifecycleCommand::Commit(args) => define(&args, "commit").await,
            LifecycleCommand::Query { client, name } => {
                let (gateway, signer) = connect(&client).await?;
                let response = gateway
                    .evaluate(&signer, lifecycle_id(), "query", vec![name.into_bytes()])
                    .await;
                gateway.close().await;
                let payload = response?.payload;
                let definition: ContractDefinition = netsettle_protocol::decode(&payload)
                    .context("decoding the definition in force")?;
                println!(
                    "{} {} sequence {} package {} policy {:?}",
                    definition.name,
                    definition.version,
                    definition.sequence,
                    definition.package_digest,
                    definition.endorsement_policy
                );
                Ok(())
            }
        }
    })
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

async fn invoke(call: &CallArgs) -> Result<()> {
    let (contract, args) = call_parts(call)?;
    let (gateway, signer) = connect(&call.client).await?;
    let outcome = gateway
        .submit(&signer, contract, &call.function, args)
        .await;
    gateway.close().await;
    let committed = outcome?;
    println!(
        "committed tx={} block={} code={}",
        committed.tx_id,
        committed.block,
        committed.code.as_str()
    );
    print_payload(&committed.response.payload);
    if committed.code != ValidationCode::Valid {
        bail!(
            "the transaction was committed as {}, it changed nothing",
            committed.code.as_str()
        );
    }
    Ok(())
}

async fn query(call: &CallArgs) -> Result<()> {
    let (contract, args) = call_parts(call)?;
    let (gateway, signer) = connect(&call.client).await?;
    let response = gateway
        .evaluate(&signer, contract, &call.function, args)
        .await;
    gateway.close().await;
    print_payload(&response?.payload);
    Ok(())
}

/// Approves or commits the definition of the built-in settlement contract: every
/// carrier's peer must endorse its transactions.
async fn define(args: &DefinitionArgs, function: &str) -> Result<()> {
    let (gateway, signer) = connect(&args.client).await?;
    let profile = load_profile(&args.client.profile)?;
    let contract = netsettle_settlement::SettlementContract;
    let id = contract.id();
    let mut msp_ids: Vec<String> = profile.peers.iter().map(|p| p.msp_id.clone()).collect();
    msp_ids.sort();
    msp_ids.dedup();
    let definition = ContractDefinition {
        name: id.name,
        version: id.version,
        sequence: args.sequence,
        endorsement_policy: Policy::Signature(SignaturePolicy::And(
            msp_ids
                .into_iter()
                .map(|msp_id| {
                    SignaturePolicy::SignedBy(Principal {
                        msp_id,
                        role: Role::Peer,
                    })
                })
                .collect(),
        )),
        package_digest: contract.package_digest(),
    };
    let outcome = gateway
        .submit(
            &signer,
            lifecycle_id(),
            function,
            vec![encode(&definition)?],
        )
        .await;
    gateway.close().await;
    let committed = outcome?;
    println!(
        "{function} {} {} sequence {}: tx={} block={} code={}",
        definition.name,
        definition.version,
        definition.sequence,
        committed.tx_id,
        committed.block,
        committed.code.as_str()
    );
    if committed.code != ValidationCode::Valid {
        bail!("{function} was committed as {}", committed.code.as_str());
    }
    Ok(())
}

fn lifecycle_id() -> ContractId {
    ContractId {
        name: LIFECYCLE_NAMESPACE.to_owned(),
        version: LIFECYCLE_VERSION.to_owned(),
    }
}

fn call_parts(call: &CallArgs) -> Result<(ContractId, Vec<Vec<u8>>)> {
    let (name, version) = match call.contract.split_once(':') {
        Some((name, version)) => (name, version),
        None => (call.contract.as_str(), "1.0"),
    };
    let mut args: Vec<Vec<u8>> = call
        .args
        .iter()
        .map(|arg| arg.clone().into_bytes())
        .collect();
    for path in &call.arg_files {
        // Refused before reading when it cannot fit in a proposal.
        args.push(read_bounded(
            path,
            netsettle_protocol::limits::ARGS_BYTES_MAX,
        )?);
    }
    Ok((
        ContractId {
            name: name.to_owned(),
            version: version.to_owned(),
        },
        args,
    ))
}

fn print_payload(payload: &[u8]) {
    if payload.is_empty() {
        return;
    }
    match std::str::from_utf8(payload) {
        Ok(text) => println!("{text}"),
        Err(_) => println!("{}", hex::encode(payload)),
    }
}

fn load_profile(path: &Path) -> Result<Profile> {
    toml::from_str(&read_text(path)?).with_context(|| format!("parsing profile {}", path.display()))
}

/// Loads the profile and identity and starts the client's network endpoint.
async fn connect(args: &ClientArgs) -> Result<(Gateway, Signer)> {
    let profile = load_profile(&args.profile)?;
    let base = args.profile.parent().unwrap_or(Path::new("."));
    let genesis_path = base.join(&profile.genesis);
    let genesis_bytes = std::fs::read(&genesis_path)
        .with_context(|| format!("reading {}", genesis_path.display()))?;
    let genesis: netsettle_protocol::Block = netsettle_protocol::decode(&genesis_bytes)
        .with_context(|| format!("decoding {}", genesis_path.display()))?;
    let channel_config = config_of(&genesis)?;

    let layout = netsettle_ca::IdentityLayout::new(&args.identity);
    let key = read_private_key(&layout.sign_key())?;
    let cert = read_certificate(&layout.sign_cert())?;
    if cert.public_key() != key.public_key() {
        bail!(
            "{} does not hold the key of its certificate",
            args.identity.display()
        );
    }
    let signer = Signer::new(
        key,
        Identity {
            msp_id: profile.msp_id.clone(),
            cert_der: cert.der().to_vec(),
        },
    );
    let tls = layout
        .tls_identity()
        .with_context(|| format!("loading the TLS identity in {}", args.identity.display()))?;
    let trust = ChannelTrust::new(&channel_config, &[Role::Peer, Role::Orderer])?;
    let mut net = NetConfig::new(tls, trust, profile.listen);
    let mut endpoint = |node: &ProfileNode| -> Result<Endpoint> {
        let node_id: NodeId = node
            .node_id
            .parse()
            .with_context(|| format!("bad node id {:?}", node.node_id))?;
        net.known_peers.push((node_id, node.address));
        Ok(Endpoint {
            msp_id: node.msp_id.clone(),
            node_id,
        })
    };
    let peers = profile
        .peers
        .iter()
        .map(&mut endpoint)
        .collect::<Result<Vec<_>>>()?;
    let orderers = profile
        .orderers
        .iter()
        .map(&mut endpoint)
        .collect::<Result<Vec<_>>>()?;
    let gateway = Gateway::connect(GatewayConfig {
        net,
        channel: profile.channel,
        peers,
        orderers,
    })
    .await?;
    Ok((gateway, signer))
}
