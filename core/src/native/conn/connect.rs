//! A native connection's namespace CONNECT: recovery of a saved session, authentication
//! through the shared dispatch (and its policy), the answer, and telling the app.

use std::sync::Arc;

use bytes::Bytes;

use super::Connection;
use crate::{
    auth::RecoveryRequest,
    client::Client,
    dispatch,
    errors::AuthError,
    hooks::{self, ConnectionInfo},
    metrics::{RecoveryResult, Transport},
    native::{random_id, restore, socket::CloseReason},
};

impl Connection {
    /// The namespace CONNECT: takes the session it names back (recovery on), authenticates
    /// (through the policy), restores or acknowledges.
    pub(super) async fn connect(
        &mut self,
        token: Result<Option<String>, AuthError>,
        request: RecoveryRequest,
    ) {
        let shared = self.engine.shared.clone();
        let saved = match (&shared.recovery, request.pid.as_deref()) {
            (Some(recovery), Some(pid)) => restore::take_session(&self.engine, recovery, pid).await,
            _ => None,
        };
        if self.client.is_none() {
            let sid = saved.as_ref().map_or_else(random_id, |s| s.sid.to_string());
            self.socket.set_id(&sid);
            self.engine.registry.register_id(&self.socket);
            self.client = Some(Client::new(Arc::new(self.native_client())));
        }
        let sid = self.socket.id().to_owned();
        let state = match dispatch::connect(&shared, &sid, Transport::Websocket, token).await {
            Ok(state) => state,
            Err(error) => {
                let refusal = self.protocol.refused(&error);
                let _ = self.socket.send(&refusal);
                return;
            }
        };
        self.socket.set_connected(state);
        let Some(recovery) = shared.recovery.clone() else {
            let ack = self.protocol.accepted(&sid, None);
            self.acknowledge(&ack, &sid);
            return;
        };
        // A session is recovered under its old private id, with its old socket id.
        let asked = request.pid.is_some();
        if let (Some(saved), Some(pid)) = (saved.filter(|s| *s.sid == *sid), request.pid) {
            let ack = self.protocol.accepted(&sid, Some(&pid));
            let offset = request.offset.as_deref();
            let restored =
                restore::restore(&self.engine, &recovery, &self.socket, saved, offset, ack).await;
            if let Ok((denied, replayed)) = restored {
                shared.metrics.recovery(RecoveryResult::Recovered, replayed);
                recovery.sessions.attach(&pid, &sid);
                self.pid = Some(pid);
                for room in denied {
                    let _ =
                        self.socket.send_all(&restore::denied_reply(&room, self.socket.position()));
                }
                self.tell_connected(&sid);
                return;
            }
            shared.metrics.recovery(RecoveryResult::Gap, 0);
        } else if asked {
            shared.metrics.recovery(RecoveryResult::Expired, 0);
        }
        let pid = random_id();
        self.socket.set_position(recovery.history.current());
        let ack = self.protocol.accepted(&sid, Some(&pid));
        recovery.sessions.attach(&pid, &sid);
        self.pid = Some(pid);
        self.acknowledge(&ack, &sid);
    }

    fn acknowledge(&mut self, ack: &Bytes, sid: &str) {
        if self.socket.send(ack).is_err() {
            self.socket.begin_close(CloseReason::TransportError);
            return;
        }
        self.tell_connected(sid);
    }

    /// Tells the app (if it listens) that socket `sid` connected, and from where.
    fn tell_connected(&mut self, sid: &str) {
        let user_agent = self.user_agent.take();
        let stream = self.socket.stream();
        dispatch::connected(&self.engine.shared, sid, || ConnectionInfo {
            ip: hooks::peer_ip(stream).map(|ip| ip.to_string()),
            user_agent,
        });
    }
}
