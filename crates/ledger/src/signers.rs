//! Which orderer signatures `verify` accepts on a block, under a channel configuration.
//!
//! A signature counts when all of these hold:
//! 1. the signer's MSP id names an organisation of the channel that runs at least one Raft
//!    consenter (only orderer organisations sign blocks);
//! 2. the signer's certificate is either a consenter's certificate itself (single-cert
//!    mode: a consenter signs with the one certificate it also uses for TLS), or was
//!    issued by one of that organisation's root or intermediate CA certificates (its
//!    signature verifies under the issuer's key);
//! 3. the SM2 signature verifies, with the key in the signer's certificate, over the bytes
//!    `Block::signing_bytes` defines (header and last-config index).
//!
//! Every signature on the block must count; an unsigned block fails in the caller. Role
//! OUs, validity periods and CRLs are `netsettle-msp`'s concern and are not judged here:
//! `verify` checks that the chain was built by the configured orderers, not that their
//! certificates are still good today.

use netsettle_protocol::{Block, ChannelConfig, Identity};
use netsettle_smcrypto::PublicKey;
use netsettle_smcrypto::x509::Certificate;

/// Checks every orderer signature on `block` against `config`; the error says which
/// signature failed and why.
pub(crate) fn check_orderer_signatures(
    config: &ChannelConfig,
    block: &Block,
) -> Result<(), String> {
    for (index, signature) in block.metadata.signatures.iter().enumerate() {
        let key = authorized_key(config, &signature.signer)
            .map_err(|reason| format!("signature {index}: {reason}"))?;
        block
            .verify_signature(index, &key)
            .map_err(|error| format!("signature {index}: {error}"))?;
    }
    Ok(())
}

/// The public key of `signer`, if the configuration authorizes it to sign blocks.
fn authorized_key(config: &ChannelConfig, signer: &Identity) -> Result<PublicKey, String> {
    let msp_id = &signer.msp_id;
    let org = config
        .org(msp_id)
        .ok_or_else(|| format!("signer's organisation {msp_id} is not on the channel"))?;
    let consenters = config
        .orderer
        .consenters
        .iter()
        .filter(|consenter| &consenter.msp_id == msp_id);
    let mut is_consenter_cert = false;
    let mut runs_consenter = false;
    for consenter in consenters {
        runs_consenter = true;
        is_consenter_cert |= consenter.tls_cert_der == signer.cert_der;
    }
    if !runs_consenter {
        return Err(format!("organisation {msp_id} runs no consenter"));
    }
    let certificate = Certificate::from_der(&signer.cert_der)
        .map_err(|error| format!("signer's certificate: {error}"))?;
    let issued_by_org = || {
        org.root_certs_der
            .iter()
            .chain(&org.intermediate_certs_der)
            .any(|issuer| is_issued_by(&certificate, issuer))
    };
    if !is_consenter_cert && !issued_by_org() {
        return Err(format!(
            "signer's certificate is neither a consenter's nor issued by {msp_id}'s CAs"
        ));
    }
    Ok(certificate.public_key().clone())
}

/// Whether `certificate` names `issuer_der`'s subject as its issuer and its signature
/// verifies under the issuer's key. An issuer that does not parse issues nothing.
fn is_issued_by(certificate: &Certificate, issuer_der: &[u8]) -> bool {
    let Ok(issuer) = Certificate::from_der(issuer_der) else {
        return false;
    };
    certificate.issuer_dn() == issuer.subject_dn()
        && certificate.verify_signed_by(issuer.public_key()).is_ok()
}
