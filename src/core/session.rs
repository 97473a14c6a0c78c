//! A connection's life on the server: the handshake middleware that authenticates it, the
//! per-socket state, and the handlers registered before the CONNECT is acknowledged.

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
};

use serde_json::Value;
use socketioxide::{
    extract::{SocketRef, TryData},
    ParserError,
};

use crate::core::{
    access,
    auth::{authenticate, token_from_auth},
    config::Config,
    errors::AuthError,
    hooks::AppHooks,
    protocol::{JOIN_CHANNEL, LEAVE_CHANNEL},
};

/// What every connection handler needs: the configuration, the registered categories and the
/// app's callbacks.
pub struct Shared {
    /// The server's configuration.
    pub config: Config,
    /// Registered categories, mapped to whether they have an access check.
    pub categories: HashMap<String, bool>,
    /// The app's callbacks.
    pub hooks: Arc<dyn AppHooks>,
}

/// State kept per socket (in its extensions). When the socket is dropped, the app is told to
/// forget the connection, whether it disconnected normally or died during the handshake.
pub struct SocketState {
    pending_joins: AtomicUsize,
    forget: Option<(Arc<dyn AppHooks>, String)>,
}

impl SocketState {
    fn new(forget: Option<(Arc<dyn AppHooks>, String)>) -> Self {
        Self { pending_joins: AtomicUsize::new(0), forget }
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
    /// The handshake middleware: authenticates, stores the socket state and registers the
    /// channel handlers. It runs before socketioxide acknowledges the CONNECT, so a
    /// `joinChannel` sent right after `connect` always finds its handler.
    pub async fn on_connect(
        self: Arc<Self>,
        socket: SocketRef,
        auth: Result<Value, ParserError>,
    ) -> Result<(), AuthError> {
        let forget = if self.config.authenticate {
            let auth = auth.unwrap_or(Value::Null);
            let token = token_from_auth(&auth, self.config.max_token_len)?;
            let sid = socket.id.to_string();
            if let Err(e) = authenticate(&self.hooks, &self.config, sid.clone(), token).await {
                // A late success must not leave an auth context behind.
                self.hooks.forget(sid);
                tracing::debug!(sid = %socket.id, error = %e, "connection refused");
                return Err(e);
            }
            Some((self.hooks.clone(), sid))
        } else {
            None
        };
        socket.extensions.insert(Arc::new(SocketState::new(forget)));

        let shared = self.clone();
        socket.on(JOIN_CHANNEL, move |s: SocketRef, TryData(arg): TryData<Value>| {
            let shared = shared.clone();
            async move { access::handle_join(&shared, &s, arg.unwrap_or(Value::Null)).await }
        });
        socket.on(LEAVE_CHANNEL, |s: SocketRef, TryData(arg): TryData<Value>| async move {
            access::handle_leave(&s, arg.unwrap_or(Value::Null))
        });
        Ok(())
    }
}
