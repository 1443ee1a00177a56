//! Write buffers that gather small writes until a flush: one under yamux, so the frames
//! of one turn of the muxer are one TLS record rather than two per frame, and one on each
//! yamux stream, so the pieces of a message written before its flush are one frame
//! rather than one per write.
//!
//! rustls seals whatever one `poll_write` hands it into its own record and, with
//! `TCP_NODELAY`, each record leaves in its own write syscall. yamux writes every frame
//! as two writes (its 12-byte header, then the body) and flushes after each frame, so
//! without the connection's buffer every frame costs two records and two syscalls, the
//! header one carrying 12 bytes of plaintext and a 22-byte record overhead. On a stream,
//! every write is a frame: a lazy protocol negotiation (`codec::SUBSTREAM_NEGOTIATION`)
//! writes the protocol and then the request, which the stream's buffer sends as one.
//!
//! [`WriteBuffer`] keeps bytes until a flush, or until it holds a full record's worth
//! ([`WRITE_COALESCE_BYTES`], also yamux's largest frame body); then it hands the whole
//! buffer on in one write. It never holds more: a write that does not fit is taken in
//! part (the caller writes the rest again), and once the buffer is full nothing more is
//! taken until the inner stream accepted it, so an inner stream that pushes back
//! (`Pending`) stops the writer instead of growing the buffer. A write of a full record
//! or more into an empty buffer goes straight through. Reads pass through untouched.
//! The connection's buffer keeps its allocation; a stream's is allocated when a write is
//! gathered and freed once it went out, so idle streams hold nothing. The connection's
//! buffer also defers yamux's flush after each frame to the end of the muxer call that
//! wrote it ([`BufferedStreams`]), so frames queued together leave together.

use core::pin::Pin;
use core::task::{Context, Poll, ready};
use std::io;
use std::sync::{Arc, Mutex, MutexGuard};

use futures::{AsyncRead, AsyncWrite};
use libp2p::core::muxing::{StreamMuxer, StreamMuxerEvent};

use crate::limits::WRITE_COALESCE_BYTES;

/// Writes to `S` gathered into record-sized writes (see the module doc).
#[derive(Debug)]
pub(crate) struct WriteBuffer<S> {
    inner: S,
    /// At most `WRITE_COALESCE_BYTES` bytes; its capacity is 0 or exactly that.
    buffer: Vec<u8>,
    /// Bytes at the front of `buffer` that `inner` already took.
    sent: usize,
    /// Keep the allocation once drained (the connection's buffer, always in use).
    keep_allocation: bool,
    /// `poll_flush` only notes the wish; [`WriteBuffer::poll_deferred_flush`] flushes.
    defer_flush: bool,
    /// A `poll_flush` was deferred and not yet carried out.
    flush_wanted: bool,
}

impl<S> WriteBuffer<S> {
    /// The buffer between yamux and TLS, allocated once for the connection.
    pub(crate) fn for_connection(inner: S) -> Self {
        WriteBuffer {
            inner,
            buffer: Vec::with_capacity(WRITE_COALESCE_BYTES),
            sent: 0,
            keep_allocation: true,
            defer_flush: false,
            flush_wanted: false,
        }
    }

    /// A yamux stream's buffer, allocated only while it holds bytes.
    pub(crate) fn for_stream(inner: S) -> Self {
        WriteBuffer {
            inner,
            buffer: Vec::new(),
            sent: 0,
            keep_allocation: false,
            defer_flush: false,
            flush_wanted: false,
        }
    }
}

impl<S: AsyncWrite + Unpin> WriteBuffer<S> {
    /// Hand everything buffered to `inner`; `Ready(Ok)` leaves the buffer empty.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let WriteBuffer {
            inner,
            buffer,
            sent,
            keep_allocation,
            ..
        } = self;
        while let Some(unsent) = buffer.get(*sent..).filter(|unsent| !unsent.is_empty()) {
            let taken = ready!(Pin::new(&mut *inner).poll_write(cx, unsent))?;
            if taken == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            *sent = sent.saturating_add(taken.min(unsent.len()));
        }
        if *keep_allocation {
            buffer.clear();
        } else {
            *buffer = Vec::new();
        }
        *sent = 0;
        Poll::Ready(Ok(()))
    }

    /// Carry out a flush that `poll_flush` deferred, if any.
    pub(crate) fn poll_deferred_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.flush_wanted {
            ready!(self.poll_drain(cx))?;
            ready!(Pin::new(&mut self.inner).poll_flush(cx))?;
            self.flush_wanted = false;
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for WriteBuffer<S> {
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
        if this.buffer.capacity() == 0 {
            this.buffer.reserve_exact(WRITE_COALESCE_BYTES);
        }
        this.buffer.extend_from_slice(taken);
        Poll::Ready(Ok(taken.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.defer_flush {
            this.flush_wanted = true;
            return Poll::Ready(Ok(()));
        }
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        ready!(Pin::new(&mut this.inner).poll_close(cx))?;
        // Closing flushed everything: no deferred flush may touch the closed stream.
        this.flush_wanted = false;
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for WriteBuffer<S> {
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

/// The connection's [`WriteBuffer`], shared by the muxer, which reads and writes through
/// it, and [`BufferedStreams`], which carries out its deferred flushes.
pub(crate) type SharedBuffer<S> = Arc<Mutex<WriteBuffer<S>>>;

fn lock<S>(shared: &SharedBuffer<S>) -> MutexGuard<'_, WriteBuffer<S>> {
    // Only ever locked for one poll call, never across an await; a panic inside one
    // leaves bytes that are still whole.
    shared
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The muxer's side of a [`SharedBuffer`].
#[derive(Debug)]
pub(crate) struct SharedWrites<S>(pub(crate) SharedBuffer<S>);

impl<S: AsyncWrite + Unpin> AsyncWrite for SharedWrites<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut *lock(&self.0)).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *lock(&self.0)).poll_flush(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *lock(&self.0)).poll_close(cx)
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for SharedWrites<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut *lock(&self.0)).poll_read(cx, buf)
    }
}

/// A muxer whose streams, inbound and outbound, each get a [`WriteBuffer`], and whose
/// connection buffer flushes once per turn of the muxer rather than once per frame.
///
/// yamux flushes after every frame it writes. The connection's buffer defers those
/// flushes, and this wrapper carries them out when the muxer call that wrote the frames
/// returns: frames queued together (a stream's protocol confirmation in two frames, a
/// response and its end of stream) leave as one TLS record. libp2p polls the muxer each
/// time its connection task wakes, and a flush that the socket holds up (`Pending`)
/// registers that wake-up, so a deferred flush is always carried out.
pub(crate) struct BufferedStreams<M, S> {
    muxer: M,
    connection: SharedBuffer<S>,
}

impl<M, S> BufferedStreams<M, S> {
    /// Wrap `muxer`, which does its I/O through `connection`; from now on the
    /// connection's flushes are deferred to the end of each muxer call.
    pub(crate) fn new(muxer: M, connection: SharedBuffer<S>) -> Self {
        lock(&connection).defer_flush = true;
        BufferedStreams { muxer, connection }
    }
}

impl<M, S: AsyncWrite + Unpin> BufferedStreams<M, S> {
    /// Carry out the connection's deferred flush, then report `polled`: the muxer's
    /// answer, or the flush's failure, which ends the connection.
    fn after<T, E>(
        &mut self,
        cx: &mut Context<'_>,
        polled: Poll<Result<T, E>>,
    ) -> Poll<Result<T, io::Error>>
    where
        E: std::error::Error + Send + Sync + 'static,
    {
        if let Poll::Ready(Err(error)) = lock(&self.connection).poll_deferred_flush(cx) {
            return Poll::Ready(Err(error));
        }
        polled.map_err(io::Error::other)
    }
}

impl<M, S> StreamMuxer for BufferedStreams<M, S>
where
    M: StreamMuxer + Unpin,
    M::Substream: Unpin,
    M::Error: Send + Sync + 'static,
    S: AsyncWrite + Unpin,
{
    type Substream = WriteBuffer<M::Substream>;
    type Error = io::Error;

    fn poll_inbound(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Self::Substream, Self::Error>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.muxer).poll_inbound(cx);
        this.after(cx, polled).map_ok(WriteBuffer::for_stream)
    }

    fn poll_outbound(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Self::Substream, Self::Error>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.muxer).poll_outbound(cx);
        this.after(cx, polled).map_ok(WriteBuffer::for_stream)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.muxer).poll_close(cx);
        this.after(cx, polled)
    }

    fn poll(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<StreamMuxerEvent, Self::Error>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.muxer).poll(cx);
        this.after(cx, polled)
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

    fn stubborn(chunk: usize) -> WriteBuffer<Stubborn> {
        WriteBuffer::for_connection(Stubborn {
            writes: Vec::new(),
            flushes: 0,
            chunk,
            refuse_next: true,
        })
    }

    /// Write all of `data` as `poll_write` calls, retrying on `Pending` like a task that
    /// was woken; checks the bound after every call.
    fn write_all(buffer: &mut WriteBuffer<Stubborn>, mut data: &[u8]) {
        let mut cx = Context::from_waker(noop_waker_ref());
        while !data.is_empty() {
            if let Poll::Ready(taken) = Pin::new(&mut *buffer).poll_write(&mut cx, data) {
                let (_, rest) = data.split_at(taken.unwrap());
                data = rest;
            }
            assert!(buffer.buffer.len() <= WRITE_COALESCE_BYTES);
            assert!([0, WRITE_COALESCE_BYTES].contains(&buffer.buffer.capacity()));
        }
    }

    fn flush(buffer: &mut WriteBuffer<Stubborn>) {
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
    fn deferred_flushes_send_several_frames_as_one_write() {
        let mut buffer = stubborn(usize::MAX);
        buffer.defer_flush = true;
        for frame in [&[1u8; 12][..], &[2; 30], &[3; 12], &[4; 1024], &[5; 12]] {
            write_all(&mut buffer, frame);
            flush(&mut buffer);
        }
        assert!(
            buffer.inner.writes.is_empty(),
            "flushes wait for their turn"
        );
        let mut cx = Context::from_waker(noop_waker_ref());
        while buffer.poll_deferred_flush(&mut cx).is_pending() {}
        assert_eq!(buffer.inner.writes.len(), 1);
        assert_eq!(buffer.inner.writes[0].len(), 12 + 30 + 12 + 1024 + 12);
        assert_eq!(buffer.inner.flushes, 1);
        // Nothing wanted, nothing done.
        while buffer.poll_deferred_flush(&mut cx).is_pending() {}
        assert_eq!(buffer.inner.flushes, 1);
    }

    #[test]
    fn a_stream_buffer_holds_memory_only_until_its_flush() {
        let mut buffer = WriteBuffer::for_stream(stubborn(usize::MAX).inner);
        assert_eq!(buffer.buffer.capacity(), 0);
        write_all(&mut buffer, b"/multistream/1.0.0");
        write_all(&mut buffer, &[2; 1024]);
        assert_eq!(buffer.buffer.capacity(), WRITE_COALESCE_BYTES);
        flush(&mut buffer);
        assert_eq!(buffer.inner.writes.len(), 1);
        assert_eq!(buffer.buffer.capacity(), 0);
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

    /// A muxer that, on its first turn, writes three small frames through the
    /// connection, flushing after each as yamux does.
    struct ThreeFrames {
        connection: SharedWrites<Stubborn>,
        turns: usize,
    }

    impl StreamMuxer for ThreeFrames {
        type Substream = futures::io::Cursor<Vec<u8>>;
        type Error = io::Error;

        fn poll_inbound(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Result<Self::Substream, Self::Error>> {
            Poll::Pending
        }

        fn poll_outbound(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Result<Self::Substream, Self::Error>> {
            Poll::Pending
        }

        fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), io::Error>> {
            Poll::Ready(Ok(()))
        }

        fn poll(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
        ) -> Poll<Result<StreamMuxerEvent, io::Error>> {
            let this = self.get_mut();
            this.turns += 1;
            if this.turns == 1 {
                for frame in [[1u8; 112], [2; 112], [3; 112]] {
                    let connection = Pin::new(&mut this.connection);
                    assert!(matches!(
                        connection.poll_write(cx, &frame),
                        Poll::Ready(Ok(112))
                    ));
                    let connection = Pin::new(&mut this.connection);
                    assert!(matches!(connection.poll_flush(cx), Poll::Ready(Ok(()))));
                }
            }
            Poll::Pending
        }
    }

    fn three_frames(
        chunk: usize,
    ) -> (
        BufferedStreams<ThreeFrames, Stubborn>,
        SharedBuffer<Stubborn>,
    ) {
        let connection = Arc::new(Mutex::new(stubborn(chunk)));
        let muxer = ThreeFrames {
            connection: SharedWrites(Arc::clone(&connection)),
            turns: 0,
        };
        (
            BufferedStreams::new(muxer, Arc::clone(&connection)),
            connection,
        )
    }

    #[test]
    fn the_frames_of_one_muxer_turn_leave_together_once_the_socket_takes_them() {
        let (mut muxer, connection) = three_frames(usize::MAX);
        let mut cx = Context::from_waker(noop_waker_ref());
        // The socket pushes back on the first try: the flush waits for the next turn.
        assert!(Pin::new(&mut muxer).poll(&mut cx).is_pending());
        assert!(lock(&connection).inner.writes.is_empty());
        assert!(Pin::new(&mut muxer).poll(&mut cx).is_pending());
        let connection = lock(&connection);
        assert_eq!(connection.inner.writes.len(), 1);
        assert_eq!(connection.inner.writes[0].len(), 3 * 112);
        assert_eq!(connection.inner.flushes, 1);
    }

    #[test]
    fn a_failed_deferred_flush_ends_the_connection() {
        // A socket that takes nothing.
        let (mut muxer, _connection) = three_frames(0);
        let mut cx = Context::from_waker(noop_waker_ref());
        // The socket pushes back on the first try, then fails on the second.
        assert!(Pin::new(&mut muxer).poll(&mut cx).is_pending());
        let Poll::Ready(Err(error)) = Pin::new(&mut muxer).poll(&mut cx) else {
            panic!("the flush failure is reported");
        };
        assert_eq!(error.kind(), io::ErrorKind::WriteZero);
    }
}
