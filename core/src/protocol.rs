//! Wire names and protocol defaults, each stated once.
//!
//! Every name here is part of the contract in `PROTOCOL.md` ("The Modelence WebSocket wire
//! contract"); changing one breaks existing Modelence clients.

/// Client → server: join a channel (`PROTOCOL.md`, "Client → server events", `joinChannel`).
pub const JOIN_CHANNEL: &str = "joinChannel";
/// Server → client: the join succeeded; carries the channel name (`joinedChannel`).
pub const JOINED_CHANNEL: &str = "joinedChannel";
/// Server → client: the join failed; carries `{ channel, error }` (`joinError`).
pub const JOIN_ERROR: &str = "joinError";
/// Client → server: leave a channel (`leaveChannel`).
pub const LEAVE_CHANNEL: &str = "leaveChannel";
/// Server → client: the leave was processed; carries the channel name (`leftChannel`).
pub const LEFT_CHANNEL: &str = "leftChannel";

/// Client → server: publish `(channel, data)` to a channel the socket has joined, where the
/// channel opted in with `onPublish` (README, "Client publish").
pub const PUBLISH: &str = "publish";
/// Server → client: a publish was refused; carries `{ channel, error }`.
pub const PUBLISH_ERROR: &str = "publishError";

/// The `joinError.error` text Modelence sends for an unknown category or a check that said no.
pub const ACCESS_DENIED: &str = "Access denied";

/// Default Engine.IO path (`PROTOCOL.md`, "Transport": default path `/socket.io/`).
pub const DEFAULT_PATH: &str = "/socket.io";
/// Default MongoDB collection shared by instances (`PROTOCOL.md`, "Horizontal scaling").
pub const DEFAULT_COLLECTION: &str = "_modelenceSocketio";
