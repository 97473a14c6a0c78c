//! Client publish: a member of `category:id` emits `publish` with `(channel, data)`; the
//! channel's `onPublish` decides what (if anything) is broadcast to the channel.

use serde_json::{json, value::RawValue};
use socketioxide::ParserError;

use crate::core::{
    channel::ChannelName,
    client::{AckReply, Client},
    errors::PublishError,
    payload::Payload,
    protocol::PUBLISH_ERROR,
    session::Shared,
};

/// Handles `publish`: broadcasts what `onPublish` returns, or replies `publishError`.
/// A client that asked for an acknowledgement gets `true` once the message is queued.
pub async fn handle_publish(
    shared: &Shared,
    socket: &Client,
    args: Result<Payload, ParserError>,
    ack: AckReply,
) {
    let (channel_arg, result) = match parse_args(args) {
        Ok((channel, data)) => {
            let result = publish(shared, socket, &channel, data).await;
            (serde_json::Value::String(channel), result)
        }
        Err(error) => (serde_json::Value::Null, Err(error)),
    };
    match result {
        Ok(()) => {
            ack.send_value(&true);
        }
        Err(error) => {
            let reply = json!({ "channel": channel_arg, "error": error.to_string() });
            let _ = socket.emit(PUBLISH_ERROR, &reply);
        }
    }
}

fn parse_args(args: Result<Payload, ParserError>) -> Result<(String, String), PublishError> {
    let args = args.map_err(|_| PublishError::BadArguments)?;
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
    let publish = shared.hooks.on_publish(
        socket.id(),
        name.category().to_owned(),
        name.id().to_owned(),
        data,
    );
    let outgoing = match tokio::time::timeout(shared.config.access_check_timeout, publish).await {
        Ok(Ok(json)) => json,
        Ok(Err(message)) => return Err(PublishError::Rejected(message)),
        Err(_) => return Err(PublishError::TimedOut),
    };
    let data =
        RawValue::from_string(outgoing).map_err(|_| PublishError::Rejected(String::new()))?;
    shared
        .broadcaster
        .send_async(name, data.into())
        .await
        .map_err(|_| PublishError::Rejected("the server is closing".to_owned()))
}
