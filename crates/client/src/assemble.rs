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

/// Checks the collected responses and signs the transaction envelope.
///
/// Every response must answer `proposal`, carry status 200, verify with its endorser's
/// certificate, come from a distinct endorser, and agree with the first one on the
/// contract, read–write set, response and events: committing peers would otherwise mark
/// the transaction invalid after it had gone through ordering for nothing.
pub fn assemble(
    signer: &Signer,
    proposal: &SignedProposal,
    responses: Vec<ProposalResponse>,
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
        let certificate = Certificate::from_der(&endorser.cert_der).map_err(|error| {
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
            })?;
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
