//! The write buffer between yamux and the TLS stream: one TLS record per frame, not per
//! write.
//!
//! rustls seals whatever one `poll_write` hands it into its own record and, with
//! `TCP_NODELAY`, each record leaves in its own write syscall. yamux writes every frame
//! as two writes (its 12-byte header, then the body) and flushes after each frame, so
//! without this buffer every frame costs two records and two syscalls, the header one
//! carrying 12 bytes of plaintext and a 22-byte record overhead.
//!
//! [`RecordBuffer`] keeps plaintext until a flush, or until it holds a full record's worth
//! ([`WRITE_COALESCE_BYTES`]); then it hands the whole buffer to TLS in one write, which
//! becomes one record. It never grows beyond that bound: a write that does not fit is
//! taken in part (the caller writes the rest again), and once the buffer is full nothing
//! more is taken until TLS accepted it, so a socket that pushes back (`Pending`) stops
//! the writer instead of growing the buffer. A write of a full record or more into an
//! empty buffer goes straight to TLS. Reads pass through untouched.

use core::pin::Pin;
use core::task::{Context, Poll, ready};
use std::io;

use futures::{AsyncRead, AsyncWrite};

use crate::limits::WRITE_COALESCE_BYTES;

/// Plaintext writes to `S` gathered into record-sized writes (see the module doc).
#[derive(Debug)]
pub(crate) struct RecordBuffer<S> {
    inner: S,
    /// At most `WRITE_COALESCE_BYTES` bytes, never reallocated.
    buffer: Vec<u8>,
    /// Bytes at the front of `buffer` that `inner` already took.
    sent: usize,
}

impl<S> RecordBuffer<S> {
    pub(crate) fn new(inner: S) -> Self {
        RecordBuffer {
            inner,
            buffer: Vec::with_capacity(WRITE_COALESCE_BYTES),
            sent: 0,
        }
    }
}

impl<S: AsyncWrite + Unpin> RecordBuffer<S> {
    /// Hand everything buffered to `inner`; `Ready(Ok)` leaves the buffer empty.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let RecordBuffer {
            inner,
            buffer,
            sent,
        } = self;
        while let Some(unsent) = buffer.get(*sent..).filter(|unsent| !unsent.is_empty()) {
            let taken = ready!(Pin::new(&mut *inner).poll_write(cx, unsent))?;
            if taken == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            *sent = sent.saturating_add(taken.min(unsent.len()));
        }
        buffer.clear();
        *sent = 0;
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for RecordBuffer<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        if this.buffer.len() >= WRITE_COALESCE_BYTES {
            ready!(this.poll_drain(cx))?;
        }
        if this.buffer.is_empty() && buf.len() >= WRITE_COALESCE_BYTES {
            return Pin::new(&mut this.inner).poll_write(cx, buf);
        }
        let room = WRITE_COALESCE_BYTES.saturating_sub(this.buffer.len());
        let (taken, _) = buf.split_at(buf.len().min(room));
        this.buffer.extend_from_slice(taken);
        Poll::Ready(Ok(taken.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.inner).poll_close(cx)
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for RecordBuffer<S> {
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
    use futures::task::noop_waker_ref;

    use super::*;

    /// A transport that refuses every other write (`Pending`), takes at most `chunk`
    /// bytes of each write it accepts, and records them.
    struct Stubborn {
        writes: Vec<Vec<u8>>,
        flushes: usize,
        chunk: usize,
        refuse_next: bool,
    }

    impl AsyncWrite for Stubborn {
        fn poll_write(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            let this = self.get_mut();
            this.refuse_next = !this.refuse_next;
            if !this.refuse_next {
                return Poll::Pending;
            }
            let (taken, _) = buf.split_at(buf.len().min(this.chunk));
            this.writes.push(taken.to_vec());
            Poll::Ready(Ok(taken.len()))
        }

        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            self.get_mut().flushes += 1;
            Poll::Ready(Ok(()))
        }

        fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    fn stubborn(chunk: usize) -> RecordBuffer<Stubborn> {
        RecordBuffer::new(Stubborn {
            writes: Vec::new(),
            flushes: 0,
            chunk,
            refuse_next: true,
        })
    }

    /// Write all of `data` as `poll_write` calls, retrying on `Pending` like a task that
    /// was woken; checks the bound after every call.
    fn write_all(buffer: &mut RecordBuffer<Stubborn>, mut data: &[u8]) {
        let mut cx = Context::from_waker(noop_waker_ref());
        while !data.is_empty() {
            if let Poll::Ready(taken) = Pin::new(&mut *buffer).poll_write(&mut cx, data) {
                let (_, rest) = data.split_at(taken.unwrap());
                data = rest;
            }
            assert!(buffer.buffer.len() <= WRITE_COALESCE_BYTES);
            assert_eq!(buffer.buffer.capacity(), WRITE_COALESCE_BYTES);
        }
    }

    fn flush(buffer: &mut RecordBuffer<Stubborn>) {
        let mut cx = Context::from_waker(noop_waker_ref());
        while Pin::new(&mut *buffer).poll_flush(&mut cx).is_pending() {}
    }

    #[test]
    fn a_frame_header_and_body_leave_as_one_write_on_flush() {
        let mut buffer = stubborn(usize::MAX);
        write_all(&mut buffer, &[1; 12]);
        write_all(&mut buffer, &[2; 1024]);
        write_all(&mut buffer, &[3; 12]);
        assert!(
            buffer.inner.writes.is_empty(),
            "nothing leaves before a flush"
        );
        flush(&mut buffer);
        assert_eq!(buffer.inner.writes.len(), 1);
        assert_eq!(buffer.inner.writes[0].len(), 12 + 1024 + 12);
        assert_eq!(buffer.inner.flushes, 1);
    }

    #[test]
    fn a_full_buffer_goes_out_as_one_record_and_large_writes_pass_through() {
        let mut buffer = stubborn(usize::MAX);
        write_all(&mut buffer, &[1; 12]);
        write_all(&mut buffer, &[2; 40_000]);
        flush(&mut buffer);
        let sizes: Vec<usize> = buffer.inner.writes.iter().map(Vec::len).collect();
        // Topped up to a full record, then the rest straight through (TLS cuts it into
        // records itself).
        assert_eq!(
            sizes,
            [WRITE_COALESCE_BYTES, 12 + 40_000 - WRITE_COALESCE_BYTES]
        );
    }

    #[test]
    fn partial_writes_and_pushback_lose_and_reorder_nothing() {
        let data: Vec<u8> = (0..100_000u32).map(|i| i.to_le_bytes()[0]).collect();
        let mut buffer = stubborn(1000);
        for piece in data.chunks(777) {
            write_all(&mut buffer, piece);
        }
        flush(&mut buffer);
        assert_eq!(buffer.inner.writes.concat(), data);
        assert!(buffer.buffer.is_empty());
    }
}
