//! A native connection's flows (joins, publishes, app events), polled by the connection's own
//! task rather than spawned: a spawn per flow cost every join a task allocation, a scheduling
//! round, and a second wake-up of the connection when the task ended. The set is allocated
//! when a flow starts and freed once the last one ends, so an idle connection holds none.

use futures_util::{stream::FuturesUnordered, StreamExt};

use crate::dispatch::Flow;

/// The flows a connection runs; see the module docs.
#[derive(Default)]
pub(crate) struct Flows(Option<FuturesUnordered<Flow>>);

impl Flows {
    /// Starts `flow`: it is first polled by the connection's next wait ([`Flows::next_done`]).
    pub(crate) fn start(&mut self, flow: Flow) {
        self.0.get_or_insert_with(FuturesUnordered::new).push(flow);
    }

    /// Whether any flow is running.
    pub(crate) fn running(&self) -> bool {
        self.0.is_some()
    }

    /// Runs the flows until one ends (never resolves while none runs). Cancel-safe.
    pub(crate) async fn next_done(&mut self) {
        let Some(flows) = &mut self.0 else { return std::future::pending().await };
        flows.next().await;
        if flows.is_empty() {
            self.0 = None;
        }
    }

    /// Hands the flows still running to the runtime as tasks of their own, so they run to
    /// their end after the connection's (they hold its socket weakly). Without a runtime
    /// (it is shutting down) they are dropped.
    pub(crate) fn detach(&mut self) {
        let Some(flows) = self.0.take() else { return };
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            for flow in flows {
                runtime.spawn(flow);
            }
        }
    }
}
