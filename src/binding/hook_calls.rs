//! Hook calls on their way to JS, handed over in batches. Every hook call the core makes
//! (authenticate, access check, socket notice, event, publish) joins one queue; the first
//! call into an empty queue wakes Node's thread, and JS receives everything queued by then
//! in one call (one JS entry and one microtask checkpoint per batch, not per call). One
//! queue keeps every kind of call in the order the core made them: with a threadsafe
//! function per hook, libuv drained their queues in handle order, so an event could reach
//! JS after its socket's `'disconnect'` notice although the core made it first.

use std::sync::{Arc, Mutex, MutexGuard};

use napi::{
    bindgen_prelude::{FnArgs, Function, ToNapiValue},
    sys,
    threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode},
    Status,
};
use napi_derive::napi;

use crate::binding::{answers::Answers, hooks::JsPayload};

/// Slots per call in a batch: kind, call id, sid, then up to three arguments (unused ones
/// are left empty).
#[napi]
pub const HOOK_CALL_FIELDS: u32 = 6;
/// Kind of `[kind, callId, sid, token]`: answered with an `ANSWER_AUTH_*` code.
#[napi]
pub const HOOK_AUTHENTICATE: u32 = 0;
/// Kind of `[kind, callId, sid, category, id]`: answered with an `ANSWER_ACCESS_*` code.
#[napi]
pub const HOOK_CHECK_ACCESS: u32 = 1;
/// Kind of `[kind, 0, sid, notice, detail]`, never answered: `notice` is `'connect'` (detail:
/// `{ ip, userAgent }` as JSON), `'disconnect'` (socket.io's reason), `'gone'` (forget the
/// socket's auth context) or `'event-timeout'` (the event whose handler did not settle).
#[napi]
pub const HOOK_SOCKET_NOTICE: u32 = 2;
/// Kind of `[kind, callId, sid, event, payload, wantsAck]`: answered with an
/// `ANSWER_EVENT_*` code (with the ack's JSON and binary parts when acked).
#[napi]
pub const HOOK_EVENT: u32 = 3;
/// Kind of `[kind, callId, sid, category, id, json]`: answered with an `ANSWER_PUBLISH_*`
/// code and the JSON to broadcast or the rejection message.
#[napi]
pub const HOOK_PUBLISH: u32 = 4;

/// One call of an app hook, as JS receives it (see the `HOOK_*` kinds).
pub(crate) enum HookCall {
    /// [`HOOK_AUTHENTICATE`].
    Authenticate { id: u32, sid: String, token: Option<String> },
    /// [`HOOK_CHECK_ACCESS`].
    CheckAccess { id: u32, sid: String, category: String, channel_id: String },
    /// [`HOOK_SOCKET_NOTICE`].
    SocketNotice { sid: String, notice: &'static str, detail: Option<String> },
    /// [`HOOK_EVENT`].
    Event { id: u32, sid: String, event: String, payload: JsPayload, wants_ack: bool },
    /// [`HOOK_PUBLISH`].
    Publish { id: u32, sid: String, category: String, channel_id: String, json: String },
}

impl HookCall {
    /// The id JS answers it by; `None` for a notice.
    fn answer_id(&self) -> Option<u32> {
        match self {
            HookCall::Authenticate { id, .. }
            | HookCall::CheckAccess { id, .. }
            | HookCall::Event { id, .. }
            | HookCall::Publish { id, .. } => Some(*id),
            HookCall::SocketNotice { .. } => None,
        }
    }
}

/// Calls handed to JS together, as one flat array of [`HOOK_CALL_FIELDS`] slots per call
/// (one array instead of one per call: fewer objects for V8 to allocate and collect).
pub struct HookBatch(Vec<HookCall>);

/// Stores `value` at `index` of the JS array `array`.
unsafe fn set_slot<V: ToNapiValue>(
    env: sys::napi_env,
    array: sys::napi_value,
    index: usize,
    value: V,
) -> napi::Result<()> {
    let value = V::to_napi_value(env, value)?;
    // Batches are far below u32::MAX slots (each call is one allocation on the Rust side).
    let index =
        u32::try_from(index).map_err(|_| napi::Error::from_status(Status::GenericFailure))?;
    napi::check_status!(sys::napi_set_element(env, array, index, value))
}

impl ToNapiValue for HookBatch {
    unsafe fn to_napi_value(env: sys::napi_env, batch: Self) -> napi::Result<sys::napi_value> {
        let fields = HOOK_CALL_FIELDS as usize;
        let mut array = std::ptr::null_mut();
        napi::check_status!(sys::napi_create_array_with_length(
            env,
            batch.0.len() * fields,
            &mut array
        ))?;
        for (n, call) in batch.0.into_iter().enumerate() {
            let at = n * fields;
            match call {
                HookCall::Authenticate { id, sid, token } => {
                    set_slot(env, array, at, HOOK_AUTHENTICATE)?;
                    set_slot(env, array, at + 1, id)?;
                    set_slot(env, array, at + 2, sid)?;
                    set_slot(env, array, at + 3, token)?;
                }
                HookCall::CheckAccess { id, sid, category, channel_id } => {
                    set_slot(env, array, at, HOOK_CHECK_ACCESS)?;
                    set_slot(env, array, at + 1, id)?;
                    set_slot(env, array, at + 2, sid)?;
                    set_slot(env, array, at + 3, category)?;
                    set_slot(env, array, at + 4, channel_id)?;
                }
                HookCall::SocketNotice { sid, notice, detail } => {
                    set_slot(env, array, at, HOOK_SOCKET_NOTICE)?;
                    set_slot(env, array, at + 1, 0u32)?;
                    set_slot(env, array, at + 2, sid)?;
                    set_slot(env, array, at + 3, notice)?;
                    set_slot(env, array, at + 4, detail)?;
                }
                HookCall::Event { id, sid, event, payload, wants_ack } => {
                    set_slot(env, array, at, HOOK_EVENT)?;
                    set_slot(env, array, at + 1, id)?;
                    set_slot(env, array, at + 2, sid)?;
                    set_slot(env, array, at + 3, event)?;
                    set_slot(env, array, at + 4, payload)?;
                    set_slot(env, array, at + 5, wants_ack)?;
                }
                HookCall::Publish { id, sid, category, channel_id, json } => {
                    set_slot(env, array, at, HOOK_PUBLISH)?;
                    set_slot(env, array, at + 1, id)?;
                    set_slot(env, array, at + 2, sid)?;
                    set_slot(env, array, at + 3, category)?;
                    set_slot(env, array, at + 4, channel_id)?;
                    set_slot(env, array, at + 5, json)?;
                }
            }
        }
        Ok(array)
    }
}

/// Wakes Node's thread to take the queue (weak: it never keeps Node's event loop alive).
type Wake = ThreadsafeFunction<(), (), FnArgs<(HookBatch,)>, Status, false, true>;

type Queue = Arc<Mutex<Vec<HookCall>>>;

fn lock(queue: &Queue) -> MutexGuard<'_, Vec<HookCall>> {
    queue.lock().unwrap_or_else(|e| e.into_inner())
}

/// The hook calls waiting for Node's thread, and the way to wake it.
pub struct HookQueue {
    calls: Queue,
    wake: Wake,
}

impl HookQueue {
    /// Queues calls for `dispatch`, `(batch) => void`, which receives each batch (see
    /// [`HookBatch`]) on Node's thread.
    pub fn new(dispatch: Function<'_, FnArgs<(HookBatch,)>, ()>) -> napi::Result<Self> {
        let calls = Queue::default();
        let taken = calls.clone();
        let wake = dispatch
            .build_threadsafe_function::<()>()
            .weak::<true>()
            .callee_handled::<false>()
            .build_callback(move |_| {
                let batch = std::mem::take(&mut *lock(&taken));
                Ok(FnArgs::from((HookBatch(batch),)))
            })?;
        Ok(Self { calls, wake })
    }

    /// Queues `call`; the first call into an empty queue wakes Node's thread. When JS is gone
    /// the queued calls are dropped, and so are the answers they wait for (they resolve
    /// `None`).
    pub(crate) fn push(&self, call: HookCall) {
        let mut calls = lock(&self.calls);
        let first = calls.is_empty();
        calls.push(call);
        drop(calls);
        if !first {
            return;
        }
        let status = self.wake.call((), ThreadsafeFunctionCallMode::NonBlocking);
        if status != Status::Ok {
            tracing::warn!(%status, "hook calls could not reach JS");
            let dropped = std::mem::take(&mut *lock(&self.calls));
            for id in dropped.iter().filter_map(HookCall::answer_id) {
                Answers::pending().forget(id);
            }
        }
    }
}
