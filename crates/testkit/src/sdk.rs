//! A carrier user through the Rust SDK, as process tests drive a month: the connection
//! (from the user's connection profile and identity directory), the signer and the key
//! store of sealed reports.

use std::path::Path;

use netsettle_client::{Gateway, KeyStore, Settlement, Signer};

/// One user of one carrier: connection, signer, key store.
pub struct SdkUser {
    /// The connection to the consortium.
    pub gateway: Gateway,
    /// The user's signing identity.
    pub signer: Signer,
    /// The keys of the user's sealed reports.
    pub keys: KeyStore,
}

impl SdkUser {
    /// Connects with `profile` and `identity` (paths relative to `dir`).
    pub async fn connect(dir: &Path, profile: &str, identity: &str) -> SdkUser {
        let (gateway, signer) = Gateway::from_profile(&dir.join(profile), &dir.join(identity))
            .await
            .expect("client connects");
        let keys = KeyStore::for_identity(&dir.join(identity)).expect("key store");
        SdkUser {
            gateway,
            signer,
            keys,
        }
    }

    /// The typed settlement calls, signed by this user.
    pub fn sdk(&self) -> Settlement<'_> {
        Settlement::new(&self.gateway, &self.signer)
    }
}
