//! A client identity that signs proposals, transaction envelopes and config update
//! submissions.

use netsettle_protocol::{
    ConfigUpdateEnvelope, ContractId, DeliverRequest, Envelope, Header, Identity, Nonce, Payload,
    Proposal, SeekPosition, SignedDeliverRequest, SignedProposal, Timestamp, limits::NONCE_BYTES,
};
use netsettle_smcrypto::PrivateKey;

use crate::ClientError;

/// A client's SM2 key and its identity (MSP id + certificate).
pub struct Signer {
    key: PrivateKey,
    identity: Identity,
}

impl Signer {
    /// Pairs a key with the identity whose certificate holds its public key. The caller
    /// checks the pairing when loading files; signatures by a mismatched pair fail
    /// verification at every peer.
    pub fn new(key: PrivateKey, identity: Identity) -> Self {
        Signer { key, identity }
    }

    /// The identity that signs.
    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// Signs a proposal to run `function(args)` of `contract` on `channel`, with a fresh
    /// random nonce and the current time.
    pub fn propose(
        &self,
        channel: &str,
        contract: ContractId,
        function: &str,
        args: Vec<Vec<u8>>,
    ) -> Result<SignedProposal, ClientError> {
        let (nonce, timestamp) = fresh_nonce_and_time()?;
        self.propose_at(channel, contract, function, args, nonce, timestamp)
    }

    /// [`Signer::propose`] with the nonce and time given, for reproducible tests.
    pub fn propose_at(
        &self,
        channel: &str,
        contract: ContractId,
        function: &str,
        args: Vec<Vec<u8>>,
        nonce: Nonce,
        timestamp: Timestamp,
    ) -> Result<SignedProposal, ClientError> {
        let proposal = Proposal {
            header: Header {
                channel: channel.to_owned(),
                creator: self.identity.clone(),
                nonce,
                timestamp,
            },
            contract,
            function: function.to_owned(),
            args,
        };
        Ok(SignedProposal::sign(&self.key, proposal)?)
    }

    /// Signs a request for the blocks of `channel` from `start` to `stop` inclusive (`None`:
    /// and every new block as it is cut), with a fresh nonce and the current time; the
    /// orderer checks it against the channel's Readers policy.
    pub fn deliver_request(
        &self,
        channel: &str,
        start: u64,
        stop: Option<u64>,
    ) -> Result<SignedDeliverRequest, ClientError> {
        let (nonce, timestamp) = fresh_nonce_and_time()?;
        let request = DeliverRequest {
            channel: channel.to_owned(),
            requester: self.identity.clone(),
            nonce,
            timestamp,
            start: SeekPosition::Specified(start),
            stop: stop.map(SeekPosition::Specified),
        };
        Ok(SignedDeliverRequest::sign(&self.key, request)?)
    }

    /// Signs `payload` as its creator. The payload's header must name this identity, or
    /// every orderer and peer rejects the signature.
    pub fn sign_envelope(&self, payload: Payload) -> Result<Envelope, ClientError> {
        Ok(Envelope::sign(&self.key, payload)?)
    }

    /// The envelope that submits `update` (already carrying the admins' approvals) to the
    /// orderers of `channel`, with this identity as submitter, a fresh nonce and the
    /// current time. The submitter needs only the channel's Writers policy; the approvals
    /// inside decide whether the update passes its modification policy.
    pub fn config_update_envelope(
        &self,
        channel: &str,
        update: ConfigUpdateEnvelope,
    ) -> Result<Envelope, ClientError> {
        let (nonce, timestamp) = fresh_nonce_and_time()?;
        let header = Header {
            channel: channel.to_owned(),
            creator: self.identity.clone(),
            nonce,
            timestamp,
        };
        self.sign_envelope(Payload::ConfigUpdate {
            header,
            update: Box::new(update),
        })
    }
}

/// A random nonce and the current wall-clock time: what makes each header (and so each
/// transaction id) new.
fn fresh_nonce_and_time() -> Result<(Nonce, Timestamp), ClientError> {
    let mut nonce = [0u8; NONCE_BYTES];
    netsettle_smcrypto::random_bytes(&mut nonce).map_err(ClientError::Random)?;
    let unix_time_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()
        .and_then(|since| u64::try_from(since.as_millis()).ok())
        .ok_or(ClientError::Clock)?;
    Ok((Nonce(nonce), Timestamp { unix_time_ms }))
}
