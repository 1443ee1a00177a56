//! The CA's persistent memory: registered identities and every certificate it issued, in
//! one TOML file (`registry.toml`) rewritten atomically after each change. Enrollment
//! secrets are stored only as salted SM3 digests, and forgotten once used.
//!
//! A single small file is enough: a carrier registers tens of identities, and a whole
//! rewrite per change keeps the file consistent without a database (only the ledger may
//! open RocksDB).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use netsettle_smcrypto::x509::{RevocationReason, Role};

use crate::CaError;
use crate::files::{self, SECRET_FILE_MODE};
use crate::limits::{IDENTITIES_MAX, ISSUED_CERTIFICATES_MAX, REGISTRY_FILE_BYTES_MAX};

/// Version of the registry format this build reads and writes.
pub const REGISTRY_FORMAT: u32 = 1;

/// The role names as written in the registry and on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RoleName {
    /// [`Role::Admin`].
    Admin,
    /// [`Role::Peer`].
    Peer,
    /// [`Role::Orderer`].
    Orderer,
    /// [`Role::Client`].
    Client,
}

impl From<RoleName> for Role {
    fn from(role: RoleName) -> Role {
        match role {
            RoleName::Admin => Role::Admin,
            RoleName::Peer => Role::Peer,
            RoleName::Orderer => Role::Orderer,
            RoleName::Client => Role::Client,
        }
    }
}

impl From<Role> for RoleName {
    fn from(role: Role) -> RoleName {
        match role {
            Role::Admin => RoleName::Admin,
            Role::Peer => RoleName::Peer,
            Role::Orderer => RoleName::Orderer,
            Role::Client => RoleName::Client,
        }
    }
}

/// Which key of an identity a certificate certifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CertificateUsage {
    /// The signing (MSP) certificate: transactions, endorsements, blocks.
    Sign,
    /// The TLS certificate: one per node, used for both client and server ends.
    Tls,
}

/// One registered identity.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct IdentityRecord {
    /// Name; the certificates' CN.
    pub name: String,
    /// Role; the certificates' role OU.
    pub role: RoleName,
    /// DNS names and IP addresses the TLS certificate names.
    #[serde(default)]
    pub hosts: Vec<String>,
    /// Attributes, written as `key=value` OUs into the certificates.
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
    /// Salt of the enrollment secret digest (hex); absent once the secret is used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_salt: Option<String>,
    /// SM3(salt ‖ secret), hex; absent once the secret is used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_sm3: Option<String>,
    /// Wrong secrets tried since registration.
    #[serde(default)]
    pub failed_attempts: u32,
    /// Times this identity enrolled or re-enrolled.
    #[serde(default)]
    pub enrollments: u32,
    /// When this identity last re-enrolled (unix seconds, oldest first, at most
    /// `REENROLLMENTS_PER_WINDOW_MAX`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reenrolled_at: Vec<i64>,
    /// Revoked identities may not enroll or re-enroll again.
    #[serde(default)]
    pub revoked: bool,
    /// Who registered it (`init`, `bootstrap`, or the registrar's CN).
    pub registered_by: String,
}

/// One certificate this CA issued.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct IssuedRecord {
    /// Serial number, lowercase hex of the positive big-endian magnitude.
    pub serial: String,
    /// The identity it was issued to (the CN).
    pub name: String,
    /// Which key it certifies.
    pub usage: CertificateUsage,
    /// notAfter, unix seconds.
    pub not_after: i64,
    /// When it was revoked, unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<i64>,
    /// RFC 5280 CRLReason code, when revoked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<u8>,
}

/// Everything the CA remembers.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Registry {
    /// [`REGISTRY_FORMAT`].
    pub format: u32,
    /// The organisation (MSP id) this CA certifies.
    pub msp_id: String,
    /// Validity of issued end-entity certificates, days.
    pub cert_days: u32,
    /// Number of the last CRL generated; the next one gets `crl_number + 1`.
    pub crl_number: u64,
    /// Registered identities.
    #[serde(default)]
    pub identities: Vec<IdentityRecord>,
    /// Issued certificates.
    #[serde(default)]
    pub certificates: Vec<IssuedRecord>,
}

impl Registry {
    /// An empty registry for `msp_id`.
    pub fn new(msp_id: String, cert_days: u32) -> Registry {
        Registry {
            format: REGISTRY_FORMAT,
            msp_id,
            cert_days,
            crl_number: 0,
            identities: Vec::new(),
            certificates: Vec::new(),
        }
    }

    /// Read and check a registry file.
    pub fn load(path: &Path) -> Result<Registry, CaError> {
        let text = files::read_text_limited(path, REGISTRY_FILE_BYTES_MAX)?;
        let registry: Registry = toml::from_str(&text).map_err(|err| CaError::Registry {
            path: path.to_owned(),
            detail: err.to_string(),
        })?;
        registry.check().map_err(|detail| CaError::Registry {
            path: path.to_owned(),
            detail,
        })?;
        Ok(registry)
    }

    /// Write the registry atomically (mode 0600: it holds secret digests).
    pub fn save(&self, path: &Path) -> Result<(), CaError> {
        // A registry we could not read back must never reach the disk.
        assert!(
            self.check().is_ok(),
            "registry invariants hold before saving"
        );
        let text = toml::to_string(self).map_err(|err| CaError::Registry {
            path: path.to_owned(),
            detail: err.to_string(),
        })?;
        files::write_atomic(path, text.as_bytes(), SECRET_FILE_MODE)
    }

    fn check(&self) -> Result<(), String> {
        if self.format != REGISTRY_FORMAT {
            return Err(format!(
                "format {} (this build reads {REGISTRY_FORMAT})",
                self.format
            ));
        }
        if self.identities.len() > IDENTITIES_MAX {
            return Err(format!("more than {IDENTITIES_MAX} identities"));
        }
        if self.certificates.len() > ISSUED_CERTIFICATES_MAX {
            return Err(format!(
                "more than {ISSUED_CERTIFICATES_MAX} issued certificates"
            ));
        }
        let mut names = BTreeSet::new();
        if let Some(duplicate) = self
            .identities
            .iter()
            .find(|identity| !names.insert(identity.name.as_str()))
        {
            return Err(format!("identity {:?} registered twice", duplicate.name));
        }
        let mut serials = BTreeSet::new();
        if let Some(duplicate) = self
            .certificates
            .iter()
            .find(|cert| !serials.insert(cert.serial.as_str()))
        {
            return Err(format!("serial {} recorded twice", duplicate.serial));
        }
        if let Some(bad) = self.certificates.iter().find(|cert| {
            cert.reason
                .is_some_and(|code| reason_from_code(code).is_none())
        }) {
            return Err(format!("serial {} has an unknown reason code", bad.serial));
        }
        Ok(())
    }

    /// The identity called `name`.
    pub fn identity(&self, name: &str) -> Option<&IdentityRecord> {
        self.identities
            .iter()
            .find(|identity| identity.name == name)
    }

    pub(crate) fn identity_mut(&mut self, name: &str) -> Option<&mut IdentityRecord> {
        self.identities
            .iter_mut()
            .find(|identity| identity.name == name)
    }

    /// The issued certificate with this serial (lowercase hex).
    pub fn certificate(&self, serial_hex: &str) -> Option<&IssuedRecord> {
        self.certificates
            .iter()
            .find(|cert| cert.serial == serial_hex)
    }

    pub(crate) fn certificate_mut(&mut self, serial_hex: &str) -> Option<&mut IssuedRecord> {
        self.certificates
            .iter_mut()
            .find(|cert| cert.serial == serial_hex)
    }

    /// Serials (big-endian magnitudes) of every revoked certificate.
    pub fn revoked_serials(&self) -> BTreeSet<Vec<u8>> {
        self.certificates
            .iter()
            .filter(|cert| cert.revoked_at.is_some())
            .filter_map(|cert| hex::decode(&cert.serial).ok())
            .collect()
    }
}

/// The RFC 5280 CRLReason for a code; 7 is unassigned.
pub fn reason_from_code(code: u8) -> Option<RevocationReason> {
    Some(match code {
        0 => RevocationReason::Unspecified,
        1 => RevocationReason::KeyCompromise,
        2 => RevocationReason::CaCompromise,
        3 => RevocationReason::AffiliationChanged,
        4 => RevocationReason::Superseded,
        5 => RevocationReason::CessationOfOperation,
        6 => RevocationReason::CertificateHold,
        8 => RevocationReason::RemoveFromCrl,
        9 => RevocationReason::PrivilegeWithdrawn,
        10 => RevocationReason::AaCompromise,
        _ => return None,
    })
}

/// Parse a reason given by name (`keyCompromise`, `key-compromise`) or by number.
pub fn parse_reason(text: &str) -> Option<u8> {
    if let Ok(code) = text.parse::<u8>() {
        return reason_from_code(code).map(|_| code);
    }
    let normalised: String = text
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    let code = match normalised.as_str() {
        "unspecified" => 0,
        "keycompromise" => 1,
        "cacompromise" => 2,
        "affiliationchanged" => 3,
        "superseded" => 4,
        "cessationofoperation" => 5,
        "certificatehold" => 6,
        "removefromcrl" => 8,
        "privilegewithdrawn" => 9,
        "aacompromise" => 10,
        _ => return None,
    };
    Some(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_round_trips_through_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("registry.toml");
        let mut registry = Registry::new("UnicomMSP".to_owned(), 365);
        registry.identities.push(IdentityRecord {
            name: "peer0.unicom.example".to_owned(),
            role: RoleName::Peer,
            hosts: vec!["127.0.1.20".to_owned()],
            attributes: BTreeMap::from([("region".to_owned(), "north".to_owned())]),
            secret_salt: Some("00".to_owned()),
            secret_sm3: Some("11".to_owned()),
            failed_attempts: 1,
            enrollments: 0,
            reenrolled_at: vec![1_790_000_000],
            revoked: false,
            registered_by: "admin".to_owned(),
        });
        registry.certificates.push(IssuedRecord {
            serial: "0a".to_owned(),
            name: "peer0.unicom.example".to_owned(),
            usage: CertificateUsage::Tls,
            not_after: 10,
            revoked_at: Some(5),
            reason: Some(1),
        });
        registry.save(&path).unwrap();
        let loaded = Registry::load(&path).unwrap();
        assert_eq!(loaded, registry);
        assert_eq!(loaded.revoked_serials(), BTreeSet::from([vec![0x0a]]));
    }

    #[test]
    fn duplicate_names_are_refused_on_load() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("registry.toml");
        let text = r#"
format = 1
msp_id = "UnicomMSP"
cert_days = 365
crl_number = 0
[[identities]]
name = "a"
role = "peer"
registered_by = "x"
[[identities]]
name = "a"
role = "client"
registered_by = "x"
"#;
        std::fs::write(&path, text).unwrap();
        let err = Registry::load(&path).unwrap_err();
        assert!(err.to_string().contains("registered twice"), "{err}");
    }

    #[test]
    fn reasons_parse_by_name_and_number() {
        assert_eq!(parse_reason("keyCompromise"), Some(1));
        assert_eq!(parse_reason("cessation-of-operation"), Some(5));
        assert_eq!(parse_reason("4"), Some(4));
        assert_eq!(parse_reason("7"), None);
        assert_eq!(parse_reason("nonsense"), None);
    }
}
