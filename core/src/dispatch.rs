//! The connection protocol above the engines, written once: the namespace CONNECT (token,
//! `authenticate`), the dispatch of client events (join, leave, publish, app events) with
//! their per-socket budgets, and the life-event notices. Both engines call it.

use std::{future::Future, pin::Pin, sync::Arc};

use crate::{
    access::{self, Requested},
    call_order::Turn,
    client::{AckReply, Client},
    errors::{AuthError, JoinError},
    hooks::{ConnectionInfo, SocketNotice},
    metrics::{Dropped, Transport},
    payload::Payload,
    protocol::{JOIN_CHANNEL, LEAVE_CHANNEL, PUBLISH},
    publish,
    shared::Shared,
    socket_state::{QueuedEvent, Slot, SocketState},
};

/// A flow that waits on the app (an access check, `onPublish`, `onEvent`): the engine runs it
/// as its own task, tied to the connection.
pub type Flow = Pin<Box<dyn Future<Output = ()> + Send>>;

/// What became of a client event.
pub enum Dispatched {
    /// Handled, or ignored (nobody listens to it).
    Done,
    /// A flow for the engine to run.
    Run(Flow),
    /// The socket already has `max_inflight_events_per_socket` events waiting for JS and
    /// `max_payload` bytes of events in line behind them. The native engine never gets here
    /// (it stops reading first); socketioxide's clients, which cannot be paused, are cut off.
    Overloaded,
}

/// The namespace CONNECT of socket `sid` on `transport` with `token` (already read from the
/// auth payload): authenticates when the app asked for it. `Ok` carries the socket's state,
/// for the engine to attach before it acknowledges.
pub async fn connect(
    shared: &Shared,
    sid: &str,
    transport: Transport,
    token: Result<Option<String>, AuthError>,
) -> Result<Arc<SocketState>, AuthError> {
    if shared.config.authenticate {
        let outcome = match token {
            Ok(token) => shared.policy.authenticate(sid, token).await,
            Err(error) => Err(error),
        };
        if let Err(error) = outcome {
            tracing::debug!(%sid, %error, "connection refused");
            if error == AuthError::TimedOut {
                // The app may still store a context for this attempt: drop it (the app side
                // refuses a later attempt that this races with rather than lose its context).
                shared.policy.forget(sid);
            }
            return Err(error);
        }
    }
    Ok(Arc::new(shared.socket_state(sid, transport)))
}

/// Native socket `sid` ended without ever connecting after trying to authenticate: the app
/// drops whatever it may still hold for it. (A connected socket's state does this itself
/// when dropped.)
pub fn abandoned(shared: &Shared, sid: &str) {
    if shared.config.authenticate {
        shared.policy.forget(sid);
    }
}

/// The engine has acknowledged socket `sid`'s CONNECT, on a connection from where `info`
/// says (asked only when the app listens for connections: it may cost a system call).
pub fn connected(shared: &Shared, sid: &str, info: impl FnOnce() -> ConnectionInfo) {
    if shared.wants_notices() {
        shared.policy.notice(sid, SocketNotice::Connected(info()));
    }
}

/// A socket that had connected is gone, for `reason` (socket.io's name for it).
pub fn disconnected(shared: &Shared, sid: &str, reason: &str) {
    shared.metrics.disconnected(reason);
    if shared.wants_notices() {
        shared.policy.notice(sid, SocketNotice::Disconnected(reason.to_owned()));
    }
}

/// Whether `client` may have one more app event or publish dispatched now.
pub fn has_event_room(shared: &Shared, client: &Client) -> bool {
    client
        .state()
        .is_none_or(|state| state.inflight_events() < shared.config.max_inflight_events_per_socket)
}

/// Dispatches client event `event` with `args` from a connected socket; `reply` answers the
/// client's ack request, if it made one. Engines call it in the order events arrive: the
/// calls into the app it sets off keep that order.
pub fn event(
    shared: &Arc<Shared>,
    client: &Client,
    event: &str,
    args: Payload,
    reply: AckReply,
) -> Dispatched {
    let Some(state) = client.state() else { return Dispatched::Done };
    shared.metrics.message_received();
    let max_len = shared.config.max_channel_name_len;
    match event {
        JOIN_CHANNEL => {
            let requested = Requested::from_args(&args.json, max_len);
            if !state.allow_channel_op() {
                let limit = shared.config.max_joins_per_second;
                access::refuse(shared, client, &requested, &JoinError::JoinRateExceeded { limit });
                return Dispatched::Done;
            }
            let (shared, client, turn) = (shared.clone(), client.clone(), state.take_turn());
            Dispatched::Run(Box::pin(async move {
                access::handle_join(&shared, &client, requested, turn).await
            }))
        }
        LEAVE_CHANNEL => {
            // A leave always leaves; beyond the rate it gets no reply.
            let requested = Requested::from_args(&args.json, max_len);
            access::handle_leave(shared, client, &requested, state.allow_channel_op());
            Dispatched::Done
        }
        PUBLISH => {
            let Some(slot) = event_slot(shared, &state, &args) else {
                return Dispatched::Overloaded;
            };
            let (shared, client, mut turn) = (shared.clone(), client.clone(), state.take_turn());
            Dispatched::Run(Box::pin(async move {
                let _slot = slot.take(&mut turn).await;
                publish::handle_publish(&shared, &client, (args, reply), turn).await
            }))
        }
        _ if shared.listens_to(event) => {
            let Some(slot) = event_slot(shared, &state, &args) else {
                return Dispatched::Overloaded;
            };
            let (shared, client, event) = (shared.clone(), client.clone(), event.to_owned());
            let mut turn = state.take_turn();
            Dispatched::Run(Box::pin(async move {
                let _slot = slot.take(&mut turn).await;
                let call = (args, reply.wanted());
                let answer = shared.policy.on_event(client.id(), &event, call, turn).await;
                if let Some(answer) = answer {
                    if let Err(error) = reply.send_args(&answer) {
                        tracing::debug!(sid = %client.id(), ?error, "acknowledgement not sent");
                    }
                }
            }))
        }
        _ => Dispatched::Done,
    }
}

/// An app event's or publish's in-flight slot: held now, or once earlier events finish.
enum EventSlot {
    Held(Slot),
    Queued(QueuedEvent),
}

impl EventSlot {
    async fn take(self, turn: &mut Turn) -> Slot {
        match self {
            EventSlot::Held(slot) => slot,
            EventSlot::Queued(queued) => queued.slot(turn).await,
        }
    }
}

/// A slot for one more event of `state` carrying `args`: at once under
/// `max_inflight_events_per_socket` when none is in line, else in line while the events in line stay within
/// `max_payload` bytes (one polling body's worth: only socketioxide's sessions, which
/// cannot be paused, get there); `None`, counted, past both.
fn event_slot(shared: &Shared, state: &Arc<SocketState>, args: &Payload) -> Option<EventSlot> {
    let config = &shared.config;
    let limit = config.max_inflight_events_per_socket;
    // Events in line keep their order: a later one cannot take a slot ahead of them.
    if !state.has_queued_events() {
        if let Some(slot) = state.reserve_event(limit) {
            return Some(EventSlot::Held(slot));
        }
    }
    let bytes = args.json.len() + args.binary.iter().map(|b| b.len()).sum::<usize>();
    let max_waiting = usize::try_from(config.max_payload).unwrap_or(usize::MAX);
    match state.queue_event(bytes, limit, max_waiting) {
        Some(queued) => Some(EventSlot::Queued(queued)),
        None => {
            shared.metrics.dropped(Dropped::Overloaded);
            None
        }
    }
}
