//! Offline bootstrap of a whole organisation from a spec file, like Fabric's `cryptogen`:
//! the CA, then every orderer, peer, admin and client with keys generated here, written in
//! the identity-directory layout, and all of them recorded in the CA's registry so the
//! same CA can later revoke them or serve re-enrollments.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use netsettle_smcrypto::x509::Role;

use crate::CaError;
use crate::authority::{Authority, InitParams, Registration};
use crate::files::{self, PUBLIC_FILE_MODE};
use netsettle_msp::IdentityLayout;

use crate::layout::{IdentityFiles, write_identity};
use crate::limits::{IDENTITIES_MAX, SPEC_FILE_BYTES_MAX};

/// A bootstrap spec (`configs/unicom.toml`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// The organisation.
    pub org: OrgSpec,
    /// The CA's enrollment server.
    #[serde(default)]
    pub ca: CaSpec,
    /// Orderer nodes.
    #[serde(default)]
    pub orderers: Vec<NodeSpec>,
    /// Peer nodes.
    #[serde(default)]
    pub peers: Vec<NodeSpec>,
    /// Admin users.
    #[serde(default)]
    pub admins: Vec<UserSpec>,
    /// Client users (settlement systems, finance).
    #[serde(default)]
    pub clients: Vec<UserSpec>,
}

/// The organisation.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrgSpec {
    /// Short name, e.g. `unicom`.
    pub name: String,
    /// MSP id, e.g. `UnicomMSP`.
    pub msp_id: String,
    /// DNS domain; nodes are `NAME.DOMAIN`, users `NAME@DOMAIN`, the CA `ca.DOMAIN`.
    pub domain: String,
    /// Root validity, days.
    #[serde(default = "default_ca_days")]
    pub ca_days: u32,
    /// Validity of issued certificates, days.
    #[serde(default = "default_cert_days")]
    pub cert_days: u32,
}

/// The CA's enrollment server.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaSpec {
    /// Extra SANs of its TLS certificate (`ca.DOMAIN` is always included).
    #[serde(default)]
    pub hosts: Vec<String>,
}

/// An orderer or peer.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeSpec {
    /// Short name, e.g. `peer0`.
    pub name: String,
    /// Extra SANs (IP addresses, DNS names); `NAME.DOMAIN` is always included.
    #[serde(default)]
    pub hosts: Vec<String>,
    /// Attributes written as `key=value` OUs.
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
}

/// An admin or client user.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserSpec {
    /// Short name, e.g. `settlement`.
    pub name: String,
    /// Attributes written as `key=value` OUs.
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
}

fn default_ca_days() -> u32 {
    3650
}

fn default_cert_days() -> u32 {
    365
}

impl Spec {
    /// Read and parse a spec file.
    pub fn load(path: &Path) -> Result<Spec, CaError> {
        let text = files::read_text_limited(path, SPEC_FILE_BYTES_MAX)?;
        let spec: Spec = toml::from_str(&text).map_err(|err| CaError::Spec {
            path: path.to_owned(),
            detail: err.to_string(),
        })?;
        let count = spec
            .orderers
            .len()
            .saturating_add(spec.peers.len())
            .saturating_add(spec.admins.len())
            .saturating_add(spec.clients.len());
        if count > IDENTITIES_MAX {
            return Err(CaError::Spec {
                path: path.to_owned(),
                detail: format!("more than {IDENTITIES_MAX} identities"),
            });
        }
        Ok(spec)
    }
}

/// One identity the bootstrap wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootstrappedIdentity {
    /// Its name (CN).
    pub name: String,
    /// Its role.
    pub role: Role,
    /// Its identity directory.
    pub dir: PathBuf,
}

/// Create the organisation under `out` (see the crate docs for the layout).
pub fn bootstrap(
    spec: &Spec,
    out: &Path,
    now_unix: i64,
) -> Result<Vec<BootstrappedIdentity>, CaError> {
    let domain = &spec.org.domain;
    let ca_name = format!("ca.{domain}");
    let mut server_hosts = vec![ca_name.clone()];
    server_hosts.extend(spec.ca.hosts.iter().cloned());
    let params = InitParams {
        common_name: ca_name,
        msp_id: spec.org.msp_id.clone(),
        ca_days: spec.org.ca_days,
        cert_days: spec.org.cert_days,
        server_hosts,
    };
    let mut authority = Authority::init(&out.join("ca"), &params, now_unix)?;
    write_public_msp(&authority, &out.join("msp"))?;
    let mut planned = Vec::new();
    for (nodes, role, folder) in [
        (&spec.orderers, Role::Orderer, "orderers"),
        (&spec.peers, Role::Peer, "peers"),
    ] {
        for node in nodes {
            let name = format!("{}.{domain}", node.name);
            let mut hosts = vec![name.clone()];
            hosts.extend(node.hosts.iter().cloned());
            planned.push((name, role, folder, hosts, node.attributes.clone()));
        }
    }
    for (users, role) in [(&spec.admins, Role::Admin), (&spec.clients, Role::Client)] {
        for user in users {
            let name = format!("{}@{domain}", user.name);
            planned.push((name, role, "users", Vec::new(), user.attributes.clone()));
        }
    }
    let mut written = Vec::new();
    for (name, role, folder, hosts, attributes) in planned {
        let registration = Registration {
            name: name.clone(),
            role,
            hosts,
            attributes,
            secret: None,
        };
        let (enrollment, sign_key, tls_key) = authority.issue_local(registration, now_unix)?;
        let dir = out.join(folder).join(&name);
        write_identity(
            &IdentityLayout::new(&dir),
            &IdentityFiles {
                ca_cert: authority.certificate(),
                sign_cert: &enrollment.sign_cert,
                sign_key: &sign_key,
                tls_cert: &enrollment.tls_cert,
                tls_key: &tls_key,
            },
        )?;
        written.push(BootstrappedIdentity { name, role, dir });
    }
    Ok(written)
}

/// The organisation's public MSP directory: what the other carrier needs to verify us.
fn write_public_msp(authority: &Authority, dir: &Path) -> Result<(), CaError> {
    let ca_pem = authority.certificate().to_pem();
    for folder in ["cacerts", "tlscacerts"] {
        files::create_dir(&dir.join(folder))?;
        files::write_atomic(
            &dir.join(folder).join("ca.pem"),
            ca_pem.as_bytes(),
            PUBLIC_FILE_MODE,
        )?;
    }
    files::create_dir(&dir.join("crls"))?;
    let crl =
        std::fs::read(authority.layout().crl()).map_err(CaError::io(authority.layout().crl()))?;
    files::write_atomic(&dir.join("crls").join("crl.pem"), &crl, PUBLIC_FILE_MODE)
}

/// `ca init`: a CA in `dir` plus its bootstrap admin (role admin, registered and enrolled
/// locally) in `dir/admin/`, whose TLS certificate can then register everyone else.
pub fn init_with_admin(
    dir: &Path,
    params: &InitParams,
    admin_name: &str,
    now_unix: i64,
) -> Result<(Authority, PathBuf), CaError> {
    let mut authority = Authority::init(dir, params, now_unix)?;
    let registration = Registration {
        name: admin_name.to_owned(),
        role: Role::Admin,
        hosts: Vec::new(),
        attributes: BTreeMap::new(),
        secret: None,
    };
    let (enrollment, sign_key, tls_key) = authority.issue_local(registration, now_unix)?;
    let admin_dir = authority.layout().bootstrap_admin();
    write_identity(
        &IdentityLayout::new(&admin_dir),
        &IdentityFiles {
            ca_cert: authority.certificate(),
            sign_cert: &enrollment.sign_cert,
            sign_key: &sign_key,
            tls_cert: &enrollment.tls_cert,
            tls_key: &tls_key,
        },
    )?;
    Ok((authority, admin_dir))
}
