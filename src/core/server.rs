//! One running websocket server: assembles the Socket.IO service, takes connections (its own
//! listener, adopted file descriptors, forwarded requests, bridged streams) and closes them all.

use std::{
    collections::HashSet,
    net::SocketAddr,
    str::FromStr,
    sync::{atomic::AtomicBool, atomic::Ordering, Arc, Mutex, RwLock, Weak},
    time::Duration,
};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use serde_json::{value::RawValue, Value};
use socketioxide::{
    extract::{SocketRef, TryData},
    handler::ConnectHandler,
    socket::Sid,
    SendError, SocketError, SocketIo, TransportType,
};
use tokio::net::TcpStream;
use tokio::{
    io::{AsyncRead, AsyncWrite},
    runtime::Handle,
    sync::OnceCell,
};
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use crate::core::{
    adapter::{instance_id, local::LocalAdapter, Adapter, AdapterTask},
    channel::room_name,
    client::{Client, Undelivered},
    cluster::{route_incoming, ClusterLink},
    config::Config,
    connection::{ClientIo, KillSwitch},
    errors::{BroadcastError, ServeError, SocketOpError},
    fanout::{BroadcastQueue, Broadcaster},
    hooks::AppHooks,
    http::HttpEntry,
    native::{
        handshake::head_end,
        native_upgrade, packet,
        socket::{CloseReason, SendError as NativeSendError},
        NativeEngine, Registry,
    },
    payload::{OutgoingArgs, Payload},
    presence::Presence,
    session::Shared,
};

/// Messages from other instances waiting for local delivery; when full, the subscription
/// waits (backpressure on the backend's stream, nothing dropped).
const REMOTE_QUEUE: usize = 4096;

/// hyper's per-connection read buffer limit: the smallest it accepts. A connection's buffer
/// stays allocated after the websocket upgrade, so it is paid per idle socket.
const HTTP_READ_BUFFER: usize = 8192;

/// Longest request head read before deciding which engine serves a standalone connection;
/// a longer one goes to hyper, which refuses it.
const MAX_SNIFFED_HEAD: usize = 8192;

/// How long a standalone connection may take to send its first request head.
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);

/// Standalone listen backlog: Node's default, since tokio's 128 overflows in connect storms.
const LISTEN_BACKLOG: i32 = 511;

/// A running server. Cheap to share; every method may be called from any thread.
pub struct Server {
    io: SocketIo,
    entry: HttpEntry,
    /// Websocket sessions the server opens itself; `None` when websocket is not allowed.
    native: Option<Arc<NativeEngine>>,
    broadcaster: Arc<Broadcaster>,
    link: Arc<ClusterLink>,
    presence: Arc<Presence>,
    /// The adapter's publishing task: on close it gets the grace period to flush.
    adapter_tasks: TaskTracker,
    config: Arc<Shared>,
    runtime: Handle,
    shutdown: CancellationToken,
    /// Fires once `close()` has disconnected every socket: pending forwarded requests give up.
    finished: CancellationToken,
    tasks: TaskTracker,
    connections: Mutex<Vec<Weak<KillSwitch>>>,
    closed: OnceCell<()>,
}

impl Server {
    /// Builds the Socket.IO service for `config` on `runtime`, calling `hooks` for the app.
    pub fn start(config: Config, hooks: Arc<dyn AppHooks>, runtime: Handle) -> Arc<Self> {
        let _entered = runtime.enter();
        let payload_limit = usize::try_from(config.max_payload).unwrap_or(usize::MAX);
        let builder = SocketIo::builder().req_path(config.path.clone());
        let builder = match (config.transports.polling, config.transports.websocket) {
            (true, false) => builder.transports([TransportType::Polling]),
            (false, true) => builder.transports([TransportType::Websocket]),
            _ => builder,
        };
        let (sio, io) = builder
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
        let categories = config.channels.iter().map(|c| (c.category.clone(), c.clone())).collect();
        let entry = HttpEntry::new(sio, config.cors.clone());
        let shutdown = CancellationToken::new();
        let registry = Arc::new(Registry::default());
        let (queue, drain) = BroadcastQueue::new(
            io.clone(),
            registry.clone(),
            config.broadcast_queue_capacity,
            shutdown.clone(),
        );
        let link = Arc::new(ClusterLink::new(instance_id().into()));
        let broadcaster = Arc::new(Broadcaster::new(queue, link.clone()));
        let presence = Arc::new(Presence::new(link.clone(), hooks.clone(), config.presence));
        let shared = Arc::new(Shared {
            config,
            categories,
            hooks,
            wants_socket_notices: AtomicBool::new(false),
            event_names: RwLock::new(HashSet::new()),
            broadcaster: broadcaster.clone(),
        });

        let native = shared
            .config
            .transports
            .websocket
            .then(|| Arc::new(NativeEngine { shared: shared.clone(), registry }));
        let on_connect = shared.clone();
        let middleware = move |s: SocketRef, TryData(auth): TryData<Value>| {
            on_connect.clone().on_connect(s, auth)
        };
        let on_connected = shared.clone();
        let connected = move |s: SocketRef| on_connected.clone().on_connected(s);
        io.ns("/", connected.with(middleware));

        let tasks = TaskTracker::new();
        tasks.spawn_on(drain, &runtime);
        tasks.spawn_on(crate::core::memory::trim_periodically(shutdown.clone()), &runtime);
        Arc::new(Self {
            io,
            entry,
            native,
            broadcaster,
            link,
            presence,
            adapter_tasks: TaskTracker::new(),
            config: shared,
            runtime,
            shutdown,
            finished: CancellationToken::new(),
            tasks,
            connections: Mutex::new(Vec::new()),
            closed: OnceCell::new(),
        })
    }

    /// The configuration the server runs with.
    pub fn config(&self) -> &Config {
        &self.config.config
    }

    fn ensure_open(&self) -> Result<(), ServeError> {
        if self.shutdown.is_cancelled() {
            Err(ServeError::Closed)
        } else {
            Ok(())
        }
    }

    /// Standalone mode: listens on `host:port` (port 0 = any free port) and serves every
    /// connection until [`Server::close`]. Returns the bound address.
    pub async fn listen(self: &Arc<Self>, host: &str, port: u16) -> Result<SocketAddr, ServeError> {
        self.ensure_open()?;
        let listen_error = |source| ServeError::Listen { addr: format!("{host}:{port}"), source };
        let addr = tokio::net::lookup_host((host, port))
            .await
            .map_err(listen_error)?
            .next()
            .ok_or_else(|| listen_error(std::io::ErrorKind::AddrNotAvailable.into()))?;
        let listener = bind(addr).map_err(listen_error)?;
        let local = listener.local_addr().map_err(listen_error)?;
        let server = self.clone();
        self.tasks.spawn_on(async move { server.accept_loop(listener).await }, &self.runtime);
        Ok(local)
    }

    async fn accept_loop(self: Arc<Self>, listener: tokio::net::TcpListener) {
        loop {
            tokio::select! {
                _ = self.shutdown.cancelled() => break,
                accepted = listener.accept() => match accepted {
                    Ok((stream, _peer)) => {
                        let _ = stream.set_nodelay(true);
                        let server = self.clone();
                        self.tasks.spawn_on(async move { server.route_standalone(stream).await }, &self.runtime);
                    }
                    Err(error) => {
                        // Out of file descriptors and the like: back off instead of spinning.
                        tracing::warn!(%error, "accept failed");
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    }
                },
            }
        }
    }

    /// Reads a standalone connection's first request head, then hands the connection to the
    /// engine that serves it.
    async fn route_standalone(self: Arc<Self>, stream: TcpStream) {
        let mut head = Vec::new();
        let read = tokio::time::timeout(HEAD_TIMEOUT, async {
            let mut chunk = [0u8; 1024];
            while head_end(&head).is_none() && head.len() < MAX_SNIFFED_HEAD {
                if stream.readable().await.is_err() {
                    return false;
                }
                match stream.try_read(&mut chunk) {
                    Ok(0) => return false,
                    Ok(n) => head.extend_from_slice(&chunk[..n]),
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    Err(_) => return false,
                }
            }
            true
        });
        if matches!(read.await, Ok(true)) {
            self.route(stream, Bytes::from(head));
        }
    }

    /// Serves a TCP connection whose request head has been read: a new websocket session
    /// goes to the native engine, anything else to hyper and socketioxide.
    fn route(&self, stream: TcpStream, head: Bytes) {
        if let Some(native) = &self.native {
            let cors = &self.config.config.cors;
            if let Some(upgrade) = native_upgrade(&head, &self.config.config.path, cors) {
                self.tasks.spawn_on(native.adopt(stream, head, upgrade), &self.runtime);
                return;
            }
        }
        self.serve_io(stream, head);
    }

    /// Attach mode on Unix: takes over a TCP connection whose request head Node already read.
    /// `fd` is duplicated (the caller closes its own copy); `head` is replayed first.
    #[cfg(unix)]
    pub fn adopt_fd(&self, fd: std::os::fd::RawFd, head: Bytes) -> Result<(), ServeError> {
        self.ensure_open()?;
        let _entered = self.runtime.enter();
        let stream = crate::core::connection::adopt_tcp_fd(fd).map_err(ServeError::Adopt)?;
        self.route(stream, head);
        Ok(())
    }

    /// Like [`Server::serve_io`], but refuses once the server is closed.
    pub fn serve_io_checked<I>(&self, io: I, prefix: Bytes) -> Result<(), ServeError>
    where
        I: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    {
        self.ensure_open()?;
        self.serve_io(io, prefix);
        Ok(())
    }

    /// Runs `task` on the server's runtime; `close()` waits for it (within the grace period).
    pub fn spawn<F>(&self, task: F)
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        self.tasks.spawn_on(task, &self.runtime);
    }

    /// Serves HTTP/1 (with upgrades) on any byte stream, after replaying `prefix`.
    pub fn serve_io<I>(&self, io: I, prefix: Bytes)
    where
        I: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    {
        let kill = Arc::new(KillSwitch::default());
        self.track(&kill);
        let entry = self.entry.for_connection(kill.clone());
        let io = TokioIo::new(ClientIo::new(io, prefix, kill));
        let shutdown = self.shutdown.clone();
        self.tasks.spawn_on(
            async move {
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
            },
            &self.runtime,
        );
    }

    fn track(&self, kill: &Arc<KillSwitch>) {
        let mut connections = self.connections.lock().unwrap_or_else(|e| e.into_inner());
        if connections.len() == connections.capacity() {
            connections.retain(|c| c.strong_count() > 0);
        }
        connections.push(Arc::downgrade(kill));
    }

    /// Attach mode: answers one HTTP request (long-polling, handshake) that Node received.
    pub async fn forward(&self, req: Request<Full<Bytes>>) -> Result<Response<Bytes>, ServeError> {
        self.ensure_open()?;
        let call = hyper::service::Service::call(&self.entry, req);
        let res = tokio::select! {
            res = call => match res {
                Ok(res) => res,
                Err(never) => match never {},
            },
            // A long-poll still waiting after every socket was closed has nothing more to get.
            _ = self.finished.cancelled() => return Err(ServeError::Closed),
        };
        let (parts, body) = res.into_parts();
        let body = match body.collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(never) => match never {},
        };
        Ok(Response::from_parts(parts, body))
    }

    /// Queues `json` (JSON text) as event `category` to the members of `category:id`.
    pub fn broadcast(&self, category: &str, id: &str, json: String) -> Result<(), BroadcastError> {
        if self.shutdown.is_cancelled() {
            return Err(BroadcastError::Closed);
        }
        let channel = room_name(category, id, self.config().max_channel_name_len)?;
        let data = RawValue::from_string(json)?;
        self.broadcaster.send(channel, data.into())
    }

    /// Shares this server's channels with other instances through `backend`, whose
    /// connecting is already done: starts its publishing and subscription tasks.
    pub fn use_adapter(&self, backend: Arc<dyn Adapter>, publisher: AdapterTask) {
        let (sink, incoming) = tokio::sync::mpsc::channel(REMOTE_QUEUE);
        let subscription = backend.subscribe(sink, self.shutdown.clone());
        self.adapter_tasks.spawn_on(publisher, &self.runtime);
        self.tasks.spawn_on(subscription, &self.runtime);
        let route = route_incoming(
            incoming,
            self.link.origin().clone(),
            self.broadcaster.clone(),
            self.presence.clone(),
            self.config().max_channel_name_len,
        );
        self.tasks.spawn_on(route, &self.runtime);
        self.link.set_adapter(backend);
        self.tasks.spawn_on(self.presence.clone().announce(self.shutdown.clone()), &self.runtime);
    }

    /// This instance's id in the cluster.
    pub fn origin(&self) -> Arc<str> {
        self.link.origin().clone()
    }

    /// A cancellation token that fires when the server closes (for adapters being set up).
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// The runtime the server runs on.
    pub fn runtime(&self) -> &Handle {
        &self.runtime
    }

    /// Starts or stops telling the app about connections and disconnections.
    pub fn set_socket_notices(&self, enabled: bool) {
        self.config.wants_socket_notices.store(enabled, Ordering::Release);
    }

    /// Routes client events named `event` to the app (`enabled`) or ignores them.
    pub fn set_event_route(&self, event: &str, enabled: bool) {
        if let Ok(mut names) = self.config.event_names.write() {
            if enabled {
                names.insert(event.to_owned());
            } else {
                names.remove(event);
            }
        }
    }

    fn socket(&self, sid: &str) -> Option<SocketRef> {
        let sid = Sid::from_str(sid).ok()?;
        self.io.get_socket(sid).filter(|s| s.connected())
    }

    /// The connected client with this socket id, on whichever engine.
    fn client(&self, sid: &str) -> Option<Client> {
        if let Some(native) = &self.native {
            if let Some(socket) = native.registry.get(sid) {
                return Some(Client::Native(socket, native.registry.clone()));
            }
        }
        self.socket(sid).map(Client::Engine)
    }

    /// Sends `event` with `args` to one socket. `Ok(false)` if the socket is gone.
    pub fn emit_to(&self, sid: &str, event: &str, args: Payload) -> Result<bool, SocketOpError> {
        let _entered = self.runtime.enter();
        let Some(client) = self.client(sid) else {
            // Still reject arguments that could never be sent.
            args.check()?;
            return Ok(false);
        };
        match client.emit_args(event, args) {
            Ok(()) => Ok(true),
            Err(Undelivered::Full) => {
                client.cut_off();
                Ok(false)
            }
            Err(Undelivered::Closed) => Ok(false),
            Err(Undelivered::Encode(error)) => Err(SocketOpError::Encode(error)),
        }
    }

    /// Sends `event` with `args` to one socket and waits up to `timeout` for its ack.
    pub async fn emit_with_ack(
        &self,
        sid: &str,
        event: &str,
        args: Payload,
        timeout: Duration,
    ) -> Result<Payload, SocketOpError> {
        match self.client(sid) {
            Some(Client::Native(socket, _)) => {
                args.check()?;
                let (id, answer) = socket.expect_ack();
                if let Err(error) = socket.send_all(&packet::event(event, &args, Some(id))) {
                    socket.forget_ack(id);
                    if error == NativeSendError::Full {
                        socket.cut_off_slow();
                    }
                    return Err(SocketOpError::Gone);
                }
                match tokio::time::timeout(timeout, answer).await {
                    Ok(Ok(reply)) => Ok(reply),
                    Ok(Err(_)) => Err(SocketOpError::Gone),
                    Err(_) => {
                        socket.forget_ack(id);
                        Err(SocketOpError::AckTimeout)
                    }
                }
            }
            Some(Client::Engine(socket)) => {
                self.engine_emit_with_ack(socket, event, args, timeout).await
            }
            None => {
                args.check()?;
                Err(SocketOpError::Gone)
            }
        }
    }

    async fn engine_emit_with_ack(
        &self,
        socket: SocketRef,
        event: &str,
        args: Payload,
        timeout: Duration,
    ) -> Result<Payload, SocketOpError> {
        let args = OutgoingArgs::try_from(args)?;
        let pending = match socket.timeout(timeout).emit_with_ack::<_, Payload>(event, &args) {
            Ok(pending) => pending,
            Err(SendError::Serialize(error)) => {
                return Err(SocketOpError::Encode(error.to_string()))
            }
            Err(SendError::Socket(SocketError::InternalChannelFull)) => {
                Client::Engine(socket).cut_off();
                return Err(SocketOpError::Gone);
            }
            Err(SendError::Socket(SocketError::Closed)) => return Err(SocketOpError::Gone),
        };
        pending.await.map_err(|error| match error {
            socketioxide::AckError::Timeout => SocketOpError::AckTimeout,
            socketioxide::AckError::Socket(_) => SocketOpError::Gone,
            other => SocketOpError::Encode(other.to_string()),
        })
    }

    /// Adds a socket to a channel without an access check. `false` if the socket is gone.
    pub fn join(&self, sid: &str, channel: &str) -> Result<bool, SocketOpError> {
        let _entered = self.runtime.enter();
        let name =
            crate::core::channel::ChannelName::parse(channel, self.config().max_channel_name_len)?;
        let Some(client) = self.client(sid) else { return Ok(false) };
        client.join(name.as_str());
        Ok(true)
    }

    /// Removes a socket from a channel. `false` if the socket is gone.
    pub fn leave(&self, sid: &str, channel: &str) -> bool {
        let _entered = self.runtime.enter();
        let Some(client) = self.client(sid) else { return false };
        client.leave(channel);
        true
    }

    /// The channels a socket is in, or `None` if it is gone.
    pub fn rooms(&self, sid: &str) -> Option<Vec<String>> {
        let _entered = self.runtime.enter();
        self.client(sid).map(|c| c.rooms())
    }

    /// Disconnects a socket. `false` if it was already gone.
    pub fn disconnect(&self, sid: &str) -> bool {
        let _entered = self.runtime.enter();
        let Some(client) = self.client(sid) else { return false };
        client.disconnect();
        true
    }

    /// The ids of this instance's sockets in `channel`.
    pub fn members(&self, channel: &str) -> Vec<String> {
        let _entered = self.runtime.enter();
        let mut ids: Vec<String> = self
            .io
            .to(channel.to_owned())
            .sockets()
            .into_iter()
            .map(|s| s.id.to_string())
            .collect();
        if let Some(native) = &self.native {
            ids.extend(native.registry.member_ids(channel));
        }
        ids
    }

    /// The members of `channel` on the other instances: one JSON array text of
    /// `{ socketId, user }` per instance that answered (see [`Presence::remote_members`]).
    pub async fn remote_members(&self, channel: &str) -> Vec<String> {
        if self.shutdown.is_cancelled() {
            return Vec::new();
        }
        self.presence.remote_members(channel).await
    }

    /// Stops accepting, disconnects every client, waits up to the configured grace for
    /// connections to finish, then cuts the rest. Later calls wait for the first to finish.
    pub async fn close(&self) {
        self.closed
            .get_or_init(|| async {
                let grace = self.config().close_grace;
                // Dropping the shared backend lets its publisher flush what is queued.
                self.presence.leave();
                self.link.set_adapter(Arc::new(LocalAdapter));
                self.adapter_tasks.close();
                let _ = tokio::time::timeout(grace, self.adapter_tasks.wait()).await;
                self.shutdown.cancel();
                let native = self.native.as_ref().map(|n| n.registry.all()).unwrap_or_default();
                for socket in &native {
                    socket.begin_close(CloseReason::ServerClosing);
                }
                self.io.close().await;
                self.finished.cancel();
                self.tasks.close();
                if tokio::time::timeout(grace, self.tasks.wait()).await.is_err() {
                    tracing::debug!("close grace elapsed: cutting remaining connections");
                }
                let connections = std::mem::take(
                    &mut *self.connections.lock().unwrap_or_else(|e| e.into_inner()),
                );
                for kill in connections.iter().filter_map(Weak::upgrade) {
                    kill.kill();
                }
                for socket in native {
                    socket.kill(CloseReason::ServerClosing);
                }
            })
            .await;
    }
}

fn bind(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::STREAM,
        Some(socket2::Protocol::TCP),
    )?;
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(LISTEN_BACKLOG)?;
    tokio::net::TcpListener::from_std(socket.into())
}
