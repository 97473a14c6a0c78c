//! A native socket as the flows see it ([`EngineSocket`]): sends, acks, rooms, disconnects.

use std::{
    sync::{Arc, Weak},
    time::Duration,
};

use crate::{
    client::{AckSink, AckWait, EngineSocket, Undelivered},
    errors::SocketOpError,
    metrics::Metrics,
    native::{
        packet,
        registry::Registry,
        socket::{CloseReason, NativeSocket, SendError},
    },
    payload::Payload,
    socket_state::SocketState,
};

impl From<SendError> for Undelivered {
    fn from(error: SendError) -> Self {
        match error {
            SendError::Full => Undelivered::Full,
            SendError::Closed => Undelivered::Closed,
        }
    }
}

/// A native socket and the registry that holds its rooms. It holds the socket weakly: a
/// flow still waiting on the app never keeps a departed client's socket (and descriptor)
/// open.
pub struct NativeClient {
    socket: Weak<NativeSocket>,
    id: Box<str>,
    registry: Arc<Registry>,
    metrics: Arc<Metrics>,
    /// Whether events carry a recovery offset as their last argument.
    offsets: bool,
}

/// Sends `frames` on `socket`, counting the bytes.
fn send(
    socket: &NativeSocket,
    frames: &[bytes::Bytes],
    metrics: &Metrics,
) -> Result<(), Undelivered> {
    socket.send_all(frames)?;
    metrics.sent(frames.iter().map(|f| f.len()).sum());
    Ok(())
}

impl NativeClient {
    /// The handle of `socket`, whose rooms live in `registry`, counted in `metrics`; with
    /// `offsets`, every event without an ack carries the socket's recovery position.
    pub fn new(
        socket: &Arc<NativeSocket>,
        registry: Arc<Registry>,
        metrics: Arc<Metrics>,
        offsets: bool,
    ) -> Self {
        Self { socket: Arc::downgrade(socket), id: socket.id().into(), registry, metrics, offsets }
    }

    fn socket(&self) -> Result<Arc<NativeSocket>, Undelivered> {
        self.socket.upgrade().ok_or(Undelivered::Closed)
    }
}

impl EngineSocket for NativeClient {
    fn id(&self) -> &str {
        &self.id
    }

    fn connected(&self) -> bool {
        self.socket().is_ok_and(|s| s.connected())
    }

    fn state(&self) -> Option<Arc<SocketState>> {
        self.socket().ok()?.state()
    }

    fn send_event(&self, event: &str, args: &Payload) -> Result<(), Undelivered> {
        let socket = self.socket()?;
        if self.offsets {
            // A recovering client takes an event's last string argument as its position.
            let args = packet::with_offset(args, socket.position());
            return send(&socket, &packet::event(event, &args, None), &self.metrics);
        }
        send(&socket, &packet::event(event, args, None), &self.metrics)
    }

    fn send_event_with_ack(
        &self,
        event: &str,
        args: &Payload,
        timeout: Duration,
    ) -> Result<AckWait, Undelivered> {
        let socket = self.socket()?;
        let (id, answer) = socket.expect_ack();
        if let Err(error) = send(&socket, &packet::event(event, args, Some(id)), &self.metrics) {
            socket.forget_ack(id);
            return Err(error);
        }
        let socket = Arc::downgrade(&socket);
        Ok(Box::pin(async move {
            match tokio::time::timeout(timeout, answer).await {
                Ok(Ok(reply)) => Ok(reply),
                Ok(Err(_)) => Err(SocketOpError::Gone),
                Err(_) => {
                    if let Some(socket) = socket.upgrade() {
                        socket.forget_ack(id);
                    }
                    Err(SocketOpError::AckTimeout)
                }
            }
        }))
    }

    fn join(&self, room: &str) {
        if let Ok(socket) = self.socket() {
            self.registry.join(&socket, room);
        }
    }

    fn leave(&self, room: &str) {
        if let Ok(socket) = self.socket() {
            self.registry.leave(&socket, room);
        }
    }

    fn rooms(&self) -> Vec<String> {
        self.socket().map(|s| s.rooms()).unwrap_or_default()
    }

    fn in_room(&self, room: &str) -> bool {
        self.socket().is_ok_and(|s| s.in_room(room))
    }

    fn room_count(&self) -> usize {
        self.socket().map_or(0, |s| s.room_count())
    }

    fn disconnect(&self) {
        let Ok(socket) = self.socket() else { return };
        if socket.send(&packet::disconnect()).is_err() {
            socket.kill(CloseReason::ServerDisconnect);
        } else {
            socket.begin_close(CloseReason::ServerDisconnect);
        }
    }

    fn cut_off(&self) {
        if let Ok(socket) = self.socket() {
            socket.kill(CloseReason::TransportError);
        }
    }

    fn metrics(&self) -> &Metrics {
        &self.metrics
    }
}

/// The answer to ack `id` of a native socket's client (held weakly, like [`NativeClient`]).
pub struct NativeAck {
    socket: Weak<NativeSocket>,
    id: u64,
    metrics: Arc<Metrics>,
}

impl NativeAck {
    /// The sink for ack `id` on `socket`, counted in `metrics`.
    pub fn new(socket: &Arc<NativeSocket>, id: u64, metrics: Arc<Metrics>) -> Self {
        Self { socket: Arc::downgrade(socket), id, metrics }
    }
}

impl AckSink for NativeAck {
    fn send(self: Box<Self>, args: &Payload) -> Result<(), Undelivered> {
        let socket = self.socket.upgrade().ok_or(Undelivered::Closed)?;
        send(&socket, &packet::ack(self.id, args), &self.metrics)
    }
}
