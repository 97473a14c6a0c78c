//! The join and leave flow of `PROTOCOL.md` ("Client → server events").

use serde_json::{json, Value};

use crate::core::{
    channel::ChannelName,
    client::Client,
    errors::JoinError,
    hooks::AccessVerdict,
    protocol::{JOINED_CHANNEL, JOIN_ERROR, LEFT_CHANNEL},
    session::Shared,
};

/// The channel name of a join or leave request: the string itself (Modelence 0.22), or the
/// `channelName` of `{ channelName, authToken }` (later Modelence clients).
fn requested_name(requested: Value) -> Value {
    match requested {
        Value::Object(mut fields) => match fields.remove("channelName") {
            Some(name @ Value::String(_)) => name,
            _ => Value::Object(fields),
        },
        other => other,
    }
}

/// Handles `joinChannel`: replies `joinedChannel` or `joinError { channel, error }`.
pub async fn handle_join(shared: &Shared, socket: &Client, requested: Value) {
    let requested = requested_name(requested);
    match join(shared, socket, &requested).await {
        Ok(Some(channel)) => {
            let _ = socket.emit(JOINED_CHANNEL, channel.as_str());
        }
        Ok(None) => {} // the socket went away while its check ran
        Err(error) => {
            tracing::debug!(sid = %socket.id(), channel = %requested, %error, "join refused");
            let reply = json!({ "channel": requested, "error": error.to_string() });
            let _ = socket.emit(JOIN_ERROR, &reply);
        }
    }
}

/// Handles `leaveChannel`: leaves the room and replies `leftChannel`. Non-string names are
/// ignored, as there is no room they could name.
pub fn handle_leave(socket: &Client, requested: Value) {
    if let Value::String(name) = requested_name(requested) {
        socket.leave(&name);
        let _ = socket.emit(LEFT_CHANNEL, &name);
    }
}

async fn join(
    shared: &Shared,
    socket: &Client,
    requested: &Value,
) -> Result<Option<ChannelName>, JoinError> {
    let config = &shared.config;
    let name = requested.as_str().ok_or(JoinError::NotAString)?;
    let channel = ChannelName::parse(name, config.max_channel_name_len)?;
    let spec = shared.categories.get(channel.category()).ok_or(JoinError::UnknownCategory)?;

    let state = socket.state();
    if !state.as_ref().is_some_and(|s| s.allow_join()) {
        return Err(JoinError::JoinRateExceeded { limit: config.max_joins_per_second });
    }
    // Checked before the access check (no point running it) and again, atomically with the
    // join, after it: concurrent joins from one socket must not overshoot the cap.
    check_channel_cap(socket, &channel, config.max_channels_per_socket)?;

    if spec.has_access_check {
        let limit = config.max_pending_joins_per_socket;
        let _slot = state
            .as_ref()
            .and_then(|s| s.reserve_pending_join(limit))
            .ok_or(JoinError::TooManyPendingJoins { limit })?;
        let check = shared.hooks.check_access(
            socket.id(),
            channel.category().to_owned(),
            channel.id().to_owned(),
        );
        match tokio::time::timeout(config.access_check_timeout, check).await {
            Ok(AccessVerdict::Allowed) => {}
            Ok(AccessVerdict::Denied) => return Err(JoinError::Denied),
            Ok(AccessVerdict::Failed) => return Err(JoinError::CheckFailed),
            Err(_) => return Err(JoinError::CheckTimedOut),
        }
    }

    if !socket.connected() {
        return Ok(None);
    }
    {
        let Some(state) = state.as_ref() else { return Ok(None) };
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
    use serde_json::json;

    #[test]
    fn reads_both_request_shapes() {
        assert_eq!(requested_name(json!("chat:1")), json!("chat:1"));
        assert_eq!(
            requested_name(json!({"channelName": "chat:1", "authToken": "t"})),
            json!("chat:1")
        );
        assert_eq!(requested_name(json!({"channelName": 5})), json!({}));
        assert_eq!(requested_name(json!(5)), json!(5));
    }
}
