//! Certificate expiry: the node's own certificates (signing, TLS) and, for a CA role, its
//! CA certificate. At start and then daily, each one that expires within
//! `[operations] cert_expiry_warn_days` gets a `warn!` naming it and the renewal path;
//! `/metrics` shows every one's days left (`netsettle_certificate_expiry_days`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, Result};
use netsettle_smcrypto::x509::Certificate;
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::super::NodeContext;

/// How often the expiry check repeats after the one at start.
const CHECK_INTERVAL: Duration = Duration::from_secs(24 * 60 * 60);
const SECS_PER_DAY: f64 = 86_400.0;

/// One certificate the node watches.
#[derive(Debug, Clone)]
pub struct WatchedCertificate {
    /// `signing`, `tls` or `ca`.
    pub kind: &'static str,
    /// Its subject, for the operator.
    pub subject: String,
    /// The file it was read from.
    pub path: PathBuf,
    /// Its `notAfter`, Unix seconds.
    pub not_after_unix: i64,
}

impl WatchedCertificate {
    fn read(kind: &'static str, path: &Path) -> Result<WatchedCertificate> {
        let certificate = Certificate::read_pem_file(path)
            .with_context(|| format!("reading the {kind} certificate {}", path.display()))?;
        Ok(WatchedCertificate {
            kind,
            subject: certificate.subject_dn(),
            path: path.to_path_buf(),
            not_after_unix: certificate.not_after_unix(),
        })
    }

    /// Days from `now_unix` to its expiry; negative once expired.
    pub fn days_left(&self, now_unix: i64) -> f64 {
        let secs = self.not_after_unix.saturating_sub(now_unix);
        // Certificate lifetimes are far below 2^52 seconds: exact as f64.
        let secs = i32::try_from(secs.clamp(i64::from(i32::MIN), i64::from(i32::MAX)))
            .map_or(0.0, f64::from);
        secs / SECS_PER_DAY
    }
}

/// The certificates of this node: its signing and TLS certificates, and the CA's own
/// certificate when it runs the CA role.
pub fn node_certificates(context: &NodeContext) -> Result<Vec<WatchedCertificate>> {
    let layout = netsettle_msp::IdentityLayout::new(&context.config.identity.dir);
    let mut watched = vec![WatchedCertificate::read("signing", &layout.sign_cert())?];
    if context.config.network.is_some() {
        watched.push(WatchedCertificate::read("tls", &layout.tls_cert())?);
    }
    if let Some(ca) = &context.config.ca {
        let path = netsettle_ca::CaLayout::new(&ca.dir).ca_cert();
        watched.push(WatchedCertificate::read("ca", &path)?);
    }
    Ok(watched)
}

/// Warns about each certificate expiring within `warn_days` of `now_unix`; how many.
pub fn warn_expiring(certificates: &[WatchedCertificate], warn_days: u32, now_unix: i64) -> usize {
    let mut n_warned = 0;
    for certificate in certificates {
        let days_left = certificate.days_left(now_unix);
        if days_left > f64::from(warn_days) {
            continue;
        }
        n_warned += 1;
        let renewal = if certificate.kind == "ca" {
            "issue a new CA certificate and put it in the channel with a config update"
        } else {
            "renew with `netsettle ca reenroll`, then restart the node (a consenter's new TLS certificate needs a config update first: docs/operations.md)"
        };
        tracing::warn!(
            certificate = certificate.kind,
            subject = %certificate.subject,
            path = %certificate.path.display(),
            days_left = format!("{days_left:.1}"),
            warn_days,
            renewal,
            "certificate expires soon"
        );
    }
    n_warned
}

/// Checks now, then daily, until `shutdown`.
pub fn start_checks(
    certificates: Vec<WatchedCertificate>,
    warn_days: u32,
    shutdown: &watch::Receiver<bool>,
    roles: &mut JoinSet<Result<()>>,
) {
    let mut stop = shutdown.clone();
    roles.spawn(async move {
        let mut interval = tokio::time::interval(CHECK_INTERVAL);
        loop {
            tokio::select! {
                _ = stop.wait_for(|stop| *stop) => return Ok(()),
                _ = interval.tick() => {
                    let now = crate::shared::now_unix()?;
                    warn_expiring(&certificates, warn_days, now);
                }
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn watched(not_after_unix: i64) -> WatchedCertificate {
        WatchedCertificate {
            kind: "tls",
            subject: "CN=peer0".to_owned(),
            path: PathBuf::from("/x/tls/cert.pem"),
            not_after_unix,
        }
    }

    #[test]
    fn days_left_counts_from_now_and_goes_negative() {
        assert!((watched(86_400 * 10).days_left(0) - 10.0).abs() < 1e-9);
        assert!((watched(0).days_left(86_400 * 2) + 2.0).abs() < 1e-9);
        assert_eq!(warn_expiring(&[watched(86_400 * 10)], 30, 0), 1);
        assert_eq!(warn_expiring(&[watched(86_400 * 31)], 30, 0), 0);
    }
}
