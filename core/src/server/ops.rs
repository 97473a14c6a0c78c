//! What the app can do through a running server: broadcast, and operate on one socket
//! (emit, emit with ack, join, leave, rooms, disconnect) or on a channel's members, on
//! whichever engine holds the socket.

use std::{sync::atomic::Ordering, time::Duration};

use serde_json::value::RawValue;

use crate::{
    channel::{room_name, ChannelName},
    client::{Client, Undelivered},
    errors::{BroadcastError, SocketOpError},
    payload::Payload,
    server::Server,
};

impl Server {
    /// The connected client with this socket id, on whichever engine.
    fn client(&self, sid: &str) -> Option<Client> {
        self.engines.iter().find_map(|engine| engine.socket(sid))
    }

    /// Queues `json` (JSON text) as event `category` to the members of `category:id`.
    pub fn broadcast(&self, category: &str, id: &str, json: String) -> Result<(), BroadcastError> {
        if self.shutdown.is_cancelled() {
            return Err(BroadcastError::Closed);
        }
        let channel = room_name(category, id, self.config().max_channel_name_len)?;
        let data = RawValue::from_string(json)?;
        self.broadcaster.send(channel, data.into())
    }

    /// Starts or stops telling the app about connections and disconnections.
    pub fn set_socket_notices(&self, enabled: bool) {
        self.shared.wants_socket_notices.store(enabled, Ordering::Release);
    }

    /// Routes client events named `event` to the app (`enabled`) or ignores them.
    pub fn set_event_route(&self, event: &str, enabled: bool) {
        if let Ok(mut names) = self.shared.event_names.write() {
            if enabled {
                names.insert(event.to_owned());
            } else {
                names.remove(event);
            }
        }
    }

    /// Sends `event` with `args` to one socket. `Ok(false)` if the socket is gone (or was
    /// just cut off because its send queue is full).
    pub fn emit_to(&self, sid: &str, event: &str, args: Payload) -> Result<bool, SocketOpError> {
        let _entered = self.runtime.enter();
        let Some(client) = self.client(sid) else {
            // Still reject arguments that could never be sent.
            args.check()?;
            return Ok(false);
        };
        match client.emit_args(event, &args) {
            Ok(()) => Ok(true),
            Err(Undelivered::Full | Undelivered::Closed) => Ok(false),
            Err(Undelivered::Encode(error)) => Err(SocketOpError::Encode(error)),
        }
    }

    /// Sends `event` with `args` to one socket and waits up to `timeout` for its ack.
    pub async fn emit_with_ack(
        &self,
        sid: &str,
        event: &str,
        args: Payload,
        timeout: Duration,
    ) -> Result<Payload, SocketOpError> {
        let Some(client) = self.client(sid) else {
            args.check()?;
            return Err(SocketOpError::Gone);
        };
        client.emit_with_ack(event, &args, timeout).await
    }

    /// Adds a socket to a channel without an access check. `false` if the socket is gone.
    pub fn join(&self, sid: &str, channel: &str) -> Result<bool, SocketOpError> {
        let _entered = self.runtime.enter();
        let name = ChannelName::parse(channel, self.config().max_channel_name_len)?;
        let Some(client) = self.client(sid) else { return Ok(false) };
        client.join(name.as_str());
        Ok(true)
    }

    /// Removes a socket from a channel. `false` if the socket is gone.
    pub fn leave(&self, sid: &str, channel: &str) -> bool {
        let _entered = self.runtime.enter();
        let Some(client) = self.client(sid) else { return false };
        client.leave(channel);
        true
    }

    /// The channels a socket is in, or `None` if it is gone.
    pub fn rooms(&self, sid: &str) -> Option<Vec<String>> {
        let _entered = self.runtime.enter();
        self.client(sid).map(|c| c.rooms())
    }

    /// Disconnects a socket. `false` if it was already gone.
    pub fn disconnect(&self, sid: &str) -> bool {
        let _entered = self.runtime.enter();
        let Some(client) = self.client(sid) else { return false };
        client.disconnect();
        true
    }

    /// The ids of this instance's sockets in `channel`.
    pub fn members(&self, channel: &str) -> Vec<String> {
        let _entered = self.runtime.enter();
        self.engines.iter().flat_map(|engine| engine.member_ids(channel)).collect()
    }

    /// The members of `channel` on the other instances: one JSON array text of
    /// `{ socketId, user }` per instance that answered (see
    /// [`crate::presence::Presence::remote_members`]).
    pub async fn remote_members(&self, channel: &str) -> Vec<String> {
        if self.shutdown.is_cancelled() {
            return Vec::new();
        }
        self.presence.remote_members(channel).await
    }
}
