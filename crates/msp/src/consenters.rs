//! Who the consenters of a channel are on the network: each is known by the TLS
//! certificate the channel config lists for it, so a Raft message or a block request can
//! only reach (and only come from) the consenter the config names.

use std::collections::BTreeMap;

use netsettle_protocol::ChannelConfig;
use netsettle_smcrypto::PublicKey;
use netsettle_smcrypto::x509::Certificate;

use crate::MspError;

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
