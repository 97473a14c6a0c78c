//! The app's JS callbacks turned into [`AppHooks`]. Each call is queued for JS when the hook
//! is called (in batches, [`HookQueue`]; a presence lookup through its own weak threadsafe
//! function, [`queue_call`]), so calls keep the order the core makes them in. JS answers by
//! call id with the `ANSWER_*` codes below.

use std::future::Future;

use bytes::Bytes;
use napi::{
    bindgen_prelude::{Buffer, FnArgs, FromNapiValue, JsValuesTupleIntoVec, Uint32Array},
    threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode},
    Status,
};
use napi_derive::napi;

use crate::binding::{
    answers::{Answer, Answers, AwaitedAnswer},
    hook_calls::{HookCall, HookQueue},
};
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

/// `(channel) => string`: this instance's members of `channel` as a JSON array of
/// `{ socketId, user }`, answering another instance's presence query.
pub type LocalMembersFn =
    ThreadsafeFunction<FnArgs<(String,)>, String, FnArgs<(String,)>, Status, false, true>;

/// The JS layer's side of the hooks.
pub struct JsCallbacks {
    /// Every hook call but a presence lookup, in batches.
    pub calls: HookQueue,
    /// Whether the app authenticates connections (otherwise they are anonymous and
    /// `authenticate` is never queued).
    pub authenticates: bool,
    /// See [`LocalMembersFn`].
    pub local_members: Option<LocalMembersFn>,
}

/// [`AppHooks`] backed by the JS layer. Every call but a presence lookup is queued for JS
/// ([`HookQueue`]) and answered by call id ([`answer_hook_call`], [`answer_hook_calls`]).
pub struct JsHooks {
    callbacks: JsCallbacks,
}

impl JsHooks {
    /// Wraps the JS side.
    pub fn new(callbacks: JsCallbacks) -> Self {
        Self { callbacks }
    }

    /// Queues the call `call(id)` builds and returns its answer.
    fn answered(&self, call: impl FnOnce(u32) -> HookCall) -> AwaitedAnswer {
        let (id, answer) = Answers::pending().expect();
        self.callbacks.calls.push(call(id));
        answer
    }
}

/// Answers hook call `callId` (see the `HOOK_*` kinds) with one of its hook's `ANSWER_*`
/// codes: a refusal or rejection with its `message`, an acked event with the ack's JSON as
/// `message` and its `binary` parts, an accepted publish with the JSON to broadcast. Returns
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

/// Answers several calls that take a code only: `pairs` is `[callId, code, callId, code, …]`
/// (JS answers what settled in one tick together). Returns how many were still awaited.
#[napi(js_name = "answerHookCalls")]
pub fn answer_hook_calls(pairs: Uint32Array) -> u32 {
    let settled = Answers::pending().settle_codes(&pairs);
    u32::try_from(settled).unwrap_or(u32::MAX)
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

/// `authenticate`'s answer: the auth context is stored.
#[napi]
pub const ANSWER_AUTH_STORED: u32 = 0;
/// `authenticate`'s answer: the connection is refused, with the message to send it.
#[napi]
pub const ANSWER_AUTH_REFUSED: u32 = 1;
/// An access check's answer: allowed.
#[napi]
pub const ANSWER_ACCESS_ALLOWED: u32 = 0;
/// An access check's answer: denied.
#[napi]
pub const ANSWER_ACCESS_DENIED: u32 = 1;
/// An access check's answer: the check failed (threw, or returned something else).
#[napi]
pub const ANSWER_ACCESS_FAILED: u32 = 2;
/// An event's answer: no acknowledgement.
#[napi]
pub const ANSWER_EVENT_NO_ACK: u32 = 0;
/// An event's answer: acknowledged, with the ack's JSON and binary parts.
#[napi]
pub const ANSWER_EVENT_ACKED: u32 = 1;
/// A publish's answer: accepted, with the JSON to broadcast.
#[napi]
pub const ANSWER_PUBLISH_ACCEPTED: u32 = 0;
/// A publish's answer: rejected, with the message.
#[napi]
pub const ANSWER_PUBLISH_REJECTED: u32 = 1;

impl AppHooks for JsHooks {
    fn authenticate(&self, sid: String, token: Option<String>) -> HookFuture<Result<(), String>> {
        if !self.callbacks.authenticates {
            return Box::pin(async { Ok(()) });
        }
        let call = self.answered(|id| HookCall::Authenticate { id, sid, token });
        Box::pin(async move {
            match call.await {
                Some(Answer { code: ANSWER_AUTH_STORED, .. }) => Ok(()),
                Some(Answer { message: Some(message), .. }) => Err(message),
                _ => Err("Authentication failed".to_owned()),
            }
        })
    }

    fn check_access(&self, sid: String, category: String, id: String) -> HookFuture<AccessVerdict> {
        let call = self.answered(|call_id| HookCall::CheckAccess {
            id: call_id,
            sid,
            category,
            channel_id: id,
        });
        Box::pin(async move {
            match call.await.map(|answer| answer.code) {
                Some(ANSWER_ACCESS_ALLOWED) => AccessVerdict::Allowed,
                Some(ANSWER_ACCESS_DENIED) => AccessVerdict::Denied,
                _ => AccessVerdict::Failed,
            }
        })
    }

    fn forget(&self, sid: String) {
        self.callbacks.calls.push(HookCall::SocketNotice { sid, notice: "gone", detail: None });
    }

    fn socket_notice(&self, sid: String, notice: SocketNotice) {
        let (notice, detail) = match notice {
            SocketNotice::Connected(info) => {
                let info = serde_json::json!({ "ip": info.ip, "userAgent": info.user_agent });
                ("connect", info.to_string())
            }
            SocketNotice::Disconnected(reason) => ("disconnect", reason),
            SocketNotice::EventTimedOut(event) => ("event-timeout", event),
        };
        self.callbacks.calls.push(HookCall::SocketNotice { sid, notice, detail: Some(detail) });
    }

    fn on_event(
        &self,
        sid: String,
        event: String,
        args: Payload,
        wants_ack: bool,
    ) -> HookFuture<Option<Payload>> {
        let payload = JsPayload::from(args);
        let call = self.answered(|id| HookCall::Event { id, sid, event, payload, wants_ack });
        Box::pin(async move {
            match call.await {
                Some(Answer { code: ANSWER_EVENT_ACKED, message: Some(json), binary }) => {
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
        let call = self.answered(|call_id| HookCall::Publish {
            id: call_id,
            sid,
            category,
            channel_id: id,
            json: data,
        });
        Box::pin(async move {
            match call.await {
                Some(Answer { code: ANSWER_PUBLISH_ACCEPTED, message: Some(json), .. }) => Ok(json),
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
