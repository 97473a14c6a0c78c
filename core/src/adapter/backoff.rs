//! Reconnection pacing and once-per-state-change logging shared by the backends.

use std::{
    fmt::Display,
    future::Future,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc,
    },
    time::Duration,
};

use tokio_util::sync::CancellationToken;

/// Waits `delay`, or less if `shutdown` fires; returns whether to carry on.
pub async fn pause(shutdown: &CancellationToken, delay: Duration) -> bool {
    tokio::select! {
        _ = shutdown.cancelled() => false,
        _ = tokio::time::sleep(delay) => true,
    }
}

/// A backend's subscription: `first` if start-up already opened it, else `open()` retried
/// with backoff (each failure recorded in `health`) until it works. `None` once `shutdown`
/// fires.
pub async fn open_with_backoff<T, E, F, Fut>(
    first: Option<T>,
    shutdown: &CancellationToken,
    health: &mut Health,
    backoff: &mut Backoff,
    mut open: F,
) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    E: Display,
{
    if first.is_some() {
        return first;
    }
    loop {
        let opened = tokio::select! {
            _ = shutdown.cancelled() => return None,
            opened = open() => opened,
        };
        match opened {
            Ok(opened) => return Some(opened),
            Err(error) => {
                health.down(&error);
                if !pause(shutdown, backoff.next_delay()).await {
                    return None;
                }
            }
        }
    }
}

/// First wait after a failure.
pub const INITIAL_BACKOFF: Duration = Duration::from_millis(100);
/// Longest wait between attempts, so recovery is noticed within seconds.
pub const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// Adds one to `counter`; returns the new total when it is worth a log line (the 1st, 2nd,
/// 4th, 8th… time), so that a long outage cannot flood the log.
pub fn count_for_log(counter: &AtomicU64) -> Option<u64> {
    let total = counter.fetch_add(1, Ordering::Relaxed) + 1;
    total.is_power_of_two().then_some(total)
}

/// Counts a broadcast dropped because a backend's publish queue is full (logged by
/// [`count_for_log`]).
pub fn count_dropped(dropped: &AtomicU64, backend: &'static str) {
    if let Some(total) = count_for_log(dropped) {
        tracing::warn!(backend, total, "adapter publish queue full: broadcasts dropped");
    }
}

/// Exponential backoff from [`INITIAL_BACKOFF`] to [`MAX_BACKOFF`].
#[derive(Debug, Clone)]
pub struct Backoff {
    next: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self { next: INITIAL_BACKOFF }
    }
}

impl Backoff {
    /// The wait before the next attempt; doubles each call up to the maximum.
    pub fn next_delay(&mut self) -> Duration {
        let delay = self.next;
        self.next = (self.next * 2).min(MAX_BACKOFF);
        delay
    }

    /// Back to the initial wait after a success.
    pub fn reset(&mut self) {
        self.next = INITIAL_BACKOFF;
    }
}

/// Logs a backend's availability only when it changes, never per message, and shows it in
/// a flag the adapter reports (`adapter_up`).
#[derive(Debug)]
pub struct Health {
    backend: &'static str,
    role: &'static str,
    up: Arc<AtomicBool>,
}

impl Health {
    /// Starts in the "up" state, shown in `up`.
    pub fn new(backend: &'static str, role: &'static str, up: Arc<AtomicBool>) -> Self {
        up.store(true, Ordering::Relaxed);
        Self { backend, role, up }
    }

    /// Records a failure; logs if it was up.
    pub fn down(&mut self, error: &dyn std::fmt::Display) {
        if self.up.swap(false, Ordering::Relaxed) {
            tracing::warn!(backend = self.backend, role = self.role, %error, "adapter unavailable: retrying with backoff");
        }
    }

    /// Records a success; logs if it was down.
    pub fn up(&mut self) {
        if !self.up.swap(true, Ordering::Relaxed) {
            tracing::warn!(backend = self.backend, role = self.role, "adapter available again");
        }
    }

    /// Whether the last attempt succeeded.
    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }
}

/// Whether a backend's publishing and receiving connections are up, as its tasks last
/// found them.
#[derive(Debug, Default, Clone)]
pub struct Links {
    /// Shown by the publishing task's [`Health`].
    pub publishing: Arc<AtomicBool>,
    /// Shown by the receiving task's [`Health`].
    pub receiving: Arc<AtomicBool>,
}

impl Links {
    /// Both are up.
    pub fn up(&self) -> bool {
        self.publishing.load(Ordering::Relaxed) && self.receiving.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_maximum_and_resets() {
        let mut backoff = Backoff::default();
        let delays: Vec<_> = (0..7).map(|_| backoff.next_delay()).collect();
        assert_eq!(delays[0], INITIAL_BACKOFF);
        assert_eq!(delays[1], INITIAL_BACKOFF * 2);
        assert_eq!(*delays.last().unwrap(), MAX_BACKOFF);
        backoff.reset();
        assert_eq!(backoff.next_delay(), INITIAL_BACKOFF);
    }

    #[test]
    fn health_tracks_state_changes() {
        let mut health = Health::new("MongoDB", "publish", Arc::default());
        assert!(health.is_up());
        health.down(&"boom");
        assert!(!health.is_up());
        health.up();
        assert!(health.is_up());
    }
}
