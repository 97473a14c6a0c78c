//! Broadcast delivery: a bounded queue filled synchronously by the app, drained in order by
//! one task that writes each message to every local member of its channel.

use std::sync::Arc;

use serde_json::value::RawValue;
use socketioxide::{SendError, SocketError, SocketIo};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::core::{
    adapter::{ClusterMessage, MessageKind},
    channel::ChannelName,
    client::Client,
    cluster::ClusterLink,
    errors::BroadcastError,
    native::{
        packet,
        registry::Registry,
        socket::{NativeSocket, SendError as NativeSendError},
    },
};

/// One queued broadcast: event `<category>` with the already-serialized JSON `data`, to room
/// `category:id` (`PROTOCOL.md`, "Server → clients").
pub struct Broadcast {
    /// The target channel.
    pub channel: ChannelName,
    /// The payload, JSON text produced once by the caller and never re-parsed into a tree;
    /// shared with the adapter, never copied.
    pub data: Arc<RawValue>,
}

/// Where every broadcast goes: this instance's members (through the queue) and the other
/// instances (through the cluster link).
pub struct Broadcaster {
    queue: BroadcastQueue,
    link: Arc<ClusterLink>,
}

impl Broadcaster {
    /// A broadcaster that shares through `link`.
    pub fn new(queue: BroadcastQueue, link: Arc<ClusterLink>) -> Self {
        Self { queue, link }
    }

    fn share(&self, channel: &ChannelName, data: &Arc<RawValue>) {
        self.link.publish(MessageKind::Broadcast, channel.as_str().to_owned(), data.clone());
    }

    /// Sends from a non-runtime thread (the app's broadcast): local queue, then the cluster.
    pub fn send(&self, channel: ChannelName, data: Arc<RawValue>) -> Result<(), BroadcastError> {
        self.share(&channel, &data);
        self.queue.push(Broadcast { channel, data })
    }

    /// Sends from async code on the runtime (a client's publish).
    pub async fn send_async(
        &self,
        channel: ChannelName,
        data: Arc<RawValue>,
    ) -> Result<(), BroadcastError> {
        self.share(&channel, &data);
        self.queue.push_async(Broadcast { channel, data }).await
    }

    /// Delivers another instance's broadcast to this instance's members. `false` once the
    /// fan-out has stopped (the server is closing).
    pub async fn deliver_remote(&self, message: ClusterMessage, max_channel_len: usize) -> bool {
        let Ok(channel) = ChannelName::parse(&message.channel, max_channel_len) else {
            return true;
        };
        self.queue.push_async(Broadcast { channel, data: message.data }).await.is_ok()
    }
}

/// The producer side of the broadcast queue.
#[derive(Clone)]
pub struct BroadcastQueue(mpsc::Sender<Broadcast>);

impl BroadcastQueue {
    /// Creates a queue of `capacity` broadcasts and the task body that drains it into the
    /// members on both engines (`io` and `native`) until `shutdown` fires.
    pub fn new(
        io: SocketIo,
        native: Arc<Registry>,
        capacity: usize,
        shutdown: CancellationToken,
    ) -> (Self, impl std::future::Future<Output = ()> + Send) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        (Self(tx), drain(io, native, rx, shutdown))
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

/// Most broadcasts delivered as one batch: each native member gets the batch's frames for it
/// together (`writev`, up to 64 frames a call) instead of one `write` each.
const MAX_BATCH_BROADCASTS: usize = 4096;

/// A batch also ends once it holds this many deliveries, which bounds the frames queued at
/// once (each a shared reference, not a copy) and the latency the batching adds.
const MAX_BATCH_DELIVERIES: usize = 262_144;

async fn drain(
    io: SocketIo,
    native: Arc<Registry>,
    mut rx: mpsc::Receiver<Broadcast>,
    shutdown: CancellationToken,
) {
    let mut batch = Batch::default();
    loop {
        tokio::select! {
            biased;
            _ = shutdown.cancelled() => break,
            next = rx.recv() => match next {
                Some(broadcast) => {
                    batch.deliver(&io, &native, &broadcast);
                    while batch.has_room() {
                        let Ok(broadcast) = rx.try_recv() else { break };
                        batch.deliver(&io, &native, &broadcast);
                    }
                    batch.finish();
                }
                None => break,
            },
        }
    }
}

/// The broadcasts being delivered together, and the native sockets they were queued on.
#[derive(Default)]
struct Batch {
    broadcasts: usize,
    deliveries: usize,
    /// A reused snapshot of one room's native members.
    members: Vec<Arc<NativeSocket>>,
    /// Native sockets with frames queued in this batch, to be written at its end.
    corked: Vec<Arc<NativeSocket>>,
}

impl Batch {
    fn has_room(&self) -> bool {
        self.broadcasts < MAX_BATCH_BROADCASTS && self.deliveries < MAX_BATCH_DELIVERIES
    }

    /// Queues one broadcast for every local member of its channel. Native members share one
    /// encoded frame.
    fn deliver(&mut self, io: &SocketIo, native: &Registry, broadcast: &Broadcast) {
        self.broadcasts += 1;
        let event = broadcast.channel.category();
        native.members_into(broadcast.channel.as_str(), &mut self.members);
        if !self.members.is_empty() {
            self.deliveries += self.members.len();
            let frame = packet::event_with_one_arg(event, broadcast.data.get());
            for socket in self.members.drain(..) {
                match socket.cork(&frame) {
                    Ok(true) => self.corked.push(socket),
                    Ok(false) => {}
                    Err(NativeSendError::Full) => socket.cut_off_slow(),
                    Err(NativeSendError::Closed) => {}
                }
            }
        }
        for socket in io.to(broadcast.channel.as_str().to_owned()).sockets() {
            self.deliveries += 1;
            match socket.emit(event, &*broadcast.data) {
                Ok(()) => {}
                Err(SendError::Socket(SocketError::InternalChannelFull)) => {
                    tracing::warn!(sid = %socket.id, "send queue full: disconnecting a slow consumer");
                    Client::Engine(socket).cut_off();
                }
                Err(_) => {} // the socket closed meanwhile
            }
        }
    }

    /// Writes what the batch queued on each native socket, together.
    fn finish(&mut self) {
        for socket in self.corked.drain(..) {
            let _ = socket.uncork(); // a failed write has started closing the socket
        }
        if self.corked.capacity() > MAX_BATCH_DELIVERIES {
            self.corked = Vec::new();
        }
        self.broadcasts = 0;
        self.deliveries = 0;
    }
}
