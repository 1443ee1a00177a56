//! The enrollment protocol on the wire, inside SM-TLS: each message is one frame, a 4-byte
//! big-endian length followed by the protocol codec's encoding
//! ([`netsettle_protocol::encode`]: `0x01 ‖ bincode`, strict and canonical) of a
//! [`Request`] or a [`Response`]. The client sends one request frame and reads one
//! response frame, and may repeat that on the same connection. Request frames are at most
//! [`REQUEST_FRAME_BYTES_MAX`] bytes, responses at most [`RESPONSE_FRAME_BYTES_MAX`] (each
//! type's [`Wire::BYTES_MAX`]); a length over the limit closes the connection before
//! anything is allocated for it.

use netsettle_protocol::{InvalidMessage, Wire};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};

use crate::limits::{REQUEST_FRAME_BYTES_MAX, RESPONSE_FRAME_BYTES_MAX};
use crate::registry::RoleName;
use crate::{CaError, Refusal};

/// Bytes of the frame length prefix.
pub const FRAME_HEADER_BYTES: usize = 4;

/// A request to the CA.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub enum Request {
    /// Register an identity (admins only).
    Register {
        /// Name (the CN of its certificates).
        name: String,
        /// Role.
        role: RoleName,
        /// DNS names and IPs for its TLS certificate.
        hosts: Vec<String>,
        /// `key`, `value` attributes.
        attributes: Vec<(String, String)>,
        /// The secret to use; the CA generates one when absent.
        secret: Option<String>,
    },
    /// Enroll with a one-time secret (the only request allowed without a client
    /// certificate).
    Enroll {
        /// The registered name.
        name: String,
        /// The enrollment secret.
        secret: String,
        /// DER PKCS#10 for the signing key.
        sign_csr: Vec<u8>,
        /// DER PKCS#10 for the TLS key.
        tls_csr: Vec<u8>,
    },
    /// Get fresh certificates, authenticated by the current one.
    Reenroll {
        /// DER PKCS#10 for the new signing key.
        sign_csr: Vec<u8>,
        /// DER PKCS#10 for the new TLS key.
        tls_csr: Vec<u8>,
    },
    /// Revoke one certificate by serial (admins only).
    RevokeSerial {
        /// Serial, hex (colons allowed).
        serial: String,
        /// RFC 5280 reason code.
        reason: u8,
    },
    /// Revoke every certificate of an identity and bar it from enrolling (admins only).
    RevokeName {
        /// The identity.
        name: String,
        /// RFC 5280 reason code.
        reason: u8,
    },
    /// A freshly signed CRL.
    Crl,
}

impl Request {
    /// The operation's name, for logs and refusals.
    pub fn operation(&self) -> &'static str {
        match self {
            Request::Register { .. } => "register",
            Request::Enroll { .. } => "enroll",
            Request::Reenroll { .. } => "reenroll",
            Request::RevokeSerial { .. } | Request::RevokeName { .. } => "revoke",
            Request::Crl => "crl",
        }
    }
}

/// The CA's answer.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub enum Response {
    /// The identity is registered; here is its enrollment secret.
    Registered {
        /// The one-time secret.
        secret: String,
    },
    /// Certificates for an enrollment or re-enrollment (DER).
    Enrolled {
        /// The signing certificate.
        sign_cert: Vec<u8>,
        /// The TLS certificate.
        tls_cert: Vec<u8>,
        /// The CA root.
        ca_cert: Vec<u8>,
    },
    /// The certificates revoked (hex serials) and the new CRL (DER).
    Revoked {
        /// Serials now revoked.
        serials: Vec<String>,
        /// The CRL that lists them.
        crl: Vec<u8>,
    },
    /// A CRL (DER).
    Crl {
        /// The CRL.
        crl: Vec<u8>,
    },
    /// The request was declined.
    Refused(Refusal),
}

// What a request asks for (names, hosts, CSRs, secrets) is judged by the authority, which
// answers a bad one with a refusal naming the field; the codec only bounds the bytes.
impl Wire for Request {
    const NAME: &'static str = "CA request";
    const BYTES_MAX: usize = REQUEST_FRAME_BYTES_MAX;
    fn check(&self) -> Result<(), InvalidMessage> {
        Ok(())
    }
}

// Responses come from the CA the client chose to trust; certificates and CRLs in them are
// parsed and verified by the caller.
impl Wire for Response {
    const NAME: &'static str = "CA response";
    const BYTES_MAX: usize = RESPONSE_FRAME_BYTES_MAX;
    fn check(&self) -> Result<(), InvalidMessage> {
        Ok(())
    }
}

/// Encode a message into a frame (header included), refusing bodies over its
/// [`Wire::BYTES_MAX`].
pub fn encode_frame<T: Wire>(message: &T) -> Result<Vec<u8>, CaError> {
    let body = netsettle_protocol::encode(message)
        .map_err(|err| CaError::Protocol(format!("encoding: {err}")))?;
    let length = u32::try_from(body.len())
        .map_err(|_| CaError::Protocol("frame length does not fit 32 bits".to_owned()))?;
    let mut frame = Vec::with_capacity(FRAME_HEADER_BYTES.saturating_add(body.len()));
    frame.extend_from_slice(&length.to_be_bytes());
    frame.extend_from_slice(&body);
    Ok(frame)
}

/// Decode a frame body with the protocol codec (strict: trailing bytes are an error, so
/// one frame is exactly one message).
pub fn decode_body<T: Wire>(body: &[u8]) -> Result<T, CaError> {
    netsettle_protocol::decode(body).map_err(|err| CaError::Protocol(format!("decoding: {err}")))
}

/// Write one message as a frame and flush it.
pub async fn write_message<T, W>(writer: &mut W, message: &T) -> Result<(), CaError>
where
    T: Wire,
    W: AsyncWrite + Unpin,
{
    let frame = encode_frame(message)?;
    writer.write_all(&frame).await.map_err(io_error)?;
    writer.flush().await.map_err(io_error)
}

/// Read one frame's body of a `T`, or `None` on a clean end of stream before its first
/// byte. A length over `T`'s [`Wire::BYTES_MAX`] is refused before anything is allocated.
pub async fn read_frame<T, R>(reader: &mut R) -> Result<Option<Vec<u8>>, CaError>
where
    T: Wire,
    R: AsyncRead + Unpin,
{
    let max_bytes = T::BYTES_MAX;
    let mut header = [0u8; FRAME_HEADER_BYTES];
    match reader.read_exact(&mut header).await {
        Ok(_) => {}
        Err(err) if err.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(err) => return Err(io_error(err)),
    }
    let length = usize::try_from(u32::from_be_bytes(header))
        .map_err(|_| CaError::Protocol("frame length does not fit this platform".to_owned()))?;
    if length > max_bytes {
        return Err(CaError::Protocol(format!(
            "frame of {length} bytes exceeds the {max_bytes}-byte limit"
        )));
    }
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body).await.map_err(io_error)?;
    Ok(Some(body))
}

fn io_error(err: std::io::Error) -> CaError {
    CaError::Tls(netsettle_smtls::TlsError::from_io(err))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_round_trips_through_a_frame() {
        let request = Request::Enroll {
            name: "peer0.unicom.example".to_owned(),
            secret: "s3cret-s3cret".to_owned(),
            sign_csr: vec![1, 2, 3],
            tls_csr: vec![4, 5],
        };
        let frame = encode_frame(&request).unwrap();
        let (header, body) = frame.split_at(FRAME_HEADER_BYTES);
        assert_eq!(
            u32::from_be_bytes(header.try_into().unwrap()) as usize,
            body.len()
        );
        assert_eq!(decode_body::<Request>(body).unwrap(), request);
    }

    #[test]
    fn oversized_and_trailing_frames_are_refused() {
        let big = Request::Reenroll {
            sign_csr: vec![0; REQUEST_FRAME_BYTES_MAX],
            tls_csr: Vec::new(),
        };
        assert!(encode_frame(&big).is_err());
        let mut body = netsettle_protocol::encode(&Request::Crl).unwrap();
        body.push(0);
        assert!(decode_body::<Request>(&body).is_err());
        assert!(decode_body::<Request>(&[0xff, 0xff, 0xff]).is_err());
    }

    #[tokio::test]
    async fn reader_refuses_a_length_over_the_limit_before_allocating() {
        let mut input: &[u8] = &[0xff, 0xff, 0xff, 0xff];
        let err = read_frame::<Request, _>(&mut input).await.unwrap_err();
        assert!(err.to_string().contains("exceeds"), "{err}");
        let mut empty: &[u8] = &[];
        assert_eq!(read_frame::<Request, _>(&mut empty).await.unwrap(), None);
    }
}
