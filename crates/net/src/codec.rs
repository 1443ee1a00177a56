//! The request–response wire format, one request and one response per yamux stream:
//!
//! ```text
//! request  = service_len:u8 ‖ service (UTF-8) ‖ payload_len:u64 BE ‖ payload
//! response = status:u8 (0 ok, 1 refused) ‖ payload_len:u64 BE ‖ payload
//! ```
//!
//! Lengths come first so an oversize message is refused before its bytes are read, and
//! payload buffers grow only as bytes actually arrive (a lying length cannot make us
//! allocate). Payloads are opaque: roles encode them with `netsettle-protocol`'s codec.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use futures::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use libp2p::StreamProtocol;

use crate::limits::SERVICE_NAME_BYTES_MAX;

/// The request–response protocol name.
pub(crate) const REQUEST_PROTOCOL: StreamProtocol = StreamProtocol::new("/netsettle/request/1.0.0");

/// Initial capacity cap of a payload buffer: beyond this it grows with the data.
const PREALLOCATE_BYTES_MAX: usize = 64 * 1024;

/// A request on the wire. Received requests hold their share of the inbound byte
/// budget until dropped.
#[derive(Debug)]
pub(crate) struct WireRequest {
    pub(crate) service: String,
    pub(crate) payload: Vec<u8>,
    pub(crate) permit: Option<BudgetPermit>,
}

/// The bytes of received requests held at once, shared by every connection.
#[derive(Debug, Clone)]
pub(crate) struct ByteBudget {
    used: Arc<AtomicUsize>,
    max: usize,
}

/// A share of the [`ByteBudget`], returned when dropped.
#[derive(Debug)]
pub(crate) struct BudgetPermit {
    used: Arc<AtomicUsize>,
    bytes: usize,
}

impl ByteBudget {
    pub(crate) fn new(max: usize) -> Self {
        ByteBudget {
            used: Arc::new(AtomicUsize::new(0)),
            max,
        }
    }

    fn reserve(&self, bytes: usize) -> Option<BudgetPermit> {
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(bytes).filter(|total| *total <= self.max)
            })
            .ok()?;
        Some(BudgetPermit {
            used: self.used.clone(),
            bytes,
        })
    }

    #[cfg(test)]
    fn used(&self) -> usize {
        self.used.load(Ordering::Acquire)
    }
}

impl Drop for BudgetPermit {
    fn drop(&mut self) {
        let before = self.used.fetch_sub(self.bytes, Ordering::AcqRel);
        debug_assert!(before >= self.bytes, "budget released more than reserved");
    }
}

/// A response on the wire: the handler's bytes or a refusal text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum WireResponse {
    Ok(Vec<u8>),
    Refused(String),
}

/// The size-limited codec; `message_bytes_max` bounds payloads in both directions and
/// `inbound` bounds the request bytes held at once.
#[derive(Debug, Clone)]
pub(crate) struct FrameCodec {
    pub(crate) message_bytes_max: usize,
    pub(crate) inbound: ByteBudget,
}

fn invalid(text: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, text)
}

async fn read_length<T: AsyncRead + Unpin>(io: &mut T, max: usize) -> io::Result<usize> {
    let mut len_bytes = [0u8; 8];
    io.read_exact(&mut len_bytes).await?;
    let len = usize::try_from(u64::from_be_bytes(len_bytes)).unwrap_or(usize::MAX);
    if len > max {
        return Err(invalid(format!(
            "message of {len} bytes exceeds the limit of {max} bytes"
        )));
    }
    Ok(len)
}

async fn read_exactly<T: AsyncRead + Unpin>(io: &mut T, len: usize) -> io::Result<Vec<u8>> {
    let mut payload = Vec::with_capacity(len.min(PREALLOCATE_BYTES_MAX));
    let limit = u64::try_from(len).unwrap_or(u64::MAX);
    io.take(limit).read_to_end(&mut payload).await?;
    if payload.len() != len {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("message truncated at {} of {len} bytes", payload.len()),
        ));
    }
    Ok(payload)
}

async fn read_payload<T: AsyncRead + Unpin>(io: &mut T, max: usize) -> io::Result<Vec<u8>> {
    let len = read_length(io, max).await?;
    read_exactly(io, len).await
}

async fn write_payload<T: AsyncWrite + Unpin>(io: &mut T, payload: &[u8]) -> io::Result<()> {
    let len = u64::try_from(payload.len()).unwrap_or(u64::MAX);
    io.write_all(&len.to_be_bytes()).await?;
    io.write_all(payload).await?;
    io.flush().await
}

impl libp2p::request_response::Codec for FrameCodec {
    type Protocol = StreamProtocol;
    type Request = WireRequest;
    type Response = WireResponse;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<WireRequest>
    where
        T: AsyncRead + Unpin + Send,
    {
        let mut name_len = [0u8; 1];
        io.read_exact(&mut name_len).await?;
        let name_len = usize::from(name_len[0]);
        if name_len == 0 || name_len > SERVICE_NAME_BYTES_MAX {
            return Err(invalid(format!("service name of {name_len} bytes")));
        }
        let mut name = vec![0u8; name_len];
        io.read_exact(&mut name).await?;
        let service =
            String::from_utf8(name).map_err(|_| invalid("service name is not UTF-8".to_owned()))?;
        let len = read_length(io, self.message_bytes_max).await?;
        let permit = self.inbound.reserve(len).ok_or_else(|| {
            io::Error::other(format!(
                "inbound request bytes at their limit of {}; refusing {len} more",
                self.inbound.max
            ))
        })?;
        let payload = read_exactly(io, len).await?;
        Ok(WireRequest {
            service,
            payload,
            permit: Some(permit),
        })
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<WireResponse>
    where
        T: AsyncRead + Unpin + Send,
    {
        let mut status = [0u8; 1];
        io.read_exact(&mut status).await?;
        let payload = read_payload(io, self.message_bytes_max).await?;
        match status[0] {
            0 => Ok(WireResponse::Ok(payload)),
            1 => Ok(WireResponse::Refused(
                String::from_utf8_lossy(&payload).into_owned(),
            )),
            other => Err(invalid(format!("unknown response status {other}"))),
        }
    }

    async fn write_request<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        request: WireRequest,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        let name_len = u8::try_from(request.service.len())
            .map_err(|_| invalid("service name too long".to_owned()))?;
        io.write_all(&[name_len]).await?;
        io.write_all(request.service.as_bytes()).await?;
        write_payload(io, &request.payload).await
    }

    async fn write_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        response: WireResponse,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        match response {
            WireResponse::Ok(payload) => {
                io.write_all(&[0]).await?;
                write_payload(io, &payload).await
            }
            WireResponse::Refused(text) => {
                io.write_all(&[1]).await?;
                write_payload(io, text.as_bytes()).await
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_inbound_budget_refuses_beyond_its_limit_and_is_returned_on_drop() {
        block_on(async {
            let mut codec = codec(1024);
            codec.inbound = ByteBudget::new(1500);
            let mut wire = Vec::new();
            let request = |n| WireRequest {
                service: "bulk".to_owned(),
                payload: vec![7; n],
                permit: None,
            };
            codec
                .write_request(&REQUEST_PROTOCOL, &mut wire, request(1000))
                .await
                .unwrap();
            let held = codec
                .read_request(&REQUEST_PROTOCOL, &mut wire.as_slice())
                .await
                .unwrap();
            assert_eq!(codec.inbound.used(), 1000);
            let error = codec
                .read_request(&REQUEST_PROTOCOL, &mut wire.as_slice())
                .await
                .unwrap_err();
            assert!(
                error.to_string().contains("at their limit of 1500"),
                "{error}"
            );
            drop(held);
            assert_eq!(codec.inbound.used(), 0);
            assert!(
                codec
                    .read_request(&REQUEST_PROTOCOL, &mut wire.as_slice())
                    .await
                    .is_ok()
            );
        });
    }

    use futures::executor::block_on;
    use libp2p::request_response::Codec as _;

    use super::*;

    fn codec(max: usize) -> FrameCodec {
        FrameCodec {
            message_bytes_max: max,
            inbound: ByteBudget::new(4 * max),
        }
    }

    #[test]
    fn requests_and_responses_round_trip() {
        block_on(async {
            let request = WireRequest {
                service: "raft".to_owned(),
                payload: vec![1, 2, 3],
                permit: None,
            };
            let mut wire = Vec::new();
            codec(16)
                .write_request(&REQUEST_PROTOCOL, &mut wire, request)
                .await
                .unwrap();
            let read = codec(16)
                .read_request(&REQUEST_PROTOCOL, &mut wire.as_slice())
                .await
                .unwrap();
            assert_eq!(
                (read.service.as_str(), read.payload.as_slice()),
                ("raft", &[1, 2, 3][..])
            );
            for response in [
                WireResponse::Ok(vec![9; 16]),
                WireResponse::Refused("busy".into()),
            ] {
                let mut wire = Vec::new();
                codec(16)
                    .write_response(&REQUEST_PROTOCOL, &mut wire, response.clone())
                    .await
                    .unwrap();
                let read = codec(16)
                    .read_response(&REQUEST_PROTOCOL, &mut wire.as_slice())
                    .await
                    .unwrap();
                assert_eq!(read, response);
            }
        });
    }

    #[test]
    fn oversize_and_lying_lengths_are_refused_before_reading() {
        block_on(async {
            let mut wire = vec![4];
            wire.extend_from_slice(b"raft");
            wire.extend_from_slice(&u64::MAX.to_be_bytes());
            let error = codec(1024)
                .read_request(&REQUEST_PROTOCOL, &mut wire.as_slice())
                .await
                .unwrap_err();
            assert!(
                error.to_string().contains("exceeds the limit of 1024"),
                "{error}"
            );
            // A length within the limit but more than what follows: truncated, no panic.
            let mut wire = vec![0];
            wire.extend_from_slice(&100u64.to_be_bytes());
            wire.extend_from_slice(&[1, 2, 3]);
            let error = codec(1024)
                .read_response(&REQUEST_PROTOCOL, &mut wire.as_slice())
                .await
                .unwrap_err();
            assert_eq!(error.kind(), io::ErrorKind::UnexpectedEof);
            for bad_name in [vec![0u8], vec![200u8]] {
                assert!(
                    codec(1024)
                        .read_request(&REQUEST_PROTOCOL, &mut bad_name.as_slice())
                        .await
                        .is_err()
                );
            }
        });
    }
}
