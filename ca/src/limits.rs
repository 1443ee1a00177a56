//! Every bound the CA enforces, in one place, with their relations checked at compile time.
//! A CA faces enrolling clients before they are authenticated, so each input it reads
//! (frames, files, names, lists) has a cap checked before anything is allocated for it.

use core::time::Duration;

use netsettle_smcrypto::x509::CSR_DER_BYTES_MAX;

/// Largest request frame body. An enrollment carries two CSRs, each at most
/// [`CSR_DER_BYTES_MAX`], plus a name and a secret.
pub const REQUEST_FRAME_BYTES_MAX: usize = 64 * 1024;
/// Largest response frame body: a CRL with many entries is the biggest answer.
pub const RESPONSE_FRAME_BYTES_MAX: usize = 4 * 1024 * 1024;
/// Largest registry file read back from disk.
pub const REGISTRY_FILE_BYTES_MAX: u64 = 64 * 1024 * 1024;
/// Largest bootstrap spec file.
pub const SPEC_FILE_BYTES_MAX: u64 = 1024 * 1024;
/// Most identities one CA registers. Two carriers run tens of nodes and users.
pub const IDENTITIES_MAX: usize = 10_000;
/// Most certificates one CA records as issued (every enrollment issues two).
pub const ISSUED_CERTIFICATES_MAX: usize = 100_000;
/// Longest identity name (it becomes the certificate CN).
pub const NAME_BYTES_MAX: usize = 64;
/// Most attributes on one identity.
pub const ATTRIBUTES_MAX: usize = 16;
/// Longest attribute key or value.
pub const ATTRIBUTE_BYTES_MAX: usize = 64;
/// Most hosts (SAN entries) registered for one identity.
pub const HOSTS_MAX: usize = 16;
/// Longest host name.
pub const HOST_BYTES_MAX: usize = 253;
/// Longest enrollment secret accepted.
pub const SECRET_BYTES_MAX: usize = 128;
/// Shortest enrollment secret accepted from a registrar: short secrets can be guessed.
pub const SECRET_BYTES_MIN: usize = 12;
/// Wrong secrets one source address may try (all registrations together) before it must
/// wait between attempts. Wrong secrets never lock a registration: its holder, from
/// another address, can still enroll.
pub const ENROLL_FAILURES_FREE_PER_SOURCE: u32 = 5;
/// Wrong secrets one source address may try for one registration before it must wait.
pub const ENROLL_FAILURES_FREE_PER_REGISTRATION: u32 = 3;
/// The wait after the free attempts: doubles from one second with each further wrong
/// secret, up to this.
pub const ENROLL_BACKOFF_MAX: Duration = Duration::from_secs(300);
/// Sources and (source, registration) pairs whose wrong secrets the server remembers;
/// beyond it the entries whose wait is over are forgotten first.
pub const ENROLL_THROTTLE_ENTRIES_MAX: usize = 4096;
/// Re-enrollments one identity may make within [`REENROLL_WINDOW_SECONDS`]; each
/// revokes the certificates it replaces, so this also bounds how fast one identity can
/// grow the registry and the CRL.
pub const REENROLLMENTS_PER_WINDOW_MAX: usize = 4;
/// The window of [`REENROLLMENTS_PER_WINDOW_MAX`].
pub const REENROLL_WINDOW_SECONDS: i64 = 86_400;
/// Connections served at once (in their handshake or established).
pub const CONNECTIONS_MAX: usize = 64;
/// Connections from one source address at once; a new one beyond it evicts that
/// address's oldest connection, so idle connections cannot hold the CA.
pub const CONNECTIONS_PER_SOURCE_MAX: usize = 8;
/// Requests served on one connection before the server closes it.
pub const REQUESTS_PER_CONNECTION_MAX: usize = 64;
/// Longest wait for the next frame (or for a frame to finish arriving) on a connection.
pub const FRAME_TIMEOUT: Duration = Duration::from_secs(30);

const _: () = assert!(2 * CSR_DER_BYTES_MAX + 4 * 1024 <= REQUEST_FRAME_BYTES_MAX);
const _: () = assert!(REQUEST_FRAME_BYTES_MAX <= RESPONSE_FRAME_BYTES_MAX);
const _: () = assert!(SECRET_BYTES_MIN <= SECRET_BYTES_MAX);
const _: () = assert!(CONNECTIONS_PER_SOURCE_MAX <= CONNECTIONS_MAX);
const _: () = assert!(ENROLL_FAILURES_FREE_PER_REGISTRATION <= ENROLL_FAILURES_FREE_PER_SOURCE);
const _: () = assert!(2 * IDENTITIES_MAX <= ISSUED_CERTIFICATES_MAX);
