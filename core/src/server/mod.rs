//! One running websocket server: assembly of its parts, and its lifecycle (close). How it
//! takes connections is [`listen`] (and, in attach mode, [`takeover`]), what the app can
//! do to sockets is [`ops`], and the link to other instances is [`cluster`].

mod cluster;
mod listen;
mod metrics;
mod ops;
#[cfg(unix)]
mod takeover;

#[cfg(unix)]
pub use takeover::GiveBack;

use std::{sync::Arc, time::Duration};

use tokio::{runtime::Handle, sync::OnceCell};
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use crate::{
    adapter::{instance_id, local::LocalAdapter},
    broadcast::{BroadcastQueue, Broadcaster},
    cluster::ClusterLink,
    config::Config,
    delivery,
    engine::Engine,
    errors::ServeError,
    hooks::AppHooks,
    metrics::Metrics,
    native::NativeEngine,
    policy::Policy,
    presence::Presence,
    shared::Shared,
    sio::SioEngine,
};

/// A running server. Cheap to share; every method may be called from any thread.
pub struct Server {
    shared: Arc<Shared>,
    /// Websocket sessions the server opens itself; `None` when websocket is not allowed.
    native: Option<Arc<NativeEngine>>,
    sio: Arc<SioEngine>,
    /// Both engines, native first: what socket lookups and delivery go through.
    engines: Vec<Arc<dyn Engine>>,
    broadcaster: Arc<Broadcaster>,
    link: Arc<ClusterLink>,
    presence: Arc<Presence>,
    /// The adapter's publishing task: on close it gets the grace period to flush.
    adapter_tasks: TaskTracker,
    runtime: Handle,
    shutdown: CancellationToken,
    /// Fires once `close()` has disconnected every socket: pending forwarded requests give up.
    finished: CancellationToken,
    tasks: TaskTracker,
    closed: OnceCell<()>,
}

impl Server {
    /// Builds a server for `config` on `runtime`, calling `hooks` for the app.
    pub fn start(config: Config, hooks: Arc<dyn AppHooks>, runtime: Handle) -> Arc<Self> {
        let _entered = runtime.enter();
        let shutdown = CancellationToken::new();
        let metrics = Arc::new(Metrics::new(config.channels.iter().map(|c| c.category.as_str())));
        let policy = Arc::new(Policy::new(&config, hooks, metrics.clone()));
        let (queue, queued) = BroadcastQueue::new(config.broadcast_queue_capacity);
        let link = Arc::new(ClusterLink::new(instance_id().into()));
        let broadcaster = Arc::new(Broadcaster::new(queue, link.clone()));
        let presence = Arc::new(Presence::new(link.clone(), policy.clone(), config.presence));
        let shared = Arc::new(Shared::new(config, policy, broadcaster.clone(), metrics.clone()));

        let native =
            shared.config.transports.websocket.then(|| Arc::new(NativeEngine::new(shared.clone())));
        let sio = Arc::new(SioEngine::new(&shared));
        let mut engines: Vec<Arc<dyn Engine>> = Vec::new();
        if let Some(native) = &native {
            engines.push(native.clone());
        }
        engines.push(sio.clone());

        let tasks = TaskTracker::new();
        let recovery = shared.recovery.clone();
        let deliver = delivery::run(queued, engines.clone(), metrics, recovery, shutdown.clone());
        tasks.spawn_on(deliver, &runtime);
        tasks.spawn_on(crate::memory::trim_periodically(shutdown.clone()), &runtime);
        Arc::new(Self {
            shared,
            native,
            sio,
            engines,
            broadcaster,
            link,
            presence,
            adapter_tasks: TaskTracker::new(),
            runtime,
            shutdown,
            finished: CancellationToken::new(),
            tasks,
            closed: OnceCell::new(),
        })
    }

    /// The configuration the server runs with.
    pub fn config(&self) -> &Config {
        &self.shared.config
    }

    fn ensure_open(&self) -> Result<(), ServeError> {
        if self.shutdown.is_cancelled() {
            Err(ServeError::Closed)
        } else {
            Ok(())
        }
    }

    /// Runs `task` on the server's runtime; `close()` waits for it (within the grace period).
    pub fn spawn<F>(&self, task: F)
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        self.tasks.spawn_on(task, &self.runtime);
    }

    /// This instance's id in the cluster.
    pub fn origin(&self) -> Arc<str> {
        self.link.origin().clone()
    }

    /// A cancellation token that fires when the server closes (for adapters being set up).
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// The runtime the server runs on.
    pub fn runtime(&self) -> &Handle {
        &self.runtime
    }

    /// Disconnects every client and waits, up to `grace`, for their connections to end.
    async fn close_connections_within(&self, grace: Duration) {
        for engine in &self.engines {
            engine.begin_close_all().await;
        }
        let deadline = tokio::time::Instant::now() + grace;
        while self.metrics().open_connections() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Stops accepting, disconnects every client, waits up to the configured grace for
    /// connections to finish, then cuts the rest. Later calls wait for the first to finish.
    pub async fn close(&self) {
        self.closed
            .get_or_init(|| async {
                let grace = self.config().close_grace;
                self.presence.leave();
                if self.shared.recovery.as_ref().is_some_and(|r| r.is_shared()) {
                    // Connections first: the sessions they leave go to the backend, which
                    // is still there to take them, and other instances can recover them.
                    self.close_connections_within(grace).await;
                }
                // Dropping the shared backend lets its publisher flush what is queued.
                self.link.set_adapter(Arc::new(LocalAdapter), false);
                self.adapter_tasks.close();
                let _ = tokio::time::timeout(grace, self.adapter_tasks.wait()).await;
                self.shutdown.cancel();
                for engine in &self.engines {
                    engine.begin_close_all().await;
                }
                self.finished.cancel();
                self.tasks.close();
                if tokio::time::timeout(grace, self.tasks.wait()).await.is_err() {
                    tracing::debug!("close grace elapsed: cutting remaining connections");
                }
                for engine in &self.engines {
                    engine.kill_all();
                }
            })
            .await;
    }
}
