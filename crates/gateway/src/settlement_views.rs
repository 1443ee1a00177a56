//! Settlement views: the contract's queries run at this carrier's peer, signed by the
//! carrier's settlement identity, for the carrier's own users (the identity acts for
//! nobody else).

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::auth::Caller;
use crate::error::ApiError;
use crate::limits::{EXPORT_BYTES_MAX, EXPORT_PAGES_MAX, PAGE_LIMIT_MAX, PERIODS_LIMIT_MAX};
use crate::state::Shared;
use crate::submit::{check_own_client, endorse_local};

/// Runs query `function(request)` at this carrier's peer; the contract's answer bytes.
async fn run_query(
    state: &Shared,
    caller: &Caller,
    function: &str,
    request: Value,
) -> Result<Vec<u8>, ApiError> {
    let backend = &state.backend;
    check_own_client(backend.msp_id(), caller)?;
    let channel = backend.peer.channel().config.channel.clone();
    let args = vec![request.to_string().into_bytes()];
    let proposal = backend
        .signers
        .settlement
        .propose(&channel, backend.contract.clone(), function, args)
        .map_err(|error| ApiError::internal(format!("signing the query: {error}")))?;
    let response = endorse_local(&backend.peer, proposal).await?;
    let answer = response.payload.action.response;
    if answer.status >= netsettle_protocol::Response::ERROR_THRESHOLD {
        return Err(ApiError::from_contract(answer.status, &answer.message));
    }
    Ok(answer.payload)
}

async fn query_json(
    state: &Shared,
    caller: &Caller,
    function: &str,
    request: Value,
) -> Result<Json<Value>, ApiError> {
    let bytes = run_query(state, caller, function, request).await?;
    serde_json::from_slice(&bytes)
        .map(Json)
        .map_err(|error| ApiError::upstream(format!("the contract's answer is not JSON: {error}")))
}

/// A page of a list.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PageQuery {
    #[serde(default)]
    from: u64,
    limit: Option<u64>,
    #[serde(default)]
    open_only: bool,
}

type QueryResult<T> = Result<Query<T>, axum::extract::rejection::QueryRejection>;

fn page<T>(query: QueryResult<T>) -> Result<T, ApiError> {
    query
        .map(|Query(query)| query)
        .map_err(|error| ApiError::bad_request(error.body_text()))
}

/// `GET /v1/settlement/agreement`.
pub(crate) async fn agreement(
    State(state): State<Shared>,
    caller: Caller,
) -> Result<Json<Value>, ApiError> {
    query_json(&state, &caller, "agreement_get", json!({})).await
}

/// The query of the period list: a page from a period on.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PeriodsQuery {
    from: Option<String>,
    limit: Option<u64>,
}

/// `GET /v1/settlement/periods?from&limit`: periods with their state, ascending; `next`
/// names the first period of the next page.
pub(crate) async fn periods(
    State(state): State<Shared>,
    caller: Caller,
    query: QueryResult<PeriodsQuery>,
) -> Result<Json<Value>, ApiError> {
    let query = page(query)?;
    let limit = query
        .limit
        .unwrap_or(PERIODS_LIMIT_MAX)
        .min(PERIODS_LIMIT_MAX);
    let mut request = json!({ "limit": limit });
    if let Some(from) = query.from {
        request["from"] = json!(from);
    }
    query_json(&state, &caller, "periods_list", request).await
}

/// `GET /v1/settlement/periods/{period}`: the period and its status.
pub(crate) async fn period(
    State(state): State<Shared>,
    caller: Caller,
    Path(period): Path<String>,
) -> Result<Json<Value>, ApiError> {
    query_json(&state, &caller, "period_get", json!({ "period": period })).await
}

/// `GET /v1/settlement/periods/{period}/lines?from&limit&open_only`.
pub(crate) async fn lines(
    State(state): State<Shared>,
    caller: Caller,
    Path(period): Path<String>,
    query: QueryResult<PageQuery>,
) -> Result<Json<Value>, ApiError> {
    let page = page(query)?;
    let request = json!({
        "period": period,
        "from": page.from,
        "limit": page.limit.unwrap_or(PAGE_LIMIT_MAX).min(PAGE_LIMIT_MAX),
        "open_only": page.open_only,
    });
    query_json(&state, &caller, "lines_get", request).await
}

/// `GET /v1/settlement/periods/{period}/lines/{line_no}/history`.
pub(crate) async fn line_history(
    State(state): State<Shared>,
    caller: Caller,
    Path((period, line_no)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let line_no: u64 = line_no
        .parse()
        .map_err(|_| ApiError::bad_request(format!("line number {line_no:?} is not a number")))?;
    let request = json!({ "period": period, "line_no": line_no });
    query_json(&state, &caller, "line_history", request).await
}

/// `GET /v1/settlement/periods/{period}/adjustments/{adjustment_id}`.
pub(crate) async fn adjustment(
    State(state): State<Shared>,
    caller: Caller,
    Path((period, id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let id: u64 = id
        .parse()
        .map_err(|_| ApiError::bad_request(format!("adjustment id {id:?} is not a number")))?;
    let request = json!({ "period": period, "adjustment_id": id });
    query_json(&state, &caller, "adjustment_get", request).await
}

/// `GET /v1/settlement/periods/{period}/audit?from&limit`.
pub(crate) async fn audit(
    State(state): State<Shared>,
    caller: Caller,
    Path(period): Path<String>,
    query: QueryResult<PageQuery>,
) -> Result<Json<Value>, ApiError> {
    let page = page(query)?;
    if page.open_only {
        return Err(ApiError::bad_request("open_only applies to lines only"));
    }
    let request = json!({
        "period": period,
        "from": page.from,
        "limit": page.limit.unwrap_or(PAGE_LIMIT_MAX).min(PAGE_LIMIT_MAX),
    });
    query_json(&state, &caller, "audit_get", request).await
}

/// `GET /v1/settlement/periods/{period}/final`.
pub(crate) async fn final_data(
    State(state): State<Shared>,
    caller: Caller,
    Path(period): Path<String>,
) -> Result<Json<Value>, ApiError> {
    query_json(&state, &caller, "final_get", json!({ "period": period })).await
}

/// The query of the export.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ExportQuery {
    format: Option<String>,
}

/// `GET /v1/settlement/periods/{period}/export?format=csv|json`: the finance export
/// with every line, assembled from the contract's pages.
pub(crate) async fn export(
    State(state): State<Shared>,
    caller: Caller,
    Path(period): Path<String>,
    query: QueryResult<ExportQuery>,
) -> Result<Response, ApiError> {
    let format = page(query)?.format.unwrap_or_else(|| "json".to_owned());
    let csv = match format.as_str() {
        "csv" => true,
        "json" => false,
        other => {
            return Err(ApiError::bad_request(format!(
                "format {other:?} is neither csv nor json"
            )));
        }
    };
    let mut export = Export::new(csv);
    for _ in 0..EXPORT_PAGES_MAX {
        let request = json!({
            "period": period, "format": format, "from": export.next_from, "limit": PAGE_LIMIT_MAX,
        });
        let bytes = run_query(&state, &caller, "export", request).await?;
        if !export.add(&bytes)? {
            return Ok(export.into_response());
        }
    }
    Err(ApiError::new(
        axum::http::StatusCode::PAYLOAD_TOO_LARGE,
        format!("the export has more than {EXPORT_PAGES_MAX} pages"),
    ))
}

/// An export assembled from pages: the first page whole, the lines of the others.
struct Export {
    csv: bool,
    next_from: u64,
    text: Vec<u8>,
    json: Option<Value>,
    json_bytes: usize,
}

impl Export {
    fn new(csv: bool) -> Self {
        Export {
            csv,
            next_from: 0,
            text: Vec::new(),
            json: None,
            json_bytes: 0,
        }
    }

    /// Adds one page; `true` while a full page came (more may follow).
    fn add(&mut self, page: &[u8]) -> Result<bool, ApiError> {
        let n_lines = if self.csv {
            self.add_csv(page)?
        } else {
            self.add_json(page)?
        };
        let n_lines = u64::try_from(n_lines).unwrap_or(u64::MAX);
        self.next_from = self.next_from.saturating_add(n_lines);
        Ok(n_lines >= PAGE_LIMIT_MAX)
    }

    fn add_csv(&mut self, page: &[u8]) -> Result<usize, ApiError> {
        let text = std::str::from_utf8(page)
            .map_err(|_| ApiError::upstream("the CSV export is not UTF-8"))?;
        // Header lines start with '#', then the column header, then one row per line.
        let mut rows = text.lines().skip_while(|line| line.starts_with('#'));
        let column_header = rows.next();
        let rows: Vec<&str> = rows.collect();
        if self.text.is_empty() {
            self.text.extend_from_slice(page);
        } else {
            for row in &rows {
                self.text.extend_from_slice(row.as_bytes());
                self.text.push(b'\n');
            }
        }
        check_size(self.text.len())?;
        Ok(if column_header.is_some() {
            rows.len()
        } else {
            0
        })
    }

    fn add_json(&mut self, page: &[u8]) -> Result<usize, ApiError> {
        let value: Value = serde_json::from_slice(page)
            .map_err(|error| ApiError::upstream(format!("the JSON export: {error}")))?;
        // The JSON pages are kept parsed; their bytes count against the same bound.
        self.json_bytes = self.json_bytes.saturating_add(page.len());
        check_size(self.json_bytes)?;
        let lines = value
            .get("lines")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let n_lines = lines.len();
        match &mut self.json {
            None => self.json = Some(value),
            Some(first) => {
                if let Some(all) = first.get_mut("lines").and_then(Value::as_array_mut) {
                    all.extend(lines);
                }
            }
        }
        Ok(n_lines)
    }

    fn into_response(self) -> Response {
        if self.csv {
            (
                [(header::CONTENT_TYPE, "text/csv; charset=utf-8")],
                self.text,
            )
                .into_response()
        } else {
            Json(self.json.unwrap_or(Value::Null)).into_response()
        }
    }
}

fn check_size(bytes: usize) -> Result<(), ApiError> {
    if bytes > EXPORT_BYTES_MAX {
        return Err(ApiError::new(
            axum::http::StatusCode::PAYLOAD_TOO_LARGE,
            format!("the export is larger than {EXPORT_BYTES_MAX} bytes"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn csv_page(from: u64, n: u64) -> Vec<u8> {
        let mut text = String::from("#netsettle-settlement v1\n#period 2026-11\nline_no,item\n");
        for line_no in from..from + n {
            text.push_str(&format!("{line_no},voice\n"));
        }
        text.into_bytes()
    }

    fn json_page(from: u64, n: u64) -> Vec<u8> {
        let lines: Vec<Value> = (from..from + n)
            .map(|line_no| json!({ "line_no": line_no }))
            .collect();
        json!({ "format": "v1", "data": { "lines": 1500 }, "lines": lines })
            .to_string()
            .into_bytes()
    }

    #[test]
    fn an_export_joins_its_pages_once() {
        let mut csv = Export::new(true);
        assert!(csv.add(&csv_page(0, PAGE_LIMIT_MAX)).unwrap());
        assert_eq!(csv.next_from, PAGE_LIMIT_MAX);
        assert!(!csv.add(&csv_page(PAGE_LIMIT_MAX, 500)).unwrap());
        let text = String::from_utf8(csv.text).unwrap();
        assert_eq!(text.lines().filter(|line| line.starts_with('#')).count(), 2);
        assert_eq!(
            text.lines()
                .filter(|line| line.starts_with("line_no"))
                .count(),
            1
        );
        let rows: Vec<&str> = text.lines().skip(3).collect();
        assert_eq!(rows.len(), 1500);
        assert!(
            rows.iter()
                .enumerate()
                .all(|(i, row)| row.starts_with(&format!("{i},")))
        );

        let mut json = Export::new(false);
        assert!(json.add(&json_page(0, PAGE_LIMIT_MAX)).unwrap());
        assert!(!json.add(&json_page(PAGE_LIMIT_MAX, 500)).unwrap());
        let all = json.json.unwrap();
        let lines = all["lines"].as_array().unwrap();
        assert_eq!(lines.len(), 1500);
        assert_eq!(lines[1499]["line_no"], 1499);
        assert_eq!(all["data"]["lines"], 1500);

        // An empty final page ends the export too.
        let mut empty = Export::new(true);
        assert!(
            !empty
                .add(b"#netsettle-settlement v1\nline_no,item\n")
                .unwrap()
        );
    }
}
