//! The IO loop of one native connection, in one task: answers the handshake, reads into a
//! per-thread buffer, feeds [`Protocol`] and carries out its steps (through the shared
//! dispatch), runs the connection's flows, flushes what direct writes could not send, and
//! closes gracefully.
//!
//! Reading stops while the socket has as many app events waiting for JS as allowed, so
//! Rust never reads faster than the app handles (TCP backpressure to the client). The
//! connection's flows hold its socket weakly: when it ends they run on to their own
//! timeout (so a hung handler is still reported), but never keep the socket open.

mod connect;

use std::{
    cell::RefCell,
    io::{self, Read as _},
    pin::Pin,
    sync::Arc,
    time::Duration,
};

use bytes::Bytes;
use tokio::{
    io::{Interest, Ready},
    time::{sleep_until, Instant, Sleep},
};

use crate::{
    client::{cut_off_slow, AckReply, Client},
    dispatch::{self, Dispatched},
    native::{
        client::{NativeAck, NativeClient},
        flows::Flows,
        frame, packet,
        protocol::{Protocol, Step},
        restore,
        socket::{CloseReason, NativeSocket},
        NativeEngine, RequestHead,
    },
    recovery::Saved,
};

/// Bytes read per `read` syscall, into a buffer shared by all connections of a thread, so an
/// idle connection holds no read buffer at all.
const READ_CHUNK: usize = 16 * 1024;

/// How long a closing connection waits for the client to close its side.
const CLOSE_LINGER: Duration = Duration::from_secs(2);

thread_local! {
    static READ_BUFFER: RefCell<Box<[u8]>> = RefCell::new(vec![0; READ_CHUNK].into_boxed_slice());
}

struct Connection {
    engine: Arc<NativeEngine>,
    socket: Arc<NativeSocket>,
    /// The socket as the flows see it, once it has an id (at its first CONNECT).
    client: Option<Client>,
    protocol: Protocol,
    /// The private id of a recoverable session (recovery on, connected).
    pid: Option<String>,
    /// The connection's flows (joins, publishes, app events); detached when it ends.
    flows: Flows,
    /// The upgrade request's `User-Agent`, until the app has been told of the connection (at
    /// the first connect).
    user_agent: Option<String>,
    /// Bytes of the upgrade request still in the receive queue, which the first reads skip
    /// (a peeked head, see `NativeEngine::adopt_peeked`); at most `MAX_SNIFFED_HEAD`.
    unread_head: u16,
}

enum Read {
    Nothing,
    Data,
    Ended,
}

/// What the connection's loop waits for on its stream: to read unless decoded messages are
/// still waiting to be carried out, to write while something is queued.
fn io_interest(may_read: bool, want_write: bool) -> Option<Interest> {
    match (may_read, want_write) {
        (true, true) => Some(Interest::READABLE | Interest::WRITABLE),
        (true, false) => Some(Interest::READABLE),
        (false, true) => Some(Interest::WRITABLE),
        (false, false) => None,
    }
}

/// Serves a connection whose upgrade request has been recognized: answers it and registers
/// the socket now, and returns the task that runs until the connection ends. `head` says
/// whether the request was read (with the websocket bytes that arrived with it) or is still
/// to be skipped in the receive queue. The setup is done before the task so
/// that its locals (the answer, the ids, the early bytes) are not kept in the task, which
/// every idle connection holds for its lifetime: the task then holds the `Connection` and
/// its loop only. A task dropped unpolled still ends the connection (`Connection`'s drop).
pub(crate) fn serve(
    engine: Arc<NativeEngine>,
    socket: Arc<NativeSocket>,
    accept: &str,
    head: RequestHead<'_>,
    user_agent: Option<String>,
) -> impl std::future::Future<Output = ()> + Send + 'static {
    let config = &engine.shared.config;
    let mut hello = crate::native::handshake::switching_protocols(accept);
    let engine_sid = crate::native::random_id();
    hello.extend_from_slice(&packet::open(
        &engine_sid,
        config.ping_interval.as_millis(),
        config.ping_timeout.as_millis(),
        config.max_payload,
    ));
    socket.send_final(&Bytes::from(hello));
    let (early, unread_head) = match head {
        RequestHead::Read { early } => (early, 0),
        // A peeked head is at most MAX_SNIFFED_HEAD (8 KiB) long.
        RequestHead::Unread { head_len } => (&[][..], u16::try_from(head_len).unwrap_or(u16::MAX)),
    };
    let mut conn = Connection {
        protocol: Protocol::new(config, Instant::now()),
        flows: Flows::default(),
        user_agent,
        unread_head,
        pid: None,
        engine,
        socket,
        client: None,
    };
    conn.engine.registry.insert(conn.socket.clone());
    if !early.is_empty() {
        conn.feed(&mut early.to_vec());
    }
    async move { conn.run().await }
}

impl Connection {
    fn closing(&self) -> bool {
        self.socket.close_reason().is_some()
    }

    /// Whether the next decoded message may be taken now: not while the app still has as
    /// many of this socket's events as allowed.
    fn may_dispatch(&self) -> bool {
        self.client.as_ref().is_none_or(|c| dispatch::has_event_room(&self.engine.shared, c))
    }

    fn native_client(&self) -> NativeClient {
        let shared = &self.engine.shared;
        let offsets = shared.recovery.is_some();
        NativeClient::new(
            &self.socket,
            self.engine.registry.clone(),
            shared.metrics.clone(),
            offsets,
        )
    }

    async fn run(&mut self) {
        let timer: Sleep = sleep_until(self.protocol.deadline());
        tokio::pin!(timer);
        loop {
            while !self.closing() && self.protocol.has_pending() && self.may_dispatch() {
                let Some(step) = self.protocol.next_step(Instant::now()) else { break };
                self.carry_out(step).await;
            }
            if self.closing() {
                break;
            }
            let deadline = self.protocol.deadline();
            if timer.deadline() != deadline {
                timer.as_mut().reset(deadline);
            }
            let wanted = io_interest(!self.protocol.has_pending(), self.socket.has_queued());
            // `ready` takes an interest even while its branch is off (then nothing waits on it).
            let waits_on = wanted.unwrap_or(Interest::READABLE);
            let stream = self.socket.stream();
            // One readiness wait for both directions (a second would add its size to every
            // idle connection's task), and the timer's step carried out after the select,
            // not inside it, so the task never holds the select's state and a step at once.
            let timed = tokio::select! {
                ready = stream.ready(waits_on), if wanted.is_some() => {
                    self.on_ready(waits_on, ready);
                    None
                }
                () = self.flows.next_done(), if self.flows.running() => None,
                () = self.socket.wake.woken() => None,
                _ = timer.as_mut() => self.protocol.on_timer(Instant::now()),
            };
            if let Some(step) = timed {
                self.carry_out(step).await;
            }
        }
        // The flows run on as tasks of their own while the close lingers.
        self.flows.detach();
        self.close_gracefully(timer).await;
    }

    /// The stream is ready for some of what `wanted`: reads, flushes, or starts closing.
    fn on_ready(&mut self, wanted: Interest, ready: io::Result<Ready>) {
        let Ok(ready) = ready else {
            self.socket.begin_close(CloseReason::TransportError);
            return;
        };
        if wanted.is_readable() && (ready.is_readable() || ready.is_read_closed()) {
            let ended = match self.read_once() {
                Ok(Read::Ended) => Some(CloseReason::TransportClose),
                Ok(Read::Nothing | Read::Data) => None,
                Err(_) => Some(CloseReason::TransportError),
            };
            if let Some(reason) = ended {
                self.socket.begin_close(reason);
            }
        }
        if wanted.is_writable()
            && (ready.is_writable() || ready.is_write_closed())
            && self.socket.flush().is_err()
        {
            self.socket.begin_close(CloseReason::TransportError);
        }
    }

    /// Reads what the socket has into the thread's shared buffer and decodes it. A short
    /// read has drained the socket, so it clears the read readiness at once: otherwise the
    /// next `readable()` resolves at once and pays a `recvfrom` that finds nothing, for
    /// every message a client sends. The read runs inside `try_io`, whose clearing keeps a
    /// readiness event raised after the read began (and a peer's close is never cleared).
    fn read_once(&mut self) -> io::Result<Read> {
        READ_BUFFER.with(|buffer| {
            let mut buffer = buffer.borrow_mut();
            let stream = self.socket.stream();
            let mut drained = None;
            let read = stream.try_io(Interest::READABLE, || {
                let n = (&*socket2::SockRef::from(stream)).read(&mut buffer[..])?;
                if n > 0 && n < buffer.len() {
                    drained = Some(n);
                    return Err(io::ErrorKind::WouldBlock.into());
                }
                Ok(n)
            });
            match drained.map_or(read, Ok) {
                Ok(0) => Ok(Read::Ended),
                Ok(n) => {
                    let head = self.unread_head.min(u16::try_from(n).unwrap_or(u16::MAX));
                    self.unread_head -= head;
                    let head = usize::from(head);
                    self.engine.shared.metrics.received(n - head);
                    if head < n {
                        self.feed(&mut buffer[head..n]);
                    }
                    Ok(Read::Data)
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(Read::Nothing),
                Err(e) => Err(e),
            }
        })
    }

    fn feed(&mut self, bytes: &mut [u8]) {
        if let Some(Step::Close(reason)) = self.protocol.feed(bytes) {
            self.socket.begin_close(reason);
        }
    }

    async fn carry_out(&mut self, step: Step) {
        match step {
            Step::Send(frames) => {
                // A full queue here means the client stopped reading: the send rule applies.
                let shared = &self.engine.shared;
                if self.socket.send_all(&frames).is_ok() {
                    shared.metrics.sent(frames.iter().map(|f| f.len()).sum());
                } else {
                    cut_off_slow(&self.native_client());
                }
            }
            Step::Close(reason) => {
                self.socket.begin_close(reason);
            }
            Step::LeaveNamespace => {
                // The notice goes first: dropping the state tells the app to forget the socket.
                let reason = CloseReason::ClientDisconnect.socket_io_name();
                dispatch::disconnected(&self.engine.shared, self.socket.id(), reason);
                self.engine.registry.leave_all(&self.socket);
                self.socket.leave_namespace();
                if let (Some(recovery), Some(pid)) = (&self.engine.shared.recovery, self.pid.take())
                {
                    recovery.sessions.detach(&pid);
                }
            }
            // Boxed: its state (authentication, restore) would otherwise sit in every idle
            // connection's task, which lives far longer than one CONNECT.
            Step::Connect(token, recovery) => Box::pin(self.connect(token, recovery)).await,
            Step::Ack { id, args } => self.socket.resolve_ack(id, args),
            Step::Event { name, args, ack } => {
                let Some(client) = self.client.clone() else { return };
                let metrics = &self.engine.shared.metrics;
                let sink = ack.map(|id| {
                    Box::new(NativeAck::new(&self.socket, id, metrics.clone())) as Box<_>
                });
                let reply = AckReply::new(client.clone(), sink);
                match dispatch::event(&self.engine.shared, &client, &name, args, reply) {
                    Dispatched::Done => {}
                    Dispatched::Run(flow) => {
                        self.flows.start(flow);
                    }
                    Dispatched::Overloaded => {
                        // Reading pauses before this can happen; a race lands here.
                        tracing::debug!(sid = %self.socket.id(), event = %name, "event dropped: too many in flight");
                    }
                }
            }
        }
    }

    /// Flushes what is queued, sends the close frame, and waits (briefly) for the client to
    /// close its side, so that nothing sent before is lost to a reset.
    async fn close_gracefully(&mut self, mut timer: Pin<&mut Sleep>) {
        let reason = self.socket.close_reason().unwrap_or(CloseReason::TransportClose);
        match reason {
            CloseReason::TransportError => return,
            CloseReason::TransportClose => {
                // The client is gone or closing: answer its close frame if it sent one.
                self.socket.send_final(&frame::close(1000));
                return;
            }
            _ => {}
        }
        timer.as_mut().reset(Instant::now() + CLOSE_LINGER);
        self.socket.send_final(&frame::close(self.protocol.close_code(reason)));
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
/// panic unwinds through it: let its flows run out on their own, leave every room, drop
/// pending acks, tell the app.
impl Drop for Connection {
    fn drop(&mut self) {
        // Closing first: a join racing this sees the socket gone and undoes itself.
        self.socket.begin_close(CloseReason::TransportClose);
        self.flows.detach();
        let reason = self.socket.close_reason().unwrap_or(CloseReason::TransportClose);
        if let (Some(recovery), Some(pid)) = (&self.engine.shared.recovery, &self.pid) {
            recovery.sessions.detach(pid);
            if self.socket.was_connected() && restore::keeps_session(reason) {
                let saved = Saved {
                    sid: self.socket.id().into(),
                    rooms: self.socket.rooms_joined_at(),
                    position: self.socket.position(),
                };
                recovery.save(pid, saved);
            }
        }
        self.engine.registry.remove(&self.socket);
        self.socket.drop_acks();
        if self.socket.was_connected() {
            dispatch::disconnected(&self.engine.shared, self.socket.id(), reason.socket_io_name());
        } else if self.client.is_some() {
            // It sent a CONNECT (it has an id): the app may hold state for it.
            dispatch::abandoned(&self.engine.shared, self.socket.id());
        }
    }
}
