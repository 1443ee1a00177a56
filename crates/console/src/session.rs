//! Server-side sessions: a random 256-bit token in a cookie names a session that carries
//! the user, their role, a CSRF token for its forms, and idle and absolute expiry. Login
//! forms get a pre-session token of their own (cookie + hidden field), so a login cannot
//! be forged from another site either. Time is passed in, so expiry is tested without
//! waiting.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use subtle::ConstantTimeEq;

use crate::config::Role;
use crate::error::ConsoleError;
use crate::limits::{PRE_SESSION_LIFETIME, PRE_SESSIONS_MAX, SESSIONS_MAX};

/// A fresh 256-bit random token, hex.
pub fn random_token() -> Result<String, ConsoleError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| ConsoleError::Random(e.to_string()))?;
    Ok(hex::encode(bytes))
}

/// Whether two tokens are equal, in time independent of where they differ.
pub fn tokens_equal(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// A logged-in user's session.
#[derive(Debug, Clone)]
pub struct Session {
    /// The user name.
    pub user: String,
    /// Their role.
    pub role: Role,
    /// The token every form of this session carries.
    pub csrf: String,
    created: Instant,
    last_seen: Instant,
}

/// The bounded session store.
pub struct Sessions {
    sessions: HashMap<String, Session>,
    pre: HashMap<String, Instant>,
    idle: Duration,
    absolute: Duration,
}

impl Sessions {
    /// An empty store with the given lifetimes.
    pub fn new(idle: Duration, absolute: Duration) -> Sessions {
        Sessions {
            sessions: HashMap::new(),
            pre: HashMap::new(),
            idle,
            absolute,
        }
    }

    /// Starts a session; returns its cookie token. Beyond [`SESSIONS_MAX`] the session
    /// used least recently is dropped.
    pub fn create(&mut self, user: &str, role: Role, now: Instant) -> Result<String, ConsoleError> {
        self.expire(now);
        if self.sessions.len() >= SESSIONS_MAX {
            let oldest = self
                .sessions
                .iter()
                .min_by_key(|(_, s)| s.last_seen)
                .map(|(token, _)| token.clone());
            if let Some(token) = oldest {
                self.sessions.remove(&token);
            }
        }
        let token = random_token()?;
        let session = Session {
            user: user.to_owned(),
            role,
            csrf: random_token()?,
            created: now,
            last_seen: now,
        };
        self.sessions.insert(token.clone(), session);
        Ok(token)
    }

    /// The live session of `token`, touched; `None` when unknown or expired (and then gone).
    pub fn get(&mut self, token: &str, now: Instant) -> Option<Session> {
        let session = self.sessions.get_mut(token)?;
        let idle = now.saturating_duration_since(session.last_seen);
        let age = now.saturating_duration_since(session.created);
        if idle >= self.idle || age >= self.absolute {
            self.sessions.remove(token);
            return None;
        }
        session.last_seen = now;
        Some(session.clone())
    }

    /// Ends the session of `token`.
    pub fn remove(&mut self, token: &str) {
        self.sessions.remove(token);
    }

    /// A login form token, valid for [`PRE_SESSION_LIFETIME`].
    pub fn create_pre(&mut self, now: Instant) -> Result<String, ConsoleError> {
        self.expire(now);
        if self.pre.len() >= PRE_SESSIONS_MAX {
            let oldest = self
                .pre
                .iter()
                .min_by_key(|(_, t)| **t)
                .map(|(k, _)| k.clone());
            if let Some(token) = oldest {
                self.pre.remove(&token);
            }
        }
        let token = random_token()?;
        self.pre.insert(token.clone(), now);
        Ok(token)
    }

    /// Whether `token` is a live login form token.
    pub fn pre_valid(&mut self, token: &str, now: Instant) -> bool {
        match self.pre.get(token) {
            Some(created) => now.saturating_duration_since(*created) < PRE_SESSION_LIFETIME,
            None => false,
        }
    }

    /// Number of sessions held (the bound's test).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.sessions.len()
    }

    fn expire(&mut self, now: Instant) {
        let (idle, absolute) = (self.idle, self.absolute);
        self.sessions.retain(|_, s| {
            now.saturating_duration_since(s.last_seen) < idle
                && now.saturating_duration_since(s.created) < absolute
        });
        self.pre
            .retain(|_, created| now.saturating_duration_since(*created) < PRE_SESSION_LIFETIME);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_expire_when_idle_and_absolutely() {
        let start = Instant::now();
        let mut store = Sessions::new(Duration::from_secs(10), Duration::from_secs(25));
        let token = store.create("alice", Role::Settlement, start).unwrap();
        assert!(store.get(&token, start + Duration::from_secs(9)).is_some());
        assert!(store.get(&token, start + Duration::from_secs(18)).is_some());
        // Touched at 18 s, so idle is fine at 24 s, but the absolute lifetime ends at 25 s.
        assert!(store.get(&token, start + Duration::from_secs(24)).is_some());
        assert!(store.get(&token, start + Duration::from_secs(25)).is_none());
        let idle = store.create("bob", Role::Finance, start).unwrap();
        assert!(store.get(&idle, start + Duration::from_secs(10)).is_none());
        assert!(store.get("not a token", start).is_none());
    }

    #[test]
    fn the_store_is_bounded() {
        let start = Instant::now();
        let mut store = Sessions::new(Duration::from_secs(10), Duration::from_secs(20));
        for _ in 0..SESSIONS_MAX + 3 {
            store.create("alice", Role::Settlement, start).unwrap();
        }
        assert_eq!(store.len(), SESSIONS_MAX);
    }

    #[test]
    fn login_form_tokens_expire() {
        let start = Instant::now();
        let mut store = Sessions::new(Duration::from_secs(10), Duration::from_secs(20));
        let pre = store.create_pre(start).unwrap();
        assert!(store.pre_valid(&pre, start));
        assert!(!store.pre_valid(&pre, start + PRE_SESSION_LIFETIME));
        assert!(!store.pre_valid("forged", start));
    }
}
