//! State shared by all connections: the store behind a mutex, a signal that wakes blocked
//! change-stream `getMore`s, and the transport-level fault switches (connection kill epoch and
//! refusal window) with connection counters.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::config::Config;
use crate::store::Store;

/// Shared emulator state (one per process / server).
#[derive(Debug)]
pub struct Shared {
    /// Settings.
    pub config: Config,
    /// `host:port` reported in `hello` and the URI.
    pub advertised: String,
    store: Mutex<Store>,
    changes: watch::Sender<u64>,
    kill_epoch: watch::Sender<u64>,
    refuse_until: Mutex<Option<Instant>>,
    open_connections: AtomicUsize,
    total_connections: AtomicU64,
    refused_connections: AtomicU64,
}

impl Shared {
    /// Creates the state for a server listening on `addr`.
    pub fn new(config: Config, addr: SocketAddr) -> Self {
        let host = match addr.ip() {
            ip if ip.is_unspecified() => "127.0.0.1".to_owned(),
            std::net::IpAddr::V6(v6) => format!("[{v6}]"),
            ip => ip.to_string(),
        };
        let store = Store::new(config.history);
        Self {
            advertised: format!("{host}:{}", addr.port()),
            config,
            store: Mutex::new(store),
            changes: watch::channel(0).0,
            kill_epoch: watch::channel(0).0,
            refuse_until: Mutex::new(None),
            open_connections: AtomicUsize::new(0),
            total_connections: AtomicU64::new(0),
            refused_connections: AtomicU64::new(0),
        }
    }

    /// The connection string drivers should use.
    pub fn uri(&self) -> String {
        if self.config.standalone {
            format!("mongodb://{}/?directConnection=true", self.advertised)
        } else {
            format!(
                "mongodb://{}/?replicaSet={}&directConnection=true",
                self.advertised, self.config.set_name
            )
        }
    }

    /// Locks the store. A poisoned lock is recovered: handlers never leave it half-updated
    /// across a panic point, and the emulator must keep serving.
    pub fn store(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Wakes change-stream `getMore`s after new events were recorded.
    pub fn notify_changes(&self) {
        self.changes.send_modify(|v| *v = v.wrapping_add(1));
    }

    /// A receiver that fires on the next [`Shared::notify_changes`].
    pub fn subscribe_changes(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// A receiver that fires when every open connection must be closed.
    pub fn subscribe_kill(&self) -> watch::Receiver<u64> {
        self.kill_epoch.subscribe()
    }

    /// Closes every open connection (each notices at its next await point).
    pub fn drop_all_connections(&self) {
        self.kill_epoch.send_modify(|v| *v = v.wrapping_add(1));
    }

    /// Closes every connection and refuses new ones for `duration`.
    pub fn refuse_connections_for(&self, duration: Duration) {
        *self.refuse_until.lock().unwrap_or_else(|e| e.into_inner()) =
            Some(Instant::now() + duration);
        self.drop_all_connections();
    }

    /// Whether new connections are currently refused.
    pub fn refusing(&self) -> bool {
        let mut guard = self.refuse_until.lock().unwrap_or_else(|e| e.into_inner());
        match *guard {
            Some(until) if Instant::now() < until => true,
            Some(_) => {
                *guard = None;
                false
            }
            None => false,
        }
    }

    /// Counts a refused connection attempt.
    pub fn note_refused(&self) {
        self.refused_connections.fetch_add(1, Ordering::Relaxed);
    }

    /// Registers an accepted connection; the guard unregisters it when dropped.
    pub fn connection_opened(&self) -> ConnectionGuard<'_> {
        self.open_connections.fetch_add(1, Ordering::Relaxed);
        let id = self.total_connections.fetch_add(1, Ordering::Relaxed) + 1;
        ConnectionGuard { shared: self, id }
    }

    /// `(open, total accepted, refused)` connection counts.
    pub fn connection_counts(&self) -> (usize, u64, u64) {
        (
            self.open_connections.load(Ordering::Relaxed),
            self.total_connections.load(Ordering::Relaxed),
            self.refused_connections.load(Ordering::Relaxed),
        )
    }

    /// Logs to stderr when `--verbose` is on.
    pub fn log(&self, message: impl FnOnce() -> String) {
        if self.config.verbose {
            eprintln!("[mongo-emulator] {}", message());
        }
    }
}

/// Keeps a connection counted as open while alive.
#[derive(Debug)]
pub struct ConnectionGuard<'a> {
    shared: &'a Shared,
    /// Connection number (1-based), reported as `connectionId` in `hello`.
    pub id: u64,
}

impl Drop for ConnectionGuard<'_> {
    fn drop(&mut self) {
        self.shared.open_connections.fetch_sub(1, Ordering::Relaxed);
    }
}
