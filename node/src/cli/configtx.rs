//! `netsettle configtx …` and `netsettle msp export`: build the channel's genesis block
//! from a consortium profile, prepare, sign, check, submit (or apply offline) config
//! updates.
//!
//! Config updates travel between the carriers' admins as JSON files: people review what
//! they sign, and the signatures cover the protocol's canonical encoding of the update,
//! not the JSON, so the file format cannot change what is signed.
//!
//! `configtx submit` hands a signed update to the running orderers (through the client
//! SDK), which check it against the modification policies and cut it into a config block
//! of its own, and waits until the submitting carrier's peers committed that block.
//! `configtx apply` is the offline variant for a ledger directory no orderer serves: it
//! checks the update exactly as an orderer does (`netsettle_msp::check_config_update`),
//! then appends the config block, signed by the given orderer identity.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use netsettle_ledger::Ledger;
use netsettle_msp::{
    ChannelMsps, ConsortiumProfile, OrgMaterial, ProfileMaterial, check_config_update,
};
use netsettle_protocol::{
    Block, ChannelConfig, ConfigEnvelope, ConfigSignature, ConfigUpdate, ConfigUpdateEnvelope,
    Endpoint, Envelope, Header, Identity, Nonce, OrgConfig, Payload, Timestamp, ValidationCode,
};
use netsettle_smcrypto::x509::{Certificate, Crl};
use netsettle_smcrypto::{Hash, PrivateKey};

use crate::shared::{
    ClientArgs, connect, now_unix, read_bounded, read_certificate, read_signer, read_text, runtime,
};

/// Channel configuration tooling.
#[derive(Debug, clap::Subcommand)]
pub enum ConfigtxCommand {
    /// Build the genesis block from a consortium profile and start a ledger with it.
    Genesis {
        /// The consortium profile (TOML), e.g. `configs/consortium.toml`.
        #[arg(long)]
        profile: PathBuf,
        /// Directory the profile's relative paths start from (default: the profile's).
        #[arg(long)]
        base: Option<PathBuf>,
        #[command(flatten)]
        signer: SignerArgs,
        /// Where to write the genesis block (protocol encoding).
        #[arg(long)]
        out: PathBuf,
        /// Also create a ledger directory holding the genesis block.
        #[arg(long)]
        ledger: Option<PathBuf>,
    },
    /// Print the configuration in force (JSON), from a block file or a ledger.
    Inspect {
        #[command(flatten)]
        source: ConfigSource,
    },
    /// Make an update that sets one organisation's anchor peers.
    AnchorPeers {
        #[command(flatten)]
        source: ConfigSource,
        /// The organisation.
        #[arg(long)]
        org: String,
        /// Anchor peer `host:port`, repeatable.
        #[arg(long = "peer", required = true)]
        peers: Vec<String>,
        /// Where to write the unsigned update (JSON).
        #[arg(long)]
        out: PathBuf,
    },
    /// Make an update from the configuration in force and an edited copy (JSON, as
    /// `inspect` prints it).
    Update {
        #[command(flatten)]
        source: ConfigSource,
        /// The edited configuration.
        #[arg(long)]
        edited: PathBuf,
        /// Where to write the unsigned update (JSON).
        #[arg(long)]
        out: PathBuf,
    },
    /// Add an admin's signature to an update file (in place).
    Sign {
        /// The update (JSON).
        #[arg(long)]
        update: PathBuf,
        #[command(flatten)]
        signer: SignerArgs,
    },
    /// Check an update against the configuration in force; exit non-zero if refused.
    Check {
        #[command(flatten)]
        source: ConfigSource,
        /// The update (JSON).
        #[arg(long)]
        update: PathBuf,
    },
    /// Make an update that puts CRLs in force for one organisation: each given CRL
    /// replaces the organisation's CRL from the same issuer, or is added.
    Crl {
        #[command(flatten)]
        source: ConfigSource,
        /// The organisation.
        #[arg(long)]
        org: String,
        /// A CRL file (PEM or DER), repeatable, e.g. from `netsettle ca crl`.
        #[arg(long = "crl", required = true)]
        crls: Vec<PathBuf>,
        /// Where to write the unsigned update (JSON).
        #[arg(long)]
        out: PathBuf,
    },
    /// Submit a signed update to the running orderers and wait until the submitting
    /// carrier's peers have the new configuration in force.
    Submit {
        #[command(flatten)]
        client: ClientArgs,
        /// The update (JSON) with the admins' signatures.
        #[arg(long)]
        update: PathBuf,
    },
    /// Offline: check an update and append it to a ledger directory no orderer serves,
    /// as a config block signed by an orderer identity. With orderers running, use
    /// `submit`.
    Apply {
        /// The ledger directory.
        #[arg(long)]
        ledger: PathBuf,
        /// The update (JSON).
        #[arg(long)]
        update: PathBuf,
        #[command(flatten)]
        signer: SignerArgs,
    },
}

/// An identity that signs: key, certificate and MSP id.
#[derive(Debug, clap::Args)]
pub struct SignerArgs {
    /// Private key (PKCS#8 PEM).
    #[arg(long = "signer-key")]
    key: PathBuf,
    /// Certificate (PEM).
    #[arg(long = "signer-cert")]
    cert: PathBuf,
    /// MSP id of the signer's organisation.
    #[arg(long = "signer-msp")]
    msp_id: String,
}

/// Where the configuration in force comes from.
#[derive(Debug, clap::Args)]
#[group(required = true, multiple = false)]
pub struct ConfigSource {
    /// A config block file (e.g. the genesis block).
    #[arg(long)]
    block: Option<PathBuf>,
    /// A ledger directory: its latest config block. Opened read-only, so a running
    /// peer's ledger (`DATA/ledger`) serves too.
    #[arg(long = "from-ledger")]
    from_ledger: Option<PathBuf>,
}

/// `netsettle msp export`: an organisation's public MSP, for the other carrier.
#[derive(Debug, clap::Args)]
pub struct MspExportArgs {
    /// The organisation's MSP directory (with `cacerts/`, optional `intermediatecerts/`,
    /// `tlscacerts/`, `crls/`).
    #[arg(long)]
    msp_dir: PathBuf,
    /// Where to write the public copy.
    #[arg(long)]
    out: PathBuf,
}

pub fn run(command: ConfigtxCommand) -> Result<()> {
    match command {
        ConfigtxCommand::Genesis {
            profile,
            base,
            signer,
            out,
            ledger,
        } => genesis(&profile, base.as_deref(), &signer, &out, ledger.as_deref()),
        ConfigtxCommand::Inspect { source } => {
            let (config, _) = current_config(&source)?;
            println!("{}", serde_json::to_string_pretty(&config)?);
            Ok(())
        }
        ConfigtxCommand::AnchorPeers {
            source,
            org,
            peers,
            out,
        } => {
            let anchor_peers = peers
                .iter()
                .map(|peer| {
                    peer.parse::<Endpoint>()
                        .with_context(|| format!("anchor peer {peer:?}"))
                })
                .collect::<Result<Vec<_>>>()?;
            update_org(&source, &org, &out, |entry| {
                entry.anchor_peers = anchor_peers;
                Ok(())
            })
        }
        ConfigtxCommand::Update {
            source,
            edited,
            out,
        } => {
            let (current, _) = current_config(&source)?;
            let text = read_text(&edited)?;
            let config: ChannelConfig = serde_json::from_str(&text)
                .with_context(|| format!("parsing {}", edited.display()))?;
            write_update(&current, config, &out)
        }
        ConfigtxCommand::Sign { update, signer } => {
            let mut envelope = read_update(&update)?;
            let (key, identity) = load_signer(&signer)?;
            let signature = ConfigSignature::sign(&key, identity, &envelope.update)?;
            envelope.signatures.push(signature);
            write_json(&update, &envelope)?;
            println!(
                "{} signature(s) on {}",
                envelope.signatures.len(),
                update.display()
            );
            Ok(())
        }
        ConfigtxCommand::Check { source, update } => {
            let (current, _) = current_config(&source)?;
            let envelope = read_update(&update)?;
            let accepted = check(&current, &envelope)?;
            println!(
                "accepted: sequence {} -> {} ({} satisfied by {})",
                current.sequence,
                accepted.config.sequence,
                accepted.policy,
                accepted.satisfied.principals.join(", ")
            );
            Ok(())
        }
        ConfigtxCommand::Crl {
            source,
            org,
            crls,
            out,
        } => update_org(&source, &org, &out, |entry| {
            for path in &crls {
                put_crl(&mut entry.crls_der, &read_crl(path)?)?;
            }
            Ok(())
        }),
        ConfigtxCommand::Submit { client, update } => submit(&client, &update),
        ConfigtxCommand::Apply {
            ledger,
            update,
            signer,
        } => apply(&ledger, &update, &signer),
    }
}

pub fn run_msp_export(args: &MspExportArgs) -> Result<()> {
    let out = &args.out;
    for sub in ["cacerts", "intermediatecerts", "tlscacerts", "crls"] {
        let from = args.msp_dir.join(sub);
        if !from.is_dir() {
            continue;
        }
        let to = out.join(sub);
        std::fs::create_dir_all(&to).with_context(|| format!("creating {}", to.display()))?;
        for path in pem_files(&from)? {
            let name = path.file_name().context("file name")?;
            std::fs::copy(&path, to.join(name))
                .with_context(|| format!("copying {}", path.display()))?;
        }
    }
    // What the other carrier needs is only public: refuse to export from a directory
    // whose roots are missing rather than hand over an empty MSP.
    if pem_files(&out.join("cacerts"))?.is_empty() {
        bail!("{} has no cacerts/*.pem", args.msp_dir.display());
    }
    println!("exported public MSP to {}", out.display());
    Ok(())
}

fn check(
    current: &ChannelConfig,
    envelope: &ConfigUpdateEnvelope,
) -> Result<netsettle_msp::AcceptedUpdate> {
    let msps = ChannelMsps::from_config(current)?;
    Ok(check_config_update(current, &msps, envelope, now_unix()?)?)
}

/// Writes an update to `out` that changes organisation `org` of the configuration in
/// force with `edit`.
fn update_org(
    source: &ConfigSource,
    org: &str,
    out: &Path,
    edit: impl FnOnce(&mut OrgConfig) -> Result<()>,
) -> Result<()> {
    let (current, _) = current_config(source)?;
    let mut config = current.clone();
    let entry = config
        .orgs
        .iter_mut()
        .find(|o| o.msp_id == org)
        .with_context(|| format!("organisation {org} is not on the channel"))?;
    edit(entry)?;
    write_update(&current, config, out)
}

fn write_update(current: &ChannelConfig, mut config: ChannelConfig, out: &Path) -> Result<()> {
    config.sequence = current
        .sequence
        .checked_add(1)
        .context("config sequence overflow")?;
    let envelope = ConfigUpdateEnvelope {
        update: ConfigUpdate {
            channel: current.channel.clone(),
            config,
        },
        signatures: Vec::new(),
    };
    write_json(out, &envelope)?;
    println!(
        "wrote update to sequence {} at {}",
        envelope.update.config.sequence,
        out.display()
    );
    Ok(())
}

fn genesis(
    profile_path: &Path,
    base: Option<&Path>,
    signer: &SignerArgs,
    out: &Path,
    ledger: Option<&Path>,
) -> Result<()> {
    let base = match base {
        Some(base) => base.to_path_buf(),
        None => profile_path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default(),
    };
    let profile: ConsortiumProfile = toml::from_str(&read_text(profile_path)?)
        .with_context(|| format!("parsing profile {}", profile_path.display()))?;
    let material = read_profile_material(&profile, &base)?;
    // The conversion also builds the MSPs, proving every root and CRL parses before
    // anything is written.
    let config = profile
        .channel_config(&material)
        .with_context(|| format!("profile {}", profile_path.display()))?;
    let (key, identity) = load_signer(signer)?;
    let envelope = config_envelope(
        &key,
        &identity,
        ConfigEnvelope {
            config,
            last_update: None,
        },
    )?;
    let mut block = Block::new(0, Hash::default(), vec![envelope], 0)?;
    block.sign(&key, identity)?;
    std::fs::write(out, netsettle_protocol::encode(&block)?)
        .with_context(|| format!("writing {}", out.display()))?;
    println!(
        "genesis block {} written to {}",
        block.hash(),
        out.display()
    );
    if let Some(ledger) = ledger {
        block.metadata.validation_codes = vec![ValidationCode::Valid];
        let ledger_handle = Ledger::open(ledger)?;
        let info = ledger_handle.commit_block(&block)?;
        println!(
            "ledger {} started at height {}",
            ledger.display(),
            info.height
        );
    }
    Ok(())
}

fn apply(ledger_path: &Path, update_path: &Path, signer: &SignerArgs) -> Result<()> {
    let ledger = Ledger::open(ledger_path)?;
    let (current, last_config_block) = ledger
        .config_in_force()?
        .context("ledger is empty: start it with configtx genesis")?;
    let update = read_update(update_path)?;
    let accepted = check(&current, &update)?;
    let (key, identity) = load_signer(signer)?;
    let info = ledger.chain_info()?;
    let previous_hash = info
        .current_hash
        .context("ledger is empty: start it with configtx genesis")?;
    let envelope = config_envelope(
        &key,
        &identity,
        ConfigEnvelope {
            config: accepted.config.clone(),
            last_update: Some(update),
        },
    )?;
    let mut block = Block::new(info.height, previous_hash, vec![envelope], info.height)?;
    block.sign(&key, identity)?;
    block.metadata.validation_codes = vec![ValidationCode::Valid];
    let after = ledger.commit_block(&block)?;
    println!(
        "config sequence {} in force from block {} (previous config block {last_config_block}); height {}",
        accepted.config.sequence, info.height, after.height
    );
    Ok(())
}

fn submit(client: &ClientArgs, update_path: &Path) -> Result<()> {
    let update = read_update(update_path)?;
    runtime()?.block_on(async {
        let (gateway, signer) = connect(client).await?;
        let outcome = gateway.submit_config(&signer, update).await;
        gateway.close().await;
        let committed = outcome.context("the config update was not put in force")?;
        match committed.config_tx {
            Some(tx_id) => {
                let mut blocks: Vec<String> = committed
                    .peers
                    .iter()
                    .map(|(_, block)| block.to_string())
                    .collect();
                blocks.dedup();
                println!(
                    "config sequence {} in force: tx={tx_id} committed by {} {} peer(s) in block {}",
                    committed.sequence,
                    committed.peers.len(),
                    signer.identity().msp_id,
                    blocks.join(", ")
                );
            }
            None => println!(
                "config sequence {} ordered; the orderer did not name its config transaction, \
                 so the peers' commit is not confirmed",
                committed.sequence
            ),
        }
        Ok(())
    })
}

/// Reads a CRL in PEM or DER.
fn read_crl(path: &Path) -> Result<Crl> {
    let bytes = read_bounded(
        path,
        netsettle_protocol::limits::CRL_DER_BYTES_MAX.saturating_mul(2),
    )?;
    let crl = match std::str::from_utf8(&bytes) {
        Ok(text) if text.contains("-----BEGIN") => Crl::from_pem(text),
        _ => Crl::from_der(&bytes),
    };
    crl.with_context(|| format!("parsing CRL {}", path.display()))
}

/// Puts `crl` among `crls_der`: it replaces the CRL of the same issuer, or is added.
fn put_crl(crls_der: &mut Vec<Vec<u8>>, crl: &Crl) -> Result<()> {
    let mut replaced = false;
    for existing in crls_der.iter_mut() {
        let same_issuer = Crl::from_der(existing)
            .with_context(|| "a CRL in force does not parse")?
            .issuer_dn()
            == crl.issuer_dn();
        if same_issuer {
            *existing = crl.der().to_vec();
            replaced = true;
        }
    }
    if !replaced {
        crls_der.push(crl.der().to_vec());
    }
    Ok(())
}

fn config_envelope(
    key: &PrivateKey,
    creator: &Identity,
    config: ConfigEnvelope,
) -> Result<Envelope> {
    let mut nonce = [0u8; netsettle_protocol::limits::NONCE_BYTES];
    netsettle_smcrypto::random_bytes(&mut nonce)?;
    let header = Header {
        channel: config.config.channel.clone(),
        creator: creator.clone(),
        nonce: Nonce(nonce),
        timestamp: Timestamp {
            unix_time_ms: u64::try_from(now_unix()?)?.saturating_mul(1000),
        },
    };
    Ok(Envelope::sign(
        key,
        Payload::Config {
            header,
            config: Box::new(config),
        },
    )?)
}

/// The configuration in force and the number of the block holding it.
fn current_config(source: &ConfigSource) -> Result<(ChannelConfig, u64)> {
    match (&source.block, &source.from_ledger) {
        (Some(path), _) => {
            let bytes =
                std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
            let block: Block = netsettle_protocol::decode(&bytes)
                .with_context(|| format!("decoding block {}", path.display()))?;
            let config = block
                .config()
                .with_context(|| format!("{} is not a config block", path.display()))?;
            Ok((config.clone(), block.header.number))
        }
        (None, Some(path)) => Ledger::open_read_only(path)?
            .config_in_force()?
            .with_context(|| format!("ledger {} is empty", path.display())),
        (None, None) => bail!("give --block or --from-ledger"),
    }
}

fn load_signer(signer: &SignerArgs) -> Result<(PrivateKey, Identity)> {
    read_signer(&signer.key, &signer.cert, &signer.msp_id)
}

fn read_update(path: &Path) -> Result<ConfigUpdateEnvelope> {
    serde_json::from_str(&read_text(path)?)
        .with_context(|| format!("parsing update {}", path.display()))
}

fn write_json<T: serde::Serialize>(path: &Path, value: &T) -> Result<()> {
    let text = serde_json::to_string_pretty(value)?;
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

fn pem_files(dir: &Path) -> Result<Vec<PathBuf>> {
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let path = entry?.path();
        if path
            .extension()
            .is_some_and(|ext| ext == "pem" || ext == "crt")
        {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// Reads what the profile names, relative to `base`: each organisation's MSP directory
/// and each consenter's TLS certificate.
fn read_profile_material(profile: &ConsortiumProfile, base: &Path) -> Result<ProfileMaterial> {
    let mut material = ProfileMaterial::default();
    for org in &profile.orgs {
        let dir = base.join(&org.msp_dir);
        let org_material = OrgMaterial {
            root_certs_der: read_certs_der(&dir.join("cacerts"))?,
            intermediate_certs_der: read_certs_der(&dir.join("intermediatecerts"))?,
            tls_root_certs_der: read_certs_der(&dir.join("tlscacerts"))?,
            crls_der: read_crls_der(&dir.join("crls"))?,
        };
        material.orgs.insert(org.msp_id.clone(), org_material);
    }
    for consenter in &profile.consenters {
        let cert = read_certificate(&base.join(&consenter.tls_cert))?;
        material
            .consenter_tls_certs_der
            .insert(consenter.id, cert.der().to_vec());
    }
    Ok(material)
}

fn read_certs_der(dir: &Path) -> Result<Vec<Vec<u8>>> {
    let mut ders = Vec::new();
    for path in pem_files(dir)? {
        for cert in Certificate::from_pem_bundle(&read_text(&path)?)
            .with_context(|| format!("parsing {}", path.display()))?
        {
            ders.push(cert.der().to_vec());
        }
    }
    Ok(ders)
}

fn read_crls_der(dir: &Path) -> Result<Vec<Vec<u8>>> {
    pem_files(dir)?
        .iter()
        .map(|path| {
            let crl = Crl::from_pem(&read_text(path)?)
                .with_context(|| format!("parsing {}", path.display()))?;
            Ok(crl.der().to_vec())
        })
        .collect()
}
