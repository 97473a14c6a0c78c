//! Hook calls on their way to JS, handed over in batches. Every hook call the core makes
//! (authenticate, access check, socket notice, event, publish) joins one queue; Node's
//! thread is woken once for what a runtime worker queued before it parks (see
//! [`HookQueue`]), and JS receives everything queued by then in one call (one JS entry and
//! one microtask checkpoint per batch, not per call; at most [`MAX_BATCH`] calls, the rest
//! in the next one). One queue keeps every kind of call in the order the core made them:
//! with a threadsafe function per hook, libuv drained their queues in handle order, so an
//! event could reach JS after its socket's `'disconnect'` notice although the core made it
//! first.

use std::{
    cell::{Cell, RefCell},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex, MutexGuard, OnceLock, Weak,
    },
    time::Duration,
};

use napi::{
    bindgen_prelude::{Function, JsValuesTupleIntoVec, ToNapiValue},
    sys,
    threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode},
    Status,
};
use napi_derive::napi;
use tokio::sync::Notify;

use crate::binding::{answers::Answers, hooks::JsPayload, runtime};

/// Arguments per call in a batch: kind, call id, sid, then up to three arguments (unused
/// ones are `undefined`).
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

/// Calls handed to JS together, as the arguments of one call: [`HOOK_CALL_FIELDS`] per call,
/// at most [`MAX_BATCH`] calls. Arguments rather than an array: V8 stores each array
/// element through a generic property write (a tenth of Node's thread in storms), while
/// call arguments are copied into the callee's frame.
pub struct HookBatch(Vec<HookCall>);

/// Calls handed to JS in one call at most (a bounded argument count; what is left is
/// delivered by another call right after).
const MAX_BATCH: usize = 256;

/// Writes one batch's arguments, in order.
struct Slots {
    env: sys::napi_env,
    values: Vec<sys::napi_value>,
    undefined: sys::napi_value,
}

impl Slots {
    /// Appends `value`.
    unsafe fn put<V: ToNapiValue>(&mut self, value: V) -> napi::Result<()> {
        self.values.push(V::to_napi_value(self.env, value)?);
        Ok(())
    }

    /// Starts a call with the slots every call has, after filling the previous call's unused
    /// slots with `undefined`.
    unsafe fn start(&mut self, kind: u32, id: u32, sid: String) -> napi::Result<()> {
        self.pad();
        self.put(kind)?;
        self.put(id)?;
        self.put(sid)
    }

    /// Fills the last call's unused slots.
    fn pad(&mut self) {
        let fields = HOOK_CALL_FIELDS as usize;
        let filled = self.values.len().div_ceil(fields) * fields;
        self.values.resize(filled, self.undefined);
    }
}

impl JsValuesTupleIntoVec for HookBatch {
    // The trait's signature is napi's: `env` comes from napi itself (as in its own impls).
    #[allow(clippy::not_unsafe_ptr_arg_deref)]
    fn into_vec(self, env: sys::napi_env) -> napi::Result<Vec<sys::napi_value>> {
        let mut undefined = std::ptr::null_mut();
        // SAFETY: called by napi on Node's thread with a live `env`.
        unsafe { napi::check_status!(sys::napi_get_undefined(env, &mut undefined))? };
        let values = Vec::with_capacity(self.0.len() * HOOK_CALL_FIELDS as usize);
        let mut slots = Slots { env, values, undefined };
        // SAFETY: as above; each value is created in `env`'s current scope.
        unsafe {
            for call in self.0 {
                match call {
                    HookCall::Authenticate { id, sid, token } => {
                        slots.start(HOOK_AUTHENTICATE, id, sid)?;
                        slots.put(token)?;
                    }
                    HookCall::CheckAccess { id, sid, category, channel_id } => {
                        slots.start(HOOK_CHECK_ACCESS, id, sid)?;
                        slots.put(category)?;
                        slots.put(channel_id)?;
                    }
                    HookCall::SocketNotice { sid, notice, detail } => {
                        slots.start(HOOK_SOCKET_NOTICE, 0, sid)?;
                        slots.put(notice)?;
                        slots.put(detail)?;
                    }
                    HookCall::Event { id, sid, event, payload, wants_ack } => {
                        slots.start(HOOK_EVENT, id, sid)?;
                        slots.put(event)?;
                        slots.put(payload)?;
                        slots.put(wants_ack)?;
                    }
                    HookCall::Publish { id, sid, category, channel_id, json } => {
                        slots.start(HOOK_PUBLISH, id, sid)?;
                        slots.put(category)?;
                        slots.put(channel_id)?;
                        slots.put(json)?;
                    }
                }
            }
        }
        slots.pad();
        Ok(slots.values)
    }
}

/// Wakes Node's thread to take the queue (weak: it never keeps Node's event loop alive).
type Wake = ThreadsafeFunction<(), (), HookBatch, Status, false, true>;

/// Calls queued while a wake is deferred that make Node's thread take them at once.
const WAKE_AT: usize = 64;
/// The longest a deferred wake waits for its runtime thread to go idle (a runtime busy
/// without a pause, e.g. under a long fan-out). Tokio's timers tick in milliseconds; each
/// deferral arms this timer, and a shorter one wakes the runtime more often for nothing
/// (1 ms and 5 ms measured alike in storms, within this machine's noise).
const MAX_DEFER: Duration = Duration::from_millis(5);

thread_local! {
    /// Set on a runtime worker the first time it parks: its calls may defer their wake.
    static PARKS: Cell<bool> = const { Cell::new(false) };
    /// The queues whose wake this worker owes when it parks.
    static OWED: RefCell<Vec<Arc<Shared>>> = const { RefCell::new(Vec::new()) };
}

/// What the runtime and Node's thread share of one queue.
struct Shared {
    calls: Mutex<Vec<HookCall>>,
    wake: Wake,
    /// A wake is owed: the queue went non-empty on a runtime worker.
    deferred: AtomicBool,
    /// Tells the late flusher a wake was deferred (or that the queue is gone).
    deferred_now: Notify,
    closed: AtomicBool,
}

impl Shared {
    fn calls(&self) -> MutexGuard<'_, Vec<HookCall>> {
        self.calls.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Wakes Node's thread to take the queue. When JS is gone the queued calls are dropped,
    /// and so are the answers they wait for (they resolve `None`).
    fn wake(&self) {
        let status = self.wake.call((), ThreadsafeFunctionCallMode::NonBlocking);
        if status != Status::Ok {
            tracing::warn!(%status, "hook calls could not reach JS");
            let dropped = std::mem::take(&mut *self.calls());
            for id in dropped.iter().filter_map(HookCall::answer_id) {
                Answers::pending().forget(id);
            }
        }
    }

    /// Wakes Node's thread if a deferred wake is still owed.
    fn wake_if_owed(&self) {
        if self.deferred.swap(false, Ordering::AcqRel) {
            self.wake();
        }
    }
}

/// Called by each runtime worker before it parks: wakes Node's thread for the queues that
/// went non-empty while this worker ran, so one wake carries what the worker queued in its
/// busy stretch. Waking it at each first call instead cost Node's thread more sleeps and
/// wake-ups: 19,000-connection storms (5 alternating runs each) spent 1.57 → 1.47 times the
/// load generator's CPU per join (server CPU ≈50 → ≈47 µs), handshake latency unchanged.
pub fn wake_deferred() {
    PARKS.with(|parks| parks.set(true));
    let owed = OWED.with(|owed| std::mem::take(&mut *owed.borrow_mut()));
    for shared in owed {
        shared.wake_if_owed();
    }
}

/// Wakes Node's thread for a deferred wake its worker has not paid within [`MAX_DEFER`].
async fn wake_late(shared: Arc<Shared>) {
    loop {
        shared.deferred_now.notified().await;
        if shared.closed.load(Ordering::Acquire) {
            return;
        }
        tokio::time::sleep(MAX_DEFER).await;
        shared.wake_if_owed();
    }
}

/// The hook calls waiting for Node's thread, and the way to wake it. A call into an empty
/// queue made on a runtime worker defers the wake until that worker is about to park (it
/// will likely queue more first), [`WAKE_AT`] calls are queued, or [`MAX_DEFER`] passed;
/// one made elsewhere wakes Node's thread at once.
pub struct HookQueue {
    shared: Arc<Shared>,
}

impl HookQueue {
    /// Queues calls for `dispatch`, `(...batch) => void`, which receives each batch (see
    /// [`HookBatch`]) on Node's thread.
    pub fn new(dispatch: Function<'_, HookBatch, ()>) -> napi::Result<Self> {
        let taken: Arc<OnceLock<Weak<Shared>>> = Arc::default();
        let batches = taken.clone();
        let wake = dispatch
            .build_threadsafe_function::<()>()
            .weak::<true>()
            .callee_handled::<false>()
            .build_callback(move |_| {
                let batch = batches.get().and_then(Weak::upgrade).map(|shared| {
                    shared.deferred.store(false, Ordering::Release);
                    let mut calls = shared.calls();
                    if calls.len() <= MAX_BATCH {
                        return std::mem::take(&mut *calls);
                    }
                    let first: Vec<_> = calls.drain(..MAX_BATCH).collect();
                    drop(calls);
                    // The rest goes in the next call, before anything queued after it.
                    shared.wake();
                    first
                });
                Ok(HookBatch(batch.unwrap_or_default()))
            })?;
        let shared = Arc::new(Shared {
            calls: Mutex::default(),
            wake,
            deferred: AtomicBool::new(false),
            deferred_now: Notify::new(),
            closed: AtomicBool::new(false),
        });
        let _ = taken.set(Arc::downgrade(&shared));
        runtime::handle().spawn(wake_late(shared.clone()));
        Ok(Self { shared })
    }

    /// Queues `call` (see [`HookQueue`] for when Node's thread is woken).
    pub(crate) fn push(&self, call: HookCall) {
        let shared = &self.shared;
        let mut calls = shared.calls();
        calls.push(call);
        let queued = calls.len();
        drop(calls);
        if queued == 1 {
            if !PARKS.with(Cell::get) {
                return shared.wake();
            }
            shared.deferred.store(true, Ordering::Release);
            OWED.with(|owed| owed.borrow_mut().push(shared.clone()));
            shared.deferred_now.notify_one();
        } else if queued >= WAKE_AT {
            shared.wake_if_owed();
        }
    }
}

impl Drop for HookQueue {
    fn drop(&mut self) {
        self.shared.closed.store(true, Ordering::Release);
        self.shared.deferred_now.notify_one();
    }
}
