//! The Redis backend: broadcasts go through one pub/sub channel shared by the instances.

use std::{
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{
    backoff::{count_dropped, open_with_backoff, pause, Backoff, Health, Links},
    from_unix_millis, unix_millis, Adapter, AdapterError, AdapterStatus, AdapterTask,
    ClusterMessage, MessageKind,
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

/// The message on the wire: JSON with the payload embedded as is; `t` is when it was
/// published (Unix milliseconds; absent from older instances' messages).
#[derive(Serialize)]
struct WireOut<'a> {
    o: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    k: Option<&'a str>,
    c: &'a str,
    d: &'a RawValue,
    t: u64,
}

#[derive(Deserialize)]
struct WireIn {
    o: String,
    #[serde(default)]
    k: Option<String>,
    c: String,
    d: Box<RawValue>,
    #[serde(default)]
    t: Option<u64>,
}

/// The Redis adapter.
pub struct RedisAdapter {
    origin: Arc<str>,
    client: redis::Client,
    channel: String,
    queue: mpsc::Sender<(Instant, ClusterMessage)>,
    first_subscription: Mutex<Option<redis::aio::PubSub>>,
    dropped: Arc<AtomicU64>,
    links: Links,
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
        let publisher = publish_loop(
            client.clone(),
            connection,
            (config.channel.clone(), rx),
            shutdown,
            config.max_publish_age,
            (dropped.clone(), Health::new("Redis", "publish", links.publishing.clone())),
        );
        let adapter = Arc::new(Self {
            origin,
            client,
            channel: config.channel,
            queue,
            first_subscription: Mutex::new(Some(pubsub)),
            dropped,
            links,
        });
        Ok((adapter, Box::pin(publisher)))
    }
}

/// Encodes a message for the channel; `None` if its data is not JSON.
fn encode(message: &ClusterMessage) -> Option<String> {
    let wire = WireOut {
        o: &message.origin,
        k: message.kind.wire_name(),
        c: &message.channel,
        d: &message.data,
        t: unix_millis(std::time::SystemTime::now()),
    };
    serde_json::to_string(&wire).ok()
}

fn decode(payload: &[u8]) -> Option<ClusterMessage> {
    let wire: WireIn = serde_json::from_slice(payload).ok()?;
    Some(ClusterMessage {
        origin: wire.o.into(),
        kind: MessageKind::from_wire_name(wire.k.as_deref())?,
        channel: wire.c,
        data: Arc::from(wire.d),
        sent_at: wire.t.map(from_unix_millis),
    })
}

/// Messages sent to Redis in one pipeline: a burst costs one round trip per this many
/// messages instead of one each.
const MAX_PIPELINE: usize = 256;

/// Publishes what is queued, in order, in pipelines of up to [`MAX_PIPELINE`]; a pipeline that
/// fails is sent again (on a fresh connection, with backoff) minus what has grown older than
/// `max_age`, which is dropped and counted.
async fn publish_loop(
    client: redis::Client,
    mut connection: redis::aio::MultiplexedConnection,
    (channel, mut rx): (String, mpsc::Receiver<(Instant, ClusterMessage)>),
    shutdown: CancellationToken,
    max_age: Duration,
    (dropped, mut health): (Arc<AtomicU64>, Health),
) {
    let mut backoff = Backoff::default();
    let mut taken = Vec::with_capacity(MAX_PIPELINE);
    let mut batch: Vec<(Instant, String)> = Vec::with_capacity(MAX_PIPELINE);
    loop {
        let received = tokio::select! {
            _ = shutdown.cancelled() => return,
            n = rx.recv_many(&mut taken, MAX_PIPELINE) => n,
        };
        if received == 0 {
            return;
        }
        batch.extend(taken.drain(..).filter_map(|(queued, m)| Some((queued, encode(&m)?))));
        loop {
            let before = batch.len();
            batch.retain(|(queued, _)| queued.elapsed() < max_age);
            dropped.fetch_add((before - batch.len()) as u64, Ordering::Relaxed);
            if batch.is_empty() {
                break;
            }
            let mut pipeline = redis::pipe();
            for (_, payload) in &batch {
                pipeline.cmd("PUBLISH").arg(&channel).arg(payload).ignore();
            }
            match pipeline.query_async::<()>(&mut connection).await {
                Ok(()) => {
                    health.up();
                    backoff.reset();
                    batch.clear();
                    break;
                }
                Err(e) => {
                    health.down(&e);
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

impl Adapter for RedisAdapter {
    fn publish(&self, message: ClusterMessage) {
        if self.queue.try_send((Instant::now(), message)).is_err() {
            count_dropped(&self.dropped, "Redis");
        }
    }

    fn subscribe(
        &self,
        sink: mpsc::Sender<ClusterMessage>,
        shutdown: CancellationToken,
    ) -> AdapterTask {
        let first = self.first_subscription.lock().ok().and_then(|mut s| s.take());
        let client = self.client.clone();
        let channel = self.channel.clone();
        let origin = self.origin.clone();
        let health = Health::new("Redis", "subscribe", self.links.receiving.clone());
        Box::pin(follow((client, channel, origin), first, sink, shutdown, health))
    }

    fn status(&self) -> AdapterStatus {
        let queued = self.queue.max_capacity() - self.queue.capacity();
        AdapterStatus { up: self.links.up(), queued }
    }
}

async fn follow(
    (client, channel, origin): (redis::Client, String, Arc<str>),
    mut subscription: Option<redis::aio::PubSub>,
    sink: mpsc::Sender<ClusterMessage>,
    shutdown: CancellationToken,
    mut health: Health,
) {
    let mut backoff = Backoff::default();
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
        {
            let mut messages = pubsub.on_message();
            loop {
                let next = tokio::select! {
                    _ = shutdown.cancelled() => return,
                    next = messages.next() => next,
                };
                let Some(msg) = next else { break };
                let Some(message) = decode(msg.get_payload_bytes()) else { continue };
                if message.origin != origin && sink.send(message).await.is_err() {
                    return;
                }
            }
        }
        health.down(&"subscription closed");
        if !pause(&shutdown, backoff.next_delay()).await {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_round_trip_keeps_the_json_text() {
        for kind in [None, Some("presence")] {
            let message =
                ClusterMessage::from_parts("a", kind, "chat:1".into(), r#"{"x":[1,"é"]}"#.into())
                    .unwrap();
            let encoded = encode(&message).unwrap();
            let decoded = decode(encoded.as_bytes()).unwrap();
            assert_eq!(decoded, message);
            let age = decoded.sent_at.unwrap().elapsed().unwrap_or_default();
            assert!(age < Duration::from_secs(5), "sent_at is when it was encoded");
        }
        let older = decode(br#"{"o":"a","c":"chat:1","d":1}"#).unwrap();
        assert_eq!(older.sent_at, None, "an older instance's message has no time");
        assert_eq!(decode(b"not json"), None);
        assert_eq!(decode(br#"{"o":"a","k":"future","c":"","d":1}"#), None);
    }
}
