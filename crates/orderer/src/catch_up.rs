//! The checks on a block another orderer sends for catch-up, before it is written.
//!
//! A catching-up orderer (restarted behind, wiped, newly added, or installing a Raft
//! snapshot) does not rebuild these blocks from the log: it copies them. So it checks
//! each one as a peer would check a delivered block: it extends the stored chain (number,
//! previous hash, data hash), it carries an SM2 signature of a consenter of the channel
//! configuration in force at that point of the chain, and the last one has the hash the
//! Raft state names. The configuration in force moves forward across the config blocks
//! of a batch, so a block cut after a consenter was added may carry the new consenter's
//! signature. A consenter is recognised by organisation and name: the signing
//! certificate's common name is the one of the TLS certificate the config lists for it
//! (each orderer has a signing and a TLS certificate under one name).
//!
//! Pure: the time a signer's certificate must be valid at is the block's own (the
//! orderers' clock in its header), as the peers judge it, so every orderer reaches the
//! same verdict.

use std::sync::Arc;

use netsettle_msp::{BlockSignatureError, ChannelState};
use netsettle_protocol::Block;

use crate::chain::ChainTip;
use crate::error::CatchUpError;

/// Checks that `block` is the next block after `tip` and is signed by a consenter of
/// `channel`, the configuration in force after `tip`.
pub fn verify_fetched_block(
    channel: &ChannelState,
    tip: ChainTip,
    block: &Block,
) -> Result<(), CatchUpError> {
    let number = block.header.number;
    if number != tip.height {
        return Err(CatchUpError::WrongNumber {
            expected: tip.height,
            got: number,
        });
    }
    if block.header.previous_hash != tip.last_hash {
        return Err(CatchUpError::DoesNotLink { number });
    }
    if block.verify_data_hash().is_err() {
        return Err(CatchUpError::DataHash { number });
    }
    verify_consenter_signature(channel, block)
}

/// At least one of the block's signatures is a consenter's and verifies
/// (`msp::verify_consenter_signature`, the rule peers apply too).
fn verify_consenter_signature(channel: &ChannelState, block: &Block) -> Result<(), CatchUpError> {
    // The block's own time (the orderers' clock in its signed header), as peers judge it.
    let at_unix = i64::try_from(block.header.timestamp.unix_time_ms / 1000).unwrap_or(i64::MAX);
    match netsettle_msp::verify_consenter_signature(channel, block, at_unix) {
        Ok(_) => Ok(()),
        Err(BlockSignatureError::Unsigned { number }) => Err(CatchUpError::Unsigned { number }),
        Err(BlockSignatureError::NoConsenterSignature { number, reason }) => {
            Err(CatchUpError::NoConsenterSignature { number, reason })
        }
        Err(error) => Err(CatchUpError::NoConsenterSignature {
            number: block.header.number,
            reason: error.to_string(),
        }),
    }
}

/// Checks a batch of fetched blocks in order, starting after `tip` under `channel`, and
/// returns the blocks to write, the tip after them and the configuration in force then.
/// Blocks already stored (below `tip`) or beyond `target` are left out; one bad block
/// refuses the whole batch, so nothing of it is written.
pub(crate) fn verify_batch(
    mut channel: Arc<ChannelState>,
    mut tip: ChainTip,
    target: ChainTip,
    blocks: Vec<Block>,
) -> Result<(Vec<Block>, ChainTip, Arc<ChannelState>), CatchUpError> {
    let mut accepted = Vec::new();
    for block in blocks {
        let number = block.header.number;
        if number < tip.height || number >= target.height {
            continue;
        }
        verify_fetched_block(&channel, tip, &block)?;
        let hash = block.hash();
        if number.saturating_add(1) == target.height && hash != target.last_hash {
            return Err(CatchUpError::NotTheAgreedChain { number });
        }
        // A config block is a block of its own, naming itself as the last config.
        let carried = block
            .config()
            .filter(|_| block.metadata.last_config_index == number);
        if let Some(config) = carried {
            channel = Arc::new(ChannelState::new(config.clone(), number).map_err(|error| {
                CatchUpError::BadConfig {
                    number,
                    reason: error.to_string(),
                }
            })?);
        }
        tip = ChainTip {
            height: number.saturating_add(1),
            last_hash: hash,
        };
        accepted.push(block);
    }
    Ok((accepted, tip, channel))
}
