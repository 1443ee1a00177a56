//! A carrier's connection profile and a user's identity directory: what a client needs
//! to reach the consortium. `netsettle layout render` writes one profile per carrier
//! (`DIR/clients/ORG.toml`); `netsettle ca bootstrap`/`enroll` write identity directories
//! (`msp/` for signing, `tls/` for the connection).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use netsettle_msp::IdentityLayout;
use netsettle_net::{ChannelTrust, NetConfig, NodeId};
use netsettle_protocol::{Block, ChannelConfig, Identity, Role, Wire as _, decode};
use netsettle_smcrypto::x509::Certificate;
use netsettle_smtls::TlsIdentity;

use crate::limits::PROFILE_BYTES_MAX;
use crate::{ClientError, Endpoint, GatewayConfig, Signer};

/// A carrier's connection profile: its channel, the genesis block that anchors trust, the
/// address its clients connect from, and the peers and orderers to use (own carrier's
/// first). The one type for both sides: `netsettle layout render` writes it
/// ([`ConnectionProfile::to_toml`]), every client reads it ([`ConnectionProfile::load`]).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectionProfile {
    /// The carrier's MSP id: the organisation its users sign as.
    pub msp_id: String,
    /// The channel.
    pub channel: String,
    /// The genesis block, relative to the profile's directory.
    pub genesis: PathBuf,
    /// Where the client's network endpoint listens (port 0: any).
    pub listen: SocketAddr,
    /// Peers, own carrier's first.
    pub peers: Vec<ProfileNode>,
    /// Orderers, own carrier's first.
    pub orderers: Vec<ProfileNode>,
    /// The directory the profile was read from.
    #[serde(skip)]
    base: PathBuf,
}

/// A node in a connection profile.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileNode {
    /// The node's organisation.
    pub msp_id: String,
    /// Its network id (from its TLS certificate).
    pub node_id: String,
    /// Where this carrier reaches it (inside the cloud, or the other carrier's DMZ).
    pub address: SocketAddr,
}

impl ConnectionProfile {
    /// A profile to write; `genesis` is relative to the directory it will be written to.
    pub fn new(
        msp_id: String,
        channel: String,
        genesis: PathBuf,
        listen: SocketAddr,
        peers: Vec<ProfileNode>,
        orderers: Vec<ProfileNode>,
    ) -> ConnectionProfile {
        ConnectionProfile {
            msp_id,
            channel,
            genesis,
            listen,
            peers,
            orderers,
            base: PathBuf::new(),
        }
    }

    /// The profile as TOML, as [`ConnectionProfile::load`] reads it.
    pub fn to_toml(&self) -> Result<String, ClientError> {
        toml::to_string(self).map_err(|error| ClientError::Profile {
            reason: error.to_string(),
        })
    }

    /// Reads and parses the profile at `path`.
    pub fn load(path: &Path) -> Result<ConnectionProfile, ClientError> {
        let bytes = read_bounded(path, PROFILE_BYTES_MAX)?;
        let text = String::from_utf8(bytes).map_err(|_| file_error(path, "not UTF-8"))?;
        let mut profile: ConnectionProfile =
            toml::from_str(&text).map_err(|error| file_error(path, error))?;
        profile.base = path.parent().unwrap_or(Path::new(".")).to_path_buf();
        Ok(profile)
    }

    /// The channel configuration of the genesis block: the roots the client trusts.
    pub fn genesis_config(&self) -> Result<ChannelConfig, ClientError> {
        let path = self.base.join(&self.genesis);
        let bytes = read_bounded(&path, Block::BYTES_MAX)?;
        let block: Block = decode(&bytes).map_err(|error| file_error(&path, error))?;
        block
            .config()
            .cloned()
            .ok_or_else(|| file_error(&path, "not a config block"))
    }

    /// The signer of the identity directory `dir` (`msp/keystore/key.pem` and
    /// `msp/signcerts/cert.pem`), as a member of this profile's organisation.
    pub fn signer(&self, dir: &Path) -> Result<Signer, ClientError> {
        let layout = IdentityLayout::new(dir);
        let (cert, key) = Certificate::read_with_key(&layout.sign_cert(), &layout.sign_key())
            .map_err(|error| file_error(layout.root(), error))?;
        Ok(Signer::new(
            key,
            Identity {
                msp_id: self.msp_id.clone(),
                cert_der: cert.der().to_vec(),
            },
        ))
    }

    /// The gateway's configuration for the user whose identity directory is `dir`: its
    /// TLS identity, trust in the genesis block's peers and orderers, the profile's nodes.
    pub fn gateway_config(&self, dir: &Path) -> Result<GatewayConfig, ClientError> {
        let layout = IdentityLayout::new(dir);
        let tls = TlsIdentity::from_pem_files(&layout.tls_cert(), &layout.tls_key())
            .map_err(|error| file_error(&layout.tls_cert(), error))?;
        let trust = ChannelTrust::new(&self.genesis_config()?, &[Role::Peer, Role::Orderer])?;
        let mut net = NetConfig::new(tls, trust, self.listen);
        let mut endpoint = |node: &ProfileNode| -> Result<Endpoint, ClientError> {
            let node_id: NodeId = node.node_id.parse().map_err(|_| ClientError::Profile {
                reason: format!("bad node id {:?}", node.node_id),
            })?;
            net.known_peers.push((node_id, node.address));
            Ok(Endpoint {
                msp_id: node.msp_id.clone(),
                node_id,
            })
        };
        let peers = self
            .peers
            .iter()
            .map(&mut endpoint)
            .collect::<Result<Vec<_>, _>>()?;
        let orderers = self
            .orderers
            .iter()
            .map(&mut endpoint)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(GatewayConfig {
            net,
            channel: self.channel.clone(),
            peers,
            orderers,
        })
    }
}

/// Reads a file of at most `bytes_max` bytes; larger ones are refused.
fn read_bounded(path: &Path, bytes_max: usize) -> Result<Vec<u8>, ClientError> {
    netsettle_smcrypto::read_file_bounded(path, bytes_max).map_err(|error| file_error(path, error))
}

fn file_error(path: &Path, reason: impl std::fmt::Display) -> ClientError {
    ClientError::File {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}
