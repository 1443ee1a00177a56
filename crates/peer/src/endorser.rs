//! The endorser: checks a signed proposal, runs the contract in the simulator over the
//! committed state, and signs the result with the peer's SM2 key.
//!
//! Checks, in order (cheapest and most common refusals first): limits and canonical form,
//! channel, the timestamp window, the creator's certificate against the channel's MSPs at
//! the endorser's clock (chain, expiry, CRLs, role), the creator's signature, the channel's
//! Writers policy, the transaction id not yet on the ledger, and the contract defined on
//! the channel at the version proposed and installed here with the defined package. The
//! transaction id is derived from nonce and creator (`TxId::derive`), never sent, so it
//! always equals SM3(nonce ‖ creator).
//!
//! A contract error yields [`EndorseError::Contract`] and no signature: an error response
//! must never be mistaken for an endorsed result. Every endorsement signed is recorded in
//! the peer's [`OwnEndorsements`], so its validator does not verify it again.

use std::sync::Arc;

use netsettle_contract::{Contract, Creator, Invocation, Simulator, StateRead};
use netsettle_ledger::LedgerError;
use netsettle_msp::{ChannelMsps, ValidatedIdentity};
use netsettle_protocol::{
    ContractAction, ContractId, Endorsement, Identity, ProposalResponse, ProposalResponsePayload,
    Response, SignedProposal, Wire as _, domain,
};
use netsettle_smcrypto::PrivateKey;
use tracing::debug;

use crate::error::{EndorseError, ProposalRejected};
use crate::lifecycle::{
    ContractDefinition, ContractRegistry, LIFECYCLE_NAMESPACE, Lifecycle, decode_definition,
    definition_key,
};
use crate::limits::PROPOSAL_CLOCK_SKEW_MS_MAX;
use crate::own_endorsements::OwnEndorsements;
use crate::validator::signed_message;

/// A peer's endorsing identity and its installed contracts.
pub struct Endorser {
    key: Arc<PrivateKey>,
    identity: Identity,
    registry: Arc<ContractRegistry>,
    /// What it signed lately, for its own validator.
    own: Arc<OwnEndorsements>,
}

impl core::fmt::Debug for Endorser {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Endorser")
            .field("msp_id", &self.identity.msp_id)
            .field("registry", &self.registry)
            .finish_non_exhaustive()
    }
}

impl Endorser {
    /// An endorser signing as `identity` (a peer certificate) with `key`.
    pub fn new(key: Arc<PrivateKey>, identity: Identity, registry: Arc<ContractRegistry>) -> Self {
        Endorser {
            key,
            own: Arc::new(OwnEndorsements::new(identity.clone())),
            identity,
            registry,
        }
    }

    /// The endorsements this endorser signed lately: give it to the peer's validator
    /// ([`crate::validator::Validator::trusting_own`]).
    pub fn own_endorsements(&self) -> Arc<OwnEndorsements> {
        Arc::clone(&self.own)
    }

    /// The peer's identity.
    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// The installed contracts.
    pub fn registry(&self) -> &ContractRegistry {
        &self.registry
    }

    /// Endorses `signed` against `state` under the channel's `msps`, with the endorser's
    /// clock at `now_ms` (milliseconds since the Unix epoch).
    pub fn endorse<S: StateRead<Error = LedgerError> + ?Sized>(
        &self,
        msps: &ChannelMsps,
        state: &S,
        signed: &SignedProposal,
        now_ms: u64,
    ) -> Result<ProposalResponse, EndorseError> {
        let creator = check_proposal(msps, state, signed, now_ms)?;
        let proposal = &signed.proposal;
        let contract = self.resolve(msps, state, &proposal.contract)?;
        let invocation = Invocation {
            channel: proposal.header.channel.clone(),
            namespace: proposal.contract.name.clone(),
            tx_id: proposal.tx_id(),
            timestamp: proposal.header.timestamp,
            creator,
        };
        let mut simulator = Simulator::new(state, invocation);
        let result = contract.invoke(&mut simulator, &proposal.function, &proposal.args);
        let payload = match result {
            Ok(payload) => payload,
            Err(error) => {
                debug!(tx_id = %proposal.tx_id(), %error, "contract refused the proposal");
                return Err(EndorseError::Contract {
                    status: error.status(),
                    message: error.to_string(),
                });
            }
        };
        let simulation = simulator.finish();
        let response = ProposalResponsePayload {
            proposal_hash: proposal.hash().map_err(EndorseError::Result)?,
            action: ContractAction {
                contract: proposal.contract.clone(),
                rw_set: simulation.rw_set,
                response: Response {
                    status: Response::OK,
                    message: String::new(),
                    payload,
                },
                events: simulation.events,
            },
        };
        // The bytes `Endorsement::sign` signs, built once to sign and to remember.
        let message = signed_message(domain::ENDORSEMENT, &response, Some(&self.identity))
            .map_err(|error| EndorseError::Result(error.into()))?;
        let endorsement = Endorsement {
            endorser: self.identity.clone(),
            signature: self.key.sign(&message),
        };
        self.own
            .record(proposal.tx_id(), &message, endorsement.signature.clone());
        Ok(ProposalResponse {
            payload: response,
            endorsement,
        })
    }

    /// The contract a proposal names: the lifecycle, or an installed contract whose
    /// committed definition has the proposed version and the installed package.
    fn resolve<S: StateRead<Error = LedgerError> + ?Sized>(
        &self,
        msps: &ChannelMsps,
        state: &S,
        id: &ContractId,
    ) -> Result<Arc<dyn Contract>, EndorseError> {
        let unknown = |reason: String| ProposalRejected::UnknownContract {
            name: id.name.clone(),
            reason,
        };
        if id.name == LIFECYCLE_NAMESPACE {
            let msp_ids = msps.msp_ids().map(str::to_owned).collect();
            return Ok(Arc::new(Lifecycle::new(msp_ids)));
        }
        let definition = read_definition(state, &id.name)?.ok_or_else(|| {
            unknown("it has no committed definition on the channel (approve and commit one)".into())
        })?;
        if definition.version != id.version {
            return Err(unknown(format!(
                "the channel defines version {}, the proposal names {}",
                definition.version, id.version
            ))
            .into());
        }
        let contract = self
            .registry
            .get(&id.name)
            .ok_or_else(|| unknown("it is not installed on this peer".into()))?;
        if contract.package_digest() != definition.package_digest {
            return Err(unknown(format!(
                "the installed package {} differs from the defined package {}",
                contract.package_digest(),
                definition.package_digest
            ))
            .into());
        }
        Ok(Arc::clone(contract))
    }
}

/// The committed definition of contract `name`, if any.
pub fn read_definition<S: StateRead<Error = LedgerError> + ?Sized>(
    state: &S,
    name: &str,
) -> Result<Option<ContractDefinition>, EndorseError> {
    let key = definition_key(name).map_err(|error| ProposalRejected::UnknownContract {
        name: name.to_owned(),
        reason: error.to_string(),
    })?;
    let Some(value) = state.state(LIFECYCLE_NAMESPACE, &key)? else {
        return Ok(None);
    };
    decode_definition(&value.value)
        .map(Some)
        .map_err(|error| EndorseError::Contract {
            status: error.status(),
            message: error.to_string(),
        })
}

/// Every check on the proposal itself; returns the creator as the contract sees it.
fn check_proposal<S: StateRead<Error = LedgerError> + ?Sized>(
    msps: &ChannelMsps,
    state: &S,
    signed: &SignedProposal,
    now_ms: u64,
) -> Result<Creator, EndorseError> {
    signed.check().map_err(ProposalRejected::Malformed)?;
    let header = &signed.proposal.header;
    if header.channel != msps.channel() {
        return Err(ProposalRejected::WrongChannel {
            expected: msps.channel().to_owned(),
            got: header.channel.clone(),
        }
        .into());
    }
    let proposal_ms = header.timestamp.unix_time_ms;
    if proposal_ms.abs_diff(now_ms) > PROPOSAL_CLOCK_SKEW_MS_MAX {
        return Err(ProposalRejected::StaleTimestamp {
            proposal_ms,
            now_ms,
            skew_ms_max: PROPOSAL_CLOCK_SKEW_MS_MAX,
        }
        .into());
    }
    let now_unix = i64::try_from(now_ms / 1000).unwrap_or(i64::MAX);
    let creator = msps
        .validate(&header.creator, now_unix)
        .map_err(ProposalRejected::Creator)?;
    signed
        .verify(creator.cert.public_key())
        .map_err(|_| ProposalRejected::BadSignature)?;
    msps.evaluate(
        &msps.channel_policies().writers,
        std::slice::from_ref(&creator),
    )
    .map_err(ProposalRejected::NotWriter)?;
    let tx_id = signed.tx_id();
    if state.contains_transaction(&tx_id)? {
        return Err(ProposalRejected::DuplicateTxId(tx_id).into());
    }
    Ok(contract_creator(&creator))
}

/// The creator as a contract sees it.
pub fn contract_creator(identity: &ValidatedIdentity) -> Creator {
    Creator {
        msp_id: identity.msp_id.clone(),
        role: identity.role,
        common_name: identity.cert.common_name().unwrap_or_default(),
        fingerprint: identity.fingerprint,
        attributes: identity.attributes.clone(),
    }
}
