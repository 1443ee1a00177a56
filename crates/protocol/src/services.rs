//! The name of every request–response service nodes and clients call over
//! `netsettle-net`, with what travels on it, so both ends of a service name it from one
//! place. (`netsettle.identify` belongs to the network layer itself.)
//!
//! | service             | served by              | callers (TLS roles)          | request                        | response                    |
//! |---------------------|------------------------|------------------------------|--------------------------------|-----------------------------|
//! | `orderer-raft`      | `orderer::net`         | orderer                      | Raft messages, each `len:u32 BE ‖ bytes` | empty             |
//! | `orderer-blocks`    | `orderer::net`         | orderer, peer                | `encode(BlockRange)`           | `encode(BlockBatch)`        |
//! | `orderer-broadcast` | `orderer::net`         | client, peer, admin          | `encode(Envelope)`             | `encode(BroadcastResponse)` |
//! | `orderer-broadcast-batch` | `orderer::net`   | client, peer, admin          | `encode(BroadcastBatch)`       | `encode(BroadcastBatchResponse)` |
//! | `orderer-deliver`   | `orderer::net`         | client, admin, peer, orderer | `encode(SignedDeliverRequest)` | `encode(DeliverBatch)`      |
//! | `orderer-admin`     | `orderer::admin`       | admin                        | `encode(AdminRequest)`         | `encode(AdminReply)`        |
//! | `peer-endorse`      | `peer::net`            | client, admin                | `encode(SignedProposal)`       | `encode(EndorseReply)`      |
//! | `peer-endorse-batch` | `peer::net`           | client, admin                | `encode(EndorseBatch)`         | `encode(EndorseBatchReply)` |
//! | `peer-tx-status`    | `peer::net`            | client, admin, peer          | `encode(TxStatusRequest)`      | `encode(TxStatus)`          |
//! | `peer-tx-status-batch` | `peer::net`         | client, admin, peer          | `encode(TxStatusBatchRequest)` | `encode(TxStatusBatch)`     |
//! | `peer-blocks`       | `peer::net`            | peer                         | `encode(BlockRange)`           | `encode(BlockBatch)`        |
//!
//! The Raft messages are protobuf (raft-rs's own encoding) and stay opaque here.

/// Raft messages between consenters, batched per link.
pub const ORDERER_RAFT_SERVICE: &str = "orderer-raft";
/// Committed blocks by number, for nodes (orderer catch-up, peer delivery); long-polls at
/// the chain's head.
pub const ORDERER_BLOCKS_SERVICE: &str = "orderer-blocks";
/// Broadcast of one envelope for ordering.
pub const BROADCAST_SERVICE: &str = "orderer-broadcast";
/// Broadcast of several envelopes in one request, each checked and answered as if it had
/// come alone (`orderer-broadcast`), in order.
pub const BROADCAST_BATCH_SERVICE: &str = "orderer-broadcast-batch";
/// Signed delivery, checked against the channel's Readers policy.
pub const DELIVER_SERVICE: &str = "orderer-deliver";
/// An orderer's status and leader transfer, for the channel's admins.
pub const ORDERER_ADMIN_SERVICE: &str = "orderer-admin";
/// Endorsement of a signed proposal.
pub const ENDORSE_SERVICE: &str = "peer-endorse";
/// Endorsement of several signed proposals in one request, each checked and answered as
/// if it had come alone (`peer-endorse`), in order.
pub const ENDORSE_BATCH_SERVICE: &str = "peer-endorse-batch";
/// Commit status of a transaction, waiting (bounded) for it to commit.
pub const TX_STATUS_SERVICE: &str = "peer-tx-status";
/// Commit status of several transactions in one request, waiting (bounded) until one of
/// them commits: one long poll for a client's many commit waits at a peer.
pub const TX_STATUS_BATCH_SERVICE: &str = "peer-tx-status-batch";
/// State transfer between peers: committed blocks by number.
pub const PEER_BLOCKS_SERVICE: &str = "peer-blocks";
