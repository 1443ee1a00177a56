//! Who the consenters of a channel are on the network: each is known by the TLS
//! certificate the channel config lists for it, so a Raft message or a block request can
//! only reach (and only come from) the consenter the config names; and which signatures
//! on a block are a consenter's ([`verify_consenter_signature`]), the one rule orderers
//! (catch-up) and peers (validation, gossip) judge blocks by.

use std::collections::BTreeMap;

use netsettle_protocol::{Block, ChannelConfig, Role};
use netsettle_smcrypto::PublicKey;
use netsettle_smcrypto::x509::Certificate;

use crate::{ChannelState, MspError};

/// Every consenter of `config` by id, named by `node_of` the SM2 key of its TLS
/// certificate (the network crate's `NodeId::from_public_key`; the network layer sits
/// above this crate, so it passes its naming in).
pub fn consenter_nodes<N>(
    config: &ChannelConfig,
    node_of: impl Fn(&PublicKey) -> N,
) -> Result<BTreeMap<u64, N>, MspError> {
    config
        .orderer
        .consenters
        .iter()
        .map(|consenter| {
            let certificate = Certificate::from_der(&consenter.tls_cert_der).map_err(|error| {
                MspError::BadConfig {
                    msp_id: consenter.msp_id.clone(),
                    reason: format!("consenter {} TLS certificate: {error}", consenter.id),
                }
            })?;
            Ok((consenter.id, node_of(certificate.public_key())))
        })
        .collect()
}

/// Why no signature of a block is a consenter's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BlockSignatureError {
    /// The block carries no orderer signature.
    #[error("block {number} carries no orderer signature")]
    Unsigned {
        /// The block's number.
        number: u64,
    },
    /// No signature is a valid one of a consenter of the configuration in force (bad
    /// signature, an orderer-role certificate that is not a consenter, not an orderer,
    /// not valid at the block's time).
    #[error("block {number} has no valid consenter signature: {reason}")]
    NoConsenterSignature {
        /// The block's number.
        number: u64,
        /// Why each signature was refused.
        reason: String,
    },
}

/// The id of the consenter of `channel` whose SM2 signature on `block` verifies, with its
/// certificate judged at `at_unix` (the block's own time, never a client's).
///
/// A consenter is recognised by organisation and name: the signing certificate (role
/// orderer, valid in the MSP it claims) has the common name of the TLS certificate the
/// configuration lists for that consenter of that organisation (each orderer has a
/// signing and a TLS certificate under one name). An orderer-role certificate a carrier
/// mints under another name is no consenter. What this cannot tell apart: a carrier
/// signing with a certificate it minted under the name of one of its own consenters; it
/// holds its own consenters' keys anyway, so a block needs no more than one consenter
/// signature to be trusted as far as that carrier is.
pub fn verify_consenter_signature(
    channel: &ChannelState,
    block: &Block,
    at_unix: i64,
) -> Result<u64, BlockSignatureError> {
    let number = block.header.number;
    if block.metadata.signatures.is_empty() {
        return Err(BlockSignatureError::Unsigned { number });
    }
    let mut reasons = Vec::new();
    for (index, signature) in block.metadata.signatures.iter().enumerate() {
        let signer = match channel.msps.validate(&signature.signer, at_unix) {
            Ok(signer) if signer.role == Role::Orderer => signer,
            Ok(signer) => {
                reasons.push(format!("{} is not an orderer", signer.cert.subject_dn()));
                continue;
            }
            Err(error) => {
                reasons.push(error.to_string());
                continue;
            }
        };
        let Some(consenter) = consenter_named(channel, &signature.signer.msp_id, &signer.cert)
        else {
            reasons.push(format!(
                "{} is not a consenter of config {}",
                signer.cert.subject_dn(),
                channel.config.sequence
            ));
            continue;
        };
        match block.verify_signature(index, signer.cert.public_key()) {
            Ok(()) => return Ok(consenter),
            Err(error) => reasons.push(format!("consenter {consenter}: {error}")),
        }
    }
    Err(BlockSignatureError::NoConsenterSignature {
        number,
        reason: reasons.join("; "),
    })
}

/// The id of the consenter of `msp_id` whose TLS certificate has the common name of
/// `cert`.
fn consenter_named(channel: &ChannelState, msp_id: &str, cert: &Certificate) -> Option<u64> {
    let name = cert.common_name()?;
    channel
        .config
        .orderer
        .consenters
        .iter()
        .filter(|consenter| consenter.msp_id == msp_id)
        .find(|consenter| {
            Certificate::from_der(&consenter.tls_cert_der)
                .ok()
                .and_then(|tls| tls.common_name())
                .is_some_and(|tls_name| tls_name == name)
        })
        .map(|consenter| consenter.id)
}
