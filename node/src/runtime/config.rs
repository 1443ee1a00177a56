//! The node configuration file of `netsettle node --config FILE`: which roles this process
//! runs, where its identity, channel genesis and data live, and its network addresses.
//!
//! Relative paths are resolved against the directory of the config file, so a consortium
//! directory can be moved as a whole. Unknown keys are errors: a misspelt option must not
//! silently fall back to a default on a production node.
//!
//! ```toml
//! name = "orderer0.unicom.example"     # the node's TLS name
//! data_dir = "data/orderer0.unicom.example"
//!
//! [identity]                           # an identity directory (ca bootstrap / ca enroll)
//! msp_id = "UnicomMSP"
//! dir = "crypto/unicom/orderers/orderer0.unicom.example"
//!
//! [channel]
//! name = "settlement"
//! genesis = "artifacts/genesis.block"
//!
//! [network]                            # optional: libp2p over SM-TLS
//! listen = "127.0.1.10:7050"           # inside the carrier's cloud
//! external = "127.0.3.1:7050"          # the DMZ forwarder's public address for it
//! [[network.peers]]                    # nodes to keep connected to
//! node_id = "16Uiu2…"                  # `netsettle net id --cert TLS_CERT` prints it
//! address = "127.0.1.11:7050"
//!
//! [orderer]                            # optional: the orderer role (needs [network])
//! tick_ms = 100
//! snapshot_interval_entries = 1000     # Raft snapshot (and log compaction) interval
//! join_block = "join.block"            # only for a consenter added after genesis
//!
//! [peer]                               # optional: the peer role (needs [network])
//! deliver = "orderers"                 # or "gossip": no orderer connection, blocks from peers
//!
//! [gateway]                            # optional: the HTTP gateway (needs [peer])
//! enabled = true                       # default true
//! listen = "127.0.1.20:8443"           # HTTPS over SM-TLS, client certificates required
//! profile = "clients/unicommsp.toml"   # the carrier's connection profile: endorse, order
//! settlement_identity = "crypto/unicom/users/settlement@unicom.example"
//! finance_identity = "crypto/unicom/users/finance@unicom.example"   # optional
//! connections_max = 256                # optional limits, each at most the crate's maximum
//! connections_per_address_max = 32
//! body_bytes_max = 16777216
//! sse_subscribers_max = 64
//!
//! [notices]                            # optional: notices for the carrier's staff (needs [peer])
//! attempts_max = 12                    # optional settings, defaults shown
//! age_max_secs = 86400                 # a notice not sent by then is marked failed
//! backoff_initial_ms = 1000            # retry delay, doubling per attempt, jittered
//! backoff_max_ms = 600000
//! attempt_timeout_ms = 10000           # connect to response head
//! in_flight_max = 8                    # attempts at once, and to one recipient
//! in_flight_per_recipient_max = 2
//! entries_max = 10000                  # outbox entries kept; oldest sent/failed pruned
//! reminder_hours = [72, 24]            # deadline reminders, hours before ([]: after only)
//! reminder_check_secs = 300            # how often the periods' deadlines are looked at
//! [[notices.recipients]]
//! name = "settlement-desk"             # unique; part of each notice id
//! roles = ["settlement"]               # settlement, finance
//! periods = "all"                      # or ["2026-11", "2026-12"]
//! channel = "webhook"                  # the notice JSON, POSTed and signed by the node
//! url = "http://10.1.2.3:8080/hooks/notices"   # plain http:// inside the carrier's network
//! [[notices.recipients]]
//! name = "cfo-sms"
//! roles = ["finance"]
//! periods = "all"
//! channel = "sms"                      # a request built from a template, per SMS platform
//! url = "http://sms.unicom.internal/api/send?ref={id}"
//! phones = ["13800000000"]             # {phone} is the numbers joined by commas
//! method = "POST"                      # GET, POST or PUT (default POST)
//! encoding = "json"                    # or "form": how values are escaped in the body
//! body = '{"mobiles":"{phone}","content":"{text}"}'   # also {id}, {period}, {kind}
//! headers = { "X-Api-Key" = "…" }
//!
//! [ca]                                 # optional: the CA role
//! dir = "crypto/unicom/ca"
//! listen = "127.0.1.1:7054"
//!
//! [operations]                         # optional: /healthz, /readyz, /metrics (plain HTTP)
//! listen = "127.0.1.20:7070"           # on the carrier's management network only
//! cert_expiry_warn_days = 30           # warn when a certificate expires sooner (default 30)
//!
//! [log]                                # optional
//! format = "json"                      # "text" (default) or "json": one object per line
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use netsettle_gateway::notices::{NoticesConfig, Settings};
use netsettle_peer::net::DeliverFrom;

use crate::shared::read_text;

/// A parsed node configuration with every path made absolute.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// The node's name; its TLS certificate must name it.
    pub name: String,
    /// Where the node keeps its ledger and role state.
    pub data_dir: PathBuf,
    /// The node's own identity.
    pub identity: IdentityConfig,
    /// The channel it serves.
    pub channel: ChannelConfigFile,
    /// The node-to-node network, when enabled.
    pub network: Option<NetworkConfig>,
    /// The CA role, when enabled.
    pub ca: Option<CaRoleConfig>,
    /// The orderer role, when enabled (needs `[network]`).
    pub orderer: Option<OrdererRoleConfig>,
    /// The peer role, when enabled (needs `[network]`).
    pub peer: Option<PeerRoleConfig>,
    /// The HTTP gateway, when present and enabled (needs `[peer]`).
    pub gateway: Option<GatewayRoleConfig>,
    /// Notices for the carrier's staff, checked, when present (needs `[peer]`).
    pub notices: Option<Settings>,
    /// The operations listener, when present.
    pub operations: Option<OperationsConfig>,
}

/// The operations listener: health, readiness and Prometheus metrics over plain HTTP,
/// for the carrier's management network (operators never expose it further).
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OperationsConfig {
    /// Where to listen; port 0 picks a free port (the readiness line reports it).
    pub listen: SocketAddr,
    /// Warn (and flag in `/metrics`) when one of the node's certificates expires within
    /// this many days.
    #[serde(default = "cert_expiry_warn_days_default")]
    pub cert_expiry_warn_days: u32,
}

/// The default of `operations.cert_expiry_warn_days`.
pub const CERT_EXPIRY_WARN_DAYS_DEFAULT: u32 = 30;
/// The largest `operations.cert_expiry_warn_days`: ten years, longer than any certificate
/// the CA issues.
pub const CERT_EXPIRY_WARN_DAYS_MAX: u32 = 3650;

fn cert_expiry_warn_days_default() -> u32 {
    CERT_EXPIRY_WARN_DAYS_DEFAULT
}

/// How the node writes its log lines (to stderr).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// Text lines (default) or JSON objects.
    #[serde(default)]
    pub format: LogFormat,
}

/// The log line format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line (tracing-subscriber's JSON format), for log collectors.
    Json,
}

/// The HTTP gateway beside the peer role (`netsettle-gateway`): JSON over HTTPS on
/// SM-TLS, client certificates required. It signs with the two identities below only for
/// authenticated client users of this node's own organisation.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayRoleConfig {
    /// Off switch that keeps the section (default on).
    #[serde(default = "enabled_default")]
    pub enabled: bool,
    /// Where to listen; port 0 picks a free port (the readiness line reports it).
    pub listen: SocketAddr,
    /// The carrier's connection profile: the peers to endorse at and the orderers.
    pub profile: PathBuf,
    /// The carrier's settlement identity directory (`department=settlement`).
    pub settlement_identity: PathBuf,
    /// The carrier's finance identity directory (`department=finance`), used for callers
    /// whose certificate carries `department=finance`; without it they are refused.
    pub finance_identity: Option<PathBuf>,
    /// Open connections at once.
    pub connections_max: Option<usize>,
    /// Open connections from one address.
    pub connections_per_address_max: Option<usize>,
    /// Largest request body in bytes (413 above).
    pub body_bytes_max: Option<usize>,
    /// Event-stream subscribers at once.
    pub sse_subscribers_max: Option<usize>,
}

fn enabled_default() -> bool {
    true
}

/// The peer role: endorses with the native contracts compiled into the binary, gets
/// blocks from the channel's orderers and from other peers (gossip, state transfer),
/// validates and commits them to `DATA/ledger`.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeerRoleConfig {
    /// Where blocks come from (default `"orderers"`).
    #[serde(default)]
    pub deliver: DeliverFrom,
}

/// The orderer role. Which consenter this node is comes from the channel config (its
/// TLS certificate); the Raft log and the orderer's chain live under `DATA/orderer`.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrdererRoleConfig {
    /// Milliseconds per Raft tick (default 100: elections after 1–2 s).
    pub tick_ms: Option<u64>,
    /// Applied Raft entries between snapshots (default 1000).
    pub snapshot_interval_entries: Option<u64>,
    /// How far (seconds) a broadcast envelope's timestamp may be from this orderer's
    /// clock; at most, and by default, `ENVELOPE_TIME_SKEW_SECS_MAX` (300), the bound
    /// peers and contracts rely on.
    pub envelope_time_skew_secs: Option<u64>,
    /// For an orderer added after genesis: the config block that made it a consenter
    /// (`netsettle ledger` or an orderer's chain has it). It names the consenters to
    /// reach at start; the chain itself still starts from the genesis block.
    pub join_block: Option<PathBuf>,
}

/// The node's libp2p endpoint and the nodes it keeps connections to.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkConfig {
    /// Where to listen inside the carrier's cloud; port 0 picks a free port.
    pub listen: SocketAddr,
    /// The public address the carrier's DMZ forwarder maps to `listen`, advertised to
    /// other nodes.
    pub external: Option<SocketAddr>,
    /// Nodes to connect to at start and redial when lost.
    #[serde(default)]
    pub peers: Vec<KnownPeer>,
}

/// Another node: its id (from its TLS certificate's key) and where to reach it.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KnownPeer {
    /// The node id, as `netsettle net id` prints it.
    pub node_id: String,
    /// Its address: inside the cloud for the same carrier, the other carrier's DMZ
    /// forwarder otherwise.
    pub address: SocketAddr,
}

/// The node's identity directory and organisation.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityConfig {
    /// The organisation's MSP id.
    pub msp_id: String,
    /// An identity directory in the `ca bootstrap` / `ca enroll` layout.
    pub dir: PathBuf,
}

/// The channel the node serves and where its genesis block is.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelConfigFile {
    /// The channel name, e.g. `settlement`.
    pub name: String,
    /// The genesis block file `configtx genesis` wrote.
    pub genesis: PathBuf,
}

/// The CA role: an enrollment server over SM-TLS.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaRoleConfig {
    /// The CA directory (`ca init` / `ca bootstrap` output `ca/`).
    pub dir: PathBuf,
    /// Where to listen; port 0 picks a free port (the readiness line reports it).
    pub listen: SocketAddr,
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    name: String,
    data_dir: PathBuf,
    identity: IdentityConfig,
    channel: ChannelConfigFile,
    network: Option<NetworkConfig>,
    ca: Option<CaRoleConfig>,
    orderer: Option<OrdererRoleConfig>,
    peer: Option<PeerRoleConfig>,
    gateway: Option<GatewayRoleConfig>,
    notices: Option<NoticesConfig>,
    operations: Option<OperationsConfig>,
    /// Read before logging starts ([`NodeConfig::log_settings`]); parsed here too so a
    /// bad `[log]` section stops the node with a clear error.
    #[serde(default, rename = "log")]
    _log: LogConfig,
}

/// What logging needs from a config file, read before logging starts: the format and
/// the node and channel every JSON line names. Every other key is left to
/// [`NodeConfig::load`].
#[derive(Debug, Default, serde::Deserialize)]
pub struct LogSettings {
    /// The `[log]` section.
    #[serde(default)]
    pub log: LogConfig,
    /// The node's name.
    #[serde(default)]
    pub name: String,
    /// The channel section (only its name is read).
    #[serde(default)]
    pub channel: LogChannel,
}

/// The channel's name, for [`LogSettings`].
#[derive(Debug, Default, serde::Deserialize)]
pub struct LogChannel {
    /// The channel name.
    #[serde(default)]
    pub name: String,
}

impl NodeConfig {
    /// Reads and checks a config file.
    pub fn load(path: &Path) -> Result<NodeConfig> {
        let text = read_text(path)?;
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Self::parse(&text, &base).with_context(|| format!("node config {}", path.display()))
    }

    /// Parses config text; relative paths are taken relative to `base`.
    pub fn parse(text: &str, base: &Path) -> Result<NodeConfig> {
        let raw: RawConfig = toml::from_str(text)?;
        if raw.gateway.as_ref().is_some_and(|gateway| gateway.enabled) && raw.peer.is_none() {
            bail!("the [gateway] section needs the peer role ([peer])");
        }
        if raw.notices.is_some() && raw.peer.is_none() {
            bail!("the [notices] section needs the peer role ([peer])");
        }
        let notices = raw
            .notices
            .as_ref()
            .map(NoticesConfig::validate)
            .transpose()?;
        if let Some(operations) = &raw.operations {
            let days = operations.cert_expiry_warn_days;
            if !(1..=CERT_EXPIRY_WARN_DAYS_MAX).contains(&days) {
                bail!(
                    "operations.cert_expiry_warn_days must be between 1 and {CERT_EXPIRY_WARN_DAYS_MAX}, not {days}"
                );
            }
        }
        if raw.name.trim().is_empty() {
            bail!("`name` is empty");
        }
        if raw.identity.msp_id.trim().is_empty() {
            bail!("`identity.msp_id` is empty");
        }
        if raw.channel.name.trim().is_empty() {
            bail!("`channel.name` is empty");
        }
        let resolve = |path: &Path| -> PathBuf {
            if path.is_absolute() {
                path.to_path_buf()
            } else {
                base.join(path)
            }
        };
        Ok(NodeConfig {
            name: raw.name,
            data_dir: resolve(&raw.data_dir),
            identity: IdentityConfig {
                msp_id: raw.identity.msp_id,
                dir: resolve(&raw.identity.dir),
            },
            channel: ChannelConfigFile {
                name: raw.channel.name,
                genesis: resolve(&raw.channel.genesis),
            },
            network: raw.network,
            ca: raw.ca.map(|ca| CaRoleConfig {
                dir: resolve(&ca.dir),
                listen: ca.listen,
            }),
            orderer: raw.orderer.map(|orderer| OrdererRoleConfig {
                join_block: orderer.join_block.as_deref().map(resolve),
                ..orderer
            }),
            peer: raw.peer,
            gateway: raw
                .gateway
                .filter(|gateway| gateway.enabled)
                .map(|gateway| GatewayRoleConfig {
                    profile: resolve(&gateway.profile),
                    settlement_identity: resolve(&gateway.settlement_identity),
                    finance_identity: gateway.finance_identity.as_deref().map(resolve),
                    ..gateway
                }),
            notices,
            operations: raw.operations,
        })
    }

    /// The log settings of a config file, read before logging starts. A file that cannot
    /// be read or parsed gives the defaults: [`NodeConfig::load`] reports why later.
    pub fn log_settings(path: &Path) -> LogSettings {
        read_text(path)
            .ok()
            .and_then(|text| toml::from_str::<LogSettings>(&text).ok())
            .unwrap_or_default()
    }

    /// The roles this config enables, for the readiness line and logs.
    pub fn roles(&self) -> Vec<&'static str> {
        let mut roles = Vec::new();
        if self.network.is_some() {
            roles.push("network");
        }
        if self.ca.is_some() {
            roles.push("ca");
        }
        if self.orderer.is_some() {
            roles.push("orderer");
        }
        if self.peer.is_some() {
            roles.push("peer");
        }
        if self.gateway.is_some() {
            roles.push("gateway");
        }
        if self.notices.is_some() {
            roles.push("notices");
        }
        if self.operations.is_some() {
            roles.push("operations");
        }
        roles
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeMap, BTreeSet};

    const MINIMAL: &str = r#"
name = "peer0.unicom.example"
data_dir = "data/peer0"
[identity]
msp_id = "UnicomMSP"
dir = "crypto/unicom/peers/peer0.unicom.example"
[channel]
name = "settlement"
genesis = "/abs/genesis.block"
"#;

    #[test]
    fn relative_paths_resolve_against_the_config_directory() {
        let config = NodeConfig::parse(MINIMAL, Path::new("/srv/consortium")).unwrap();
        assert_eq!(config.data_dir, Path::new("/srv/consortium/data/peer0"));
        assert_eq!(
            config.identity.dir,
            Path::new("/srv/consortium/crypto/unicom/peers/peer0.unicom.example")
        );
        assert_eq!(config.channel.genesis, Path::new("/abs/genesis.block"));
        assert!(config.roles().is_empty());
    }

    #[test]
    fn unknown_keys_and_bad_addresses_are_errors() {
        let misspelt = MINIMAL.replace("data_dir", "datadir");
        assert!(NodeConfig::parse(&misspelt, Path::new("/")).is_err());
        let bad_listen = format!("{MINIMAL}[ca]\ndir = \"ca\"\nlisten = \"localhost\"\n");
        assert!(NodeConfig::parse(&bad_listen, Path::new("/")).is_err());
        let with_ca = format!("{MINIMAL}[ca]\ndir = \"ca\"\nlisten = \"127.0.1.1:0\"\n");
        let config = NodeConfig::parse(&with_ca, Path::new("/x")).unwrap();
        assert_eq!(config.roles(), vec!["ca"]);
    }

    #[test]
    fn a_peer_may_take_its_blocks_from_gossip_only() {
        let default = NodeConfig::parse(&format!("{MINIMAL}[peer]\n"), Path::new("/")).unwrap();
        assert_eq!(default.peer.unwrap().deliver, DeliverFrom::Orderers);
        let gossip = format!("{MINIMAL}[peer]\ndeliver = \"gossip\"\n");
        let config = NodeConfig::parse(&gossip, Path::new("/")).unwrap();
        assert_eq!(config.peer.unwrap().deliver, DeliverFrom::Gossip);
        let unknown = format!("{MINIMAL}[peer]\ndeliver = \"carrier-pigeon\"\n");
        assert!(NodeConfig::parse(&unknown, Path::new("/")).is_err());
    }

    #[test]
    fn notices_are_checked_at_load_and_need_a_peer() {
        let section = "[notices]\nattempts_max = 5\n[[notices.recipients]]\nname = \"desk\"\n\
                       roles = [\"settlement\"]\nperiods = \"all\"\nchannel = \"webhook\"\n\
                       url = \"http://127.0.0.1:9/hooks/notices\"\n";
        let text = format!("{MINIMAL}[peer]\n{section}");
        let config = NodeConfig::parse(&text, Path::new("/srv")).unwrap();
        let notices = config.notices.clone().unwrap();
        assert_eq!(notices.retry.attempts_max, 5);
        assert_eq!(notices.addressees.len(), 1);
        assert_eq!(config.roles(), vec!["peer", "notices"]);
        let without_peer = format!("{MINIMAL}{section}");
        assert!(NodeConfig::parse(&without_peer, Path::new("/")).is_err());
        let unknown_key = format!("{MINIMAL}[peer]\n{section}retries = 3\n");
        assert!(NodeConfig::parse(&unknown_key, Path::new("/")).is_err());
        let fax = text.replace("\"webhook\"", "\"fax\"");
        let error = NodeConfig::parse(&fax, Path::new("/")).unwrap_err();
        assert!(
            format!("{error:#}").contains("unknown channel"),
            "{error:#}"
        );
    }

    #[test]
    fn a_gateway_resolves_its_paths_and_needs_a_peer() {
        let section = "[gateway]\nlisten = \"127.0.1.20:0\"\nprofile = \"clients/u.toml\"\n\
                       settlement_identity = \"users/s\"\nbody_bytes_max = 1024\n";
        let text = format!("{MINIMAL}[peer]\n{section}");
        let config = NodeConfig::parse(&text, Path::new("/srv")).unwrap();
        let gateway = config.gateway.clone().unwrap();
        assert_eq!(gateway.profile, Path::new("/srv/clients/u.toml"));
        assert_eq!(gateway.settlement_identity, Path::new("/srv/users/s"));
        assert_eq!(gateway.finance_identity, None);
        assert_eq!(gateway.body_bytes_max, Some(1024));
        assert_eq!(config.roles(), vec!["peer", "gateway"]);
        let without_peer = format!("{MINIMAL}{section}");
        assert!(NodeConfig::parse(&without_peer, Path::new("/")).is_err());
        let disabled = format!("{MINIMAL}[peer]\n{section}enabled = false\n");
        let config = NodeConfig::parse(&disabled, Path::new("/")).unwrap();
        assert!(config.gateway.is_none());
        let misspelt = format!("{MINIMAL}[peer]\n{section}body_bytes = 3\n");
        assert!(NodeConfig::parse(&misspelt, Path::new("/")).is_err());
    }

    #[test]
    fn an_added_orderer_names_its_join_block_relative_to_the_config() {
        let text = format!(
            "{MINIMAL}[orderer]\nsnapshot_interval_entries = 250\njoin_block = \"join.block\"\n"
        );
        let config = NodeConfig::parse(&text, Path::new("/srv/consortium")).unwrap();
        let orderer = config.orderer.unwrap();
        assert_eq!(orderer.snapshot_interval_entries, Some(250));
        assert_eq!(
            orderer.join_block.as_deref(),
            Some(Path::new("/srv/consortium/join.block"))
        );
        let plain = NodeConfig::parse(&format!("{MINIMAL}[orderer]\n"), Path::new("/")).unwrap();
        assert_eq!(plain.orderer.unwrap().join_block, None);
    }

    #[test]
    fn operations_and_log_sections_are_checked_at_load() {
        let section = "[operations]\nlisten = \"127.0.1.30:0\"\n";
        let config = NodeConfig::parse(&format!("{MINIMAL}{section}"), Path::new("/")).unwrap();
        let operations = config.operations.clone().unwrap();
        assert_eq!(
            operations.cert_expiry_warn_days,
            CERT_EXPIRY_WARN_DAYS_DEFAULT
        );
        assert_eq!(config.roles(), vec!["operations"]);
        for bad in [
            "[operations]\n",
            "[operations]\nlisten = \"not an address\"\n",
            "[operations]\nlisten = \"127.0.1.30:0\"\ncert_expiry_warn_days = 0\n",
            "[operations]\nlisten = \"127.0.1.30:0\"\ncert_expiry_warn_days = 99999\n",
            "[operations]\nlisten = \"127.0.1.30:0\"\nport = 3\n",
            "[log]\nformat = \"xml\"\n",
        ] {
            assert!(
                NodeConfig::parse(&format!("{MINIMAL}{bad}"), Path::new("/")).is_err(),
                "{bad}"
            );
        }
        let json = format!("{MINIMAL}[log]\nformat = \"json\"\n");
        assert!(NodeConfig::parse(&json, Path::new("/")).is_ok());
        let settings: LogSettings = toml::from_str(&json).unwrap();
        assert_eq!(settings.log.format, LogFormat::Json);
        assert_eq!(settings.name, "peer0.unicom.example");
        assert_eq!(settings.channel.name, "settlement");
        let text: LogSettings = toml::from_str(MINIMAL).unwrap();
        assert_eq!(text.log.format, LogFormat::Text);
    }

    /// The field names the parser takes at `section` (`""`: the top level), read from
    /// the error an unknown key there gets (serde lists every field it expected).
    fn fields_at(section: &str, array: bool) -> BTreeSet<String> {
        let probe = "zz_probe = 1\n";
        let header = if array {
            format!("[[{section}]]\n")
        } else {
            format!("[{section}]\n")
        };
        let text = if section.is_empty() {
            format!("{probe}{MINIMAL}")
        } else if MINIMAL.contains(&header) {
            MINIMAL.replace(&header, &format!("{header}{probe}"))
        } else {
            format!("{MINIMAL}\n{header}{probe}")
        };
        let error = toml::from_str::<RawConfig>(&text)
            .expect_err("an unknown key is refused")
            .to_string();
        let (_, expected) = error
            .split_once("unknown field `zz_probe`, expected")
            .unwrap_or_else(|| panic!("[{section}]: {error}"));
        expected
            .split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_owned)
            .collect()
    }

    /// The keys docs/operations.md's "Configuration reference" lists per section (`""`:
    /// the top level), and whether each section is an array of tables.
    fn documented() -> BTreeMap<String, (bool, BTreeSet<String>)> {
        let text = include_str!("../../../docs/operations.md");
        let (_, reference) = text
            .split_once("## Configuration reference")
            .expect("the reference section");
        let reference = reference.split("\n## ").next().unwrap_or_default();
        let mut sections: BTreeMap<String, (bool, BTreeSet<String>)> = BTreeMap::new();
        let mut current: Option<String> = None;
        let backticked = |line: &str| line.split('`').nth(1).map(str::to_owned);
        for line in reference.lines() {
            if let Some(heading) = line
                .strip_prefix("### ")
                .or_else(|| line.strip_prefix("#### "))
            {
                current = if heading.starts_with("Top level") {
                    Some(String::new())
                } else {
                    backticked(heading).map(|name| {
                        let array = name.starts_with("[[");
                        let name = name.trim_matches(|c| c == '[' || c == ']').to_owned();
                        let (parent, key) = name.rsplit_once('.').unwrap_or(("", &name));
                        sections
                            .entry(parent.to_owned())
                            .or_default()
                            .1
                            .insert(key.to_owned());
                        sections.entry(name.clone()).or_default().0 = array;
                        name
                    })
                };
            } else if line.starts_with("| `")
                && let (Some(section), Some(key)) = (&current, backticked(line))
            {
                let key = key.trim_matches(|c| c == '[' || c == ']');
                let key = key.rsplit('.').next().unwrap_or(key).to_owned();
                sections.entry(section.clone()).or_default().1.insert(key);
            }
        }
        sections
    }

    #[test]
    fn the_operations_reference_lists_exactly_the_keys_the_parser_takes() {
        let documented = documented();
        for required in [
            "",
            "identity",
            "network",
            "network.peers",
            "notices.recipients",
        ] {
            assert!(
                documented.contains_key(required),
                "no [{required}] in the reference"
            );
        }
        for (section, (array, keys)) in &documented {
            let parsed = fields_at(section, *array);
            assert_eq!(
                keys, &parsed,
                "docs/operations.md's configuration reference for [{section}] (left) differs from what the parser takes (right)"
            );
        }
        // Every section the parser takes at the top level has a table of its own.
        for section in fields_at("", false) {
            let is_table = !["name", "data_dir"].contains(&section.as_str());
            assert!(
                !is_table || documented.contains_key(&section),
                "[{section}] has no table in the reference"
            );
        }
    }
}
