//! What a node writes to its sockets once TLS starts: write calls and TLS records, all
//! connections together. Tests and benches read it to check that the wire stays lean
//! (a request costs a few records, not one per header field); it stays on in production
//! because it costs two relaxed atomic adds per write and a look at each record header.
//!
//! [`Tallied`] sits between the security protocol's negotiation and TLS, so every byte
//! it sees belongs to a TLS record: 5 bytes of header (type, version, u16 length), then
//! that many bytes of body.

use core::pin::Pin;
use core::sync::atomic::{AtomicU64, Ordering};
use core::task::{Context, Poll, ready};
use std::io;
use std::sync::Arc;

use futures::{AsyncRead, AsyncWrite};

/// Length of a TLS record header (RFC 8446 §5.1).
const RECORD_HEADER_BYTES: usize = 5;

/// The node's counters, shared by all its connections.
#[derive(Debug, Default)]
pub(crate) struct WireTally {
    write_calls: AtomicU64,
    tls_records: AtomicU64,
}

impl WireTally {
    pub(crate) fn counts(&self) -> WireCounts {
        WireCounts {
            write_calls: self.write_calls.load(Ordering::Relaxed),
            tls_records: self.tls_records.load(Ordering::Relaxed),
        }
    }
}

/// What a node wrote to its sockets since it started (TLS handshakes included).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct WireCounts {
    /// Writes the sockets accepted: one system call each.
    pub write_calls: u64,
    /// TLS records whose header was written.
    pub tls_records: u64,
}

/// Where the written byte stream is within its current record.
#[derive(Debug, Default)]
struct RecordCursor {
    header: [u8; RECORD_HEADER_BYTES],
    header_filled: usize,
    body_left: usize,
}

impl RecordCursor {
    /// Walk `bytes` and return how many record headers they complete.
    fn advance(&mut self, mut bytes: &[u8]) -> u64 {
        let mut records = 0;
        while !bytes.is_empty() {
            if self.body_left > 0 {
                let (skipped, rest) = bytes.split_at(bytes.len().min(self.body_left));
                self.body_left = self.body_left.saturating_sub(skipped.len());
                bytes = rest;
                continue;
            }
            let missing = RECORD_HEADER_BYTES.saturating_sub(self.header_filled);
            let (part, rest) = bytes.split_at(bytes.len().min(missing));
            if let Some(slot) = self
                .header
                .get_mut(self.header_filled..self.header_filled.saturating_add(part.len()))
            {
                slot.copy_from_slice(part);
            }
            self.header_filled = self.header_filled.saturating_add(part.len());
            bytes = rest;
            if self.header_filled == RECORD_HEADER_BYTES {
                let [_, _, _, high, low] = self.header;
                self.body_left = usize::from(u16::from_be_bytes([high, low]));
                self.header_filled = 0;
                records += 1;
            }
        }
        records
    }
}

/// A socket whose writes are counted into a [`WireTally`].
#[derive(Debug)]
pub(crate) struct Tallied<C> {
    inner: C,
    tally: Arc<WireTally>,
    cursor: RecordCursor,
}

impl<C> Tallied<C> {
    pub(crate) fn new(inner: C, tally: Arc<WireTally>) -> Self {
        Tallied {
            inner,
            tally,
            cursor: RecordCursor::default(),
        }
    }

    fn count<'a>(&mut self, written: impl Iterator<Item = &'a [u8]>) {
        let records: u64 = written.map(|bytes| self.cursor.advance(bytes)).sum();
        self.tally.write_calls.fetch_add(1, Ordering::Relaxed);
        self.tally.tls_records.fetch_add(records, Ordering::Relaxed);
    }
}

/// The first `len` bytes of `bufs`, slice by slice.
fn written_prefix<'a>(bufs: &'a [io::IoSlice<'a>], len: usize) -> impl Iterator<Item = &'a [u8]> {
    let mut left = len;
    bufs.iter().map(move |buf| {
        let (taken, _) = buf.split_at(buf.len().min(left));
        left = left.saturating_sub(taken.len());
        taken
    })
}

impl<C: AsyncWrite + Unpin> AsyncWrite for Tallied<C> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let written = ready!(Pin::new(&mut this.inner).poll_write(cx, buf))?;
        let (taken, _) = buf.split_at(buf.len().min(written));
        this.count(core::iter::once(taken));
        Poll::Ready(Ok(written))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let written = ready!(Pin::new(&mut this.inner).poll_write_vectored(cx, bufs))?;
        this.count(written_prefix(bufs, written));
        Poll::Ready(Ok(written))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_close(cx)
    }
}

impl<C: AsyncRead + Unpin> AsyncRead for Tallied<C> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }

    fn poll_read_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &mut [io::IoSliceMut<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_read_vectored(cx, bufs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(len: u16) -> Vec<u8> {
        let mut record = vec![0x17, 0x03, 0x03];
        record.extend_from_slice(&len.to_be_bytes());
        record.extend(core::iter::repeat_n(0xAA, usize::from(len)));
        record
    }

    #[test]
    fn records_are_counted_however_the_bytes_are_cut() {
        let stream = [record(0), record(1), record(300), record(16_401)].concat();
        for cut in [1, 2, 5, 7, 300, stream.len()] {
            let mut cursor = RecordCursor::default();
            let records: u64 = stream.chunks(cut).map(|piece| cursor.advance(piece)).sum();
            assert_eq!(records, 4, "cut into pieces of {cut}");
            assert_eq!((cursor.header_filled, cursor.body_left), (0, 0));
        }
    }

    #[test]
    fn a_vectored_write_counts_only_what_was_taken() {
        let first = record(3);
        let second = record(2);
        let bufs = [io::IoSlice::new(&first), io::IoSlice::new(&second)];
        let mut cursor = RecordCursor::default();
        let records: u64 = written_prefix(&bufs, first.len() + 4)
            .map(|bytes| cursor.advance(bytes))
            .sum();
        // The second record's header is not complete yet.
        assert_eq!(records, 1);
        assert_eq!(cursor.header_filled, 4);
    }
}
