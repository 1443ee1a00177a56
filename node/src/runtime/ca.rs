//! The CA role's wiring: the enrollment service (`netsettle_ca::serve`) over SM-TLS on
//! its own listener, as one of the node's roles.

use std::net::SocketAddr;

use anyhow::{Context as _, Result};
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::config::CaRoleConfig;

/// Binds the CA's listener and spawns the enrollment service into `roles`; it stops when
/// `shutdown` turns true. The address it listens on.
pub(super) async fn start(
    config: &CaRoleConfig,
    shutdown: watch::Receiver<bool>,
    roles: &mut JoinSet<Result<()>>,
) -> Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("CA role: binding {}", config.listen))?;
    let address = listener.local_addr().context("reading the CA address")?;
    let serve_config = netsettle_ca::ServeConfig {
        dir: config.dir.clone(),
    };
    let mut stop = shutdown;
    roles.spawn(async move {
        netsettle_ca::serve(serve_config, listener, async move {
            let _ = stop.wait_for(|stop| *stop).await;
        })
        .await
        .context("CA role")
    });
    Ok(address)
}
