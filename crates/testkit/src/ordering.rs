//! Orderer services in one process: a [`Routes`] table of running [`OrdererHandle`]s that
//! doubles as the in-memory [`Transport`] between them (Raft messages and block fetches
//! handed straight to the other handle), and the [`ServiceConfig`] of consenter `id` of a
//! [`Consortium`]. What the orderer's own tests, the peer's end-to-end test and the
//! orderer bench share when they run Raft without sockets.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, RwLock};

use netsettle_orderer::{CoreConfig, FetchFuture, OrdererHandle, ServiceConfig, Signer, Transport};

use crate::channel::Consortium;

/// The running orderers by consenter id; cloning shares the table.
#[derive(Clone, Default)]
pub struct Routes(Arc<RwLock<HashMap<u64, OrdererHandle>>>);

impl Routes {
    /// The handle of consenter `id`, if it runs.
    pub fn handle(&self, id: u64) -> Option<OrdererHandle> {
        self.0.read().expect("routes lock").get(&id).cloned()
    }

    /// Consenter `id` runs as `handle` (replacing an earlier one after a restart).
    pub fn insert(&self, id: u64, handle: OrdererHandle) {
        self.0.write().expect("routes lock").insert(id, handle);
    }

    /// Consenter `id` is down: messages to it are lost, fetches from it fail.
    pub fn remove(&self, id: u64) -> Option<OrdererHandle> {
        self.0.write().expect("routes lock").remove(&id)
    }

    /// Every running handle, e.g. to shut them all down.
    pub fn all(&self) -> Vec<OrdererHandle> {
        self.0
            .read()
            .expect("routes lock")
            .values()
            .cloned()
            .collect()
    }

    /// A transport over this table for one orderer.
    pub fn transport(&self) -> Arc<dyn Transport> {
        Arc::new(self.clone())
    }
}

impl Transport for Routes {
    fn send_raft(&self, to: u64, message: Vec<u8>) {
        if let Some(handle) = self.handle(to) {
            handle.raft_message(&message);
        }
    }

    fn fetch_blocks(&self, from: u64, start: u64, end: u64) -> FetchFuture {
        let handle = self.handle(from);
        Box::pin(async move {
            let handle = handle.ok_or_else(|| format!("orderer {from} is down"))?;
            handle.blocks(start, end).map_err(|e| e.to_string())
        })
    }
}

/// The service config of consenter `id` of `consortium`, with its data under
/// `dir/orderer{id}` and a tick of `tick_ms`.
pub fn service_config(consortium: &Consortium, id: u64, dir: &Path, tick_ms: u64) -> ServiceConfig {
    let member = consortium.orderer_id(id).clone();
    let mut core = CoreConfig::new(id);
    // The fixtures' envelopes carry the fixed time `pki::NOW_MS`, not the clock's.
    core.envelope_time_skew_secs = u64::MAX;
    core.tick_ms = tick_ms;
    ServiceConfig {
        core,
        signer: Signer {
            identity: member.identity(),
            key: member.key,
        },
        genesis: consortium.genesis.clone(),
        data_dir: dir.join(format!("orderer{id}")),
    }
}
