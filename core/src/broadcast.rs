//! Sending a broadcast: one message to a channel, queued for this instance's members and
//! handed to the cluster link for the other instances. Delivery itself is
//! [`crate::delivery`]'s job.

use std::sync::Arc;

use serde_json::value::RawValue;
use tokio::sync::mpsc;

use crate::{
    adapter::{ClusterMessage, MessageKind},
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
    /// Its recovery offset, given at delivery when recovery is on.
    pub offset: Option<u64>,
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

    fn share(&self, channel: &ChannelName, data: &Arc<RawValue>) {
        self.link.publish(MessageKind::Broadcast, channel.as_str().to_owned(), data.clone());
    }

    /// Sends from a non-runtime thread (the app's broadcast): to the cluster, then the local
    /// queue.
    pub fn send(&self, channel: ChannelName, data: Arc<RawValue>) -> Result<(), BroadcastError> {
        self.share(&channel, &data);
        self.queue.push(Broadcast { channel, data, offset: None })
    }

    /// Sends from async code on the runtime (a client's publish).
    pub async fn send_async(
        &self,
        channel: ChannelName,
        data: Arc<RawValue>,
    ) -> Result<(), BroadcastError> {
        self.share(&channel, &data);
        self.queue.push_async(Broadcast { channel, data, offset: None }).await
    }

    /// Delivers another instance's broadcast to this instance's members. `false` once
    /// delivery has stopped (the server is closing).
    pub async fn deliver_remote(&self, message: ClusterMessage, max_channel_len: usize) -> bool {
        let Ok(channel) = ChannelName::parse(&message.channel, max_channel_len) else {
            return true;
        };
        let broadcast = Broadcast { channel, data: message.data, offset: None };
        self.queue.push_async(broadcast).await.is_ok()
    }
}
