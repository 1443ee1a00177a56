//! The staff web console: one carrier's browser front end to the settlement contract.
//!
//! Browsers cannot speak RFC 8998 (SM-TLS), so `netsettle console` runs inside a
//! carrier's network with that carrier's client identities and talks to the consortium
//! through the SDK ([`netsettle_client::Settlement`]); towards browsers it serves ordinary
//! HTTP, on a loopback address only (a TLS listener with an ordinary certificate is
//! configured with `[tls]` and not built yet: such a config is refused).
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
//!   phase (`td.phase`), whose move (`td.whose-move`), and each side
//!   (`span.side[data-carrier]`, class `late` when late).
//! - A flash message after an action is `#flash` (class `ok` or `error`); an error page
//!   shows its detail in `#error`.
//!
//! Every answer carries `Content-Security-Policy: default-src 'self'`,
//! `X-Frame-Options: DENY` and `Cache-Control: no-store`. Request bodies are bounded
//! ([`limits`]).
//!
//! What it leaves out (yet): the period page with its actions, chart and timeline, the
//! export download, the notices hook, and the TLS listener.

mod auth;
mod config;
mod error;
mod html;
pub mod limits;
mod server;
mod session;
mod upstream;

pub use auth::hash_password;
pub use config::{ConsoleConfig, Role, TlsConfig, UserConfig};
pub use error::ConsoleError;
pub use server::{Console, PRE_COOKIE, SESSION_COOKIE};
