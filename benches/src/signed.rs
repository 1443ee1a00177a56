//! A batch of SM2-signed messages (eight signers, one message each) and its verify jobs:
//! the workload of block validation, used to measure this machine's verify rate.

use netsettle_smcrypto::{PrivateKey, Signature, VerifyJob};

/// Messages of about a transaction's size, each signed by one of eight keys.
pub struct SignedBatch {
    keys: Vec<PrivateKey>,
    messages: Vec<Vec<u8>>,
    signatures: Vec<Signature>,
}

impl SignedBatch {
    /// `n_messages` messages of about `message_bytes` bytes.
    pub fn new(n_messages: usize, message_bytes: usize) -> SignedBatch {
        let keys: Vec<PrivateKey> = (0..8).map(|_| PrivateKey::generate()).collect();
        let messages: Vec<Vec<u8>> = (0..n_messages)
            .map(|i| format!("tx {i:08}").repeat(message_bytes / 11).into_bytes())
            .collect();
        let signatures = messages
            .iter()
            .zip(keys.iter().cycle())
            .map(|(message, key)| key.sign(message))
            .collect();
        SignedBatch {
            keys,
            messages,
            signatures,
        }
    }

    /// One verify job per message.
    pub fn jobs(&self) -> Vec<VerifyJob<'_>> {
        self.messages
            .iter()
            .zip(&self.signatures)
            .zip(self.keys.iter().cycle())
            .map(|((message, signature), key)| VerifyJob {
                public_key: key.public_key(),
                message,
                signature,
            })
            .collect()
    }
}
