//! Broadcast delivery: a bounded queue filled synchronously by the app, drained in order by
//! one task that writes each message to every local member of its channel.

use serde_json::value::RawValue;
use socketioxide::{extract::SocketRef, SendError, SocketError, SocketIo};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::core::{channel::ChannelName, errors::BroadcastError, http::ConnectionKill};

/// One queued broadcast: event `<category>` with the already-serialized JSON `data`, to room
/// `category:id` (`PROTOCOL.md`, "Server → clients").
pub struct Broadcast {
    /// The target channel.
    pub channel: ChannelName,
    /// The payload, JSON text produced once by the caller and never re-parsed into a tree.
    pub data: Box<RawValue>,
}

/// The producer side of the broadcast queue.
#[derive(Clone)]
pub struct BroadcastQueue(mpsc::Sender<Broadcast>);

impl BroadcastQueue {
    /// Creates a queue of `capacity` broadcasts and the task body that drains it into `io`
    /// until `shutdown` fires.
    pub fn new(
        io: SocketIo,
        capacity: usize,
        shutdown: CancellationToken,
    ) -> (Self, impl std::future::Future<Output = ()> + Send) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        (Self(tx), drain(io, rx, shutdown))
    }

    /// Queues a broadcast. When the queue is full the calling (non-runtime) thread waits for
    /// room, which keeps order and loses nothing.
    pub fn push(&self, broadcast: Broadcast) -> Result<(), BroadcastError> {
        match self.0.try_send(broadcast) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Closed(_)) => Err(BroadcastError::Closed),
            Err(mpsc::error::TrySendError::Full(broadcast)) => {
                if tokio::runtime::Handle::try_current().is_ok() {
                    // Blocking a runtime thread could deadlock the drain task itself.
                    return Err(BroadcastError::QueueFull);
                }
                self.0.blocking_send(broadcast).map_err(|_| BroadcastError::Closed)
            }
        }
    }
}

impl BroadcastQueue {
    /// Queues a broadcast from async code on the runtime, waiting for room when full.
    pub async fn push_async(&self, broadcast: Broadcast) -> Result<(), BroadcastError> {
        self.0.send(broadcast).await.map_err(|_| BroadcastError::Closed)
    }
}

async fn drain(io: SocketIo, mut rx: mpsc::Receiver<Broadcast>, shutdown: CancellationToken) {
    loop {
        tokio::select! {
            biased;
            _ = shutdown.cancelled() => break,
            next = rx.recv() => match next {
                Some(broadcast) => deliver(&io, &broadcast),
                None => break,
            },
        }
    }
}

/// Writes one broadcast to every local member of its channel.
fn deliver(io: &SocketIo, broadcast: &Broadcast) {
    let event = broadcast.channel.category();
    for socket in io.to(broadcast.channel.as_str().to_owned()).sockets() {
        match socket.emit(event, &broadcast.data) {
            Ok(()) => {}
            Err(SendError::Socket(SocketError::InternalChannelFull)) => drop_slow_consumer(&socket),
            Err(_) => {} // the socket closed meanwhile
        }
    }
}

/// A socket whose send queue is full has stopped reading: it cannot get this message, so it
/// is cut off (its client reconnects and re-joins) instead of silently missing messages.
fn drop_slow_consumer(socket: &SocketRef) {
    tracing::warn!(sid = %socket.id, "send queue full: disconnecting a slow consumer");
    match socket.req_parts().extensions.get::<ConnectionKill>() {
        Some(ConnectionKill(kill)) => kill.kill(),
        None => {
            let _ = socket.clone().disconnect();
        }
    }
}
