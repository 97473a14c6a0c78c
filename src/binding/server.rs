//! The `NativeServer` class: one core [`Server`] driven by the JS layer (`lib/`).

use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Method, Request};
use http_body_util::Full;
use napi::{
    bindgen_prelude::{Buffer, FnArgs, Function},
    threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode},
    Env,
};
use napi_derive::napi;

use crate::{
    binding::{
        adapter::{self, Backend, JsMongoOptions, JsRedisOptions},
        bridge::{self, BridgeSink, JsBridge},
        errors::{broadcast_error, invalid_arg, serve_error, socket_op_error},
        hook_calls::{HookBatch, HookQueue},
        hooks::{JsCallbacks, JsHooks, JsPayload, LocalMembersFn},
        options::JsServerOptions,
        runtime,
    },
    core::{config::Config, errors::SocketOpError, server::Server},
};

/// `(fd) => void`: takes a connection the server did not keep (see `takeOverWith`).
pub type GiveBackFn =
    ThreadsafeFunction<FnArgs<(i32,)>, (), FnArgs<(i32,)>, napi::Status, false, true>;

/// An HTTP request Node received under the server's path (attach mode, long-polling).
#[napi(object, js_name = "ForwardedRequest")]
pub struct JsForwardedRequest {
    /// `GET`, `POST`, `OPTIONS`, ...
    pub method: String,
    /// Path and query, e.g. `/socket.io/?EIO=4&transport=polling`.
    pub url: String,
    /// Node's `req.rawHeaders`: name, value, name, value, ...
    pub raw_headers: Vec<String>,
    /// The request body.
    pub body: Buffer,
    /// The client's IP address (Node's `req.socket.remoteAddress`), when known.
    pub remote_address: Option<String>,
}

/// The answer to a [`JsForwardedRequest`].
#[napi(object, js_name = "ForwardedResponse")]
pub struct JsForwardedResponse {
    /// HTTP status code.
    pub status: u32,
    /// Header names and values, alternating.
    pub headers: Vec<String>,
    /// The response body.
    pub body: Buffer,
}

/// The outcome of `emitWithAck`: the client's ack arguments, or why there are none.
#[napi(object, js_name = "AckOutcome")]
pub struct JsAckOutcome {
    /// The acknowledgement's arguments.
    pub args: Option<JsPayload>,
    /// `'gone'` (the socket disconnected) or `'timeout'`.
    pub failure: Option<String>,
}

/// The native Socket.IO server. Used by the JS layer (`startWebsocketServer`); not meant to
/// be constructed by apps directly.
#[napi(js_name = "NativeServer")]
pub struct JsNativeServer {
    server: Arc<Server>,
}

#[napi]
impl JsNativeServer {
    /// Builds a server. `hookCalls` receives every hook call in batches (see the `HOOK_*`
    /// kinds); without `authenticates` every connection is anonymous.
    #[napi(constructor, catch_unwind)]
    pub fn new(
        options: JsServerOptions,
        authenticates: bool,
        #[napi(ts_arg_type = "(...batch: unknown[]) => void")] hook_calls: Function<
            '_,
            HookBatch,
            (),
        >,
        #[napi(ts_arg_type = "((channel: string) => string) | undefined | null")]
        local_members: Option<LocalMembersFn>,
    ) -> napi::Result<Self> {
        let mut config = Config::try_from(options)?;
        config.authenticate = authenticates;
        let calls = HookQueue::new(hook_calls)?;
        let callbacks = JsCallbacks { calls, authenticates, local_members };
        let hooks = Arc::new(JsHooks::new(callbacks));
        let server = Server::start(config, hooks, runtime::handle());
        Ok(Self { server })
    }

    /// Standalone mode: listens on `host:port` (0 = any free port); resolves to the port.
    #[napi(catch_unwind)]
    pub async fn listen(&self, host: String, port: u32) -> napi::Result<u32> {
        let port = u16::try_from(port)
            .map_err(|_| invalid_arg(format!("port must be between 0 and 65535, got {port}")))?;
        let addr = self.server.listen(&host, port).await.map_err(serve_error)?;
        Ok(addr.port().into())
    }

    /// Attach mode: takes over the upgraded TCP connection `fd` (duplicated; the caller
    /// destroys its own socket afterwards), replaying `head` (the request head and any bytes
    /// Node already read) first.
    #[napi(catch_unwind)]
    pub fn adopt(&self, fd: i32, head: Buffer) -> napi::Result<()> {
        #[cfg(unix)]
        {
            self.server.adopt_fd(fd, Bytes::copy_from_slice(&head)).map_err(serve_error)
        }
        #[cfg(not(unix))]
        {
            let _ = (fd, head);
            Err(invalid_arg("adopting a file descriptor is only supported on Unix"))
        }
    }

    /// Attach mode, early takeover: returns `takeOver(fd)`, which offers the just-accepted
    /// TCP connection `fd` (duplicated; the caller closes its own copy) before anything was
    /// read from it. A new websocket session is served natively; anything else goes to
    /// `giveBack(fd)` unread, and JS owns that descriptor. `takeOver` throws (the caller then
    /// serves the connection itself) when the server is closed. A plain function rather than
    /// a method: Node's thread calls it for every accepted connection, and a method call
    /// pays napi-rs's receiver checks and borrow tracking (≈4 % of that thread in a storm).
    #[napi(catch_unwind, ts_return_type = "(fd: number) => void")]
    pub fn take_over_with<'env>(
        &self,
        env: &'env Env,
        #[napi(ts_arg_type = "(fd: number) => void")] give_back: GiveBackFn,
    ) -> napi::Result<Function<'env, FnArgs<(i32,)>, ()>> {
        #[cfg(unix)]
        {
            let give_back: crate::core::server::GiveBack = Arc::new(move |fd| {
                use std::os::fd::IntoRawFd;
                let raw = fd.into_raw_fd();
                let status =
                    give_back.call(FnArgs::from((raw,)), ThreadsafeFunctionCallMode::NonBlocking);
                if status != napi::Status::Ok {
                    // JS is gone: nobody will serve the connection.
                    // SAFETY: `raw` was released above and was not handed to JS.
                    drop(unsafe {
                        <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(raw)
                    });
                }
            });
            let server = self.server.clone();
            env.create_function_from_closure("takeOver", move |call| {
                let fd: i32 = call.get(0)?;
                server.take_over_fd(fd, give_back.clone()).map_err(serve_error)
            })
        }
        #[cfg(not(unix))]
        {
            let _ = (env, give_back);
            Err(invalid_arg("taking over connections is only supported on Unix"))
        }
    }

    /// Attach mode without a descriptor (TLS, Windows): serves a connection whose bytes JS
    /// relays. `head` is the request head plus bytes already read; server bytes go to `sink`.
    #[napi(catch_unwind)]
    pub fn open_bridge(
        &self,
        head: Buffer,
        #[napi(ts_arg_type = "(chunk: Buffer | null) => Promise<void>")] sink: BridgeSink,
    ) -> napi::Result<JsBridge> {
        bridge::open(&self.server, Bytes::copy_from_slice(&head), sink)
    }

    /// Attach mode: answers one HTTP request Node received under the server's path.
    #[napi(catch_unwind)]
    pub async fn forward(&self, request: JsForwardedRequest) -> napi::Result<JsForwardedResponse> {
        let peer = request
            .remote_address
            .as_deref()
            .and_then(|ip| ip.parse::<std::net::IpAddr>().ok())
            .map(|ip| ip.to_canonical());
        let request = build_request(request)?;
        let response = self.server.forward(request, peer).await.map_err(serve_error)?;
        let (parts, body) = response.into_parts();
        let mut headers = Vec::with_capacity(parts.headers.len() * 2);
        for (name, value) in &parts.headers {
            headers.push(name.as_str().to_owned());
            headers.push(String::from_utf8_lossy(value.as_bytes()).into_owned());
        }
        Ok(JsForwardedResponse {
            status: parts.status.as_u16().into(),
            headers,
            body: body.to_vec().into(),
        })
    }

    /// Queues `json` (JSON text, serialized once by the caller) as event `category` to every
    /// member of `category:id`. Synchronous and cheap: delivery happens on the runtime.
    #[napi(catch_unwind)]
    pub fn broadcast(&self, category: String, id: String, json: String) -> napi::Result<()> {
        self.server.broadcast(&category, &id, json).map_err(broadcast_error)
    }

    /// Shares this server's channels through MongoDB (`mongodb`) or Redis (`redis`); exactly
    /// one must be given. Resolves once connected, subscribed and (MongoDB) indexed.
    #[napi(catch_unwind)]
    pub async fn connect_adapter(
        &self,
        mongodb: Option<JsMongoOptions>,
        redis: Option<JsRedisOptions>,
    ) -> napi::Result<()> {
        let backend = Backend::from_options(mongodb, redis)?;
        let (adapter, publisher) =
            adapter::connect(backend, self.server.origin(), self.server.shutdown_token()).await?;
        self.server.use_adapter(adapter, publisher);
        Ok(())
    }

    /// Starts or stops `socketNotice` calls for connections and disconnections.
    #[napi(catch_unwind)]
    pub fn set_socket_notices(&self, enabled: bool) {
        self.server.set_socket_notices(enabled);
    }

    /// Routes client events named `event` to the `event` dispatcher, or stops doing so.
    #[napi(catch_unwind)]
    pub fn set_event_route(&self, event: String, enabled: bool) {
        self.server.set_event_route(&event, enabled);
    }

    /// Sends `event` to one socket; `false` if it has disconnected.
    #[napi(catch_unwind)]
    pub fn emit(&self, sid: String, event: String, payload: JsPayload) -> napi::Result<bool> {
        self.server.emit_to(&sid, &event, payload.into()).map_err(socket_op_error)
    }

    /// Sends `event` to one socket and waits up to `timeoutMs` for its acknowledgement.
    #[napi(catch_unwind)]
    pub async fn emit_with_ack(
        &self,
        sid: String,
        event: String,
        payload: JsPayload,
        timeout_ms: u32,
    ) -> napi::Result<JsAckOutcome> {
        let timeout = std::time::Duration::from_millis(timeout_ms.into());
        match self.server.emit_with_ack(&sid, &event, payload.into(), timeout).await {
            Ok(args) => Ok(JsAckOutcome { args: Some(args.into()), failure: None }),
            Err(SocketOpError::Gone) => {
                Ok(JsAckOutcome { args: None, failure: Some("gone".into()) })
            }
            Err(SocketOpError::AckTimeout) => {
                Ok(JsAckOutcome { args: None, failure: Some("timeout".into()) })
            }
            Err(error) => Err(socket_op_error(error)),
        }
    }

    /// Adds a socket to a channel without an access check; `false` if it has disconnected.
    #[napi(catch_unwind)]
    pub fn join(&self, sid: String, channel: String) -> napi::Result<bool> {
        self.server.join(&sid, &channel).map_err(socket_op_error)
    }

    /// Removes a socket from a channel; `false` if it has disconnected.
    #[napi(catch_unwind)]
    pub fn leave(&self, sid: String, channel: String) -> bool {
        self.server.leave(&sid, &channel)
    }

    /// The channels a socket is in, or null if it has disconnected.
    #[napi(catch_unwind)]
    pub fn rooms(&self, sid: String) -> Option<Vec<String>> {
        self.server.rooms(&sid)
    }

    /// Disconnects a socket; `false` if it was already gone.
    #[napi(catch_unwind)]
    pub fn disconnect(&self, sid: String) -> bool {
        self.server.disconnect(&sid)
    }

    /// Socket ids of this instance's members of `channel`.
    #[napi(catch_unwind)]
    pub fn members(&self, channel: String) -> Vec<String> {
        self.server.members(&channel)
    }

    /// The members of `channel` on the other instances of the cluster: one JSON array text of
    /// `{ socketId, user }` per instance that answered within `presenceTimeoutMs`.
    #[napi(catch_unwind)]
    pub async fn remote_members(&self, channel: String) -> Vec<String> {
        self.server.remote_members(&channel).await
    }

    /// The server's metrics in the Prometheus text format (version 0.0.4).
    #[napi(catch_unwind)]
    pub async fn metrics(&self) -> String {
        self.server.metrics_text().await
    }

    /// The main figures as JSON text (`server.stats()` parses it).
    #[napi(catch_unwind)]
    pub async fn stats(&self) -> String {
        self.server.stats().await.to_string()
    }

    /// Stops accepting, disconnects every client and releases the port.
    #[napi(catch_unwind)]
    pub async fn close(&self) -> napi::Result<()> {
        self.server.close().await;
        Ok(())
    }
}

fn build_request(request: JsForwardedRequest) -> napi::Result<Request<Full<Bytes>>> {
    let method = Method::from_bytes(request.method.as_bytes())
        .map_err(|_| invalid_arg(format!("invalid HTTP method {:?}", request.method)))?;
    let mut builder = Request::builder().method(method).uri(&request.url);
    for pair in request.raw_headers.chunks_exact(2) {
        let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(pair[0].as_bytes()),
            HeaderValue::from_bytes(pair[1].as_bytes()),
        ) else {
            continue;
        };
        builder = builder.header(name, value);
    }
    builder
        .body(Full::new(Bytes::copy_from_slice(&request.body)))
        .map_err(|e| invalid_arg(format!("invalid forwarded request: {e}")))
}
