//! The checks on a Raft snapshot another consenter sends (`MsgSnapshot`), before raft-rs
//! sees it and the core persists it.
//!
//! raft-rs persists whatever snapshot the leader sends and the core installs it after the
//! fsync; a snapshot that does not decode would then stop the core on every restart, and
//! one that contradicts the stored chain would hit the core's assertions (which guard
//! against the core's own bugs, not against a peer's bytes). So a snapshot is decoded and
//! checked against what this orderer already knows first, and refused otherwise: the
//! channel is this one, the configuration is not older than the one in force and builds
//! valid MSPs, the config block it names is within its chain, Raft's voters are named,
//! and where this orderer's stored chain reaches the snapshot's positions, it holds the
//! same blocks (the last hash, the config block's configuration).
//!
//! Pure apart from reading the stored chain.

use netsettle_msp::ChannelState;
use netsettle_protocol::decode;
use raft::prelude::Snapshot;

use crate::chain::Chain;
use crate::entry::SnapshotState;

/// Checks `snapshot` against `channel`, the configuration in force, and `chain`, this
/// orderer's stored chain; the reason it is refused otherwise.
pub fn check_snapshot(
    snapshot: &Snapshot,
    channel: &ChannelState,
    chain: &impl Chain,
) -> Result<(), String> {
    let state: SnapshotState =
        decode(snapshot.get_data()).map_err(|error| format!("does not decode: {error}"))?;
    if snapshot.get_metadata().get_conf_state().voters.is_empty() {
        return Err("names no Raft voters".to_owned());
    }
    if state.config.channel != channel.config.channel {
        return Err(format!(
            "for channel {:?}, not {:?}",
            state.config.channel, channel.config.channel
        ));
    }
    if state.config.sequence < channel.config.sequence {
        return Err(format!(
            "config sequence {} is older than the {} in force",
            state.config.sequence, channel.config.sequence
        ));
    }
    ChannelState::new(state.config.clone(), state.last_config_index)
        .map_err(|error| format!("configuration unusable: {error}"))?;
    check_against_chain(&state, chain)
}

/// Where the stored chain reaches the snapshot's positions, it must hold the same blocks.
fn check_against_chain(state: &SnapshotState, chain: &impl Chain) -> Result<(), String> {
    let stored = chain
        .tip()
        .map_err(|error| format!("reading the stored chain: {error}"))?
        .map_or(0, |tip| tip.height);
    let read = |number: u64| {
        chain
            .block(number)
            .map_err(|error| format!("reading stored block {number}: {error}"))
    };
    let last = state.height.saturating_sub(1);
    if last < stored
        && let Some(block) = read(last)?
        && block.hash() != state.last_hash
    {
        return Err(format!(
            "block {last} differs from this orderer's stored block {last}"
        ));
    }
    let config_block = state.last_config_index;
    if config_block < stored
        && let Some(block) = read(config_block)?
        && block.config() != Some(&state.config)
    {
        return Err(format!(
            "names block {config_block} as its config block, whose configuration differs"
        ));
    }
    Ok(())
}
