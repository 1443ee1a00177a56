//! Start-up of `netsettle node`, before any role runs: load the node's identity (key
//! matches certificate, certificate valid in the channel's MSPs), check the genesis block
//! against the config, open the ledger (a new ledger starts from the genesis block; an
//! existing one must hold the same genesis and pass the open-time check of its top blocks;
//! an orderer's ledger gets the same checks) and read the configuration in force.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context as _, Result, bail};
use netsettle_ledger::{Ledger, LedgerError};
use netsettle_msp::ChannelMsps;
use netsettle_protocol::{Block, ChannelConfig, ValidationCode};

use super::NodeContext;
use super::config::NodeConfig;
use crate::shared::{now_unix, read_bounded, read_signer};

/// Loads the identity and the ledger, checking both against the channel.
pub(super) fn prepare(config: NodeConfig) -> Result<NodeContext> {
    let layout = netsettle_msp::IdentityLayout::new(&config.identity.dir);
    let (signing_key, identity) = read_signer(
        &layout.sign_key(),
        &layout.sign_cert(),
        &config.identity.msp_id,
    )?;
    let genesis = read_genesis(&config.channel.genesis)?;
    let channel_config = genesis
        .config()
        .cloned()
        .context("the genesis block holds no channel configuration")?;
    if channel_config.channel != config.channel.name {
        bail!(
            "the genesis block is for channel {:?}, the config names {:?}",
            channel_config.channel,
            config.channel.name
        );
    }
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating {}", config.data_dir.display()))?;
    let orderer_config = match config.orderer {
        Some(_) => check_orderer_ledger(&config.data_dir.join("orderer").join("ledger"), &genesis)?,
        None => None,
    };
    let (ledger, channel_config) = if config.orderer.is_some() && config.peer.is_none() {
        // The orderer's own chain says which config is in force: a consenter restarted
        // after a config update that renewed its TLS certificate is only known by that
        // config, not by the genesis block's.
        (None, orderer_config.unwrap_or(channel_config))
    } else {
        let ledger = open_ledger(&config.data_dir.join("ledger"), &genesis)?;
        // The config in force is the latest config block's, not necessarily the genesis's.
        let (channel_config, _) = ledger.config_in_force()?.context("the ledger is empty")?;
        (Some(Arc::new(ledger)), channel_config)
    };
    let msps = ChannelMsps::from_config(&channel_config)?;
    msps.validate(&identity, now_unix()?).with_context(|| {
        format!(
            "the node's own certificate {} is not valid in channel {}",
            layout.sign_cert().display(),
            channel_config.channel
        )
    })?;
    Ok(NodeContext {
        config,
        signing_key,
        identity,
        genesis,
        channel_config,
        ledger,
    })
}

fn read_genesis(path: &Path) -> Result<Block> {
    let bytes = read_bounded(path, netsettle_protocol::limits::BLOCK_BYTES_MAX)?;
    let block: Block = netsettle_protocol::decode(&bytes)
        .with_context(|| format!("decoding genesis block {}", path.display()))?;
    if block.header.number != 0 {
        bail!(
            "{} holds block {}, not a genesis block",
            path.display(),
            block.header.number
        );
    }
    Ok(block)
}

/// Opens the ledger; a new one starts from `genesis`, an existing one must begin with it.
/// `Ledger::open` refuses a ledger whose top blocks are damaged (see there for what it
/// checks, and why not every block).
fn open_ledger(path: &Path, genesis: &Block) -> Result<Ledger> {
    let ledger = open_checked(path)?;
    match ledger.block(0)? {
        None => {
            let mut first = genesis.clone();
            first.metadata.validation_codes = vec![ValidationCode::Valid; first.data.len()];
            ledger.commit_block(&first)?;
            tracing::info!(
                ledger = %path.display(),
                number = 0u64,
                "ledger started from the genesis block"
            );
        }
        Some(existing) => {
            check_same_genesis(path, &existing, genesis)?;
        }
    }
    Ok(ledger)
}

/// The same checks on an orderer's existing ledger (`DATA/orderer/ledger`) before the
/// orderer service opens it: a damaged ledger or another channel's is refused with the
/// same reason a peer's would be. A missing one is left for the orderer to create.
/// Returns the channel configuration in force on the existing ledger, if it has one.
fn check_orderer_ledger(path: &Path, genesis: &Block) -> Result<Option<ChannelConfig>> {
    // RocksDB's CURRENT file exists once a database was ever opened there.
    if !path.join("CURRENT").exists() {
        return Ok(None);
    }
    // Read-write: the read-only open skips the checks of the top blocks. The handle is
    // closed again before the orderer service opens the directory.
    let ledger = open_checked(path)?;
    if let Some(existing) = ledger.block(0)? {
        check_same_genesis(path, &existing, genesis)?;
    }
    Ok(ledger.config_in_force()?.map(|(config, _)| config))
}

/// `Ledger::open`, with the operator's way out when what is on disk contradicts itself.
fn open_checked(path: &Path) -> Result<Ledger> {
    Ledger::open(path).map_err(|error| {
        let damaged = matches!(
            error,
            LedgerError::Corrupt(_) | LedgerError::UnsupportedFormat { .. }
        );
        if !damaged {
            return anyhow::Error::new(error).context(format!("opening ledger {}", path.display()));
        }
        // Formatted rather than chained: `LedgerError::Corrupt` already shows its cause,
        // and the chain would print it twice.
        anyhow::anyhow!(
            "refusing to start on ledger {0}: {error}; see `netsettle ledger verify --path {0}`, \
             then restore it from a backup (`netsettle ledger restore`) or wipe it to re-sync",
            path.display()
        )
    })
}

/// An existing ledger must start with the configured genesis block: anything else is
/// another channel's data (or another network's), which a node must never extend.
fn check_same_genesis(path: &Path, existing: &Block, genesis: &Block) -> Result<()> {
    if existing.hash() == genesis.hash() {
        return Ok(());
    }
    let channel = |block: &Block| {
        block
            .config()
            .map_or_else(|| "?".to_owned(), |config| config.channel.clone())
    };
    bail!(
        "refusing to start: ledger {} belongs to another channel: its genesis block is {} (channel {:?}), the config's is {} (channel {:?})",
        path.display(),
        existing.hash(),
        channel(existing),
        genesis.hash(),
        channel(genesis)
    )
}
