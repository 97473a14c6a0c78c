//! The app's JS callbacks, called from Rust through weak threadsafe functions (they never
//! keep Node's event loop alive) and turned into [`AppHooks`]. Each call is queued to JS when
//! the hook is called ([`queue_call`], [`queue_answered_call`]), so calls keep the order the
//! core makes them in.

use std::future::Future;

use bytes::Bytes;
use napi::{
    bindgen_prelude::{Buffer, FnArgs, FromNapiValue, JsValuesTupleIntoVec},
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
        Payload { json: payload.json, binary: copy_parts(&payload.binary) }
    }
}

/// Binary parts from JS, copied out of V8's memory (JS may reuse a Buffer once the call
/// returns).
fn copy_parts(parts: &[Buffer]) -> Vec<Bytes> {
    parts.iter().map(|part| Bytes::copy_from_slice(part)).collect()
}

/// `(callId, sid, token) => void`, answered with `answerHookCall(callId, 0)` once the auth context
/// is stored, or `answerHookCall(callId, 1, message)` to refuse the connection with `message`.
pub type AuthenticateFn = ThreadsafeFunction<
    FnArgs<(u32, String, Option<String>)>,
    (),
    FnArgs<(u32, String, Option<String>)>,
    Status,
    false,
    true,
>;

/// `(callId, sid, category, id) => void`, answered with `answerHookCall(callId, verdict)`: 0
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

/// `(callId, sid, event, payload, wantsAck) => void`, answered with `answerHookCall(callId, 0)` (no
/// ack) or `answerHookCall(callId, 1, json, binary)` (the ack's arguments).
pub type EventFn = ThreadsafeFunction<
    FnArgs<(u32, String, String, JsPayload, bool)>,
    (),
    FnArgs<(u32, String, String, JsPayload, bool)>,
    Status,
    false,
    true,
>;

/// `(callId, sid, category, id, json) => void`, answered with `answerHookCall(callId, 0, json)`
/// (the JSON to broadcast) or `answerHookCall(callId, 1, message)` (rejected).
pub type PublishFn = ThreadsafeFunction<
    FnArgs<(u32, String, String, String, String)>,
    (),
    FnArgs<(u32, String, String, String, String)>,
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

/// [`AppHooks`] backed by the JS layer's dispatch functions. Every call but a presence
/// lookup is answered by call id ([`answer_hook_call`]).
pub struct JsHooks {
    callbacks: JsCallbacks,
}

impl JsHooks {
    /// Wraps the JS dispatch functions.
    pub fn new(callbacks: JsCallbacks) -> Self {
        Self { callbacks }
    }
}

/// Answers hook call `callId` (the first argument of `authenticate`, `checkAccess`, `event`
/// and `publish`): `authenticate` answers 0 (context stored) or 1 with the refusal message;
/// `checkAccess` its verdict; `event` 0 (no ack) or 1 with the ack's JSON and its `binary`
/// parts; `publish` 0 with the JSON to broadcast or 1 with the rejection message. Returns
/// false when the call is no longer awaited (it timed out); the answer is then ignored.
#[napi(js_name = "answerHookCall")]
pub fn answer_hook_call(
    call_id: u32,
    code: u32,
    message: Option<String>,
    binary: Option<Vec<Buffer>>,
) -> bool {
    let binary = binary.as_deref().map(copy_parts).unwrap_or_default();
    Answers::pending().settle(call_id, Answer { code, message, binary })
}

/// Queues one call of `callback` to JS, which answers it by id (see [`Answers`]); `None` if
/// JS is gone.
fn queue_answered_call<Args: JsValuesTupleIntoVec + 'static>(
    callback: &ThreadsafeFunction<Args, (), Args, Status, false, true>,
    args: impl FnOnce(u32) -> Args,
) -> impl Future<Output = Option<Answer>> + Send + 'static {
    let (id, answer) = Answers::pending().expect();
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
/// An event's answer code when the handler's result acknowledges it (0: no ack).
const EVENT_ACKED: u32 = 1;
/// A publish's answer code when `onPublish` accepted it (anything else rejects).
const PUBLISH_ACCEPTED: u32 = 0;

impl AppHooks for JsHooks {
    fn authenticate(&self, sid: String, token: Option<String>) -> HookFuture<Result<(), String>> {
        let Some(callback) = &self.callbacks.authenticate else {
            return Box::pin(async { Ok(()) });
        };
        let call = queue_answered_call(callback, |id| FnArgs::from((id, sid, token)));
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
        let call =
            queue_answered_call(callback, |call_id| FnArgs::from((call_id, sid, category, id)));
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
        let payload = JsPayload::from(args);
        let call =
            queue_answered_call(callback, |id| FnArgs::from((id, sid, event, payload, wants_ack)));
        Box::pin(async move {
            match call.await {
                Some(Answer { code: EVENT_ACKED, message: Some(json), binary }) => {
                    Some(Payload { json, binary })
                }
                _ => None,
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
        let call = queue_answered_call(callback, |call_id| {
            FnArgs::from((call_id, sid, category, id, data))
        });
        Box::pin(async move {
            match call.await {
                Some(Answer { code: PUBLISH_ACCEPTED, message: Some(json), .. }) => Ok(json),
                Some(Answer { message, .. }) => Err(message.unwrap_or_default()),
                None => Err(String::new()),
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
