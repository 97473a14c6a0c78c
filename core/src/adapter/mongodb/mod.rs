//! The MongoDB backend: every instance inserts its broadcasts into one shared collection and
//! follows the others' through a change stream (`PROTOCOL.md`, "Horizontal scaling").
//! Documents carry `createdAt` as a BSON date so the TTL index really expires them.
//! Sequenced broadcasts (recovery on) carry `q: true` and come back to every instance, the
//! inserting one included; their offset is the change event's cluster time, which orders
//! them the same on every instance. Recoverable sessions live in `<collection>_sessions`.

use std::{
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use futures_util::StreamExt;
use mongodb::{
    bson::{doc, oid::ObjectId, Document},
    change_stream::{event::ChangeStreamEvent, ChangeStream},
    error::{Error as MongoError, ErrorKind},
    options::{ClientOptions, IndexOptions},
    Client, Collection, IndexModel,
};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

mod documents;
mod sessions;

use documents::{from_document, offset_of, to_document, Item, Pending};
use sessions::MongoSessions;

use super::{
    backoff::{count_dropped, count_for_log, open_with_backoff, pause, Backoff, Health, Links},
    Adapter, AdapterError, AdapterStatus, AdapterTask, ClusterMessage, Order, Returns, Sequence,
    SessionStore,
};

/// MongoDB error code: the collection already exists.
const NAMESPACE_EXISTS: i32 = 48;
/// MongoDB error code: an index with the same name but other options exists (`PROTOCOL.md`).
const INDEX_OPTIONS_CONFLICT: i32 = 85;
/// MongoDB error code: duplicate key (a retried insert that had already landed).
const DUPLICATE_KEY: i32 = 11000;
/// Name of the TTL index on `createdAt`.
const TTL_INDEX: &str = "createdAt_1";
/// Broadcasts inserted in one round trip at most.
const MAX_BATCH: usize = 256;
/// The largest payload that fits in one document: MongoDB's 16 MiB limit, less room for the
/// other fields. A larger one would be refused by every insert retry and stall the queue.
const MAX_PAYLOAD: usize = 16 * 1024 * 1024 - 64 * 1024;

/// How to reach the shared collection, with every limit.
#[derive(Debug, Clone)]
pub struct MongoConfig {
    /// Connection string, e.g. `mongodb://host/app?replicaSet=rs0`.
    pub uri: String,
    /// Database; default: the one named in the URI, else `modelence`.
    pub db_name: Option<String>,
    /// Collection shared by the instances. Default `_modelenceSocketio`.
    pub collection: String,
    /// How long documents live (TTL index). Default 3600 s (the seed's one hour).
    pub ttl: Duration,
    /// How long start-up may wait for the server. Default 10 s.
    pub connect_timeout: Duration,
    /// Broadcasts waiting to be inserted; when full, new ones are dropped and counted.
    /// Default 10,000.
    pub publish_queue: usize,
    /// A broadcast not inserted within this age (database down) is dropped. Default 30 s.
    pub max_publish_age: Duration,
}

impl MongoConfig {
    /// A configuration with the defaults for `uri`.
    pub fn new(uri: impl Into<String>) -> Self {
        Self {
            uri: uri.into(),
            db_name: None,
            collection: crate::protocol::DEFAULT_COLLECTION.to_owned(),
            ttl: Duration::from_secs(3600),
            connect_timeout: Duration::from_secs(10),
            publish_queue: 10_000,
            max_publish_age: Duration::from_secs(30),
        }
    }
}

/// The MongoDB adapter.
pub struct MongoAdapter {
    origin: Arc<str>,
    collection: Collection<Document>,
    sessions: Collection<Document>,
    queue: mpsc::Sender<Pending>,
    first_stream: Mutex<Option<ChangeStream<ChangeStreamEvent<Document>>>>,
    dropped: Arc<AtomicU64>,
    /// Messages too large for one document, refused.
    oversized: AtomicU64,
    links: Links,
    /// Where sequenced broadcasts that could not be inserted go back for local delivery.
    returns: Returns,
}

fn command_code(error: &MongoError) -> Option<i32> {
    match error.kind.as_ref() {
        ErrorKind::Command(command) => Some(command.code),
        _ => None,
    }
}

fn only_duplicates(error: &MongoError) -> bool {
    match error.kind.as_ref() {
        ErrorKind::InsertMany(failure) => {
            failure.write_concern_error.is_none()
                && failure
                    .write_errors
                    .as_ref()
                    .is_some_and(|errors| errors.iter().all(|e| e.code == DUPLICATE_KEY))
        }
        _ => false,
    }
}

impl MongoAdapter {
    /// Connects, checks for a replica set, prepares the collection and its TTL index, and
    /// opens the change stream. Returns the adapter and its publishing task.
    pub async fn connect(
        config: MongoConfig,
        origin: Arc<str>,
        shutdown: CancellationToken,
    ) -> Result<(Arc<Self>, AdapterTask), AdapterError> {
        let mut options = ClientOptions::parse(&config.uri).await.map_err(|e| {
            AdapterError::InvalidAddress { backend: "MongoDB", detail: e.to_string() }
        })?;
        let address = options.hosts.iter().map(|h| h.to_string()).collect::<Vec<_>>().join(",");
        options.server_selection_timeout = Some(config.connect_timeout);
        options.connect_timeout = Some(config.connect_timeout);
        options.app_name.get_or_insert_with(|| "modelence-native-ws".to_owned());
        let db_name = config
            .db_name
            .clone()
            .or_else(|| options.default_database.clone())
            .unwrap_or_else(|| "modelence".to_owned());
        let client = Client::with_options(options).map_err(|e| AdapterError::InvalidAddress {
            backend: "MongoDB",
            detail: e.to_string(),
        })?;
        let db = client.database(&db_name);

        let hello =
            db.run_command(doc! { "hello": 1 }).await.map_err(|e| AdapterError::Unreachable {
                backend: "MongoDB",
                address: address.clone(),
                detail: e.to_string(),
            })?;
        if hello.get_str("setName").is_err() {
            return Err(AdapterError::NotAReplicaSet { address });
        }

        let setup =
            |detail: String| AdapterError::Setup { collection: config.collection.clone(), detail };
        if let Err(e) = db.create_collection(&config.collection).await {
            if command_code(&e) != Some(NAMESPACE_EXISTS) {
                return Err(setup(e.to_string()));
            }
        }
        let collection = db.collection::<Document>(&config.collection);
        ensure_ttl_index(&collection, config.ttl).await.map_err(|e| setup(e.to_string()))?;
        let sessions = db.collection::<Document>(&format!("{}_sessions", config.collection));
        let expiry = IndexModel::builder()
            .keys(doc! { "expiresAt": 1 })
            .options(IndexOptions::builder().expire_after(Duration::ZERO).build())
            .build();
        if let Err(e) = sessions.create_index(expiry).await {
            if command_code(&e) != Some(INDEX_OPTIONS_CONFLICT) {
                return Err(setup(e.to_string()));
            }
        }
        let stream =
            open_stream(&collection, &origin, None).await.map_err(|e| setup(e.to_string()))?;

        let (queue, rx) = mpsc::channel(config.publish_queue.max(1));
        let dropped = Arc::new(AtomicU64::new(0));
        let links = Links::default();
        let health = Health::new("MongoDB", "publish", links.publishing.clone());
        let returns = Returns::default();
        let publisher = publish_loop(
            (collection.clone(), sessions.clone()),
            rx,
            shutdown,
            config.max_publish_age,
            (dropped.clone(), health),
            returns.clone(),
        );
        let adapter = Arc::new(Self {
            returns,
            origin,
            collection,
            sessions,
            queue,
            first_stream: Mutex::new(Some(stream)),
            dropped,
            oversized: AtomicU64::new(0),
            links,
        });
        Ok((adapter, Box::pin(publisher)))
    }
}

/// Creates the TTL index; on IndexOptionsConflict (another TTL), drops and recreates it.
async fn ensure_ttl_index(
    collection: &Collection<Document>,
    ttl: Duration,
) -> Result<(), MongoError> {
    let model = || {
        let options = IndexOptions::builder().name(TTL_INDEX.to_owned()).expire_after(ttl).build();
        IndexModel::builder().keys(doc! { "createdAt": 1 }).options(options).build()
    };
    match collection.create_index(model()).await {
        Ok(_) => Ok(()),
        Err(e) if command_code(&e) == Some(INDEX_OPTIONS_CONFLICT) => {
            collection.drop_index(TTL_INDEX).await?;
            collection.create_index(model()).await.map(|_| ())
        }
        Err(e) => Err(e),
    }
}

async fn open_stream(
    collection: &Collection<Document>,
    origin: &str,
    resume: Option<mongodb::change_stream::event::ResumeToken>,
) -> Result<ChangeStream<ChangeStreamEvent<Document>>, MongoError> {
    collection
        .watch()
        .pipeline([doc! { "$match": {
            "operationType": "insert",
            "$or": [{ "fullDocument.origin": { "$ne": origin } }, { "fullDocument.q": true }],
        } }])
        .resume_after(resume)
        .await
}

/// Inserts `documents` (unordered, with our own `_id`s: a retry after a partial success only
/// hits duplicate-key errors for what already landed, so nothing is inserted twice).
async fn insert_all(
    collection: &Collection<Document>,
    documents: Vec<Document>,
) -> Result<(), MongoError> {
    if documents.is_empty() {
        return Ok(());
    }
    match collection.insert_many(documents).ordered(false).await {
        Ok(_) => Ok(()),
        Err(e) if only_duplicates(&e) => Ok(()),
        Err(e) => Err(e),
    }
}

async fn publish_loop(
    (collection, sessions): (Collection<Document>, Collection<Document>),
    mut rx: mpsc::Receiver<Pending>,
    shutdown: CancellationToken,
    max_age: Duration,
    (dropped, mut health): (Arc<AtomicU64>, Health),
    returns: Returns,
) {
    let mut backoff = Backoff::default();
    let mut batch: Vec<Pending> = Vec::with_capacity(MAX_BATCH);
    loop {
        if batch.len() < MAX_BATCH {
            let room = MAX_BATCH - batch.len();
            if batch.is_empty() {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    n = rx.recv_many(&mut batch, room) => if n == 0 { return },
                }
            } else {
                while batch.len() < MAX_BATCH {
                    match rx.try_recv() {
                        Ok(p) => batch.push(p),
                        Err(_) => break,
                    }
                }
            }
        }
        let before = batch.len();
        let aged = batch.iter_mut().filter(|p| p.queued.elapsed() >= max_age);
        returns.give_back_all(aged.filter_map(Pending::message_mut)).await;
        batch.retain(|p| p.queued.elapsed() < max_age);
        dropped.fetch_add((before - batch.len()) as u64, Ordering::Relaxed);
        if batch.is_empty() {
            continue;
        }
        let mut documents = Vec::with_capacity(batch.len());
        let mut saved = Vec::new();
        for pending in &batch {
            match &pending.item {
                Item::Message(message) => documents.push(to_document(pending.id, message)),
                Item::Session { pid, session, expires_at } => saved.push(doc! {
                    "_id": pid, "session": session, "expiresAt": expires_at,
                }),
            }
        }
        let inserted = match insert_all(&sessions, saved).await {
            Ok(()) => insert_all(&collection, documents).await,
            Err(e) => Err(e),
        };
        match inserted {
            Ok(()) => {
                health.up();
                backoff.reset();
                batch.clear();
            }
            Err(e) => {
                health.down(&e);
                // This instance's members get its sequenced broadcasts now, those still
                // waiting behind this batch included; the retry inserts them unsequenced.
                while let Ok(waiting) = rx.try_recv() {
                    batch.push(waiting);
                }
                returns.give_back_all(batch.iter_mut().filter_map(Pending::message_mut)).await;
                if !pause(&shutdown, backoff.next_delay()).await {
                    return;
                }
            }
        }
    }
}

impl MongoAdapter {
    fn send(&self, item: Item) {
        let pending = Pending { id: ObjectId::new(), queued: Instant::now(), item };
        if let Err(refused) = self.queue.try_send(pending) {
            count_dropped(&self.dropped, "MongoDB");
            if let Some(message) = refused.into_inner().message_mut() {
                self.returns.give_back_now(message);
            }
        }
    }
}

impl Adapter for MongoAdapter {
    fn publish(&self, message: ClusterMessage) {
        let size = message.data.get().len() + message.channel.len();
        if size > MAX_PAYLOAD {
            if let Some(total) = count_for_log(&self.oversized) {
                tracing::warn!(
                    bytes = size,
                    total,
                    "message over MongoDB's 16 MiB document limit: not shared with other instances (this instance's members still get it)"
                );
            }
            let mut message = message;
            self.returns.give_back_now(&mut message);
            return;
        }
        self.send(Item::Message(message));
    }

    fn subscribe(
        &self,
        sink: mpsc::Sender<ClusterMessage>,
        shutdown: CancellationToken,
    ) -> AdapterTask {
        self.returns.set(&sink);
        let first = self.first_stream.lock().ok().and_then(|mut s| s.take());
        let collection = self.collection.clone();
        let origin = self.origin.clone();
        let health = Health::new("MongoDB", "change stream", self.links.receiving.clone());
        Box::pin(follow((collection, origin), first, sink, shutdown, health))
    }

    fn status(&self) -> AdapterStatus {
        let queued = self.queue.max_capacity() - self.queue.capacity();
        AdapterStatus { up: self.links.up(), queued }
    }

    fn sequences(&self) -> bool {
        true
    }

    fn sessions(&self) -> Option<Arc<dyn SessionStore>> {
        let queue = self.queue.downgrade();
        Some(Arc::new(MongoSessions { queue, sessions: self.sessions.clone() }))
    }
}

async fn follow(
    (collection, origin): (Collection<Document>, Arc<str>),
    mut stream: Option<ChangeStream<ChangeStreamEvent<Document>>>,
    sink: mpsc::Sender<ClusterMessage>,
    shutdown: CancellationToken,
    mut health: Health,
) {
    let mut backoff = Backoff::default();
    let mut resume = None;
    loop {
        // Resumed from a token, the stream misses nothing since the last event we had.
        let mut continuous = resume.is_some();
        let open = || open_stream(&collection, &origin, resume.clone());
        let first = stream.take();
        let Some(mut current) =
            open_with_backoff(first, &shutdown, &mut health, &mut backoff, open).await
        else {
            return;
        };
        health.up();
        backoff.reset();
        loop {
            let next = tokio::select! {
                _ = shutdown.cancelled() => return,
                next = current.next() => next,
            };
            match next {
                Some(Ok(event)) => {
                    resume = Some(event.id.clone());
                    let Some(document) = event.full_document.as_ref() else { continue };
                    let Some(mut message) = from_document(document) else { continue };
                    if document.get_bool("q").unwrap_or(false) {
                        let Some(time) = event.cluster_time else { continue };
                        let offset = offset_of(time);
                        message.order = Order::Sequenced(Sequence { offset, continuous });
                        continuous = true;
                    }
                    if message.is_for(&origin) && sink.send(message).await.is_err() {
                        return;
                    }
                }
                Some(Err(e)) => {
                    health.down(&e);
                    break;
                }
                None => break,
            }
        }
        if let Some(token) = current.resume_token() {
            resume = Some(token);
        }
        if !pause(&shutdown, backoff.next_delay()).await {
            return;
        }
    }
}
