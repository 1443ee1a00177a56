//! The notifier: one task beside the peer that follows committed blocks from the outbox
//! cursor, derives and enqueues notices, and delivers them with retries.
//!
//! Its loop waits on a closed set of events ([`Event`]): the committed height moved, an
//! attempt ended, the next retry is due, shutdown. Each turn it derives up to
//! [`DERIVE_BLOCKS_PER_TURN_MAX`] blocks (cursor and notices in one outbox batch), then
//! starts the due attempts its bounds allow: at most `in_flight_max` at once, at most
//! `in_flight_per_recipient_max` to one recipient, each within the attempt timeout, so
//! a dead endpoint holds a few slots for a bounded time and the others go on. A 2xx is
//! marked sent at once; a failure is retried after a capped, jittered exponential
//! backoff, and marked failed after `attempts_max` attempts or `age_max`.
//!
//! The committer never waits for the notifier: it reads committed blocks from the
//! ledger behind it, at its own pace.

use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash as _, Hasher as _};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use netsettle_client::notice::Notice;
use netsettle_ledger::{Ledger, LedgerError, NewNotice, OutboxEntry, OutboxError, OutboxState};
use netsettle_smcrypto::PrivateKey;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::{debug, info, warn};

use super::config::{Addressee, RetryPolicy, Settings};
use super::derive::{Draft, block_contract_events, derive};
use super::limits::{DERIVE_BLOCKS_PER_TURN_MAX, SHUTDOWN_GRACE};
use super::recipient::address;
use super::remind::{open_periods, remind};
use super::send;

/// Why the notifier stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NotifierError {
    /// The ledger (blocks or outbox) failed.
    #[error("notifier: ledger: {0}")]
    Ledger(#[from] LedgerError),
    /// A block below the committed height is not on the ledger.
    #[error("notifier: block {0} is missing from the ledger")]
    MissingBlock(u64),
}

/// Who the notices are from and for.
#[derive(Debug, Clone)]
pub struct Origin {
    /// The node's carrier (MSP id): notices are for its staff.
    pub carrier: String,
    /// The channel the blocks are on.
    pub channel: String,
}

/// A pending entry the loop tracks.
struct Pending {
    entry: OutboxEntry,
    notice: Notice,
    in_flight: bool,
}

/// What the loop woke up for.
enum Event {
    Shutdown,
    Height,
    HeightsClosed,
    AttemptEnded(u64, Result<(), String>),
    Due,
    Remind,
}

/// The notifier over `ledger`'s outbox.
pub struct Notifier {
    ledger: Arc<Ledger>,
    settings: Arc<Settings>,
    key: Arc<PrivateKey>,
    origin: Origin,
    pending: BTreeMap<u64, Pending>,
    in_flight: HashMap<String, usize>,
    attempts: JoinSet<(u64, Result<(), String>)>,
}

impl Notifier {
    /// A notifier for `origin`'s staff, signing webhooks with `key`.
    pub fn new(ledger: Arc<Ledger>, settings: Settings, key: PrivateKey, origin: Origin) -> Self {
        Notifier {
            ledger,
            settings: Arc::new(settings),
            key: Arc::new(key),
            origin,
            pending: BTreeMap::new(),
            in_flight: HashMap::new(),
            attempts: JoinSet::new(),
        }
    }

    /// Runs until `shutdown` turns true (or its sender is gone): follows `heights` (the
    /// committed height), derives, enqueues and delivers.
    pub async fn run(
        mut self,
        mut heights: watch::Receiver<u64>,
        mut shutdown: watch::Receiver<bool>,
    ) -> Result<(), NotifierError> {
        self.load_pending()?;
        let mut heights_open = true;
        let mut reminders = tokio::time::interval(self.settings.reminder_check);
        reminders.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        info!(
            pending = self.pending.len(),
            cursor = self.ledger.outbox().cursor()?.unwrap_or(0),
            "notifier started"
        );
        loop {
            if *shutdown.borrow() {
                break;
            }
            let height = *heights.borrow_and_update();
            let more = self.derive_some(height)?;
            let due_in = self.start_due(now_ms())?;
            let event = tokio::select! {
                changed = shutdown.changed() => match changed {
                    Ok(()) => continue,
                    Err(_) => Event::Shutdown,
                },
                changed = heights.changed(), if heights_open && !more => match changed {
                    Ok(()) => Event::Height,
                    Err(_) => Event::HeightsClosed,
                },
                Some(ended) = self.attempts.join_next(), if !self.attempts.is_empty() => match ended {
                    Ok((seq, outcome)) => Event::AttemptEnded(seq, outcome),
                    Err(error) => {
                        warn!(%error, "a notice attempt task failed");
                        continue;
                    }
                },
                () = sleep_for(due_in), if due_in.is_some() => Event::Due,
                _ = reminders.tick() => Event::Remind,
                () = std::future::ready(()), if more => Event::Height,
            };
            match event {
                Event::Shutdown => break,
                Event::Height | Event::Due => {}
                Event::HeightsClosed => heights_open = false,
                Event::AttemptEnded(seq, outcome) => self.finish(seq, outcome)?,
                Event::Remind => self.remind()?,
            }
        }
        self.drain().await
    }

    /// Gives in-flight attempts [`SHUTDOWN_GRACE`] to end and records their outcomes;
    /// the rest are dropped and stay pending.
    async fn drain(mut self) -> Result<(), NotifierError> {
        let deadline = tokio::time::Instant::now() + SHUTDOWN_GRACE;
        while let Ok(Some(ended)) =
            tokio::time::timeout_at(deadline, self.attempts.join_next()).await
        {
            if let Ok((seq, outcome)) = ended {
                self.finish(seq, outcome)?;
            }
        }
        self.attempts.abort_all();
        info!(pending = self.pending.len(), "notifier stopped");
        Ok(())
    }

    /// Reads every pending entry into memory (at most the outbox bound).
    fn load_pending(&mut self) -> Result<(), NotifierError> {
        let page = netsettle_ledger::limits::PAGE_ENTRIES_MAX;
        let mut from = 0u64;
        loop {
            let entries = self.ledger.outbox().list(None, from, page)?;
            let Some(last) = entries.last().map(|entry| entry.seq) else {
                return Ok(());
            };
            for entry in entries {
                if entry.state == OutboxState::Pending {
                    self.track(entry)?;
                }
            }
            from = last.saturating_add(1);
        }
    }

    /// Starts tracking a pending entry; one whose payload is not a notice is failed.
    fn track(&mut self, entry: OutboxEntry) -> Result<(), NotifierError> {
        match serde_json::from_slice::<Notice>(&entry.payload) {
            Ok(notice) => {
                let seq = entry.seq;
                let pending = Pending {
                    entry,
                    notice,
                    in_flight: false,
                };
                self.pending.insert(seq, pending);
            }
            Err(error) => {
                let reason = format!("stored payload is not a notice: {error}");
                warn!(seq = entry.seq, %reason, "notice failed");
                self.ledger
                    .outbox()
                    .mark_failed(entry.seq, now_ms(), &reason)?;
            }
        }
        Ok(())
    }

    /// Derives and enqueues the notices of the blocks from the cursor up to `height`, at
    /// most [`DERIVE_BLOCKS_PER_TURN_MAX`] of them; whether blocks remain.
    fn derive_some(&mut self, height: u64) -> Result<bool, NotifierError> {
        let before = self.ledger.outbox().cursor()?;
        let cursor = before.unwrap_or(0);
        if cursor >= height {
            return Ok(false);
        }
        let end = height.min(cursor.saturating_add(DERIVE_BLOCKS_PER_TURN_MAX));
        let created_ms = now_ms();
        // A block older than `age_max` gives no notice: it would be given up on unsent
        // anyway, and a node that turns notices on later does not page staff with history.
        let age_max_ms = i64::try_from(self.settings.retry.age_max.as_millis()).unwrap_or(i64::MAX);
        let oldest_ms = created_ms.saturating_sub(age_max_ms);
        let mut drafts = Vec::new();
        for number in cursor..end {
            let block = self
                .ledger
                .block(number)?
                .ok_or(NotifierError::MissingBlock(number))?;
            let derived = derive(&self.origin.carrier, &block_contract_events(&block));
            drafts.extend(derived.into_iter().filter(|draft| draft.at_ms >= oldest_ms));
        }
        let notices = self.address_all(&drafts, created_ms);
        debug!(
            from = cursor,
            to = end,
            notices = notices.len(),
            "notices derived"
        );
        self.enqueue(Some(end), &notices)?;
        if self.ledger.outbox().cursor()? == before {
            // The outbox was full: nothing moved; look again after deliveries.
            return Ok(false);
        }
        Ok(end < height)
    }

    /// Enqueues the deadline reminders due now; the outbox drops those already sent.
    fn remind(&mut self) -> Result<(), NotifierError> {
        let now = now_ms();
        let now_unsigned = u64::try_from(now).unwrap_or(0);
        let mut drafts = Vec::new();
        for open in open_periods(&self.ledger, now_unsigned)? {
            drafts.extend(remind(
                &self.origin.carrier,
                &open,
                now_unsigned,
                &self.settings.reminder_before,
            ));
        }
        let notices = self.address_all(&drafts, now);
        if notices.is_empty() {
            return Ok(());
        }
        self.enqueue(None, &notices)
    }

    /// `drafts` addressed to every recipient that wants each, made at `created_ms`.
    fn address_all(&self, drafts: &[Draft], created_ms: i64) -> Vec<NewNotice> {
        let mut notices = Vec::new();
        for draft in drafts {
            for addressee in &self.settings.addressees {
                if !addressee.recipient.wants(draft) {
                    continue;
                }
                let notice = address(
                    draft,
                    &addressee.recipient,
                    &self.origin.channel,
                    &self.origin.carrier,
                );
                notices.push(NewNotice {
                    id: notice.id.clone(),
                    payload: serde_json::to_vec(&notice).unwrap_or_default(),
                    created_ms,
                });
            }
        }
        notices
    }

    /// Enqueues `notices` (moving the cursor to `cursor` if given) and tracks the new
    /// ones; a full outbox only waits.
    fn enqueue(&mut self, cursor: Option<u64>, notices: &[NewNotice]) -> Result<(), NotifierError> {
        let outbox = self.ledger.outbox();
        let enqueued = match outbox.enqueue(cursor, notices, self.settings.entries_max) {
            Ok(enqueued) => enqueued,
            Err(LedgerError::Outbox(OutboxError::Full { entries_max })) => {
                // Wait for deliveries to finish some entries; the cursor stays.
                warn!(
                    entries_max,
                    "notice outbox full; deriving waits for deliveries"
                );
                return Ok(());
            }
            Err(error) => return Err(error.into()),
        };
        for entry in enqueued.added {
            info!(id = %entry.id, "notice enqueued");
            self.track(entry)?;
        }
        Ok(())
    }

    /// Starts every due attempt the bounds allow; how long until the next one is due,
    /// if one waits only for time.
    fn start_due(&mut self, now: i64) -> Result<Option<Duration>, NotifierError> {
        let mut next_due: Option<i64> = None;
        let mut unknown = Vec::new();
        let mut starts = Vec::new();
        let mut total = self.attempts.len();
        for (seq, pending) in &self.pending {
            if total >= self.settings.in_flight_max {
                break;
            }
            if pending.in_flight {
                continue;
            }
            let name = &pending.notice.recipient;
            let busy = self.in_flight.get(name).copied().unwrap_or(0);
            if busy >= self.settings.in_flight_per_recipient_max {
                continue;
            }
            if pending.entry.next_attempt_ms > now {
                let due = pending.entry.next_attempt_ms;
                next_due = Some(next_due.map_or(due, |next| next.min(due)));
                continue;
            }
            let Some(addressee) = self.addressee(name) else {
                unknown.push(*seq);
                continue;
            };
            let request = send::build(
                &addressee.channel,
                &pending.notice,
                &pending.entry.payload,
                &self.key,
                now,
            );
            starts.push((*seq, name.clone(), request));
            self.in_flight.insert(name.clone(), busy.saturating_add(1));
            total = total.saturating_add(1);
        }
        let timeout = self.settings.attempt_timeout;
        for (seq, name, request) in starts {
            if let Some(pending) = self.pending.get_mut(&seq) {
                pending.in_flight = true;
            }
            debug!(seq, recipient = %name, "notice attempt");
            self.attempts
                .spawn(async move { (seq, send::attempt(request, timeout).await) });
        }
        for seq in unknown {
            self.pending.remove(&seq);
            warn!(seq, "notice failed: its recipient is no longer configured");
            self.ledger
                .outbox()
                .mark_failed(seq, now, "recipient no longer configured")?;
        }
        Ok(next_due
            .map(|due| Duration::from_millis(u64::try_from(due.saturating_sub(now)).unwrap_or(0))))
    }

    fn addressee(&self, name: &str) -> Option<&Addressee> {
        self.settings
            .addressees
            .iter()
            .find(|addressee| addressee.recipient.name == name)
    }

    /// Records an attempt's outcome: sent, retry later, or failed for good.
    fn finish(&mut self, seq: u64, outcome: Result<(), String>) -> Result<(), NotifierError> {
        let Some(mut pending) = self.pending.remove(&seq) else {
            return Ok(());
        };
        let name = pending.notice.recipient.clone();
        if let Some(busy) = self.in_flight.get_mut(&name) {
            *busy = busy.saturating_sub(1);
        }
        let now = now_ms();
        let outbox = self.ledger.outbox();
        let id = pending.entry.id.clone();
        let error = match outcome {
            Ok(()) => {
                outbox.mark_sent(seq, now)?;
                info!(%id, recipient = %name, "notice sent");
                return Ok(());
            }
            Err(error) => error,
        };
        let attempts = pending.entry.attempts.saturating_add(1);
        let age_ms = now.saturating_sub(pending.entry.created_ms);
        let retry = &self.settings.retry;
        let too_old = u128::try_from(age_ms).unwrap_or(0) >= retry.age_max.as_millis();
        if attempts >= retry.attempts_max || too_old {
            outbox.mark_failed(seq, now, &error)?;
            warn!(%id, recipient = %name, attempts, %error, "notice failed for good");
            return Ok(());
        }
        let delay = backoff(retry, attempts, &id);
        let next = now.saturating_add(i64::try_from(delay.as_millis()).unwrap_or(i64::MAX));
        pending.entry = outbox.mark_retry(seq, next, &error)?;
        pending.in_flight = false;
        info!(%id, recipient = %name, attempts, %error, retry_in_ms = delay.as_millis(), "notice attempt failed");
        self.pending.insert(seq, pending);
        Ok(())
    }
}

/// The delay before attempt `attempts + 1`: the initial delay doubled per attempt made,
/// capped, then "equal jitter" (half fixed, half spread by the id and attempt, so
/// notices failing together do not retry together, yet the same inputs give the same
/// delay).
pub fn backoff(retry: &RetryPolicy, attempts: u32, id: &str) -> Duration {
    let doublings = attempts.saturating_sub(1).min(30);
    let initial = retry.backoff_initial.as_millis();
    let capped = initial
        .saturating_mul(1u128 << doublings)
        .min(retry.backoff_max.as_millis());
    let half = capped / 2;
    let mut hasher = std::hash::DefaultHasher::new();
    id.hash(&mut hasher);
    attempts.hash(&mut hasher);
    let spread = u128::from(hasher.finish()) % half.saturating_add(1);
    Duration::from_millis(u64::try_from(capped - half + spread).unwrap_or(u64::MAX))
}

async fn sleep_for(duration: Option<Duration>) {
    tokio::time::sleep(duration.unwrap_or_default()).await;
}

/// The wall clock, Unix ms: retry times are stored, and must mean the same after a
/// restart.
fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
