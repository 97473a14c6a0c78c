//! The server's link to the other instances: starting an adapter's tasks, and routing what
//! the other instances send (broadcasts to local delivery, presence messages to
//! [`Presence`]).

use std::sync::Arc;

use tokio::sync::{mpsc, Mutex};
use tokio_util::sync::CancellationToken;

use crate::{
    adapter::{
        Adapter, AdapterStatus, AdapterTask, ClusterMessage, MessageKind, Order, SessionStore,
    },
    broadcast::Broadcaster,
    metrics::Metrics,
    presence::Presence,
    server::Server,
    supervise::supervised,
};

/// Messages from other instances waiting for local delivery; when full, the subscription
/// waits (backpressure on the backend's stream, nothing dropped).
const REMOTE_QUEUE: usize = 4096;

impl Server {
    /// Shares this server's channels with other instances through `backend`, whose
    /// connecting is already done: starts its publishing and subscription tasks.
    pub fn use_adapter(&self, backend: Arc<dyn Adapter>, publisher: AdapterTask) {
        let (sink, incoming) = mpsc::channel(REMOTE_QUEUE);
        let subscription = backend.subscribe(sink, self.shutdown.clone());
        self.adapter_tasks.spawn_on(publisher, &self.runtime);
        self.spawn(subscription);
        self.spawn(route_incoming(
            incoming,
            Router {
                origin: self.link.origin().clone(),
                broadcaster: self.broadcaster.clone(),
                presence: self.presence.clone(),
                metrics: self.metrics().clone(),
                max_channel_len: self.config().max_channel_name_len,
            },
            self.shutdown.clone(),
        ));
        // With recovery on, a backend that keeps sessions and sequences broadcasts lets a
        // client recover on any instance.
        let recovery = self.shared.recovery.as_ref();
        let shared_recovery = recovery.zip(backend.sessions()).filter(|_| backend.sequences());
        let sequencing = shared_recovery.is_some();
        if let Some((recovery, store)) = shared_recovery {
            recovery.share_through(store);
        }
        let counted = Counted { inner: backend, metrics: self.metrics().clone() };
        self.link.set_adapter(Arc::new(counted), sequencing);
        let (presence, shutdown) = (self.presence.clone(), self.shutdown.clone());
        self.spawn(async move {
            supervised("presence", &shutdown.clone(), || {
                presence.clone().announce(shutdown.clone())
            })
            .await
        });
    }
}

/// An adapter whose publishes are counted.
struct Counted {
    inner: Arc<dyn Adapter>,
    metrics: Arc<Metrics>,
}

impl Adapter for Counted {
    fn publish(&self, message: ClusterMessage) {
        self.metrics.adapter_published();
        self.inner.publish(message);
    }

    fn subscribe(
        &self,
        sink: mpsc::Sender<ClusterMessage>,
        shutdown: CancellationToken,
    ) -> AdapterTask {
        self.inner.subscribe(sink, shutdown)
    }

    fn status(&self) -> AdapterStatus {
        self.inner.status()
    }

    fn sequences(&self) -> bool {
        self.inner.sequences()
    }

    fn sessions(&self) -> Option<Arc<dyn SessionStore>> {
        self.inner.sessions()
    }
}

/// Where other instances' messages go.
struct Router {
    origin: Arc<str>,
    broadcaster: Arc<Broadcaster>,
    presence: Arc<Presence>,
    metrics: Arc<Metrics>,
    max_channel_len: usize,
}

/// Routes other instances' messages until `incoming` closes or delivery stops. Supervised:
/// a panic on one message is logged and routing goes on with the next.
async fn route_incoming(
    incoming: mpsc::Receiver<ClusterMessage>,
    router: Router,
    shutdown: CancellationToken,
) {
    let incoming = Arc::new(Mutex::new(incoming));
    let router = Arc::new(router);
    supervised("adapter routing", &shutdown, || {
        let (incoming, router) = (incoming.clone(), router.clone());
        async move {
            let mut incoming = incoming.lock().await;
            while let Some(message) = incoming.recv().await {
                if !message.is_for(&router.origin) {
                    continue;
                }
                if message.order != Order::Returned {
                    router.metrics.adapter_received(message.sent_at);
                }
                match message.kind {
                    MessageKind::Broadcast => {
                        let max_len = router.max_channel_len;
                        if !router.broadcaster.deliver_remote(message, max_len).await {
                            return;
                        }
                    }
                    MessageKind::Presence => router.presence.receive(&message),
                }
            }
        }
    })
    .await;
}
