//! A map whose entries are good for a fixed time from insertion, for state kept on behalf of
//! a client that may never come back for it (a saved session, a long-polling session's first
//! poll). Expired entries are dropped in sweeps whose cost is amortised over the inserts
//! between them, so a flood of inserts within the time costs O(1) each, not a sweep each.

use std::{
    borrow::Borrow,
    collections::HashMap,
    hash::Hash,
    time::{Duration, Instant},
};

/// The fewest entries at which a sweep runs.
const FIRST_SWEEP_AT: usize = 1024;

/// Entries by key, each good for `ttl` from its insertion.
pub struct ExpiringMap<K, V> {
    entries: HashMap<K, (V, Instant)>,
    ttl: Duration,
    /// The size at which the next insert sweeps: twice what the last sweep left (at least
    /// [`FIRST_SWEEP_AT`]), so every sweep is paid for by as many inserts as it visits.
    sweep_at: usize,
}

impl<K: Eq + Hash, V> ExpiringMap<K, V> {
    /// An empty map whose entries are good for `ttl`.
    pub fn new(ttl: Duration) -> Self {
        Self { entries: HashMap::new(), ttl, sweep_at: FIRST_SWEEP_AT }
    }

    /// Keeps `value` under `key` from now (replacing what was there).
    pub fn insert(&mut self, key: K, value: V) {
        let now = Instant::now();
        if self.entries.len() >= self.sweep_at {
            let ttl = self.ttl;
            self.entries.retain(|_, (_, at)| now.duration_since(*at) <= ttl);
            self.sweep_at = (self.entries.len() * 2).max(FIRST_SWEEP_AT);
        }
        self.entries.insert(key, (value, now));
    }

    /// Takes the value under `key` if it is still good (an expired one is dropped).
    pub fn take<Q>(&mut self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let (value, at) = self.entries.remove(key)?;
        (at.elapsed() <= self.ttl).then_some(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_is_taken_once_within_its_time() {
        let mut map = ExpiringMap::new(Duration::from_secs(60));
        map.insert("a", 1);
        assert_eq!(map.take("a"), Some(1));
        assert_eq!(map.take("a"), None);
        let mut expired = ExpiringMap::new(Duration::ZERO);
        expired.insert("a", 1);
        std::thread::sleep(Duration::from_millis(2));
        assert_eq!(expired.take("a"), None);
        assert!(expired.entries.is_empty());
    }

    #[test]
    fn expired_entries_are_swept_once_the_map_reaches_its_sweep_size() {
        let mut map = ExpiringMap::new(Duration::from_millis(1));
        for key in 0..FIRST_SWEEP_AT {
            map.insert(key, ());
        }
        std::thread::sleep(Duration::from_millis(3));
        map.insert(FIRST_SWEEP_AT, ());
        assert_eq!(map.entries.len(), 1, "the expired entries went in the sweep");
    }

    #[test]
    fn live_entries_push_the_next_sweep_out_so_inserts_stay_cheap() {
        let mut map = ExpiringMap::new(Duration::from_secs(60));
        let mut sweeps = 0;
        let mut last_sweep_at = map.sweep_at;
        for key in 0..100_000 {
            map.insert(key, ());
            if map.sweep_at != last_sweep_at {
                sweeps += 1;
                last_sweep_at = map.sweep_at;
            }
        }
        assert_eq!(map.entries.len(), 100_000, "nothing expired, nothing dropped");
        // 1024, 2050, 4102, ... : a sweep each time the map doubles, not one per insert.
        assert!(sweeps <= 7, "{sweeps} sweeps for 100,000 inserts");
    }
}
