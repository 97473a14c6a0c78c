//! The life of one native connection, in one task: handshake answer, reading and decoding,
//! the heartbeat, the namespace CONNECT (with the app's `authenticate`), dispatch of the
//! channel protocol and app events, flushing what direct writes could not send, and the
//! closing handshake.

use std::{cell::RefCell, io, pin::Pin, sync::Arc, time::Duration};

use bytes::Bytes;
use serde_json::Value;
use tokio::time::{sleep_until, Instant, Sleep};

use crate::core::{
    access,
    auth::{authenticate, token_from_auth},
    client::{AckReply, Client},
    hooks::SocketNotice,
    native::{
        frame::{self, Decoder, Incoming},
        packet::{self, EnginePacket, SioKind},
        socket::{CloseReason, NativeSocket},
        NativeEngine,
    },
    payload::Payload,
    protocol::{JOIN_CHANNEL, LEAVE_CHANNEL, PUBLISH},
    publish,
};

/// Bytes read per `read` syscall, into a buffer shared by all connections of a thread, so an
/// idle connection holds no read buffer at all.
const READ_CHUNK: usize = 16 * 1024;

/// Most binary attachments one packet may announce.
const MAX_ATTACHMENTS: usize = 256;

/// How long a closing connection waits for the client to close its side.
const CLOSE_LINGER: Duration = Duration::from_secs(2);

thread_local! {
    static READ_BUFFER: RefCell<Box<[u8]>> = RefCell::new(vec![0; READ_CHUNK].into_boxed_slice());
}

/// A binary event or ack waiting for its attachments.
struct PendingBinary {
    kind: SioKind,
    ack: Option<u64>,
    data: String,
    expected: usize,
    parts: Vec<Bytes>,
    bytes: usize,
}

enum Stage {
    AwaitingConnect,
    Connected,
}

struct Connection {
    engine: Arc<NativeEngine>,
    socket: Arc<NativeSocket>,
    decoder: Decoder,
    incoming: Vec<Incoming>,
    stage: Stage,
    binary: Option<PendingBinary>,
    /// The close code of a websocket-level protocol error, once one happened.
    frame_error: Option<u16>,
    /// When the next heartbeat ping goes out.
    ping_at: Instant,
    /// When the unanswered ping times out.
    pong_by: Option<Instant>,
    /// When the namespace CONNECT must have arrived.
    connect_by: Option<Instant>,
}

enum Read {
    Nothing,
    Data,
    Ended,
}

/// Serves a connection whose upgrade request has been read: answers it, then runs until the
/// connection ends. `early` holds websocket bytes that arrived with the request head.
pub async fn serve(
    engine: Arc<NativeEngine>,
    socket: Arc<NativeSocket>,
    accept: String,
    early: Bytes,
) {
    let config = &engine.shared.config;
    let now = Instant::now();
    let mut hello = crate::core::native::handshake::switching_protocols(&accept);
    let engine_sid = crate::core::native::random_id();
    hello.extend_from_slice(&packet::open(
        &engine_sid,
        config.ping_interval.as_millis(),
        config.ping_timeout.as_millis(),
        config.max_payload,
    ));
    socket.send_final(&Bytes::from(hello));
    let mut conn = Connection {
        decoder: Decoder::new(usize::try_from(config.max_payload).unwrap_or(usize::MAX)),
        incoming: Vec::new(),
        stage: Stage::AwaitingConnect,
        binary: None,
        frame_error: None,
        ping_at: now + config.ping_interval,
        pong_by: None,
        connect_by: Some(now + config.connect_timeout),
        engine,
        socket,
    };
    conn.engine.registry.insert(conn.socket.clone());
    if !early.is_empty() {
        conn.feed(&mut early.to_vec());
        conn.process().await;
    }
    conn.run().await;
}

impl Connection {
    fn client(&self) -> Client {
        Client::Native(self.socket.clone(), self.engine.registry.clone())
    }

    fn next_deadline(&self) -> Instant {
        [self.pong_by, self.connect_by].into_iter().flatten().fold(self.ping_at, Instant::min)
    }

    async fn run(&mut self) {
        let timer: Sleep = sleep_until(self.next_deadline());
        tokio::pin!(timer);
        while self.socket.close_reason().is_none() {
            let deadline = self.next_deadline();
            if timer.deadline() != deadline {
                timer.as_mut().reset(deadline);
            }
            let want_write = self.socket.has_queued();
            let stream = self.socket.stream();
            tokio::select! {
                ready = stream.readable() => {
                    if ready.is_err() {
                        self.socket.begin_close(CloseReason::TransportError);
                        break;
                    }
                    match self.read_once() {
                        Ok(Read::Ended) => { self.socket.begin_close(CloseReason::TransportClose); break; }
                        Ok(Read::Nothing) => {}
                        Ok(Read::Data) => self.process().await,
                        Err(_) => { self.socket.begin_close(CloseReason::TransportError); break; }
                    }
                }
                ready = stream.writable(), if want_write => {
                    if ready.is_err() || self.socket.flush().is_err() {
                        self.socket.begin_close(CloseReason::TransportError);
                    }
                }
                _ = self.socket.wake.notified() => {}
                _ = timer.as_mut() => self.on_timer(),
            }
        }
        self.close_gracefully(timer).await;
    }

    fn on_timer(&mut self) {
        let now = Instant::now();
        if self.connect_by.is_some_and(|by| by <= now) {
            self.socket.begin_close(CloseReason::ConnectTimeout);
        } else if self.pong_by.is_some_and(|by| by <= now) {
            self.socket.begin_close(CloseReason::PingTimeout);
        } else if self.ping_at <= now {
            let config = &self.engine.shared.config;
            self.ping_at = now + config.ping_interval + config.ping_timeout;
            self.pong_by = Some(now + config.ping_timeout);
            if self.socket.send(&packet::ping()).is_err() {
                self.socket.kill(CloseReason::TransportError);
            }
        }
    }

    /// Reads what the socket has into the thread's shared buffer and decodes it.
    fn read_once(&mut self) -> io::Result<Read> {
        READ_BUFFER.with(|buffer| {
            let mut buffer = buffer.borrow_mut();
            match self.socket.stream().try_read(&mut buffer) {
                Ok(0) => Ok(Read::Ended),
                Ok(n) => {
                    self.feed(&mut buffer[..n]);
                    Ok(Read::Data)
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(Read::Nothing),
                Err(e) => Err(e),
            }
        })
    }

    /// Decodes bytes from the client into `incoming`; a protocol error closes the connection.
    fn feed(&mut self, bytes: &mut [u8]) {
        if let Err(error) = self.decoder.feed(bytes, &mut self.incoming) {
            tracing::debug!(sid = %self.socket.id(), %error, "websocket protocol error");
            self.frame_error = Some(error.close_code());
            self.socket.begin_close(CloseReason::ParseError);
        }
    }

    async fn process(&mut self) {
        let incoming = std::mem::take(&mut self.incoming);
        for message in incoming {
            if self.socket.close_reason().is_some() {
                break;
            }
            if let Err(reason) = self.on_message(message).await {
                self.socket.begin_close(reason);
            }
        }
        if self.incoming.capacity() > 16 {
            self.incoming = Vec::new();
        }
    }

    async fn on_message(&mut self, message: Incoming) -> Result<(), CloseReason> {
        match message {
            Incoming::Ping(data) => {
                let _ = self.socket.send(&frame::pong(&data));
                Ok(())
            }
            Incoming::Close => Err(CloseReason::TransportClose),
            Incoming::Binary(bytes) => self.on_attachment(bytes),
            Incoming::Text(text) => {
                if self.binary.is_some() {
                    return Err(CloseReason::ParseError);
                }
                match packet::parse_engine(&text).map_err(|_| CloseReason::ParseError)? {
                    EnginePacket::Close => Err(CloseReason::TransportClose),
                    EnginePacket::Ping(data) => {
                        let _ = self.socket.send(&packet::pong(data));
                        Ok(())
                    }
                    EnginePacket::Pong => {
                        if self.pong_by.take().is_some() {
                            self.ping_at = Instant::now() + self.engine.shared.config.ping_interval;
                        }
                        Ok(())
                    }
                    EnginePacket::Message(sio) => self.on_sio(sio).await,
                    EnginePacket::Ignored => Ok(()),
                }
            }
        }
    }

    fn on_attachment(&mut self, bytes: Bytes) -> Result<(), CloseReason> {
        let limit = usize::try_from(self.engine.shared.config.max_payload).unwrap_or(usize::MAX);
        let pending = self.binary.as_mut().ok_or(CloseReason::ParseError)?;
        pending.bytes += bytes.len();
        if pending.bytes > limit {
            return Err(CloseReason::ParseError);
        }
        pending.parts.push(bytes);
        if pending.parts.len() == pending.expected {
            if let Some(done) = self.binary.take() {
                let payload = Payload { json: done.data, binary: done.parts };
                return self.on_complete(done.kind, done.ack, payload);
            }
        }
        Ok(())
    }

    async fn on_sio(&mut self, text: &str) -> Result<(), CloseReason> {
        let packet = packet::parse_sio(text).map_err(|_| CloseReason::ParseError)?;
        if packet.namespace != "/" {
            if packet.kind == SioKind::Connect {
                let _ =
                    self.socket.send(&packet::connect_error(packet.namespace, "Invalid namespace"));
            }
            return Ok(());
        }
        match packet.kind {
            SioKind::Connect => self.on_connect(packet.data).await,
            SioKind::Disconnect => Err(CloseReason::ClientDisconnect),
            _ if matches!(self.stage, Stage::AwaitingConnect) => Ok(()),
            kind => {
                // Binary events and acks are events and acks whose attachments follow.
                let kind = if matches!(kind, SioKind::Ack | SioKind::BinaryAck) {
                    SioKind::Ack
                } else {
                    SioKind::Event
                };
                let data = packet.data.to_owned();
                if packet.attachments == 0 {
                    return self.on_complete(
                        kind,
                        packet.ack,
                        Payload { json: data, binary: Vec::new() },
                    );
                }
                if packet.attachments > MAX_ATTACHMENTS {
                    return Err(CloseReason::ParseError);
                }
                let expected = packet.attachments;
                self.binary = Some(PendingBinary {
                    kind,
                    ack: packet.ack,
                    data,
                    expected,
                    parts: Vec::new(),
                    bytes: 0,
                });
                Ok(())
            }
        }
    }

    /// The namespace CONNECT: authenticates, then acknowledges with the socket id.
    async fn on_connect(&mut self, data: &str) -> Result<(), CloseReason> {
        if matches!(self.stage, Stage::Connected) {
            return Ok(());
        }
        let shared = self.engine.shared.clone();
        let auth: Value = if data.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(data).map_err(|_| CloseReason::ParseError)?
        };
        let sid = self.socket.id().to_owned();
        if shared.config.authenticate {
            let outcome = match token_from_auth(&auth, shared.config.max_token_len) {
                Ok(token) => authenticate(&shared.hooks, &shared.config, sid.clone(), token).await,
                Err(error) => Err(error),
            };
            if let Err(error) = outcome {
                shared.hooks.forget(sid.clone());
                tracing::debug!(%sid, %error, "connection refused");
                let _ = self.socket.send(&packet::connect_error("/", &error.to_string()));
                return Ok(());
            }
        }
        let state = Arc::new(shared.socket_state(&sid));
        self.socket.set_connected(state);
        self.stage = Stage::Connected;
        self.connect_by = None;
        if self.socket.send(&packet::connected(&sid)).is_err() {
            return Err(CloseReason::TransportError);
        }
        if shared.wants_notices() {
            shared.hooks.socket_notice(sid, SocketNotice::Connected);
        }
        Ok(())
    }

    /// A complete event or ack (attachments included).
    fn on_complete(
        &mut self,
        kind: SioKind,
        ack: Option<u64>,
        payload: Payload,
    ) -> Result<(), CloseReason> {
        if kind == SioKind::Ack {
            let id = ack.ok_or(CloseReason::ParseError)?;
            let json =
                packet::parse_ack_args(&payload.json).map_err(|_| CloseReason::ParseError)?;
            self.socket.resolve_ack(id, Payload { json, binary: payload.binary });
            return Ok(());
        }
        let (event, json) =
            packet::parse_event(&payload.json).map_err(|_| CloseReason::ParseError)?;
        let args = Payload { json, binary: payload.binary };
        let shared = self.engine.shared.clone();
        let client = self.client();
        match event.as_str() {
            JOIN_CHANNEL => {
                let arg = first_arg(&args);
                tokio::spawn(async move { access::handle_join(&shared, &client, arg).await });
            }
            LEAVE_CHANNEL => access::handle_leave(&client, first_arg(&args)),
            PUBLISH => {
                let reply = AckReply::Native(self.socket.clone(), ack);
                tokio::spawn(async move {
                    publish::handle_publish(&shared, &client, Ok(args), reply).await
                });
            }
            _ => {
                if shared.listens_to(&event) {
                    let reply = AckReply::Native(self.socket.clone(), ack);
                    tokio::spawn(async move {
                        shared.on_app_event(&client, event, args, ack.is_some(), reply).await
                    });
                }
            }
        }
        Ok(())
    }

    /// Flushes what is queued, sends the close frame, and waits (briefly) for the client to
    /// close its side, so that nothing sent before is lost to a reset.
    async fn close_gracefully(&mut self, mut timer: Pin<&mut Sleep>) {
        let reason = self.socket.close_reason().unwrap_or(CloseReason::TransportClose);
        match reason {
            CloseReason::TransportError => return,
            CloseReason::TransportClose => {
                self.socket.send_final(&frame::close(1000));
                return;
            }
            _ => {}
        }
        timer.as_mut().reset(Instant::now() + CLOSE_LINGER);
        let code = match reason {
            CloseReason::ServerClosing => 1001,
            CloseReason::ParseError => self.frame_error.unwrap_or(1002),
            _ => 1000,
        };
        self.socket.send_final(&frame::close(code));
        let stream = self.socket.stream();
        while self.socket.has_queued() {
            tokio::select! {
                ready = stream.writable() => {
                    if ready.is_err() || self.socket.flush().is_err() { return; }
                }
                _ = timer.as_mut() => return,
            }
        }
        let _ = socket2::SockRef::from(stream).shutdown(std::net::Shutdown::Write);
        loop {
            tokio::select! {
                ready = stream.readable() => {
                    if ready.is_err() { return; }
                    let ended = READ_BUFFER.with(|buffer| match stream.try_read(&mut buffer.borrow_mut()) {
                        Ok(n) => n == 0,
                        Err(e) => e.kind() != io::ErrorKind::WouldBlock,
                    });
                    if ended { return; }
                }
                _ = timer.as_mut() => return,
            }
        }
    }
}

/// Ending the connection, also when its task is dropped mid-way (server shutdown) or a
/// panic unwinds through it: leave every room, drop pending acks, tell the app.
impl Drop for Connection {
    fn drop(&mut self) {
        // Closing first: a join racing this sees the socket gone and undoes itself.
        self.socket.begin_close(CloseReason::TransportClose);
        let reason = self.socket.close_reason().unwrap_or(CloseReason::TransportClose);
        self.engine.registry.remove(&self.socket);
        self.socket.drop_acks();
        let shared = &self.engine.shared;
        if self.socket.was_connected() && shared.wants_notices() {
            let notice = SocketNotice::Disconnected(reason.socket_io_name().to_owned());
            shared.hooks.socket_notice(self.socket.id().to_owned(), notice);
        }
    }
}

/// The first argument of an event (the channel name of a join or leave).
fn first_arg(args: &Payload) -> Value {
    serde_json::from_str::<Vec<Value>>(&args.json)
        .ok()
        .and_then(|v| v.into_iter().next())
        .unwrap_or(Value::Null)
}
