//! This instance's sequenced broadcasts that Redis numbered but the subscription has not
//! brought back yet. A sequenced broadcast reaches this instance's own members only through
//! the subscription (so that they get it in the cluster's order); when Redis goes away after
//! replying to the publish but before the message reached this subscriber, the subscription
//! closes owing it. Those are given back for local delivery instead of being lost, and a
//! broadcast numbered while the subscription is down is given back at once.

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex, MutexGuard},
};

use crate::adapter::ClusterMessage;

/// Owed broadcasts kept at most: past it (a subscription that stalls while Redis still
/// takes publishes), the oldest are forgotten, as the publishing queue's own bound would.
const MAX_OWED: usize = 65_536;

/// See the module docs; shared by the publishing task and the subscription.
#[derive(Clone, Default)]
pub(super) struct Echoes(Arc<Mutex<State>>);

#[derive(Default)]
struct State {
    /// Whether the subscription is open: a broadcast published now will come back.
    following: bool,
    /// The highest number the subscription delivered.
    echoed: Option<u64>,
    /// Numbered, not brought back yet, by number.
    owed: BTreeMap<u64, ClusterMessage>,
}

impl Echoes {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The subscription is open (again). What it delivered before is still counted: numbers
    /// only grow (Redis's counter, restarted from the clock if Redis lost it), so a late
    /// publish reply for a broadcast that already came back is never owed.
    pub(super) fn following(&self) {
        self.lock().following = true;
    }

    /// The subscription delivered number `n`: everything numbered up to it came back
    /// (Redis delivers a channel's messages in the order it numbered them).
    pub(super) fn echoed(&self, n: u64) {
        let mut state = self.lock();
        state.echoed = Some(state.echoed.map_or(n, |echoed| echoed.max(n)));
        match n.checked_add(1) {
            Some(next) => state.owed = state.owed.split_off(&next),
            None => state.owed.clear(),
        }
    }

    /// Redis numbered `message` (one of this instance's) `n`: kept until it comes back, or
    /// returned when it will not (the subscription is down).
    pub(super) fn published(&self, n: u64, message: ClusterMessage) -> Option<ClusterMessage> {
        let mut state = self.lock();
        if state.echoed.is_some_and(|echoed| echoed >= n) {
            return None;
        }
        if !state.following {
            return Some(message);
        }
        state.owed.insert(n, message);
        if state.owed.len() > MAX_OWED {
            state.owed.pop_first();
            tracing::warn!("Redis subscription far behind: an own broadcast is no longer tracked");
        }
        None
    }

    /// The subscription closed: the broadcasts it still owed, in order.
    pub(super) fn unfollowed(&self) -> Vec<ClusterMessage> {
        let mut state = self.lock();
        state.following = false;
        std::mem::take(&mut state.owed).into_values().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapter::MessageKind;

    fn message(text: &str) -> ClusterMessage {
        let data = serde_json::value::RawValue::from_string(format!("\"{text}\"")).unwrap();
        ClusterMessage::new("me".into(), MessageKind::Broadcast, "chat:1".into(), data.into())
    }

    fn texts(messages: &[ClusterMessage]) -> Vec<&str> {
        messages.iter().map(|m| m.data.get()).collect()
    }

    #[test]
    fn what_came_back_is_not_owed_and_the_rest_is_given_back_when_the_subscription_closes() {
        let echoes = Echoes::default();
        echoes.following();
        for (n, text) in [(1, "a"), (2, "b"), (3, "c")] {
            assert!(echoes.published(n, message(text)).is_none());
        }
        echoes.echoed(1);
        assert_eq!(texts(&echoes.unfollowed()), ["\"b\"", "\"c\""]);
        assert!(echoes.unfollowed().is_empty(), "given back once");
    }

    #[test]
    fn an_echo_faster_than_the_publish_reply_is_not_owed() {
        let echoes = Echoes::default();
        echoes.following();
        echoes.echoed(7);
        assert!(echoes.published(7, message("a")).is_none());
        assert!(echoes.published(5, message("older")).is_none());
        echoes.unfollowed();
        assert!(echoes.published(6, message("late reply")).is_none(), "6 came back before 7");
    }

    #[test]
    fn a_broadcast_numbered_while_the_subscription_is_down_is_given_back_at_once() {
        let echoes = Echoes::default();
        assert!(echoes.published(1, message("before any subscription")).is_some());
        echoes.following();
        assert!(echoes.published(2, message("a")).is_none());
        assert_eq!(echoes.unfollowed().len(), 1);
        assert!(echoes.published(3, message("b")).is_some());
        echoes.following();
        assert!(echoes.published(4, message("c")).is_none());
    }
}
