//! The checks an orderer makes before an envelope enters the Raft log, and before a
//! delivery stream starts. Pure functions of the channel state and a time: the service
//! runs them on the blocking pool, in batches (`checks`), so the core thread spends no
//! time on SM2.

use netsettle_msp::{ChannelState, check_config_update};
use netsettle_protocol::{
    ConfigUpdateEnvelope, Envelope, Header, Payload, SignedDeliverRequest, TxId, Wire as _, encode,
};

use crate::error::{BroadcastError, DeliverError};
use crate::limits::DELIVER_REQUEST_SKEW_SECS;
use crate::membership::{check_consenter_change, consenter_ids};

/// What an envelope turned out to be, once checked.
#[derive(Debug, Clone)]
pub enum VerifiedKind {
    /// An endorsed transaction, signed by a writer.
    Transaction,
    /// A config update whose approvals satisfy the modification policy.
    ConfigUpdate {
        /// The submitter's header (channel, creator).
        header: Header,
        /// The update with its approvals.
        update: Box<ConfigUpdateEnvelope>,
        /// When it was checked, unix seconds.
        at_unix: i64,
    },
}

/// An envelope that passed [`verify_envelope`] against config sequence
/// `config_sequence`. Only this type enters the core, so nothing unchecked is proposed.
#[derive(Debug, Clone)]
pub struct VerifiedEnvelope {
    pub(crate) envelope: Envelope,
    pub(crate) kind: VerifiedKind,
    pub(crate) tx_id: TxId,
    pub(crate) bytes: u64,
    pub(crate) config_sequence: u64,
}

impl VerifiedEnvelope {
    /// The transaction id.
    pub fn tx_id(&self) -> TxId {
        self.tx_id
    }

    /// The encoded size.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }
}

/// Checks an envelope for broadcast at `at_unix`: limits, channel, kind, size against the
/// batch policy, creator (valid member of its organisation), signature, the Writers
/// policy, and for a config update, the modification policy.
pub fn verify_envelope(
    state: &ChannelState,
    envelope: Envelope,
    at_unix: i64,
) -> Result<VerifiedEnvelope, BroadcastError> {
    verify_envelope_sized(state, envelope, None, at_unix)
}

/// [`verify_envelope`], given the envelope's encoded size when the caller decoded it from
/// exactly that many bytes (the codec is canonical, so encoding it again would give the
/// same bytes): spares encoding it once more.
pub(crate) fn verify_envelope_sized(
    state: &ChannelState,
    envelope: Envelope,
    encoded_bytes: Option<usize>,
    at_unix: i64,
) -> Result<VerifiedEnvelope, BroadcastError> {
    envelope
        .check()
        .map_err(|e| BroadcastError::Malformed(e.to_string()))?;
    let bytes = match encoded_bytes {
        Some(bytes) => bytes,
        None => encode(&envelope)
            .map_err(|e| BroadcastError::Malformed(e.to_string()))?
            .len(),
    };
    let bytes = u64::try_from(bytes).unwrap_or(u64::MAX);
    let max = state.config.orderer.batch.absolute_bytes_max;
    if bytes > max {
        return Err(BroadcastError::TooLarge { bytes, max });
    }
    let header = envelope.header();
    if header.channel != state.config.channel {
        return Err(BroadcastError::WrongChannel {
            expected: state.config.channel.clone(),
            got: header.channel.clone(),
        });
    }
    if matches!(envelope.payload, Payload::Config { .. }) {
        return Err(BroadcastError::ConfigEnvelope);
    }
    let creator = state
        .msps
        .validate(&header.creator, at_unix)
        .map_err(BroadcastError::Creator)?;
    envelope
        .verify(creator.cert.public_key())
        .map_err(|_| BroadcastError::BadSignature)?;
    state
        .msps
        .evaluate(
            &state.config.policies.writers,
            std::slice::from_ref(&creator),
        )
        .map_err(BroadcastError::Forbidden)?;
    let kind = match &envelope.payload {
        Payload::Transaction(_) => VerifiedKind::Transaction,
        Payload::ConfigUpdate { header, update } => {
            check_config_update(&state.config, &state.msps, update, at_unix)
                .map_err(BroadcastError::ConfigUpdate)?;
            // Whether an earlier change is still under way is the core's to judge (it
            // knows Raft's voters); the shape of this change is known here.
            let consenters = consenter_ids(&state.config);
            check_consenter_change(&state.config, &update.update.config, &consenters)
                .map_err(BroadcastError::ConsenterChange)?;
            VerifiedKind::ConfigUpdate {
                header: header.clone(),
                update: update.clone(),
                at_unix,
            }
        }
        Payload::Config { .. } => return Err(BroadcastError::ConfigEnvelope),
    };
    Ok(VerifiedEnvelope {
        tx_id: envelope.tx_id(),
        envelope,
        kind,
        bytes,
        config_sequence: state.config.sequence,
    })
}

/// Checks a delivery request at `at_unix`: limits, channel, freshness, requester,
/// signature and the Readers policy.
pub fn verify_deliver_request(
    state: &ChannelState,
    request: &SignedDeliverRequest,
    at_unix: i64,
) -> Result<(), DeliverError> {
    request
        .check()
        .map_err(|e| DeliverError::BadRequest(e.to_string()))?;
    let inner = &request.request;
    if inner.channel != state.config.channel {
        return Err(DeliverError::BadRequest(format!(
            "channel {:?} is not served here",
            inner.channel
        )));
    }
    let made_at = i64::try_from(inner.timestamp.unix_time_ms / 1000).unwrap_or(i64::MAX);
    if made_at.abs_diff(at_unix) > DELIVER_REQUEST_SKEW_SECS {
        return Err(DeliverError::BadRequest(format!(
            "request made at {made_at}, now is {at_unix}: more than {DELIVER_REQUEST_SKEW_SECS} s apart"
        )));
    }
    let requester = state
        .msps
        .validate(&inner.requester, at_unix)
        .map_err(|e| DeliverError::Forbidden(e.to_string()))?;
    request
        .verify(requester.cert.public_key())
        .map_err(|_| DeliverError::BadRequest("signature does not verify".to_owned()))?;
    state
        .msps
        .evaluate(
            &state.config.policies.readers,
            std::slice::from_ref(&requester),
        )
        .map_err(|e| DeliverError::Forbidden(e.to_string()))?;
    Ok(())
}
