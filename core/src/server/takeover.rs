//! Attach mode's early takeover (Unix): a connection the app's HTTP server has just accepted
//! comes here before Node reads a byte of it. Its first request head is peeked (read
//! without consuming it): a new websocket session under the server's path is kept and
//! served natively; anything else (the app's routes, long-polling, metrics, a head that is
//! late, too long or malformed) is handed back to Node exactly as it arrived, so Node's HTTP
//! server never sees a difference. What this saves Node's thread per websocket connection:
//! its socket object, HTTP parser and `upgrade` event.

use std::{
    io,
    mem::MaybeUninit,
    os::fd::{OwnedFd, RawFd},
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use bytes::Bytes;
use tokio::{io::ReadBuf, net::TcpStream};

use crate::{
    errors::ServeError,
    native::{handshake::head_end, native_upgrade},
    server::{
        listen::{HEAD_TIMEOUT, MAX_SNIFFED_HEAD},
        Server,
    },
};

/// Takes back a connection the server did not keep, its bytes unread; it owns the descriptor.
pub type GiveBack = Arc<dyn Fn(OwnedFd) + Send + Sync>;

/// How long to wait before peeking again at a request head that arrived in parts.
const PEEK_RETRY: Duration = Duration::from_millis(5);

impl Server {
    /// Looks at connection `fd` (duplicated; the caller closes its own copy on return): a
    /// new websocket session is served here, anything else goes to `give_back` untouched.
    /// Fails only when the server is closed or `fd` cannot be duplicated; the caller then
    /// serves the connection itself.
    pub fn take_over_fd(
        self: &Arc<Self>,
        fd: RawFd,
        give_back: GiveBack,
    ) -> Result<(), ServeError> {
        self.serve_duplicate(fd, move |server, stream| server.keep_or_give_back(stream, give_back))
    }

    async fn keep_or_give_back(self: Arc<Self>, stream: TcpStream, give_back: GiveBack) {
        let Some(peeked) = self.peek_head(&stream).await else {
            return hand_back(stream, &give_back);
        };
        let (Some(native), Some(upgrade)) =
            (&self.native, native_upgrade(&peeked, &self.config().path, &self.config().cors))
        else {
            return hand_back(stream, &give_back);
        };
        self.spawn(native.adopt_peeked(stream, upgrade));
    }

    /// The connection's first request head (with whatever followed it), without consuming
    /// it; `None` when it is not complete within [`HEAD_TIMEOUT`] and [`MAX_SNIFFED_HEAD`]
    /// bytes, the peer closed, or the server is closing. No buffer is held while waiting:
    /// a connection that sends nothing costs its task and descriptor only, as in standalone
    /// mode, until the timeout gives it back. A head that is already there (the usual case)
    /// costs one peek and no timer.
    async fn peek_head(&self, stream: &TcpStream) -> Option<Bytes> {
        let head = async {
            loop {
                let peeked = std::future::poll_fn(|cx| poll_peek_head(stream, cx)).await.ok()?;
                if head_end(&peeked).is_some() {
                    return Some(peeked);
                }
                if peeked.is_empty() || peeked.len() == MAX_SNIFFED_HEAD {
                    return None;
                }
                // A peek leaves the socket readable, so readiness cannot say when more has come.
                tokio::time::sleep(PEEK_RETRY).await;
            }
        };
        tokio::select! {
            biased;
            head = tokio::time::timeout(HEAD_TIMEOUT, head) => head.ok().flatten(),
            _ = self.shutdown.cancelled() => None,
        }
    }
}

/// Peeks at what `stream` has received so far, at most [`MAX_SNIFFED_HEAD`] bytes, into a
/// buffer that lives on the stack for this poll only (never in the waiting task); the bytes
/// come back copied, so a kept head holds its own length and no more.
fn poll_peek_head(stream: &TcpStream, cx: &mut Context<'_>) -> Poll<io::Result<Bytes>> {
    let mut storage = [MaybeUninit::<u8>::uninit(); MAX_SNIFFED_HEAD];
    let mut buffer = ReadBuf::uninit(&mut storage);
    stream.poll_peek(cx, &mut buffer).map_ok(|_| Bytes::copy_from_slice(buffer.filled()))
}

/// Releases `stream` from the runtime without closing it and gives its descriptor back.
fn hand_back(stream: TcpStream, give_back: &GiveBack) {
    match stream.into_std() {
        Ok(stream) => give_back(OwnedFd::from(stream)),
        Err(error) => tracing::warn!(%error, "a connection could not be handed back"),
    }
}
