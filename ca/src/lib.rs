//! The CA role of netsettle: each carrier's certificate authority, which issues SM2
//! (SM2-with-SM3 signed) certificates for its orderers, peers, admins and clients, and
//! revokes them.
//!
//! Three ways in:
//! - [`Authority`]: the CA directory as a library (init, register, enroll, re-enroll,
//!   revoke, CRL). No network.
//! - [`serve`]: the enrollment service over SM-TLS (RFC 8998), and [`CaClient`] for its
//!   clients. Used by `netsettle ca serve` and by a node config's CA role.
//! - [`bootstrap()`]: a whole organisation offline from a spec file (`configs/*.toml`),
//!   like Fabric's cryptogen.
//!
//! # CA directory (`netsettle ca init --dir DIR`)
//!
//! ```text
//! DIR/ca.pem            root certificate (self-signed, cA, pathLen 0); give it to every
//!                       node and to the other carrier
//! DIR/ca.key            root private key, PKCS#8 PEM, mode 0600
//! DIR/tls/cert.pem      the enrollment server's TLS certificate (no role OU,
//!                       serverAuth only; SANs from --host)
//! DIR/tls/key.pem       its key, 0600
//! DIR/registry.toml     registrations (secrets as salted SM3 digests) and every issued
//!                       serial, mode 0600, rewritten atomically (write, fsync, rename)
//! DIR/crl.pem           the latest CRL, rewritten on every revocation and CRL request
//! DIR/admin/            the bootstrap admin's identity directory (`ca init` only);
//!                       move it to the admin's workstation
//! ```
//!
//! # Identity directory (written by `ca enroll --out` and by bootstrap)
//!
//! ```text
//! ID/msp/cacerts/ca.pem       the issuing root
//! ID/msp/tlscacerts/ca.pem    the TLS root (the same CA)
//! ID/msp/signcerts/cert.pem   signing certificate: CN = name, O = MSP id, OU = role
//!                             (+ key=value attribute OUs), no SANs
//! ID/msp/keystore/key.pem     signing key, 0600
//! ID/tls/ca.pem               the TLS root
//! ID/tls/cert.pem             TLS certificate: same subject, SANs = registered hosts,
//!                             serverAuth + clientAuth (one TLS certificate per node)
//! ID/tls/key.pem              TLS key, 0600
//! ```
//!
//! Signing and TLS use two different keys, so a TLS key on a front-end host never signs
//! transactions; each enrollment sends two CSRs. The CA ignores the CSR subject and sets
//! CN, O and OUs from the registration; a CSR may ask for SANs only among the hosts
//! registered for the identity.
//!
//! # Bootstrap output (`netsettle ca bootstrap --spec SPEC --out OUT`)
//!
//! ```text
//! OUT/ca/                            a CA directory as above (without admin/); every
//!                                    identity below is in its registry
//! OUT/msp/{cacerts,tlscacerts}/ca.pem, OUT/msp/crls/crl.pem
//!                                    the organisation's public MSP
//! OUT/orderers/NAME.DOMAIN/          identity directories; TLS SANs = NAME.DOMAIN + hosts
//! OUT/peers/NAME.DOMAIN/
//! OUT/users/NAME@DOMAIN/             admins and clients; TLS certificates without SANs
//! ```
//!
//! # Wire protocol
//!
//! SM-TLS 1.3 (`TLS_SM4_GCM_SM3`, `curveSM2`, `sm2sig_sm3`). The server offers client
//! authentication but does not require it: a client without a certificate may only send
//! `Enroll`; `Reenroll` and `Crl` need a certificate this CA issued that is not revoked;
//! `Register` and `Revoke*` need one whose role OU is `admin` for this CA's organisation.
//! Each message is a frame: 4-byte big-endian length, then the protocol codec's encoding
//! (`netsettle_protocol::encode`) of a [`wire::Request`] or [`wire::Response`]; at most 64 KiB per request and
//! 4 MiB per response, one response per request, several requests per connection
//! allowed. A refusal is `Response::Refused(`[`Refusal`]`)`, with its reason.
//!
//! What it leaves out: intermediate CAs, OCSP, and policy about what a role may do on the
//! channel (`netsettle-msp`).

mod authority;
mod bootstrap;
mod client;
mod error;
mod files;
mod layout;
pub mod limits;
mod registry;
mod server;
mod tls;
pub mod wire;

pub use authority::{
    Authority, COUNTRY, CRL_VALIDITY_SECONDS, Caller, Enrollment, Host, InitParams, Registration,
    RevokeTarget, csr_params, parse_hosts, validate_name,
};
pub use bootstrap::{
    BootstrappedIdentity, CaSpec, NodeSpec, OrgSpec, Spec, UserSpec, bootstrap, init_with_admin,
};
pub use client::{CaClient, Enrolled};
pub use error::{CaError, Refusal};
pub use layout::{CaLayout, IdentityFiles, write_identity};
pub use registry::{
    CertificateUsage, IdentityRecord, IssuedRecord, REGISTRY_FORMAT, Registry, RoleName,
    parse_reason, reason_from_code,
};
pub use server::{ServeConfig, handle, now_unix, serve};
pub use tls::RevokedSerials;
