//! Blocks as in Fabric: a header chained by hash, the ordered envelopes, and metadata with
//! the orderer's signature and the peers' per-transaction verdicts.
//!
//! What is covered by what:
//! - the block hash is `SM3(encode(header))`; the next header's `previous_hash` is it;
//!   the header carries the block's time (the orderers' clock), so the hash chain and the
//!   orderer's signature cover it;
//! - `header.data_hash` is the Merkle root (see `merkle`) of `SM3(encode(envelope))` for
//!   every envelope in order;
//! - an orderer signature covers `domain::BLOCK ‖ CODEC_VERSION ‖ bincode(header) ‖
//!   u64_le(last_config_index) ‖ bincode(signer)`, so the config block in force is
//!   attested together with the block, and the signature is bound to its signer;
//! - `validation_codes` are covered by nothing: each committing peer computes them after
//!   ordering, so they may differ from the orderer's copy (empty) without breaking any
//!   signature.

use netsettle_smcrypto::{Hash, PrivateKey, PublicKey, Signature, Sm3Hasher};

use crate::codec::{Wire, check_count, domain, signing_bytes_of};
use crate::config::ChannelConfig;
use crate::envelope::{Envelope, Payload};
use crate::error::{CodecError, InvalidMessage, ProtocolError};
use crate::header::{Identity, Timestamp};
use crate::limits::{
    BLOCK_BYTES_MAX, BLOCK_OVERHEAD_BYTES_MAX, BLOCK_SIGNATURES_MAX, BLOCK_TX_MAX, CODEC_VERSION,
    IDENTITY_BYTES_MAX,
};
use crate::merkle::merkle_root;
use crate::proposal::check_signature;
use crate::validation::ValidationCode;

/// What the hash chain and the orderer's signature cover.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct BlockHeader {
    /// Height of this block; the genesis block is 0.
    pub number: u64,
    /// Hash of the previous block's header; all zeros for the genesis block.
    pub previous_hash: Hash,
    /// Merkle root of the envelope hashes.
    pub data_hash: Hash,
    /// The block's time: the orderers' clock (the Raft leader's, entered in the Raft log,
    /// so every orderer builds the same header), never a client's. Peers judge the
    /// transactions' timestamps and the signers' certificates by it.
    pub timestamp: Timestamp,
}

impl BlockHeader {
    /// Bytes of an encoded header: version, number, two hashes, the time.
    pub const ENCODED_BYTES: usize = 1 + 8 + 32 + 32 + 8;

    /// The block hash, `SM3(encode(header))`.
    pub fn hash(&self) -> Hash {
        // Hashed field by field to stay infallible; a test pins this to `codec::encode`.
        let mut hasher = Sm3Hasher::new();
        hasher.update(&[CODEC_VERSION]);
        hasher.update(&self.number.to_le_bytes());
        hasher.update(self.previous_hash.as_bytes());
        hasher.update(self.data_hash.as_bytes());
        hasher.update(&self.timestamp.unix_time_ms.to_le_bytes());
        hasher.finalize()
    }
}

impl Wire for BlockHeader {
    const NAME: &'static str = "block header";
    const BYTES_MAX: usize = Self::ENCODED_BYTES;

    fn check(&self) -> Result<(), InvalidMessage> {
        Ok(())
    }
}

/// The unsigned content of an orderer signature.
#[derive(serde::Serialize)]
struct BlockCommitment<'a> {
    header: &'a BlockHeader,
    last_config_index: u64,
    signer: &'a Identity,
}

/// One orderer's SM2 signature over the header and the last-config index.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OrdererSignature {
    /// The orderer.
    pub signer: Identity,
    /// Its signature.
    pub signature: Signature,
}

/// Block metadata: attestations and verdicts that are not part of the hash chain.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BlockMetadata {
    /// Orderer signatures (normally one, from the Raft leader that cut the block).
    pub signatures: Vec<OrdererSignature>,
    /// Number of the latest config block at or before this one (this block's own number
    /// for a config block).
    pub last_config_index: u64,
    /// Verdict per envelope, in order, set by the committing peer; empty until validated.
    pub validation_codes: Vec<ValidationCode>,
}

impl Wire for BlockMetadata {
    const NAME: &'static str = "block metadata";
    const BYTES_MAX: usize = BLOCK_OVERHEAD_BYTES_MAX;

    fn check(&self) -> Result<(), InvalidMessage> {
        check_count(
            "orderer signatures",
            self.signatures.len(),
            BLOCK_SIGNATURES_MAX,
        )?;
        check_count(
            "validation codes",
            self.validation_codes.len(),
            BLOCK_TX_MAX,
        )?;
        for signature in &self.signatures {
            signature.signer.check()?;
            check_signature(&signature.signature)?;
        }
        Ok(())
    }
}

/// A block.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Block {
    /// Number, chain link, data hash.
    pub header: BlockHeader,
    /// The ordered envelopes.
    pub data: Vec<Envelope>,
    /// Signatures and verdicts.
    pub metadata: BlockMetadata,
}

impl Block {
    /// A block of `data` following the block whose hash is `previous_hash`, with its data
    /// hash computed and no signatures or verdicts yet, timed at its first envelope's
    /// timestamp (0 without one): for tools and tests that build blocks offline (genesis,
    /// config blocks applied without orderers). Orderers stamp their own clock with
    /// [`Block::new_at`].
    pub fn new(
        number: u64,
        previous_hash: Hash,
        data: Vec<Envelope>,
        last_config_index: u64,
    ) -> Result<Self, ProtocolError> {
        let timestamp = data
            .first()
            .map_or(Timestamp { unix_time_ms: 0 }, |envelope| {
                envelope.header().timestamp
            });
        Self::new_at(number, previous_hash, data, last_config_index, timestamp)
    }

    /// [`Block::new`] at `timestamp`, the orderers' time.
    pub fn new_at(
        number: u64,
        previous_hash: Hash,
        data: Vec<Envelope>,
        last_config_index: u64,
        timestamp: Timestamp,
    ) -> Result<Self, ProtocolError> {
        let data_hash = Self::compute_data_hash(&data)?;
        Ok(Self::unsigned(
            number,
            previous_hash,
            data_hash,
            data,
            last_config_index,
            timestamp,
        ))
    }

    /// A block with this header and data, not signed yet and without validation codes.
    fn unsigned(
        number: u64,
        previous_hash: Hash,
        data_hash: Hash,
        data: Vec<Envelope>,
        last_config_index: u64,
        timestamp: Timestamp,
    ) -> Self {
        Block {
            header: BlockHeader {
                number,
                previous_hash,
                data_hash,
                timestamp,
            },
            data,
            metadata: BlockMetadata {
                signatures: Vec::new(),
                last_config_index,
                validation_codes: Vec::new(),
            },
        }
    }

    /// [`Block::new_at`] from envelopes whose hashes ([`Envelope::hash`]) the caller
    /// already has, in order (an orderer hashes each envelope's encoding once, when it is
    /// ordered): the data hash is their Merkle root, with no envelope encoded or hashed
    /// again. A count that differs from the envelopes' is refused.
    pub fn new_from_hashes(
        number: u64,
        previous_hash: Hash,
        data: Vec<Envelope>,
        hashes: &[Hash],
        last_config_index: u64,
        timestamp: Timestamp,
    ) -> Result<Self, ProtocolError> {
        if hashes.len() != data.len() {
            return Err(ProtocolError::DataHashMismatch { number });
        }
        Ok(Self::unsigned(
            number,
            previous_hash,
            merkle_root(hashes),
            data,
            last_config_index,
            timestamp,
        ))
    }

    /// The Merkle root of the envelopes' hashes.
    pub fn compute_data_hash(data: &[Envelope]) -> Result<Hash, ProtocolError> {
        let leaves = data
            .iter()
            .map(Envelope::hash)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(merkle_root(&leaves))
    }

    /// Checks that `header.data_hash` matches the envelopes.
    pub fn verify_data_hash(&self) -> Result<(), ProtocolError> {
        if Self::compute_data_hash(&self.data)? != self.header.data_hash {
            return Err(ProtocolError::DataHashMismatch {
                number: self.header.number,
            });
        }
        Ok(())
    }

    /// The block hash (of the header).
    pub fn hash(&self) -> Hash {
        self.header.hash()
    }

    /// The bytes orderer `signer` signs for this block.
    pub fn signing_bytes(&self, signer: &Identity) -> Result<Vec<u8>, ProtocolError> {
        signer.check().map_err(|source| CodecError::Invalid {
            what: "block signer",
            source,
        })?;
        let commitment = BlockCommitment {
            header: &self.header,
            last_config_index: self.metadata.last_config_index,
            signer,
        };
        Ok(signing_bytes_of(
            domain::BLOCK,
            &commitment,
            "block commitment",
            BlockHeader::ENCODED_BYTES + 8 + IDENTITY_BYTES_MAX,
        )?)
    }

    /// Adds `signer`'s signature (its private key is `key`) to the metadata.
    pub fn sign(&mut self, key: &PrivateKey, signer: Identity) -> Result<(), ProtocolError> {
        let signature = key.sign(&self.signing_bytes(&signer)?);
        self.metadata
            .signatures
            .push(OrdererSignature { signer, signature });
        Ok(())
    }

    /// Verifies orderer signature `index` with the key the caller took from its signer's
    /// certificate (after checking the signer is a consenter of the config in force).
    pub fn verify_signature(
        &self,
        index: usize,
        orderer_key: &PublicKey,
    ) -> Result<(), ProtocolError> {
        let signature = self
            .metadata
            .signatures
            .get(index)
            .ok_or(ProtocolError::NoSuchEntry {
                what: "orderer signatures",
                index,
            })?;
        orderer_key
            .verify(
                &self.signing_bytes(&signature.signer)?,
                &signature.signature,
            )
            .map_err(|source| ProtocolError::Signature {
                what: "block",
                source,
            })
    }

    /// The channel configuration this block carries, if it is a config block: one
    /// envelope, a [`Payload::Config`]. The one definition of "a config block" every
    /// role uses (the orderer cuts a config into a block of its own).
    pub fn config(&self) -> Option<&ChannelConfig> {
        match self.data.as_slice() {
            [envelope] => match &envelope.payload {
                Payload::Config { config, .. } => Some(&config.config),
                _ => None,
            },
            _ => None,
        }
    }

    /// The verdict on envelope `index`, once the block is validated.
    pub fn validation_code(&self, index: usize) -> Option<ValidationCode> {
        self.metadata.validation_codes.get(index).copied()
    }
}

impl Wire for Block {
    const NAME: &'static str = "block";
    const BYTES_MAX: usize = BLOCK_BYTES_MAX;

    fn check(&self) -> Result<(), InvalidMessage> {
        check_count("block envelopes", self.data.len(), BLOCK_TX_MAX)?;
        for envelope in &self.data {
            envelope.check()?;
        }
        self.metadata.check()?;
        let n_codes = self.metadata.validation_codes.len();
        if n_codes != 0 && n_codes != self.data.len() {
            return Err(InvalidMessage::Inconsistent {
                what: "validation codes must be absent or one per envelope",
            });
        }
        if self.metadata.last_config_index > self.header.number {
            return Err(InvalidMessage::Inconsistent {
                what: "last config index is after the block",
            });
        }
        Ok(())
    }
}
