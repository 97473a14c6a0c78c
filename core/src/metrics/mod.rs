//! Counters of one server, cheap enough to leave on: relaxed atomics bumped where things
//! happen (once per broadcast or per syscall on the hot path, never per delivery), read and
//! rendered in the Prometheus text format (version 0.0.4) only when scraped. Every label
//! comes from a bounded set: the registered channel categories (others count as
//! `unknown`), the two transports, and the fixed lists of results, reasons and hooks below.

pub mod histogram;
mod process;
mod render;

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicI64, AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, SystemTime},
};

pub use histogram::Histogram;
pub use render::Snapshot;

/// The category label of channels whose category is not registered (or not valid).
pub const UNKNOWN_CATEGORY: &str = "unknown";

/// How a socket is connected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// A websocket (the native engine, or socketioxide after an upgrade).
    Websocket,
    /// HTTP long-polling.
    Polling,
}

impl Transport {
    const ALL: [Transport; 2] = [Transport::Websocket, Transport::Polling];

    fn label(self) -> &'static str {
        match self {
            Transport::Websocket => "websocket",
            Transport::Polling => "polling",
        }
    }
}

/// The outcome of a `joinChannel`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinResult {
    /// Joined.
    Ok,
    /// The access check said no (or the category is not registered).
    Denied,
    /// The name was not a valid channel name.
    Invalid,
    /// The access check did not settle in time.
    Timeout,
    /// A per-socket rate or cap refused it.
    RateLimited,
    /// The access check threw.
    Error,
}

impl JoinResult {
    const ALL: [JoinResult; 6] = [
        JoinResult::Ok,
        JoinResult::Denied,
        JoinResult::Invalid,
        JoinResult::Timeout,
        JoinResult::RateLimited,
        JoinResult::Error,
    ];

    fn label(self) -> &'static str {
        match self {
            JoinResult::Ok => "ok",
            JoinResult::Denied => "denied",
            JoinResult::Invalid => "invalid",
            JoinResult::Timeout => "timeout",
            JoinResult::RateLimited => "rate_limited",
            JoinResult::Error => "error",
        }
    }
}

/// The app hooks whose duration is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hook {
    /// `authenticate`.
    Authenticate,
    /// `canAccessChannel`.
    AccessCheck,
    /// An `onEvent` handler (live queries run as one).
    OnEvent,
    /// `onPublish`.
    OnPublish,
    /// The local members lookup answering another instance's presence query.
    Presence,
}

impl Hook {
    const ALL: [Hook; 5] =
        [Hook::Authenticate, Hook::AccessCheck, Hook::OnEvent, Hook::OnPublish, Hook::Presence];

    fn label(self) -> &'static str {
        match self {
            Hook::Authenticate => "authenticate",
            Hook::AccessCheck => "access_check",
            Hook::OnEvent => "on_event",
            Hook::OnPublish => "on_publish",
            Hook::Presence => "presence",
        }
    }
}

/// Disconnect reasons, under socket.io's names; anything else counts as `other`.
const REASONS: [&str; 10] = [
    "transport close",
    "transport error",
    "parse error",
    "ping timeout",
    "client namespace disconnect",
    "server namespace disconnect",
    "server shutting down",
    "forced server close",
    "multiple http polling error",
    "other",
];

/// How a CONNECT that asked to recover a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecoveryResult {
    /// The session came back with what it missed.
    Recovered,
    /// No such session (never saved, already used, or past the window).
    Expired,
    /// The session's position fell out of the history.
    Gap,
}

impl RecoveryResult {
    const ALL: [RecoveryResult; 3] =
        [RecoveryResult::Recovered, RecoveryResult::Expired, RecoveryResult::Gap];

    fn label(self) -> &'static str {
        match self {
            RecoveryResult::Recovered => "recovered",
            RecoveryResult::Expired => "expired",
            RecoveryResult::Gap => "gap",
        }
    }
}

/// Why something was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dropped {
    /// A client event arrived while its socket had as many in flight as allowed.
    Overloaded,
}

/// The counters of one channel category.
#[derive(Default)]
struct CategoryCounters {
    joins: [AtomicU64; JoinResult::ALL.len()],
    leaves: AtomicU64,
    broadcasts: AtomicU64,
    deliveries: AtomicU64,
}

/// Every counter of one server.
pub struct Metrics {
    categories: HashMap<Box<str>, CategoryCounters>,
    unknown: CategoryCounters,
    connections: [AtomicI64; 2],
    connections_total: AtomicU64,
    disconnects: [AtomicU64; REASONS.len()],
    bytes_sent: AtomicU64,
    bytes_received: AtomicU64,
    messages_received: AtomicU64,
    slow_consumers: AtomicU64,
    dropped_overloaded: AtomicU64,
    hook_durations: [Histogram; Hook::ALL.len()],
    hook_timeouts: [AtomicU64; Hook::ALL.len()],
    adapter_published: AtomicU64,
    adapter_received: AtomicU64,
    adapter_lag: Histogram,
    recoveries: [AtomicU64; RecoveryResult::ALL.len()],
    replayed: AtomicU64,
}

fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

impl Metrics {
    /// Counters for a server whose registered categories are `categories`.
    pub fn new<'a>(categories: impl IntoIterator<Item = &'a str>) -> Self {
        Self {
            categories: categories
                .into_iter()
                .map(|c| (c.into(), CategoryCounters::default()))
                .collect(),
            unknown: CategoryCounters::default(),
            connections: Default::default(),
            connections_total: AtomicU64::new(0),
            disconnects: Default::default(),
            bytes_sent: AtomicU64::new(0),
            bytes_received: AtomicU64::new(0),
            messages_received: AtomicU64::new(0),
            slow_consumers: AtomicU64::new(0),
            dropped_overloaded: AtomicU64::new(0),
            hook_durations: Default::default(),
            hook_timeouts: Default::default(),
            adapter_published: AtomicU64::new(0),
            adapter_received: AtomicU64::new(0),
            adapter_lag: Histogram::default(),
            recoveries: Default::default(),
            replayed: AtomicU64::new(0),
        }
    }

    fn category(&self, category: &str) -> &CategoryCounters {
        self.categories.get(category).unwrap_or(&self.unknown)
    }

    /// A socket connected over `transport`; the gauge drops again when the guard does.
    pub fn connected(self: &Arc<Self>, transport: Transport) -> ConnectionGauge {
        self.connections[transport as usize].fetch_add(1, Ordering::Relaxed);
        add(&self.connections_total, 1);
        ConnectionGauge { metrics: self.clone(), transport }
    }

    /// A connected socket went away for `reason` (socket.io's name for it).
    pub fn disconnected(&self, reason: &str) {
        let at = REASONS.iter().position(|r| *r == reason).unwrap_or(REASONS.len() - 1);
        add(&self.disconnects[at], 1);
    }

    /// A `joinChannel` of a channel in `category` (`None`: no valid category) ended so.
    pub fn join(&self, category: Option<&str>, result: JoinResult) {
        let counters = category.map_or(&self.unknown, |c| self.category(c));
        add(&counters.joins[result as usize], 1);
    }

    /// A `leaveChannel` of a channel in `category`.
    pub fn leave(&self, category: Option<&str>) {
        add(&category.map_or(&self.unknown, |c| self.category(c)).leaves, 1);
    }

    /// One broadcast to a channel of `category` is being delivered locally.
    pub fn broadcast(&self, category: &str) {
        add(&self.category(category).broadcasts, 1);
    }

    /// A broadcast to a channel of `category` reached `members` local members of one engine.
    pub fn delivered(&self, category: &str, members: usize) {
        add(&self.category(category).deliveries, members as u64);
    }

    /// Bytes written to clients.
    pub fn sent(&self, bytes: usize) {
        add(&self.bytes_sent, bytes as u64);
    }

    /// Bytes read from clients.
    pub fn received(&self, bytes: usize) {
        add(&self.bytes_received, bytes as u64);
    }

    /// A client event (join, leave, publish, app event) arrived.
    pub fn message_received(&self) {
        add(&self.messages_received, 1);
    }

    /// A client was cut off because its send queue was full.
    pub fn slow_consumer(&self) {
        add(&self.slow_consumers, 1);
    }

    /// Something was dropped for `reason`.
    pub fn dropped(&self, reason: Dropped) {
        match reason {
            Dropped::Overloaded => add(&self.dropped_overloaded, 1),
        }
    }

    /// A call of `hook` took `duration` (`timed_out`: it did not settle in time).
    pub fn hook(&self, hook: Hook, duration: Duration, timed_out: bool) {
        self.hook_durations[hook as usize].observe(duration);
        if timed_out {
            add(&self.hook_timeouts[hook as usize], 1);
        }
    }

    /// A message was handed to the adapter for the other instances.
    pub fn adapter_published(&self) {
        add(&self.adapter_published, 1);
    }

    /// A message from another instance arrived through the adapter; `sent_at` is when that
    /// instance published it (by its clock), if the backend says. A time ahead of this
    /// instance's clock counts as no lag.
    pub fn adapter_received(&self, sent_at: Option<SystemTime>) {
        add(&self.adapter_received, 1);
        if let Some(sent_at) = sent_at {
            self.adapter_lag.observe(sent_at.elapsed().unwrap_or_default());
        }
    }

    /// A CONNECT asked to recover a session and ended so, replaying `replayed` broadcasts.
    pub fn recovery(&self, result: RecoveryResult, replayed: usize) {
        add(&self.recoveries[result as usize], 1);
        add(&self.replayed, replayed as u64);
    }

    /// Clients cut off as slow consumers so far.
    pub fn slow_consumer_count(&self) -> u64 {
        self.slow_consumers.load(Ordering::Relaxed)
    }
}

impl Metrics {
    /// Sockets connected now, over every transport.
    pub fn open_connections(&self) -> i64 {
        self.connections.iter().map(|c| c.load(Ordering::Relaxed)).sum()
    }
}

/// Counts one connected socket while it lives.
pub struct ConnectionGauge {
    metrics: Arc<Metrics>,
    transport: Transport,
}

impl Drop for ConnectionGauge {
    fn drop(&mut self) {
        self.metrics.connections[self.transport as usize].fetch_sub(1, Ordering::Relaxed);
    }
}
