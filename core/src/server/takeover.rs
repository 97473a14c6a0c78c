//! Attach mode's early takeover (Unix): a connection the app's HTTP server has just accepted
//! comes here before Node reads a byte of it. Its first request head is peeked (read
//! without consuming it): a new websocket session under the server's path is kept and
//! served natively; anything else (the app's routes, long-polling, metrics, a head that is
//! late, too long or malformed) is handed back to Node exactly as it arrived, so Node's HTTP
//! server never sees a difference. What this saves Node's thread per websocket connection:
//! its socket object, HTTP parser and `upgrade` event.

use std::{
    os::fd::{OwnedFd, RawFd},
    sync::Arc,
    time::Duration,
};

use bytes::Bytes;
use tokio::{net::TcpStream, time::Instant};

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

/// How long to wait before peeking again at a request head that arrived in parts (a peek
/// leaves the socket readable, so readiness cannot say when more has come).
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
    /// mode, until the timeout gives it back.
    async fn peek_head(&self, stream: &TcpStream) -> Option<Bytes> {
        let deadline = Instant::now() + HEAD_TIMEOUT;
        loop {
            tokio::select! {
                _ = self.shutdown.cancelled() => return None,
                _ = tokio::time::sleep_until(deadline) => return None,
                ready = stream.readable() => ready.ok()?,
            }
            let mut buffer = vec![0u8; MAX_SNIFFED_HEAD];
            let peeked = tokio::select! {
                _ = self.shutdown.cancelled() => return None,
                _ = tokio::time::sleep_until(deadline) => return None,
                peeked = stream.peek(&mut buffer) => peeked.ok()?,
            };
            if head_end(&buffer[..peeked]).is_some() {
                buffer.truncate(peeked);
                return Some(Bytes::from(buffer));
            }
            if peeked == 0 || peeked == buffer.len() {
                return None;
            }
            drop(buffer); // not held across the wait below
            tokio::select! {
                _ = self.shutdown.cancelled() => return None,
                _ = tokio::time::sleep_until(deadline.min(Instant::now() + PEEK_RETRY)) => {}
            }
        }
    }
}

/// Releases `stream` from the runtime without closing it and gives its descriptor back.
fn hand_back(stream: TcpStream, give_back: &GiveBack) {
    match stream.into_std() {
        Ok(stream) => give_back(OwnedFd::from(stream)),
        Err(error) => tracing::warn!(%error, "a connection could not be handed back"),
    }
}
