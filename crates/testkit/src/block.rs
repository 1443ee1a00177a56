//! Signed blocks: the genesis block of a config, the next block after another, and a
//! block at any position (for chains that fork or skip).

use netsettle_protocol::{Block, ChannelConfig, Envelope};
use netsettle_smcrypto::Hash;

use crate::pki::Member;
use crate::tx::config_envelope;

/// Block `number` after `previous_hash` holding `data`, signed by `orderer`; no
/// validation codes.
pub fn signed_block(
    orderer: &Member,
    number: u64,
    previous_hash: Hash,
    data: Vec<Envelope>,
    last_config_index: u64,
) -> Block {
    let mut block =
        Block::new(number, previous_hash, data, last_config_index).expect("block builds");
    block
        .sign(&orderer.key, orderer.identity())
        .expect("block signs");
    block
}

/// The block after `previous` holding `envelopes`, signed by `orderer`, under the same
/// last config.
pub fn next_block(orderer: &Member, previous: &Block, envelopes: Vec<Envelope>) -> Block {
    signed_block(
        orderer,
        previous.header.number + 1,
        previous.hash(),
        envelopes,
        previous.metadata.last_config_index,
    )
}

/// Block 0: `config` in a config envelope, both signed by `orderer`.
pub fn genesis_block(orderer: &Member, config: &ChannelConfig) -> Block {
    let envelope = config_envelope(orderer, 0, config.clone());
    signed_block(orderer, 0, Hash::default(), vec![envelope], 0)
}
