//! The data every netsettle node agrees on: the execute–order–validate messages in
//! Hyperledger Fabric's shape with SM2/SM3 in place of ECDSA/SHA-256, blocks, the channel
//! configuration, validation codes, the one codec they all go through, and every limit;
//! and the world state as every reader sees it ([`VersionedValue`], [`StateEntry`],
//! [`HistoryEntry`], [`Page`]) with the rules a namespace or key must meet ([`check_key`]).
//!
//! What it leaves out: I/O of any kind, X.509 parsing (callers extract the signer's
//! [`PublicKey`](netsettle_smcrypto::PublicKey) from the certificate and pass it in),
//! policy evaluation and certificate validity (`netsettle-msp`), storage (`netsettle-ledger`).
//!
//! # Flow
//!
//! A client signs a [`Proposal`] ([`SignedProposal`]); each endorsing peer simulates it and
//! returns a [`ProposalResponse`]: a [`ProposalResponsePayload`] (proposal hash, read–write
//! set, contract response, events) with its [`Endorsement`]. The client puts proposal,
//! payload and all endorsements in a [`Transaction`], wraps it in a [`Payload`], signs it as
//! an [`Envelope`] and broadcasts it. Orderers cut [`Block`]s of envelopes; peers validate
//! each and record a [`ValidationCode`] in the block metadata.
//!
//! # Encoding
//!
//! `encode(x) = 0x01 ‖ bincode(x)`: a version byte, then bincode 2 with little-endian
//! fixed-width integers (8-byte length prefixes). It is canonical: decoding is strict, lists
//! that must be ordered are checked, so re-encoding a decoded value gives back the same
//! bytes. Details in `codec.rs` and on [`Wire`]. One type departs from plain bincode: a
//! [`Transaction`] sends each written value that repeats a proposal argument as that
//! argument's index (`tx_wire.rs`), canonically, so it crosses the wire and the logs once.
//!
//! # What is signed
//!
//! Every SM2 signature uses the GM/T 0009 default signer ID `1234567812345678` and covers
//! `tag ‖ encode(unsigned part)`, followed by `bincode(signer identity)` where the signer is
//! not already inside the unsigned part (as Fabric binds endorser and creator into what
//! they sign). Tags are NUL-terminated ASCII, listed in [`domain`]:
//!
//! | Signature | Signer | Bytes signed |
//! |---|---|---|
//! | [`SignedProposal::signature`] | creator | `"netsettle/v1/proposal\0" ‖ encode(Proposal)` |
//! | [`Endorsement::signature`] | endorsing peer | `"netsettle/v1/endorsement\0" ‖ encode(ProposalResponsePayload) ‖ bincode(endorser)`, i.e. `… ‖ 0x01 ‖ proposal_hash ‖ bincode(ContractAction) ‖ bincode(endorser)` |
//! | [`Envelope::signature`] | `payload.header().creator` | `"netsettle/v1/envelope\0" ‖ encode(Payload)` |
//! | [`ConfigSignature::signature`] | an org admin | `"netsettle/v1/config-update\0" ‖ encode(ConfigUpdate) ‖ bincode(signer)` |
//! | [`OrdererSignature::signature`] | an orderer | `"netsettle/v1/block\0" ‖ 0x01 ‖ bincode(BlockHeader) ‖ u64_le(last_config_index) ‖ bincode(signer)` |
//! | [`SignedDeliverRequest::signature`] | the requester | `"netsettle/v1/deliver\0" ‖ encode(DeliverRequest)` |
//!
//! # What is hashed (SM3)
//!
//! | Value | Definition |
//! |---|---|
//! | [`TxId`] | `SM3(nonce (24 bytes) ‖ encode(creator Identity))` |
//! | [`Proposal::hash`] | `SM3(encode(Proposal))` |
//! | [`Envelope::hash`] | `SM3(encode(Envelope))`, signature included |
//! | [`BlockHeader::data_hash`] | RFC 6962 Merkle root over the envelope hashes ([`merkle`]) |
//! | [`BlockHeader::hash`] (block hash) | `SM3(encode(BlockHeader))` |
//!
//! Block metadata (orderer signatures, validation codes) is covered by no hash, and
//! validation codes by no signature, as in Fabric.
//!
//! # Limits
//!
//! Every byte and count limit is a constant in [`limits`], with their relations asserted at
//! compile time (an envelope fits in a block, a block in a frame, ...). Each message type's
//! byte limit is [`Wire::BYTES_MAX`], checked before decoding; counts, field sizes and sort
//! orders are [`Wire::check`], run after every decode and before every encode.

mod block;
mod codec;
mod config;
mod envelope;
mod error;
mod header;
pub mod limits;
pub mod merkle;
mod orderer;
mod peer;
mod policy;
mod proposal;
mod rwset;
mod services;
mod state;
mod transfer;
mod tx_wire;
mod validation;

pub use block::{Block, BlockHeader, BlockMetadata, OrdererSignature};
pub use codec::{Wire, decode, domain, encode};
pub use config::{
    BatchPolicy, ChannelConfig, ChannelPolicies, Consenter, CryptoPolicy, Endpoint, HashAlgorithm,
    OrdererConfig, OrgConfig, OrgPolicies, RoleOus, SignatureAlgorithm, SymmetricAlgorithm,
    TlsCertificateMode, TlsCipherSuite,
};
pub use envelope::{
    ConfigEnvelope, ConfigSignature, ConfigUpdate, ConfigUpdateEnvelope, Envelope, Payload,
    Transaction,
};
pub use error::{CodecError, InvalidMessage, ProtocolError};
pub use header::{ContractId, Header, Identity, Nonce, Timestamp, TxId};
pub use orderer::{
    AdminReply, AdminRequest, BroadcastBatch, BroadcastBatchResponse, BroadcastResponse,
    BroadcastStatus, DELIVER_BATCH_BLOCKS_MAX, DeliverBatch, DeliverRequest, DeliverResponse,
    DeliverStatus, OrdererStatus, SeekPosition, SignedDeliverRequest,
};
pub use peer::{
    EndorseBatch, EndorseBatchReply, EndorseReply, TxStatus, TxStatusBatch, TxStatusBatchRequest,
    TxStatusRequest,
};
pub use policy::{ImplicitMetaPolicy, ImplicitMetaRule, Policy, Principal, Role, SignaturePolicy};
pub use proposal::{
    ContractAction, ContractEvent, Endorsement, Proposal, ProposalResponse,
    ProposalResponsePayload, Response, SignedProposal,
};
pub use rwset::{KvRead, KvWrite, NamespaceReadWriteSet, RangeQueryRead, ReadWriteSet, Version};
pub use services::{
    BROADCAST_BATCH_SERVICE, BROADCAST_SERVICE, DELIVER_SERVICE, ENDORSE_BATCH_SERVICE,
    ENDORSE_SERVICE, ORDERER_ADMIN_SERVICE, ORDERER_BLOCKS_SERVICE, ORDERER_RAFT_SERVICE,
    PEER_BLOCKS_SERVICE, TX_STATUS_BATCH_SERVICE, TX_STATUS_SERVICE,
};
pub use state::{
    COMPOSITE_KEY_SEPARATOR, HistoryEntry, KeyError, Page, SIMPLE_KEY_FIRST, StateEntry,
    VersionedValue, check_key, check_namespace, check_simple_key, check_write, in_simple_range,
};
pub use transfer::{BlockBatch, BlockRange};
pub use validation::ValidationCode;
