//! The console's TOML config: where it listens, which carrier identities it signs with,
//! which node certificates it trusts for notices, and its users. Unknown keys are errors,
//! so a typo never silently drops a setting.

use std::io::Read;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::ConsoleError;
use crate::limits::{CONFIG_BYTES_MAX, USER_NAME_BYTES_MAX, USERS_MAX};

/// A staff user's role: which carrier identity signs for them and which steps they may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Settlement staff: dispute, adjust, decide, confirm.
    Settlement,
    /// Finance: approve, pay, acknowledge.
    Finance,
}

impl Role {
    /// The role's name as shown and configured.
    pub fn name(self) -> &'static str {
        match self {
            Role::Settlement => "settlement",
            Role::Finance => "finance",
        }
    }
}

/// One `[[users]]` entry.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserConfig {
    /// Login name, recorded on the chain as `on_behalf_of`.
    pub name: String,
    /// argon2id PHC string (`netsettle console hash-password`).
    pub password_hash: String,
    /// What the user may do.
    pub role: Role,
}

/// `[tls]`: an ordinary (not SM) certificate for browsers.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM certificate chain.
    pub cert: PathBuf,
    /// PEM private key.
    pub key: PathBuf,
}

/// The whole config file.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsoleConfig {
    /// Where browsers connect.
    pub listen: SocketAddr,
    /// TLS for the listener; without it only a loopback address is accepted.
    pub tls: Option<TlsConfig>,
    /// The carrier's connection profile.
    pub profile: PathBuf,
    /// Identity directory that signs for settlement staff.
    pub settlement_identity: PathBuf,
    /// Identity directory that signs for finance staff.
    pub finance_identity: PathBuf,
    /// Node signing certificates (PEM) whose notices the hook accepts.
    #[serde(default)]
    pub notice_signers: Vec<PathBuf>,
    /// A second, plain-HTTP listener serving only `POST /hooks/notices`, for a console
    /// behind TLS: the node's webhook sender speaks plain HTTP. Any address: it serves
    /// nothing but signed notices (no session, no page).
    #[serde(default)]
    pub notices_listen: Option<SocketAddr>,
    /// Idle session lifetime, seconds.
    #[serde(default = "idle_default")]
    pub session_idle_secs: u64,
    /// Absolute session lifetime, seconds.
    #[serde(default = "absolute_default")]
    pub session_absolute_secs: u64,
    /// The staff.
    #[serde(default)]
    pub users: Vec<UserConfig>,
}

fn idle_default() -> u64 {
    30 * 60
}

fn absolute_default() -> u64 {
    12 * 60 * 60
}

impl ConsoleConfig {
    /// Reads and checks the config at `path`; relative paths in it are taken from the
    /// file's directory.
    pub fn load(path: &Path) -> Result<ConsoleConfig, ConsoleError> {
        let read_error = |source| ConsoleError::ReadConfig {
            path: path.to_owned(),
            source,
        };
        let file = std::fs::File::open(path).map_err(read_error)?;
        let mut text = String::new();
        file.take(CONFIG_BYTES_MAX)
            .read_to_string(&mut text)
            .map_err(read_error)?;
        let mut config = ConsoleConfig::parse(&text)?;
        if let Some(dir) = path.parent() {
            config.rebase(dir);
        }
        Ok(config)
    }

    /// Parses and checks config text.
    pub fn parse(text: &str) -> Result<ConsoleConfig, ConsoleError> {
        let config: ConsoleConfig =
            toml::from_str(text).map_err(|e| ConsoleError::Config(e.to_string()))?;
        config.check()?;
        Ok(config)
    }

    /// Idle session lifetime.
    pub fn session_idle(&self) -> Duration {
        Duration::from_secs(self.session_idle_secs)
    }

    /// Absolute session lifetime.
    pub fn session_absolute(&self) -> Duration {
        Duration::from_secs(self.session_absolute_secs)
    }

    fn check(&self) -> Result<(), ConsoleError> {
        let bad = |m: String| Err(ConsoleError::Config(m));
        if self.tls.is_none() && !self.listen.ip().is_loopback() {
            return Err(ConsoleError::PlainNotLoopback(self.listen));
        }
        if self.users.len() > USERS_MAX {
            return bad(format!("{} users, at most {USERS_MAX}", self.users.len()));
        }
        if self.session_idle_secs == 0 || self.session_idle_secs > self.session_absolute_secs {
            return bad("session_idle_secs must be > 0 and <= session_absolute_secs".into());
        }
        let mut names = std::collections::BTreeSet::new();
        for user in &self.users {
            let name_ok = !user.name.is_empty()
                && user.name.len() <= USER_NAME_BYTES_MAX
                && user
                    .name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._@-".contains(c));
            if !name_ok {
                return bad(format!(
                    "user name {:?}: 1..={USER_NAME_BYTES_MAX} bytes of [A-Za-z0-9._@-]",
                    user.name
                ));
            }
            if !names.insert(user.name.as_str()) {
                return bad(format!("user {} listed twice", user.name));
            }
            if argon2::PasswordHash::new(&user.password_hash).is_err() {
                return bad(format!(
                    "user {}: password_hash is not a PHC string",
                    user.name
                ));
            }
        }
        Ok(())
    }

    fn rebase(&mut self, dir: &Path) {
        let join = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = dir.join(&*p);
            }
        };
        join(&mut self.profile);
        join(&mut self.settlement_identity);
        join(&mut self.finance_identity);
        self.notice_signers.iter_mut().for_each(join);
        if let Some(tls) = &mut self.tls {
            join(&mut tls.cert);
            join(&mut tls.key);
        }
    }
}
