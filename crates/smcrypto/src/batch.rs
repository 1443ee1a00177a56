//! Parallel SM2 verification for block validation: SM2 verify is a large share of the
//! chain's commit cost, and every committed transaction carries several signatures, so
//! peers verify on all cores.
//!
//! Bounded by construction: the caller hands over one slice of at most
//! [`BATCH_JOBS_MAX`] jobs; it is split into one contiguous chunk per worker thread
//! (scoped threads, at most [`BatchVerifier::threads`]), and each worker writes its results
//! straight into its part of the output. There is no queue, so nothing can grow without
//! bound, and results come back in job order.

use std::num::NonZeroUsize;

use crate::{CryptoError, PublicKey, Signature};

/// Most jobs one call accepts. A block of 10,000 transactions with three endorsements and
/// a creator signature each is 40,000 jobs; the cap leaves headroom and keeps the result
/// vector (one small `Result` per job) well under a megabyte.
pub const BATCH_JOBS_MAX: usize = 65_536;

/// Below this many jobs per thread, spawning threads costs more than it saves, so the
/// batch runs on the calling thread.
const JOBS_PER_THREAD_MIN: usize = 8;

/// One signature to check: `signature` over `message` by `public_key`, default signer ID.
#[derive(Debug, Clone, Copy)]
pub struct VerifyJob<'a> {
    /// The signer's key.
    pub public_key: &'a PublicKey,
    /// The signed bytes.
    pub message: &'a [u8],
    /// The DER signature.
    pub signature: &'a Signature,
}

impl VerifyJob<'_> {
    fn run(&self) -> Result<(), CryptoError> {
        self.public_key.verify(self.message, self.signature)
    }
}

/// A verifier that spreads each batch over a fixed number of threads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchVerifier {
    threads: NonZeroUsize,
}

impl BatchVerifier {
    /// Use exactly `threads` worker threads per batch.
    pub fn new(threads: NonZeroUsize) -> Self {
        BatchVerifier { threads }
    }

    /// Use one thread per available core (1 if that cannot be determined).
    pub fn with_available_parallelism() -> Self {
        Self::new(std::thread::available_parallelism().unwrap_or(NonZeroUsize::MIN))
    }

    /// The number of worker threads a large batch is split over.
    pub fn threads(&self) -> usize {
        self.threads.get()
    }

    /// Verify every job; `result[i]` is the outcome of `jobs[i]`. Fails as a whole only if
    /// the batch is larger than [`BATCH_JOBS_MAX`].
    pub fn verify(
        &self,
        jobs: &[VerifyJob<'_>],
    ) -> Result<Vec<Result<(), CryptoError>>, CryptoError> {
        if jobs.len() > BATCH_JOBS_MAX {
            return Err(CryptoError::BatchTooLarge {
                max: BATCH_JOBS_MAX,
                actual: jobs.len(),
            });
        }
        let mut results: Vec<Result<(), CryptoError>> = vec![Ok(()); jobs.len()];
        let chunk_len = self.chunk_len(jobs.len());
        if chunk_len >= jobs.len() {
            verify_chunk(jobs, &mut results);
            return Ok(results);
        }
        std::thread::scope(|scope| {
            for (job_chunk, result_chunk) in
                jobs.chunks(chunk_len).zip(results.chunks_mut(chunk_len))
            {
                scope.spawn(move || verify_chunk(job_chunk, result_chunk));
            }
        });
        Ok(results)
    }

    /// Verify every job and report whether all passed; stops at nothing, so the time taken
    /// does not depend on where a bad signature sits.
    pub fn verify_all(&self, jobs: &[VerifyJob<'_>]) -> Result<bool, CryptoError> {
        Ok(self.verify(jobs)?.iter().all(Result::is_ok))
    }

    /// Jobs per thread: an even split over the threads, but never so small that a thread
    /// does less than `JOBS_PER_THREAD_MIN` verifications.
    fn chunk_len(&self, n_jobs: usize) -> usize {
        n_jobs.div_ceil(self.threads.get()).max(JOBS_PER_THREAD_MIN)
    }
}

fn verify_chunk(jobs: &[VerifyJob<'_>], results: &mut [Result<(), CryptoError>]) {
    for (job, result) in jobs.iter().zip(results.iter_mut()) {
        *result = job.run();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PrivateKey;

    fn signed(n_jobs: usize) -> (Vec<PrivateKey>, Vec<Vec<u8>>, Vec<Signature>) {
        let keys: Vec<PrivateKey> = (0..4).map(|_| PrivateKey::generate()).collect();
        let messages: Vec<Vec<u8>> = (0..n_jobs)
            .map(|i| format!("tx {i}").into_bytes())
            .collect();
        let signatures = messages
            .iter()
            .enumerate()
            .map(|(i, message)| keys[i % keys.len()].sign(message))
            .collect();
        (keys, messages, signatures)
    }

    fn jobs<'a>(
        keys: &'a [PrivateKey],
        messages: &'a [Vec<u8>],
        signatures: &'a [Signature],
    ) -> Vec<VerifyJob<'a>> {
        messages
            .iter()
            .zip(signatures)
            .enumerate()
            .map(|(i, (message, signature))| VerifyJob {
                public_key: keys[i % keys.len()].public_key(),
                message,
                signature,
            })
            .collect()
    }

    #[test]
    fn results_come_back_in_job_order() {
        let (keys, mut messages, signatures) = signed(103);
        // Corrupt a few messages spread over different worker chunks.
        for idx in [0, 37, 51, 102] {
            messages[idx].push(b'!');
        }
        let jobs = jobs(&keys, &messages, &signatures);
        for threads in [1, 2, 3, 8] {
            let verifier = BatchVerifier::new(NonZeroUsize::new(threads).unwrap());
            let results = verifier.verify(&jobs).unwrap();
            assert_eq!(results.len(), jobs.len());
            for (idx, result) in results.iter().enumerate() {
                let expected = if [0, 37, 51, 102].contains(&idx) {
                    Err(CryptoError::BadSignature)
                } else {
                    Ok(())
                };
                assert_eq!(result, &expected, "job {idx} with {threads} threads");
            }
            assert_eq!(verifier.verify_all(&jobs), Ok(false));
        }
    }

    #[test]
    fn small_and_empty_batches() {
        let verifier = BatchVerifier::with_available_parallelism();
        assert!(verifier.threads() >= 1);
        assert_eq!(verifier.verify(&[]), Ok(Vec::new()));
        let (keys, messages, signatures) = signed(3);
        assert_eq!(
            verifier.verify_all(&jobs(&keys, &messages, &signatures)),
            Ok(true)
        );
    }

    #[test]
    fn oversized_batch_is_refused() {
        let key = PrivateKey::generate();
        let signature = key.sign(b"m");
        let job = VerifyJob {
            public_key: key.public_key(),
            message: b"m",
            signature: &signature,
        };
        let too_many = vec![job; BATCH_JOBS_MAX + 1];
        assert_eq!(
            BatchVerifier::with_available_parallelism().verify(&too_many),
            Err(CryptoError::BatchTooLarge {
                max: BATCH_JOBS_MAX,
                actual: BATCH_JOBS_MAX + 1
            })
        );
    }
}
