//! Command-line surface of `netsettle`. Each subcommand parses its arguments and calls
//! into a library crate; no protocol logic lives here.

use std::path::PathBuf;

use anyhow::Result;

use crate::{
    ca_cmd, configtx_cmd, crypto_cmd, layout_cmd, ledger_cmd, net_cmd, node_cmd, orderer_cmd,
    settlement_cmd, tls_cmd, tx_cmd,
};

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
    Node(node_cmd::NodeArgs),
    /// Contract calls as a client: invoke (endorse, order, commit) or query.
    #[command(subcommand)]
    Tx(tx_cmd::TxCommand),
    /// Contract lifecycle: approve and commit the built-in settlement contract.
    #[command(subcommand)]
    Lifecycle(tx_cmd::LifecycleCommand),
    /// Ordering service administration: orderer status, leader transfer.
    #[command(subcommand)]
    Orderer(orderer_cmd::OrdererCommand),
    /// Deployment layouts: render node configs and DMZ forwarder maps.
    #[command(subcommand)]
    Layout(layout_cmd::LayoutCommand),
    /// SM2 keys.
    #[command(subcommand)]
    Key(crypto_cmd::KeyCommand),
    /// SM2 X.509 certificates.
    #[command(subcommand)]
    Cert(crypto_cmd::CertCommand),
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
    /// Inspect ledger directories: verify one, or compare two.
    #[command(subcommand)]
    Ledger(ledger_cmd::LedgerCommand),
    /// Channel configuration: genesis block, anchor peers, config updates.
    #[command(subcommand)]
    Configtx(configtx_cmd::ConfigtxCommand),
    /// Membership service provider tools.
    #[command(subcommand)]
    Msp(MspCommand),
    /// Certificate authority: init, serve, bootstrap, and the enrollment client.
    #[command(subcommand)]
    Ca(ca_cmd::CaCommand),
    /// SM-TLS (RFC 8998) link checks: an echo server and client.
    #[command(subcommand)]
    Tls(tls_cmd::TlsCommand),
    /// Node-to-node network (libp2p over SM-TLS) checks: a listening node and a pinger.
    #[command(subcommand)]
    Net(net_cmd::NetCommand),
    /// Settlement reports offline: check, encrypt for upload, reconcile locally, samples.
    #[command(subcommand)]
    Settlement(settlement_cmd::SettlementCommand),
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
    Export(configtx_cmd::MspExportArgs),
}

impl Cli {
    /// Whether the command runs until stopped (a node or a server), rather than a tool
    /// that does one thing and exits.
    pub fn is_long_running(&self) -> bool {
        matches!(
            self.command,
            Command::Node(_)
                | Command::Ca(ca_cmd::CaCommand::Serve { .. })
                | Command::Tls(tls_cmd::TlsCommand::Serve { .. })
                | Command::Net(net_cmd::NetCommand::Listen { .. })
        )
    }
}

pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Node(args) => node_cmd::run(&args),
        Command::Layout(command) => layout_cmd::run(command),
        Command::Orderer(command) => orderer_cmd::run(command),
        Command::Tx(command) => tx_cmd::run_tx(command),
        Command::Lifecycle(command) => tx_cmd::run_lifecycle(command),
        Command::Key(command) => crypto_cmd::run_key(command),
        Command::Cert(command) => crypto_cmd::run_cert(command),
        Command::Sign { key, input, out } => crypto_cmd::run_sign(&key, &input, &out),
        Command::Verify {
            public,
            input,
            signature,
        } => crypto_cmd::run_verify(&public, &input, &signature),
        Command::Ledger(command) => ledger_cmd::run(command),
        Command::Configtx(command) => configtx_cmd::run(command),
        Command::Tls(command) => tls_cmd::run(command),
        Command::Net(command) => net_cmd::run(command),
        Command::Msp(MspCommand::Export(args)) => configtx_cmd::run_msp_export(&args),
        Command::Ca(command) => ca_cmd::run(command),
        Command::Settlement(command) => settlement_cmd::run(command),
        Command::Sm3 { path } => {
            let bytes = std::fs::read(&path)
                .map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?;
            println!("{}", netsettle_smcrypto::sm3(&bytes));
            Ok(())
        }
    }
}
