//! `netsettle tx invoke|query` and `netsettle lifecycle approve|commit|query`: a client
//! of the consortium, connecting with a carrier's connection profile (written by
//! `netsettle layout render`) and a user's identity directory.
//!
//! `invoke` endorses at one peer of every carrier, orders the transaction and waits for
//! it to commit; it prints `committed tx=… block=… code=…` and the contract's answer, and
//! fails unless the code is VALID. `query` asks one peer of the caller's carrier and
//! orders nothing. `status --tx-id` waits until every peer the profile lists (both
//! carriers') has committed a transaction, e.g. before stopping a consortium.
//!
//! `lifecycle approve|commit --sequence N --endorsement all|any` defines the built-in
//! settlement contract: sequence 1 first, one more for each redefinition (the peers'
//! `_lifecycle` contract refuses any other sequence); `all` needs a peer of every carrier
//! to endorse, `any` one carrier's.

use std::path::PathBuf;

use anyhow::{Context as _, Result, bail};
use netsettle_contract::Contract as _;
use netsettle_peer::lifecycle::LIFECYCLE_NAMESPACE;
use netsettle_peer::lifecycle::{ContractDefinition, LIFECYCLE_VERSION};
use netsettle_protocol::{
    ContractId, Policy, Principal, Role, SignaturePolicy, ValidationCode, encode,
};

use crate::shared::{ClientArgs, connect, read_bounded, runtime};

/// Submit or evaluate a contract call.
#[derive(Debug, clap::Subcommand)]
pub enum TxCommand {
    /// Endorse at every carrier, order, and wait for the commit.
    Invoke {
        #[command(flatten)]
        call: CallArgs,
        /// Verify every endorsement's signature before broadcasting (the committing peers
        /// verify them anyway; a bad one is then refused here instead of committed as
        /// BAD_SIGNATURE).
        #[arg(long)]
        verify_endorsements: bool,
    },
    /// Run on one peer of the caller's carrier; nothing is ordered.
    Query(CallArgs),
    /// Wait until every peer of the profile (both carriers') has committed a transaction;
    /// print each one's block and code. Fails if one has not committed it in time or the
    /// codes differ.
    Status {
        #[command(flatten)]
        client: ClientArgs,
        /// The transaction id (hex), as `tx invoke` or `configtx submit` print it.
        #[arg(long = "tx-id")]
        tx_id: netsettle_protocol::TxId,
    },
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
    /// Whose peers must endorse its transactions.
    #[arg(long, value_enum, default_value_t = Endorsement::All)]
    endorsement: Endorsement,
}

/// The endorsement policy of a definition, over the carriers with peers in the profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Endorsement {
    /// A peer of every carrier (the consortium's rule for settlement).
    All,
    /// A peer of any one carrier.
    Any,
}

pub fn run_tx(command: TxCommand) -> Result<()> {
    runtime()?.block_on(async {
        match command {
            TxCommand::Invoke {
                call,
                verify_endorsements,
            } => invoke(&call, verify_endorsements).await,
            TxCommand::Query(call) => query(&call).await,
            TxCommand::Status { client, tx_id } => status(&client, &tx_id).await,
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

async fn invoke(call: &CallArgs, verify_endorsements: bool) -> Result<()> {
    let (contract, args) = call_parts(call)?;
    let (mut gateway, signer) = connect(&call.client).await?;
    gateway.set_verify_endorsements(verify_endorsements);
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

async fn status(client: &ClientArgs, tx_id: &netsettle_protocol::TxId) -> Result<()> {
    let (gateway, _) = connect(client).await?;
    let mut outcomes = Vec::new();
    for peer in gateway.peers() {
        outcomes.push((peer.clone(), gateway.wait_committed(peer, tx_id).await));
    }
    gateway.close().await;
    let mut codes = Vec::new();
    for (peer, outcome) in outcomes {
        let (block, code) =
            outcome.with_context(|| format!("{} peer {}", peer.msp_id, peer.node_id))?;
        println!(
            "committed tx={tx_id} block={block} code={} peer={} node={}",
            code.as_str(),
            peer.msp_id,
            peer.node_id
        );
        codes.push(code);
    }
    if codes.windows(2).any(|pair| pair[0] != pair[1]) {
        bail!("the peers recorded different validation codes for {tx_id}");
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
    let contract = netsettle_settlement::contract::SettlementContract;
    let id = contract.id();
    let mut msp_ids: Vec<String> = gateway.peers().iter().map(|p| p.msp_id.clone()).collect();
    msp_ids.sort();
    msp_ids.dedup();
    let definition = ContractDefinition {
        name: id.name,
        version: id.version,
        sequence: args.sequence,
        endorsement_policy: endorsement_policy(args.endorsement, msp_ids),
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

/// `rule` over one peer of each of `msp_ids`.
fn endorsement_policy(rule: Endorsement, msp_ids: Vec<String>) -> Policy {
    let peers = msp_ids
        .into_iter()
        .map(|msp_id| {
            SignaturePolicy::SignedBy(Principal {
                msp_id,
                role: Role::Peer,
            })
        })
        .collect();
    Policy::Signature(match rule {
        Endorsement::All => SignaturePolicy::And(peers),
        Endorsement::Any => SignaturePolicy::Or(peers),
    })
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
