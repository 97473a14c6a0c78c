//! The emulator's cluster clock: strictly increasing `(seconds, increment)` timestamps, packed
//! into a `u64` (`seconds << 32 | increment`) so that they order like BSON timestamps.

use std::time::{SystemTime, UNIX_EPOCH};

use bson::Timestamp;

/// Monotonic source of cluster times.
#[derive(Debug, Clone)]
pub struct ClusterClock {
    last: u64,
    start: u64,
}

fn unix_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
        .min(u64::from(u32::MAX))
}

impl ClusterClock {
    /// A clock starting at the current wall-clock second with increment 0.
    pub fn new() -> Self {
        let start = unix_seconds() << 32;
        Self { last: start, start }
    }

    /// The time this clock started at; nothing happened before it in this process.
    pub fn start(&self) -> u64 {
        self.start
    }

    /// The most recently issued time (or the start time).
    pub fn now(&self) -> u64 {
        self.last
    }

    /// Issues a new, strictly greater time.
    pub fn tick(&mut self) -> u64 {
        let wall = unix_seconds() << 32;
        self.last = if wall > self.last { wall | 1 } else { self.last.saturating_add(1) };
        self.last
    }
}

impl Default for ClusterClock {
    fn default() -> Self {
        Self::new()
    }
}

/// Converts a packed time to a BSON timestamp.
pub fn to_timestamp(packed: u64) -> Timestamp {
    Timestamp { time: (packed >> 32) as u32, increment: packed as u32 }
}

/// Packs a BSON timestamp.
pub fn from_timestamp(ts: Timestamp) -> u64 {
    (u64::from(ts.time) << 32) | u64::from(ts.increment)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_strictly_increase_and_round_trip() {
        let mut clock = ClusterClock::new();
        let mut prev = clock.now();
        for _ in 0..1000 {
            let t = clock.tick();
            assert!(t > prev);
            assert_eq!(from_timestamp(to_timestamp(t)), t);
            prev = t;
        }
        assert!(clock.start() < clock.now());
    }
}
