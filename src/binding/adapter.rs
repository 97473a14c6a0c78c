//! Adapter options from JS, and connecting a backend for a server or an emitter.

use std::{sync::Arc, time::Duration};

use napi_derive::napi;
use tokio_util::sync::CancellationToken;

use crate::{
    binding::{
        errors::{adapter_error, invalid_arg},
        runtime,
    },
    core::{
        adapter::{
            instance_id,
            mongodb::{MongoAdapter, MongoConfig},
            redis::{RedisAdapter, RedisConfig},
            Adapter, AdapterTask,
        },
        emitter::Emitter,
    },
};

/// How to share channels through MongoDB (change streams; needs a replica set).
#[napi(object, js_name = "MongoAdapterOptions")]
pub struct JsMongoOptions {
    /// Connection string.
    pub uri: String,
    /// Database; default: the URI's, else `modelence`.
    pub db_name: Option<String>,
    /// Shared collection; default `_modelenceSocketio`.
    pub collection: Option<String>,
    /// Seconds documents live (TTL index); default 3600.
    pub ttl_seconds: Option<u32>,
    /// Milliseconds start-up may wait for the server; default 10000.
    pub connect_timeout_ms: Option<u32>,
}

/// How to share channels through Redis pub/sub.
#[napi(object, js_name = "RedisAdapterOptions")]
pub struct JsRedisOptions {
    /// e.g. `redis://127.0.0.1:6379`.
    pub url: String,
    /// Pub/sub channel; default `modelence-ws#_modelenceSocketio`.
    pub channel: Option<String>,
    /// Milliseconds start-up may wait for the server; default 10000.
    pub connect_timeout_ms: Option<u32>,
}

impl TryFrom<JsMongoOptions> for MongoConfig {
    type Error = napi::Error;

    fn try_from(options: JsMongoOptions) -> napi::Result<Self> {
        let mut config = MongoConfig::new(options.uri);
        config.db_name = options.db_name;
        if let Some(collection) = options.collection {
            if collection.is_empty() || collection.contains('$') {
                return Err(invalid_arg(format!(
                    "mongodb.collection must be a non-empty name without '$', got {collection:?}"
                )));
            }
            config.collection = collection;
        }
        if let Some(ttl) = options.ttl_seconds {
            if ttl == 0 {
                return Err(invalid_arg("mongodb.ttlSeconds must be at least 1"));
            }
            config.ttl = Duration::from_secs(ttl.into());
        }
        if let Some(ms) = options.connect_timeout_ms {
            config.connect_timeout = Duration::from_millis(ms.into());
        }
        Ok(config)
    }
}

impl From<JsRedisOptions> for RedisConfig {
    fn from(options: JsRedisOptions) -> Self {
        let mut config = RedisConfig::new(options.url);
        if let Some(channel) = options.channel {
            config.channel = channel;
        }
        if let Some(ms) = options.connect_timeout_ms {
            config.connect_timeout = Duration::from_millis(ms.into());
        }
        config
    }
}

/// Which backend to connect.
pub enum Backend {
    /// MongoDB change streams.
    Mongo(MongoConfig),
    /// Redis pub/sub.
    Redis(RedisConfig),
}

impl Backend {
    /// The backend named by the JS options: exactly one of `mongodb` and `redis`.
    pub fn from_options(
        mongodb: Option<JsMongoOptions>,
        redis: Option<JsRedisOptions>,
    ) -> napi::Result<Self> {
        match (mongodb, redis) {
            (Some(m), None) => Ok(Backend::Mongo(MongoConfig::try_from(m)?)),
            (None, Some(r)) => Ok(Backend::Redis(RedisConfig::from(r))),
            _ => Err(invalid_arg("pass exactly one of mongodb or redis")),
        }
    }
}

/// Connects `backend` as instance `origin`; its tasks stop when `shutdown` fires.
pub async fn connect(
    backend: Backend,
    origin: Arc<str>,
    shutdown: CancellationToken,
) -> napi::Result<(Arc<dyn Adapter>, AdapterTask)> {
    let connected: Result<(Arc<dyn Adapter>, AdapterTask), _> = match backend {
        Backend::Mongo(config) => MongoAdapter::connect(config, origin, shutdown)
            .await
            .map(|(a, task)| (a as Arc<dyn Adapter>, task)),
        Backend::Redis(config) => RedisAdapter::connect(config, origin, shutdown)
            .await
            .map(|(a, task)| (a as Arc<dyn Adapter>, task)),
    };
    connected.map_err(adapter_error)
}

/// Publishes broadcasts to every instance sharing a backend, without running a server.
#[napi(js_name = "NativeEmitter")]
pub struct JsEmitter {
    emitter: Emitter,
}

/// Grace given to queued publishes on `close()`.
const EMITTER_CLOSE_GRACE: Duration = Duration::from_secs(5);

#[napi]
impl JsEmitter {
    /// Connects to MongoDB (`mongodb`) or Redis (`redis`); exactly one must be given.
    #[napi(factory, catch_unwind)]
    pub async fn connect(
        mongodb: Option<JsMongoOptions>,
        redis: Option<JsRedisOptions>,
    ) -> napi::Result<JsEmitter> {
        let backend = Backend::from_options(mongodb, redis)?;
        let origin: Arc<str> = instance_id().into();
        let shutdown = CancellationToken::new();
        let (adapter, publisher) = connect(backend, origin.clone(), shutdown.clone()).await?;
        let emitter = Emitter::new(adapter, publisher, origin, shutdown, &runtime::handle());
        Ok(JsEmitter { emitter })
    }

    /// Publishes `json` as event `category` to `category:id` on every instance.
    #[napi(catch_unwind)]
    pub fn broadcast(&self, category: String, id: String, json: String) -> napi::Result<()> {
        self.emitter
            .broadcast(&category, &id, json)
            .map_err(crate::binding::errors::broadcast_error)
    }

    /// Flushes queued broadcasts (up to 5 s) and disconnects.
    #[napi(catch_unwind)]
    pub async fn close(&self) -> napi::Result<()> {
        self.emitter.close(EMITTER_CLOSE_GRACE).await;
        Ok(())
    }
}
