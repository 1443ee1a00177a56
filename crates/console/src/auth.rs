//! Who may log in: argon2id password hashes of the configured users, checked in about the
//! same time whether the user exists or not, and a throttle on repeated failures per user
//! and address.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::time::Instant;

use argon2::password_hash::{PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Argon2, PasswordHash};

use crate::config::{Role, UserConfig};
use crate::error::ConsoleError;
use crate::limits::{
    LOGIN_FAILURE_WINDOW, LOGIN_FAILURES_MAX, PASSWORD_BYTES_MAX, THROTTLE_ENTRIES_MAX,
};

/// An argon2id PHC string for `password`, with a fresh random salt.
pub fn hash_password(password: &[u8]) -> Result<String, ConsoleError> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| ConsoleError::Random(e.to_string()))?;
    let salt =
        SaltString::encode_b64(&salt).map_err(|e| ConsoleError::PasswordHash(e.to_string()))?;
    Argon2::default()
        .hash_password(password, &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| ConsoleError::PasswordHash(e.to_string()))
}

/// The configured users.
pub struct Users {
    by_name: HashMap<String, (String, Role)>,
    /// Verified against when the name is unknown, so timing does not tell which names exist.
    dummy_hash: String,
}

impl Users {
    /// The users of the config (already checked by [`crate::ConsoleConfig::parse`]).
    pub fn new(users: &[UserConfig]) -> Result<Users, ConsoleError> {
        let by_name = users
            .iter()
            .map(|u| (u.name.clone(), (u.password_hash.clone(), u.role)))
            .collect();
        let dummy_hash = hash_password(b"no such user")?;
        Ok(Users {
            by_name,
            dummy_hash,
        })
    }

    /// The user's role when `password` is theirs.
    pub fn verify(&self, name: &str, password: &str) -> Option<Role> {
        if password.len() > PASSWORD_BYTES_MAX {
            return None;
        }
        let (hash, role) = match self.by_name.get(name) {
            Some((hash, role)) => (hash.as_str(), Some(*role)),
            None => (self.dummy_hash.as_str(), None),
        };
        let parsed = PasswordHash::new(hash).ok()?;
        let good = Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok();
        if good { role } else { None }
    }
}

/// Failed logins per user and address within [`LOGIN_FAILURE_WINDOW`].
#[derive(Default)]
pub struct Throttle {
    failures: BTreeMap<(String, IpAddr), (u32, Instant)>,
}

impl Throttle {
    /// Whether `name` from `addr` may try now.
    pub fn allowed(&mut self, name: &str, addr: IpAddr, now: Instant) -> bool {
        self.expire(now);
        match self.failures.get(&(name.to_owned(), addr)) {
            Some((count, _)) => *count < LOGIN_FAILURES_MAX,
            None => true,
        }
    }

    /// Records a failure; the window starts at the first.
    pub fn failed(&mut self, name: &str, addr: IpAddr, now: Instant) {
        self.expire(now);
        if self.failures.len() >= THROTTLE_ENTRIES_MAX {
            let oldest = self
                .failures
                .iter()
                .min_by_key(|(_, (_, first))| *first)
                .map(|(key, _)| key.clone());
            if let Some(key) = oldest {
                self.failures.remove(&key);
            }
        }
        let entry = self
            .failures
            .entry((name.to_owned(), addr))
            .or_insert((0, now));
        entry.0 = entry.0.saturating_add(1);
    }

    /// Forgets the failures of a successful login.
    pub fn succeeded(&mut self, name: &str, addr: IpAddr) {
        self.failures.remove(&(name.to_owned(), addr));
    }

    fn expire(&mut self, now: Instant) {
        self.failures
            .retain(|_, (_, first)| now.saturating_duration_since(*first) < LOGIN_FAILURE_WINDOW);
    }
}
