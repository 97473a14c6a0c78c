//! The socketioxide engine: long-polling, websocket upgrades of polling sessions, other
//! Engine.IO versions, refused origins and bridged streams (TLS, Windows, Unix-socket
//! servers in attach mode), served by
//! socketioxide over hyper. socketioxide is named nowhere else in the core.

pub mod client;
pub mod first_ping;
pub mod handlers;
pub mod http;
pub mod io;

use std::{
    str::FromStr,
    sync::{Arc, Mutex, Weak},
};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use socketioxide::{
    extract::{SocketRef, TryData},
    handler::ConnectHandler,
    socket::Sid,
    SendError, SocketError, SocketIo, TransportType,
};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use crate::{
    broadcast::Broadcast,
    client::{cut_off_slow, Client},
    engine::{Engine, EngineFuture},
    metrics::Metrics,
    shared::Shared,
};
use client::SioClient;
use http::HttpEntry;
use io::{ClientIo, KillSwitch};

/// hyper's per-connection read buffer limit: the smallest it accepts. A connection's buffer
/// stays allocated after the websocket upgrade, so it is paid per idle socket.
const HTTP_READ_BUFFER: usize = 8192;

/// The socketioxide engine of one server.
pub struct SioEngine {
    io: SocketIo,
    /// Set once closing starts: socketioxide's namespace is gone then (queries would panic).
    closing: std::sync::atomic::AtomicBool,
    entry: HttpEntry,
    connections: Mutex<Vec<Weak<KillSwitch>>>,
    metrics: Arc<Metrics>,
}

impl SioEngine {
    /// Builds the Socket.IO service for `shared`'s configuration; must run inside the runtime.
    pub fn new(shared: &Arc<Shared>) -> Self {
        let config = &shared.config;
        let payload_limit = usize::try_from(config.max_payload).unwrap_or(usize::MAX);
        let builder = SocketIo::builder().req_path(config.path.clone());
        let builder = match (config.transports.polling, config.transports.websocket) {
            (true, false) => builder.transports([TransportType::Polling]),
            (false, true) => builder.transports([TransportType::Websocket]),
            _ => builder,
        };
        let (service, io) = builder
            .ping_interval(config.ping_interval)
            .ping_timeout(config.ping_timeout)
            .connect_timeout(config.connect_timeout)
            .max_payload(config.max_payload)
            // Socket.IO's maxHttpBufferSize bounds websocket messages too.
            .ws_max_message_size(payload_limit)
            .ws_max_frame_size(payload_limit)
            .max_buffer_size(config.max_buffered_packets)
            .ws_read_buffer_size(config.ws_read_buffer_size)
            .build_svc();
        let on_connect = shared.clone();
        let middleware = move |s: SocketRef, TryData(auth): TryData<Value>| {
            handlers::on_connect(on_connect.clone(), s, auth)
        };
        let on_connected = shared.clone();
        let connected = move |s: SocketRef| handlers::on_connected(on_connected.clone(), s);
        io.ns("/", connected.with(middleware));
        let entry = HttpEntry::new(service, config.cors.clone(), config.ping_interval);
        let metrics = shared.metrics.clone();
        let closing = std::sync::atomic::AtomicBool::new(false);
        Self { io, closing, entry, connections: Mutex::new(Vec::new()), metrics }
    }

    /// Serves HTTP/1 (with upgrades) on any byte stream from `peer`, after replaying
    /// `prefix`, as a task of `tasks` that ends when `shutdown` fires.
    pub fn serve_io<I>(
        &self,
        io: I,
        peer: Option<std::net::IpAddr>,
        prefix: Bytes,
        tasks: &TaskTracker,
        runtime: &tokio::runtime::Handle,
        shutdown: CancellationToken,
    ) where
        I: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    {
        let kill = Arc::new(KillSwitch::default());
        self.track(&kill);
        let entry = self.entry.for_connection(kill.clone(), peer.map(http::PeerAddr));
        let io = TokioIo::new(ClientIo::new(io, prefix, kill, self.metrics.clone()));
        let serve = async move {
            let conn = http1::Builder::new()
                .max_buf_size(HTTP_READ_BUFFER)
                .serve_connection(io, entry)
                .with_upgrades();
            tokio::pin!(conn);
            tokio::select! {
                result = conn.as_mut() => {
                    if let Err(error) = result {
                        tracing::debug!(%error, "connection ended with an error");
                    }
                }
                _ = shutdown.cancelled() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
        };
        tasks.spawn_on(serve, runtime);
    }

    fn track(&self, kill: &Arc<KillSwitch>) {
        let mut connections = self.connections.lock().unwrap_or_else(|e| e.into_inner());
        if connections.len() == connections.capacity() {
            connections.retain(|c| c.strong_count() > 0);
        }
        connections.push(Arc::downgrade(kill));
    }

    /// Answers one HTTP request (attach mode: long-polling, handshake) that Node received
    /// from `peer`; its bytes both ways are counted.
    pub async fn answer(
        &self,
        mut req: ::http::Request<Full<Bytes>>,
        peer: Option<std::net::IpAddr>,
    ) -> ::http::Response<Bytes> {
        if let Some(peer) = peer {
            req.extensions_mut().insert(http::PeerAddr(peer));
        }
        if let Some(size) = hyper::body::Body::size_hint(req.body()).exact() {
            self.metrics.received(usize::try_from(size).unwrap_or(usize::MAX));
        }
        let res = match hyper::service::Service::call(&self.entry, req).await {
            Ok(res) => res,
            Err(never) => match never {},
        };
        let (parts, body) = res.into_parts();
        let body = match body.collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(never) => match never {},
        };
        self.metrics.sent(body.len());
        ::http::Response::from_parts(parts, body)
    }
}

impl Engine for SioEngine {
    fn socket(&self, sid: &str) -> Option<Client> {
        let sid = Sid::from_str(sid).ok()?;
        let socket = self.io.get_socket(sid).filter(|s| s.connected())?;
        Some(handlers::client(socket, &self.metrics))
    }

    fn member_ids(&self, room: &str) -> Vec<String> {
        self.io.to(room.to_owned()).sockets().into_iter().map(|s| s.id.to_string()).collect()
    }

    fn deliver(&self, batch: &[Broadcast]) {
        for broadcast in batch {
            let event = broadcast.channel.category();
            let members = self.io.to(broadcast.channel.as_str().to_owned()).sockets();
            self.metrics.delivered(event, members.len());
            for socket in members {
                match socket.emit(event, &*broadcast.data) {
                    Ok(()) => {}
                    Err(SendError::Socket(SocketError::InternalChannelFull)) => {
                        cut_off_slow(&SioClient::new(socket, self.metrics.clone()));
                    }
                    Err(_) => {} // the socket closed meanwhile
                }
            }
        }
    }

    fn room_names(&self) -> EngineFuture<Vec<String>> {
        if self.closing.load(std::sync::atomic::Ordering::Acquire) {
            return Box::pin(async { Vec::new() });
        }
        let io = self.io.clone();
        Box::pin(async move {
            let rooms = io.rooms().await.unwrap_or_default();
            rooms.into_iter().map(|r| r.into_owned()).collect()
        })
    }

    fn begin_close_all(&self) -> EngineFuture {
        self.closing.store(true, std::sync::atomic::Ordering::Release);
        let io = self.io.clone();
        Box::pin(async move { io.close().await })
    }

    fn kill_all(&self) {
        let connections =
            std::mem::take(&mut *self.connections.lock().unwrap_or_else(|e| e.into_inner()));
        for kill in connections.iter().filter_map(Weak::upgrade) {
            kill.kill();
        }
    }
}
