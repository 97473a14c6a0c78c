//! A socketioxide socket as the flows see it ([`EngineSocket`]).

use std::{sync::Arc, time::Duration};

use socketioxide::{
    extract::{AckSender, SocketRef},
    AckError, SendError, SocketError,
};

use crate::{
    client::{AckSink, AckWait, EngineSocket, Undelivered},
    errors::SocketOpError,
    metrics::Metrics,
    payload::{OutgoingArgs, Payload},
    sio::{handlers, http::ConnectionKill},
    socket_state::SocketState,
};

fn undelivered(error: SendError) -> Undelivered {
    match error {
        SendError::Socket(SocketError::InternalChannelFull) => Undelivered::Full,
        SendError::Socket(SocketError::Closed) => Undelivered::Closed,
        SendError::Serialize(error) => Undelivered::Encode(error.to_string()),
    }
}

fn outgoing(args: &Payload) -> Result<OutgoingArgs, Undelivered> {
    OutgoingArgs::try_from(args.clone()).map_err(|e| Undelivered::Encode(e.to_string()))
}

/// A socket served by socketioxide.
pub struct SioClient {
    socket: SocketRef,
    id: String,
    metrics: Arc<Metrics>,
}

impl SioClient {
    /// The handle of `socket`, counted in `metrics`.
    pub fn new(socket: SocketRef, metrics: Arc<Metrics>) -> Self {
        let id = socket.id.to_string();
        Self { socket, id, metrics }
    }
}

impl EngineSocket for SioClient {
    fn id(&self) -> &str {
        &self.id
    }

    fn connected(&self) -> bool {
        self.socket.connected()
    }

    fn state(&self) -> Option<Arc<SocketState>> {
        handlers::state(&self.socket)
    }

    fn send_event(&self, event: &str, args: &Payload) -> Result<(), Undelivered> {
        self.socket.emit(event, &outgoing(args)?).map_err(undelivered)
    }

    fn send_event_with_ack(
        &self,
        event: &str,
        args: &Payload,
        timeout: Duration,
    ) -> Result<AckWait, Undelivered> {
        let pending = self
            .socket
            .timeout(timeout)
            .emit_with_ack::<_, Payload>(event, &outgoing(args)?)
            .map_err(undelivered)?;
        Ok(Box::pin(async move {
            pending.await.map_err(|error| match error {
                AckError::Timeout => SocketOpError::AckTimeout,
                AckError::Socket(_) => SocketOpError::Gone,
                other => SocketOpError::Encode(other.to_string()),
            })
        }))
    }

    fn join(&self, room: &str) {
        self.socket.join(room.to_owned());
    }

    fn leave(&self, room: &str) {
        self.socket.leave(room.to_owned());
    }

    fn rooms(&self) -> Vec<String> {
        self.socket.rooms().into_iter().map(|r| r.into_owned()).collect()
    }

    fn in_room(&self, room: &str) -> bool {
        self.socket.rooms().iter().any(|r| r == room)
    }

    fn room_count(&self) -> usize {
        self.socket.rooms().len()
    }

    fn disconnect(&self) {
        if self.socket.clone().disconnect().is_err() {
            self.cut_off();
        }
    }

    fn cut_off(&self) {
        match self.socket.req_parts().extensions.get::<ConnectionKill>() {
            Some(ConnectionKill(kill)) => kill.kill(),
            None => {
                let _ = self.socket.clone().disconnect();
            }
        }
    }

    fn metrics(&self) -> &Metrics {
        &self.metrics
    }
}

/// socketioxide's ack sender for one client request.
pub struct SioAck(AckSender);

impl SioAck {
    /// Wraps `ack`.
    pub fn new(ack: AckSender) -> Self {
        Self(ack)
    }
}

impl AckSink for SioAck {
    fn send(self: Box<Self>, args: &Payload) -> Result<(), Undelivered> {
        self.0.send(&outgoing(args)?).map_err(undelivered)
    }
}
