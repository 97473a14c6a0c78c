//! The app's JS callbacks, called from Rust through weak threadsafe functions (they never
//! keep Node's event loop alive) and turned into [`AppHooks`]. Each call is queued to JS when
//! the hook is called ([`queue_call`], [`queue_answered_call`]), so calls keep the order the
//! core makes them in.

use std::{future::Future, sync::Arc};

use bytes::Bytes;
use napi::{
    bindgen_prelude::{Buffer, FnArgs, FromNapiValue, JsValuesTupleIntoVec, Promise},
    threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode},
    Status,
};
use napi_derive::napi;

use crate::binding::answers::{Answer, Answers};
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

/// `(callId, sid, token) => void`, answered with `answer(callId, 0)` once the auth context
/// is stored, or `answer(callId, 1, message)` to refuse the connection with `message`.
pub type AuthenticateFn = ThreadsafeFunction<
    FnArgs<(u32, String, Option<String>)>,
    (),
    FnArgs<(u32, String, Option<String>)>,
    Status,
    false,
    true,
>;

/// `(callId, sid, category, id) => void`, answered with `answer(callId, verdict)`: 0
/// allowed, 1 denied, 2 failed.
pub type CheckAccessFn = ThreadsafeFunction<
    FnArgs<(u32, String, String, String)>,
    (),
    FnArgs<(u32, String, String, String)>,
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
    callbacks: JsCallbacks,
    /// The calls answered by id (`authenticate`, access checks).
    answers: Arc<Answers>,
}

impl JsHooks {
    /// Wraps the JS dispatch functions; `answers` receives what JS answers by call id.
    pub fn new(callbacks: JsCallbacks, answers: Arc<Answers>) -> Self {
        Self { callbacks, answers }
    }
}

/// Queues one call of `callback` to JS, which answers it by id (see [`Answers`]); `None` if
/// JS is gone.
fn queue_answered_call<Args: JsValuesTupleIntoVec + 'static>(
    answers: &Arc<Answers>,
    callback: &ThreadsafeFunction<Args, (), Args, Status, false, true>,
    args: impl FnOnce(u32) -> Args,
) -> impl Future<Output = Option<Answer>> + Send + 'static {
    let (id, answer) = answers.expect();
    let status = callback.call(args(id), ThreadsafeFunctionCallMode::NonBlocking);
    async move {
        if status != Status::Ok {
            tracing::warn!(%status, "a hook could not be called");
            return None;
        }
        answer.await
    }
}

/// Queues one call of `callback` with `args` to JS now, and resolves to what it returned
/// (an error if it threw, or if JS is gone).
fn queue_call<Args, Returned>(
    callback: &ThreadsafeFunction<Args, Returned, Args, Status, false, true>,
    args: Args,
) -> impl Future<Output = napi::Result<Returned>> + Send + 'static
where
    Args: JsValuesTupleIntoVec + 'static,
    Returned: FromNapiValue + Send + 'static,
{
    let (answer, answered) = tokio::sync::oneshot::channel();
    let status = callback.call_with_return_value(
        args,
        ThreadsafeFunctionCallMode::NonBlocking,
        move |returned, _| {
            // The caller may have stopped waiting (timed out): nothing to tell then.
            let _ = answer.send(returned);
            Ok(())
        },
    );
    async move {
        if status != Status::Ok {
            return Err(napi::Error::from_status(status));
        }
        answered.await.unwrap_or_else(|_| Err(napi::Error::from_status(Status::Closing)))
    }
}

/// `authenticate`'s answer code for a stored auth context (anything else refuses).
const AUTHENTICATED: u32 = 0;
const ACCESS_ALLOWED: u32 = 0;
const ACCESS_DENIED: u32 = 1;

impl AppHooks for JsHooks {
    fn authenticate(&self, sid: String, token: Option<String>) -> HookFuture<Result<(), String>> {
        let Some(callback) = &self.callbacks.authenticate else {
            return Box::pin(async { Ok(()) });
        };
        let call =
            queue_answered_call(&self.answers, callback, |id| FnArgs::from((id, sid, token)));
        Box::pin(async move {
            match call.await {
                Some(Answer { code: AUTHENTICATED, .. }) => Ok(()),
                Some(Answer { message: Some(message), .. }) => Err(message),
                _ => Err("Authentication failed".to_owned()),
            }
        })
    }

    fn check_access(&self, sid: String, category: String, id: String) -> HookFuture<AccessVerdict> {
        let Some(callback) = &self.callbacks.check_access else {
            return Box::pin(async { AccessVerdict::Failed });
        };
        let call = queue_answered_call(&self.answers, callback, |call_id| {
            FnArgs::from((call_id, sid, category, id))
        });
        Box::pin(async move {
            match call.await.map(|answer| answer.code) {
                Some(ACCESS_ALLOWED) => AccessVerdict::Allowed,
                Some(ACCESS_DENIED) => AccessVerdict::Denied,
                _ => AccessVerdict::Failed,
            }
        })
    }

    fn forget(&self, sid: String) {
        if let Some(callback) = &self.callbacks.socket_notice {
            let args = ("gone".to_owned(), sid, None);
            callback.call(FnArgs::from(args), ThreadsafeFunctionCallMode::NonBlocking);
        }
    }

    fn socket_notice(&self, sid: String, notice: SocketNotice) {
        let Some(callback) = &self.callbacks.socket_notice else { return };
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
        let Some(callback) = &self.callbacks.event else {
            return Box::pin(async { None });
        };
        let args = FnArgs::from((sid, event, JsPayload::from(args), wants_ack));
        let call = queue_call(callback, args);
        Box::pin(async move {
            match call.await {
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
        let Some(callback) = &self.callbacks.publish else {
            return Box::pin(async { Err(String::new()) });
        };
        let call = queue_call(callback, FnArgs::from((sid, category, id, data)));
        Box::pin(async move {
            let outcome = match call.await {
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
        let Some(callback) = &self.callbacks.local_members else {
            return Box::pin(async { None });
        };
        let call = queue_call(callback, FnArgs::from((channel,)));
        Box::pin(async move {
            match call.await {
                Ok(json) => Some(json),
                Err(error) => {
                    tracing::warn!(%error, "presence lookup could not be called");
                    None
                }
            }
        })
    }
}
