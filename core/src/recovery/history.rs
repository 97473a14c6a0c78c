//! The broadcasts a recovering client may have missed: per channel, in offset order,
//! bounded by age, by count per channel and by bytes in total. A client whose position has
//! fallen out of it is not recovered rather than partially replayed.

use std::{
    collections::{HashMap, VecDeque},
    sync::{Arc, Mutex, MutexGuard},
    time::{Duration, Instant},
};

use serde_json::value::RawValue;

/// What a retained broadcast costs besides its data: the entry, its index slot and a share
/// of the channel's map entry (measured with `size_of`; an estimate for the byte bound).
const ENTRY_OVERHEAD: usize = 96;

/// The bounds of the history.
#[derive(Debug, Clone, Copy)]
pub struct HistoryLimits {
    /// How long a broadcast is kept.
    pub max_age: Duration,
    /// Most broadcasts kept per channel.
    pub per_channel: usize,
    /// Most bytes kept in all (data plus [`ENTRY_OVERHEAD`] each).
    pub total_bytes: usize,
}

struct Entry {
    offset: u64,
    at: Instant,
    data: Arc<RawValue>,
}

#[derive(Default)]
struct Channel {
    entries: VecDeque<Entry>,
    /// The highest offset evicted from this channel: a position before it cannot be replayed.
    evicted_up_to: u64,
}

#[derive(Default)]
struct Inner {
    /// The last offset given out.
    last: u64,
    channels: HashMap<Box<str>, Channel>,
    /// Every retained entry, oldest first, for the total byte bound.
    order: VecDeque<(u64, Box<str>)>,
    /// Broadcasts retained.
    kept: usize,
    bytes: usize,
    /// The highest offset evicted by age or bytes, from any channel (a channel whose entries
    /// all went is forgotten; this still tells what it lost).
    evicted_up_to: u64,
    /// Positions before this may have missed broadcasts that were never received (sequenced
    /// offsets: the first after start-up, or after the backend lost some).
    complete_from: u64,
}

/// A broadcast to replay.
#[derive(Debug, Clone)]
pub struct Missed {
    /// Its offset.
    pub offset: u64,
    /// Its channel (`category:id`).
    pub channel: Box<str>,
    /// Its JSON data.
    pub data: Arc<RawValue>,
}

/// The position asked for is no longer (fully) in the history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gap;

/// The retained broadcasts of one server.
pub struct History {
    limits: HistoryLimits,
    inner: Mutex<Inner>,
}

/// The history, locked: offsets given out and replays computed under it are ordered with
/// each other (see [`crate::recovery`]).
pub struct Locked<'a> {
    inner: MutexGuard<'a, Inner>,
    limits: HistoryLimits,
}

impl History {
    /// An empty history bounded by `limits`.
    pub fn new(limits: HistoryLimits) -> Self {
        Self { limits, inner: Mutex::new(Inner::default()) }
    }

    /// Locks the history.
    pub fn lock(&self) -> Locked<'_> {
        Locked { inner: self.inner.lock().unwrap_or_else(|e| e.into_inner()), limits: self.limits }
    }

    /// The last offset given out (0 before any).
    pub fn current(&self) -> u64 {
        self.lock().inner.last
    }

    /// Gives the next offset to a broadcast of `data` to `channel` and keeps it.
    pub fn record(&self, channel: &str, data: &Arc<RawValue>) -> u64 {
        self.lock().record(channel, data)
    }

    /// Keeps a broadcast the cluster's backend sequenced at `offset`; `continuous`: nothing
    /// sequenced since the previous one was lost. `false` (not kept) if `offset` is not past
    /// the last one.
    pub fn record_sequenced(
        &self,
        channel: &str,
        data: &Arc<RawValue>,
        (offset, continuous): (u64, bool),
    ) -> bool {
        let mut locked = self.lock();
        let inner = &mut *locked.inner;
        if offset <= inner.last {
            return false;
        }
        if !continuous {
            inner.complete_from = offset - 1;
        }
        locked.keep(offset, channel, data);
        true
    }

    /// Bytes retained now (data plus overhead).
    pub fn bytes(&self) -> usize {
        self.lock().inner.bytes
    }

    /// Broadcasts and bytes retained now.
    pub fn size(&self) -> (usize, usize) {
        let locked = self.lock();
        (locked.inner.kept, locked.inner.bytes)
    }
}

fn cost(data: &RawValue) -> usize {
    data.get().len() + ENTRY_OVERHEAD
}

impl Locked<'_> {
    /// The last offset given out.
    pub fn current(&self) -> u64 {
        self.inner.last
    }

    /// See [`History::record`].
    pub fn record(&mut self, channel: &str, data: &Arc<RawValue>) -> u64 {
        let offset = self.inner.last + 1;
        self.keep(offset, channel, data);
        offset
    }

    /// Keeps `data` to `channel` at `offset` (past the last), evicting what the bounds say.
    fn keep(&mut self, offset: u64, channel: &str, data: &Arc<RawValue>) {
        let now = Instant::now();
        let inner = &mut *self.inner;
        inner.last = offset;
        let entry = Entry { offset, at: now, data: data.clone() };
        inner.bytes += cost(data);
        inner.kept += 1;
        let kept = inner.channels.entry(channel.into()).or_default();
        kept.entries.push_back(entry);
        inner.order.push_back((offset, channel.into()));
        // Per channel: the count bound.
        while kept.entries.len() > self.limits.per_channel {
            if let Some(old) = kept.entries.pop_front() {
                kept.evicted_up_to = old.offset;
                inner.bytes -= cost(&old.data);
                inner.kept -= 1;
            }
        }
        // In all: age and bytes, oldest first.
        while let Some((oldest, name)) = inner.order.front() {
            let channel = inner.channels.get_mut(name);
            let front = channel.as_ref().and_then(|c| c.entries.front());
            let Some(front) = front.filter(|e| e.offset == *oldest) else {
                inner.order.pop_front(); // already evicted by its channel's count bound
                continue;
            };
            let too_old = now.duration_since(front.at) > self.limits.max_age;
            if !too_old && inner.bytes <= self.limits.total_bytes {
                break;
            }
            let Some(channel) = channel else { break };
            if let Some(old) = channel.entries.pop_front() {
                channel.evicted_up_to = old.offset;
                inner.evicted_up_to = old.offset;
                inner.bytes -= cost(&old.data);
                inner.kept -= 1;
            }
            let name = inner.order.pop_front().map(|(_, n)| n);
            if let Some(name) = name {
                if inner.channels.get(&name).is_some_and(|c| c.entries.is_empty()) {
                    inner.channels.remove(&name);
                }
            }
        }
    }

    /// The broadcasts to `rooms` (each with the offset it was joined at) after `after`, in
    /// offset order; [`Gap`] if any of them is no longer retained.
    pub fn since(&self, rooms: &[(Box<str>, u64)], after: u64) -> Result<Vec<Missed>, Gap> {
        let mut missed = Vec::new();
        for (room, joined) in rooms {
            let from = after.max(*joined);
            if from < self.inner.complete_from {
                return Err(Gap);
            }
            let Some(channel) = self.inner.channels.get(room) else {
                // Nothing retained for it: fine unless something after `from` was evicted
                // (from any channel: it may have been this one's).
                if self.inner.evicted_up_to > from {
                    return Err(Gap);
                }
                continue;
            };
            if channel.evicted_up_to > from {
                return Err(Gap);
            }
            missed.extend(channel.entries.iter().filter(|e| e.offset > from).map(|e| Missed {
                offset: e.offset,
                channel: room.clone(),
                data: e.data.clone(),
            }));
        }
        missed.sort_by_key(|m| m.offset);
        Ok(missed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(n: u32) -> Arc<RawValue> {
        RawValue::from_string(n.to_string()).unwrap().into()
    }

    fn limits(per_channel: usize, total_bytes: usize) -> HistoryLimits {
        HistoryLimits { max_age: Duration::from_secs(60), per_channel, total_bytes }
    }

    fn offsets(missed: &[Missed]) -> Vec<u64> {
        missed.iter().map(|m| m.offset).collect()
    }

    #[test]
    fn replays_the_rooms_broadcasts_after_a_position_in_order() {
        let history = History::new(limits(100, 1 << 20));
        for n in 0..6 {
            history.record(if n % 2 == 0 { "a:1" } else { "b:1" }, &json(n));
        }
        let locked = history.lock();
        let rooms = [("a:1".into(), 0), ("b:1".into(), 0)];
        assert_eq!(offsets(&locked.since(&rooms, 2).unwrap()), vec![3, 4, 5, 6]);
        // A room joined at offset 4 replays only what came after the join.
        assert_eq!(offsets(&locked.since(&[("b:1".into(), 4)], 0).unwrap()), vec![6]);
        assert_eq!(offsets(&locked.since(&rooms, 6).unwrap()), Vec::<u64>::new());
    }

    #[test]
    fn a_position_that_fell_out_is_a_gap_never_a_partial_replay() {
        let history = History::new(limits(3, 1 << 20));
        for n in 0..5 {
            history.record("a:1", &json(n));
        }
        let locked = history.lock();
        let room = [("a:1".into(), 0)];
        assert_eq!(locked.since(&room, 1).map(|m| offsets(&m)), Err(Gap));
        assert_eq!(offsets(&locked.since(&room, 2).unwrap()), vec![3, 4, 5]);
    }

    #[test]
    fn the_byte_bound_holds_and_keeps_memory_flat() {
        let history = History::new(limits(1_000_000, 10 * (ENTRY_OVERHEAD + 1)));
        for n in 0..10_000 {
            history.record(&format!("c:{}", n % 7), &json(n % 10));
        }
        assert!(history.bytes() <= 10 * (ENTRY_OVERHEAD + 1));
        assert_eq!(history.size(), (10, 10 * (ENTRY_OVERHEAD + 1)));
        let locked = history.lock();
        assert_eq!(locked.since(&[("c:0".into(), 0)], 9_000).map(|m| offsets(&m)), Err(Gap));
        assert!(locked.since(&[("c:0".into(), 0)], 9_995).is_ok());
    }

    #[test]
    fn sequenced_offsets_replay_only_from_where_nothing_was_lost() {
        let history = History::new(limits(100, 1 << 20));
        // Joined this cluster at 100: what came before never reached this instance.
        assert!(history.record_sequenced("a:1", &json(1), (100, false)));
        assert!(history.record_sequenced("a:1", &json(2), (101, true)));
        assert!(!history.record_sequenced("a:1", &json(2), (101, true)), "not twice");
        let room = [("a:1".into(), 0)];
        assert_eq!(history.lock().since(&room, 50).map(|m| offsets(&m)), Err(Gap));
        assert_eq!(offsets(&history.lock().since(&room, 99).unwrap()), vec![100, 101]);
        // The backend lost 102..=104 on the way here: positions before 104 are gaps now.
        assert!(history.record_sequenced("a:1", &json(3), (105, false)));
        assert_eq!(history.lock().since(&room, 101).map(|m| offsets(&m)), Err(Gap));
        assert_eq!(offsets(&history.lock().since(&room, 104).unwrap()), vec![105]);
        assert_eq!(history.current(), 105);
    }

    #[test]
    fn old_broadcasts_expire() {
        let history = History::new(HistoryLimits {
            max_age: Duration::ZERO,
            per_channel: 100,
            total_bytes: 1 << 20,
        });
        history.record("a:1", &json(1));
        std::thread::sleep(Duration::from_millis(2));
        history.record("a:1", &json(2));
        let locked = history.lock();
        assert_eq!(locked.since(&[("a:1".into(), 0)], 0).map(|m| offsets(&m)), Err(Gap));
    }
}
