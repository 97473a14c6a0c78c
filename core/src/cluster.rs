//! This instance's place in the cluster: its id and the adapter that currently reaches the
//! other instances. Everything that publishes (broadcasts, presence) goes through it.

use std::sync::{Arc, RwLock};

use serde_json::value::RawValue;

use crate::adapter::{local::LocalAdapter, Adapter, AdapterStatus, ClusterMessage, MessageKind};

/// The adapter in use and this instance's id. Shared by everything that publishes.
pub struct ClusterLink {
    adapter: RwLock<Arc<dyn Adapter>>,
    origin: Arc<str>,
}

impl ClusterLink {
    /// A link for instance `origin`, alone until [`ClusterLink::set_adapter`] is called.
    pub fn new(origin: Arc<str>) -> Self {
        Self { adapter: RwLock::new(Arc::new(LocalAdapter)), origin }
    }

    /// This instance's id in the cluster.
    pub fn origin(&self) -> &Arc<str> {
        &self.origin
    }

    /// Switches to a shared backend (start-up) or back to the local one (close).
    pub fn set_adapter(&self, adapter: Arc<dyn Adapter>) {
        if let Ok(mut current) = self.adapter.write() {
            *current = adapter;
        }
    }

    /// The health of the adapter in use.
    pub fn status(&self) -> AdapterStatus {
        self.adapter.read().map_or(AdapterStatus { up: false, queued: 0 }, |a| a.status())
    }

    /// Hands a message to the other instances (never blocks; see [`Adapter::publish`]).
    pub fn publish(&self, kind: MessageKind, channel: String, data: Arc<RawValue>) {
        let message = ClusterMessage::new(self.origin.clone(), kind, channel, data);
        if let Ok(adapter) = self.adapter.read() {
            adapter.publish(message);
        }
    }
}
