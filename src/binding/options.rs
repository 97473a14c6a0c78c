//! Options from JS, converted into the core [`Config`]. The JS layer validates user input
//! with precise messages first; these checks are the last line of defence.

use std::time::Duration;

use napi_derive::napi;

use crate::{
    binding::errors::invalid_arg,
    core::{
        channel::{validate_category, DEFAULT_MAX_CHANNEL_NAME_LEN},
        config::{ChannelSpec, Config, CorsPolicy, PresenceTiming, Transports},
        recovery::RecoveryConfig,
    },
};

/// Longest channel name (`category:id`) in bytes: the core's rule, which `ServerChannel`
/// checks categories against before any server exists.
#[napi]
pub const MAX_CHANNEL_NAME_BYTES: u32 = DEFAULT_MAX_CHANNEL_NAME_LEN as u32;

/// A channel category the server accepts joins for.
#[napi(object, js_name = "NativeChannelSpec")]
pub struct JsChannelSpec {
    /// The category, e.g. `chat` (no `:`).
    pub category: String,
    /// Whether joins run the app's access check.
    pub has_access_check: bool,
    /// Whether members may publish (the channel has `onPublish`).
    pub has_publish: bool,
}

/// Options of a native server. Every field but `channels` is optional; the defaults are the
/// core's (see the README's "Options" table).
#[napi(object, js_name = "NativeServerOptions")]
pub struct JsServerOptions {
    /// Engine.IO path, default `/socket.io`.
    pub path: Option<String>,
    /// Allowed origins; absent means any origin (`*`).
    pub cors_origins: Option<Vec<String>>,
    /// The registered channel categories.
    pub channels: Vec<JsChannelSpec>,
    /// Milliseconds `authenticate` may take, default 10000.
    pub auth_timeout_ms: Option<u32>,
    /// Milliseconds an access check may take, default 5000.
    pub access_check_timeout_ms: Option<u32>,
    /// Engine.IO ping interval in milliseconds, default 25000.
    pub ping_interval_ms: Option<u32>,
    /// Engine.IO ping timeout in milliseconds, default 20000.
    pub ping_timeout_ms: Option<u32>,
    /// Milliseconds a client may take to join the namespace, default 45000.
    pub connect_timeout_ms: Option<u32>,
    /// Allowed transports (`'polling'`, `'websocket'`); default both.
    pub transports: Option<Vec<String>>,
    /// Largest packet in bytes, default 1e6.
    pub max_http_buffer_size: Option<u32>,
    /// Packets one socket's send queue holds before it counts as a slow consumer, default 4096.
    pub max_buffered_packets: Option<u32>,
    /// Bytes one native socket's send queue holds before it counts as a slow consumer, default
    /// 4 MiB (socketioxide sessions are bounded in packets only).
    pub max_buffered_bytes: Option<u32>,
    /// Milliseconds an `onEvent` handler may run before it counts as timed out, default 10000.
    pub event_timeout_ms: Option<u32>,
    /// App events and publishes of one socket waiting for JS at once, default 16.
    pub max_inflight_events_per_socket: Option<u32>,
    /// JS hook calls in flight across the server, default 1024.
    pub max_pending_hook_calls: Option<u32>,
    /// Initial websocket read buffer of an upgraded polling session in bytes, default 1024.
    pub ws_read_buffer_size: Option<u32>,
    /// Channels one socket may be in, default 1000.
    pub max_channels_per_socket: Option<u32>,
    /// Joins one socket may have waiting on access checks, default 32.
    pub max_pending_joins_per_socket: Option<u32>,
    /// Joins per second one socket may make (bursts of twice that), default 100.
    pub max_joins_per_second: Option<u32>,
    /// Connection state recovery's window in milliseconds (how long after an involuntary
    /// disconnect a session can be recovered); absent: recovery off.
    pub recovery_window_ms: Option<u32>,
    /// Broadcasts kept for recovery per channel, default 1000.
    pub recovery_messages_per_channel: Option<u32>,
    /// Bytes of broadcasts kept for recovery in all (data plus ~96 each), default 16 MiB.
    pub recovery_history_bytes: Option<u32>,
    /// Path where a standalone server answers `GET` with its Prometheus metrics; absent: no
    /// route (metrics are read with `metrics()`).
    pub metrics_path: Option<String>,
    /// Milliseconds a cross-instance presence query waits for the other instances, default 5000.
    pub presence_timeout_ms: Option<u32>,
    /// Milliseconds between an instance's heartbeats to the others, default 5000.
    pub heartbeat_interval_ms: Option<u32>,
    /// Milliseconds of silence after which an instance no longer counts as alive, default 10000.
    pub heartbeat_timeout_ms: Option<u32>,
}

fn millis(value: Option<u32>, default: Duration) -> Duration {
    value.map(|ms| Duration::from_millis(ms.into())).unwrap_or(default)
}

fn count(value: Option<u32>, default: usize, field: &str) -> napi::Result<usize> {
    match value {
        None => Ok(default),
        Some(0) => Err(invalid_arg(format!("{field} must be at least 1"))),
        Some(n) => Ok(n as usize),
    }
}

impl TryFrom<JsServerOptions> for Config {
    type Error = napi::Error;

    fn try_from(options: JsServerOptions) -> napi::Result<Config> {
        let defaults = Config::default();
        let path = options.path.unwrap_or(defaults.path.clone());
        if !path.starts_with('/') {
            return Err(invalid_arg(format!("path must start with '/', got {path:?}")));
        }
        let mut channels = Vec::with_capacity(options.channels.len());
        for spec in options.channels {
            validate_category(&spec.category, defaults.max_channel_name_len).map_err(|e| {
                invalid_arg(format!("channel category {:?} is invalid: {e}", spec.category))
            })?;
            if channels.iter().any(|c: &ChannelSpec| c.category == spec.category) {
                return Err(invalid_arg(format!(
                    "channel category {:?} is registered twice; each category may appear once",
                    spec.category
                )));
            }
            channels.push(ChannelSpec {
                category: spec.category,
                has_access_check: spec.has_access_check,
                has_publish: spec.has_publish,
            });
        }
        let transports = match options.transports {
            None => Transports::default(),
            Some(list) => {
                let mut transports = Transports { polling: false, websocket: false };
                for name in &list {
                    match name.as_str() {
                        "polling" => transports.polling = true,
                        "websocket" => transports.websocket = true,
                        other => {
                            return Err(invalid_arg(format!(
                                "transports: unknown transport {other:?}; use 'polling' and/or 'websocket'"
                            )))
                        }
                    }
                }
                if !transports.polling && !transports.websocket {
                    return Err(invalid_arg(
                        "transports: name at least one of 'polling', 'websocket'",
                    ));
                }
                transports
            }
        };
        if let Some(metrics_path) = &options.metrics_path {
            if !metrics_path.starts_with('/') || metrics_path.contains([' ', '?', '#']) {
                return Err(invalid_arg(format!(
                    "metrics path must start with '/' and hold no spaces, '?' or '#', got {metrics_path:?}"
                )));
            }
        }
        let recovery_defaults = RecoveryConfig::default();
        let recovery = options.recovery_window_ms.map(|ms| RecoveryConfig {
            max_disconnection: Duration::from_millis(ms.into()),
            max_messages_per_channel: options
                .recovery_messages_per_channel
                .map_or(recovery_defaults.max_messages_per_channel, |n| n as usize),
            max_history_bytes: options
                .recovery_history_bytes
                .map_or(recovery_defaults.max_history_bytes, |n| n as usize),
        });
        Ok(Config {
            recovery,
            metrics_path: options.metrics_path,
            transports,
            path: path.trim_end_matches('/').to_owned(),
            cors: options.cors_origins.map_or(CorsPolicy::Any, CorsPolicy::List),
            channels,
            authenticate: false,
            auth_timeout: millis(options.auth_timeout_ms, defaults.auth_timeout),
            access_check_timeout: millis(
                options.access_check_timeout_ms,
                defaults.access_check_timeout,
            ),
            ping_interval: millis(options.ping_interval_ms, defaults.ping_interval),
            ping_timeout: millis(options.ping_timeout_ms, defaults.ping_timeout),
            connect_timeout: millis(options.connect_timeout_ms, defaults.connect_timeout),
            max_payload: options.max_http_buffer_size.map_or(defaults.max_payload, u64::from),
            max_buffered_packets: count(
                options.max_buffered_packets,
                defaults.max_buffered_packets,
                "maxBufferedPackets",
            )?,
            max_buffered_bytes: count(
                options.max_buffered_bytes,
                defaults.max_buffered_bytes,
                "maxBufferedBytes",
            )?,
            event_timeout: millis(options.event_timeout_ms, defaults.event_timeout),
            max_inflight_events_per_socket: count(
                options.max_inflight_events_per_socket,
                defaults.max_inflight_events_per_socket,
                "maxInflightEventsPerSocket",
            )?,
            max_pending_hook_calls: count(
                options.max_pending_hook_calls,
                defaults.max_pending_hook_calls,
                "maxPendingHookCalls",
            )?,
            ws_read_buffer_size: count(
                options.ws_read_buffer_size,
                defaults.ws_read_buffer_size,
                "wsReadBufferSize",
            )?,
            max_channels_per_socket: count(
                options.max_channels_per_socket,
                defaults.max_channels_per_socket,
                "maxChannelsPerSocket",
            )?,
            max_pending_joins_per_socket: count(
                options.max_pending_joins_per_socket,
                defaults.max_pending_joins_per_socket,
                "maxPendingJoinsPerSocket",
            )?,
            max_joins_per_second: count(
                options.max_joins_per_second,
                defaults.max_joins_per_second as usize,
                "maxJoinsPerSecond",
            )? as u32,
            presence: PresenceTiming {
                query_timeout: millis(options.presence_timeout_ms, defaults.presence.query_timeout),
                heartbeat_interval: millis(
                    options.heartbeat_interval_ms,
                    defaults.presence.heartbeat_interval,
                ),
                heartbeat_timeout: millis(
                    options.heartbeat_timeout_ms,
                    defaults.presence.heartbeat_timeout,
                ),
            },
            ..defaults
        })
    }
}
