//! The state-changing steps of a period, `POST /periods/{period}/{step}`: each checked in
//! this order — session and CSRF token (403), the step belongs to the user's role (403),
//! the form's fields (an error flash) — then signed with the role's carrier identity,
//! recording the user as `on_behalf_of`, and answered with a redirect back to the period
//! page and a flash: `ok`, or `error` with the contract's one-line reason.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use netsettle_client::{ClientError, Settlement};
use netsettle_settlement::adjustments_file::parse_adjustments;
use netsettle_settlement::api::{ActingUser, AdjustmentEntry, RejectEntry};
use netsettle_settlement::limits::BULK_ADJUSTMENTS_MAX;
use netsettle_settlement::units::Period;

use crate::config::Role;
use crate::server::{Refused, Shared, checked_post, field, form, redirect};
use crate::session::Session;
use crate::upload::{self, Multipart, UploadError};

/// Which step a POST asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `dispute`.
    Dispute,
    /// `adjust`: one line's new figures.
    Adjust,
    /// `adjust-file`: a file of them.
    AdjustFile,
    /// `decide`: accept or reject the other side's adjustments.
    Decide,
    /// `confirm`.
    Confirm,
    /// `approve`.
    Approve,
    /// `pay`.
    Pay,
    /// `ack`.
    Ack,
}

impl Kind {
    fn from_path(step: &str) -> Option<Kind> {
        Some(match step {
            "dispute" => Kind::Dispute,
            "adjust" => Kind::Adjust,
            "adjust-file" => Kind::AdjustFile,
            "decide" => Kind::Decide,
            "confirm" => Kind::Confirm,
            "approve" => Kind::Approve,
            "pay" => Kind::Pay,
            "ack" => Kind::Ack,
            _ => return None,
        })
    }

    /// The role whose step it is.
    pub fn role(self) -> Role {
        match self {
            Kind::Dispute | Kind::Adjust | Kind::AdjustFile | Kind::Decide | Kind::Confirm => {
                Role::Settlement
            }
            Kind::Approve | Kind::Pay | Kind::Ack => Role::Finance,
        }
    }
}

/// Which adjustments a decision covers.
#[derive(Debug)]
enum Target {
    One(u64),
    /// Every adjustment of the other side awaiting a decision.
    AllPending,
}

/// A step with its checked arguments.
#[derive(Debug)]
enum Step {
    Dispute {
        line_no: u64,
        reason: String,
    },
    Adjust(Vec<AdjustmentEntry>),
    Decide {
        target: Target,
        accept: bool,
        reason: String,
    },
    Confirm,
    Approve,
    Pay {
        reference: String,
        amount_fen: u64,
    },
    Ack {
        reference: String,
    },
}

fn required<'a>(fields: &'a [(String, String)], name: &str) -> Result<&'a str, String> {
    field(fields, name)
        .map(str::trim)
        .filter(|value| !value.is_empty())
        .ok_or_else(|| format!("the form needs `{name}`"))
}

fn number(fields: &[(String, String)], name: &str) -> Result<u64, String> {
    let text = required(fields, name)?;
    text.parse()
        .map_err(|_| format!("`{name}` {text:?} is not a whole number"))
}

/// The step of a form, or the one line telling the user what is wrong with it.
fn parse_step(
    kind: Kind,
    fields: &[(String, String)],
    file: Option<Vec<u8>>,
) -> Result<Step, String> {
    Ok(match kind {
        Kind::Dispute => Step::Dispute {
            line_no: number(fields, "line")?,
            reason: required(fields, "reason")?.to_owned(),
        },
        Kind::Adjust => Step::Adjust(vec![AdjustmentEntry {
            line_no: number(fields, "line")?,
            quantity: number(fields, "quantity")?,
            amount_fen: number(fields, "amount_fen")?,
            reason: required(fields, "reason")?.to_owned(),
            attachment_sm3: None,
        }]),
        Kind::AdjustFile => {
            let bytes = file.ok_or("the form needs the adjustments file")?;
            Step::Adjust(
                parse_adjustments(&bytes).map_err(|e| format!("the adjustments file: {e}"))?,
            )
        }
        Kind::Decide => {
            let accept = match required(fields, "decision")? {
                "accept" => true,
                "reject" => false,
                _ => return Err("`decision` is accept or reject".into()),
            };
            let target = match required(fields, "adjustment")? {
                "all" => Target::AllPending,
                _ => Target::One(number(fields, "adjustment")?),
            };
            let reason = field(fields, "reason")
                .unwrap_or_default()
                .trim()
                .to_owned();
            if !accept && reason.is_empty() {
                return Err("a rejection needs a `reason`".into());
            }
            Step::Decide {
                target,
                accept,
                reason,
            }
        }
        Kind::Confirm => Step::Confirm,
        Kind::Approve => Step::Approve,
        Kind::Pay => Step::Pay {
            reference: required(fields, "reference")?.to_owned(),
            amount_fen: number(fields, "amount_fen")?,
        },
        Kind::Ack => Step::Ack {
            reference: required(fields, "reference")?.to_owned(),
        },
    })
}

/// The form fields of a POST and, for a multipart upload, its file.
fn read_body(kind: Kind, headers: &HeaderMap, body: &[u8]) -> Result<Multipart, Refused> {
    if kind != Kind::AdjustFile {
        return Ok(Multipart {
            fields: form(body)?,
            file: None,
        });
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    let refused = |error: UploadError| {
        tracing::info!(%error, "upload refused");
        Refused(
            StatusCode::BAD_REQUEST,
            "the upload is not a valid multipart form",
        )
    };
    let boundary = upload::boundary(content_type)
        .ok_or_else(|| refused(UploadError::Multipart("not multipart/form-data")))?;
    upload::parse_multipart(body, boundary).map_err(refused)
}

/// `POST /periods/{period}/{step}`.
pub(crate) async fn act(
    State(shared): State<Arc<Shared>>,
    Path((period, step)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(kind) = Kind::from_path(&step) else {
        return Refused(StatusCode::NOT_FOUND, "no such step").into_response();
    };
    let Multipart { fields, file } = match read_body(kind, &headers, &body) {
        Ok(read) => read,
        Err(refused) => return refused.into_response(),
    };
    let (token, session) = match checked_post(&shared, &headers, &fields) {
        Ok(found) => found,
        Err(refused) => return refused.into_response(),
    };
    let Ok(period) = period.parse::<Period>() else {
        return Refused(
            StatusCode::NOT_FOUND,
            "no such period: the path takes YYYY-MM",
        )
        .into_response();
    };
    if kind.role() != session.role {
        tracing::warn!(user = session.user, step, "another role's step refused");
        let why = match kind.role() {
            Role::Settlement => "this step is for settlement staff",
            Role::Finance => "this step is for finance staff",
        };
        return Refused(StatusCode::FORBIDDEN, why).into_response();
    }
    let outcome = match parse_step(kind, &fields, file) {
        Ok(step) => run(&shared, &session, period, step).await,
        Err(why) => Err(why),
    };
    match &outcome {
        Ok(done) => tracing::info!(user = session.user, %period, step, done, "step done"),
        Err(why) => tracing::info!(user = session.user, %period, step, why, "step refused"),
    }
    if let Ok(mut sessions) = shared.sessions.lock() {
        match &outcome {
            Ok(done) => sessions.set_flash(&token, true, done),
            Err(why) => sessions.set_flash(&token, false, why),
        }
    }
    redirect(&format!("/periods/{period}"))
}

/// The contract's one-line reason for a refusal, or the failure's own line.
fn reason(error: &ClientError) -> String {
    let text = match error {
        ClientError::Endorsement { message, .. } | ClientError::Refused { message, .. } => {
            message.clone()
        }
        other => other.to_string(),
    };
    text.lines().next().unwrap_or_default().to_owned()
}

/// Signs and submits `step` as `session`'s role for its user; what was done, or why not.
async fn run(
    shared: &Shared,
    session: &Session,
    period: Period,
    step: Step,
) -> Result<String, String> {
    let (gateway, signer) = shared
        .upstream
        .connection(session.role)
        .await
        .map_err(|e| reason(&e))?;
    let user = ActingUser::new(session.user.clone()).map_err(|e| e.to_string())?;
    let sdk = Settlement::new(gateway, signer).acting_for(user);
    let fail = |e: ClientError| reason(&e);
    match step {
        Step::Dispute { line_no, reason } => {
            let done = sdk.dispute(period, line_no, &reason).await.map_err(fail)?;
            Ok(format!("line {line_no} disputed (block {})", done.block))
        }
        Step::Adjust(entries) => adjust(&sdk, period, entries).await,
        Step::Decide {
            target,
            accept,
            reason,
        } => decide(&sdk, period, target, accept, reason).await,
        Step::Confirm => {
            let done = sdk.confirm(period).await.map_err(fail)?;
            Ok(format!(
                "confirmed; the period is {}",
                done.answer.phase.name()
            ))
        }
        Step::Approve => {
            let done = sdk.approve(period).await.map_err(fail)?;
            Ok(format!(
                "approved; the period is {}",
                done.answer.phase.name()
            ))
        }
        Step::Pay {
            reference,
            amount_fen,
        } => {
            sdk.pay(period, &reference, amount_fen, None)
                .await
                .map_err(fail)?;
            Ok(format!("payment {reference} recorded"))
        }
        Step::Ack { reference } => {
            sdk.ack(period, &reference).await.map_err(fail)?;
            Ok(format!(
                "payment {reference} acknowledged; the period is closed"
            ))
        }
    }
}

/// One adjustment alone, a file's in transactions of at most [`BULK_ADJUSTMENTS_MAX`].
async fn adjust(
    sdk: &Settlement<'_>,
    period: Period,
    entries: Vec<AdjustmentEntry>,
) -> Result<String, String> {
    if let [entry] = entries.as_slice() {
        let done = sdk.adjust(period, entry).await.map_err(|e| reason(&e))?;
        return Ok(format!(
            "adjustment {} proposed for line {}",
            done.answer.adjustment.id, entry.line_no
        ));
    }
    let mut proposed: u64 = 0;
    for chunk in entries.chunks(BULK_ADJUSTMENTS_MAX) {
        match sdk.adjust_many(period, chunk.to_vec()).await {
            Ok(done) => proposed = proposed.saturating_add(done.answer.count),
            Err(e) if proposed == 0 => return Err(reason(&e)),
            Err(e) => return Err(format!("{proposed} proposed, then: {}", reason(&e))),
        }
    }
    Ok(format!("{proposed} adjustments proposed"))
}

/// The ids of the other side's adjustments awaiting a decision.
async fn pending_of_other(sdk: &Settlement<'_>, period: Period) -> Result<Vec<u64>, ClientError> {
    let view = sdk.status(period).await?;
    let own = view.side_of(sdk.msp_id());
    let lines = sdk.lines(period, false).await?;
    let mut ids = Vec::new();
    for id in lines
        .lines
        .iter()
        .filter_map(|line| line.pending_adjustment)
    {
        if Some(sdk.adjustment(period, id).await?.proposer) != own {
            ids.push(id);
        }
    }
    Ok(ids)
}

async fn decide(
    sdk: &Settlement<'_>,
    period: Period,
    target: Target,
    accept: bool,
    why: String,
) -> Result<String, String> {
    let ids = match target {
        Target::One(id) => vec![id],
        Target::AllPending => pending_of_other(sdk, period)
            .await
            .map_err(|e| reason(&e))?,
    };
    if ids.is_empty() {
        return Err("no adjustment of the other side awaits a decision".into());
    }
    let mut decided: usize = 0;
    for chunk in ids.chunks(BULK_ADJUSTMENTS_MAX) {
        let (accepted, rejected) = if accept {
            (chunk.to_vec(), Vec::new())
        } else {
            let reject = chunk
                .iter()
                .map(|id| RejectEntry {
                    adjustment_id: *id,
                    reason: why.clone(),
                })
                .collect();
            (Vec::new(), reject)
        };
        match sdk.decide_many(period, accepted, rejected).await {
            Ok(_) => decided = decided.saturating_add(chunk.len()),
            Err(e) if decided == 0 => return Err(reason(&e)),
            Err(e) => return Err(format!("{decided} decided, then: {}", reason(&e))),
        }
    }
    let verb = if accept { "accepted" } else { "rejected" };
    Ok(format!("{decided} adjustments {verb}"))
}
