//! Caller-signed proposals without our binary codec, as Fabric Gateway's "prepare then
//! sign": the gateway builds the unsigned proposal from JSON with the caller's signing
//! identity as creator and hands back the exact bytes to sign; the caller signs them with
//! its own key (plain SM2, default ID, DER) and sends proposal and signature to
//! `endorse` or `evaluate`. The gateway never signs on this path.

use axum::Json;
use axum::extract::{Request, State};
use netsettle_protocol::limits::NONCE_BYTES;
use netsettle_protocol::{
    ContractId, Header, Identity, Nonce, Proposal, SignedProposal, Timestamp, domain, encode,
};
use netsettle_smcrypto::Signature;
use netsettle_smcrypto::x509::Certificate;
use serde_json::{Value, json};

use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::json_body;
use crate::state::Shared;
use crate::submit::check_creator;

/// `{"certificate": PEM, "contract": {"name", "version"}?, "function", "args": [...]}`.
/// `certificate` is the caller's signing certificate (`msp/signcerts/cert.pem`), which
/// becomes the proposal's creator; `contract` defaults to the gateway's settlement
/// contract.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PrepareBody {
    certificate: String,
    #[serde(default)]
    contract: Option<ContractId>,
    function: String,
    #[serde(default)]
    args: Vec<Value>,
}

/// One argument's bytes: `{"hex": "..."}` is raw bytes, a string its UTF-8 bytes, any
/// other JSON value its compact JSON text (how the settlement contract reads requests).
fn arg_bytes(index: usize, arg: &Value) -> Result<Vec<u8>, ApiError> {
    match arg {
        Value::String(text) => Ok(text.as_bytes().to_vec()),
        Value::Object(map) if map.len() == 1 && map.contains_key("hex") => {
            let text = map.get("hex").and_then(Value::as_str).ok_or_else(|| {
                ApiError::bad_request(format!("args[{index}].hex is not a string"))
            })?;
            hex::decode(text.trim())
                .map_err(|_| ApiError::bad_request(format!("args[{index}].hex is not hex")))
        }
        other => serde_json::to_vec(other)
            .map_err(|error| ApiError::bad_request(format!("args[{index}]: {error}"))),
    }
}

/// The caller's signing identity from the PEM it sent: it must name the TLS caller (same
/// organisation and common name) and be valid in the channel's MSPs now.
fn creator(state: &Shared, caller: &Caller, pem: &str) -> Result<Identity, ApiError> {
    let certificate = Certificate::from_pem(pem)
        .map_err(|error| ApiError::bad_request(format!("certificate: {error}")))?;
    let identity = Identity {
        msp_id: caller.msp_id.clone(),
        cert_der: certificate.der().to_vec(),
    };
    check_creator(caller, &identity)?;
    let now = unix_time_ms()? / 1000;
    let now = i64::try_from(now).map_err(|_| ApiError::internal("the clock is out of range"))?;
    state
        .backend
        .peer
        .channel()
        .msps
        .validate(&identity, now)
        .map_err(|error| {
            ApiError::forbidden(format!(
                "the certificate is not a valid {}: {error}",
                caller.msp_id
            ))
        })?;
    Ok(identity)
}

fn unix_time_ms() -> Result<u64, ApiError> {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()
        .and_then(|since| u64::try_from(since.as_millis()).ok())
        .ok_or_else(|| ApiError::internal("the clock is before 1970"))
}

/// `POST /v1/proposals/prepare`: the unsigned proposal and the bytes the caller signs.
pub(crate) async fn prepare(
    State(state): State<Shared>,
    caller: Caller,
    request: Request,
) -> Result<Json<Value>, ApiError> {
    let body: PrepareBody = json_body(request, state.limits.body_bytes_max).await?;
    let creator = creator(&state, &caller, &body.certificate)?;
    let args = body
        .args
        .iter()
        .enumerate()
        .map(|(index, arg)| arg_bytes(index, arg))
        .collect::<Result<Vec<_>, _>>()?;
    let mut nonce = [0u8; NONCE_BYTES];
    netsettle_smcrypto::random_bytes(&mut nonce)
        .map_err(|error| ApiError::internal(format!("nonce: {error}")))?;
    let proposal = Proposal {
        header: Header {
            channel: state.backend.peer.channel().config.channel.clone(),
            creator,
            nonce: Nonce(nonce),
            timestamp: Timestamp {
                unix_time_ms: unix_time_ms()?,
            },
        },
        contract: body
            .contract
            .unwrap_or_else(|| state.backend.contract.clone()),
        function: body.function,
        args,
    };
    // `encode` checks the proposal's limits (function name, argument count and size).
    let encoded =
        encode(&proposal).map_err(|error| ApiError::bad_request(format!("proposal: {error}")))?;
    let mut signing_bytes = domain::PROPOSAL.to_vec();
    signing_bytes.extend_from_slice(&encoded);
    Ok(Json(json!({
        "tx_id": proposal.tx_id().to_string(),
        "proposal": hex::encode(&encoded),
        "signing_bytes": hex::encode(&signing_bytes),
    })))
}

/// A prepared proposal with the caller's signature over its signing bytes, checked here
/// so a wrong signature gets a clear answer before any peer sees it.
pub(crate) fn signed(proposal: Proposal, signature: &str) -> Result<SignedProposal, ApiError> {
    let der =
        hex::decode(signature.trim()).map_err(|_| ApiError::bad_request("signature is not hex"))?;
    let signature = Signature::from_der(&der).map_err(|error| {
        ApiError::bad_request(format!("signature (SM2, DER SEQUENCE {{r, s}}): {error}"))
    })?;
    let creator = Certificate::from_der(&proposal.header.creator.cert_der)
        .map_err(|error| ApiError::bad_request(format!("creator certificate: {error}")))?;
    let signed = SignedProposal {
        proposal,
        signature,
    };
    signed.verify(creator.public_key()).map_err(|_| {
        ApiError::forbidden(
            "the signature does not verify: sign signing_bytes from prepare, unchanged, with \
             the creator certificate's key (SM2, ID 1234567812345678, DER)",
        )
    })?;
    Ok(signed)
}
