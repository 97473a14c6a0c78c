//! Cross-instance delivery: the narrow trait every backend implements, and the message it
//! carries. A broadcast is delivered to local members by the delivery task and handed to the
//! adapter, which gets it to every other instance; each instance delivers what it receives
//! to its own members. The same path carries the presence protocol (`crate::presence`):
//! heartbeats, member queries and their replies. Backends: [`local`] (one instance, the
//! default), [`mongodb`] (change streams on a shared collection), [`redis`] (pub/sub).
//!
//! With connection state recovery on, broadcasts are *sequenced*: the backend gives each one
//! a cluster-wide offset and hands it back to every instance, the publishing one included,
//! in that order ([`Order`]); and recoverable sessions are kept in the backend
//! ([`SessionStore`]), so a client recovers on whichever instance it comes back to.

pub mod backoff;
pub mod local;
pub mod mongodb;
pub mod redis;

use std::{
    future::Future,
    pin::Pin,
    sync::Arc,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use serde_json::value::RawValue;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// What a [`ClusterMessage`] carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageKind {
    /// A channel broadcast: `data` goes to the members of `channel`.
    Broadcast,
    /// A presence protocol message (`crate::presence`); `data` is its JSON body.
    Presence,
}

impl MessageKind {
    /// The name backends store for non-broadcast kinds (broadcasts store none, which keeps
    /// their documents as they were).
    pub fn wire_name(self) -> Option<&'static str> {
        match self {
            MessageKind::Broadcast => None,
            MessageKind::Presence => Some("presence"),
        }
    }

    /// The kind a stored name stands for; `None` for names this version does not know.
    pub fn from_wire_name(name: Option<&str>) -> Option<Self> {
        match name {
            None => Some(MessageKind::Broadcast),
            Some("presence") => Some(MessageKind::Presence),
            Some(_) => None,
        }
    }
}

/// A broadcast's place in the cluster-wide order, given by a sequencing backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sequence {
    /// Its offset: greater than every offset delivered before it, equal on every instance.
    pub offset: u64,
    /// Whether this instance received everything the backend sequenced before it (false for
    /// the first after start-up, and after a subscription was lost and opened again).
    pub continuous: bool,
}

/// Whether a message is (to be) sequenced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Order {
    /// Delivered as it comes; the publishing instance delivers it locally itself.
    #[default]
    Unsequenced,
    /// Publishing side: sequence it and hand it back to this instance too, which delivers it
    /// only then.
    Requested,
    /// Receiving side: it was sequenced.
    Sequenced(Sequence),
    /// Given back by this instance's backend, which could not publish it sequenced: this
    /// instance delivers it itself, unsequenced (it cannot be recovered).
    Returned,
}

/// A message travelling between instances.
#[derive(Debug, Clone)]
pub struct ClusterMessage {
    /// The instance that published it (so it can skip its own messages).
    pub origin: Arc<str>,
    /// Broadcast or presence.
    pub kind: MessageKind,
    /// The room, `category:id` (empty for presence messages).
    pub channel: String,
    /// The payload, JSON text shared with local delivery (never copied per instance).
    pub data: Arc<RawValue>,
    /// When the publishing instance handed it to the backend, by that instance's clock, for
    /// `adapter_lag_seconds`; `None` until a backend has carried it.
    pub sent_at: Option<SystemTime>,
    /// Its sequencing (broadcasts with recovery on).
    pub order: Order,
}

impl PartialEq for ClusterMessage {
    fn eq(&self, other: &Self) -> bool {
        self.origin == other.origin
            && self.kind == other.kind
            && self.channel == other.channel
            && self.data.get() == other.data.get()
    }
}

impl ClusterMessage {
    /// Builds a message from text received from a backend; `None` if `data` is not JSON or
    /// `kind` is unknown (a newer instance's message).
    pub fn from_parts(
        origin: &str,
        kind: Option<&str>,
        channel: String,
        data: String,
    ) -> Option<Self> {
        let kind = MessageKind::from_wire_name(kind)?;
        let data: Arc<RawValue> = RawValue::from_string(data).ok()?.into();
        Some(Self {
            origin: origin.into(),
            kind,
            channel,
            data,
            sent_at: None,
            order: Order::Unsequenced,
        })
    }

    /// A message made on this instance, not yet carried by a backend.
    pub fn new(origin: Arc<str>, kind: MessageKind, channel: String, data: Arc<RawValue>) -> Self {
        Self { origin, kind, channel, data, sent_at: None, order: Order::Unsequenced }
    }

    /// Whether this instance delivers it when it arrives: another instance's message, or
    /// this instance's own sequenced broadcast coming back.
    pub fn is_for(&self, origin: &str) -> bool {
        &*self.origin != origin || matches!(self.order, Order::Sequenced(_) | Order::Returned)
    }
}

/// Milliseconds since the Unix epoch of `time`, as backends write [`ClusterMessage::sent_at`].
pub fn unix_millis(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(0))
}

/// The time `millis` after the Unix epoch, as backends read [`ClusterMessage::sent_at`].
pub fn from_unix_millis(millis: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(millis)
}

/// What an adapter says of its own health, read at scrape time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdapterStatus {
    /// Its connections to the backend work (the last attempts succeeded).
    pub up: bool,
    /// Messages waiting to be published.
    pub queued: usize,
}

/// A task an adapter runs until shutdown.
pub type AdapterTask = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// Where a backend gives back the sequenced broadcasts it failed to publish, so that this
/// instance's members still get them (a sequenced broadcast is not delivered locally until
/// the backend hands it back). Set by [`Adapter::subscribe`], used by the publishing task.
#[derive(Clone, Default)]
pub struct Returns(Arc<std::sync::OnceLock<mpsc::Sender<ClusterMessage>>>);

impl Returns {
    /// Gives returns to `sink` (the subscription's).
    pub fn set(&self, sink: &mpsc::Sender<ClusterMessage>) {
        let _ = self.0.set(sink.clone());
    }

    /// Gives `message` back for local delivery, if it asked to be sequenced; it is then
    /// published to the other instances unsequenced (so it never comes back twice).
    pub async fn give_back(&self, message: &mut ClusterMessage) {
        if let (Some(returned), Some(sink)) = (Self::returned(message), self.0.get()) {
            let _ = sink.send(returned).await;
        }
    }

    /// [`Returns::give_back`] for each of `messages`.
    pub async fn give_back_all(&self, messages: impl Iterator<Item = &mut ClusterMessage>) {
        for message in messages {
            self.give_back(message).await;
        }
    }

    /// [`Returns::give_back`] from synchronous code: if the subscription's queue is full,
    /// the message is lost to this instance's members (logged).
    pub fn give_back_now(&self, message: &mut ClusterMessage) {
        if let (Some(returned), Some(sink)) = (Self::returned(message), self.0.get()) {
            if sink.try_send(returned).is_err() {
                tracing::warn!("a broadcast the backend could not take was not delivered here");
            }
        }
    }

    fn returned(message: &mut ClusterMessage) -> Option<ClusterMessage> {
        if message.order != Order::Requested {
            return None;
        }
        message.order = Order::Unsequenced;
        let mut returned = message.clone();
        returned.order = Order::Returned;
        Some(returned)
    }
}

/// A future an adapter's store returns.
pub type StoreFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// Recoverable sessions kept in the backend, so any instance can recover them. Sessions are
/// opaque JSON text to the backend; each is taken at most once.
pub trait SessionStore: Send + Sync + 'static {
    /// Keeps `session` under `pid` for `ttl`. Never blocks: it is written with the backend's
    /// other publishes (in order, and flushed on a graceful close).
    fn save(&self, pid: &str, session: String, ttl: Duration);

    /// Takes the session kept under `pid` (removing it), if any: at most one caller gets it.
    fn take(&self, pid: &str) -> StoreFuture<Option<String>>;
}

/// A cross-instance backend. Its methods are cheap to call; the work runs in the tasks they
/// return or feed.
pub trait Adapter: Send + Sync + 'static {
    /// Hands a broadcast to the other instances. Never blocks: a backend that cannot keep up
    /// drops (and counts) rather than buffering without bound, and gives a sequenced one it
    /// drops back to this instance ([`Returns`]).
    fn publish(&self, message: ClusterMessage);

    /// Returns the task that delivers other instances' messages into `sink` until `shutdown`
    /// fires, reconnecting (with backoff) whenever the backend goes away.
    fn subscribe(
        &self,
        sink: mpsc::Sender<ClusterMessage>,
        shutdown: CancellationToken,
    ) -> AdapterTask;

    /// Its health now. A single instance's adapter is always up with nothing queued.
    fn status(&self) -> AdapterStatus {
        AdapterStatus { up: true, queued: 0 }
    }

    /// Whether it sequences broadcasts published with [`Order::Requested`].
    fn sequences(&self) -> bool {
        false
    }

    /// Where it keeps recoverable sessions for the cluster (`None`: this instance keeps its
    /// own).
    fn sessions(&self) -> Option<Arc<dyn SessionStore>> {
        None
    }
}

/// Why an adapter could not start. The messages say which and what to do.
#[derive(Debug, thiserror::Error)]
pub enum AdapterError {
    /// The URI or URL could not be parsed.
    #[error("invalid {backend} address: {detail}")]
    InvalidAddress {
        /// `MongoDB` or `Redis`.
        backend: &'static str,
        /// The parser's message.
        detail: String,
    },
    /// The server could not be reached in time.
    #[error("cannot reach {backend} at {address}: {detail}; check the address and that the server is running")]
    Unreachable {
        /// `MongoDB` or `Redis`.
        backend: &'static str,
        /// Where we tried.
        address: String,
        /// The driver's message.
        detail: String,
    },
    /// MongoDB runs standalone: change streams are unavailable.
    #[error("MongoDB at {address} is not a replica set, and change streams need one: start mongod with --replSet (MongoDB Atlas always is one)")]
    NotAReplicaSet {
        /// Where we connected.
        address: String,
    },
    /// Setting up the collection or its TTL index failed.
    #[error("cannot prepare the {collection} collection: {detail}")]
    Setup {
        /// The collection.
        collection: String,
        /// The driver's message.
        detail: String,
    },
}

/// A unique id for this instance, used as [`ClusterMessage::origin`].
pub fn instance_id() -> String {
    use std::time::{SystemTime, UNIX_EPOCH};
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    let random = std::collections::hash_map::RandomState::new();
    let salt = std::hash::BuildHasher::hash_one(&random, nanos);
    format!("{:x}-{:x}-{:x}", std::process::id(), nanos, salt)
}
