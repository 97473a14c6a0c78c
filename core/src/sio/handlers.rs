//! socketioxide's side of the connection protocol: its connect middleware and event
//! handler call the shared dispatch, exactly as the native engine does.

use std::{convert::Infallible, sync::Arc};

use serde_json::Value;
use socketioxide::{
    adapter::Adapter,
    extract::{AckSender, Event, SocketRef, TryData},
    handler::FromMessageParts,
    socket::{DisconnectReason, Socket},
    ParserError, TransportType,
};

use crate::{
    auth::token_from_auth,
    client::{AckReply, AckSink, Client},
    dispatch::{self, Dispatched, Flow},
    errors::AuthError,
    hooks::{ConnectionInfo, MAX_USER_AGENT_LEN},
    metrics::{Metrics, Transport},
    payload::Payload,
    shared::Shared,
    sio::{
        client::{SioAck, SioClient},
        http::PeerAddr,
    },
    socket_state::SocketState,
};

/// The client of a socketioxide socket, counted in `metrics`.
pub fn client(socket: SocketRef, metrics: &Arc<Metrics>) -> Client {
    Client::new(Arc::new(SioClient::new(socket, metrics.clone())))
}

/// The connect middleware: authenticates, then stores the socket state and registers the
/// handlers. It runs before socketioxide acknowledges the CONNECT, so a `joinChannel` sent
/// right after `connect` always finds its handler.
pub async fn on_connect(
    shared: Arc<Shared>,
    socket: SocketRef,
    auth: Result<Value, ParserError>,
) -> Result<(), AuthError> {
    let token = token_from_auth(&auth.unwrap_or(Value::Null), shared.config.max_token_len);
    let transport = match socket.transport_type() {
        TransportType::Polling => Transport::Polling,
        TransportType::Websocket => Transport::Websocket,
    };
    let state = dispatch::connect(&shared, &socket.id.to_string(), transport, token).await?;
    socket.extensions.insert(state);

    let events = shared.clone();
    socket.on_fallback(
        move |s: SocketRef,
              Event(event),
              TryData(args): TryData<Payload>,
              WantsAck(wants_ack),
              ack: AckSender| {
            // Dispatched here, as socketioxide calls this in arrival order (the future it
            // returns is spawned): the calls into the app keep that order.
            let sink = wants_ack.then(|| Box::new(SioAck::new(ack)) as Box<dyn AckSink>);
            let flow = on_event(&events, s, &event, args, sink);
            async move {
                if let Some(flow) = flow {
                    flow.await;
                }
            }
        },
    );
    let gone = shared.clone();
    socket.on_disconnect(move |s: SocketRef, reason: DisconnectReason| {
        let shared = gone.clone();
        async move { dispatch::disconnected(&shared, &s.id.to_string(), socket_io_reason(reason)) }
    });
    Ok(())
}

/// Runs once socketioxide has acknowledged the CONNECT.
pub async fn on_connected(shared: Arc<Shared>, socket: SocketRef) {
    dispatch::connected(&shared, &socket.id.to_string(), || {
        let parts = socket.req_parts();
        let user_agent = parts
            .headers
            .get(http::header::USER_AGENT)
            .and_then(|ua| ua.to_str().ok())
            .filter(|ua| ua.len() <= MAX_USER_AGENT_LEN)
            .map(str::to_owned);
        let ip = parts.extensions.get::<PeerAddr>().map(|peer| peer.0.to_string());
        ConnectionInfo { ip, user_agent }
    });
}

/// Dispatches one client event; what is left to run waits on the app.
fn on_event(
    shared: &Arc<Shared>,
    socket: SocketRef,
    event: &str,
    args: Result<Payload, ParserError>,
    sink: Option<Box<dyn AckSink>>,
) -> Option<Flow> {
    let client = client(socket, &shared.metrics);
    // Arguments socketioxide could not decode reach the flows as none.
    let args = args.unwrap_or_else(|_| Payload { json: "[]".to_owned(), binary: Vec::new() });
    let reply = AckReply::new(client.clone(), sink);
    match dispatch::event(shared, &client, event, args, reply) {
        Dispatched::Done => None,
        Dispatched::Run(flow) => Some(flow),
        Dispatched::Overloaded => {
            // socketioxide cannot stop reading one socket: one that keeps more events in
            // flight than allowed is cut off rather than queued without end.
            tracing::warn!(sid = %client.id(), %event, "too many events in flight: disconnecting");
            client.cut_off();
            None
        }
    }
}

/// Extracts whether the client asked for an acknowledgement of this message.
pub struct WantsAck(pub bool);

impl<A: Adapter> FromMessageParts<A> for WantsAck {
    type Error = Infallible;
    fn from_message_parts(
        _: &Arc<Socket<A>>,
        _: &mut socketioxide_core::Value,
        ack_id: &Option<i64>,
    ) -> Result<Self, Infallible> {
        Ok(WantsAck(ack_id.is_some()))
    }
}

/// The disconnect reason under the name socket.io's own server gives it.
pub fn socket_io_reason(reason: DisconnectReason) -> &'static str {
    match reason {
        DisconnectReason::TransportClose => "transport close",
        DisconnectReason::MultipleHttpPollingError => "multiple http polling error",
        DisconnectReason::PacketParsingError => "parse error",
        DisconnectReason::TransportError => "transport error",
        DisconnectReason::HeartbeatTimeout => "ping timeout",
        DisconnectReason::ClientNSDisconnect => "client namespace disconnect",
        DisconnectReason::ServerNSDisconnect => "server namespace disconnect",
        DisconnectReason::ClosingServer => "server shutting down",
    }
}

/// The per-socket state stored by the middleware.
pub fn state(socket: &SocketRef) -> Option<Arc<SocketState>> {
    socket.extensions.get::<Arc<SocketState>>()
}
