//! Local delivery: one task drains the broadcast queue in order, in batches of what is
//! already queued, and hands each batch to every engine, which writes it to its members.

use std::{
    panic::{catch_unwind, AssertUnwindSafe},
    sync::Arc,
    time::Duration,
};

use tokio::{
    sync::{mpsc, Mutex},
    time::Instant,
};
use tokio_util::sync::CancellationToken;

use crate::{
    broadcast::Broadcast, engine::Engine, metrics::Metrics, recovery::Recovery,
    supervise::supervised,
};

/// Most broadcasts delivered as one batch: each native member gets the batch's frames for it
/// together (`sendmsg`) instead of one `write` each, which is what a backlog of broadcasts to
/// small channels costs most (a syscall per few deliveries). Engines split a batch further
/// by deliveries (the native engine flushes every 1,048,576), which bounds the wait it adds.
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

/// While broadcasts keep coming, a batch smaller than this waits for more (see [`gather`]).
const GATHER_UNTIL: usize = 16384;

/// One wait of [`gather`], and how recent the previous batch must be for a batch to wait at
/// all: a broadcast after a quiet spell goes out at once.
const GATHER_WINDOW: Duration = Duration::from_millis(1);

/// Most waits of [`gather`] for one batch: the latency it may add, in [`GATHER_WINDOW`]s.
const GATHER_WINDOWS: u32 = 32;

/// How many windows a streaming batch may wait: as long as the previous batch took to
/// deliver, at least one window and at most [`GATHER_WINDOWS`]. The wait a batch adds is
/// then bounded by what delivery itself costs: a light stream keeps its latency, a backlog
/// gathers into large batches.
fn gather_windows(last_delivery: Duration) -> u32 {
    let windows = last_delivery.as_micros().div_ceil(GATHER_WINDOW.as_micros());
    u32::try_from(windows).unwrap_or(u32::MAX).clamp(1, GATHER_WINDOWS)
}

/// Lets a batch taken while broadcasts keep coming wait, one [`GATHER_WINDOW`] at a time, for
/// as long as each wait brings more, up to [`GATHER_UNTIL`] broadcasts or `windows` waits. A
/// member then gets several of the batch's broadcasts in one write instead of one each, and
/// the kernel's TCP send is most of what a delivery costs: a stream of broadcasts to many
/// small channels (other instances' broadcasts, arriving through the backend) costs a write
/// per many deliveries. Sleeping, not yielding, is what lets the runtime poll the backend's
/// socket for more. Measured (`npm run bench -- --cluster`, 1,000 channels over 100,000
/// clients on 6 instances): 90k → 267–324k deliveries/s, 13.3 → 3.9–4.7 µs CPU per delivery.
async fn gather(queue: &mut mpsc::Receiver<Broadcast>, batch: &mut Vec<Broadcast>, windows: u32) {
    for _ in 0..windows {
        if batch.len() >= GATHER_UNTIL {
            return;
        }
        let before = batch.len();
        tokio::time::sleep(GATHER_WINDOW).await;
        take_queued(queue, batch);
        if batch.len() == before {
            return;
        }
    }
}

/// Yields of [`settle`]: enough for a broadcast to cross the few tasks between the backend's
/// socket and the queue (the client's reader, the subscription, the router).
const SETTLE_YIELDS: usize = 8;

/// Lets a batch taken after a quiet spell take what its producers already have in hand:
/// yields to the runtime [`SETTLE_YIELDS`] times, taking what was queued meanwhile. Another
/// instance's burst arrives from the backend as one read, but its first broadcast reaches
/// the queue a few task hops ahead of the rest; delivered alone, it cost every member a write
/// of its own (a burst of 20 to one channel went out as 1 + 19). Unlike [`gather`]'s timed
/// windows this costs microseconds, so a lone broadcast still goes out at once.
async fn settle(queue: &mut mpsc::Receiver<Broadcast>, batch: &mut Vec<Broadcast>) {
    for _ in 0..SETTLE_YIELDS {
        tokio::task::yield_now().await;
        take_queued(queue, batch);
    }
}

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
    let mut last_delivery = Duration::ZERO;
    loop {
        tokio::select! {
            biased;
            _ = shutdown.cancelled() => return,
            next = queue.recv() => match next {
                Some(first) => {
                    batch.push(first);
                    take_queued(queue, &mut batch);
                    let streaming = last_batch.is_some_and(|at| at.elapsed() <= GATHER_WINDOW);
                    if streaming {
                        gather(queue, &mut batch, gather_windows(last_delivery)).await;
                    } else {
                        settle(queue, &mut batch).await;
                    }
                    for broadcast in &mut batch {
                        metrics.broadcast(broadcast.channel.category());
                        if let Some(recovery) = recovery {
                            give_offset(recovery, broadcast);
                        }
                    }
                    let started = Instant::now();
                    if batch.len() >= HAND_OVER_FROM && on_multi_thread_runtime() {
                        tokio::task::block_in_place(|| deliver(engines, &batch));
                    } else {
                        deliver(engines, &batch);
                    }
                    let delivered = Instant::now();
                    last_delivery = delivered - started;
                    last_batch = Some(delivered);
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

/// Broadcasts from which a batch is written out with the runtime's worker handed to another
/// thread (`block_in_place`), so that the tasks that publish to and read from the backend keep
/// running meanwhile. Writing a batch out can take hundreds of milliseconds on a loaded
/// machine (a write per member); while it blocked the only worker, this instance's own
/// publishes waited behind it, so the other instances received a burst a pipeline at a time
/// and delivered it in more, smaller batches (more writes per delivery). Below this, a batch
/// is quick and the handover (a thread wake-up) would cost more than it saves.
const HAND_OVER_FROM: usize = 32;

/// Whether this runs on a multi-thread runtime, the only kind `block_in_place` works on (the
/// addon's; unit tests run on a current-thread one).
fn on_multi_thread_runtime() -> bool {
    tokio::runtime::Handle::current().runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread
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

#[cfg(test)]
mod tests {
    use std::sync::Mutex as StdMutex;

    use serde_json::value::RawValue;

    use super::*;
    use crate::{channel::ChannelName, client::Client, engine::EngineFuture};

    /// An engine that records the size of every batch it is given.
    #[derive(Default)]
    struct Recording(StdMutex<Vec<usize>>);

    impl Recording {
        fn batches(&self) -> Vec<usize> {
            self.0.lock().unwrap().clone()
        }
    }

    impl Engine for Recording {
        fn socket(&self, _sid: &str) -> Option<Client> {
            None
        }
        fn member_ids(&self, _room: &str) -> Vec<String> {
            Vec::new()
        }
        fn room_names(&self) -> EngineFuture<Vec<String>> {
            Box::pin(async { Vec::new() })
        }
        fn deliver(&self, batch: &[Broadcast]) {
            self.0.lock().unwrap().push(batch.len());
        }
        fn begin_close_all(&self) -> EngineFuture {
            Box::pin(async {})
        }
        fn kill_all(&self) {}
    }

    fn broadcast() -> Broadcast {
        let channel = ChannelName::parse("chat:room", 256).unwrap();
        Broadcast::new(channel, Arc::from(RawValue::from_string("1".into()).unwrap()))
    }

    /// Sends `per_ms` broadcasts every millisecond (tokio's timer resolution) for `ms`
    /// milliseconds of the test's paused time.
    async fn stream(tx: mpsc::Sender<Broadcast>, ms: usize, per_ms: usize) {
        for _ in 0..ms {
            for _ in 0..per_ms {
                tx.send(broadcast()).await.unwrap();
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    /// Starts the delivery task; returns the queue, the engine and the shutdown token.
    fn start() -> (mpsc::Sender<Broadcast>, Arc<Recording>, CancellationToken) {
        let (tx, rx) = mpsc::channel(100_000);
        let engine = Arc::new(Recording::default());
        let shutdown = CancellationToken::new();
        let metrics = Arc::new(Metrics::new(["chat"]));
        let engines: Vec<Arc<dyn Engine>> = vec![engine.clone()];
        tokio::spawn(run(rx, engines, metrics, None, shutdown.clone()));
        (tx, engine, shutdown)
    }

    #[tokio::test(start_paused = true)]
    async fn a_broadcast_after_a_quiet_spell_goes_at_once() {
        let (tx, engine, shutdown) = start();
        tx.send(broadcast()).await.unwrap();
        tokio::time::sleep(Duration::from_micros(10)).await;
        assert_eq!(engine.batches(), vec![1], "delivered without waiting for more");
        shutdown.cancel();
    }

    #[tokio::test(start_paused = true)]
    async fn a_burst_a_few_task_hops_behind_its_first_broadcast_goes_as_one_batch() {
        let (tx, engine, shutdown) = start();
        // Like a backend's reader handing a pipeline on through a router: each broadcast
        // after the first reaches the queue one task hop (a yield) later.
        for _ in 0..5 {
            tx.send(broadcast()).await.unwrap();
            tokio::task::yield_now().await;
        }
        tokio::time::sleep(Duration::from_micros(10)).await;
        assert_eq!(engine.batches(), vec![5], "one batch, one write per member");
        shutdown.cancel();
    }

    #[tokio::test(start_paused = true)]
    async fn a_stream_that_costs_nothing_to_deliver_waits_one_window_per_batch() {
        let (tx, engine, shutdown) = start();
        stream(tx, 40, 4).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        let batches = engine.batches();
        assert_eq!(batches.iter().sum::<usize>(), 160, "every broadcast delivered once");
        assert!(batches.len() >= 16, "one window each, not more: {batches:?}");
        assert!(
            batches.iter().skip(1).any(|&n| n > 4),
            "but gathered across a window: {batches:?}"
        );
        shutdown.cancel();
    }

    #[tokio::test(start_paused = true)]
    async fn gathering_waits_its_windows_while_each_brings_more() {
        let (tx, mut rx) = mpsc::channel(1000);
        tx.send(broadcast()).await.unwrap();
        let gathering = tokio::spawn(async move {
            let mut batch = Vec::new();
            take_queued(&mut rx, &mut batch);
            let started = Instant::now();
            gather(&mut rx, &mut batch, 5).await;
            (batch.len(), started.elapsed())
        });
        tokio::task::yield_now().await;
        // 4 more every window for 20 windows, far longer than the 5 it may wait.
        for _ in 0..20 {
            for _ in 0..4 {
                let _ = tx.send(broadcast()).await;
            }
            tokio::time::advance(GATHER_WINDOW).await;
        }
        let (len, waited) = gathering.await.unwrap();
        assert!(waited >= 5 * GATHER_WINDOW, "it waited its five windows: {waited:?}");
        assert!(waited < 20 * GATHER_WINDOW, "and stopped while more kept coming: {waited:?}");
        assert!((21..81).contains(&len), "it took what came meanwhile, not all: {len}");
    }

    #[tokio::test(start_paused = true)]
    async fn gathering_stops_at_the_first_window_that_brings_nothing() {
        let (tx, mut rx) = mpsc::channel(16);
        tx.send(broadcast()).await.unwrap();
        let mut batch = Vec::new();
        take_queued(&mut rx, &mut batch);
        let started = Instant::now();
        gather(&mut rx, &mut batch, GATHER_WINDOWS).await;
        assert_eq!(started.elapsed(), GATHER_WINDOW, "one window, then out");
        assert_eq!(batch.len(), 1);
    }

    #[test]
    fn the_wait_follows_the_last_delivery_within_bounds() {
        assert_eq!(gather_windows(Duration::ZERO), 1);
        assert_eq!(gather_windows(Duration::from_micros(2_500)), 3);
        assert_eq!(gather_windows(Duration::from_secs(1)), GATHER_WINDOWS);
    }
}
