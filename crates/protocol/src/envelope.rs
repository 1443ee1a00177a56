//! The order phase's unit: an envelope the client (or an admin, or the orderer for config
//! blocks) signs and broadcasts, holding either an endorsed transaction or a channel
//! configuration change.

use netsettle_smcrypto::{Hash, PrivateKey, PublicKey, Signature, sm3};

use crate::codec::{
    Wire, check_count, check_non_empty, domain, encode, signing_bytes, signing_bytes_with_signer,
};
use crate::config::ChannelConfig;
use crate::error::{InvalidMessage, ProtocolError};
use crate::header::{Header, Identity, TxId, check_name};
use crate::limits::{
    CONFIG_SIGNATURES_MAX, CONFIG_UPDATE_BYTES_MAX, ENDORSEMENTS_MAX, ENVELOPE_BYTES_MAX,
};
use crate::proposal::{Endorsement, Proposal, ProposalResponsePayload, check_signature};

/// An endorsed transaction as the client assembles it: the proposal, the result every
/// endorser agreed on, and all their endorsements. Encoded with every written value that
/// repeats an argument of the proposal as that argument's index (`tx_wire`), so the
/// envelope carries it once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transaction {
    /// The proposal; its header is the transaction's header.
    pub proposal: Proposal,
    /// The result, identical in every endorsement.
    pub response: ProposalResponsePayload,
    /// One per endorsing peer, each over `response`.
    pub endorsements: Vec<Endorsement>,
}

impl Transaction {
    /// Verifies endorsement `index` with the key the caller took from its endorser's
    /// certificate. Also checks that the response answers this transaction's proposal.
    pub fn verify_endorsement(
        &self,
        index: usize,
        endorser_key: &PublicKey,
    ) -> Result<(), ProtocolError> {
        let endorsement = self
            .endorsements
            .get(index)
            .ok_or(ProtocolError::NoSuchEntry {
                what: "endorsements",
                index,
            })?;
        let expected = self.proposal.hash()?;
        if self.response.proposal_hash != expected {
            return Err(ProtocolError::ProposalHashMismatch {
                expected,
                found: self.response.proposal_hash,
            });
        }
        endorsement.verify(&self.response, endorser_key)
    }

    fn check(&self) -> Result<(), InvalidMessage> {
        self.proposal.check()?;
        self.response.check()?;
        check_non_empty("endorsements", self.endorsements.len())?;
        check_count("endorsements", self.endorsements.len(), ENDORSEMENTS_MAX)?;
        for endorsement in &self.endorsements {
            endorsement.check()?;
        }
        Ok(())
    }
}

/// A proposed channel configuration. The whole new configuration is carried (not a
/// delta): the consortium is small, and a full copy makes "what is in force" obvious. Its
/// `config.sequence` must be the current sequence plus one.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ConfigUpdate {
    /// The channel to reconfigure.
    pub channel: String,
    /// The configuration to put in force.
    pub config: ChannelConfig,
}

impl Wire for ConfigUpdate {
    const NAME: &'static str = "config update";
    const BYTES_MAX: usize = CONFIG_UPDATE_BYTES_MAX;

    fn check(&self) -> Result<(), InvalidMessage> {
        check_name("config update channel", &self.channel)?;
        self.config.check()
    }
}

/// An admin's approval of a config update: SM2 signature over
/// `domain::CONFIG_UPDATE ‖ encode(config update) ‖ bincode(signer)`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ConfigSignature {
    /// The approving admin.
    pub signer: Identity,
    /// The admin's signature.
    pub signature: Signature,
}

impl ConfigSignature {
    /// Approves `update` as `signer`, whose private key is `key`.
    pub fn sign(
        key: &PrivateKey,
        signer: Identity,
        update: &ConfigUpdate,
    ) -> Result<Self, ProtocolError> {
        let signature = key.sign(&signing_bytes_with_signer(
            domain::CONFIG_UPDATE,
            update,
            &signer,
        )?);
        Ok(ConfigSignature { signer, signature })
    }

    /// Verifies this approval of `update` with the key the caller took from the signer's
    /// certificate.
    pub fn verify(
        &self,
        update: &ConfigUpdate,
        signer_key: &PublicKey,
    ) -> Result<(), ProtocolError> {
        let message = signing_bytes_with_signer(domain::CONFIG_UPDATE, update, &self.signer)?;
        signer_key
            .verify(&message, &self.signature)
            .map_err(|source| ProtocolError::Signature {
                what: "config update",
                source,
            })
    }

    fn check(&self) -> Result<(), InvalidMessage> {
        self.signer.check()?;
        check_signature(&self.signature)
    }
}

/// A config update with the admin signatures collected for it; the channel's Admins
/// policy (MAJORITY of org admins) decides whether they suffice.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ConfigUpdateEnvelope {
    /// The proposed configuration.
    pub update: ConfigUpdate,
    /// Admin approvals.
    pub signatures: Vec<ConfigSignature>,
}

impl ConfigUpdateEnvelope {
    fn check(&self) -> Result<(), InvalidMessage> {
        self.update.check()?;
        check_count(
            "config signatures",
            self.signatures.len(),
            CONFIG_SIGNATURES_MAX,
        )?;
        for signature in &self.signatures {
            signature.check()?;
        }
        Ok(())
    }
}

/// The configuration in force from the block holding it on, as the orderer writes it into
/// a config block (the genesis block included).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ConfigEnvelope {
    /// The new configuration.
    pub config: ChannelConfig,
    /// The approved update that led to it; `None` only in the genesis block.
    pub last_update: Option<ConfigUpdateEnvelope>,
}

/// What an envelope carries. Exhaustive on purpose: every consumer (orderer, validator,
/// ledger) must decide what to do with each kind.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Payload {
    /// An endorsed transaction; its header is `proposal.header`. Boxed, like the
    /// configurations below, so a `Payload` stays small whichever kind it is.
    Transaction(Box<Transaction>),
    /// A configuration change submitted to the orderer by an admin.
    ConfigUpdate {
        /// The submitter.
        header: Header,
        /// The update and its approvals.
        update: Box<ConfigUpdateEnvelope>,
    },
    /// A configuration put in force; alone in its (config) block.
    Config {
        /// The orderer that produced it.
        header: Header,
        /// The configuration.
        config: Box<ConfigEnvelope>,
    },
}

impl Payload {
    /// The header: channel, creator, nonce, timestamp.
    pub fn header(&self) -> &Header {
        match self {
            Payload::Transaction(transaction) => &transaction.proposal.header,
            Payload::ConfigUpdate { header, .. } | Payload::Config { header, .. } => header,
        }
    }
}

impl Wire for Payload {
    const NAME: &'static str = "payload";
    const BYTES_MAX: usize = ENVELOPE_BYTES_MAX;

    fn check(&self) -> Result<(), InvalidMessage> {
        match self {
            Payload::Transaction(transaction) => transaction.check(),
            Payload::ConfigUpdate { header, update } => {
                header.check()?;
                update.check()
            }
            Payload::Config { header, config } => {
                header.check()?;
                config.config.check()?;
                match &config.last_update {
                    Some(update) => update.check(),
                    None => Ok(()),
                }
            }
        }
    }
}

/// A payload with its creator's SM2 signature over `domain::ENVELOPE ‖ encode(payload)`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Envelope {
    /// The transaction or configuration.
    pub payload: Payload,
    /// The signature of `payload.header().creator`.
    pub signature: Signature,
}

impl Envelope {
    /// Signs `payload` with the creator's key.
    pub fn sign(key: &PrivateKey, payload: Payload) -> Result<Self, ProtocolError> {
        let signature = key.sign(&signing_bytes(domain::ENVELOPE, &payload)?);
        Ok(Envelope { payload, signature })
    }

    /// Verifies the creator's signature with the key the caller took from
    /// `header().creator.cert_der`.
    pub fn verify(&self, creator_key: &PublicKey) -> Result<(), ProtocolError> {
        let message = signing_bytes(domain::ENVELOPE, &self.payload)?;
        creator_key
            .verify(&message, &self.signature)
            .map_err(|source| ProtocolError::Signature {
                what: "envelope",
                source,
            })
    }

    /// The header.
    pub fn header(&self) -> &Header {
        self.payload.header()
    }

    /// The transaction id, derived from the header's nonce and creator.
    pub fn tx_id(&self) -> TxId {
        self.header().tx_id()
    }

    /// `SM3(encode(envelope))`, signature included: the leaf input of the block's Merkle
    /// tree.
    pub fn hash(&self) -> Result<Hash, ProtocolError> {
        Ok(sm3(&encode(self)?))
    }
}

impl Wire for Envelope {
    const NAME: &'static str = "envelope";
    const BYTES_MAX: usize = ENVELOPE_BYTES_MAX;

    fn check(&self) -> Result<(), InvalidMessage> {
        self.payload.check()?;
        check_signature(&self.signature)
    }
}
