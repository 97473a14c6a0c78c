//! Sessions that ended without the client meaning to, kept for `max_disconnection` and
//! usable once; and the live sessions by private id, so a reconnect that races the server
//! noticing the old connection's death can close it first.

use std::{
    collections::HashMap,
    sync::{Mutex, MutexGuard},
    time::Duration,
};

use crate::expiring::ExpiringMap;

/// What a recovered session gets back: ids and channel names only, never the app's auth
/// context or tokens. Kept as JSON in a cluster's backend.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Saved {
    /// The socket id.
    pub sid: Box<str>,
    /// Its channels, each with the offset it was joined at.
    pub rooms: Vec<(Box<str>, u64)>,
    /// The last broadcast offset it received (its position when it sent none).
    pub position: u64,
}

/// Saved sessions by private id, and the live ones' socket ids.
pub struct Sessions {
    saved: Mutex<ExpiringMap<Box<str>, Saved>>,
    live: Mutex<HashMap<Box<str>, Box<str>>>,
}

impl Sessions {
    /// Sessions kept for `window`.
    pub fn new(window: Duration) -> Self {
        Self { saved: Mutex::new(ExpiringMap::new(window)), live: Mutex::new(HashMap::new()) }
    }

    /// Socket `sid` is connected under private id `pid`.
    pub fn attach(&self, pid: &str, sid: &str) {
        self.live.lock().unwrap_or_else(|e| e.into_inner()).insert(pid.into(), sid.into());
    }

    /// The connection of `pid` has ended.
    pub fn detach(&self, pid: &str) {
        self.live.lock().unwrap_or_else(|e| e.into_inner()).remove(pid);
    }

    /// The socket id still connected under `pid` (a half-open connection), if any.
    pub fn live_sid(&self, pid: &str) -> Option<Box<str>> {
        self.live.lock().unwrap_or_else(|e| e.into_inner()).get(pid).cloned()
    }

    fn lock(&self) -> MutexGuard<'_, ExpiringMap<Box<str>, Saved>> {
        self.saved.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Keeps `saved` under `pid`, from now.
    pub fn save(&self, pid: &str, saved: Saved) {
        self.lock().insert(pid.into(), saved);
    }

    /// Takes the session saved under `pid`, if it is still within the window.
    pub fn take(&self, pid: &str) -> Option<Saved> {
        self.lock().take(pid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn saved() -> Saved {
        Saved { sid: "s".into(), rooms: vec![("chat:1".into(), 3)], position: 7 }
    }

    #[test]
    fn a_session_is_used_once_within_its_window() {
        let sessions = Sessions::new(Duration::from_secs(60));
        sessions.save("p", saved());
        assert_eq!(sessions.take("p"), Some(saved()));
        assert_eq!(sessions.take("p"), None);
        let expired = Sessions::new(Duration::ZERO);
        expired.save("p", saved());
        std::thread::sleep(Duration::from_millis(2));
        assert_eq!(expired.take("p"), None);
    }
}
