//! Every size and count limit of the protocol, in one place, so the relations between them
//! can be checked at compile time and nobody has to hunt for a magic number.
//!
//! Byte limits (`*_BYTES_MAX`) bound encodings and are checked before anything is
//! allocated; count limits (`*_MAX`) bound lists and are checked right after decoding and
//! before encoding, so a node never emits a message its peers would reject.

const KIB: usize = 1024;
const MIB: usize = 1024 * KIB;

/// Version byte that starts every encoding (see `codec`).
pub const CODEC_VERSION: u8 = 1;

/// Length of the client-chosen nonce that, with the creator, derives the transaction id.
/// 24 bytes as in Fabric: random, so collisions are negligible.
pub const NONCE_BYTES: usize = 24;

/// Channel, contract, function, namespace, event and capability names, host names.
pub const NAME_BYTES_MAX: usize = 256;
/// An MSP id such as `UnicomMSP`.
pub const MSP_ID_BYTES_MAX: usize = 128;
/// One DER certificate (SM2 certificates are well under 2 KiB; room for extensions).
pub const CERT_DER_BYTES_MAX: usize = 16 * KIB;
/// A whole [`crate::Identity`] encoding: MSP id, certificate and length prefixes.
pub const IDENTITY_BYTES_MAX: usize = CERT_DER_BYTES_MAX + MSP_ID_BYTES_MAX + 64;

/// Arguments of one proposal, counted.
pub const ARGS_MAX: usize = 64;
/// Arguments of one proposal, all bytes together. An encrypted monthly settlement report
/// travels as one argument, so this is generous.
pub const ARGS_BYTES_MAX: usize = 32 * MIB;
/// A state key (composite keys included).
pub const KEY_BYTES_MAX: usize = 4 * KIB;
/// Longest object type or attribute of a composite key, in bytes.
pub const COMPOSITE_PART_BYTES_MAX: usize = 256;
/// Most attributes in one composite key.
pub const COMPOSITE_ATTRIBUTES_MAX: usize = 16;
/// A state value; the report stored on chain is the largest.
pub const VALUE_BYTES_MAX: usize = 32 * MIB;
/// Namespaces (contracts) touched by one transaction.
pub const RW_SET_NAMESPACES_MAX: usize = 16;
/// Reads, writes and range-query reads of one transaction, all namespaces together.
pub const RW_SET_ENTRIES_MAX: usize = 10_000;
/// Range queries recorded by one transaction.
pub const RANGE_QUERIES_MAX: usize = 256;
/// Events one transaction may emit.
pub const EVENTS_MAX: usize = 16;
/// Payload of one event.
pub const EVENT_PAYLOAD_BYTES_MAX: usize = MIB;
/// The contract's response payload.
pub const RESPONSE_PAYLOAD_BYTES_MAX: usize = 4 * MIB;
/// The contract's response message (a human-readable status line).
pub const RESPONSE_MESSAGE_BYTES_MAX: usize = 4 * KIB;
/// A node's network id in text form (base58 of a 38-byte multihash: 52 characters), as a
/// broadcast response names the Raft leader.
pub const NODE_ID_TEXT_BYTES_MAX: usize = 64;
/// Endorsements carried by one transaction.
pub const ENDORSEMENTS_MAX: usize = 16;

/// A signed proposal: arguments plus header, identity and signature.
pub const PROPOSAL_BYTES_MAX: usize = ARGS_BYTES_MAX + MIB;
/// A proposal response: one full rw-set plus response and events.
pub const PROPOSAL_RESPONSE_BYTES_MAX: usize = 48 * MIB;
/// One envelope (transaction or configuration), the unit the orderer accepts.
pub const ENVELOPE_BYTES_MAX: usize = 96 * MIB;

/// Organisations on a channel.
pub const ORGS_MAX: usize = 16;
/// Certificates of one kind (roots, intermediates, CRLs, TLS roots) per organisation.
pub const CERTS_PER_ORG_MAX: usize = 16;
/// One DER CRL.
pub const CRL_DER_BYTES_MAX: usize = MIB;
/// Endpoints of one kind (anchor peers, orderer endpoints) per organisation.
pub const ENDPOINTS_PER_ORG_MAX: usize = 16;
/// Raft consenters on a channel (the consortium runs 5).
pub const CONSENTERS_MAX: usize = 16;
/// Capability names on a channel.
pub const CAPABILITIES_MAX: usize = 32;
/// Nesting depth of a signature policy; deeper input is rejected while decoding, so a
/// hostile policy cannot exhaust the stack.
pub const POLICY_DEPTH_MAX: usize = 8;
/// Nodes (principals and combinators) in one signature policy.
pub const POLICY_NODES_MAX: usize = 64;
/// Admin signatures on one configuration update.
pub const CONFIG_SIGNATURES_MAX: usize = 32;
/// A whole channel configuration.
pub const CHANNEL_CONFIG_BYTES_MAX: usize = 16 * MIB;
/// A config update: a whole channel configuration and the channel name.
pub const CONFIG_UPDATE_BYTES_MAX: usize = CHANNEL_CONFIG_BYTES_MAX + NAME_BYTES_MAX + 64;

/// Hard ceiling on transactions per block, whatever the batch policy says.
pub const BLOCK_TX_MAX: usize = 1_000;
/// Orderer signatures on one block.
pub const BLOCK_SIGNATURES_MAX: usize = CONSENTERS_MAX;
/// Ceiling on the envelopes of one block, whatever the batch policy says. The mission's
/// 100 MB is the batch policy's absolute maximum; 1 MB = 1 MiB here, as in Fabric.
pub const BLOCK_DATA_BYTES_MAX: usize = 100 * MIB;
/// Header and metadata of a block: signatures with their identities, validation codes and
/// length prefixes. Generous so it never decides whether a block fits.
pub const BLOCK_OVERHEAD_BYTES_MAX: usize = MIB;
/// A whole block encoding.
pub const BLOCK_BYTES_MAX: usize = BLOCK_DATA_BYTES_MAX + BLOCK_OVERHEAD_BYTES_MAX;

/// Anything sent on a connection in one frame: a block plus the message around it.
pub const FRAME_BYTES_MAX: usize = BLOCK_BYTES_MAX + 64 * KIB;
/// Blocks in one answer to a block range (`orderer-blocks`, `peer-blocks`); each role
/// asks for fewer (orderer catch-up, peer state transfer).
pub const BLOCK_BATCH_BLOCKS_MAX: usize = 64;
/// Small orderer-facing messages (broadcast responses, deliver requests).
pub const CONTROL_MESSAGE_BYTES_MAX: usize = 64 * KIB;
/// Envelopes in one `orderer-broadcast-batch` request. A client batches what it has ready
/// for one orderer while its earlier requests travel; 64 is as many as one Raft entry of
/// the leader carries, so one batch arriving together can be proposed together, and it
/// keeps one batch's answer (a response per envelope) small.
pub const BROADCAST_BATCH_ENVELOPES_MAX: usize = 64;
/// A whole `orderer-broadcast-batch` request: one frame. The network's message limit
/// bounds it further; every envelope in it is still bounded by `ENVELOPE_BYTES_MAX`.
pub const BROADCAST_BATCH_BYTES_MAX: usize = FRAME_BYTES_MAX;
/// The answer to a batch: one broadcast response (a control message at most) per envelope.
pub const BROADCAST_BATCH_RESPONSE_BYTES_MAX: usize =
    BROADCAST_BATCH_ENVELOPES_MAX * CONTROL_MESSAGE_BYTES_MAX;

/// Proposals in one `peer-endorse-batch` request: a client batches what it has ready for
/// one peer while its earlier requests travel.
pub const ENDORSE_BATCH_PROPOSALS_MAX: usize = 64;
/// A whole `peer-endorse-batch` request: one frame. Every proposal in it is still bounded
/// by `PROPOSAL_BYTES_MAX`; clients keep batches far smaller.
pub const ENDORSE_BATCH_BYTES_MAX: usize = FRAME_BYTES_MAX;
/// The answer to an endorse batch: one frame. A peer whose replies would not fit answers
/// the ones that do not with `ENDORSE_ALONE_STATUS`, and the client asks for those alone.
pub const ENDORSE_BATCH_REPLY_BYTES_MAX: usize = FRAME_BYTES_MAX;
/// The status of an endorse batch reply that says "ask for this one in a request of its
/// own": its endorsement did not fit into the batch's answer.
pub const ENDORSE_ALONE_STATUS: u32 = 413;

/// Transactions one `peer-tx-status-batch` request asks about at most (32 bytes each;
/// a status answer is about 20 bytes each): more waits than a client has in the blocks
/// it can have in flight at once.
pub const TX_STATUS_BATCH_IDS_MAX: usize = 512;

/// Consenter ids listed in an orderer's status answer at most (voters, learners,
/// consenters each).
pub const ADMIN_STATUS_IDS_MAX: usize = 1_024;
/// Bytes of the reason in an orderer's refusal of an admin request.
pub const ADMIN_REFUSAL_BYTES_MAX: usize = 1_024;

/// How far an envelope's timestamp (its client's clock) may be from an orderer's clock
/// when it is broadcast, in seconds, either way: orderers refuse envelopes outside it
/// (`TimestampOutOfRange`), so a back-dated, forward-dated or held (endorsed, then
/// submitted much later) envelope is never ordered by an honest orderer. An orderer may be
/// configured with a smaller bound (`orderer.envelope_time_skew_secs`), never a larger
/// one. A contract that judges deadlines on the proposal's timestamp knows the ordering
/// time is within this bound of it; judging with a margin of twice this bound keeps a
/// deadline safe against one client's clock and the orderer's.
pub const ENVELOPE_TIME_SKEW_SECS_MAX: u64 = 5 * 60;

/// Default batch timeout: a block is cut 1 s after its first transaction.
pub const BATCH_TIMEOUT_MS_DEFAULT: u64 = 1_000;
/// Default transactions per block.
pub const BATCH_TX_MAX_DEFAULT: u32 = 50;
/// Default absolute maximum bytes of a block's envelopes (100 MB).
pub const BATCH_ABSOLUTE_BYTES_MAX_DEFAULT: u64 = 100 * 1024 * 1024;
/// Default preferred maximum: the mission cuts at 100 MB, so it equals the absolute
/// maximum; operators may lower it to get smaller blocks under load.
pub const BATCH_PREFERRED_BYTES_MAX_DEFAULT: u64 = BATCH_ABSOLUTE_BYTES_MAX_DEFAULT;

/// `text` cut to at most `bytes_max` bytes at a character boundary: how a node fits a
/// free-text field (an error turned into a refusal or a broadcast's info) to its limit.
pub fn truncate_text(mut text: String, bytes_max: usize) -> String {
    if text.len() > bytes_max {
        let mut end = bytes_max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}

// Length prefixes are written as u64 and sizes compared as usize: make the two agree.
const _: () = assert!(usize::BITS <= u64::BITS);
// Frame lengths travel as u32 on the wire.
const _: () = assert!(FRAME_BYTES_MAX <= u32::MAX as usize);

const _: () = assert!(MSP_ID_BYTES_MAX + CERT_DER_BYTES_MAX < IDENTITY_BYTES_MAX);
const _: () = assert!(KEY_BYTES_MAX <= VALUE_BYTES_MAX);
// A composite key is checked against KEY_BYTES_MAX as a whole; one part alone (plus the
// leading marker and separators) must at least fit.
const _: () = assert!(COMPOSITE_PART_BYTES_MAX + 3 <= KEY_BYTES_MAX);
const _: () = assert!(ARGS_BYTES_MAX + IDENTITY_BYTES_MAX < PROPOSAL_BYTES_MAX);
const _: () = assert!(VALUE_BYTES_MAX + RESPONSE_PAYLOAD_BYTES_MAX < PROPOSAL_RESPONSE_BYTES_MAX);
// An envelope carries a proposal, one response payload and all endorsements.
const _: () = assert!(
    PROPOSAL_BYTES_MAX + PROPOSAL_RESPONSE_BYTES_MAX + ENDORSEMENTS_MAX * IDENTITY_BYTES_MAX
        <= ENVELOPE_BYTES_MAX
);
// A config envelope carries the new configuration and the update that produced it.
const _: () = assert!(
    CHANNEL_CONFIG_BYTES_MAX + CONFIG_UPDATE_BYTES_MAX + CONFIG_SIGNATURES_MAX * IDENTITY_BYTES_MAX
        <= ENVELOPE_BYTES_MAX
);
const _: () =
    assert!(ORGS_MAX * CERTS_PER_ORG_MAX * CERT_DER_BYTES_MAX <= CHANNEL_CONFIG_BYTES_MAX);
const _: () = assert!(CONSENTERS_MAX * CERT_DER_BYTES_MAX <= CHANNEL_CONFIG_BYTES_MAX);
// Any single envelope the orderer accepts must fit in a block on its own.
const _: () = assert!(ENVELOPE_BYTES_MAX <= BLOCK_DATA_BYTES_MAX);
const _: () = assert!(
    BLOCK_SIGNATURES_MAX * IDENTITY_BYTES_MAX + BLOCK_TX_MAX * 8 < BLOCK_OVERHEAD_BYTES_MAX
);
const _: () = assert!(BLOCK_BYTES_MAX < FRAME_BYTES_MAX);
const _: () = assert!(CONTROL_MESSAGE_BYTES_MAX > 2 * IDENTITY_BYTES_MAX);
// A status answer listing every id three times, or a refusal, is a control message.
const _: () = assert!(3 * ADMIN_STATUS_IDS_MAX * 8 + 256 < CONTROL_MESSAGE_BYTES_MAX);
// A status batch, asked (32-byte ids) or answered (at most 4 + 8 + 4 + 4 bytes a status),
// is a control message.
const _: () = assert!(TX_STATUS_BATCH_IDS_MAX * 40 + 64 < CONTROL_MESSAGE_BYTES_MAX);
const _: () = assert!(ADMIN_REFUSAL_BYTES_MAX < CONTROL_MESSAGE_BYTES_MAX);
const _: () =
    assert!(RESPONSE_MESSAGE_BYTES_MAX + NODE_ID_TEXT_BYTES_MAX + 64 < CONTROL_MESSAGE_BYTES_MAX);
// A batch is never more than a block's worth of transactions, and its answer is one frame.
const _: () = assert!(BROADCAST_BATCH_ENVELOPES_MAX <= BLOCK_TX_MAX);
const _: () = assert!(BROADCAST_BATCH_RESPONSE_BYTES_MAX <= FRAME_BYTES_MAX);
const _: () = assert!(ENVELOPE_BYTES_MAX < BROADCAST_BATCH_BYTES_MAX);
const _: () = assert!(BATCH_TX_MAX_DEFAULT as usize <= BLOCK_TX_MAX);
const _: () = assert!(BATCH_ABSOLUTE_BYTES_MAX_DEFAULT as usize <= BLOCK_DATA_BYTES_MAX);
const _: () = assert!(BATCH_PREFERRED_BYTES_MAX_DEFAULT <= BATCH_ABSOLUTE_BYTES_MAX_DEFAULT);

#[cfg(test)]
mod tests {
    use super::truncate_text;

    #[test]
    fn text_is_cut_at_a_character_boundary() {
        assert_eq!(truncate_text("short".to_owned(), 16), "short");
        assert_eq!(truncate_text("abcdef".to_owned(), 4), "abcd");
        // "é" is two bytes: a cut inside it moves back before it.
        assert_eq!(truncate_text("aé".to_owned(), 2), "a");
        assert_eq!(truncate_text("é".to_owned(), 0), "");
    }
}
