//! A connected client, whichever engine carries it, and the one rule every send to it
//! follows: a client whose send queue is full has stopped reading, so it is cut off (its
//! client reconnects and re-joins) rather than silently missing what comes next.

use std::{future::Future, pin::Pin, sync::Arc, time::Duration};

use serde::Serialize;

use crate::{errors::SocketOpError, metrics::Metrics, payload::Payload, socket_state::SocketState};

/// Why a message did not reach a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Undelivered {
    /// The client's send queue is full: it stopped reading (it has been cut off).
    Full,
    /// The client is gone.
    Closed,
    /// The arguments could not be encoded.
    Encode(String),
}

/// The answer to a server → client acknowledgement request, once sent.
pub type AckWait = Pin<Box<dyn Future<Output = Result<Payload, SocketOpError>> + Send>>;

/// What the flows need from one socket of an engine. Engines implement it; nothing else
/// does. Sends report [`Undelivered::Full`] and leave the consequence to [`Client`].
pub trait EngineSocket: Send + Sync + 'static {
    /// The Socket.IO socket id.
    fn id(&self) -> &str;
    /// Whether the socket is connected to the namespace and not closing.
    fn connected(&self) -> bool;
    /// The per-socket state, once connected.
    fn state(&self) -> Option<Arc<SocketState>>;
    /// Sends `event` with `args` (binary parts included).
    fn send_event(&self, event: &str, args: &Payload) -> Result<(), Undelivered>;
    /// Sends `event` with `args` asking for an ack; the future resolves with the answer.
    fn send_event_with_ack(
        &self,
        event: &str,
        args: &Payload,
        timeout: Duration,
    ) -> Result<AckWait, Undelivered>;
    /// Puts the socket in `room`.
    fn join(&self, room: &str);
    /// Takes the socket out of `room`.
    fn leave(&self, room: &str);
    /// The rooms the socket is in.
    fn rooms(&self) -> Vec<String>;
    /// Whether the socket is in `room`.
    fn in_room(&self, room: &str) -> bool;
    /// How many rooms the socket is in.
    fn room_count(&self) -> usize;
    /// Disconnects the socket from the namespace as the app asked (`io server disconnect`).
    fn disconnect(&self);
    /// Cuts the connection at once (a client that stopped reading or broke a limit).
    fn cut_off(&self);
    /// The counters of the socket's server.
    fn metrics(&self) -> &Metrics;
}

/// Where the answer to a client's acknowledgement request goes, for one engine.
pub trait AckSink: Send + 'static {
    /// Sends the ack with `args`.
    fn send(self: Box<Self>, args: &Payload) -> Result<(), Undelivered>;
}

/// Cuts off `socket`, whose send queue is full. Counted; logged once per client.
pub fn cut_off_slow(socket: &dyn EngineSocket) {
    if socket.connected() {
        socket.metrics().slow_consumer();
        tracing::warn!(sid = %socket.id(), "send queue full: disconnecting a slow consumer");
    }
    socket.cut_off();
}

/// One connected client. Cheap to clone.
#[derive(Clone)]
pub struct Client(Arc<dyn EngineSocket>);

impl Client {
    /// The client behind `socket`.
    pub fn new(socket: Arc<dyn EngineSocket>) -> Self {
        Self(socket)
    }

    /// The send rule: a full queue cuts the client off.
    fn enforce<T>(&self, result: Result<T, Undelivered>) -> Result<T, Undelivered> {
        if let Err(Undelivered::Full) = result {
            cut_off_slow(&*self.0);
        }
        result
    }

    /// The Socket.IO socket id.
    pub fn id(&self) -> &str {
        self.0.id()
    }

    /// Whether the socket is still connected.
    pub fn connected(&self) -> bool {
        self.0.connected()
    }

    /// The per-socket state, once connected.
    pub fn state(&self) -> Option<Arc<SocketState>> {
        self.0.state()
    }

    /// Sends `event` with one argument.
    pub fn emit<T: Serialize + ?Sized>(&self, event: &str, value: &T) -> Result<(), Undelivered> {
        let json = serde_json::to_string(value).map_err(|e| Undelivered::Encode(e.to_string()))?;
        self.emit_args(event, &Payload { json: format!("[{json}]"), binary: Vec::new() })
    }

    /// Sends `event` with the app's arguments (binary parts included).
    pub fn emit_args(&self, event: &str, args: &Payload) -> Result<(), Undelivered> {
        args.check().map_err(|e| Undelivered::Encode(e.to_string()))?;
        self.enforce(self.0.send_event(event, args))
    }

    /// Sends `event` with `args` and waits up to `timeout` for the client's ack.
    pub async fn emit_with_ack(
        &self,
        event: &str,
        args: &Payload,
        timeout: Duration,
    ) -> Result<Payload, SocketOpError> {
        args.check()?;
        match self.enforce(self.0.send_event_with_ack(event, args, timeout)) {
            Ok(answer) => answer.await,
            Err(Undelivered::Encode(error)) => Err(SocketOpError::Encode(error)),
            Err(Undelivered::Full | Undelivered::Closed) => Err(SocketOpError::Gone),
        }
    }

    /// Puts the socket in `room`.
    pub fn join(&self, room: &str) {
        self.0.join(room);
    }

    /// Takes the socket out of `room`.
    pub fn leave(&self, room: &str) {
        self.0.leave(room);
    }

    /// The rooms the socket is in.
    pub fn rooms(&self) -> Vec<String> {
        self.0.rooms()
    }

    /// Whether the socket is in `room`.
    pub fn in_room(&self, room: &str) -> bool {
        self.0.in_room(room)
    }

    /// How many rooms the socket is in.
    pub fn room_count(&self) -> usize {
        self.0.room_count()
    }

    /// Disconnects the socket from the namespace, as the app asked.
    pub fn disconnect(&self) {
        self.0.disconnect();
    }

    /// Cuts the connection at once, e.g. for breaking a per-socket limit.
    pub fn cut_off(&self) {
        self.0.cut_off();
    }
}

/// Where the answer to a client's acknowledgement request goes (nowhere when the client
/// asked for none). Sending follows the same rule as every other send.
pub struct AckReply {
    client: Client,
    sink: Option<Box<dyn AckSink>>,
}

impl AckReply {
    /// The reply of `client` through `sink` (`None`: no ack was asked for).
    pub fn new(client: Client, sink: Option<Box<dyn AckSink>>) -> Self {
        Self { client, sink }
    }

    /// Whether the client asked for an acknowledgement.
    pub fn wanted(&self) -> bool {
        self.sink.is_some()
    }

    /// Answers with one JSON value (e.g. `true`).
    pub fn send_value<T: Serialize>(self, value: &T) -> Result<(), Undelivered> {
        let json = serde_json::to_string(value).map_err(|e| Undelivered::Encode(e.to_string()))?;
        self.send_args(&Payload { json: format!("[{json}]"), binary: Vec::new() })
    }

    /// Answers with the app's arguments (a JSON array text, binary parts included).
    pub fn send_args(self, args: &Payload) -> Result<(), Undelivered> {
        let Some(sink) = self.sink else { return Ok(()) };
        args.check().map_err(|e| Undelivered::Encode(e.to_string()))?;
        self.client.enforce(sink.send(args))
    }
}
