//! Sending a broadcast: one message to a channel, handed to the cluster link for the other
//! instances and queued for this instance's members (or, when the backend sequences it,
//! queued when it comes back). Delivery itself is [`crate::delivery`]'s job.

use std::sync::Arc;

use serde_json::value::RawValue;
use tokio::sync::mpsc;

use crate::{
    adapter::{ClusterMessage, Order},
    channel::ChannelName,
    cluster::ClusterLink,
    errors::BroadcastError,
};

/// One queued broadcast: event `<category>` with the already-serialized JSON `data`, to room
/// `category:id` (`PROTOCOL.md`, "Server → clients").
pub struct Broadcast {
    /// The target channel.
    pub channel: ChannelName,
    /// The payload, JSON text produced once by the caller and never re-parsed into a tree;
    /// shared with the adapter, never copied.
    pub data: Arc<RawValue>,
    /// Its recovery offset: given by the cluster's backend (sequenced), or at delivery
    /// (recovery on, one instance). Members whose position is past it skip it.
    pub offset: Option<u64>,
    /// Whether nothing sequenced before it was lost on the way here (sequenced only).
    pub continuous: bool,
    /// The offset its frame carries as the last argument (recovery on): its own, or, for
    /// one that could not be sequenced, the last offset given (a real position, so the
    /// client never takes its data for one).
    pub label: Option<u64>,
}

impl Broadcast {
    /// A broadcast not sequenced (yet).
    pub fn new(channel: ChannelName, data: Arc<RawValue>) -> Self {
        Self { channel, data, offset: None, continuous: false, label: None }
    }
}

/// The producer side of the local broadcast queue.
#[derive(Clone)]
pub struct BroadcastQueue(mpsc::Sender<Broadcast>);

impl BroadcastQueue {
    /// A queue of `capacity` broadcasts and its receiving end (for the delivery task).
    pub fn new(capacity: usize) -> (Self, mpsc::Receiver<Broadcast>) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        (Self(tx), rx)
    }

    /// Queues a broadcast. When the queue is full the calling (non-runtime) thread waits for
    /// room, which keeps order and loses nothing.
    pub fn push(&self, broadcast: Broadcast) -> Result<(), BroadcastError> {
        match self.0.try_send(broadcast) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Closed(_)) => Err(BroadcastError::Closed),
            Err(mpsc::error::TrySendError::Full(broadcast)) => {
                if tokio::runtime::Handle::try_current().is_ok() {
                    // Blocking a runtime thread could deadlock the delivery task itself.
                    return Err(BroadcastError::QueueFull);
                }
                self.0.blocking_send(broadcast).map_err(|_| BroadcastError::Closed)
            }
        }
    }

    /// Queues a broadcast from async code on the runtime, waiting for room when full.
    pub async fn push_async(&self, broadcast: Broadcast) -> Result<(), BroadcastError> {
        self.0.send(broadcast).await.map_err(|_| BroadcastError::Closed)
    }
}

/// Where every broadcast goes: this instance's members (through the queue) and the other
/// instances (through the cluster link).
pub struct Broadcaster {
    queue: BroadcastQueue,
    link: Arc<ClusterLink>,
}

impl Broadcaster {
    /// A broadcaster that queues on `queue` and shares through `link`.
    pub fn new(queue: BroadcastQueue, link: Arc<ClusterLink>) -> Self {
        Self { queue, link }
    }

    /// Shares a broadcast with the cluster; `true` if the backend hands it back to be
    /// delivered here too (sequenced).
    fn share(&self, channel: &ChannelName, data: &Arc<RawValue>) -> bool {
        self.link.publish_broadcast(channel.as_str().to_owned(), data.clone())
    }

    /// Sends from a non-runtime thread (the app's broadcast): to the cluster, then the local
    /// queue (unless it comes back sequenced).
    pub fn send(&self, channel: ChannelName, data: Arc<RawValue>) -> Result<(), BroadcastError> {
        if self.share(&channel, &data) {
            return Ok(());
        }
        self.queue.push(Broadcast::new(channel, data))
    }

    /// Sends from async code on the runtime (a client's publish).
    pub async fn send_async(
        &self,
        channel: ChannelName,
        data: Arc<RawValue>,
    ) -> Result<(), BroadcastError> {
        if self.share(&channel, &data) {
            return Ok(());
        }
        self.queue.push_async(Broadcast::new(channel, data)).await
    }

    /// Delivers a broadcast from the cluster (another instance's, or a sequenced one) to
    /// this instance's members. `false` once delivery has stopped (the server is closing).
    pub async fn deliver_remote(&self, message: ClusterMessage, max_channel_len: usize) -> bool {
        let Ok(channel) = ChannelName::parse(&message.channel, max_channel_len) else {
            return true;
        };
        let mut broadcast = Broadcast::new(channel, message.data);
        if let Order::Sequenced(sequence) = message.order {
            broadcast.offset = Some(sequence.offset);
            broadcast.continuous = sequence.continuous;
        }
        self.queue.push_async(broadcast).await.is_ok()
    }
}
