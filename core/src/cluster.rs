//! This instance's place in the cluster: its id and the adapter that currently reaches the
//! other instances. Everything that publishes (broadcasts, presence) goes through it.

use std::sync::{
    atomic::{AtomicBool, Ordering},
    Arc, RwLock,
};

use serde_json::value::RawValue;

use crate::adapter::{
    local::LocalAdapter, Adapter, AdapterStatus, ClusterMessage, MessageKind, Order,
};

/// The adapter in use and this instance's id. Shared by everything that publishes.
pub struct ClusterLink {
    adapter: RwLock<Arc<dyn Adapter>>,
    origin: Arc<str>,
    /// Broadcasts are sequenced by the backend (recovery on, with a sequencing backend).
    sequencing: AtomicBool,
}

impl ClusterLink {
    /// A link for instance `origin`, alone until [`ClusterLink::set_adapter`] is called.
    pub fn new(origin: Arc<str>) -> Self {
        Self {
            adapter: RwLock::new(Arc::new(LocalAdapter)),
            origin,
            sequencing: AtomicBool::new(false),
        }
    }

    /// This instance's id in the cluster.
    pub fn origin(&self) -> &Arc<str> {
        &self.origin
    }

    /// Switches to a shared backend (start-up) or back to the local one (close);
    /// `sequencing`: broadcasts go through its order (see [`ClusterLink::publish_broadcast`]).
    pub fn set_adapter(&self, adapter: Arc<dyn Adapter>, sequencing: bool) {
        if let Ok(mut current) = self.adapter.write() {
            *current = adapter;
            self.sequencing.store(sequencing, Ordering::Release);
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

    /// Hands a broadcast to the other instances. Returns `true` when the backend sequences
    /// it and hands it back to this instance too (which must not deliver it before then):
    /// when sequencing is on and the backend is up. Otherwise this instance delivers it now.
    pub fn publish_broadcast(&self, channel: String, data: Arc<RawValue>) -> bool {
        let Ok(adapter) = self.adapter.read() else { return false };
        let mut message =
            ClusterMessage::new(self.origin.clone(), MessageKind::Broadcast, channel, data);
        let sequenced = self.sequencing.load(Ordering::Acquire) && adapter.status().up;
        if sequenced {
            message.order = Order::Requested;
        }
        adapter.publish(message);
        sequenced
    }
}
