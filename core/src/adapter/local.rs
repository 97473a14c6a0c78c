//! The embedded default: one instance, nothing to share.

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{Adapter, AdapterTask, ClusterMessage};

/// An adapter for a single instance: publishing goes nowhere, nothing ever arrives.
#[derive(Debug, Default)]
pub struct LocalAdapter;

impl Adapter for LocalAdapter {
    fn publish(&self, _message: ClusterMessage) {}

    fn subscribe(
        &self,
        _sink: mpsc::Sender<ClusterMessage>,
        shutdown: CancellationToken,
    ) -> AdapterTask {
        Box::pin(async move { shutdown.cancelled().await })
    }
}
