//! The `[notices]` settings: who receives which notices, over which channel, and how hard
//! delivery tries. [`NoticesConfig`] is the file's shape (serde, unknown keys refused);
//! [`NoticesConfig::validate`] turns it into [`Settings`] or says what is wrong, so a bad
//! config stops the node at start rather than losing notices later.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde::Deserialize;

use super::derive::Role;
use super::limits::{
    ATTEMPT_TIMEOUT_MAX, BACKOFF_MAX, IN_FLIGHT_MAX, IN_FLIGHT_PER_RECIPIENT_MAX, RECIPIENTS_MAX,
    REMINDER_HOURS_MAX, REMINDER_THRESHOLDS_MAX, TEMPLATE_BYTES_MAX,
};
use super::recipient::{Periods, Recipient};
use super::sms::{Encoding, SmsTemplate, TemplateError};
use crate::limits::TIMEOUT_MIN;

/// `[notices]` as written in the node config file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoticesConfig {
    /// Who receives notices (`[[notices.recipients]]`).
    #[serde(default)]
    pub recipients: Vec<RecipientConfig>,
    /// Attempts before a notice is marked failed (default 12).
    pub attempts_max: Option<u32>,
    /// Age after which a notice not yet sent is marked failed, seconds (default 1 day).
    pub age_max_secs: Option<u64>,
    /// The first retry's delay, milliseconds (default 1000); doubles per attempt.
    pub backoff_initial_ms: Option<u64>,
    /// The longest retry delay, milliseconds (default 600000, 10 min).
    pub backoff_max_ms: Option<u64>,
    /// Longest time for one attempt, connect to response head, milliseconds (default 10000).
    pub attempt_timeout_ms: Option<u64>,
    /// Attempts in flight at once, all recipients (default 8).
    pub in_flight_max: Option<usize>,
    /// Attempts in flight at once to one recipient (default 2).
    pub in_flight_per_recipient_max: Option<usize>,
    /// Entries the outbox keeps, oldest finished pruned first (default 10000).
    pub entries_max: Option<usize>,
    /// Deadline reminders, hours before an upload or reveal deadline (default [72, 24];
    /// `[]`: reminders only once a deadline passed).
    pub reminder_hours: Option<Vec<u64>>,
    /// How often the reminder timer reads the periods' status, seconds (default 300).
    pub reminder_check_secs: Option<u64>,
}

/// One `[[notices.recipients]]` entry as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecipientConfig {
    /// Unique name, part of every notice id sent to it.
    pub name: String,
    /// `settlement`, `finance`.
    pub roles: Vec<String>,
    /// `"all"` or a list of `YYYY-MM` periods.
    pub periods: PeriodsConfig,
    /// `webhook` or `sms`.
    pub channel: String,
    /// The endpoint, `http://host:port/path`.
    pub url: String,
    /// SMS: the phone numbers (`{phone}` is them joined by commas).
    #[serde(default)]
    pub phones: Vec<String>,
    /// SMS: the HTTP method (default `POST`).
    pub method: Option<String>,
    /// SMS: extra request headers.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// SMS: `form` or `json`: how placeholder values are escaped in the body.
    pub encoding: Option<String>,
    /// SMS: the body template, with `{phone}`, `{text}`, `{id}`, `{period}`, `{kind}`.
    pub body: Option<String>,
}

/// `periods = "all"` or `periods = ["2026-11", …]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum PeriodsConfig {
    /// Should be `"all"`.
    Word(String),
    /// Periods, `YYYY-MM`.
    List(Vec<String>),
}

/// A plain-HTTP endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Host name or address.
    pub host: String,
    /// Port (80 if the URL names none).
    pub port: u16,
    /// `host[:port]` as in the URL, for the `Host` header.
    pub authority: String,
    /// Path and query, `/` at least.
    pub path: String,
}

/// How a recipient is reached.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Channel {
    /// POST the signed notice JSON.
    Webhook(Endpoint),
    /// A request built from a template for an SMS platform.
    Sms {
        /// Where to send it.
        endpoint: Endpoint,
        /// The phone numbers.
        phones: Vec<String>,
        /// Method, headers, body.
        template: SmsTemplate,
    },
}

/// A recipient and its channel.
#[derive(Debug, Clone)]
pub struct Addressee {
    /// Name, roles, periods.
    pub recipient: Recipient,
    /// How to reach it.
    pub channel: Channel,
}

/// Retry timing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts before giving up.
    pub attempts_max: u32,
    /// Age before giving up.
    pub age_max: Duration,
    /// First retry delay.
    pub backoff_initial: Duration,
    /// Longest retry delay.
    pub backoff_max: Duration,
}

/// Validated `[notices]` settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The recipients, in config order.
    pub addressees: Vec<Addressee>,
    /// Retry timing.
    pub retry: RetryPolicy,
    /// Longest time for one attempt.
    pub attempt_timeout: Duration,
    /// Attempts in flight at once.
    pub in_flight_max: usize,
    /// Attempts in flight at once to one recipient.
    pub in_flight_per_recipient_max: usize,
    /// Entries the outbox keeps.
    pub entries_max: usize,
    /// Reminder thresholds before a deadline, most distant first.
    pub reminder_before: Vec<Duration>,
    /// How often the reminder timer looks.
    pub reminder_check: Duration,
}

/// What is wrong with a `[notices]` section.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// No recipient, or more than [`RECIPIENTS_MAX`].
    #[error("notices: {0} recipients; between 1 and {RECIPIENTS_MAX} are needed")]
    RecipientCount(usize),
    /// A recipient name is empty, too long, not `[A-Za-z0-9_.-]`, or used twice.
    #[error("notices: recipient name {0:?} is empty, too long, not [A-Za-z0-9_.-], or repeated")]
    BadName(String),
    /// A role is not `settlement` or `finance`, or none is given.
    #[error("notices: recipient {recipient}: role {role:?} is not settlement or finance")]
    BadRole {
        /// The recipient.
        recipient: String,
        /// The role as written (empty: none given).
        role: String,
    },
    /// `periods` is neither `"all"` nor a non-empty list of `YYYY-MM`.
    #[error(
        "notices: recipient {recipient}: periods {value:?} is not \"all\" or a list of YYYY-MM"
    )]
    BadPeriods {
        /// The recipient.
        recipient: String,
        /// The offending value.
        value: String,
    },
    /// The channel is not `webhook` or `sms`.
    #[error("notices: recipient {recipient}: unknown channel {channel:?} (webhook or sms)")]
    UnknownChannel {
        /// The recipient.
        recipient: String,
        /// The channel as written.
        channel: String,
    },
    /// The URL is not `http://host[:port][/path]`.
    #[error("notices: recipient {recipient}: url {url:?}: {reason}")]
    BadUrl {
        /// The recipient.
        recipient: String,
        /// The URL as written.
        url: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// A setting only an SMS recipient takes was given to a webhook, or an SMS one lacks
    /// phone numbers.
    #[error("notices: recipient {recipient}: {reason}")]
    ChannelSettings {
        /// The recipient.
        recipient: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// The SMS template is unusable.
    #[error("notices: recipient {recipient}: {error}")]
    Template {
        /// The recipient.
        recipient: String,
        /// What is wrong.
        error: TemplateError,
    },
    /// A number is zero or beyond its limit.
    #[error("notices: {name} = {value} is outside {min}..={max}")]
    OutOfRange {
        /// The setting.
        name: &'static str,
        /// Its value.
        value: u64,
        /// Smallest allowed.
        min: u64,
        /// Largest allowed.
        max: u64,
    },
}

fn range(
    name: &'static str,
    value: Option<u64>,
    default: u64,
    min: u64,
    max: u64,
) -> Result<u64, ConfigError> {
    let value = value.unwrap_or(default);
    if value < min || value > max {
        return Err(ConfigError::OutOfRange {
            name,
            value,
            min,
            max,
        });
    }
    Ok(value)
}

/// A count setting from 1 to `max`, `default` when absent.
fn bound(
    name: &'static str,
    value: Option<usize>,
    default: usize,
    max: usize,
) -> Result<usize, ConfigError> {
    let max_wide = widen(Some(max)).unwrap_or(u64::MAX);
    let default_wide = widen(Some(default)).unwrap_or(1);
    range(name, widen(value), default_wide, 1, max_wide).map(narrow)
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

fn widen(value: Option<usize>) -> Option<u64> {
    value.map(|value| u64::try_from(value).unwrap_or(u64::MAX))
}

fn narrow(value: u64) -> usize {
    usize::try_from(value).unwrap_or(usize::MAX)
}

impl NoticesConfig {
    /// Checks every setting; the first problem found is the error.
    pub fn validate(&self) -> Result<Settings, ConfigError> {
        let n = self.recipients.len();
        if n == 0 || n > RECIPIENTS_MAX {
            return Err(ConfigError::RecipientCount(n));
        }
        let mut names = BTreeSet::new();
        let mut addressees = Vec::with_capacity(n);
        for config in &self.recipients {
            if !names.insert(config.name.as_str()) {
                return Err(ConfigError::BadName(config.name.clone()));
            }
            addressees.push(config.validate()?);
        }
        let timeout = range(
            "attempt_timeout_ms",
            self.attempt_timeout_ms,
            10_000,
            millis(TIMEOUT_MIN),
            millis(ATTEMPT_TIMEOUT_MAX),
        )?;
        let in_flight = bound("in_flight_max", self.in_flight_max, 8, IN_FLIGHT_MAX)?;
        let per_recipient = bound(
            "in_flight_per_recipient_max",
            self.in_flight_per_recipient_max,
            2,
            IN_FLIGHT_PER_RECIPIENT_MAX,
        )?;
        let entries_max = netsettle_ledger::limits::OUTBOX_ENTRIES_MAX;
        let check = range(
            "reminder_check_secs",
            self.reminder_check_secs,
            300,
            1,
            3_600,
        )?;
        Ok(Settings {
            addressees,
            retry: self.retry()?,
            attempt_timeout: Duration::from_millis(timeout),
            in_flight_max: in_flight,
            in_flight_per_recipient_max: per_recipient,
            entries_max: bound("entries_max", self.entries_max, 10_000, entries_max)?,
            reminder_before: self.reminder_before()?,
            reminder_check: Duration::from_secs(check),
        })
    }

    fn retry(&self) -> Result<RetryPolicy, ConfigError> {
        let backoff_max = millis(BACKOFF_MAX);
        let initial = range(
            "backoff_initial_ms",
            self.backoff_initial_ms,
            1_000,
            1,
            backoff_max,
        )?;
        let attempts = range(
            "attempts_max",
            self.attempts_max.map(u64::from),
            12,
            1,
            1_000,
        )?;
        let age = range("age_max_secs", self.age_max_secs, 86_400, 1, 30 * 86_400)?;
        let longest = range(
            "backoff_max_ms",
            self.backoff_max_ms,
            600_000,
            initial,
            backoff_max,
        )?;
        Ok(RetryPolicy {
            attempts_max: u32::try_from(attempts).unwrap_or(1_000),
            age_max: Duration::from_secs(age),
            backoff_initial: Duration::from_millis(initial),
            backoff_max: Duration::from_millis(longest),
        })
    }

    /// The reminder thresholds, most distant first, each once.
    fn reminder_before(&self) -> Result<Vec<Duration>, ConfigError> {
        let hours = self.reminder_hours.clone().unwrap_or_else(|| vec![72, 24]);
        if hours.len() > REMINDER_THRESHOLDS_MAX {
            return Err(ConfigError::OutOfRange {
                name: "reminder_hours (count)",
                value: widen(Some(hours.len())).unwrap_or(u64::MAX),
                min: 0,
                max: widen(Some(REMINDER_THRESHOLDS_MAX)).unwrap_or(0),
            });
        }
        let mut before = Vec::with_capacity(hours.len());
        for hour in hours {
            let hour = range("reminder_hours", Some(hour), 0, 1, REMINDER_HOURS_MAX)?;
            before.push(Duration::from_secs(hour * 3_600));
        }
        before.sort_unstable_by(|a, b| b.cmp(a));
        before.dedup();
        Ok(before)
    }
}

impl RecipientConfig {
    fn validate(&self) -> Result<Addressee, ConfigError> {
        let name = &self.name;
        let name_ok = !name.is_empty()
            && name.len() <= 64
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
        if !name_ok {
            return Err(ConfigError::BadName(name.clone()));
        }
        let recipient = Recipient {
            name: name.clone(),
            roles: self.roles()?,
            periods: self.periods()?,
        };
        let endpoint = parse_url(&self.url).map_err(|reason| ConfigError::BadUrl {
            recipient: name.clone(),
            url: self.url.clone(),
            reason,
        })?;
        let channel = match self.channel.as_str() {
            "webhook" => self.webhook(endpoint)?,
            "sms" => self.sms(endpoint)?,
            other => {
                return Err(ConfigError::UnknownChannel {
                    recipient: name.clone(),
                    channel: other.to_owned(),
                });
            }
        };
        Ok(Addressee { recipient, channel })
    }

    fn roles(&self) -> Result<BTreeSet<Role>, ConfigError> {
        let bad = |role: &str| ConfigError::BadRole {
            recipient: self.name.clone(),
            role: role.to_owned(),
        };
        if self.roles.is_empty() {
            return Err(bad(""));
        }
        self.roles
            .iter()
            .map(|role| Role::from_name(role).ok_or_else(|| bad(role)))
            .collect()
    }

    fn periods(&self) -> Result<Periods, ConfigError> {
        let bad = |value: String| ConfigError::BadPeriods {
            recipient: self.name.clone(),
            value,
        };
        match &self.periods {
            PeriodsConfig::Word(word) if word == "all" => Ok(Periods::All),
            PeriodsConfig::Word(word) => Err(bad(word.clone())),
            PeriodsConfig::List(list) if list.is_empty() || list.len() > 120 => {
                Err(bad(format!("{} periods", list.len())))
            }
            PeriodsConfig::List(list) => {
                let mut periods = BTreeSet::new();
                for period in list {
                    if !is_period(period) {
                        return Err(bad(period.clone()));
                    }
                    periods.insert(period.clone());
                }
                Ok(Periods::Only(periods))
            }
        }
    }

    fn webhook(&self, endpoint: Endpoint) -> Result<Channel, ConfigError> {
        let sms_only = !self.phones.is_empty()
            || self.method.is_some()
            || !self.headers.is_empty()
            || self.encoding.is_some()
            || self.body.is_some();
        if sms_only {
            return Err(ConfigError::ChannelSettings {
                recipient: self.name.clone(),
                reason: "phones, method, headers, encoding and body are for sms recipients",
            });
        }
        Ok(Channel::Webhook(endpoint))
    }

    fn sms(&self, endpoint: Endpoint) -> Result<Channel, ConfigError> {
        let phones_ok = !self.phones.is_empty()
            && self.phones.len() <= 32
            && self.phones.iter().all(|phone| {
                !phone.is_empty()
                    && phone.len() <= 20
                    && phone.bytes().all(|b| b.is_ascii_digit() || b == b'+')
            });
        if !phones_ok {
            return Err(ConfigError::ChannelSettings {
                recipient: self.name.clone(),
                reason: "an sms recipient needs 1 to 32 phone numbers of digits and +",
            });
        }
        let template_error = |error| ConfigError::Template {
            recipient: self.name.clone(),
            error,
        };
        let encoding = match self.encoding.as_deref() {
            Some("form") => Encoding::Form,
            Some("json") => Encoding::Json,
            other => {
                return Err(template_error(TemplateError::BadEncoding(
                    other.unwrap_or("").to_owned(),
                )));
            }
        };
        let template = SmsTemplate::new(
            self.method.as_deref().unwrap_or("POST"),
            &self.headers,
            encoding,
            self.body.as_deref().unwrap_or(""),
            &endpoint.path,
        )
        .map_err(template_error)?;
        Ok(Channel::Sms {
            endpoint,
            phones: self.phones.clone(),
            template,
        })
    }
}

fn is_period(text: &str) -> bool {
    let bytes = text.as_bytes();
    let digits = |range: core::ops::Range<usize>| {
        bytes
            .get(range)
            .is_some_and(|part| part.iter().all(u8::is_ascii_digit))
    };
    let month = text.get(5..7).and_then(|m| m.parse::<u8>().ok());
    bytes.len() == 7
        && digits(0..4)
        && bytes.get(4) == Some(&b'-')
        && digits(5..7)
        && month.is_some_and(|m| (1..=12).contains(&m))
}

/// `http://host[:port][/path[?query]]`; anything else is refused with the reason.
pub fn parse_url(url: &str) -> Result<Endpoint, &'static str> {
    if url.len() > TEMPLATE_BYTES_MAX {
        return Err("too long");
    }
    let rest = if let Some(rest) = url.strip_prefix("http://") {
        rest
    } else if url.starts_with("https://") {
        return Err("https is not supported yet: use http:// inside the carrier's network");
    } else {
        return Err("not an http:// URL");
    };
    let (authority, path) = match rest.find('/') {
        Some(at) => rest.split_at(at),
        None => (rest, "/"),
    };
    if authority.is_empty() || authority.contains('@') {
        return Err("no host, or credentials in the URL");
    }
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) => (host, port.parse().map_err(|_| "the port is not a number")?),
        None => (authority, 80u16),
    };
    let host_ok = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-'));
    if !host_ok || port == 0 {
        return Err("bad host or port (a name or an IPv4 address, a port from 1)");
    }
    if path
        .bytes()
        .any(|b| b.is_ascii_control() || b == b' ' || b == b'#')
    {
        return Err("the path has spaces, control characters or a fragment");
    }
    Ok(Endpoint {
        host: host.to_owned(),
        port,
        authority: authority.to_owned(),
        path: path.to_owned(),
    })
}
