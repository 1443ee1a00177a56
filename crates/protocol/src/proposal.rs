//! The execute phase: a client's signed proposal, and each endorsing peer's signed
//! response carrying the simulated read–write set.

use netsettle_smcrypto::{Hash, PrivateKey, PublicKey, Signature, sm3};

use crate::codec::{
    Wire, check_count, check_len, domain, encode, signing_bytes, signing_bytes_with_signer,
};
use crate::error::{InvalidMessage, ProtocolError};
use crate::header::{ContractId, Header, Identity, TxId, check_name};
use crate::limits::{
    ARGS_BYTES_MAX, ARGS_MAX, EVENT_PAYLOAD_BYTES_MAX, EVENTS_MAX, PROPOSAL_BYTES_MAX,
    PROPOSAL_RESPONSE_BYTES_MAX, RESPONSE_MESSAGE_BYTES_MAX, RESPONSE_PAYLOAD_BYTES_MAX,
};
use crate::rwset::ReadWriteSet;

/// A request to run `function(args)` of a contract on a channel.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Proposal {
    /// Channel, creator, nonce and time.
    pub header: Header,
    /// The contract to run.
    pub contract: ContractId,
    /// The contract function.
    pub function: String,
    /// Its arguments, opaque bytes.
    #[serde(with = "crate::codec::bytes_list")]
    pub args: Vec<Vec<u8>>,
}

impl Proposal {
    /// The transaction id this proposal will have.
    pub fn tx_id(&self) -> TxId {
        self.header.tx_id()
    }

    /// `SM3(encode(proposal))`, which endorsements refer to.
    pub fn hash(&self) -> Result<Hash, ProtocolError> {
        Ok(sm3(&encode(self)?))
    }
}

impl Wire for Proposal {
    const NAME: &'static str = "proposal";
    const BYTES_MAX: usize = PROPOSAL_BYTES_MAX;

    fn check(&self) -> Result<(), InvalidMessage> {
        self.header.check()?;
        self.contract.check()?;
        check_name("function", &self.function)?;
        check_count("args", self.args.len(), ARGS_MAX)?;
        let total = self
            .args
            .iter()
            .fold(0usize, |sum, arg| sum.saturating_add(arg.len()));
        check_len("args", total, ARGS_BYTES_MAX)
    }
}

/// A proposal with its creator's SM2 signature over
/// `domain::PROPOSAL ‖ encode(proposal)`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SignedProposal {
    /// What is proposed.
    pub proposal: Proposal,
    /// The creator's signature.
    pub signature: Signature,
}

impl SignedProposal {
    /// Signs `proposal` with the creator's key.
    pub fn sign(key: &PrivateKey, proposal: Proposal) -> Result<Self, ProtocolError> {
        let signature = key.sign(&signing_bytes(domain::PROPOSAL, &proposal)?);
        Ok(SignedProposal {
            proposal,
            signature,
        })
    }

    /// Verifies the signature with the creator's public key, which the caller has taken
    /// from `proposal.header.creator.cert_der` (and validated) beforehand.
    pub fn verify(&self, creator_key: &PublicKey) -> Result<(), ProtocolError> {
        let message = signing_bytes(domain::PROPOSAL, &self.proposal)?;
        creator_key
            .verify(&message, &self.signature)
            .map_err(|source| ProtocolError::Signature {
                what: "proposal",
                source,
            })
    }

    /// The transaction id.
    pub fn tx_id(&self) -> TxId {
        self.proposal.tx_id()
    }
}

impl Wire for SignedProposal {
    const NAME: &'static str = "signed proposal";
    const BYTES_MAX: usize = PROPOSAL_BYTES_MAX;

    fn check(&self) -> Result<(), InvalidMessage> {
        self.proposal.check()?;
        check_signature(&self.signature)
    }
}

/// An event a contract emits; delivered to clients once its transaction commits valid.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ContractEvent {
    /// Event name, e.g. `ReportUploaded`.
    pub name: String,
    /// Event data.
    #[serde(with = "crate::codec::bytes")]
    pub payload: Vec<u8>,
}

/// The contract's answer, in HTTP style as in Fabric: 200 OK, 400 and above are errors.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Response {
    /// Status code.
    pub status: u32,
    /// Human-readable status line.
    pub message: String,
    /// Return value.
    #[serde(with = "crate::codec::bytes")]
    pub payload: Vec<u8>,
}

impl Response {
    /// Status of a successful call.
    pub const OK: u32 = 200;
    /// Lowest status that counts as an error.
    pub const ERROR_THRESHOLD: u32 = 400;
}

/// What running the contract produced on one endorser.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ContractAction {
    /// The contract and version the endorser actually ran.
    pub contract: ContractId,
    /// The simulated reads and writes.
    pub rw_set: ReadWriteSet,
    /// The contract's answer.
    pub response: Response,
    /// Events emitted.
    pub events: Vec<ContractEvent>,
}

impl ContractAction {
    fn check(&self) -> Result<(), InvalidMessage> {
        self.contract.check()?;
        self.rw_set.check()?;
        check_len(
            "response message",
            self.response.message.len(),
            RESPONSE_MESSAGE_BYTES_MAX,
        )?;
        check_len(
            "response payload",
            self.response.payload.len(),
            RESPONSE_PAYLOAD_BYTES_MAX,
        )?;
        check_count("events", self.events.len(), EVENTS_MAX)?;
        for event in &self.events {
            check_name("event name", &event.name)?;
            check_len(
                "event payload",
                event.payload.len(),
                EVENT_PAYLOAD_BYTES_MAX,
            )?;
        }
        Ok(())
    }
}

/// What an endorser signs: the proposal it answered (by hash) and the result.
/// Encoded, this is `CODEC_VERSION ‖ proposal_hash (32 bytes) ‖ bincode(action)`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ProposalResponsePayload {
    /// `Proposal::hash` of the proposal answered.
    pub proposal_hash: Hash,
    /// The simulation result.
    pub action: ContractAction,
}

impl Wire for ProposalResponsePayload {
    const NAME: &'static str = "proposal response payload";
    const BYTES_MAX: usize = PROPOSAL_RESPONSE_BYTES_MAX;

    fn check(&self) -> Result<(), InvalidMessage> {
        self.action.check()
    }
}

/// An endorser's identity and SM2 signature over
/// `domain::ENDORSEMENT ‖ encode(proposal response payload) ‖ bincode(endorser)`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Endorsement {
    /// The endorsing peer.
    pub endorser: Identity,
    /// Its signature.
    pub signature: Signature,
}

impl Endorsement {
    /// Endorses `payload` as `endorser`, whose private key is `key`.
    pub fn sign(
        key: &PrivateKey,
        endorser: Identity,
        payload: &ProposalResponsePayload,
    ) -> Result<Self, ProtocolError> {
        let signature = key.sign(&signing_bytes_with_signer(
            domain::ENDORSEMENT,
            payload,
            &endorser,
        )?);
        Ok(Endorsement {
            endorser,
            signature,
        })
    }

    /// Verifies this endorsement of `payload` with the key the caller took from
    /// `endorser.cert_der`.
    pub fn verify(
        &self,
        payload: &ProposalResponsePayload,
        endorser_key: &PublicKey,
    ) -> Result<(), ProtocolError> {
        let message = signing_bytes_with_signer(domain::ENDORSEMENT, payload, &self.endorser)?;
        endorser_key
            .verify(&message, &self.signature)
            .map_err(|source| ProtocolError::Signature {
                what: "endorsement",
                source,
            })
    }

    pub(crate) fn check(&self) -> Result<(), InvalidMessage> {
        self.endorser.check()?;
        check_signature(&self.signature)
    }
}

/// One endorser's answer to a signed proposal.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ProposalResponse {
    /// The signed result.
    pub payload: ProposalResponsePayload,
    /// The endorser's signature on it.
    pub endorsement: Endorsement,
}

impl ProposalResponse {
    /// Checks that this response answers `proposal` and that the endorsement verifies
    /// with `endorser_key`.
    pub fn verify(
        &self,
        proposal: &Proposal,
        endorser_key: &PublicKey,
    ) -> Result<(), ProtocolError> {
        let expected = proposal.hash()?;
        if self.payload.proposal_hash != expected {
            return Err(ProtocolError::ProposalHashMismatch {
                expected,
                found: self.payload.proposal_hash,
            });
        }
        self.endorsement.verify(&self.payload, endorser_key)
    }
}

impl Wire for ProposalResponse {
    const NAME: &'static str = "proposal response";
    const BYTES_MAX: usize = PROPOSAL_RESPONSE_BYTES_MAX;

    fn check(&self) -> Result<(), InvalidMessage> {
        self.payload.check()?;
        self.endorsement.check()
    }
}

/// Checks the DER length of a signature that arrived through serde.
pub(crate) fn check_signature(signature: &Signature) -> Result<(), InvalidMessage> {
    check_len(
        "signature",
        signature.as_der().len(),
        Signature::DER_BYTES_MAX,
    )
}
