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
//!
//! Each message leaves in one write followed by one flush: its header and the first
//! [`WRITE_COALESCE_BYTES`] of its payload in one buffer, the rest (large messages only)
//! straight from the payload. Every write on a bare yamux stream is a yamux frame, so a
//! header written piece by piece would cost a frame (and a TLS record) per piece; the
//! stream's write buffer (`coalesce`) would gather them too, but one write saves it the
//! work and keeps the codec lean on any stream.

use std::io;
use std::sync::Arc;

use futures::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use libp2p::StreamProtocol;

use crate::admission::{Admission, BudgetPermit, ConnectionShare};
use crate::limits::{SERVICE_NAME_BYTES_MAX, WRITE_COALESCE_BYTES};

/// The request–response protocol name.
pub(crate) const REQUEST_PROTOCOL: StreamProtocol = StreamProtocol::new("/netsettle/request/1.0.0");

/// How the streams we open negotiate their protocol (the swarm applies it to all of
/// them). `V1Lazy`: the caller sends its one protocol together with the request and
/// reads the confirmation with the response, instead of waiting a round trip for it on
/// every request; our nodes all speak [`REQUEST_PROTOCOL`], so the confirmation never
/// fails between them (if it did, the request would fail on its read, as it does with
/// `V1`). gossipsub offers several protocol versions, and `V1Lazy` only skips the wait
/// for the last one offered, so gossip negotiates as before. The connection's own
/// negotiations (`upgrade`) stay `V1`: the TLS client learns that the server refused its
/// certificate on its first read, which must be the multiplexer negotiation to be
/// reported as the TLS refusal it is.
pub(crate) const SUBSTREAM_NEGOTIATION: multistream_select::Version =
    multistream_select::Version::V1Lazy;

/// Initial capacity cap of a payload buffer: beyond this it grows with the data.
const PREALLOCATE_BYTES_MAX: usize = 64 * 1024;

/// A request on the wire. Received requests hold their share of the inbound byte
/// budget until dropped; a request refused on its header carries the reason instead of
/// its payload.
#[derive(Debug)]
pub(crate) struct WireRequest {
    pub(crate) service: String,
    pub(crate) payload: Vec<u8>,
    pub(crate) permit: Option<BudgetPermit>,
    pub(crate) refusal: Option<String>,
    /// Resource tests only: claim this length and trickle it (see
    /// `NetHandle::request_trickled`) instead of sending `payload`.
    pub(crate) trickle_len: Option<u64>,
}

impl WireRequest {
    /// A request of ours, to be sent.
    pub(crate) fn outbound(service: String, payload: Vec<u8>) -> Self {
        WireRequest {
            service,
            payload,
            permit: None,
            refusal: None,
            trickle_len: None,
        }
    }
}

/// The pace of a trickled request: one byte per this interval.
const TRICKLE_INTERVAL: core::time::Duration = core::time::Duration::from_millis(50);

/// Claim `len` payload bytes, then send them one at a time: a slow sender, for tests of
/// what such a sender can hold at the receiver. Fails once the receiver resets the
/// stream.
async fn write_trickled<T: AsyncWrite + Unpin>(io: &mut T, len: u64) -> io::Result<()> {
    io.write_all(&len.to_be_bytes()).await?;
    io.flush().await?;
    for _ in 0..len {
        tokio::time::sleep(TRICKLE_INTERVAL).await;
        io.write_all(&[0]).await?;
        io.flush().await?;
    }
    Ok(())
}

/// A refused request's payload up to this size is read and dropped so that the caller
/// gets the reason; a larger one is not read at all (the stream is reset).
const REFUSAL_DRAIN_BYTES_MAX: usize = 64 * 1024;

/// A response on the wire: the handler's bytes or a refusal text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum WireResponse {
    Ok(Vec<u8>),
    Refused(String),
}

/// The size-limited codec; `message_bytes_max` bounds payloads in both directions and
/// `admission` judges each request header (service, role, bytes held) before its payload
/// is read.
#[derive(Debug)]
pub(crate) struct FrameCodec {
    pub(crate) message_bytes_max: usize,
    pub(crate) admission: Arc<Admission>,
    /// The connection this codec reads for; `None` in the behaviour's prototype, which
    /// is cloned once per connection.
    pub(crate) connection: Option<Arc<ConnectionShare>>,
}

impl Clone for FrameCodec {
    /// The request–response behaviour clones its prototype codec once per new
    /// connection, right after `ConnectionStamp` announced that connection's peer; the
    /// connection's handler then clones its codec per stream, keeping the connection.
    fn clone(&self) -> Self {
        let connection = self
            .connection
            .clone()
            .or_else(|| self.admission.take_next_connection());
        FrameCodec {
            message_bytes_max: self.message_bytes_max,
            admission: Arc::clone(&self.admission),
            connection,
        }
    }
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

/// `prefix ‖ payload_len:u64 BE ‖ payload` in one write (two for a payload beyond
/// [`WRITE_COALESCE_BYTES`]: its head goes with the header, the rest is not copied), then
/// one flush.
async fn write_message<T: AsyncWrite + Unpin>(
    io: &mut T,
    prefix: &[u8],
    payload: &[u8],
) -> io::Result<()> {
    let len = u64::try_from(payload.len()).unwrap_or(u64::MAX);
    let (head, rest) = payload.split_at(payload.len().min(WRITE_COALESCE_BYTES));
    let mut message = Vec::with_capacity(prefix.len() + 8 + head.len());
    message.extend_from_slice(prefix);
    message.extend_from_slice(&len.to_be_bytes());
    message.extend_from_slice(head);
    io.write_all(&message).await?;
    if !rest.is_empty() {
        io.write_all(rest).await?;
    }
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
        match self
            .admission
            .admit(self.connection.as_ref(), &service, len)
        {
            Ok(permit) => {
                let payload = read_exactly(io, len).await?;
                Ok(WireRequest {
                    permit,
                    ..WireRequest::outbound(service, payload)
                })
            }
            Err(reason) if len <= REFUSAL_DRAIN_BYTES_MAX => {
                tracing::debug!(%service, len, %reason, "inbound request refused");
                read_exactly(io, len).await?;
                Ok(WireRequest {
                    refusal: Some(reason),
                    ..WireRequest::outbound(service, Vec::new())
                })
            }
            Err(reason) => {
                tracing::info!(%service, len, %reason, "inbound request refused unread");
                Err(io::Error::other(reason))
            }
        }
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
        let mut prefix = Vec::with_capacity(1 + request.service.len());
        prefix.push(name_len);
        prefix.extend_from_slice(request.service.as_bytes());
        match request.trickle_len {
            Some(len) => {
                io.write_all(&prefix).await?;
                write_trickled(io, len).await
            }
            None => write_message(io, &prefix, &request.payload).await,
        }
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
            WireResponse::Ok(payload) => write_message(io, &[0], &payload).await,
            WireResponse::Refused(text) => write_message(io, &[1], text.as_bytes()).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use futures::executor::block_on;
    use libp2p::request_response::Codec as _;

    use super::*;
    use crate::admission::IDENTIFY_SERVICE as IDENTIFY;

    fn codec(max: usize) -> FrameCodec {
        FrameCodec {
            message_bytes_max: max,
            admission: Admission::new(&crate::NetLimits::default(), Arc::default()),
            connection: None,
        }
    }

    #[test]
    fn requests_and_responses_round_trip() {
        block_on(async {
            let request = WireRequest::outbound(IDENTIFY.to_owned(), vec![1, 2, 3]);
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
                (IDENTIFY, &[1, 2, 3][..])
            );
            // Without an authenticated connection every other service is refused, with
            // a reason, before its payload is kept.
            let mut wire = Vec::new();
            let request = WireRequest::outbound("raft".to_owned(), vec![1, 2, 3]);
            codec(16)
                .write_request(&REQUEST_PROTOCOL, &mut wire, request)
                .await
                .unwrap();
            let read = codec(16)
                .read_request(&REQUEST_PROTOCOL, &mut wire.as_slice())
                .await
                .unwrap();
            assert_eq!(
                read.refusal.as_deref(),
                Some("connection not authenticated")
            );
            assert!(read.payload.is_empty());
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

    /// Records each write and flush it is given, like a yamux stream would (one frame
    /// per write).
    #[derive(Default)]
    struct CountingWriter {
        writes: Vec<Vec<u8>>,
        flushes_after: Vec<usize>,
    }

    impl AsyncWrite for CountingWriter {
        fn poll_write(
            mut self: core::pin::Pin<&mut Self>,
            _: &mut core::task::Context<'_>,
            buf: &[u8],
        ) -> core::task::Poll<io::Result<usize>> {
            self.writes.push(buf.to_vec());
            core::task::Poll::Ready(Ok(buf.len()))
        }

        fn poll_flush(
            mut self: core::pin::Pin<&mut Self>,
            _: &mut core::task::Context<'_>,
        ) -> core::task::Poll<io::Result<()>> {
            let writes = self.writes.len();
            self.flushes_after.push(writes);
            core::task::Poll::Ready(Ok(()))
        }

        fn poll_close(
            self: core::pin::Pin<&mut Self>,
            _: &mut core::task::Context<'_>,
        ) -> core::task::Poll<io::Result<()>> {
            core::task::Poll::Ready(Ok(()))
        }
    }

    /// A stream whose remote never answers: reads stay pending, writes are kept.
    #[derive(Default)]
    struct Unanswered {
        written: Arc<std::sync::Mutex<Vec<u8>>>,
    }

    impl AsyncRead for Unanswered {
        fn poll_read(
            self: core::pin::Pin<&mut Self>,
            _: &mut core::task::Context<'_>,
            _: &mut [u8],
        ) -> core::task::Poll<io::Result<usize>> {
            core::task::Poll::Pending
        }
    }

    impl AsyncWrite for Unanswered {
        fn poll_write(
            self: core::pin::Pin<&mut Self>,
            _: &mut core::task::Context<'_>,
            buf: &[u8],
        ) -> core::task::Poll<io::Result<usize>> {
            self.written.lock().unwrap().extend_from_slice(buf);
            core::task::Poll::Ready(Ok(buf.len()))
        }

        fn poll_flush(
            self: core::pin::Pin<&mut Self>,
            _: &mut core::task::Context<'_>,
        ) -> core::task::Poll<io::Result<()>> {
            core::task::Poll::Ready(Ok(()))
        }

        fn poll_close(
            self: core::pin::Pin<&mut Self>,
            _: &mut core::task::Context<'_>,
        ) -> core::task::Poll<io::Result<()>> {
            core::task::Poll::Ready(Ok(()))
        }
    }

    #[test]
    fn a_request_goes_out_without_waiting_for_the_protocol_confirmation() {
        use core::future::Future as _;
        use multistream_select::{Version, dialer_select_proto};

        let mut cx = core::task::Context::from_waker(futures::task::noop_waker_ref());
        // With `V1` the caller would wait for the remote's confirmation.
        let mut waiting =
            dialer_select_proto(Unanswered::default(), [REQUEST_PROTOCOL], Version::V1);
        assert!(core::pin::Pin::new(&mut waiting).poll(&mut cx).is_pending());
        let wire = Unanswered::default();
        let written = Arc::clone(&wire.written);
        let mut lazy = dialer_select_proto(wire, [REQUEST_PROTOCOL], SUBSTREAM_NEGOTIATION);
        let core::task::Poll::Ready(Ok((_, mut stream))) =
            core::pin::Pin::new(&mut lazy).poll(&mut cx)
        else {
            panic!("lazy negotiation settles without an answer");
        };
        let request = WireRequest::outbound("raft".to_owned(), vec![9; 100]);
        block_on(codec(1024).write_request(&REQUEST_PROTOCOL, &mut stream, request)).unwrap();
        block_on(stream.close()).unwrap();
        let mut expected = vec![4];
        expected.extend_from_slice(b"raft");
        expected.extend_from_slice(&100u64.to_be_bytes());
        expected.extend_from_slice(&[9; 100]);
        let written = written.lock().unwrap().clone();
        assert!(written.starts_with(b"\x13/multistream/1.0.0\n\x19/netsettle/request/1.0.0\n"));
        assert!(written.ends_with(&expected));
    }

    #[test]
    fn each_message_is_one_write_and_one_flush() {
        block_on(async {
            let payload = vec![7u8; 1024];
            let mut io = CountingWriter::default();
            let request = WireRequest::outbound("raft".to_owned(), payload.clone());
            codec(1 << 20)
                .write_request(&REQUEST_PROTOCOL, &mut io, request)
                .await
                .unwrap();
            assert_eq!(io.writes.len(), 1);
            assert_eq!(io.flushes_after, [1]);
            let mut expected = vec![4];
            expected.extend_from_slice(b"raft");
            expected.extend_from_slice(&1024u64.to_be_bytes());
            expected.extend_from_slice(&payload);
            assert_eq!(io.writes[0], expected);

            let mut io = CountingWriter::default();
            let response = WireResponse::Ok(payload.clone());
            codec(1 << 20)
                .write_response(&REQUEST_PROTOCOL, &mut io, response)
                .await
                .unwrap();
            assert_eq!(io.writes.len(), 1);
            assert_eq!(io.flushes_after, [1]);
            let read = codec(1 << 20)
                .read_response(&REQUEST_PROTOCOL, &mut io.writes[0].as_slice())
                .await
                .unwrap();
            assert_eq!(read, WireResponse::Ok(payload));
        });
    }

    #[test]
    fn a_large_payload_sends_its_head_with_the_header_and_the_rest_uncopied() {
        block_on(async {
            let payload: Vec<u8> = (0..100_000u32).map(|i| i.to_le_bytes()[0]).collect();
            let mut io = CountingWriter::default();
            let response = WireResponse::Ok(payload.clone());
            codec(1 << 20)
                .write_response(&REQUEST_PROTOCOL, &mut io, response)
                .await
                .unwrap();
            assert_eq!(io.writes.len(), 2);
            assert_eq!(io.writes[0].len(), 1 + 8 + WRITE_COALESCE_BYTES);
            assert_eq!(io.flushes_after, [2]);
            let wire = io.writes.concat();
            let read = codec(1 << 20)
                .read_response(&REQUEST_PROTOCOL, &mut wire.as_slice())
                .await
                .unwrap();
            assert_eq!(read, WireResponse::Ok(payload));
        });
    }
}
