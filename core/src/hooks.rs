//! The app's code, as the core sees it: a trait the binding implements over JS callbacks.
//! The core calls the awaited hooks only through [`crate::policy::Policy`], which
//! bounds each call (timeout, concurrency).

use std::{future::Future, pin::Pin, sync::Arc};

use crate::payload::Payload;

/// A boxed future, as returned by [`AppHooks`].
pub type HookFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// What an access check answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessVerdict {
    /// The check resolved `true`.
    Allowed,
    /// The check resolved `false`.
    Denied,
    /// The check threw, rejected or resolved a non-boolean (the app side has logged why).
    Failed,
}

/// The app-side callbacks the core awaits. Implementations must not block; the policy layer
/// bounds every returned future with a timeout and a server-wide cap on calls in flight.
/// A call reaches the app when the method is called, not when its future is first polled:
/// calls made in some order reach the app in that order.
pub trait AppHooks: Send + Sync + 'static {
    /// Authenticates a new connection `sid` with the handshake's token. `Ok` means the app
    /// stored an auth context for `sid`; `Err` carries the message to refuse with.
    fn authenticate(&self, sid: String, token: Option<String>) -> HookFuture<Result<(), String>>;

    /// Runs the access check of `category` for connection `sid` joining `category:id`.
    fn check_access(&self, sid: String, category: String, id: String) -> HookFuture<AccessVerdict>;

    /// Connection `sid` is gone: drop whatever the app keeps for it. Fire and forget.
    fn forget(&self, sid: String);

    /// A connection's life event, for the app's `onConnection`/`onDisconnect` handlers. Only
    /// sent while the app listens for them. Fire and forget; delivered in order.
    fn socket_notice(&self, sid: String, notice: SocketNotice);

    /// A client event the app registered a handler for. Resolves to the acknowledgement to
    /// send (`None`: no ack, e.g. the handler threw).
    fn on_event(
        &self,
        sid: String,
        event: String,
        args: Payload,
        wants_ack: bool,
    ) -> HookFuture<Option<Payload>>;

    /// A client's `publish` to `category:id` with JSON `data`: resolves to the JSON to
    /// broadcast, or to the rejection message for `publishError`.
    fn on_publish(
        &self,
        sid: String,
        category: String,
        id: String,
        data: String,
    ) -> HookFuture<Result<String, String>>;

    /// This instance's members of `channel`, as a JSON array of `{ socketId, user }`, for
    /// another instance's presence query. `None` when the app cannot say.
    fn local_members(&self, channel: String) -> HookFuture<Option<String>>;
}

/// Where a connection comes from, as the app's method context shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConnectionInfo {
    /// The peer's IP address (the direct peer: a proxy's, behind one).
    pub ip: Option<String>,
    /// The `User-Agent` of the request that opened the connection (at most 256 bytes).
    pub user_agent: Option<String>,
}

/// The peer IP [`ConnectionInfo`] shows for a TCP connection: its direct peer's, an
/// IPv4-mapped IPv6 address as plain IPv4 (what socket.io shows).
pub fn peer_ip(stream: &tokio::net::TcpStream) -> Option<std::net::IpAddr> {
    stream.peer_addr().ok().map(|addr| addr.ip().to_canonical())
}

/// Longest `User-Agent` kept for [`ConnectionInfo`].
pub const MAX_USER_AGENT_LEN: usize = 256;

/// A connection's life event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SocketNotice {
    /// Authenticated and acknowledged, from where.
    Connected(ConnectionInfo),
    /// Gone, with socket.io's reason text.
    Disconnected(String),
    /// An `onEvent` handler for this event did not settle within the event timeout; no ack
    /// was sent.
    EventTimedOut(String),
}

/// Tells the app to forget connection `sid` when dropped (whatever ended the connection).
pub struct Forget {
    hooks: Arc<dyn AppHooks>,
    sid: String,
}

impl Forget {
    /// Forgets `sid` through `hooks` on drop.
    pub fn new(hooks: Arc<dyn AppHooks>, sid: String) -> Self {
        Self { hooks, sid }
    }
}

impl Drop for Forget {
    fn drop(&mut self) {
        self.hooks.forget(std::mem::take(&mut self.sid));
    }
}
