//! Membership: who belongs to which organisation of a channel, in which role, and whether
//! a set of signers satisfies a policy.
//!
//! An [`Msp`] is one organisation as the channel configuration describes it (root and
//! intermediate CAs, CRLs, role OUs). [`ChannelMsps`] holds every organisation of one
//! config sequence, validates identities against the organisation they *claim* (a
//! certificate from the other carrier's CA under the wrong MSP id is refused), caches the
//! result (bounded), and evaluates [`netsettle_protocol::Policy`] values against validated
//! signers, explaining why a policy is not satisfied. [`ChannelState`] is the config in
//! force with its MSPs, as the orderer and the peer hold it; [`consenter_nodes`] names the
//! consenters by the TLS keys the config lists.
//!
//! [`ValidatedIdentity::attributes`] are the certificate's `key=value` subject OUs (the
//! CA's identity attributes, e.g. `department=finance`), parsed and bounded by
//! [`certificate_attributes`].
//!
//! [`IdentityLayout`] names the files of an identity directory (signing identity under
//! `msp/`, TLS identity under `tls/`) that the CA writes and everyone else reads.
//!
//! [`ConsortiumProfile`] turns the operators' consortium profile, with the MSP material
//! the caller read, into the genesis channel configuration.
//!
//! What it leaves out: fetching configs (the ledger and orderer do that) and networking.
//! Time is always a parameter (`at_unix`), so validation is deterministic and a committing
//! peer judges a transaction by the block's time, not its own clock.

mod attributes;
mod cache;
mod channel;
mod config_update;
mod consenters;
mod error;
mod layout;
mod org;
mod policy;
mod profile;

pub use attributes::{
    ATTRIBUTE_KEY_BYTES_MAX, ATTRIBUTE_VALUE_BYTES_MAX, ATTRIBUTES_MAX, certificate_attributes,
};
pub use channel::{ChannelMsps, ChannelState};
pub use config_update::{AcceptedUpdate, ConfigUpdateError, check_config_update};
pub use consenters::{BlockSignatureError, consenter_nodes, verify_consenter_signature};
pub use error::{MspError, PolicyError};
pub use layout::IdentityLayout;
pub use org::{Msp, ValidatedIdentity};
pub use policy::{Satisfied, default_org_policies};
pub use profile::{
    ConsortiumProfile, OrgMaterial, ProfileBatch, ProfileConsenter, ProfileError, ProfileMaterial,
    ProfileOrg,
};
