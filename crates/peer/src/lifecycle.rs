//! The contract lifecycle, in Fabric's shape, and the registry of native contracts.
//!
//! - **Install** ([`ContractRegistry::install`]): a native contract compiled into the
//!   binary becomes available on this peer under its name, version and package digest.
//! - **Approve**: each organisation's admin submits a transaction to the system contract
//!   [`LIFECYCLE_NAMESPACE`] (`approve`) naming a [`ContractDefinition`]: name, version,
//!   sequence, endorsement policy, package digest. It is recorded under that organisation.
//! - **Commit**: an admin submits `commit` with the same definition; it succeeds once
//!   every organisation of the channel approved exactly that definition, and puts it in
//!   force from the block that commits it.
//!
//! Definitions and approvals are ordinary world state in the `_lifecycle` namespace,
//! written by ordinary endorsed, ordered and validated transactions, so both carriers'
//! ledgers agree on them and their history is auditable. Lifecycle transactions are
//! endorsed under the channel's Endorsement policy (`MAJORITY Endorsement`: both carriers).
//! Invoking a contract that has no committed definition, or whose definition names
//! another version or package than the one installed, fails at endorsement and, should a
//! client submit it anyway, is marked `UNKNOWN_CONTRACT` at validation.

use std::collections::BTreeMap;
use std::sync::Arc;

use netsettle_protocol::limits::NAME_BYTES_MAX;
use netsettle_protocol::{ContractId, InvalidMessage, Policy, Role, Wire, decode, encode};
use netsettle_smcrypto::Hash;

use crate::limits::CONTRACTS_MAX;
use netsettle_contract::{Context, Contract, ContractError, composite_key};

/// The namespace of the lifecycle system contract; contract names may not start with `_`.
pub const LIFECYCLE_NAMESPACE: &str = "_lifecycle";

/// The version clients name when they call the lifecycle system contract.
pub const LIFECYCLE_VERSION: &str = "1";

/// Bytes of one encoded definition: names, digest and a bounded policy.
const DEFINITION_BYTES_MAX: usize = 64 * 1024;

/// A contract as the channel runs it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ContractDefinition {
    /// The contract's name, its state namespace.
    pub name: String,
    /// The version in force.
    pub version: String,
    /// 1 for the first definition, one more for each redefinition.
    pub sequence: u64,
    /// Who must endorse its transactions.
    pub endorsement_policy: Policy,
    /// The package digest every peer's installed contract must have.
    pub package_digest: Hash,
}

impl ContractDefinition {
    /// The contract id this definition puts in force.
    pub fn id(&self) -> ContractId {
        ContractId {
            name: self.name.clone(),
            version: self.version.clone(),
        }
    }
}

impl Wire for ContractDefinition {
    const NAME: &'static str = "contract definition";
    const BYTES_MAX: usize = DEFINITION_BYTES_MAX;

    fn check(&self) -> Result<(), InvalidMessage> {
        for (what, name) in [
            ("definition name", &self.name),
            ("definition version", &self.version),
        ] {
            if name.is_empty() {
                return Err(InvalidMessage::Empty { what });
            }
            if name.len() > NAME_BYTES_MAX {
                return Err(InvalidMessage::TooLong {
                    what,
                    max: NAME_BYTES_MAX,
                    actual: name.len(),
                });
            }
        }
        if self.name.starts_with('_') || self.name.contains('\u{0}') {
            return Err(InvalidMessage::Inconsistent {
                what: "contract names may not start with '_' or contain 0x00",
            });
        }
        if self.sequence == 0 {
            return Err(InvalidMessage::Inconsistent {
                what: "definition sequences start at 1",
            });
        }
        self.endorsement_policy.check()
    }
}

/// The state key of the definition in force for `name`.
pub fn definition_key(name: &str) -> Result<String, ContractError> {
    composite_key("definition", &[name])
}

/// The state key of `msp_id`'s approval of sequence `sequence` of `name`.
pub fn approval_key(name: &str, sequence: u64, msp_id: &str) -> Result<String, ContractError> {
    composite_key("approval", &[name, &sequence.to_string(), msp_id])
}

/// Decodes a stored definition; a bad value is the peer's problem, not the caller's.
pub fn decode_definition(bytes: &[u8]) -> Result<ContractDefinition, ContractError> {
    decode(bytes).map_err(|error| ContractError::State(format!("stored definition: {error}")))
}

/// The lifecycle system contract. It needs the channel's organisations to know whose
/// approvals a commit requires, so the endorser builds one per call from the MSPs in force.
#[derive(Debug, Clone)]
pub struct Lifecycle {
    msp_ids: Vec<String>,
}

impl Lifecycle {
    /// The lifecycle of a channel with these organisations.
    pub fn new(msp_ids: Vec<String>) -> Self {
        Lifecycle { msp_ids }
    }

    fn definition_arg(args: &[Vec<u8>]) -> Result<ContractDefinition, ContractError> {
        let [bytes] = args else {
            return Err(ContractError::bad_request(
                "expected one argument: the encoded definition",
            ));
        };
        decode(bytes).map_err(|error| ContractError::bad_request(error.to_string()))
    }

    fn require_admin(ctx: &dyn Context) -> Result<(), ContractError> {
        if ctx.creator().role != Role::Admin {
            return Err(ContractError::forbidden(
                "only an organisation admin may approve or commit a definition",
            ));
        }
        Ok(())
    }

    /// The sequence a new definition of `name` must carry.
    fn next_sequence(ctx: &mut dyn Context, name: &str) -> Result<u64, ContractError> {
        let current = match ctx.get(&definition_key(name)?)? {
            Some(bytes) => decode_definition(&bytes)?.sequence,
            None => 0,
        };
        current
            .checked_add(1)
            .ok_or_else(|| ContractError::conflict("definition sequence exhausted"))
    }

    fn check_sequence(
        ctx: &mut dyn Context,
        definition: &ContractDefinition,
    ) -> Result<(), ContractError> {
        let expected = Self::next_sequence(ctx, &definition.name)?;
        if definition.sequence != expected {
            return Err(ContractError::conflict(format!(
                "definition of {} must have sequence {expected}, not {}",
                definition.name, definition.sequence
            )));
        }
        Ok(())
    }

    fn approve(&self, ctx: &mut dyn Context, args: &[Vec<u8>]) -> Result<Vec<u8>, ContractError> {
        Self::require_admin(ctx)?;
        let definition = Self::definition_arg(args)?;
        Self::check_sequence(ctx, &definition)?;
        let msp_id = ctx.creator().msp_id.clone();
        let key = approval_key(&definition.name, definition.sequence, &msp_id)?;
        let bytes = encode(&definition).map_err(|error| ContractError::State(error.to_string()))?;
        ctx.put(&key, &bytes)?;
        ctx.emit_event("DefinitionApproved", definition.name.as_bytes())?;
        Ok(Vec::new())
    }

    fn commit(&self, ctx: &mut dyn Context, args: &[Vec<u8>]) -> Result<Vec<u8>, ContractError> {
        Self::require_admin(ctx)?;
        let definition = Self::definition_arg(args)?;
        Self::check_sequence(ctx, &definition)?;
        let mut missing = Vec::new();
        for msp_id in &self.msp_ids {
            let key = approval_key(&definition.name, definition.sequence, msp_id)?;
            let approved = match ctx.get(&key)? {
                Some(bytes) => decode_definition(&bytes)? == definition,
                None => false,
            };
            if !approved {
                missing.push(msp_id.as_str());
            }
        }
        if !missing.is_empty() {
            return Err(ContractError::conflict(format!(
                "definition {} sequence {} lacks the approval of {}",
                definition.name,
                definition.sequence,
                missing.join(", ")
            )));
        }
        let bytes = encode(&definition).map_err(|error| ContractError::State(error.to_string()))?;
        ctx.put(&definition_key(&definition.name)?, &bytes)?;
        ctx.emit_event("DefinitionCommitted", definition.name.as_bytes())?;
        Ok(Vec::new())
    }

    fn query(&self, ctx: &mut dyn Context, args: &[Vec<u8>]) -> Result<Vec<u8>, ContractError> {
        let [name] = args else {
            return Err(ContractError::bad_request(
                "expected one argument: the name",
            ));
        };
        let name = core::str::from_utf8(name)
            .map_err(|_| ContractError::bad_request("the name is not UTF-8"))?;
        ctx.get(&definition_key(name)?)?
            .ok_or_else(|| ContractError::not_found(format!("no definition of {name}")))
    }
}

impl Contract for Lifecycle {
    fn id(&self) -> ContractId {
        ContractId {
            name: LIFECYCLE_NAMESPACE.to_owned(),
            version: LIFECYCLE_VERSION.to_owned(),
        }
    }

    fn package_digest(&self) -> Hash {
        netsettle_smcrypto::sm3(b"netsettle lifecycle 1")
    }

    fn invoke(
        &self,
        ctx: &mut dyn Context,
        function: &str,
        args: &[Vec<u8>],
    ) -> Result<Vec<u8>, ContractError> {
        match function {
            "approve" => self.approve(ctx, args),
            "commit" => self.commit(ctx, args),
            "query" => self.query(ctx, args),
            _ => Err(ContractError::bad_request(format!(
                "the lifecycle has no function {function:?} (approve, commit, query)"
            ))),
        }
    }
}

/// Why a contract cannot be installed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InstallError {
    /// Another contract is installed under this name.
    #[error("a contract named {name:?} is already installed")]
    AlreadyInstalled {
        /// The name.
        name: String,
    },
    /// The name is reserved or malformed.
    #[error("{name:?} is not a valid contract name")]
    BadName {
        /// The name.
        name: String,
    },
    /// The registry is full.
    #[error("at most {max} contracts may be installed")]
    Full {
        /// [`CONTRACTS_MAX`].
        max: usize,
    },
}

/// What `install` reports: the name, version and package digest now available.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstalledContract {
    /// Name and version.
    pub id: ContractId,
    /// The package digest a definition must name.
    pub package_digest: Hash,
}

/// The native contracts installed on this peer, by name.
#[derive(Clone, Default)]
pub struct ContractRegistry {
    contracts: BTreeMap<String, Arc<dyn Contract>>,
}

impl core::fmt::Debug for ContractRegistry {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_list().entries(self.contracts.keys()).finish()
    }
}

impl ContractRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes `contract` available on this peer.
    pub fn install(
        &mut self,
        contract: Arc<dyn Contract>,
    ) -> Result<InstalledContract, InstallError> {
        let id = contract.id();
        if id.name.is_empty()
            || id.name.starts_with('_')
            || id.name.len() > NAME_BYTES_MAX
            || id.check().is_err()
        {
            return Err(InstallError::BadName { name: id.name });
        }
        if self.contracts.contains_key(&id.name) {
            return Err(InstallError::AlreadyInstalled { name: id.name });
        }
        if self.contracts.len() >= CONTRACTS_MAX {
            return Err(InstallError::Full { max: CONTRACTS_MAX });
        }
        let installed = InstalledContract {
            package_digest: contract.package_digest(),
            id: id.clone(),
        };
        self.contracts.insert(id.name, contract);
        Ok(installed)
    }

    /// The installed contract named `name`.
    pub fn get(&self, name: &str) -> Option<&Arc<dyn Contract>> {
        self.contracts.get(name)
    }

    /// Every installed contract, by name.
    pub fn installed(&self) -> Vec<InstalledContract> {
        self.contracts
            .values()
            .map(|contract| InstalledContract {
                id: contract.id(),
                package_digest: contract.package_digest(),
            })
            .collect()
    }
}
