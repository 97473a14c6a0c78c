//! Connection state recovery on the native engine: finding the session a reconnecting
//! client names, and restoring it (see [`crate::recovery`] for the protocol and ordering).

use std::{sync::Arc, time::Duration};

use bytes::Bytes;

use crate::{
    errors::JoinError,
    native::{
        packet,
        socket::{CloseReason, NativeSocket},
        NativeEngine,
    },
    payload::Payload,
    recovery::{Gap, Recovery, Saved},
};

/// How long a reconnect waits for a half-open old connection to be closed and saved.
const HALF_OPEN_WAIT: Duration = Duration::from_secs(1);

/// The close reasons after which a session is kept for recovery: the client did not mean
/// to leave.
pub fn keeps_session(reason: CloseReason) -> bool {
    matches!(
        reason,
        CloseReason::TransportClose
            | CloseReason::TransportError
            | CloseReason::PingTimeout
            | CloseReason::ServerClosing
    )
}

/// Takes the session saved under `pid`; if its connection is still open (the server has not
/// noticed it died), closes that first and waits for it to be saved.
pub async fn take_session(engine: &NativeEngine, recovery: &Recovery, pid: &str) -> Option<Saved> {
    if let Some(saved) = recovery.take(pid).await {
        return Some(saved);
    }
    let sid = recovery.sessions.live_sid(pid)?;
    let old = engine.registry.get_any(&sid)?;
    old.kill(CloseReason::TransportClose);
    drop(old);
    let deadline = tokio::time::Instant::now() + HALF_OPEN_WAIT;
    while tokio::time::Instant::now() < deadline {
        if let Some(saved) = recovery.take(pid).await {
            return Some(saved);
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    None
}

/// Restores `saved` on `socket` (connected as `sid`): re-runs the access checks, rejoins the
/// channels that still allow it, then writes the broadcasts missed since `offset` (with
/// their offsets, in order) followed by `ack`, all under the history's lock. Returns the
/// channels now denied and how many broadcasts were replayed; [`Gap`] (nothing joined,
/// nothing written) when the position fell out of the history.
pub async fn restore(
    engine: &NativeEngine,
    recovery: &Recovery,
    socket: &Arc<NativeSocket>,
    saved: Saved,
    offset: Option<&str>,
    ack: Bytes,
) -> Result<(Vec<Box<str>>, usize), Gap> {
    let shared = &engine.shared;
    let mut allowed = Vec::with_capacity(saved.rooms.len());
    let mut denied = Vec::new();
    for (room, joined_at) in saved.rooms {
        let Some((category, id)) = room.split_once(':') else { continue };
        let checked = shared.categories.get(category).is_some_and(|c| c.has_access_check);
        if checked && shared.policy.check_access(&saved.sid, category, id, None).await.is_err() {
            denied.push(room);
        } else {
            allowed.push((room, joined_at));
        }
    }
    let after = offset.and_then(|o| o.parse().ok()).unwrap_or(saved.position);
    // Live broadcasts are held back while the replay is computed: each one reaches the
    // socket from the replay or live, once.
    socket.set_position(u64::MAX);
    for (room, joined_at) in &allowed {
        engine.registry.join_at(socket, room, *joined_at);
    }
    let history = recovery.history.lock();
    let missed = match history.since(&allowed, after) {
        Ok(missed) => missed,
        Err(gap) => {
            drop(history);
            engine.registry.leave_all(socket);
            socket.set_position(recovery.history.current());
            return Err(gap);
        }
    };
    let mut frames: Vec<Bytes> = missed
        .iter()
        .map(|m| {
            let category = m.channel.split_once(':').map_or(&*m.channel, |(c, _)| c);
            packet::broadcast(category, m.data.get(), Some(m.offset))
        })
        .collect();
    frames.push(ack);
    socket.set_position(history.current());
    let sent = frames.iter().map(Bytes::len).sum();
    if socket.send_all(&frames).is_ok() {
        shared.metrics.sent(sent);
    }
    drop(history);
    tracing::debug!(sid = %socket.id(), replayed = missed.len(), "session recovered");
    Ok((denied, missed.len()))
}

/// The `joinError` a restored channel that is now denied gets.
pub fn denied_reply(room: &str, position: u64) -> Vec<Bytes> {
    let reply = serde_json::json!({ "channel": room, "error": JoinError::Denied.to_string() });
    let args = Payload { json: format!("[{reply}]"), binary: Vec::new() };
    packet::event(crate::protocol::JOIN_ERROR, &packet::with_offset(&args, position), None)
}
