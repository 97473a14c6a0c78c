//! What the server keeps per connected socket, whichever engine carries it: the budgets the
//! policy applies to it (join rate, joins awaiting checks, app events awaiting JS), the
//! order its calls into the app keep, and the app's per-connection state, which the app is
//! told to forget when the socket is dropped.

use std::{
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Mutex, MutexGuard, Weak,
    },
    time::Instant,
};

use tokio::sync::Notify;

use crate::{
    call_order::{CallOrder, Turn},
    hooks::Forget,
    metrics::ConnectionGauge,
};

/// A token bucket: `rate` tokens per second, holding at most `2 × rate`.
#[derive(Debug)]
pub struct TokenBucket {
    rate: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket for `rate` per second.
    pub fn new(rate: u32) -> Self {
        let rate = f64::from(rate.max(1));
        Self { rate, tokens: rate * 2.0, last: Instant::now() }
    }

    /// Takes one token if there is one.
    pub fn take(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.rate).min(self.rate * 2.0);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// State kept per connected socket. When it is dropped (the socket is gone, normally or
/// mid-handshake), the app is told to forget the connection.
pub struct SocketState {
    pending_joins: AtomicUsize,
    inflight_events: AtomicUsize,
    waiting_event_bytes: AtomicUsize,
    event_slot_freed: Notify,
    joining: Mutex<()>,
    channel_budget: Mutex<TokenBucket>,
    call_order: CallOrder,
    _forget: Option<Forget>,
    _counted: Option<ConnectionGauge>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl SocketState {
    /// State for a socket allowed `channel_ops_per_second` joins and leaves; `forget` tells
    /// the app to drop its state for the socket when this is dropped, and `counted` keeps it
    /// in the connections gauge meanwhile.
    pub fn new(
        forget: Option<Forget>,
        channel_ops_per_second: u32,
        counted: Option<ConnectionGauge>,
    ) -> Self {
        Self {
            pending_joins: AtomicUsize::new(0),
            inflight_events: AtomicUsize::new(0),
            waiting_event_bytes: AtomicUsize::new(0),
            event_slot_freed: Notify::new(),
            joining: Mutex::new(()),
            channel_budget: Mutex::new(TokenBucket::new(channel_ops_per_second)),
            call_order: CallOrder::default(),
            _forget: forget,
            _counted: counted,
        }
    }

    /// Serializes the cap check and the room join of this socket's concurrent joins.
    pub fn join_lock(&self) -> MutexGuard<'_, ()> {
        lock(&self.joining)
    }

    /// Whether one more join or leave (valid or not) fits in this socket's rate.
    pub fn allow_channel_op(&self) -> bool {
        lock(&self.channel_budget).take(Instant::now())
    }

    /// The next event's place in the order of this socket's calls into the app.
    pub fn take_turn(&self) -> Turn {
        self.call_order.take()
    }

    /// Reserves one of `limit` slots for a join awaiting its access check; `None` when full.
    pub fn reserve_pending_join(self: &Arc<Self>, limit: usize) -> Option<Slot> {
        Slot::reserve(self, Budget::PendingJoins, limit)
    }

    /// Reserves one of `limit` slots for an app event or publish awaiting JS; `None` when full.
    pub fn reserve_event(self: &Arc<Self>, limit: usize) -> Option<Slot> {
        Slot::reserve(self, Budget::InflightEvents, limit)
    }

    /// Whether events of this socket are in line for a slot (a later one must not pass them).
    pub fn has_queued_events(&self) -> bool {
        self.waiting_event_bytes.load(Ordering::Acquire) > 0
    }

    /// A place in line for one more app event or publish of `bytes` while `limit` slots are
    /// taken: `None` when this socket's events in line would pass `max_waiting_bytes`.
    pub fn queue_event(
        self: &Arc<Self>,
        bytes: usize,
        limit: usize,
        max_waiting_bytes: usize,
    ) -> Option<QueuedEvent> {
        let before = self.waiting_event_bytes.fetch_add(bytes, Ordering::AcqRel);
        let queued = QueuedEvent { state: self.clone(), bytes, limit };
        (before + bytes <= max_waiting_bytes).then_some(queued)
    }

    fn counter(&self, budget: Budget) -> &AtomicUsize {
        match budget {
            Budget::PendingJoins => &self.pending_joins,
            Budget::InflightEvents => &self.inflight_events,
        }
    }

    /// App events and publishes of this socket waiting for JS.
    pub fn inflight_events(&self) -> usize {
        self.inflight_events.load(Ordering::Acquire)
    }
}

/// An event waiting for one of its socket's in-flight slots; its bytes count against the
/// socket's waiting budget until it has one (or gives up).
pub struct QueuedEvent {
    state: Arc<SocketState>,
    bytes: usize,
    limit: usize,
}

impl QueuedEvent {
    /// Waits for `turn` (so events take slots in arrival order), then for a free slot.
    pub async fn slot(self, turn: &mut Turn) -> Slot {
        turn.come().await;
        loop {
            // Registered before the check, so a slot freed in between is not missed.
            let freed = self.state.event_slot_freed.notified();
            if let Some(slot) = self.state.reserve_event(self.limit) {
                return slot;
            }
            freed.await;
        }
    }
}

impl Drop for QueuedEvent {
    fn drop(&mut self) {
        self.state.waiting_event_bytes.fetch_sub(self.bytes, Ordering::AcqRel);
    }
}

/// Which per-socket cap a [`Slot`] counts against.
#[derive(Debug, Clone, Copy)]
enum Budget {
    PendingJoins,
    InflightEvents,
}

/// One reserved place under a per-socket cap, released on drop. It holds the state weakly:
/// a flow still waiting on the app never delays what the socket's end sets off (the app
/// forgetting it, the connections gauge).
pub struct Slot(Weak<SocketState>, Budget);

impl Slot {
    fn reserve(state: &Arc<SocketState>, budget: Budget, limit: usize) -> Option<Self> {
        let counter = state.counter(budget);
        if counter.fetch_add(1, Ordering::AcqRel) < limit {
            Some(Slot(Arc::downgrade(state), budget))
        } else {
            // Given back without a drop: no slot was freed, so nobody is woken.
            counter.fetch_sub(1, Ordering::AcqRel);
            None
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some(state) = self.0.upgrade() {
            state.counter(self.1).fetch_sub(1, Ordering::AcqRel);
            if let Budget::InflightEvents = self.1 {
                state.event_slot_freed.notify_one();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn bucket_allows_a_burst_then_the_rate() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(10);
        bucket.last = start;
        let burst = (0..100).filter(|_| bucket.take(start)).count();
        assert_eq!(burst, 20);
        assert!(!bucket.take(start));
        assert!(bucket.take(start + Duration::from_millis(100)));
        assert!(!bucket.take(start + Duration::from_millis(100)));
    }

    #[test]
    fn slots_are_capped_and_released_on_drop() {
        let state = Arc::new(SocketState::new(None, 10, None));
        let held: Vec<Slot> = (0..3).filter_map(|_| state.reserve_event(3)).collect();
        assert_eq!(held.len(), 3);
        assert!(state.reserve_event(3).is_none());
        assert_eq!(state.inflight_events(), 3);
        drop(held);
        assert_eq!(state.inflight_events(), 0);
        assert!(state.reserve_event(3).is_some());
    }

    #[tokio::test]
    async fn queued_events_wait_for_a_slot_within_their_byte_budget() {
        let state = Arc::new(SocketState::new(None, 10, None));
        let held = state.reserve_event(1).expect("the one slot");
        let queued = state.queue_event(600, 1, 1000).expect("600 of 1000 bytes");
        assert!(state.queue_event(600, 1, 1000).is_none(), "1200 bytes would pass 1000");
        let order = CallOrder::default();
        let mut turn = order.take();
        let waiting = tokio::spawn(async move { queued.slot(&mut turn).await });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiting.is_finished(), "no slot is free yet");
        drop(held);
        let slot = tokio::time::timeout(Duration::from_secs(1), waiting).await.unwrap().unwrap();
        assert_eq!(state.inflight_events(), 1);
        assert!(state.queue_event(1000, 1, 1000).is_some(), "the budget was given back");
        drop(slot);
    }
}
