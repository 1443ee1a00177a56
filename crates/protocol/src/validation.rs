//! Per-transaction verdicts of the committing peer, with Fabric's names. They are stored in
//! block metadata (not covered by the orderer's signature, since peers set them after
//! ordering) and in the ledger's tx-id index, so each code is pinned to one byte forever.

use core::fmt;

use crate::error::InvalidMessage;

macro_rules! validation_codes {
    ($($(#[$doc:meta])* $variant:ident = $code:literal, $name:literal;)*) => {
        /// Why a transaction in a block is valid or not. The byte values are part of the
        /// ledger format: never renumber, only append.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
        #[serde(into = "u8", try_from = "u8")]
        #[non_exhaustive]
        #[repr(u8)]
        pub enum ValidationCode {
            $($(#[$doc])* $variant = $code,)*
        }

        impl ValidationCode {
            /// Every code, in byte order.
            pub const ALL: &'static [ValidationCode] = &[$(ValidationCode::$variant,)*];

            /// The stored byte.
            pub fn to_byte(self) -> u8 {
                match self {
                    $(ValidationCode::$variant => $code,)*
                }
            }

            /// Fabric's name, e.g. `MVCC_READ_CONFLICT`.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(ValidationCode::$variant => $name,)*
                }
            }
        }

        impl TryFrom<u8> for ValidationCode {
            type Error = InvalidMessage;

            fn try_from(byte: u8) -> Result<Self, Self::Error> {
                match byte {
                    $($code => Ok(ValidationCode::$variant),)*
                    _ => Err(InvalidMessage::Inconsistent { what: "unknown validation code" }),
                }
            }
        }
    };
}

validation_codes! {
    /// Valid: its writes were applied.
    Valid = 0, "VALID";
    /// Some signature (creator or endorser) does not verify.
    BadSignature = 1, "BAD_SIGNATURE";
    /// The endorsements do not satisfy the contract's endorsement policy, or endorsers
    /// disagree.
    EndorsementPolicyFailure = 2, "ENDORSEMENT_POLICY_FAILURE";
    /// A key read has changed version since simulation.
    MvccReadConflict = 3, "MVCC_READ_CONFLICT";
    /// A range read returns different keys now than during simulation.
    PhantomReadConflict = 4, "PHANTOM_READ_CONFLICT";
    /// The transaction id was already committed (replay).
    DuplicateTxId = 5, "DUPLICATE_TXID";
    /// The creator is not a valid member allowed to write on the channel.
    BadCreator = 6, "BAD_CREATOR";
    /// A certificate (creator or endorser) had expired.
    ExpiredCert = 7, "EXPIRED_CERT";
    /// A certificate (creator or endorser) is revoked by a CRL in force.
    RevokedCert = 8, "REVOKED_CERT";
    /// The payload is malformed or inconsistent (e.g. response for another proposal).
    BadPayload = 9, "BAD_PAYLOAD";
    /// The contract or its version is not defined on the channel.
    UnknownContract = 10, "UNKNOWN_CONTRACT";
    /// The header names another channel.
    WrongChannel = 11, "WRONG_CHANNEL";
    /// The rw-set breaks the rules (touches a namespace the contract may not write).
    BadRwSet = 12, "BAD_RWSET";
    /// A config transaction that does not satisfy the Admins policy or sequence rule.
    InvalidConfig = 13, "INVALID_CONFIG";
    /// The contract's response status was an error, yet it was submitted.
    ContractError = 14, "CONTRACT_ERROR";
    /// The transaction's timestamp is further than `limits::ENVELOPE_TIME_SKEW_SECS_MAX`
    /// from its block's time (the orderers' clock): back- or forward-dated, or held long
    /// after endorsement.
    TimestampOutOfRange = 15, "TIMESTAMP_OUT_OF_RANGE";
    /// A reason not covered above; details in the peer's log.
    InvalidOtherReason = 254, "INVALID_OTHER_REASON";
    /// Not validated yet: what the orderer's copy of a block implies.
    NotValidated = 255, "NOT_VALIDATED";
}

impl ValidationCode {
    /// Whether the transaction's writes count.
    pub fn is_valid(self) -> bool {
        self == ValidationCode::Valid
    }
}

impl From<ValidationCode> for u8 {
    fn from(code: ValidationCode) -> u8 {
        code.to_byte()
    }
}

impl fmt::Display for ValidationCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
