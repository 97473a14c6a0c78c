//! One native connection's protocol, without IO: bytes from the client go in, [`Step`]s
//! come out (frames to send, a CONNECT to authenticate, an event to dispatch, a reason to
//! close). It owns the websocket decoder, the Engine.IO heartbeat and connect deadlines, the
//! namespace stage, binary attachments and the per-connection CONNECT budget. The IO loop
//! (`conn.rs`) reads, writes and runs the flows; this module decides.

use std::collections::VecDeque;

use bytes::Bytes;
use tokio::time::{Duration, Instant};

use crate::{
    auth::{recovery_from_auth_text, token_from_auth_text, RecoveryRequest},
    config::Config,
    errors::AuthError,
    native::{
        frame::{self, Decoder, Incoming},
        packet::{self, EnginePacket, SioKind},
        socket::CloseReason,
    },
    payload::Payload,
};

/// Most binary attachments one packet may announce.
const MAX_ATTACHMENTS: usize = 256;

/// Longest namespace name answered with CONNECT_ERROR; a longer one is a protocol error.
const MAX_NAMESPACE_LEN: usize = 256;

/// What the connection must do next.
#[derive(Debug, PartialEq)]
pub enum Step {
    /// Send these frames (in order, together).
    Send(Vec<Bytes>),
    /// Authenticate the namespace CONNECT with this token (read from its auth payload),
    /// recovering the session it names if it does, then call [`Protocol::accepted`] or
    /// [`Protocol::refused`].
    Connect(Result<Option<String>, AuthError>, RecoveryRequest),
    /// Dispatch client event `name` with `args`; `ack` is the id it asked an ack for.
    Event {
        /// The event name.
        name: String,
        /// Its arguments (binary parts included).
        args: Payload,
        /// The ack id the client asked for.
        ack: Option<u64>,
    },
    /// The client answered the server's ack request `id`.
    Ack {
        /// The ack id.
        id: u64,
        /// The answer's arguments.
        args: Payload,
    },
    /// The client left the namespace (`41`): the socket leaves it, the connection stays
    /// open for another CONNECT, as socket.io's does.
    LeaveNamespace,
    /// Close the connection for this reason.
    Close(CloseReason),
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    AwaitingConnect,
    Authenticating,
    Connected,
}

/// The protocol state of one connection.
pub struct Protocol {
    decoder: Decoder,
    incoming: VecDeque<Incoming>,
    stage: Stage,
    binary: Option<PendingBinary>,
    max_payload: usize,
    max_token_len: usize,
    connect_attempts: u32,
    max_connect_attempts: u32,
    ping_interval: Duration,
    ping_timeout: Duration,
    /// The close code of a websocket-level protocol error, once one happened.
    frame_error: Option<u16>,
    /// When the next heartbeat ping goes out.
    ping_at: Instant,
    /// When the unanswered ping times out.
    pong_by: Option<Instant>,
    /// When the namespace CONNECT must have arrived.
    connect_by: Option<Instant>,
}

impl Protocol {
    /// A connection opened at `now` under `config`.
    pub fn new(config: &Config, now: Instant) -> Self {
        let max_payload = usize::try_from(config.max_payload).unwrap_or(usize::MAX);
        Self {
            decoder: Decoder::new(max_payload),
            incoming: VecDeque::new(),
            stage: Stage::AwaitingConnect,
            binary: None,
            max_payload,
            max_token_len: config.max_token_len,
            connect_attempts: 0,
            max_connect_attempts: config.max_connect_attempts,
            ping_interval: config.ping_interval,
            ping_timeout: config.ping_timeout,
            frame_error: None,
            ping_at: now + config.ping_interval,
            pong_by: None,
            connect_by: Some(now + config.connect_timeout),
        }
    }

    /// Decodes bytes from the client. A websocket-level error returns the close step.
    pub fn feed(&mut self, bytes: &mut [u8]) -> Option<Step> {
        let mut out = Vec::new();
        let result = self.decoder.feed(bytes, &mut out);
        self.incoming.extend(out);
        match result {
            Ok(()) => None,
            Err(error) => {
                tracing::debug!(%error, "websocket protocol error");
                self.frame_error = Some(error.close_code());
                Some(Step::Close(CloseReason::ParseError))
            }
        }
    }

    /// Whether decoded messages wait to be taken with [`Protocol::next_step`].
    pub fn has_pending(&self) -> bool {
        !self.incoming.is_empty()
    }

    /// The next step that decoded messages call for at `now`, if any.
    pub fn next_step(&mut self, now: Instant) -> Option<Step> {
        while let Some(message) = self.incoming.pop_front() {
            match self.on_message(message, now) {
                Ok(Some(step)) => return Some(step),
                Ok(None) => {}
                Err(reason) => return Some(Step::Close(reason)),
            }
        }
        if self.incoming.capacity() > 16 {
            self.incoming = VecDeque::new();
        }
        None
    }

    /// The CONNECT was authenticated: the frame acknowledging socket `sid` (with the private
    /// id `pid` of a recoverable session).
    pub fn accepted(&mut self, sid: &str, pid: Option<&str>) -> Bytes {
        self.stage = Stage::Connected;
        self.connect_by = None;
        packet::connected(sid, pid)
    }

    /// The CONNECT was refused: the CONNECT_ERROR frame. The client may try again (within
    /// the CONNECT budget).
    pub fn refused(&mut self, error: &AuthError) -> Bytes {
        self.stage = Stage::AwaitingConnect;
        packet::connect_error("/", &error.to_string())
    }

    /// When [`Protocol::on_timer`] must run next.
    pub fn deadline(&self) -> Instant {
        [self.pong_by, self.connect_by].into_iter().flatten().fold(self.ping_at, Instant::min)
    }

    /// The heartbeat and connect deadlines at `now`: a ping to send, or a reason to close.
    pub fn on_timer(&mut self, now: Instant) -> Option<Step> {
        if self.connect_by.is_some_and(|by| by <= now) {
            Some(Step::Close(CloseReason::ConnectTimeout))
        } else if self.pong_by.is_some_and(|by| by <= now) {
            Some(Step::Close(CloseReason::PingTimeout))
        } else if self.ping_at <= now {
            self.ping_at = now + self.ping_interval + self.ping_timeout;
            self.pong_by = Some(now + self.ping_timeout);
            Some(Step::Send(vec![packet::ping()]))
        } else {
            None
        }
    }

    /// The websocket close code for closing with `reason`.
    pub fn close_code(&self, reason: CloseReason) -> u16 {
        match reason {
            CloseReason::ServerClosing => 1001,
            CloseReason::ParseError => self.frame_error.unwrap_or(1002),
            CloseReason::Refused => 1008,
            _ => 1000,
        }
    }

    fn on_message(&mut self, message: Incoming, now: Instant) -> Result<Option<Step>, CloseReason> {
        match message {
            // Control frames carry at most 125 bytes (the decoder enforces it).
            Incoming::Ping(data) => Ok(Some(Step::Send(vec![frame::pong(&data)]))),
            Incoming::Close => Err(CloseReason::TransportClose),
            Incoming::Binary(bytes) => self.on_attachment(bytes),
            Incoming::Text(text) => {
                if self.binary.is_some() {
                    return Err(CloseReason::ParseError);
                }
                match packet::parse_engine(&text).map_err(|_| CloseReason::ParseError)? {
                    EnginePacket::Close => Err(CloseReason::TransportClose),
                    // Engine.IO v4 clients never ping: engine.io closes on it, and so do we
                    // (answering would echo up to `maxHttpBufferSize` per packet).
                    EnginePacket::Ping(_) => Err(CloseReason::ParseError),
                    EnginePacket::Pong => {
                        if self.pong_by.take().is_some() {
                            self.ping_at = now + self.ping_interval;
                        }
                        Ok(None)
                    }
                    EnginePacket::Message(sio) => self.on_sio(sio),
                    EnginePacket::Ignored => Ok(None),
                }
            }
        }
    }

    fn on_attachment(&mut self, bytes: Bytes) -> Result<Option<Step>, CloseReason> {
        let pending = self.binary.as_mut().ok_or(CloseReason::ParseError)?;
        pending.bytes += bytes.len();
        if pending.bytes > self.max_payload {
            return Err(CloseReason::ParseError);
        }
        pending.parts.push(bytes);
        if pending.parts.len() < pending.expected {
            return Ok(None);
        }
        let Some(done) = self.binary.take() else { return Ok(None) };
        complete(done.kind, done.ack, Payload { json: done.data, binary: done.parts }).map(Some)
    }

    fn on_sio(&mut self, text: &str) -> Result<Option<Step>, CloseReason> {
        let packet = packet::parse_sio(text).map_err(|_| CloseReason::ParseError)?;
        if packet.kind == SioKind::Connect {
            self.connect_attempts += 1;
            if self.connect_attempts > self.max_connect_attempts {
                tracing::debug!(attempts = self.connect_attempts, "too many CONNECT attempts");
                return Err(CloseReason::Refused);
            }
        }
        if packet.namespace != "/" {
            if packet.namespace.len() > MAX_NAMESPACE_LEN {
                return Err(CloseReason::ParseError);
            }
            if packet.kind == SioKind::Connect {
                let refusal = packet::connect_error(packet.namespace, "Invalid namespace");
                return Ok(Some(Step::Send(vec![refusal])));
            }
            return Ok(None);
        }
        match packet.kind {
            SioKind::Connect if self.stage == Stage::AwaitingConnect => {
                self.stage = Stage::Authenticating;
                let token = token_from_auth_text(packet.data, self.max_token_len);
                Ok(Some(Step::Connect(token, recovery_from_auth_text(packet.data))))
            }
            SioKind::Connect => Ok(None),
            SioKind::Disconnect if self.stage == Stage::Connected => {
                self.stage = Stage::AwaitingConnect;
                self.binary = None;
                Ok(Some(Step::LeaveNamespace))
            }
            SioKind::Disconnect => Ok(None),
            _ if self.stage != Stage::Connected => Ok(None),
            kind => {
                // Binary events and acks are events and acks whose attachments follow.
                let kind = if matches!(kind, SioKind::Ack | SioKind::BinaryAck) {
                    SioKind::Ack
                } else {
                    SioKind::Event
                };
                let data = packet.data.to_owned();
                if packet.attachments == 0 {
                    return complete(kind, packet.ack, Payload { json: data, binary: Vec::new() })
                        .map(Some);
                }
                if packet.attachments > MAX_ATTACHMENTS {
                    return Err(CloseReason::ParseError);
                }
                self.binary = Some(PendingBinary {
                    kind,
                    ack: packet.ack,
                    data,
                    expected: packet.attachments,
                    parts: Vec::new(),
                    bytes: 0,
                });
                Ok(None)
            }
        }
    }
}

/// A complete event or ack (attachments included).
fn complete(kind: SioKind, ack: Option<u64>, payload: Payload) -> Result<Step, CloseReason> {
    if kind == SioKind::Ack {
        let id = ack.ok_or(CloseReason::ParseError)?;
        let json = packet::parse_ack_args(&payload.json).map_err(|_| CloseReason::ParseError)?;
        return Ok(Step::Ack { id, args: Payload { json, binary: payload.binary } });
    }
    let (name, json) = packet::parse_event(&payload.json).map_err(|_| CloseReason::ParseError)?;
    Ok(Step::Event { name, args: Payload { json, binary: payload.binary }, ack })
}

#[cfg(test)]
#[path = "protocol_tests.rs"]
mod tests;
