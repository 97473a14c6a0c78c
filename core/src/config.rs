//! Server configuration: every limit and timeout, with its default in one place.

use std::time::Duration;

use crate::{
    channel::DEFAULT_MAX_CHANNEL_NAME_LEN, protocol::DEFAULT_PATH, recovery::RecoveryConfig,
};

/// Which origins may talk to the server over HTTP (long-polling, preflight) and WebSocket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CorsPolicy {
    /// Any origin (`Access-Control-Allow-Origin: *`), Modelence's setting. Default.
    Any,
    /// Only these exact origins (e.g. `https://app.example.com`); others get `403`.
    List(Vec<String>),
}

impl CorsPolicy {
    /// Whether a request carrying this `Origin` header may proceed.
    /// Requests without an `Origin` (non-browser clients) are always allowed.
    pub fn allows(&self, origin: Option<&str>) -> bool {
        match (self, origin) {
            (CorsPolicy::Any, _) | (_, None) => true,
            (CorsPolicy::List(list), Some(origin)) => list.iter().any(|o| o == origin),
        }
    }
}

/// A registered channel category and whether it has an access check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelSpec {
    /// The category, e.g. `chat`.
    pub category: String,
    /// Whether joins must pass the app's `canAccessChannel` check.
    pub has_access_check: bool,
    /// Whether members may `publish` to the channel (it has an `onPublish`).
    pub has_publish: bool,
}

/// Which Engine.IO transports clients may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transports {
    /// HTTP long-polling (the fallback behind proxies that block WebSocket).
    pub polling: bool,
    /// WebSocket.
    pub websocket: bool,
}

impl Default for Transports {
    fn default() -> Self {
        Self { polling: true, websocket: true }
    }
}

/// Timing of the presence protocol; defaults follow socket.io's cluster adapters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PresenceTiming {
    /// How long a members query waits for the other instances. Default 5 s.
    pub query_timeout: Duration,
    /// How often an instance says it is alive. Default 5 s.
    pub heartbeat_interval: Duration,
    /// How long a silent instance still counts as alive. Default 10 s.
    pub heartbeat_timeout: Duration,
}

impl Default for PresenceTiming {
    fn default() -> Self {
        Self {
            query_timeout: Duration::from_secs(5),
            heartbeat_interval: Duration::from_secs(5),
            heartbeat_timeout: Duration::from_secs(10),
        }
    }
}

/// Everything the core needs to run one server.
#[derive(Debug, Clone)]
pub struct Config {
    /// Engine.IO request path. Default `/socket.io`.
    pub path: String,
    /// Allowed origins. Default [`CorsPolicy::Any`].
    pub cors: CorsPolicy,
    /// The channels clients may join. Default: none.
    pub channels: Vec<ChannelSpec>,
    /// Allowed transports. Default: both polling and websocket (Socket.IO's).
    pub transports: Transports,
    /// Whether connections go through the app's `authenticate`. Default `false` (anonymous).
    pub authenticate: bool,
    /// How long `authenticate` may take before the connection is refused. Default 10 s.
    pub auth_timeout: Duration,
    /// How long an access check may take before the join is denied. Default 5 s.
    pub access_check_timeout: Duration,
    /// Engine.IO ping interval. Default 25 s (Socket.IO's).
    pub ping_interval: Duration,
    /// How long to wait for a pong before closing. Default 20 s (Socket.IO's).
    pub ping_timeout: Duration,
    /// How long a client may take to connect to a namespace after the handshake. Default 45 s.
    pub connect_timeout: Duration,
    /// Largest accepted packet or polling body, in bytes; larger ones close that connection.
    /// Default 1,000,000 (Socket.IO's `maxHttpBufferSize`).
    pub max_payload: u64,
    /// Frames that may wait in one socket's send queue. A client that lets it fill up has
    /// stopped reading and is disconnected (its client reconnects). Default 4096.
    pub max_buffered_packets: usize,
    /// Bytes that may wait in one native socket's send queue (socketioxide's queues count
    /// frames only); like `max_buffered_packets`, a
    /// send that would pass it disconnects the client. Bounds what one client that stops
    /// reading can hold. Default 4 MiB.
    pub max_buffered_bytes: usize,
    /// How long an `onEvent` handler may run; then no ack is sent and the app's `onError`
    /// hears of it. Default 10 s.
    pub event_timeout: Duration,
    /// App events and publishes of one socket that may wait for JS at once; at the cap the
    /// native engine stops reading that socket (TCP backpressure); socketioxide's clients,
    /// which cannot be paused, have further events wait in line, in order, up to
    /// `max_payload` bytes of them, and are disconnected past that. Default 16.
    pub max_inflight_events_per_socket: usize,
    /// JS hook calls (authenticate, access checks, onEvent, onPublish, presence lookups) in
    /// flight across the server; further calls wait for one to finish, within their own
    /// timeout. Bounds the queues into JS. Default 1024.
    pub max_pending_hook_calls: usize,
    /// CONNECT packets one native connection may send (retries after a refusal included); one
    /// more closes it. socketioxide sessions handle one CONNECT at a time and are ended by
    /// `connect_timeout`. Default 5.
    pub max_connect_attempts: u32,
    /// Initial websocket read buffer of a socketioxide websocket (an upgraded polling session),
    /// in bytes; it grows for larger messages, and each read takes at most this much (the
    /// native engine reads through a per-thread buffer instead). Default 1024 (socketioxide's 4096
    /// costs 3 KiB per idle socket; 256 would save another 0.65 KiB, measured, but read
    /// large uploads 256 bytes per system call).
    pub ws_read_buffer_size: usize,
    /// Longest channel name, in bytes. Default 256.
    pub max_channel_name_len: usize,
    /// Longest auth token, in bytes; longer ones are refused at the handshake. Default 8192.
    pub max_token_len: usize,
    /// Channels one socket may be in at once; further joins get `joinError`. Default 1000.
    pub max_channels_per_socket: usize,
    /// Joins one socket may have waiting on access checks; further joins get `joinError`.
    /// Default 32.
    pub max_pending_joins_per_socket: usize,
    /// Joins one socket may make per second, sustained; beyond that (after a burst of twice
    /// as many) joins get `joinError` until the rate drops. Default 100.
    pub max_joins_per_second: u32,
    /// Broadcasts that may wait for the delivery task; when full, `broadcast` waits for room
    /// (backpressure on the caller) rather than dropping. Default 65,536.
    pub broadcast_queue_capacity: usize,
    /// Connection state recovery (native websocket sessions); `None`: off. Default `None`.
    pub recovery: Option<RecoveryConfig>,
    /// Where the server answers `GET` with its Prometheus metrics (standalone mode; attach
    /// mode serves them from JS). Default `None`: metrics are only read through the API.
    pub metrics_path: Option<String>,
    /// How long `close()` waits for connections to finish before cutting them. Default 2 s.
    pub close_grace: Duration,
    /// Presence queries across instances: query timeout and heartbeats (5 s, 5 s, 10 s).
    pub presence: PresenceTiming,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            path: DEFAULT_PATH.to_owned(),
            cors: CorsPolicy::Any,
            channels: Vec::new(),
            transports: Transports::default(),
            authenticate: false,
            auth_timeout: Duration::from_secs(10),
            access_check_timeout: Duration::from_secs(5),
            ping_interval: Duration::from_millis(25_000),
            ping_timeout: Duration::from_millis(20_000),
            connect_timeout: Duration::from_millis(45_000),
            max_payload: 1_000_000,
            max_buffered_packets: 4096,
            max_buffered_bytes: 4 * 1024 * 1024,
            event_timeout: Duration::from_secs(10),
            max_inflight_events_per_socket: 16,
            max_pending_hook_calls: 1024,
            max_connect_attempts: 5,
            ws_read_buffer_size: 1024,
            max_channel_name_len: DEFAULT_MAX_CHANNEL_NAME_LEN,
            max_token_len: 8192,
            max_channels_per_socket: 1000,
            max_pending_joins_per_socket: 32,
            max_joins_per_second: 100,
            broadcast_queue_capacity: 65_536,
            recovery: None,
            metrics_path: None,
            close_grace: Duration::from_secs(2),
            presence: PresenceTiming::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cors_any_allows_everything() {
        assert!(CorsPolicy::Any.allows(Some("https://evil.example")));
        assert!(CorsPolicy::Any.allows(None));
    }

    #[test]
    fn cors_list_allows_only_listed_origins() {
        let cors = CorsPolicy::List(vec!["https://app.example".into()]);
        assert!(cors.allows(Some("https://app.example")));
        assert!(!cors.allows(Some("https://evil.example")));
        assert!(cors.allows(None));
    }

    #[test]
    fn defaults_match_socket_io() {
        let c = Config::default();
        assert_eq!(c.path, "/socket.io");
        assert_eq!(c.ping_interval, Duration::from_secs(25));
        assert_eq!(c.ping_timeout, Duration::from_secs(20));
        assert_eq!(c.max_payload, 1_000_000);
        assert_eq!(c.access_check_timeout, Duration::from_secs(5));
    }
}
