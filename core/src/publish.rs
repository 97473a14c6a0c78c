//! Client publish: a member of `category:id` emits `publish` with `(channel, data)`; the
//! channel's `onPublish` decides what (if anything) is broadcast to the channel.

use serde_json::{json, value::RawValue};

use crate::{
    call_order::Turn,
    channel::ChannelName,
    client::{AckReply, Client},
    errors::PublishError,
    payload::Payload,
    protocol::PUBLISH_ERROR,
    shared::Shared,
};

/// Handles `publish`: broadcasts what `onPublish` returns, or replies `publishError`.
/// A client that asked for an acknowledgement gets `true` once the message is queued.
/// `onPublish` runs in `turn`, its place in the socket's calls into the app.
pub async fn handle_publish(
    shared: &Shared,
    socket: &Client,
    (args, ack): (Payload, AckReply),
    turn: Turn,
) {
    let (channel_arg, result) = match parse_args(args) {
        Ok((channel, data)) => {
            let result = publish(shared, socket, &channel, data, turn).await;
            (shared.policy.echo(Some(&channel)), result)
        }
        Err(error) => (serde_json::Value::Null, Err(error)),
    };
    match result {
        Ok(()) => {
            let _ = ack.send_value(&true);
        }
        Err(error) => {
            let reply = json!({ "channel": channel_arg, "error": error.to_string() });
            let _ = socket.emit(PUBLISH_ERROR, &reply);
        }
    }
}

fn parse_args(args: Payload) -> Result<(String, String), PublishError> {
    if !args.binary.is_empty() {
        return Err(PublishError::BinaryData);
    }
    let parts: Vec<Box<RawValue>> =
        serde_json::from_str(&args.json).map_err(|_| PublishError::BadArguments)?;
    let [channel, data] = parts.as_slice() else {
        return Err(PublishError::BadArguments);
    };
    let channel: String =
        serde_json::from_str(channel.get()).map_err(|_| PublishError::BadArguments)?;
    Ok((channel, data.get().to_owned()))
}

async fn publish(
    shared: &Shared,
    socket: &Client,
    channel: &str,
    data: String,
    turn: Turn,
) -> Result<(), PublishError> {
    let name = ChannelName::parse(channel, shared.config.max_channel_name_len)
        .map_err(|_| PublishError::NotAMember)?;
    if !socket.in_room(name.as_str()) {
        return Err(PublishError::NotAMember);
    }
    let spec = shared.categories.get(name.category()).ok_or(PublishError::NotAMember)?;
    if !spec.has_publish {
        return Err(PublishError::NotAllowed);
    }
    let category_id = (name.category(), name.id());
    let outgoing = shared.policy.on_publish(socket.id(), category_id, data, turn).await?;
    let data =
        RawValue::from_string(outgoing).map_err(|_| PublishError::Rejected(String::new()))?;
    shared
        .broadcaster
        .send_async(name, data.into())
        .await
        .map_err(|_| PublishError::Rejected("the server is closing".to_owned()))
}
