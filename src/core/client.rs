//! A connected client, whichever engine carries it: the native engine (websocket sessions
//! the server opened itself) or socketioxide (long-polling, upgrades from it, bridged
//! streams). The join, leave, publish and app-event flows are written once against this.

use std::sync::Arc;

use serde::Serialize;
use socketioxide::{
    extract::{AckSender, SocketRef},
    SendError, SocketError,
};

use crate::core::{
    http::ConnectionKill,
    native::{
        packet,
        registry::Registry,
        socket::{CloseReason, NativeSocket, SendError as NativeSendError},
    },
    payload::{OutgoingArgs, Payload},
    session::SocketState,
};

/// Why a message did not reach a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Undelivered {
    /// The client's send queue is full: it stopped reading.
    Full,
    /// The client is gone.
    Closed,
    /// The arguments could not be encoded.
    Encode(String),
}

/// One connected client.
#[derive(Clone)]
pub enum Client {
    /// A socket served by socketioxide.
    Engine(SocketRef),
    /// A socket served by the native engine, and the registry that holds its rooms.
    Native(Arc<NativeSocket>, Arc<Registry>),
}

impl From<NativeSendError> for Undelivered {
    fn from(error: NativeSendError) -> Self {
        match error {
            NativeSendError::Full => Undelivered::Full,
            NativeSendError::Closed => Undelivered::Closed,
        }
    }
}

fn engine_error(error: SendError) -> Undelivered {
    match error {
        SendError::Socket(SocketError::InternalChannelFull) => Undelivered::Full,
        SendError::Socket(SocketError::Closed) => Undelivered::Closed,
        SendError::Serialize(error) => Undelivered::Encode(error.to_string()),
    }
}

impl Client {
    /// The Socket.IO socket id.
    pub fn id(&self) -> String {
        match self {
            Client::Engine(s) => s.id.to_string(),
            Client::Native(s, _) => s.id().to_owned(),
        }
    }

    /// Whether the socket is still connected.
    pub fn connected(&self) -> bool {
        match self {
            Client::Engine(s) => s.connected(),
            Client::Native(s, _) => s.connected(),
        }
    }

    /// The per-socket join state.
    pub fn state(&self) -> Option<Arc<SocketState>> {
        match self {
            Client::Engine(s) => s.extensions.get::<Arc<SocketState>>(),
            Client::Native(s, _) => s.state().cloned(),
        }
    }

    /// Sends `event` with one argument.
    pub fn emit<T: Serialize + ?Sized>(&self, event: &str, value: &T) -> Result<(), Undelivered> {
        match self {
            Client::Engine(s) => s.emit(event, value).map_err(engine_error),
            Client::Native(s, _) => {
                let json =
                    serde_json::to_string(value).map_err(|e| Undelivered::Encode(e.to_string()))?;
                Ok(s.send(&packet::event_with_one_arg(event, &json))?)
            }
        }
    }

    /// Sends `event` with the app's arguments (binary parts included).
    pub fn emit_args(&self, event: &str, args: Payload) -> Result<(), Undelivered> {
        match self {
            Client::Engine(s) => {
                let args =
                    OutgoingArgs::try_from(args).map_err(|e| Undelivered::Encode(e.to_string()))?;
                s.emit(event, &args).map_err(engine_error)
            }
            Client::Native(s, _) => {
                args.check().map_err(|e| Undelivered::Encode(e.to_string()))?;
                Ok(s.send_all(&packet::event(event, &args, None))?)
            }
        }
    }

    /// Puts the socket in `room`.
    pub fn join(&self, room: &str) {
        match self {
            Client::Engine(s) => s.join(room.to_owned()),
            Client::Native(s, registry) => registry.join(s, room),
        }
    }

    /// Takes the socket out of `room`.
    pub fn leave(&self, room: &str) {
        match self {
            Client::Engine(s) => s.leave(room.to_owned()),
            Client::Native(s, registry) => registry.leave(s, room),
        }
    }

    /// The rooms the socket is in.
    pub fn rooms(&self) -> Vec<String> {
        match self {
            Client::Engine(s) => s.rooms().into_iter().map(|r| r.into_owned()).collect(),
            Client::Native(s, _) => s.rooms(),
        }
    }

    /// Whether the socket is in `room`.
    pub fn in_room(&self, room: &str) -> bool {
        match self {
            Client::Engine(s) => s.rooms().iter().any(|r| r == room),
            Client::Native(s, _) => s.in_room(room),
        }
    }

    /// How many rooms the socket is in.
    pub fn room_count(&self) -> usize {
        match self {
            Client::Engine(s) => s.rooms().len(),
            Client::Native(s, _) => s.room_count(),
        }
    }

    /// Disconnects the socket from the namespace, as the app asked (`io server disconnect`
    /// on the client). A socket that cannot even take that packet is cut off.
    pub fn disconnect(&self) {
        match self {
            Client::Engine(s) => {
                if s.clone().disconnect().is_err() {
                    self.cut_off();
                }
            }
            Client::Native(s, _) => {
                if s.send(&packet::disconnect()).is_err() {
                    s.kill(CloseReason::ServerDisconnect);
                } else {
                    s.begin_close(CloseReason::ServerDisconnect);
                }
            }
        }
    }

    /// Cuts the connection at once (a client that stopped reading).
    pub fn cut_off(&self) {
        match self {
            Client::Engine(s) => match s.req_parts().extensions.get::<ConnectionKill>() {
                Some(ConnectionKill(kill)) => kill.kill(),
                None => {
                    let _ = s.clone().disconnect();
                }
            },
            Client::Native(s, _) => s.cut_off_slow(),
        }
    }
}

/// Where the answer to a client's acknowledgement request goes.
pub enum AckReply {
    /// socketioxide's ack sender.
    Engine(AckSender),
    /// A native socket and the ack id the client asked for (`None`: it asked for none).
    Native(Arc<NativeSocket>, Option<u64>),
}

impl AckReply {
    /// Answers with one JSON value (e.g. `true`).
    pub fn send_value<T: Serialize>(self, value: &T) {
        match self {
            AckReply::Engine(ack) => {
                let _ = ack.send(value);
            }
            AckReply::Native(socket, Some(id)) => {
                if let Ok(json) = serde_json::to_string(value) {
                    let _ = socket.send_all(&packet::ack(
                        id,
                        &Payload { json: format!("[{json}]"), binary: vec![] },
                    ));
                }
            }
            AckReply::Native(_, None) => {}
        }
    }

    /// Answers with the app's arguments (binary parts included).
    pub fn send_args(self, args: Payload) -> Result<(), Undelivered> {
        match self {
            AckReply::Engine(ack) => {
                let args =
                    OutgoingArgs::try_from(args).map_err(|e| Undelivered::Encode(e.to_string()))?;
                ack.send(&args).map_err(|e| Undelivered::Encode(e.to_string()))
            }
            AckReply::Native(socket, Some(id)) => {
                args.check().map_err(|e| Undelivered::Encode(e.to_string()))?;
                Ok(socket.send_all(&packet::ack(id, &args))?)
            }
            AckReply::Native(_, None) => Ok(()),
        }
    }
}
