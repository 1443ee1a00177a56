//! The broadcast checks (limits, certificates, signature, policies: `validate::
//! verify_envelope`) of envelopes that arrive together, run as one blocking-pool task per
//! batch instead of one per envelope: under load, a thread hop (and its futex wake-ups)
//! per broadcast cost more than many checks.
//!
//! [`OrdererHandle::broadcast`](crate::OrdererHandle::broadcast) takes a check permit as
//! before (`ENVELOPE_CHECKS_CONCURRENT_MAX`; beyond it the broadcast is `Busy`) and queues
//! a [`CheckJob`]. One dispatcher task takes whatever is queued, up to
//! `CHECK_BATCH_ENVELOPES_MAX`, as one batch and runs it on the blocking pool; at most
//! `CHECK_BATCHES_CONCURRENT_MAX` batches (and no more than the machine's cores) run at
//! once, so while they run the next batch gathers. A lone broadcast is checked at once,
//! as before. Each job carries the channel state it was queued under and its permit,
//! released when its own check is done, so every limit and refusal is what it was when
//! each check ran in a task of its own.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use netsettle_msp::ChannelState;
use netsettle_protocol::Envelope;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};

use crate::error::BroadcastError;
use crate::limits::{
    CHECK_BATCH_ENVELOPES_MAX, CHECK_BATCHES_CONCURRENT_MAX, ENVELOPE_CHECKS_CONCURRENT_MAX,
};
use crate::stats::OrdererStats;
use crate::validate::{VerifiedEnvelope, verify_envelope_sized};

/// The answer to one check.
pub(crate) type CheckReply = oneshot::Sender<Result<VerifiedEnvelope, BroadcastError>>;

/// One envelope waiting for its checks.
pub(crate) struct CheckJob {
    /// The configuration in force when the broadcast arrived.
    pub(crate) state: Arc<ChannelState>,
    pub(crate) envelope: Envelope,
    /// The size of the bytes it was decoded from, when it came over the network.
    pub(crate) encoded_bytes: Option<usize>,
    /// The broadcast's check permit, released once its check is done.
    pub(crate) permit: OwnedSemaphorePermit,
    pub(crate) reply: CheckReply,
}

/// Starts the dispatcher on the current runtime; the queue it serves. It ends when every
/// sender is gone.
pub(crate) fn start(stats: Arc<OrdererStats>) -> mpsc::Sender<CheckJob> {
    // Every queued job holds a permit, so the queue never holds more than the permits.
    let (jobs, queue) = mpsc::channel(ENVELOPE_CHECKS_CONCURRENT_MAX);
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    let slots = Arc::new(Semaphore::new(cores.clamp(1, CHECK_BATCHES_CONCURRENT_MAX)));
    tokio::spawn(dispatch(queue, slots, stats));
    jobs
}

/// Takes the queued jobs in batches, each once a batch slot is free, and checks each
/// batch on the blocking pool.
async fn dispatch(
    mut queue: mpsc::Receiver<CheckJob>,
    slots: Arc<Semaphore>,
    stats: Arc<OrdererStats>,
) {
    while let Some(first) = queue.recv().await {
        // Waiting for a slot lets the next batch gather behind the running ones.
        let Ok(slot) = Arc::clone(&slots).acquire_owned().await else {
            return;
        };
        let mut batch = vec![first];
        while batch.len() < CHECK_BATCH_ENVELOPES_MAX {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        stats.envelope_check_batches.fetch_add(1, Ordering::Relaxed);
        stats.envelope_checks.fetch_add(
            u64::try_from(batch.len()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
        // Not awaited: the dispatcher gathers the next batch meanwhile. A panic in a
        // check drops the batch's replies; their callers get `Stopped`, as before.
        drop(tokio::task::spawn_blocking(move || {
            let _slot = slot;
            check_batch(batch);
        }));
    }
}

/// Checks every job of `batch` in order, answering each as soon as it is checked.
fn check_batch(batch: Vec<CheckJob>) {
    let now = crate::service::now_unix();
    for job in batch {
        let CheckJob {
            state,
            envelope,
            encoded_bytes,
            permit,
            reply,
        } = job;
        let verified = verify_envelope_sized(&state, envelope, encoded_bytes, now);
        drop(permit);
        // The caller may have gone away; nothing to do then.
        let _ = reply.send(verified);
    }
}

#[cfg(test)]
mod tests {
    use netsettle_protocol::BatchPolicy;
    use netsettle_testkit::Consortium;

    use super::*;

    /// Broadcasts queued while the dispatcher was busy are checked in one batch, each
    /// with its own answer: the valid ones verified, a bad one refused as before.
    #[tokio::test(flavor = "current_thread")]
    async fn envelopes_queued_together_are_checked_in_one_batch() {
        let consortium = Consortium::with_orderers(1, 0, BatchPolicy::default());
        let state = Arc::new(ChannelState::new(consortium.config.clone(), 0).unwrap());
        let stats = Arc::new(OrdererStats::default());
        let permits = Arc::new(Semaphore::new(ENVELOPE_CHECKS_CONCURRENT_MAX));
        let jobs = start(Arc::clone(&stats));
        // The current-thread runtime runs the dispatcher only once this test awaits, so
        // all ten are queued first.
        let mut answers = Vec::new();
        for seed in 0..10u64 {
            let mut envelope = consortium.ordering_envelope(&consortium.unicom_client, seed, 64);
            if seed == 7 {
                // Another envelope's signature.
                envelope.signature = consortium
                    .ordering_envelope(&consortium.unicom_client, 99, 64)
                    .signature;
            }
            let (reply, answer) = oneshot::channel();
            let job = CheckJob {
                state: Arc::clone(&state),
                envelope,
                encoded_bytes: None,
                permit: Arc::clone(&permits).try_acquire_owned().unwrap(),
                reply,
            };
            assert!(jobs.try_send(job).is_ok());
            answers.push(answer);
        }
        for (seed, answer) in answers.into_iter().enumerate() {
            let verified = answer.await.unwrap();
            if seed == 7 {
                assert!(
                    matches!(verified, Err(BroadcastError::BadSignature)),
                    "{verified:?}"
                );
            } else {
                assert!(verified.is_ok(), "{verified:?}");
            }
        }
        assert_eq!(OrdererStats::get(&stats.envelope_checks), 10);
        assert_eq!(OrdererStats::get(&stats.envelope_check_batches), 1);
        // Every permit is back.
        assert_eq!(permits.available_permits(), ENVELOPE_CHECKS_CONCURRENT_MAX);
    }

    /// An envelope decoded off the network is checked with the size of the bytes it came
    /// in, which is what encoding it again gives.
    #[test]
    fn the_size_of_the_received_bytes_stands_for_encoding_again() {
        let consortium = Consortium::with_orderers(1, 0, BatchPolicy::default());
        let state = ChannelState::new(consortium.config.clone(), 0).unwrap();
        let envelope = consortium.ordering_envelope(&consortium.unicom_client, 1, 300);
        let received = netsettle_protocol::encode(&envelope).unwrap().len();
        let now = crate::service::now_unix();
        let sized = verify_envelope_sized(&state, envelope.clone(), Some(received), now).unwrap();
        let encoded = crate::validate::verify_envelope(&state, envelope, now).unwrap();
        assert_eq!(sized.bytes(), u64::try_from(received).unwrap());
        assert_eq!(sized.bytes(), encoded.bytes());
    }
}
