//! What every connection of a server shares: its configuration, registered categories,
//! policy (the bounded way to the app's hooks), which socket events the app listens to,
//! and where client publishes go.

use std::{
    collections::{HashMap, HashSet},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, RwLock,
    },
};

use crate::{
    broadcast::Broadcaster,
    config::{ChannelSpec, Config},
    metrics::{Metrics, Transport},
    policy::Policy,
    recovery::Recovery,
    socket_state::SocketState,
};

/// Shared by every connection and flow of one server.
pub struct Shared {
    /// The server's configuration.
    pub config: Config,
    /// Registered categories by name.
    pub categories: HashMap<String, ChannelSpec>,
    /// The app's hooks, bounded.
    pub policy: Arc<Policy>,
    /// Whether the app listens for connections and disconnections.
    pub wants_socket_notices: AtomicBool,
    /// Client event names the app has handlers for; others are ignored.
    pub event_names: RwLock<HashSet<String>>,
    /// Where client publishes go (the same path as the app's broadcasts).
    pub broadcaster: Arc<Broadcaster>,
    /// The server's counters.
    pub metrics: Arc<Metrics>,
    /// Connection state recovery, when on.
    pub recovery: Option<Arc<Recovery>>,
}

impl Shared {
    /// Everything shared, for `config`.
    pub fn new(
        config: Config,
        policy: Arc<Policy>,
        broadcaster: Arc<Broadcaster>,
        metrics: Arc<Metrics>,
    ) -> Self {
        let categories = config.channels.iter().map(|c| (c.category.clone(), c.clone())).collect();
        let config_recovery = config.recovery.map(|r| Arc::new(Recovery::new(r)));
        Self {
            config,
            categories,
            policy,
            wants_socket_notices: AtomicBool::new(false),
            event_names: RwLock::new(HashSet::new()),
            broadcaster,
            metrics,
            recovery: config_recovery,
        }
    }

    /// The state of a newly connected socket `sid` on `transport`. The app keeps
    /// per-connection state only when it authenticates or tracks sockets, so only then is it
    /// told to forget it later.
    pub fn socket_state(&self, sid: &str, transport: Transport) -> SocketState {
        let forget = (self.config.authenticate || self.wants_notices())
            .then(|| self.policy.forget_on_drop(sid));
        let counted = self.metrics.connected(transport);
        SocketState::new(forget, self.config.max_joins_per_second, Some(counted))
    }

    /// Whether the app listens for connections and disconnections.
    pub fn wants_notices(&self) -> bool {
        self.wants_socket_notices.load(Ordering::Acquire)
    }

    /// Whether the app has a handler for client event `event`.
    pub fn listens_to(&self, event: &str) -> bool {
        self.event_names.read().is_ok_and(|names| names.contains(event))
    }
}
