//! A connection's life on the server: the handshake middleware that authenticates it, the
//! per-socket state, and the handlers registered before the CONNECT is acknowledged.

use std::{
    collections::{HashMap, HashSet},
    convert::Infallible,
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        Arc, Mutex, RwLock,
    },
    time::Instant,
};

use serde_json::Value;
use socketioxide::{
    adapter::Adapter,
    extract::{AckSender, Event, SocketRef, TryData},
    handler::FromMessageParts,
    socket::{DisconnectReason, Socket},
    ParserError,
};

use crate::core::{
    access,
    auth::{authenticate, token_from_auth},
    client::{AckReply, Client},
    config::{ChannelSpec, Config},
    errors::AuthError,
    fanout::Broadcaster,
    hooks::{AppHooks, SocketNotice},
    payload::Payload,
    protocol::{JOIN_CHANNEL, LEAVE_CHANNEL, PUBLISH},
    publish,
};

/// What every connection handler needs: the configuration, the registered categories, the
/// app's callbacks and which socket events the app listens to.
pub struct Shared {
    /// The server's configuration.
    pub config: Config,
    /// Registered categories by name.
    pub categories: HashMap<String, ChannelSpec>,
    /// The app's callbacks.
    pub hooks: Arc<dyn AppHooks>,
    /// Whether the app listens for connections and disconnections.
    pub wants_socket_notices: AtomicBool,
    /// Client event names the app has handlers for; others are ignored.
    pub event_names: RwLock<HashSet<String>>,
    /// Where client publishes go (the same path as the app's broadcasts).
    pub broadcaster: Arc<Broadcaster>,
}

/// State kept per socket (in its extensions). When the socket is dropped, the app is told to
/// forget the connection, whether it disconnected normally or died during the handshake.
pub struct SocketState {
    pending_joins: AtomicUsize,
    joining: Mutex<()>,
    join_budget: Mutex<TokenBucket>,
    forget: Option<(Arc<dyn AppHooks>, String)>,
}

/// A token bucket: `rate` tokens per second, holding at most `2 × rate`.
#[derive(Debug)]
pub struct TokenBucket {
    rate: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket for `rate` per second.
    pub fn new(rate: u32) -> Self {
        let rate = f64::from(rate.max(1));
        Self { rate, tokens: rate * 2.0, last: Instant::now() }
    }

    /// Takes one token if there is one.
    pub fn take(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.rate).min(self.rate * 2.0);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

impl SocketState {
    pub(crate) fn new(forget: Option<(Arc<dyn AppHooks>, String)>, joins_per_second: u32) -> Self {
        Self {
            pending_joins: AtomicUsize::new(0),
            joining: Mutex::new(()),
            join_budget: Mutex::new(TokenBucket::new(joins_per_second)),
            forget,
        }
    }

    /// Serializes the cap check and the room join of this socket's concurrent joins.
    pub fn join_lock(&self) -> std::sync::MutexGuard<'_, ()> {
        self.joining.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Whether one more join fits in this socket's join rate.
    pub fn allow_join(&self) -> bool {
        self.join_budget.lock().map(|mut bucket| bucket.take(Instant::now())).unwrap_or(false)
    }

    /// Reserves one of `limit` slots for a join awaiting its access check; `None` when full.
    pub fn reserve_pending_join(self: &Arc<Self>, limit: usize) -> Option<PendingJoin> {
        let previous = self.pending_joins.fetch_add(1, Ordering::AcqRel);
        let slot = PendingJoin(self.clone());
        (previous < limit).then_some(slot)
    }
}

impl Drop for SocketState {
    fn drop(&mut self) {
        if let Some((hooks, sid)) = self.forget.take() {
            hooks.forget(sid);
        }
    }
}

/// A reserved pending-join slot, released on drop.
pub struct PendingJoin(Arc<SocketState>);

impl Drop for PendingJoin {
    fn drop(&mut self) {
        self.0.pending_joins.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Shared {
    /// The state of a newly connected socket `sid`. The app keeps per-connection state only
    /// when it authenticates or tracks sockets, so only then is it told to forget it later.
    pub fn socket_state(&self, sid: &str) -> SocketState {
        let forget = (self.config.authenticate || self.wants_notices())
            .then(|| (self.hooks.clone(), sid.to_owned()));
        SocketState::new(forget, self.config.max_joins_per_second)
    }

    /// Whether the app listens for connections and disconnections.
    pub fn wants_notices(&self) -> bool {
        self.wants_socket_notices.load(Ordering::Acquire)
    }

    /// Whether the app has a handler for client event `event`.
    pub fn listens_to(&self, event: &str) -> bool {
        self.event_names.read().is_ok_and(|names| names.contains(event))
    }

    /// The handshake middleware: authenticates, stores the socket state and registers the
    /// channel handlers. It runs before socketioxide acknowledges the CONNECT, so a
    /// `joinChannel` sent right after `connect` always finds its handler.
    pub async fn on_connect(
        self: Arc<Self>,
        socket: SocketRef,
        auth: Result<Value, ParserError>,
    ) -> Result<(), AuthError> {
        if self.config.authenticate {
            let auth = auth.unwrap_or(Value::Null);
            let token = token_from_auth(&auth, self.config.max_token_len)?;
            let sid = socket.id.to_string();
            if let Err(e) = authenticate(&self.hooks, &self.config, sid.clone(), token).await {
                // A late success must not leave an auth context behind.
                self.hooks.forget(sid);
                tracing::debug!(sid = %socket.id, error = %e, "connection refused");
                return Err(e);
            }
        }
        socket.extensions.insert(Arc::new(self.socket_state(&socket.id.to_string())));

        let shared = self.clone();
        socket.on(JOIN_CHANNEL, move |s: SocketRef, TryData(arg): TryData<Value>| {
            let shared = shared.clone();
            async move {
                access::handle_join(&shared, &Client::Engine(s), arg.unwrap_or(Value::Null)).await
            }
        });
        socket.on(LEAVE_CHANNEL, |s: SocketRef, TryData(arg): TryData<Value>| async move {
            access::handle_leave(&Client::Engine(s), arg.unwrap_or(Value::Null))
        });
        let shared = self.clone();
        socket.on(PUBLISH, move |s: SocketRef, TryData(args): TryData<Payload>, ack: AckSender| {
            let shared = shared.clone();
            async move {
                publish::handle_publish(&shared, &Client::Engine(s), args, AckReply::Engine(ack))
                    .await
            }
        });
        let shared = self.clone();
        socket.on_fallback(
            move |s: SocketRef, Event(event), TryData(args): TryData<Payload>, WantsAck(wants_ack), ack: AckSender| {
                let shared = shared.clone();
                async move {
                    let Ok(args) = args else {
                        tracing::debug!(sid = %s.id, %event, "event arguments could not be decoded");
                        return;
                    };
                    shared.on_app_event(&Client::Engine(s), event.to_string(), args, wants_ack, AckReply::Engine(ack)).await
                }
            },
        );
        let shared = self.clone();
        socket.on_disconnect(move |s: SocketRef, reason: DisconnectReason| {
            let shared = shared.clone();
            async move {
                if shared.wants_notices() {
                    let notice = SocketNotice::Disconnected(socket_io_reason(reason).to_owned());
                    shared.hooks.socket_notice(s.id.to_string(), notice);
                }
            }
        });
        Ok(())
    }

    /// The connect handler proper, run once socketioxide has acknowledged the CONNECT (and
    /// counts the socket as connected): tells the app, if it listens.
    pub async fn on_connected(self: Arc<Self>, socket: SocketRef) {
        if self.wants_notices() {
            self.hooks.socket_notice(socket.id.to_string(), SocketNotice::Connected);
        }
    }

    /// A client event outside the channel protocol: handed to the app's handler if it has one.
    pub async fn on_app_event(
        &self,
        client: &Client,
        event: String,
        args: Payload,
        wants_ack: bool,
        reply: AckReply,
    ) {
        if !self.listens_to(&event) {
            return;
        }
        let reply_args = self.hooks.on_event(client.id(), event, args, wants_ack).await;
        if let (true, Some(reply_args)) = (wants_ack, reply_args) {
            if let Err(error) = reply.send_args(reply_args) {
                tracing::debug!(?error, "acknowledgement could not be sent");
            }
        }
    }
}

/// The disconnect reason under the name socket.io's own server gives it.
pub fn socket_io_reason(reason: DisconnectReason) -> &'static str {
    match reason {
        DisconnectReason::TransportClose => "transport close",
        DisconnectReason::MultipleHttpPollingError => "multiple http polling error",
        DisconnectReason::PacketParsingError => "parse error",
        DisconnectReason::TransportError => "transport error",
        DisconnectReason::HeartbeatTimeout => "ping timeout",
        DisconnectReason::ClientNSDisconnect => "client namespace disconnect",
        DisconnectReason::ServerNSDisconnect => "server namespace disconnect",
        DisconnectReason::ClosingServer => "server shutting down",
    }
}

/// Extracts whether the client asked for an acknowledgement of this message.
pub struct WantsAck(pub bool);

impl<A: Adapter> FromMessageParts<A> for WantsAck {
    type Error = Infallible;
    fn from_message_parts(
        _: &Arc<Socket<A>>,
        _: &mut socketioxide_core::Value,
        ack_id: &Option<i64>,
    ) -> Result<Self, Infallible> {
        Ok(WantsAck(ack_id.is_some()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn bucket_allows_a_burst_then_the_rate() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(10);
        bucket.last = start;
        let burst = (0..100).filter(|_| bucket.take(start)).count();
        assert_eq!(burst, 20);
        assert!(!bucket.take(start));
        assert!(bucket.take(start + Duration::from_millis(100)));
        assert!(!bucket.take(start + Duration::from_millis(100)));
    }
}
