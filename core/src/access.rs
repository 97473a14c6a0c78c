//! The join and leave flow of `PROTOCOL.md` ("Client → server events").

use serde::{
    de::{IgnoredAny, SeqAccess, Visitor},
    Deserialize, Deserializer,
};
use serde_json::{json, value::RawValue};

use crate::{
    call_order::Turn,
    channel::ChannelName,
    client::Client,
    errors::{ChannelNameError, JoinError},
    metrics::JoinResult,
    protocol::{JOINED_CHANNEL, JOIN_ERROR, LEFT_CHANNEL},
    shared::Shared,
};

/// The channel a join or leave names, read from the event's first argument without building
/// a JSON tree: the string itself (Modelence 0.22), or the `channelName` of
/// `{ channelName, authToken }` (later Modelence clients).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requested {
    /// A string (not yet validated as a channel name).
    Name(String),
    /// A string that cannot be within `max_len` bytes.
    TooLong,
    /// Anything else (a number, an object without a string `channelName`, nothing).
    NotAString,
}

impl Requested {
    /// Reads the first argument of the event arguments `args` (a JSON array text).
    pub fn from_args(args: &str, max_len: usize) -> Self {
        match serde_json::from_str::<FirstArg<'_>>(args) {
            Ok(FirstArg(Some(first))) => Self::from_value(first, max_len, true),
            _ => Self::NotAString,
        }
    }

    fn from_value(raw: &RawValue, max_len: usize, may_wrap: bool) -> Self {
        let text = raw.get();
        if text.starts_with('"') {
            // Each byte of a name takes at most 6 characters of JSON (`\u0001`).
            if text.len() > max_len.saturating_mul(6).saturating_add(2) {
                return Self::TooLong;
            }
            return serde_json::from_str(text).map_or(Self::NotAString, Self::Name);
        }
        if may_wrap && text.starts_with('{') {
            if let Ok(Named { channel_name: Some(name) }) = serde_json::from_str(text) {
                return Self::from_value(name, max_len, false);
            }
        }
        Self::NotAString
    }

    /// The name as the client sent it, when it sent a string.
    pub fn name(&self) -> Option<&str> {
        match self {
            Self::Name(name) => Some(name),
            _ => None,
        }
    }
}

/// The first element of a JSON array, kept as raw text; the rest is skipped unparsed.
struct FirstArg<'a>(Option<&'a RawValue>);

impl<'de: 'a, 'a> Deserialize<'de> for FirstArg<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct First;
        impl<'de> Visitor<'de> for First {
            type Value = FirstArg<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("event arguments")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let first = seq.next_element::<&RawValue>()?;
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(FirstArg(first))
            }
        }
        deserializer.deserialize_seq(First)
    }
}

/// `{ channelName, ... }`: other fields are skipped unparsed.
#[derive(Deserialize)]
struct Named<'a> {
    #[serde(rename = "channelName", borrow, default)]
    channel_name: Option<&'a RawValue>,
}

/// The registered category a request names, if any (the only category a metric may carry).
fn category_of<'a>(shared: &Shared, requested: &'a Requested) -> Option<&'a str> {
    let category = requested.name()?.split_once(':')?.0;
    shared.categories.contains_key(category).then_some(category)
}

fn join_result(error: &JoinError) -> JoinResult {
    match error {
        JoinError::NotAString | JoinError::InvalidName(_) => JoinResult::Invalid,
        JoinError::UnknownCategory | JoinError::Denied => JoinResult::Denied,
        JoinError::CheckFailed => JoinResult::Error,
        JoinError::CheckTimedOut => JoinResult::Timeout,
        JoinError::TooManyChannels { .. }
        | JoinError::JoinRateExceeded { .. }
        | JoinError::TooManyPendingJoins { .. } => JoinResult::RateLimited,
    }
}

/// Handles `joinChannel`: replies `joinedChannel` or `joinError { channel, error }`. An
/// access check runs in `turn`, its place in the socket's calls into the app.
pub async fn handle_join(shared: &Shared, socket: &Client, requested: Requested, turn: Turn) {
    match join(shared, socket, &requested, turn).await {
        Ok(Some(channel)) => {
            shared.metrics.join(Some(channel.category()), JoinResult::Ok);
            let _ = socket.emit(JOINED_CHANNEL, channel.as_str());
        }
        Ok(None) => {} // the socket went away while its check ran
        Err(error) => refuse(shared, socket, &requested, &error),
    }
}

/// Replies `joinError { channel, error }`; `channel` echoes the request only within bounds.
pub fn refuse(shared: &Shared, socket: &Client, requested: &Requested, error: &JoinError) {
    tracing::debug!(sid = %socket.id(), %error, "join refused");
    shared.metrics.join(category_of(shared, requested), join_result(error));
    let reply =
        json!({ "channel": shared.policy.echo(requested.name()), "error": error.to_string() });
    let _ = socket.emit(JOIN_ERROR, &reply);
}

/// Handles `leaveChannel`: leaves the room and, when `reply` is set, replies `leftChannel`
/// (naming the channel only within bounds). Requests that name no string are ignored, as
/// there is no room they could name.
pub fn handle_leave(shared: &Shared, socket: &Client, requested: &Requested, reply: bool) {
    shared.metrics.leave(category_of(shared, requested));
    match requested {
        Requested::NotAString => return,
        Requested::Name(name) if name.len() <= shared.config.max_channel_name_len => {
            socket.leave(name);
        }
        Requested::Name(_) | Requested::TooLong => {}
    }
    if reply {
        let _ = socket.emit(LEFT_CHANNEL, &shared.policy.echo(requested.name()));
    }
}

async fn join(
    shared: &Shared,
    socket: &Client,
    requested: &Requested,
    turn: Turn,
) -> Result<Option<ChannelName>, JoinError> {
    let config = &shared.config;
    let name = match requested {
        Requested::Name(name) => name,
        Requested::TooLong => {
            let max_len = config.max_channel_name_len;
            return Err(ChannelNameError::TooLong { max_len }.into());
        }
        Requested::NotAString => return Err(JoinError::NotAString),
    };
    let channel = ChannelName::parse(name, config.max_channel_name_len)?;
    let spec = shared.categories.get(channel.category()).ok_or(JoinError::UnknownCategory)?;
    let Some(state) = socket.state() else { return Ok(None) };
    // Checked before the access check (no point running it) and again, atomically with the
    // join, after it: concurrent joins from one socket must not overshoot the cap.
    check_channel_cap(socket, &channel, config.max_channels_per_socket)?;

    if spec.has_access_check {
        let limit = config.max_pending_joins_per_socket;
        let _slot =
            state.reserve_pending_join(limit).ok_or(JoinError::TooManyPendingJoins { limit })?;
        shared
            .policy
            .check_access(socket.id(), channel.category(), channel.id(), Some(turn))
            .await?;
    }

    if !socket.connected() {
        return Ok(None);
    }
    {
        let _joining = state.join_lock();
        check_channel_cap(socket, &channel, config.max_channels_per_socket)?;
        socket.join(channel.as_str());
    }
    // A disconnect racing the join would otherwise leave the socket id behind in the room.
    if !socket.connected() {
        socket.leave(channel.as_str());
        return Ok(None);
    }
    Ok(Some(channel))
}

/// Fails when joining `channel` would put the socket in more than `limit` channels.
fn check_channel_cap(
    socket: &Client,
    channel: &ChannelName,
    limit: usize,
) -> Result<(), JoinError> {
    if !socket.in_room(channel.as_str()) && socket.room_count() >= limit {
        return Err(JoinError::TooManyChannels { limit });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(args: &str) -> Requested {
        Requested::from_args(args, 16)
    }

    #[test]
    fn reads_both_request_shapes() {
        assert_eq!(read(r#"["chat:1"]"#), Requested::Name("chat:1".into()));
        assert_eq!(read(r#"["chat:1", {"x": [1, 2]}]"#), Requested::Name("chat:1".into()));
        assert_eq!(
            read(r#"[{"channelName": "chat:1", "authToken": "t", "x": {"y": [1]}}]"#),
            Requested::Name("chat:1".into())
        );
        assert_eq!(read(r#"[{"channelName": 5}]"#), Requested::NotAString);
        assert_eq!(read(r#"[{"channelName": {"channelName": "a:b"}}]"#), Requested::NotAString);
        assert_eq!(read("[5]"), Requested::NotAString);
        assert_eq!(read("[]"), Requested::NotAString);
        assert_eq!(read("[null]"), Requested::NotAString);
        assert_eq!(read("not json"), Requested::NotAString);
    }

    #[test]
    fn long_names_are_refused_before_they_are_decoded() {
        assert_eq!(read(&format!(r#"["{}"]"#, "x".repeat(200))), Requested::TooLong);
        assert_eq!(
            read(&format!(r#"[{{"channelName":"{}"}}]"#, "x".repeat(200))),
            Requested::TooLong
        );
        // Within the JSON bound but longer than the limit once decoded: left to validation.
        assert_eq!(read(&format!(r#"["{}"]"#, "x".repeat(20))), Requested::Name("x".repeat(20)));
    }
}
