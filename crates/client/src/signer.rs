//! A client identity that signs proposals.

use netsettle_protocol::{
    ContractId, Header, Identity, Nonce, Proposal, SignedProposal, Timestamp, limits::NONCE_BYTES,
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

    /// The private key, for signing the envelope.
    pub(crate) fn key(&self) -> &PrivateKey {
        &self.key
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
        let mut nonce = [0u8; NONCE_BYTES];
        netsettle_smcrypto::random_bytes(&mut nonce).map_err(ClientError::Random)?;
        let unix_time_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .ok()
            .and_then(|since| u64::try_from(since.as_millis()).ok())
            .ok_or(ClientError::Clock)?;
        self.propose_at(
            channel,
            contract,
            function,
            args,
            Nonce(nonce),
            Timestamp { unix_time_ms },
        )
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
}
