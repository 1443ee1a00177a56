//! Views of the peer's ledger, read directly (no contract involved): chain height,
//! blocks, transactions, commit status, and the event stream. Any member of the channel
//! may read them: both carriers hold the whole ledger.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use axum::response::sse::{KeepAlive, Sse};
use netsettle_protocol::{Payload, TxId};
use netsettle_smcrypto::x509::Certificate;
use serde_json::{Value, json};

use crate::auth::Caller;
use crate::error::ApiError;
use crate::events::{self, Start};
use crate::limits::{BLOCK_TXS_MAX, SSE_HEARTBEAT};
use crate::state::Shared;

/// `GET /v1/identity`: who the gateway takes the caller to be.
pub(crate) async fn identity(caller: Caller) -> Json<Caller> {
    Json(caller)
}

/// `GET /v1/chain`: the height and the last block's hash.
pub(crate) async fn chain(
    State(state): State<Shared>,
    _caller: Caller,
) -> Result<Json<Value>, ApiError> {
    let peer = &state.backend.peer;
    let tip = peer.tip()?;
    Ok(Json(json!({
        "channel": peer.channel().config.channel,
        "height": tip.height,
        "last_hash": tip.last_hash.to_string(),
    })))
}

/// `GET /v1/blocks/{number}`: the header, the transaction ids and their codes.
pub(crate) async fn block(
    State(state): State<Shared>,
    _caller: Caller,
    Path(number): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let number: u64 = number
        .parse()
        .map_err(|_| ApiError::bad_request(format!("block number {number:?} is not a number")))?;
    let block = state
        .backend
        .peer
        .ledger()
        .block(number)?
        .ok_or_else(|| ApiError::not_found(format!("no block {number}")))?;
    let txs: Vec<Value> = block
        .data
        .iter()
        .zip(&block.metadata.validation_codes)
        .zip(0u32..)
        .take(BLOCK_TXS_MAX)
        .map(|((envelope, code), index)| {
            json!({ "tx_id": envelope.tx_id().to_string(), "index": index, "code": code.as_str() })
        })
        .collect();
    Ok(Json(json!({
        "number": number,
        "hash": block.hash().to_string(),
        "previous_hash": block.header.previous_hash.to_string(),
        "data_hash": block.header.data_hash.to_string(),
        "timestamp_ms": block.header.timestamp.unix_time_ms,
        "last_config_index": block.metadata.last_config_index,
        "txs": txs,
    })))
}

fn parse_tx_id(text: &str) -> Result<TxId, ApiError> {
    text.parse()
        .map_err(|_| ApiError::bad_request(format!("transaction id {text:?} is not 64 hex digits")))
}

/// `GET /v1/transactions/{tx_id}`: where it is, its code, creator and call.
pub(crate) async fn transaction(
    State(state): State<Shared>,
    _caller: Caller,
    Path(tx_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let tx_id = parse_tx_id(&tx_id)?;
    let (envelope, location) = state
        .backend
        .peer
        .ledger()
        .transaction_envelope(&tx_id)?
        .ok_or_else(|| ApiError::not_found(format!("no transaction {tx_id} on the ledger")))?;
    let header = envelope.payload.header();
    let creator_name = Certificate::from_der(&header.creator.cert_der)
        .ok()
        .and_then(|cert| cert.common_name());
    let mut out = json!({
        "tx_id": tx_id.to_string(),
        "block": location.block,
        "index": location.index,
        "code": location.code.as_str(),
        "valid": location.code.is_valid(),
        "timestamp_ms": header.timestamp.unix_time_ms,
        "creator": { "msp_id": header.creator.msp_id, "common_name": creator_name },
    });
    if let Payload::Transaction(tx) = &envelope.payload {
        out["contract"] = json!(tx.proposal.contract.name);
        out["function"] = json!(tx.proposal.function);
        out["events"] = json!(
            tx.response
                .action
                .events
                .iter()
                .map(|e| &e.name)
                .collect::<Vec<_>>()
        );
    } else {
        out["kind"] = json!("config");
    }
    Ok(Json(out))
}

/// `GET /v1/transactions/{tx_id}/status`: committed (with block and code) or not yet.
pub(crate) async fn status(
    State(state): State<Shared>,
    _caller: Caller,
    Path(tx_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let tx_id = parse_tx_id(&tx_id)?;
    let location = state.backend.peer.ledger().transaction(&tx_id)?;
    Ok(Json(status_json(&tx_id, location)))
}

pub(crate) fn status_json(tx_id: &TxId, location: Option<netsettle_ledger::TxLocation>) -> Value {
    match location {
        Some(location) => json!({
            "tx_id": tx_id.to_string(),
            "status": "committed",
            "block": location.block,
            "index": location.index,
            "code": location.code.as_str(),
            "valid": location.code.is_valid(),
        }),
        None => json!({ "tx_id": tx_id.to_string(), "status": "unknown" }),
    }
}

/// The query of `GET /v1/events`.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct EventsQuery {
    /// The first block to stream (default: the current height, i.e. new blocks only).
    from: Option<u64>,
}

/// `GET /v1/events?from=H`: the event stream; `Last-Event-ID` (which wins over `from`)
/// resumes after the event it names.
pub(crate) async fn events(
    State(state): State<Shared>,
    _caller: Caller,
    headers: HeaderMap,
    query: Result<Query<EventsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let Query(query) = query.map_err(|error| ApiError::bad_request(error.body_text()))?;
    let start = match headers.get("last-event-id") {
        Some(value) => {
            let text = value
                .to_str()
                .map_err(|_| ApiError::bad_request("Last-Event-ID is not text"))?;
            Start::After(text.parse().map_err(ApiError::bad_request)?)
        }
        None => Start::From(query.from.unwrap_or_else(|| state.backend.peer.height())),
    };
    let permit = std::sync::Arc::clone(&state.subscribers)
        .try_acquire_owned()
        .map_err(|_| ApiError::unavailable("too many event subscribers"))?;
    let stream = events::subscribe(
        state.backend.peer.clone(),
        start,
        permit,
        state.limits.sse_stall,
    );
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(SSE_HEARTBEAT)))
}
