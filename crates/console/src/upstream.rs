//! The console's side of the consortium: one SDK gateway per carrier identity (settlement,
//! finance), connected on first use so the console starts (and serves its login page)
//! even while the carrier's nodes are still coming up.

use std::path::PathBuf;

use netsettle_client::{ClientError, Gateway, Signer};
use tokio::sync::OnceCell;

use crate::config::{ConsoleConfig, Role};

/// The two identities' connections.
pub struct Upstream {
    profile: PathBuf,
    settlement_identity: PathBuf,
    finance_identity: PathBuf,
    settlement: OnceCell<(Gateway, Signer)>,
    finance: OnceCell<(Gateway, Signer)>,
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
}
