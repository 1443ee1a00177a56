//! Turning a signed proposal and its endorsements into the envelope the orderers take.

use netsettle_protocol::{
    Envelope, Payload, ProposalResponse, Response, SignedProposal, Transaction,
};
use netsettle_smcrypto::x509::Certificate;

use crate::{ClientError, Signer};

/// A transaction ready for broadcast, and what the endorsers returned.
#[derive(Debug, Clone)]
pub struct Endorsed {
    /// The envelope, signed by the client.
    pub envelope: Envelope,
    /// The contract's answer (identical at every endorser).
    pub response: Response,
}

/// Checks the collected responses cheaply and signs the transaction envelope.
///
/// Every response must answer `proposal`, carry status 200, come from a distinct
/// endorser, and agree with the first one on the contract, read–write set, response and
/// events, so that all carry the same payload (one simulation): committing peers would
/// otherwise mark the transaction invalid after it had gone through ordering for nothing.
/// ([`crate::Gateway::endorse`] also checks that each endorser is of the organisation the
/// client asked.)
///
/// The endorsements' SM2 signatures are not verified here. Every committing peer verifies
/// them before the endorsement policy counts them (the validator's signature pass: a
/// signature that fails makes the transaction `BAD_SIGNATURE`), so a bad endorsement can
/// only get the client's own transaction marked invalid, changing nothing; and the peers
/// the client asked are those of its connection profile, reached over SM-TLS with their
/// certificates checked. Verifying here would cost one SM2 verification per endorsement
/// per transaction to save a trip through ordering in a case that needs a broken or
/// lying peer. [`assemble_verified`] verifies them too, for a caller that wants to know
/// before broadcasting.
pub fn assemble(
    signer: &Signer,
    proposal: &SignedProposal,
    responses: Vec<ProposalResponse>,
) -> Result<Endorsed, ClientError> {
    assemble_checked(signer, proposal, responses, false)
}

/// [`assemble`], and every endorsement must verify with its endorser's certificate
/// ([`ClientError::BadEndorsement`] otherwise).
pub fn assemble_verified(
    signer: &Signer,
    proposal: &SignedProposal,
    responses: Vec<ProposalResponse>,
) -> Result<Endorsed, ClientError> {
    assemble_checked(signer, proposal, responses, true)
}

fn assemble_checked(
    signer: &Signer,
    proposal: &SignedProposal,
    responses: Vec<ProposalResponse>,
    verify: bool,
) -> Result<Endorsed, ClientError> {
    let expected_hash = proposal.proposal.hash()?;
    let first = responses
        .first()
        .ok_or(ClientError::NoEndorsements)?
        .clone();
    let mut endorsers = Vec::with_capacity(responses.len());
    for (index, response) in responses.iter().enumerate() {
        if response.payload.proposal_hash != expected_hash {
            return Err(ClientError::WrongProposal { index });
        }
        let answer = &response.payload.action.response;
        if answer.status != Response::OK {
            return Err(ClientError::Refused {
                index,
                status: answer.status,
                message: answer.message.clone(),
            });
        }
        check_same(index, &first, response)?;
        let endorser = &response.endorsement.endorser;
        if endorsers.contains(&endorser) {
            return Err(ClientError::DuplicateEndorser { index });
        }
        endorsers.push(endorser);
        if verify {
            verify_endorsement(index, proposal, response)?;
        }
    }
    let transaction = Transaction {
        proposal: proposal.proposal.clone(),
        response: first.payload.clone(),
        endorsements: responses
            .into_iter()
            .map(|response| response.endorsement)
            .collect(),
    };
    let envelope = signer.sign_envelope(Payload::Transaction(Box::new(transaction)))?;
    Ok(Endorsed {
        envelope,
        response: first.payload.action.response,
    })
}

/// Checks that `response`'s endorsement verifies with its endorser's certificate.
fn verify_endorsement(
    index: usize,
    proposal: &SignedProposal,
    response: &ProposalResponse,
) -> Result<(), ClientError> {
    let certificate =
        Certificate::from_der(&response.endorsement.endorser.cert_der).map_err(|error| {
            ClientError::BadEndorsement {
                index,
                reason: format!("endorser certificate: {error}"),
            }
        })?;
    response
        .verify(&proposal.proposal, certificate.public_key())
        .map_err(|error| ClientError::BadEndorsement {
            index,
            reason: error.to_string(),
        })
}

/// Names the first part in which `other` differs from `first`.
fn check_same(
    index: usize,
    first: &ProposalResponse,
    other: &ProposalResponse,
) -> Result<(), ClientError> {
    let (a, b) = (&first.payload.action, &other.payload.action);
    let what = if a.contract != b.contract {
        "contract"
    } else if a.rw_set != b.rw_set {
        "read-write set"
    } else if a.response != b.response {
        "response"
    } else if a.events != b.events {
        "events"
    } else {
        return Ok(());
    };
    Err(ClientError::Mismatch { index, what })
}
