//! The IO of one connection served by socketioxide (TCP or bridged): bytes replayed in front of the stream, and a
//! kill switch that aborts it from outside (slow consumers, `close()`).

use std::{
    io,
    pin::Pin,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    task::{Context, Poll},
};

use bytes::{Buf, Bytes};
use futures_util::task::AtomicWaker;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::metrics::Metrics;

/// Aborts one connection: every later read or write fails, and pending ones wake up to fail.
#[derive(Debug, Default)]
pub struct KillSwitch {
    killed: AtomicBool,
    read_waker: AtomicWaker,
    write_waker: AtomicWaker,
}

impl KillSwitch {
    /// Aborts the connection. Idempotent.
    pub fn kill(&self) {
        self.killed.store(true, Ordering::Release);
        self.read_waker.wake();
        self.write_waker.wake();
    }

    fn check(&self, waker: &AtomicWaker, cx: &Context<'_>) -> io::Result<()> {
        waker.register(cx.waker());
        if self.killed.load(Ordering::Acquire) {
            Err(io::Error::new(io::ErrorKind::ConnectionAborted, "connection closed by the server"))
        } else {
            Ok(())
        }
    }
}

/// A connection's IO: first the `prefix` bytes (what Node had already read), then `inner`;
/// every operation fails once the [`KillSwitch`] is pulled.
pub struct ClientIo<I> {
    prefix: Bytes,
    inner: I,
    kill: Arc<KillSwitch>,
    metrics: Arc<Metrics>,
}

impl<I> ClientIo<I> {
    /// Wraps `inner`, replaying `prefix` before its own bytes; bytes are counted in `metrics`.
    pub fn new(inner: I, prefix: Bytes, kill: Arc<KillSwitch>, metrics: Arc<Metrics>) -> Self {
        Self { prefix, inner, kill, metrics }
    }
}

/// Counts the bytes a poll moved.
fn count(result: Poll<io::Result<usize>>, tally: impl FnOnce(usize)) -> Poll<io::Result<usize>> {
    if let Poll::Ready(Ok(n)) = result {
        tally(n);
    }
    result
}

impl<I: AsyncRead + Unpin> AsyncRead for ClientIo<I> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        this.kill.check(&this.kill.read_waker, cx)?;
        if !this.prefix.is_empty() {
            let n = this.prefix.len().min(buf.remaining());
            buf.put_slice(&this.prefix[..n]);
            this.prefix.advance(n);
            if this.prefix.is_empty() {
                // An advanced-to-empty `Bytes` still owns its allocation: free it now rather
                // than when the connection closes.
                this.prefix = Bytes::new();
            }
            return Poll::Ready(Ok(()));
        }
        let before = buf.filled().len();
        let result = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = result {
            this.metrics.received(buf.filled().len() - before);
        }
        result
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for ClientIo<I> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.kill.check(&self.kill.write_waker, cx)?;
        let metrics = self.metrics.clone();
        count(Pin::new(&mut self.inner).poll_write(cx, buf), |n| metrics.sent(n))
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.kill.check(&self.kill.write_waker, cx)?;
        let metrics = self.metrics.clone();
        count(Pin::new(&mut self.inner).poll_write_vectored(cx, bufs), |n| metrics.sent(n))
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.kill.check(&self.kill.write_waker, cx)?;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn metrics() -> Arc<Metrics> {
        Arc::new(Metrics::new([]))
    }

    #[tokio::test]
    async fn replays_the_prefix_then_reads_the_stream() {
        let (a, mut b) = tokio::io::duplex(64);
        b.write_all(b" world").await.unwrap();
        drop(b);
        let mut io = ClientIo::new(a, Bytes::from_static(b"hello"), Arc::default(), metrics());
        let mut out = String::new();
        io.read_to_string(&mut out).await.unwrap();
        assert_eq!(out, "hello world");
    }

    #[tokio::test]
    async fn kill_wakes_a_pending_read_with_an_error() {
        let (a, _b) = tokio::io::duplex(64);
        let kill = Arc::new(KillSwitch::default());
        let mut io = ClientIo::new(a, Bytes::new(), kill.clone(), metrics());
        let reader = tokio::spawn(async move {
            let mut buf = [0u8; 8];
            io.read(&mut buf).await
        });
        tokio::task::yield_now().await;
        kill.kill();
        let err = reader.await.unwrap().unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionAborted);
    }
}
