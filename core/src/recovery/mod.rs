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

pub mod history;
mod sessions;

use std::time::Duration;

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
    /// Sessions that ended involuntarily, by private id.
    pub sessions: Sessions,
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
        }
    }
}
