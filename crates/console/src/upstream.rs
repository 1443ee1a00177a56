//! The console's side of the consortium: one SDK gateway per carrier identity (settlement,
//! finance), connected on first use so the console starts (and serves its login page)
//! even while the carrier's nodes are still coming up. Also where a transaction's block
//! is asked of the carrier's own peers, remembered in a bounded cache.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;

use netsettle_client::{ClientError, Gateway, Signer};
use netsettle_protocol::TxId;
use netsettle_settlement::api::Digest;
use tokio::sync::OnceCell;

use crate::config::{ConsoleConfig, Role};
use crate::limits::BLOCK_CACHE_MAX;

/// The two identities' connections.
pub struct Upstream {
    profile: PathBuf,
    settlement_identity: PathBuf,
    finance_identity: PathBuf,
    settlement: OnceCell<(Gateway, Signer)>,
    finance: OnceCell<(Gateway, Signer)>,
    blocks: Mutex<BTreeMap<Digest, u64>>,
}

impl Upstream {
    /// Not connected yet.
    pub fn new(config: &ConsoleConfig) -> Upstream {
        Upstream {
            profile: config.profile.clone(),
            settlement_identity: config.settlement_identity.clone(),
            finance_identity: config.finance_identity.clone(),
            settlement: OnceCell::new(),
            finance: OnceCell::new(),
            blocks: Mutex::new(BTreeMap::new()),
        }
    }

    /// The gateway and signer of `role`'s carrier identity, connecting the first time.
    pub async fn connection(&self, role: Role) -> Result<&(Gateway, Signer), ClientError> {
        let (cell, identity) = match role {
            Role::Settlement => (&self.settlement, &self.settlement_identity),
            Role::Finance => (&self.finance, &self.finance_identity),
        };
        cell.get_or_try_init(|| Gateway::from_profile(&self.profile, identity))
            .await
    }

    /// The block holding committed transaction `tx_id`, asked of a peer of the caller's
    /// own carrier; `None` when none answers (the page then shows no block).
    pub async fn block_of(&self, gateway: &Gateway, msp_id: &str, tx_id: Digest) -> Option<u64> {
        if let Some(block) = self.blocks.lock().ok()?.get(&tx_id) {
            return Some(*block);
        }
        let id = TxId(netsettle_smcrypto::Hash(tx_id.0));
        for peer in gateway.peers().iter().filter(|p| p.msp_id == msp_id) {
            match gateway.wait_committed(peer, &id).await {
                Ok((block, _)) => {
                    let mut blocks = self.blocks.lock().ok()?;
                    if blocks.len() >= BLOCK_CACHE_MAX {
                        blocks.pop_first();
                    }
                    blocks.insert(tx_id, block);
                    return Some(block);
                }
                Err(error) => tracing::debug!(%error, "tx status from a peer"),
            }
        }
        None
    }
}
