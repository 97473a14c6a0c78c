//! The app's JS callbacks, called from Rust through weak threadsafe functions (they never
//! keep Node's event loop alive) and turned into [`AppHooks`].

use std::sync::Arc;

use bytes::Bytes;
use napi::{
    bindgen_prelude::{Buffer, FnArgs, Promise},
    threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode},
    Status,
};
use napi_derive::napi;

use crate::core::{
    hooks::{AccessVerdict, AppHooks, HookFuture, SocketNotice},
    payload::Payload,
};

/// Event arguments crossing the boundary: a JSON array text with socket.io binary
/// placeholders, and the binary parts as Buffers.
#[napi(object, js_name = "EventPayload")]
pub struct JsPayload {
    /// JSON array text, one element per argument.
    pub json: String,
    /// Binary parts, indexed by the placeholders' `num`.
    pub binary: Vec<Buffer>,
}

impl From<Payload> for JsPayload {
    fn from(payload: Payload) -> Self {
        let binary = payload.binary.iter().map(|b| Buffer::from(b.to_vec())).collect();
        JsPayload { json: payload.json, binary }
    }
}

impl From<JsPayload> for Payload {
    fn from(payload: JsPayload) -> Self {
        let binary = payload.binary.iter().map(|b| Bytes::copy_from_slice(b)).collect();
        Payload { json: payload.json, binary }
    }
}

/// What `onPublish` decided: the JSON to broadcast, or the rejection message.
#[napi(object, js_name = "PublishOutcome")]
pub struct JsPublishOutcome {
    /// JSON text to broadcast when accepted.
    pub json: Option<String>,
    /// The rejection message when refused.
    pub error: Option<String>,
}

/// `(sid, token) => Promise<string | null>`: null once the auth context is stored, else the
/// message to refuse the connection with. The JS side never rejects.
pub type AuthenticateFn = ThreadsafeFunction<
    FnArgs<(String, Option<String>)>,
    Promise<Option<String>>,
    FnArgs<(String, Option<String>)>,
    Status,
    false,
    true,
>;

/// `(sid, category, id) => Promise<number>`: 0 allowed, 1 denied, 2 failed.
pub type CheckAccessFn = ThreadsafeFunction<
    FnArgs<(String, String, String)>,
    Promise<u32>,
    FnArgs<(String, String, String)>,
    Status,
    false,
    true,
>;

/// `(kind, sid, reason)`: `'connect'`, `'disconnect'` (with socket.io's reason), `'gone'`
/// (nothing of the connection is left: forget its auth context) or `'event-timeout'` (with
/// the event whose `onEvent` handler did not settle in time). One function carries them all
/// so JS sees them in order.
pub type SocketNoticeFn = ThreadsafeFunction<
    FnArgs<(String, String, Option<String>)>,
    (),
    FnArgs<(String, String, Option<String>)>,
    Status,
    false,
    true,
>;

/// `(sid, event, payload, wantsAck) => Promise<EventPayload | null>`: the ack, or null.
pub type EventFn = ThreadsafeFunction<
    FnArgs<(String, String, JsPayload, bool)>,
    Promise<Option<JsPayload>>,
    FnArgs<(String, String, JsPayload, bool)>,
    Status,
    false,
    true,
>;

/// `(sid, category, id, json) => Promise<PublishOutcome>`.
pub type PublishFn = ThreadsafeFunction<
    FnArgs<(String, String, String, String)>,
    Promise<JsPublishOutcome>,
    FnArgs<(String, String, String, String)>,
    Status,
    false,
    true,
>;

/// `(channel) => string`: this instance's members of `channel` as a JSON array of
/// `{ socketId, user }`, answering another instance's presence query.
pub type LocalMembersFn =
    ThreadsafeFunction<FnArgs<(String,)>, String, FnArgs<(String,)>, Status, false, true>;

/// The JS layer's dispatch functions; a missing one means the feature is unused.
#[derive(Default)]
pub struct JsCallbacks {
    /// See [`AuthenticateFn`].
    pub authenticate: Option<AuthenticateFn>,
    /// See [`CheckAccessFn`].
    pub check_access: Option<CheckAccessFn>,
    /// See [`SocketNoticeFn`].
    pub socket_notice: Option<SocketNoticeFn>,
    /// See [`EventFn`].
    pub event: Option<EventFn>,
    /// See [`PublishFn`].
    pub publish: Option<PublishFn>,
    /// See [`LocalMembersFn`].
    pub local_members: Option<LocalMembersFn>,
}

/// [`AppHooks`] backed by the JS layer's dispatch functions.
pub struct JsHooks {
    authenticate: Option<Arc<AuthenticateFn>>,
    check_access: Option<Arc<CheckAccessFn>>,
    socket_notice: Option<SocketNoticeFn>,
    event: Option<Arc<EventFn>>,
    publish: Option<Arc<PublishFn>>,
    local_members: Option<Arc<LocalMembersFn>>,
}

impl JsHooks {
    /// Wraps the JS dispatch functions.
    pub fn new(callbacks: JsCallbacks) -> Self {
        Self {
            authenticate: callbacks.authenticate.map(Arc::new),
            check_access: callbacks.check_access.map(Arc::new),
            socket_notice: callbacks.socket_notice,
            event: callbacks.event.map(Arc::new),
            publish: callbacks.publish.map(Arc::new),
            local_members: callbacks.local_members.map(Arc::new),
        }
    }
}

const ACCESS_ALLOWED: u32 = 0;
const ACCESS_DENIED: u32 = 1;

impl AppHooks for JsHooks {
    fn authenticate(&self, sid: String, token: Option<String>) -> HookFuture<Result<(), String>> {
        let Some(callback) = self.authenticate.clone() else {
            return Box::pin(async { Ok(()) });
        };
        Box::pin(async move {
            let outcome = match callback.call_async_catch(FnArgs::from((sid, token))).await {
                Ok(promise) => promise.await,
                Err(error) => Err(error),
            };
            match outcome {
                Ok(None) => Ok(()),
                Ok(Some(message)) => Err(message),
                Err(error) => {
                    tracing::warn!(%error, "authenticate could not be called");
                    Err("Authentication failed".to_owned())
                }
            }
        })
    }

    fn check_access(&self, sid: String, category: String, id: String) -> HookFuture<AccessVerdict> {
        let Some(callback) = self.check_access.clone() else {
            return Box::pin(async { AccessVerdict::Failed });
        };
        Box::pin(async move {
            let outcome = match callback.call_async_catch(FnArgs::from((sid, category, id))).await {
                Ok(promise) => promise.await,
                Err(error) => Err(error),
            };
            match outcome {
                Ok(ACCESS_ALLOWED) => AccessVerdict::Allowed,
                Ok(ACCESS_DENIED) => AccessVerdict::Denied,
                Ok(_) => AccessVerdict::Failed,
                Err(error) => {
                    tracing::warn!(%error, "access check could not be called");
                    AccessVerdict::Failed
                }
            }
        })
    }

    fn forget(&self, sid: String) {
        if let Some(callback) = &self.socket_notice {
            let args = ("gone".to_owned(), sid, None);
            callback.call(FnArgs::from(args), ThreadsafeFunctionCallMode::NonBlocking);
        }
    }

    fn socket_notice(&self, sid: String, notice: SocketNotice) {
        let Some(callback) = &self.socket_notice else { return };
        let args = match notice {
            SocketNotice::Connected(info) => {
                let info = serde_json::json!({ "ip": info.ip, "userAgent": info.user_agent });
                ("connect".to_owned(), sid, Some(info.to_string()))
            }
            SocketNotice::Disconnected(reason) => ("disconnect".to_owned(), sid, Some(reason)),
            SocketNotice::EventTimedOut(event) => ("event-timeout".to_owned(), sid, Some(event)),
        };
        callback.call(FnArgs::from(args), ThreadsafeFunctionCallMode::NonBlocking);
    }

    fn on_event(
        &self,
        sid: String,
        event: String,
        args: Payload,
        wants_ack: bool,
    ) -> HookFuture<Option<Payload>> {
        let Some(callback) = self.event.clone() else {
            return Box::pin(async { None });
        };
        Box::pin(async move {
            let args = FnArgs::from((sid, event, JsPayload::from(args), wants_ack));
            match callback.call_async_catch(args).await {
                Ok(promise) => promise.await.ok().flatten().map(Payload::from),
                Err(error) => {
                    tracing::warn!(%error, "event handler could not be called");
                    None
                }
            }
        })
    }

    fn on_publish(
        &self,
        sid: String,
        category: String,
        id: String,
        data: String,
    ) -> HookFuture<Result<String, String>> {
        let Some(callback) = self.publish.clone() else {
            return Box::pin(async { Err(String::new()) });
        };
        Box::pin(async move {
            let outcome =
                match callback.call_async_catch(FnArgs::from((sid, category, id, data))).await {
                    Ok(promise) => promise.await,
                    Err(error) => Err(error),
                };
            match outcome {
                Ok(JsPublishOutcome { json: Some(json), .. }) => Ok(json),
                Ok(JsPublishOutcome { error, .. }) => Err(error.unwrap_or_default()),
                Err(_) => Err(String::new()),
            }
        })
    }

    fn local_members(&self, channel: String) -> HookFuture<Option<String>> {
        let Some(callback) = self.local_members.clone() else {
            return Box::pin(async { None });
        };
        Box::pin(async move {
            match callback.call_async_catch(FnArgs::from((channel,))).await {
                Ok(json) => Some(json),
                Err(error) => {
                    tracing::warn!(%error, "presence lookup could not be called");
                    None
                }
            }
        })
    }
}
