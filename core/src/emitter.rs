//! A publisher without a socket server: lets a worker or a cron job reach channel members on
//! every instance through the shared backend.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use serde_json::value::RawValue;
use tokio::runtime::Handle;
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use crate::{
    adapter::{Adapter, AdapterTask, ClusterMessage, MessageKind, Order},
    channel::room_name,
    errors::BroadcastError,
};

/// Longest channel name, as for servers.
const MAX_CHANNEL_NAME_LEN: usize = 256;

/// Publishes broadcasts to the cluster; delivers nothing itself.
pub struct Emitter {
    adapter: Mutex<Option<Arc<dyn Adapter>>>,
    origin: Arc<str>,
    tasks: TaskTracker,
    shutdown: CancellationToken,
}

impl Emitter {
    /// Wraps a connected backend and starts its publishing task on `runtime`.
    pub fn new(
        adapter: Arc<dyn Adapter>,
        publisher: AdapterTask,
        origin: Arc<str>,
        shutdown: CancellationToken,
        runtime: &Handle,
    ) -> Self {
        let tasks = TaskTracker::new();
        tasks.spawn_on(publisher, runtime);
        Self { adapter: Mutex::new(Some(adapter)), origin, tasks, shutdown }
    }

    /// Publishes `json` as event `category` to the members of `category:id` on every instance.
    pub fn broadcast(&self, category: &str, id: &str, json: String) -> Result<(), BroadcastError> {
        let channel = room_name(category, id, MAX_CHANNEL_NAME_LEN)?;
        let data: Arc<RawValue> = RawValue::from_string(json)?.into();
        let adapter =
            self.adapter.lock().ok().and_then(|a| a.clone()).ok_or(BroadcastError::Closed)?;
        let channel = channel.as_str().to_owned();
        let mut message =
            ClusterMessage::new(self.origin.clone(), MessageKind::Broadcast, channel, data);
        if adapter.sequences() {
            // Sequenced like a server's broadcast, so that it can be recovered.
            message.order = Order::Requested;
        }
        adapter.publish(message);
        Ok(())
    }

    /// Flushes what is queued (up to `grace`), then disconnects. Idempotent.
    pub async fn close(&self, grace: Duration) {
        let taken = self.adapter.lock().ok().and_then(|mut a| a.take());
        drop(taken);
        self.tasks.close();
        let _ = tokio::time::timeout(grace, self.tasks.wait()).await;
        self.shutdown.cancel();
    }
}
