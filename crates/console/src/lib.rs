//! The staff web console: one carrier's browser front end to the settlement contract.
//!
//! Browsers cannot speak RFC 8998 (SM-TLS), so `netsettle console` runs inside a
//! carrier's network with that carrier's client identities and talks to the consortium
//! through the SDK ([`netsettle_client::Settlement`]); towards browsers it serves ordinary
//! HTTPS with a certificate the carrier configures (`[tls]` cert and key, PEM; rustls with
//! its standard `ring` provider for this listener only, cookies `Secure`), or plain HTTP
//! on a loopback address only (anything else is refused).
//!
//! Staff log in with per-user credentials from the config (argon2id hashes,
//! [`hash_password`]); failures are throttled per user and address. A session is a random
//! 256-bit token in a cookie (`HttpOnly`, `SameSite=Strict`, `Path=/`) naming a bounded
//! server-side entry with idle and absolute expiry. Every form carries the session's CSRF
//! token in the hidden field `csrf`, checked on every POST; the login form carries a
//! pre-session token (cookie `ns_login` + field). Each user's role (settlement or
//! finance) picks the carrier identity that signs for them.
//!
//! # Pages and stable element ids (a browser test relies on them)
//!
//! - `GET /login`: form `#login` with inputs `name`, `password` (and `csrf`);
//!   `POST /login` answers 303 to `/` with the session cookie, 401 on a wrong name or
//!   password, 429 when throttled, 403 without a valid form token.
//! - `POST /logout` (form `#logout` in the header of every page).
//! - `GET /`: table `#periods`, one row `tr[data-period=YYYY-MM]` per period with its
//!   phase (`td.phase`, the lower-case name as in `#status`: `uploading`, `revealing`,
//!   `reviewing`, `final`, `closed`, …), whose move (`td.whose-move`, MSP ids joined by
//!   `, `), each side (`span.side[data-carrier]`: its next action and since when, class
//!   `late` when late), and the deadlines (`td.deadlines` with `span.upload-deadline`,
//!   `span.reveal-deadline`: UTC, or `-` when none; asked for the most recent
//!   [`limits::PERIODS_DEADLINES_MAX`] periods).
//! - `GET /periods/{period}` (`YYYY-MM`; GET parameters `q`: search text matched,
//!   case-insensitively, against item, area, payer, status and note; `open=1`: the open
//!   lines only, as the contract lists them):
//!   - `#status` (a `section`): `dd.phase`, `dd.round`, `dd.version`, `dd.whose-move`
//!     (MSP ids joined by `, `), `dd.upload-deadline`, `dd.reveal-deadline`, each side
//!     `span.side[data-carrier]` (class `late` when late), and once reconciled
//!     `dd.lines[data-lines]`, `dd.a-reported`, `dd.b-reported`, `dd.settled`;
//!   - `#lines`: one `tr[data-line=N]` per kept line, class `disputed` (and `open`) on
//!     disputed lines, `one-sided` (and `open`) on one-sided ones; cells `td.item`,
//!     `td.area`, `td.payer` (MSP id), `td.status`, `td.a-quantity`, `td.a-amount`,
//!     `td.b-quantity`, `td.b-amount`, `td.difference` (carrier A's amount minus carrier
//!     B's), `td.settled`, `td.note`; every amount cell carries `data-fen` (minor units),
//!     absent where there is no figure;
//!   - `#items`: one `tr[data-item=ITEM][data-payer=MSP]` per item and payer over the
//!     kept lines, with `td.lines`, `td.open`, `td.a-amount`, `td.b-amount`,
//!     `td.difference` (each amount with `data-fen`);
//!   - `#chart`: an inline SVG; one `rect.bar` per item, reporting carrier and direction
//!     with `data-item`, `data-carrier` (MSP id), `data-direction` (`payable` when the
//!     reporting carrier is the line's payer, else `receivable`) and `data-amount` (that
//!     carrier's amounts summed, in fen);
//!   - `#search` (GET form with `q` and `open`), `#timeline-link`, and once final or
//!     closed `#export-csv`, `#export-json`; before reconciliation `#no-lines`;
//!   - the action forms of the user's role only (`section#actions`), each a POST to
//!     `/periods/{period}/{step}` named by its id and carrying the hidden `csrf`:
//!     settlement staff, while the period is in review: `#dispute` (`line`, `reason`),
//!     `#adjust` (`line`, `quantity`, `amount_fen`, `reason`), `#adjust-file`
//!     (multipart, a `file` in the CLI's `settlement adjust --file` format), `#decide`
//!     (`adjustment`: an id or `all` of the other side's pending ones, `decision`:
//!     `accept` or `reject`, `reason` for a rejection) and `#confirm` (until the own
//!     carrier confirmed the current data version), with the pending
//!     adjustments in `#pending` (`tr[data-adjustment=ID][data-for-line=N][data-proposer=MSP]`);
//!     finance, once final: `#approve` (until the own carrier approved), `#pay`
//!     (`reference`, `amount_fen` prefilled with the net amount; the payer's finance
//!     only, once both approved, until paid) and `#ack` (`reference` prefilled; the
//!     payee's finance only, once paid).
//! - `POST /periods/{period}/{step}`: 403 without a session or the session's CSRF token,
//!   403 for another role's step (the console refuses before the contract would); else
//!   the step is signed with the role's carrier identity on behalf of the user and the
//!   answer is a 303 back to the period page, which shows the outcome once as `#flash`:
//!   class `ok`, or `error` with the contract's one-line reason (or what is wrong with
//!   the form; nothing was submitted then).
//! - `GET /periods/{period}/timeline`: `ol#timeline`, one `li[data-tx=HEX][data-seq=N]` per
//!   audit entry, oldest first, with `span.when[data-ms]`, `span.carrier`, `span.cn`,
//!   `span.on-behalf-of`, `span.step`, `span.detail`, `span.block` (`-` when no own peer
//!   answered) and `code.tx`.
//! - `GET /periods/{period}/export.csv` and `export.json`: the finance export as the SDK
//!   writes it (byte-identical for both carriers), as a download; 409 before final.
//! - `GET /notices`: `ul#notices`, one `li[data-notice=ID][data-kind=KIND]` per notice
//!   received, newest first, with `span.when[data-ms]`, `span.period`, `span.kind`,
//!   `span.text`, `span.block`, `span.recipient`.
//! - `POST /hooks/notices`: the node's signed notices (the format of
//!   [`netsettle_client::notice`]), checked against the node signing certificates in
//!   `notice_signers` and the clock; no session or CSRF token (the signature is the
//!   authentication). 200 `received`, or 200 `duplicate ignored` for an id already seen;
//!   401 when the signature does not verify (forged, tampered) or the timestamp is old,
//!   413 over the notice size, 400 otherwise (a missing header, a body that is no
//!   notice). The last [`limits::NOTICES_KEPT_MAX`] are kept in memory. A console behind
//!   TLS can serve the hook on a second, plain-HTTP listener (`notices_listen`) that
//!   serves nothing else: the node's webhook sender speaks plain HTTP.
//! - A flash message after an action is `#flash` (class `ok` or `error`); an error page
//!   shows its detail in `#error`.
//! - `GET /console.css`: the one stylesheet (compiled in; the CSP allows no inline style),
//!   which highlights `tr.disputed` and `tr.one-sided` rows and `.late` sides.
//!
//! Every answer carries `Content-Security-Policy: default-src 'self'`,
//! `X-Frame-Options: DENY` and `Cache-Control: no-store`. Request bodies are bounded
//! ([`limits`]).
//!
//! What it leaves out: uploading and revealing reports (the settlement CLI or the SDK do
//! that), agreements, and any JavaScript.

mod actions;
mod auth;
mod config;
mod error;
mod html;
pub mod limits;
mod notices;
mod period;
mod period_html;
mod period_routes;
mod server;
mod session;
mod tls;
mod upload;
mod upstream;

pub use auth::hash_password;
pub use config::{ConsoleConfig, Role, TlsConfig, UserConfig};
pub use error::ConsoleError;
pub use server::{Console, PRE_COOKIE, SESSION_COOKIE};
