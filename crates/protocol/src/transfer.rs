//! Blocks by number between nodes (`orderer-blocks`, `peer-blocks`): the range a node
//! asks for and the blocks that answer it.

use crate::block::Block;
use crate::codec::Wire;
use crate::error::InvalidMessage;
use crate::limits::{BLOCK_BATCH_BLOCKS_MAX, FRAME_BYTES_MAX};

/// Committed blocks `start..end` (end exclusive). The server answers with the first of
/// them it holds, as many as its own limits allow; an empty range, or a start beyond its
/// chain, gets an empty batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BlockRange {
    /// The first block wanted.
    pub start: u64,
    /// One past the last block wanted.
    pub end: u64,
}

impl BlockRange {
    /// At most `n_max` blocks from `start`.
    pub fn starting_at(start: u64, n_max: usize) -> Self {
        let n_max = u64::try_from(n_max).unwrap_or(u64::MAX);
        BlockRange {
            start,
            end: start.saturating_add(n_max),
        }
    }

    /// How many blocks the range spans (0 when `end` is not after `start`).
    pub fn len(&self) -> u64 {
        self.end.saturating_sub(self.start)
    }

    /// Whether the range holds no block.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Wire for BlockRange {
    const NAME: &'static str = "block range";
    /// Version byte and two u64.
    const BYTES_MAX: usize = 1 + 8 + 8;

    fn check(&self) -> Result<(), InvalidMessage> {
        Ok(())
    }
}

/// Blocks answering one [`BlockRange`], consecutive from its start.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BlockBatch(pub Vec<Block>);

impl Wire for BlockBatch {
    const NAME: &'static str = "block batch";
    const BYTES_MAX: usize = FRAME_BYTES_MAX;

    fn check(&self) -> Result<(), InvalidMessage> {
        if self.0.len() > BLOCK_BATCH_BLOCKS_MAX {
            return Err(InvalidMessage::TooMany {
                what: "blocks in a batch",
                max: BLOCK_BATCH_BLOCKS_MAX,
                actual: self.0.len(),
            });
        }
        self.0.iter().try_for_each(Block::check)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{decode, encode};

    #[test]
    fn a_block_range_encodes_as_two_fixed_width_numbers() {
        let range = BlockRange { start: 5, end: 9 };
        let bytes = encode(&range).unwrap();
        assert_eq!(bytes.len(), BlockRange::BYTES_MAX);
        assert_eq!(decode::<BlockRange>(&bytes).unwrap(), range);
        assert!(decode::<BlockRange>(&bytes[..bytes.len() - 1]).is_err());
        assert!(decode::<BlockRange>(&[bytes.clone(), vec![0]].concat()).is_err());
        assert_eq!(range.len(), 4);
    }

    #[test]
    fn a_range_from_a_start_saturates_and_an_inverted_one_is_empty() {
        assert_eq!(
            BlockRange::starting_at(u64::MAX - 1, 16),
            BlockRange {
                start: u64::MAX - 1,
                end: u64::MAX
            }
        );
        assert!(BlockRange { start: 9, end: 5 }.is_empty());
    }

    #[test]
    fn a_batch_over_the_block_limit_is_refused() {
        let empty = |number| Block::new(number, Default::default(), Vec::new(), 0).unwrap();
        let full = BlockBatch((0..BLOCK_BATCH_BLOCKS_MAX as u64).map(empty).collect());
        let bytes = encode(&full).unwrap();
        assert_eq!(decode::<BlockBatch>(&bytes).unwrap(), full);
        let mut over = full;
        over.0.push(empty(BLOCK_BATCH_BLOCKS_MAX as u64));
        assert!(matches!(
            over.check(),
            Err(InvalidMessage::TooMany { actual, .. }) if actual == BLOCK_BATCH_BLOCKS_MAX + 1
        ));
        assert!(encode(&over).is_err());
    }
}
