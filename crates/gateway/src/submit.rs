//! The two ways to submit, as Fabric Gateway has them.
//!
//! Caller-signed: the caller builds and signs a `SignedProposal` (our codec, hex in
//! JSON); the gateway endorses it at one peer of each carrier and returns the unsigned
//! transaction payload and the exact bytes to sign (`domain::ENVELOPE ‖ payload`); the
//! caller signs them and submits payload and signature, which the gateway broadcasts.
//! The caller's key never reaches the gateway; the proposal's creator must be the
//! caller (same organisation and common name as its client certificate).
//!
//! Gateway-signed: `POST /v1/settlement/{function}` with the JSON request; the gateway
//! signs with its carrier's settlement identity (or finance identity for a caller whose
//! certificate carries `department=finance`), only for callers of its own carrier, and
//! records the caller's common name in the request's `on_behalf_of` field.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Request, State};
use netsettle_client::{ClientError, Gateway as ClientGateway};
use netsettle_peer::service::PeerHandle;
use netsettle_protocol::{
    Envelope, Payload, Proposal, ProposalResponse, Response, SignedProposal, Transaction, TxId,
    decode, domain, encode,
};
use netsettle_smcrypto::Signature;
use netsettle_smcrypto::x509::Certificate;
use serde_json::{Value, json};

use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::json_body;
use crate::ledger_views::status_json;
use crate::limits::REQUEST_TIMEOUT;
use crate::state::Shared;

/// Workflow functions a carrier's systems may call through the gateway-signed route.
/// Agreement changes (admin) and unknown names are refused.
pub const GATEWAY_SIGNED_FUNCTIONS: &[&str] = &[
    "upload",
    "reveal",
    "dispute",
    "adjust_propose",
    "adjust_propose_many",
    "adjust_accept",
    "adjust_reject",
    "adjust_decide_many",
    "confirm",
    "approve",
    "pay",
    "ack",
    "reset",
];

/// `{"proposal": HEX}`: a caller-signed proposal, `encode(SignedProposal)` in hex; or
/// `{"proposal": HEX, "signature": HEX}`: `encode(Proposal)` from `prepare` and the
/// caller's SM2 signature (DER) over its signing bytes.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ProposalBody {
    proposal: String,
    #[serde(default)]
    signature: Option<String>,
}

/// `{"payload": HEX, "signature": HEX, "wait": bool}`: the payload from endorse and the
/// caller's SM2 signature (DER) over its signing bytes.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SubmitBody {
    payload: String,
    signature: String,
    #[serde(default)]
    wait: bool,
}

/// `{"request": {...}, "ciphertext": HEX?}`: a gateway-signed call; `ciphertext` is
/// `upload`'s second argument.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct InvokeBody {
    request: serde_json::Map<String, Value>,
    #[serde(default)]
    ciphertext: Option<String>,
}

fn unhex(what: &str, text: &str) -> Result<Vec<u8>, ApiError> {
    hex::decode(text.trim()).map_err(|_| ApiError::bad_request(format!("{what} is not hex")))
}

fn client(state: &Shared) -> Result<&Arc<ClientGateway>, ApiError> {
    state
        .backend
        .client
        .as_ref()
        .ok_or_else(|| ApiError::unavailable("this gateway serves views and events only"))
}

/// The proposal or payload creator must be the caller: a gateway endorses and relays only
/// its callers' own transactions.
pub(crate) fn check_creator(
    caller: &Caller,
    creator: &netsettle_protocol::Identity,
) -> Result<(), ApiError> {
    let name = Certificate::from_der(&creator.cert_der)
        .ok()
        .and_then(|cert| cert.common_name());
    if creator.msp_id != caller.msp_id || name.as_deref() != Some(caller.common_name.as_str()) {
        return Err(ApiError::forbidden(format!(
            "the creator ({} {}) is not the caller ({} {})",
            creator.msp_id,
            name.unwrap_or_default(),
            caller.msp_id,
            caller.common_name
        )));
    }
    Ok(())
}

async fn signed_proposal(
    state: &Shared,
    caller: &Caller,
    request: Request,
) -> Result<SignedProposal, ApiError> {
    let body: ProposalBody = json_body(request, state.limits.body_bytes_max).await?;
    let bytes = unhex("proposal", &body.proposal)?;
    let bad =
        |error: netsettle_protocol::CodecError| ApiError::bad_request(format!("proposal: {error}"));
    let proposal = match &body.signature {
        None => decode::<SignedProposal>(&bytes).map_err(bad)?,
        Some(signature) => {
            let unsigned: Proposal = decode(&bytes).map_err(bad)?;
            // The creator first: a stranger's proposal is refused as such, whatever it
            // carries as a signature.
            check_creator(caller, &unsigned.header.creator)?;
            crate::prepare::signed(unsigned, signature)?
        }
    };
    check_creator(caller, &proposal.proposal.header.creator)?;
    let channel = state.backend.peer.channel().config.channel.clone();
    if proposal.proposal.header.channel != channel {
        return Err(ApiError::bad_request(format!(
            "the proposal is for channel {:?}, this gateway serves {channel:?}",
            proposal.proposal.header.channel
        )));
    }
    Ok(proposal)
}

/// The contract's answer as JSON: parsed when it is JSON, else text or hex.
pub(crate) fn response_json(response: &Response) -> Value {
    let payload = serde_json::from_slice::<Value>(&response.payload).unwrap_or_else(|_| {
        match std::str::from_utf8(&response.payload) {
            Ok(text) => json!(text),
            Err(_) => json!({ "hex": hex::encode(&response.payload) }),
        }
    });
    json!({ "status": response.status, "message": response.message, "payload": payload })
}

fn contract_answer(response: &Response) -> Result<(), ApiError> {
    if response.status >= Response::ERROR_THRESHOLD {
        return Err(ApiError::from_contract(response.status, &response.message));
    }
    Ok(())
}

pub(crate) fn client_error(error: ClientError) -> ApiError {
    match error {
        ClientError::Refused {
            status, message, ..
        }
        | ClientError::Endorsement {
            status, message, ..
        } => ApiError::from_contract(status, &message),
        other => ApiError::upstream(other.to_string()),
    }
}

/// `POST /v1/proposals/evaluate`: runs a caller-signed query at this carrier's peer.
pub(crate) async fn evaluate(
    State(state): State<Shared>,
    caller: Caller,
    request: Request,
) -> Result<Json<Value>, ApiError> {
    let proposal = signed_proposal(&state, &caller, request).await?;
    let response = endorse_local(&state.backend.peer, proposal).await?;
    Ok(Json(response_json(&response.payload.action.response)))
}

pub(crate) async fn endorse_local(
    peer: &PeerHandle,
    proposal: SignedProposal,
) -> Result<ProposalResponse, ApiError> {
    peer.endorse(proposal).await.map_err(|error| match error {
        netsettle_peer::EndorseError::Contract { status, message } => {
            ApiError::from_contract(status, &message)
        }
        netsettle_peer::EndorseError::Rejected(reason) => {
            ApiError::forbidden(format!("proposal refused: {reason}"))
        }
        other => ApiError::upstream(format!("endorsement: {other}")),
    })
}

/// `POST /v1/proposals/endorse`: endorses a caller-signed proposal at one peer of each
/// carrier and returns the transaction payload for the caller to sign.
pub(crate) async fn endorse(
    State(state): State<Shared>,
    caller: Caller,
    request: Request,
) -> Result<Json<Value>, ApiError> {
    let proposal = signed_proposal(&state, &caller, request).await?;
    let client = client(&state)?;
    let mut responses = Vec::new();
    for peer in client.endorsers() {
        responses.push(
            client
                .endorse(&peer, &proposal)
                .await
                .map_err(client_error)?,
        );
    }
    let first = responses
        .first()
        .ok_or_else(|| ApiError::upstream("no endorsing peer configured"))?
        .clone();
    let expected = proposal
        .proposal
        .hash()
        .map_err(|error| ApiError::bad_request(error.to_string()))?;
    for response in &responses {
        contract_answer(&response.payload.action.response)?;
        if response.payload.proposal_hash != expected || response.payload != first.payload {
            return Err(ApiError::upstream("the endorsing peers' results differ"));
        }
    }
    let payload = Payload::Transaction(Box::new(Transaction {
        proposal: proposal.proposal.clone(),
        response: first.payload.clone(),
        endorsements: responses.into_iter().map(|r| r.endorsement).collect(),
    }));
    let encoded = encode(&payload).map_err(|error| ApiError::upstream(error.to_string()))?;
    let mut signing_bytes = domain::ENVELOPE.to_vec();
    signing_bytes.extend_from_slice(&encoded);
    Ok(Json(json!({
        "tx_id": proposal.tx_id().to_string(),
        "payload": hex::encode(&encoded),
        "signing_bytes": hex::encode(&signing_bytes),
        "response": response_json(&first.payload.action.response),
    })))
}

/// `POST /v1/transactions/submit`: broadcasts a caller-signed envelope; with `wait`,
/// answers once this carrier's peer committed it.
pub(crate) async fn submit(
    State(state): State<Shared>,
    caller: Caller,
    request: Request,
) -> Result<Json<Value>, ApiError> {
    let body: SubmitBody = json_body(request, state.limits.body_bytes_max).await?;
    let payload: Payload = decode(&unhex("payload", &body.payload)?)
        .map_err(|error| ApiError::bad_request(format!("payload: {error}")))?;
    if !matches!(payload, Payload::Transaction(_)) {
        return Err(ApiError::bad_request(
            "only transactions are submitted here",
        ));
    }
    check_creator(&caller, &payload.header().creator)?;
    let signature = Signature::from_der(&unhex("signature", &body.signature)?)
        .map_err(|error| ApiError::bad_request(format!("signature: {error}")))?;
    let envelope = Envelope { payload, signature };
    let creator = Certificate::from_der(&envelope.payload.header().creator.cert_der)
        .map_err(|error| ApiError::bad_request(format!("creator certificate: {error}")))?;
    envelope
        .verify(creator.public_key())
        .map_err(|error| ApiError::bad_request(format!("the envelope signature: {error}")))?;
    let tx_id = envelope.tx_id();
    let client = client(&state)?;
    // Subscribe before broadcasting so the commit cannot slip between the two.
    let events = state.backend.peer.subscribe();
    client.broadcast(&envelope).await.map_err(client_error)?;
    if !body.wait {
        return Ok(Json(
            json!({ "tx_id": tx_id.to_string(), "status": "ordered" }),
        ));
    }
    let status = wait_committed(&state.backend.peer, events, &tx_id).await?;
    // The caller's next proposal is endorsed at every carrier's endorser: wait until they
    // all committed this one too (read-your-writes across carriers, as `Gateway::submit`).
    for peer in client.endorsers() {
        client
            .wait_committed(&peer, &tx_id)
            .await
            .map_err(client_error)?;
    }
    Ok(status)
}

/// Waits until this carrier's peer has committed `tx_id`, through the peer's commit
/// events (`events` subscribed before the transaction could commit).
pub(crate) async fn wait_committed(
    peer: &PeerHandle,
    mut events: tokio::sync::broadcast::Receiver<Arc<netsettle_peer::events::BlockEvent>>,
    tx_id: &TxId,
) -> Result<Json<Value>, ApiError> {
    let wait = async {
        loop {
            if let Some(location) = peer.ledger().transaction(tx_id)? {
                return Ok(Json(status_json(tx_id, Some(location))));
            }
            match events.recv().await {
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(tokio::sync::broadcast::error::RecvError::Closed) => {
                    return Err(ApiError::unavailable("the peer stopped"));
                }
            }
        }
    };
    tokio::time::timeout(REQUEST_TIMEOUT, wait)
        .await
        .map_err(|_| ApiError::unavailable(format!("{tx_id} not committed yet; ask its status")))?
}

/// `POST /v1/settlement/{function}`: a workflow step signed by the carrier's own
/// identity on behalf of the authenticated caller; answers once committed.
pub(crate) async fn invoke(
    State(state): State<Shared>,
    caller: Caller,
    Path(function): Path<String>,
    request: Request,
) -> Result<Json<Value>, ApiError> {
    if !GATEWAY_SIGNED_FUNCTIONS.contains(&function.as_str()) {
        return Err(ApiError::not_found(format!(
            "no gateway-signed function {function:?}; known: {}",
            GATEWAY_SIGNED_FUNCTIONS.join(", ")
        )));
    }
    let backend = &state.backend;
    check_own_client(backend.msp_id(), &caller)?;
    let signer =
        if caller.is_finance() {
            backend.signers.finance.as_ref().ok_or_else(|| {
                ApiError::forbidden("this gateway has no finance identity configured")
            })?
        } else {
            &backend.signers.settlement
        };
    let body: InvokeBody = json_body(request, state.limits.body_bytes_max).await?;
    let mut request = body.request;
    request.insert("on_behalf_of".to_owned(), json!(caller.common_name));
    let mut args =
        vec![serde_json::to_vec(&request).map_err(|e| ApiError::bad_request(e.to_string()))?];
    match (function.as_str(), body.ciphertext) {
        ("upload", Some(ciphertext)) => args.push(unhex("ciphertext", &ciphertext)?),
        ("upload", None) => return Err(ApiError::bad_request("upload needs `ciphertext`")),
        (_, Some(_)) => return Err(ApiError::bad_request("only upload takes `ciphertext`")),
        (_, None) => {}
    }
    let client = client(&state)?;
    let committed = client
        .submit(signer, backend.contract.clone(), &function, args)
        .await
        .map_err(client_error)?;
    if !committed.code.is_valid() {
        return Err(ApiError::new(
            axum::http::StatusCode::CONFLICT,
            format!(
                "transaction {} committed invalid: {}",
                committed.tx_id,
                committed.code.as_str()
            ),
        ));
    }
    Ok(Json(json!({
        "tx_id": committed.tx_id.to_string(),
        "block": committed.block,
        "code": committed.code.as_str(),
        "signed_by": signer.identity().msp_id,
        "on_behalf_of": caller.common_name,
        "response": response_json(&committed.response),
    })))
}

/// The gateway's identities act only for its own carrier's client users.
pub(crate) fn check_own_client(own_msp_id: &str, caller: &Caller) -> Result<(), ApiError> {
    if caller.msp_id != own_msp_id {
        return Err(ApiError::forbidden(format!(
            "this gateway acts for {own_msp_id} only; the caller is of {}",
            caller.msp_id
        )));
    }
    if caller.role != "client" {
        return Err(ApiError::forbidden(format!(
            "gateway-signed calls are for client users; the caller's role is {}",
            caller.role
        )));
    }
    Ok(())
}
