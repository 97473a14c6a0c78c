//! The Redis backend: broadcasts go through one pub/sub channel shared by the instances.
//! Sequenced broadcasts (recovery on) are numbered and published by one script
//! ([`SEQUENCE_SCRIPT`]), so every instance receives them in the order of their numbers;
//! recoverable sessions are keys with an expiry, taken with `GETDEL`.

use std::{
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use futures_util::StreamExt;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

mod echoes;
mod wire;

use echoes::Echoes;
use wire::{command, decode, sequence_key, session_key, Command, Outgoing, SEQUENCE_SCRIPT};

use super::{
    backoff::{count_dropped, open_with_backoff, pause, Backoff, Health, Links},
    unix_millis, Adapter, AdapterError, AdapterStatus, AdapterTask, ClusterMessage, Order, Returns,
    SessionStore, StoreFuture,
};

/// How to reach Redis, with every limit.
#[derive(Debug, Clone)]
pub struct RedisConfig {
    /// e.g. `redis://127.0.0.1:6379/`.
    pub url: String,
    /// The pub/sub channel the instances share. Default `modelence-ws#_modelenceSocketio`.
    pub channel: String,
    /// How long start-up may wait for the server. Default 10 s.
    pub connect_timeout: Duration,
    /// Broadcasts waiting to be published; when full, new ones are dropped and counted.
    /// Default 10,000.
    pub publish_queue: usize,
    /// A broadcast not published within this age (Redis down) is dropped. Default 30 s.
    pub max_publish_age: Duration,
}

impl RedisConfig {
    /// A configuration with the defaults for `url`.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            channel: format!("modelence-ws#{}", crate::protocol::DEFAULT_COLLECTION),
            connect_timeout: Duration::from_secs(10),
            publish_queue: 10_000,
            max_publish_age: Duration::from_secs(30),
        }
    }
}

/// The Redis adapter.
pub struct RedisAdapter {
    origin: Arc<str>,
    client: redis::Client,
    channel: String,
    queue: mpsc::Sender<(Instant, Outgoing)>,
    first_subscription: Mutex<Option<redis::aio::PubSub>>,
    dropped: Arc<AtomicU64>,
    links: Links,
    /// Where the publishing task gives back sequenced broadcasts it failed to publish.
    returns: Returns,
    /// Own sequenced broadcasts Redis numbered that the subscription still owes.
    echoes: Echoes,
    /// A connection for taking sessions, opened on first use and after a failure.
    takes: Arc<tokio::sync::Mutex<Option<redis::aio::MultiplexedConnection>>>,
}

fn unreachable(address: &str, error: impl std::fmt::Display) -> AdapterError {
    AdapterError::Unreachable {
        backend: "Redis",
        address: address.to_owned(),
        detail: error.to_string(),
    }
}

impl RedisAdapter {
    /// Connects, checks the server answers, subscribes. Returns the adapter and its
    /// publishing task.
    pub async fn connect(
        config: RedisConfig,
        origin: Arc<str>,
        shutdown: CancellationToken,
    ) -> Result<(Arc<Self>, AdapterTask), AdapterError> {
        let client = redis::Client::open(config.url.as_str()).map_err(|e| {
            AdapterError::InvalidAddress { backend: "Redis", detail: e.to_string() }
        })?;
        let address = config.url.clone();
        let timeout = config.connect_timeout;
        let connection = tokio::time::timeout(timeout, client.get_multiplexed_async_connection())
            .await
            .map_err(|_| unreachable(&address, "timed out"))?
            .map_err(|e| unreachable(&address, e))?;
        let mut pubsub = tokio::time::timeout(timeout, client.get_async_pubsub())
            .await
            .map_err(|_| unreachable(&address, "timed out"))?
            .map_err(|e| unreachable(&address, e))?;
        pubsub.subscribe(&config.channel).await.map_err(|e| unreachable(&address, e))?;

        let (queue, rx) = mpsc::channel(config.publish_queue.max(1));
        let dropped = Arc::new(AtomicU64::new(0));
        let links = Links::default();
        let returns = Returns::default();
        let echoes = Echoes::default();
        // Sessions are taken on a connection of their own (a take never waits behind a
        // pipeline of publishes), opened now so the first recovery does not pay for it.
        let takes = tokio::time::timeout(timeout, client.get_multiplexed_async_connection())
            .await
            .ok()
            .and_then(Result::ok);
        let publisher = publish_loop(
            client.clone(),
            connection,
            (config.channel.clone(), rx),
            shutdown,
            config.max_publish_age,
            (dropped.clone(), Health::new("Redis", "publish", links.publishing.clone())),
            (returns.clone(), echoes.clone()),
        );
        let adapter = Arc::new(Self {
            origin,
            client,
            channel: config.channel,
            queue,
            first_subscription: Mutex::new(Some(pubsub)),
            dropped,
            links,
            takes: Arc::new(tokio::sync::Mutex::new(takes)),
            returns,
            echoes,
        });
        Ok((adapter, Box::pin(publisher)))
    }
}

/// Messages sent to Redis in one pipeline: a burst costs one round trip per this many
/// messages instead of one each.
const MAX_PIPELINE: usize = 256;

/// Publishes what is queued, in order, in pipelines of up to [`MAX_PIPELINE`] (encoded per
/// attempt); a pipeline that fails is sent again (on a fresh connection, with backoff) minus
/// what has grown older than `max_age`, which is dropped and counted.
async fn publish_loop(
    client: redis::Client,
    mut connection: redis::aio::MultiplexedConnection,
    (channel, mut rx): (String, mpsc::Receiver<(Instant, Outgoing)>),
    shutdown: CancellationToken,
    max_age: Duration,
    (dropped, mut health): (Arc<AtomicU64>, Health),
    (returns, echoes): (Returns, Echoes),
) {
    let mut backoff = Backoff::default();
    let mut batch: Vec<(Instant, Outgoing)> = Vec::with_capacity(MAX_PIPELINE);
    let counter = sequence_key(&channel);
    loop {
        let received = tokio::select! {
            _ = shutdown.cancelled() => return,
            n = rx.recv_many(&mut batch, MAX_PIPELINE) => n,
        };
        if received == 0 {
            return;
        }
        loop {
            let before = batch.len();
            let aged = batch.iter_mut().filter(|(at, _)| at.elapsed() >= max_age);
            returns.give_back_all(aged.filter_map(|(_, o)| o.message_mut())).await;
            batch.retain(|(at, _)| at.elapsed() < max_age);
            dropped.fetch_add((before - batch.len()) as u64, Ordering::Relaxed);
            if batch.is_empty() {
                break;
            }
            let mut pipeline = redis::pipe();
            let clock_us = unix_millis(std::time::SystemTime::now()).saturating_mul(1000);
            // Own broadcasts Redis is asked to number, in pipeline order: its replies are
            // their numbers, kept until the subscription brings them back (`Echoes`).
            let mut numbered = Vec::new();
            for (_, outgoing) in &batch {
                let Some(command) = command(outgoing, &channel) else { continue };
                match command {
                    Command::Publish(payload) => {
                        pipeline.cmd("PUBLISH").arg(&channel).arg(payload).ignore();
                    }
                    Command::Sequenced(head, tail) => {
                        pipeline
                            .cmd("EVAL")
                            .arg(SEQUENCE_SCRIPT)
                            .arg(1)
                            .arg(&counter)
                            .arg(head)
                            .arg(tail)
                            .arg(clock_us)
                            .arg(&channel);
                        numbered.extend(outgoing.message().cloned());
                    }
                    Command::Session { key, session, ttl_ms } => {
                        pipeline.cmd("SET").arg(key).arg(session).arg("PX").arg(ttl_ms).ignore();
                    }
                }
            }
            match pipeline.query_async::<Vec<u64>>(&mut connection).await {
                Ok(numbers) => {
                    for (n, message) in numbers.into_iter().zip(numbered) {
                        if let Some(mut unechoed) = echoes.published(n, message) {
                            returns.give_back(&mut unechoed).await;
                        }
                    }
                    health.up();
                    backoff.reset();
                    batch.clear();
                    break;
                }
                Err(e) => {
                    health.down(&e);
                    // This instance's members get its sequenced broadcasts now, not when (or
                    // if) Redis is back, those still waiting behind this batch included; the
                    // retry publishes them plainly.
                    while let Ok(waiting) = rx.try_recv() {
                        batch.push(waiting);
                    }
                    returns
                        .give_back_all(batch.iter_mut().filter_map(|(_, o)| o.message_mut()))
                        .await;
                    if !pause(&shutdown, backoff.next_delay()).await {
                        return;
                    }
                    if let Ok(fresh) = client.get_multiplexed_async_connection().await {
                        connection = fresh;
                    }
                }
            }
        }
    }
}

impl RedisAdapter {
    fn send(&self, outgoing: Outgoing) {
        if let Err(refused) = self.queue.try_send((Instant::now(), outgoing)) {
            count_dropped(&self.dropped, "Redis");
            if let Some(message) = refused.into_inner().1.message_mut() {
                self.returns.give_back_now(message);
            }
        }
    }
}

impl Adapter for RedisAdapter {
    fn publish(&self, message: ClusterMessage) {
        self.send(Outgoing::Message(message));
    }

    fn subscribe(
        &self,
        sink: mpsc::Sender<ClusterMessage>,
        shutdown: CancellationToken,
    ) -> AdapterTask {
        self.returns.set(&sink);
        let first = self.first_subscription.lock().ok().and_then(|mut s| s.take());
        let client = self.client.clone();
        let channel = self.channel.clone();
        let origin = self.origin.clone();
        let health = Health::new("Redis", "subscribe", self.links.receiving.clone());
        let owed = (self.returns.clone(), self.echoes.clone());
        Box::pin(follow((client, channel, origin), first, sink, shutdown, (health, owed)))
    }

    fn status(&self) -> AdapterStatus {
        let queued = self.queue.max_capacity() - self.queue.capacity();
        AdapterStatus { up: self.links.up(), queued }
    }

    fn sequences(&self) -> bool {
        true
    }

    fn sessions(&self) -> Option<Arc<dyn SessionStore>> {
        Some(Arc::new(RedisSessions {
            adapter_queue: self.queue.downgrade(),
            dropped: self.dropped.clone(),
            client: self.client.clone(),
            channel: self.channel.clone(),
            takes: self.takes.clone(),
        }))
    }
}

/// Sessions as Redis keys: saved through the publishing task (`SET … PX`), taken with
/// `GETDEL` (atomic: one taker gets it).
struct RedisSessions {
    /// Weak: the adapter's going away closes the queue, which lets the publisher finish.
    adapter_queue: mpsc::WeakSender<(Instant, Outgoing)>,
    dropped: Arc<AtomicU64>,
    client: redis::Client,
    channel: String,
    takes: Arc<tokio::sync::Mutex<Option<redis::aio::MultiplexedConnection>>>,
}

impl SessionStore for RedisSessions {
    fn save(&self, pid: &str, session: String, ttl: Duration) {
        let outgoing = Outgoing::Session { pid: pid.to_owned(), session, ttl };
        let Some(queue) = self.adapter_queue.upgrade() else { return };
        if queue.try_send((Instant::now(), outgoing)).is_err() {
            count_dropped(&self.dropped, "Redis");
        }
    }

    fn take(&self, pid: &str) -> StoreFuture<Option<String>> {
        let key = session_key(&self.channel, pid);
        let (client, takes) = (self.client.clone(), self.takes.clone());
        Box::pin(async move {
            let mut cached = takes.lock().await;
            if cached.is_none() {
                *cached = client.get_multiplexed_async_connection().await.ok();
            }
            let connection = cached.as_mut()?;
            let taken = redis::cmd("GETDEL").arg(&key).query_async(connection).await;
            match taken {
                Ok(session) => session,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot take a recoverable session from Redis");
                    *cached = None;
                    None
                }
            }
        })
    }
}

async fn follow(
    (client, channel, origin): (redis::Client, String, Arc<str>),
    mut subscription: Option<redis::aio::PubSub>,
    sink: mpsc::Sender<ClusterMessage>,
    shutdown: CancellationToken,
    (mut health, (returns, echoes)): (Health, (Returns, Echoes)),
) {
    let mut backoff = Backoff::default();
    let mut last = None;
    loop {
        let open = || async {
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.subscribe(&channel).await?;
            Ok::<_, redis::RedisError>(pubsub)
        };
        let first = subscription.take();
        let Some(mut pubsub) =
            open_with_backoff(first, &shutdown, &mut health, &mut backoff, open).await
        else {
            return;
        };
        health.up();
        backoff.reset();
        echoes.following();
        {
            let mut messages = pubsub.on_message();
            loop {
                let next = tokio::select! {
                    _ = shutdown.cancelled() => return,
                    next = messages.next() => next,
                };
                let Some(msg) = next else { break };
                let Some(message) = decode(msg.get_payload_bytes(), last) else { continue };
                if let Order::Sequenced(sequence) = message.order {
                    last = Some(sequence.offset);
                    echoes.echoed(sequence.offset);
                }
                if message.is_for(&origin) && sink.send(message).await.is_err() {
                    return;
                }
            }
        }
        health.down(&"subscription closed");
        // What Redis numbered for this instance but never brought back: its members get it
        // from here (unsequenced), not never.
        returns.give_back_all(echoes.unfollowed().iter_mut()).await;
        if !pause(&shutdown, backoff.next_delay()).await {
            return;
        }
    }
}
