//! Connection state recovery (socket.io 4.6+'s, which socket.io-client 4.x speaks): a client
//! that lost its connection without meaning to gets its socket id, its channels and the
//! broadcasts it missed back when it reconnects within `max_disconnection`.
//!
//! On the wire: the CONNECT ack carries a private id (`40{"sid":…,"pid":…}`); every event
//! the server sends without asking for an ack carries an offset as its last argument
//! (broadcasts: their own; anything else: the last broadcast the socket received). A
//! reconnecting client sends `40{"pid":…,"offset":…,…auth}`; the server re-runs
//! `authenticate` and the access checks, writes the missed broadcasts with their offsets,
//! then acks with the same sid and pid.
//!
//! Ordering: offsets are given out under the history's lock (see [`History::lock`]), and a
//! restore computes its replay and sets the socket's position under the same lock, so each
//! broadcast reaches a recovering client exactly once: from the replay, or live.
//! Native engine only: socketioxide's sessions get no pid, so their clients never ask.
//!
//! Across instances ([`Recovery::share_through`]): the backend gives every broadcast its
//! offset and hands it to every instance in offset order (`crate::adapter::Order`), so each
//! instance's history holds the same offsets for the same broadcasts, and a session saved
//! in the backend by one instance is recovered by any other from its own history.

pub mod history;
mod sessions;

use std::{
    sync::{Arc, OnceLock},
    time::Duration,
};

use crate::adapter::SessionStore;

pub use history::{Gap, History, HistoryLimits, Missed};
pub use sessions::{Saved, Sessions};

/// Recovery's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecoveryConfig {
    /// How long after an involuntary disconnect a session can be recovered. Default 2 min.
    pub max_disconnection: Duration,
    /// Broadcasts kept per channel. Default 1000.
    pub max_messages_per_channel: usize,
    /// Bytes of broadcasts kept in all (data plus ~96 bytes each). Default 16 MiB.
    pub max_history_bytes: usize,
}

impl Default for RecoveryConfig {
    fn default() -> Self {
        Self {
            max_disconnection: Duration::from_secs(120),
            max_messages_per_channel: 1000,
            max_history_bytes: 16 * 1024 * 1024,
        }
    }
}

/// One server's recovery state: the history and the sessions waiting to be recovered.
pub struct Recovery {
    /// The retained broadcasts.
    pub history: History,
    /// Sessions that ended involuntarily, by private id (when no backend keeps them), and
    /// the live ones.
    pub sessions: Sessions,
    /// The cluster's backend, keeping sessions for every instance; set once.
    shared: OnceLock<Arc<dyn SessionStore>>,
    window: Duration,
}

impl Recovery {
    /// Recovery with `config`.
    pub fn new(config: RecoveryConfig) -> Self {
        Self {
            history: History::new(HistoryLimits {
                max_age: config.max_disconnection,
                per_channel: config.max_messages_per_channel.max(1),
                total_bytes: config.max_history_bytes,
            }),
            sessions: Sessions::new(config.max_disconnection),
            shared: OnceLock::new(),
            window: config.max_disconnection,
        }
    }

    /// From now on sessions are kept in the cluster's backend, and broadcasts are sequenced
    /// by it.
    pub fn share_through(&self, store: Arc<dyn SessionStore>) {
        let _ = self.shared.set(store);
    }

    /// Whether this instance recovers across the cluster (its broadcasts are sequenced).
    pub fn is_shared(&self) -> bool {
        self.shared.get().is_some()
    }

    /// Keeps the session of a connection that ended involuntarily under `pid`.
    pub fn save(&self, pid: &str, saved: Saved) {
        match self.shared.get() {
            Some(store) => match serde_json::to_string(&saved) {
                Ok(json) => store.save(pid, json, self.window),
                Err(e) => tracing::warn!(error = %e, "cannot encode a recoverable session"),
            },
            None => self.sessions.save(pid, saved),
        }
    }

    /// Takes the session saved under `pid`, if it is still within the window (once).
    pub async fn take(&self, pid: &str) -> Option<Saved> {
        match self.shared.get() {
            Some(store) => serde_json::from_str(&store.take(pid).await?).ok(),
            None => self.sessions.take(pid),
        }
    }
}
