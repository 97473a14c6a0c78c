//! Errors of the core, one small enum per operation.

use crate::protocol::ACCESS_DENIED;

/// Why a channel name was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChannelNameError {
    /// The name is the empty string.
    #[error("the name is empty")]
    Empty,
    /// The name is longer than the configured limit.
    #[error("the name is longer than {max_len} bytes")]
    TooLong {
        /// The limit in bytes.
        max_len: usize,
    },
    /// The name has no `:` between category and id.
    #[error("expected 'category:id'")]
    MissingSeparator,
    /// Nothing before the first `:`.
    #[error("the category is empty")]
    EmptyCategory,
    /// Nothing after the first `:`.
    #[error("the id is empty")]
    EmptyId,
    /// A category that contains `:` can never be matched.
    #[error("a category cannot contain ':'")]
    SeparatorInCategory,
    /// Control characters (newlines, NUL, ...) are not allowed.
    #[error("the name contains control characters")]
    ControlCharacter,
}

/// Why a `joinChannel` request was refused. Its `Display` is the `joinError.error` text the
/// client receives, so it never carries internals (no thrown messages, no stack traces).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JoinError {
    /// The argument of `joinChannel` was not a string.
    #[error("Channel name must be a string")]
    NotAString,
    /// The name is malformed.
    #[error("Invalid channel name: {0}")]
    InvalidName(#[from] ChannelNameError),
    /// No registered channel has this category (Modelence's wording).
    #[error("{ACCESS_DENIED}")]
    UnknownCategory,
    /// The access check resolved `false`.
    #[error("{ACCESS_DENIED}")]
    Denied,
    /// The access check threw, rejected or resolved something other than a boolean.
    #[error("Access check failed")]
    CheckFailed,
    /// The access check did not settle in time.
    #[error("Access check timed out")]
    CheckTimedOut,
    /// The socket is already in as many channels as allowed.
    #[error("Too many channels joined (limit {limit})")]
    TooManyChannels {
        /// The per-socket limit.
        limit: usize,
    },
    /// The socket joins faster than allowed.
    #[error("Too many joins: slow down (limit {limit} per second)")]
    JoinRateExceeded {
        /// Joins per second.
        limit: u32,
    },
    /// The socket has too many joins waiting for their access checks.
    #[error("Too many joins in progress (limit {limit})")]
    TooManyPendingJoins {
        /// The per-socket limit.
        limit: usize,
    },
}

/// Why a connection was refused during the handshake. Its `Display` is the CONNECT_ERROR
/// message the client receives.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// `authenticate` threw or rejected; carries the app's own error message (PROTOCOL.md).
    #[error("{0}")]
    Refused(String),
    /// `authenticate` did not settle in time.
    #[error("Authentication timed out")]
    TimedOut,
    /// The handshake's `auth.token` was neither a string nor null.
    #[error("Invalid auth token: expected a string or null")]
    TokenNotAString,
    /// The handshake's `auth.token` was larger than allowed.
    #[error("Invalid auth token: longer than {max_len} bytes")]
    TokenTooLong {
        /// The limit in bytes.
        max_len: usize,
    },
}

/// Why a client's `publish` was refused. Its `Display` is the `publishError.error` text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PublishError {
    /// `publish` needs `(channel: string, data)`.
    #[error("publish expects (channel, data)")]
    BadArguments,
    /// Binary data cannot be published (it is broadcast as JSON).
    #[error("binary data cannot be published")]
    BinaryData,
    /// The socket has not joined the channel (or the name is not a channel).
    #[error("Not a member of this channel")]
    NotAMember,
    /// The channel has no `onPublish`.
    #[error("Publishing is not allowed on this channel")]
    NotAllowed,
    /// `onPublish` threw; carries its message (meant for the client).
    #[error("{}", if .0.is_empty() { "Publish rejected" } else { .0.as_str() })]
    Rejected(String),
    /// `onPublish` did not settle in time.
    #[error("Publish timed out")]
    TimedOut,
}

/// Why a broadcast was not queued.
#[derive(Debug, thiserror::Error)]
pub enum BroadcastError {
    /// The server was closed.
    #[error("the websocket server is closed")]
    Closed,
    /// The data is not valid JSON text.
    #[error("data is not valid JSON: {0}")]
    InvalidJson(#[from] serde_json::Error),
    /// The queue was full and the caller runs on the server's own runtime, where waiting
    /// could deadlock.
    #[error("the broadcast queue is full")]
    QueueFull,
    /// The channel name built from category and id is not valid.
    #[error("invalid channel: {0}")]
    InvalidChannel(#[from] ChannelNameError),
}

/// Why the server could not start or take a connection.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Binding or configuring the listening socket failed.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address that was asked for.
        addr: String,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The handed-over file descriptor could not be adopted.
    #[error("cannot adopt the connection: {0}")]
    Adopt(std::io::Error),
    /// The server was closed.
    #[error("the websocket server is closed")]
    Closed,
    /// A forwarded HTTP request could not be built or answered.
    #[error("invalid forwarded request: {0}")]
    Request(String),
}

/// Why an operation on one socket (from the app's `SocketHandle`) failed.
#[derive(Debug, thiserror::Error)]
pub enum SocketOpError {
    /// The socket has disconnected.
    #[error("the socket has disconnected")]
    Gone,
    /// The client did not acknowledge in time.
    #[error("the client did not acknowledge in time")]
    AckTimeout,
    /// The arguments could not be encoded.
    #[error("the arguments cannot be encoded: {0}")]
    Encode(String),
    /// The arguments are not valid JSON.
    #[error("the arguments are not valid JSON: {0}")]
    InvalidJson(#[from] serde_json::Error),
    /// The channel name is invalid.
    #[error("invalid channel name: {0}")]
    InvalidChannel(#[from] ChannelNameError),
}
