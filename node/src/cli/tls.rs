//! `netsettle tls serve|send`: an SM-TLS (RFC 8998) echo service and client between two
//! `netsettle` processes, so operators (and the demo) can check certificates, trust
//! anchors and reachability of a link before any node role runs over it.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context as _, Result, bail};
use netsettle_smtls::{NoRevocation, TlsIdentity, TrustAnchors};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// Largest message `send` transmits and `serve` echoes back per connection.
const ECHO_BYTES_MAX: usize = 64 * 1024 * 1024;

/// The node's TLS identity and the roots it trusts.
#[derive(Debug, clap::Args)]
pub struct TlsArgs {
    /// Certificate (PEM, leaf first).
    #[arg(long)]
    cert: PathBuf,
    /// Private key (PKCS#8 PEM).
    #[arg(long)]
    key: PathBuf,
    /// Trusted root certificates (PEM), repeatable: both carriers' CAs.
    #[arg(long = "ca", required = true)]
    cas: Vec<PathBuf>,
}

/// SM-TLS link checks.
#[derive(Debug, clap::Subcommand)]
pub enum TlsCommand {
    /// Accept mutually authenticated SM-TLS connections and echo what each client sends.
    Serve {
        /// Address to listen on; port 0 picks a free one (printed on stdout).
        #[arg(long)]
        listen: String,
        /// Exit after this many connections (default: serve until killed).
        #[arg(long)]
        connections: Option<u64>,
        #[command(flatten)]
        tls: TlsArgs,
    },
    /// Connect, send a message, print the echo and the negotiated parameters.
    Send {
        /// Address to connect to.
        #[arg(long)]
        connect: String,
        /// Name the server's certificate must carry (DNS name or IP).
        #[arg(long)]
        server_name: String,
        /// The message.
        #[arg(long)]
        message: String,
        #[command(flatten)]
        tls: TlsArgs,
    },
}

fn load(tls: &TlsArgs) -> Result<(TlsIdentity, TrustAnchors)> {
    let identity = TlsIdentity::from_pem_files(&tls.cert, &tls.key)
        .with_context(|| format!("loading TLS identity {}", tls.cert.display()))?;
    let trust = TrustAnchors::from_pem_files(&tls.cas).context("loading trusted roots")?;
    Ok((identity, trust))
}

pub fn run(command: TlsCommand) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        match command {
            TlsCommand::Serve {
                listen,
                connections,
                tls,
            } => serve(&listen, connections, &tls).await,
            TlsCommand::Send {
                connect,
                server_name,
                message,
                tls,
            } => send(&connect, &server_name, &message, &tls).await,
        }
    })
}

async fn serve(listen: &str, connections: Option<u64>, tls: &TlsArgs) -> Result<()> {
    let (identity, trust) = load(tls)?;
    let config = netsettle_smtls::server_config(&identity, &trust, Arc::new(NoRevocation))?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding {listen}"))?;
    // The readiness line tests and scripts wait for: the real address, port included.
    println!("listening on {}", listener.local_addr()?);
    let mut served = 0u64;
    while connections.is_none_or(|max| served < max) {
        let (tcp, from) = listener.accept().await?;
        served = served.saturating_add(1);
        match echo_one(&config, tcp).await {
            Ok((subject, bytes)) => {
                println!("echoed {bytes} bytes to {subject} from {from}");
            }
            Err(error) => {
                println!("refused {from}: {error:#}");
            }
        }
    }
    Ok(())
}

async fn echo_one(
    config: &Arc<rustls::ServerConfig>,
    tcp: tokio::net::TcpStream,
) -> Result<(String, usize)> {
    let mut stream = netsettle_smtls::accept(config, tcp).await?;
    let subject = stream.peer().certificate().subject_dn();
    let mut buffer = Vec::new();
    let read = (&mut stream)
        .take(u64::try_from(ECHO_BYTES_MAX)?.saturating_add(1))
        .read_to_end(&mut buffer)
        .await?;
    if read > ECHO_BYTES_MAX {
        bail!("message over {ECHO_BYTES_MAX} bytes");
    }
    stream.write_all(&buffer).await?;
    stream.shutdown().await?;
    Ok((subject, read))
}

async fn send(connect: &str, server_name: &str, message: &str, tls: &TlsArgs) -> Result<()> {
    let (identity, trust) = load(tls)?;
    let config = netsettle_smtls::client_config(&identity, &trust, Arc::new(NoRevocation))?;
    let stream = netsettle_smtls::connect(&config, connect, server_name)
        .await
        .with_context(|| format!("SM-TLS handshake with {connect}"))?;
    let server = stream.peer().certificate().subject_dn();
    let (mut inner, _) = stream.into_parts();
    let (_, connection) = inner.get_ref();
    let suite = connection
        .negotiated_cipher_suite()
        .map(|suite| format!("{:?}", suite.suite()))
        .unwrap_or_default();
    let version = connection
        .protocol_version()
        .map(|version| format!("{version:?}"))
        .unwrap_or_default();
    println!("connected to {server} with {version}, cipher suite {suite}");
    inner.write_all(message.as_bytes()).await?;
    // Half-close so the server sees the end of the message, then read the echo.
    inner.shutdown().await?;
    let mut reply = Vec::new();
    (&mut inner)
        .take(u64::try_from(ECHO_BYTES_MAX)?)
        .read_to_end(&mut reply)
        .await?;
    if reply != message.as_bytes() {
        bail!("echo differs from what was sent");
    }
    println!("echo: {}", String::from_utf8_lossy(&reply));
    Ok(())
}
