//! The console as a webhook receiver of its carrier's node: `POST /hooks/notices` takes
//! the node's signed notices ([`netsettle_client::notice`]), checks each against the
//! configured node signing certificates and the clock, keeps the last
//! [`NOTICES_KEPT_MAX`] in memory, and drops a notice whose id it has seen (the node's
//! outbox retries until it sees a 2xx, so the same notice can come twice). The
//! signature is the authentication: no session or CSRF token on this route.
//! `GET /notices` shows them to logged-in staff.

use std::collections::{HashSet, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use netsettle_client::{Notice, NoticeError, verify_notice};
use netsettle_smcrypto::PublicKey;
use netsettle_smcrypto::x509::Certificate;

use crate::error::ConsoleError;
use crate::html;
use crate::limits::{NOTICE_IDS_REMEMBERED_MAX, NOTICES_KEPT_MAX};
use crate::server::{Shared, html_response, redirect, session};

/// The public keys of the node signing certificates in `paths`.
pub fn trusted_keys(paths: &[PathBuf]) -> Result<Vec<PublicKey>, ConsoleError> {
    paths
        .iter()
        .map(|path| {
            Certificate::read_pem_file(path)
                .map(|cert| cert.public_key().clone())
                .map_err(|error| ConsoleError::NoticeSigner {
                    path: path.clone(),
                    reason: error.to_string(),
                })
        })
        .collect()
}

/// The notices kept, newest last, and the ids seen recently.
#[derive(Default)]
pub struct NoticeStore {
    kept: VecDeque<Notice>,
    seen: HashSet<String>,
    seen_order: VecDeque<String>,
}

impl NoticeStore {
    /// Keeps `notice` unless its id was seen; whether it was new.
    pub fn insert(&mut self, notice: Notice) -> bool {
        if self.seen.contains(&notice.id) {
            return false;
        }
        if self.seen_order.len() >= NOTICE_IDS_REMEMBERED_MAX
            && let Some(oldest) = self.seen_order.pop_front()
        {
            self.seen.remove(&oldest);
        }
        self.seen.insert(notice.id.clone());
        self.seen_order.push_back(notice.id.clone());
        if self.kept.len() >= NOTICES_KEPT_MAX {
            self.kept.pop_front();
        }
        self.kept.push_back(notice);
        true
    }

    /// The notices kept, newest first.
    pub fn newest_first(&self) -> Vec<Notice> {
        self.kept.iter().rev().cloned().collect()
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .ok()
        .and_then(|elapsed| i64::try_from(elapsed.as_millis()).ok())
        .unwrap_or(0)
}

fn plain(status: StatusCode, text: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        text,
    )
        .into_response()
}

/// `POST /hooks/notices`.
pub(crate) async fn hook(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let header = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
    let notice = match verify_notice(&shared.notice_keys, header, &body, now_ms()) {
        Ok(notice) => notice,
        Err(error) => {
            tracing::warn!(%error, "notice refused");
            let status = match error {
                NoticeError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
                NoticeError::BadSignature
                | NoticeError::BadSignatureEncoding
                | NoticeError::Stale { .. } => StatusCode::UNAUTHORIZED,
                _ => StatusCode::BAD_REQUEST,
            };
            return plain(status, format!("refused: {error}\n"));
        }
    };
    // Logged whole (the demo shows the console's notices from its log).
    let (id, kind, text) = (notice.id.clone(), notice.kind.clone(), notice.text.clone());
    let fresh = match shared.notices.lock() {
        Ok(mut notices) => notices.insert(notice),
        Err(_) => return plain(StatusCode::INTERNAL_SERVER_ERROR, "store poisoned\n".into()),
    };
    if fresh {
        tracing::info!(id, kind, text, "notice received");
        plain(StatusCode::OK, "received\n".into())
    } else {
        tracing::info!(id, "duplicate notice ignored");
        plain(StatusCode::OK, "duplicate ignored\n".into())
    }
}

/// `GET /notices`.
pub(crate) async fn page(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    let Some((_, session)) = session(&shared, &headers) else {
        return redirect("/login");
    };
    let notices = shared
        .notices
        .lock()
        .map(|notices| notices.newest_first())
        .unwrap_or_default();
    html_response(
        StatusCode::OK,
        html::notices(
            &notices,
            (&session.user, session.role.name(), &session.csrf),
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notice(id: &str) -> Notice {
        Notice {
            id: id.to_owned(),
            kind: "reconciled".to_owned(),
            channel: "settlement".to_owned(),
            carrier: "UnicomMSP".to_owned(),
            period: Some("2026-10".to_owned()),
            text: "reconciled".to_owned(),
            block: Some(7),
            tx_id: None,
            at_ms: 0,
            recipient: "console".to_owned(),
        }
    }

    #[test]
    fn the_store_dedups_and_is_bounded() {
        let mut store = NoticeStore::default();
        assert!(store.insert(notice("a")));
        assert!(!store.insert(notice("a")));
        for n in 0..NOTICES_KEPT_MAX {
            assert!(store.insert(notice(&format!("n{n}"))));
        }
        let kept = store.newest_first();
        assert_eq!(kept.len(), NOTICES_KEPT_MAX);
        assert_eq!(kept[0].id, format!("n{}", NOTICES_KEPT_MAX - 1));
        // Dropped from the page, still remembered as seen.
        assert!(!store.insert(notice("a")));
        for n in 0..NOTICE_IDS_REMEMBERED_MAX {
            store.insert(notice(&format!("m{n}")));
        }
        assert!(store.seen.len() <= NOTICE_IDS_REMEMBERED_MAX);
        assert!(store.insert(notice("a")), "forgotten after the bound");
    }
}
