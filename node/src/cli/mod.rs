//! Command-line surface of `netsettle`: one file per verb group. Each parses its
//! arguments, calls a library crate and prints; no protocol logic lives here, and no verb
//! file imports another (what they share is in `crate::shared`). `netsettle node` hands
//! its config file to `crate::runtime`.

use std::path::PathBuf;

use anyhow::Result;

mod ca;
mod configtx;
mod console;
mod crypto;
mod gateway;
mod layout;
mod ledger;
mod net;
mod notices;
mod orderer;
mod settlement;
mod tls;
mod tx;

/// netsettle: a permissioned settlement chain for two telecom carriers, with SM2/SM3/SM4
/// national cryptography throughout.
#[derive(Debug, clap::Parser)]
#[command(name = "netsettle", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Run a node: the CA, orderer and peer roles its config file enables.
    Node {
        /// The node configuration file (TOML; see `configs/nodes/` for examples).
        #[arg(long)]
        config: PathBuf,
    },
    /// Contract calls as a client: invoke (endorse, order, commit) or query.
    #[command(subcommand)]
    Tx(tx::TxCommand),
    /// Contract lifecycle: approve and commit the built-in settlement contract.
    #[command(subcommand)]
    Lifecycle(tx::LifecycleCommand),
    /// Ordering service administration: orderer status, leader transfer.
    #[command(subcommand)]
    Orderer(orderer::OrdererCommand),
    /// Deployment layouts: render node configs and DMZ forwarder maps.
    #[command(subcommand)]
    Layout(layout::LayoutCommand),
    /// SM2 keys.
    #[command(subcommand)]
    Key(crypto::KeyCommand),
    /// SM2 X.509 certificates.
    #[command(subcommand)]
    Cert(crypto::CertCommand),
    /// Sign a file with an SM2 key (default signer ID); writes a DER signature.
    Sign {
        /// Private key (PKCS#8 PEM).
        #[arg(long)]
        key: PathBuf,
        /// File to sign.
        #[arg(long = "in")]
        input: PathBuf,
        /// Where to write the DER signature.
        #[arg(long)]
        out: PathBuf,
    },
    /// Verify a DER SM2 signature over a file.
    Verify {
        /// Public key (SPKI PEM), certificate or private key.
        #[arg(long)]
        public: PathBuf,
        /// The signed file.
        #[arg(long = "in")]
        input: PathBuf,
        /// The DER signature.
        #[arg(long)]
        signature: PathBuf,
    },
    /// Inspect ledger directories: verify one, compare two, back one up or restore it.
    #[command(subcommand)]
    Ledger(ledger::LedgerCommand),
    /// Channel configuration: genesis block, anchor peers, config updates.
    #[command(subcommand)]
    Configtx(configtx::ConfigtxCommand),
    /// Membership service provider tools.
    #[command(subcommand)]
    Msp(MspCommand),
    /// Certificate authority: init, serve, bootstrap, and the enrollment client.
    #[command(subcommand)]
    Ca(ca::CaCommand),
    /// SM-TLS (RFC 8998) link checks: an echo server and client.
    #[command(subcommand)]
    Tls(tls::TlsCommand),
    /// Node-to-node network (libp2p over SM-TLS) checks: a listening node and a pinger.
    #[command(subcommand)]
    Net(net::NetCommand),
    /// The settlement month for staff (upload, reveal, status, review, confirm, finance,
    /// export, history, watch) and the offline report tools.
    #[command(subcommand)]
    Settlement(settlement::SettlementCommand),
    /// Calls to a carrier's HTTP gateway, as its systems make them (`call`).
    #[command(subcommand)]
    Gateway(gateway::GatewayCommand),
    /// Notices for a node's staff: their delivery state (`list`).
    #[command(subcommand)]
    Notices(notices::NoticesCommand),
    /// The staff web console of one carrier, and its password hashing tool.
    #[command(subcommand)]
    Console(console::ConsoleCommand),
    /// Print the SM3 digest of a file (hex).
    Sm3 {
        /// File to hash.
        path: std::path::PathBuf,
    },
}

#[derive(Debug, clap::Subcommand)]
enum MspCommand {
    /// Write an organisation's public MSP (root and TLS root certificates, CRLs) for the
    /// other carrier.
    Export(configtx::MspExportArgs),
}

impl Cli {
    /// The node config file of `netsettle node` (logging reads its `[log]` section
    /// before anything else runs).
    pub fn node_config(&self) -> Option<&std::path::Path> {
        match &self.command {
            Command::Node { config } => Some(config),
            _ => None,
        }
    }

    /// Whether the command runs until stopped (a node or a server), rather than a tool
    /// that does one thing and exits.
    pub fn is_long_running(&self) -> bool {
        matches!(
            self.command,
            Command::Node { .. }
                | Command::Ca(ca::CaCommand::Serve { .. })
                | Command::Tls(tls::TlsCommand::Serve { .. })
                | Command::Net(net::NetCommand::Listen { .. })
                | Command::Console(console::ConsoleCommand::Run { .. })
        )
    }
}

/// The exit status of a failed command: the settlement commands tell a refusal by the
/// contract (3), an unreachable consortium (4) and an invalid commit (5) apart; every
/// other failure is 1.
pub fn exit_code(error: &anyhow::Error) -> u8 {
    settlement::exit_code(error)
}

pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Node { config } => crate::runtime::run(&config),
        Command::Layout(command) => layout::run(command),
        Command::Orderer(command) => orderer::run(command),
        Command::Tx(command) => tx::run_tx(command),
        Command::Lifecycle(command) => tx::run_lifecycle(command),
        Command::Key(command) => crypto::run_key(command),
        Command::Cert(command) => crypto::run_cert(command),
        Command::Sign { key, input, out } => crypto::run_sign(&key, &input, &out),
        Command::Verify {
            public,
            input,
            signature,
        } => crypto::run_verify(&public, &input, &signature),
        Command::Ledger(command) => ledger::run(command),
        Command::Configtx(command) => configtx::run(command),
        Command::Tls(command) => tls::run(command),
        Command::Net(command) => net::run(command),
        Command::Msp(MspCommand::Export(args)) => configtx::run_msp_export(&args),
        Command::Ca(command) => ca::run(command),
        Command::Settlement(command) => settlement::run(command),
        Command::Gateway(command) => gateway::run(command),
        Command::Notices(command) => notices::run(command),
        Command::Console(command) => console::run(command),
        Command::Sm3 { path } => crypto::run_sm3(&path),
    }
}
