//! Local delivery: one task drains the broadcast queue in order, in batches of what is
//! already queued, and hands each batch to every engine, which writes it to its members.

use std::{
    panic::{catch_unwind, AssertUnwindSafe},
    sync::Arc,
    time::{Duration, Instant},
};

use tokio::sync::{mpsc, Mutex};
use tokio_util::sync::CancellationToken;

use crate::{
    broadcast::Broadcast, engine::Engine, metrics::Metrics, recovery::Recovery,
    supervise::supervised,
};

/// Most broadcasts delivered as one batch: each native member gets the batch's frames for it
/// together (`writev`) instead of one `write` each, which is what a backlog of broadcasts to
/// small channels costs most (a syscall per few deliveries). Engines split a batch further
/// by deliveries (the native engine flushes every 262,144), which bounds the wait it adds.
const MAX_BATCH_BROADCASTS: usize = 32_768;

/// The delivery task: drains `queue` into `engines` until `shutdown`. Supervised: a panic
/// while delivering one batch is logged, that batch is lost, and delivery goes on.
pub async fn run(
    queue: mpsc::Receiver<Broadcast>,
    engines: Vec<Arc<dyn Engine>>,
    metrics: Arc<Metrics>,
    recovery: Option<Arc<Recovery>>,
    shutdown: CancellationToken,
) {
    let queue = Arc::new(Mutex::new(queue));
    let engines = Arc::new(engines);
    supervised("delivery", &shutdown.clone(), move || {
        let (queue, engines, shutdown) = (queue.clone(), engines.clone(), shutdown.clone());
        let (metrics, recovery) = (metrics.clone(), recovery.clone());
        async move {
            let mut queue = queue.lock().await;
            drain(&mut queue, &engines, &metrics, recovery.as_deref(), &shutdown).await
        }
    })
    .await;
}

/// A batch smaller than this, taken while broadcasts keep coming, waits [`GATHER_WINDOW`]
/// for more: a stream of broadcasts to small channels (other instances' broadcasts arrive
/// one by one) then costs a `writev` per many deliveries instead of one each.
const GATHER_BELOW: usize = 64;

/// How long a small batch waits for more, and how recent the previous batch must be for it
/// to wait at all: a broadcast after a quiet spell goes out at once.
const GATHER_WINDOW: Duration = Duration::from_millis(1);

/// Moves what is queued into `batch`, up to [`MAX_BATCH_BROADCASTS`].
fn take_queued(queue: &mut mpsc::Receiver<Broadcast>, batch: &mut Vec<Broadcast>) {
    while batch.len() < MAX_BATCH_BROADCASTS {
        let Ok(next) = queue.try_recv() else { break };
        batch.push(next);
    }
}

async fn drain(
    queue: &mut mpsc::Receiver<Broadcast>,
    engines: &[Arc<dyn Engine>],
    metrics: &Metrics,
    recovery: Option<&Recovery>,
    shutdown: &CancellationToken,
) {
    let mut batch = Vec::new();
    let mut last_batch: Option<Instant> = None;
    loop {
        tokio::select! {
            biased;
            _ = shutdown.cancelled() => return,
            next = queue.recv() => match next {
                Some(first) => {
                    batch.push(first);
                    take_queued(queue, &mut batch);
                    let streaming = last_batch.is_some_and(|at| at.elapsed() < GATHER_WINDOW);
                    if batch.len() < GATHER_BELOW && streaming {
                        tokio::time::sleep(GATHER_WINDOW).await;
                        take_queued(queue, &mut batch);
                    }
                    for broadcast in &mut batch {
                        metrics.broadcast(broadcast.channel.category());
                        if let Some(recovery) = recovery {
                            give_offset(recovery, broadcast);
                        }
                    }
                    deliver(engines, &batch);
                    last_batch = Some(Instant::now());
                    batch.clear();
                    if batch.capacity() > MAX_BATCH_BROADCASTS {
                        batch = Vec::new();
                    }
                }
                None => return,
            },
        }
    }
}

/// Keeps `broadcast` in the history with its offset: the one the cluster's backend gave it,
/// or the next one (one instance). A broadcast the backend did not sequence while recovery
/// is shared (backend down) is not kept, cannot be recovered, and is labelled with the last
/// offset given.
fn give_offset(recovery: &Recovery, broadcast: &mut Broadcast) {
    let channel = broadcast.channel.as_str();
    match broadcast.offset {
        Some(offset) => {
            let sequenced = (offset, broadcast.continuous);
            if !recovery.history.record_sequenced(channel, &broadcast.data, sequenced) {
                broadcast.offset = None;
            }
        }
        None if recovery.is_shared() => {}
        None => broadcast.offset = Some(recovery.history.record(channel, &broadcast.data)),
    }
    broadcast.label = Some(broadcast.offset.unwrap_or_else(|| recovery.history.current()));
}

/// Hands `batch` to each engine; a panic in one engine's delivery is logged and does not stop
/// the others or later batches.
fn deliver(engines: &[Arc<dyn Engine>], batch: &[Broadcast]) {
    for engine in engines {
        if catch_unwind(AssertUnwindSafe(|| engine.deliver(batch))).is_err() {
            tracing::error!(broadcasts = batch.len(), "delivery panicked; this batch is lost");
        }
    }
}
