//! One client of the native engine: its TCP stream, its send queue, its channels and its
//! pending acknowledgements. Any thread may send to it.
//!
//! Sending to an idle socket writes straight away (one `sendmsg` syscall, no task wake-up);
//! only what the kernel does not take stays queued, and the connection task flushes it when
//! the socket is writable again. The queue is bounded in frames and in bytes: a send that
//! would pass either bound fails with [`SendError::Full`], and the caller's send rule
//! (`crate::client`) cuts the client off instead of buffering without end.

use std::{
    collections::{HashMap, VecDeque},
    io::{self, IoSlice},
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc, Mutex, MutexGuard, OnceLock,
    },
};

use bytes::Bytes;
use tokio::{io::Interest, net::TcpStream, sync::oneshot};

use super::task_wake::TaskWake;
use crate::{payload::Payload, socket_state::SocketState};

/// Most frames written in one `sendmsg` when flushing the queue (4 KiB of `IoSlice`s on the
/// stack). A burst queues hundreds of small frames per member; at 64 a member's burst took
/// several syscalls and skbs (burst-10k: 3.9 -> 4.2 M deliveries/s at 256).
const MAX_WRITE_BATCH: usize = 256;

/// Why a frame could not be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendError {
    /// The send queue is full: the client has stopped reading.
    Full,
    /// The connection is closed or closing.
    Closed,
}

/// Why a connection ends, under the names socket.io's server gives them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// The client went away (EOF, reset, an Engine.IO close packet).
    TransportClose,
    /// Reading or writing failed, or the client stopped reading (send queue full).
    TransportError,
    /// The client sent something that is not Engine.IO/Socket.IO.
    ParseError,
    /// No pong within the ping timeout.
    PingTimeout,
    /// No CONNECT within the connect timeout.
    ConnectTimeout,
    /// The client left the namespace.
    ClientDisconnect,
    /// The client broke a per-connection rule (e.g. too many CONNECT attempts).
    Refused,
    /// The app disconnected the socket.
    ServerDisconnect,
    /// The server is closing.
    ServerClosing,
}

impl CloseReason {
    /// The reason text socket.io's server reports for this.
    pub fn socket_io_name(self) -> &'static str {
        match self {
            CloseReason::TransportClose => "transport close",
            CloseReason::TransportError => "transport error",
            CloseReason::ParseError => "parse error",
            CloseReason::PingTimeout => "ping timeout",
            CloseReason::ConnectTimeout => "transport close",
            CloseReason::ClientDisconnect => "client namespace disconnect",
            CloseReason::Refused => "forced server close",
            CloseReason::ServerDisconnect => "server namespace disconnect",
            CloseReason::ServerClosing => "server shutting down",
        }
    }
}

#[derive(Default)]
struct SendQueue {
    frames: VecDeque<Bytes>,
    /// The bytes of `frames` not yet written.
    bytes: usize,
}

impl SendQueue {
    fn push(&mut self, frame: &Bytes) {
        self.bytes += frame.len();
        self.frames.push_back(frame.clone());
    }

    /// Whether `frames` more frames of `bytes` more bytes would pass a bound.
    fn would_overflow(&self, frames: usize, bytes: usize, limits: QueueLimits) -> bool {
        self.frames.len() + frames > limits.frames || self.bytes + bytes > limits.bytes
    }
}

/// The bounds of one socket's send queue.
#[derive(Debug, Clone, Copy)]
pub struct QueueLimits {
    /// Most frames queued.
    pub frames: usize,
    /// Most bytes queued.
    pub bytes: usize,
}

/// Acknowledgements the server waits for, by ack id.
#[derive(Default)]
struct PendingAcks {
    next_id: u64,
    waiting: HashMap<u64, oneshot::Sender<Payload>>,
}

/// A client connection of the native engine and its (single) socket in namespace `/`.
pub struct NativeSocket {
    /// A process-unique number, the key of this socket in room member maps.
    pub(crate) key: u64,
    /// The Socket.IO socket id (`socket.id` on the client), given at the first CONNECT (a
    /// recovered session gets its old one back).
    id: OnceLock<Box<str>>,
    stream: TcpStream,
    queue: Mutex<SendQueue>,
    /// Wakes the connection task: there is something to flush, or the socket is closing.
    pub(crate) wake: TaskWake,
    limits: QueueLimits,
    connected: AtomicBool,
    close_reason: OnceLock<CloseReason>,
    /// Channels, each with the broadcast offset it was joined at (for recovery).
    rooms: Mutex<Vec<(Box<str>, u64)>>,
    /// The offset of the last broadcast written to the socket (recovery's position).
    position: AtomicU64,
    state: Mutex<Option<Arc<SocketState>>>,
    acks: Mutex<PendingAcks>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl NativeSocket {
    /// A socket over `stream` whose send queue is bounded by `limits`.
    pub fn new(key: u64, stream: TcpStream, limits: QueueLimits) -> Self {
        Self {
            key,
            id: OnceLock::new(),
            stream,
            queue: Mutex::new(SendQueue::default()),
            wake: TaskWake::default(),
            limits: QueueLimits { frames: limits.frames.max(1), bytes: limits.bytes.max(1) },
            connected: AtomicBool::new(false),
            close_reason: OnceLock::new(),
            rooms: Mutex::new(Vec::new()),
            position: AtomicU64::new(0),
            state: Mutex::new(None),
            acks: Mutex::new(PendingAcks::default()),
        }
    }

    /// The Socket.IO socket id (empty before the first CONNECT).
    pub fn id(&self) -> &str {
        self.id.get().map_or("", |id| id)
    }

    /// Gives the socket its id, once; later calls keep the first.
    pub(crate) fn set_id(&self, id: &str) {
        let _ = self.id.set(id.into());
    }

    /// The TCP stream (the connection task reads from it).
    pub(crate) fn stream(&self) -> &TcpStream {
        &self.stream
    }

    /// Whether the socket is connected to the namespace and not closing.
    pub fn connected(&self) -> bool {
        self.connected.load(Ordering::Acquire) && self.close_reason().is_none()
    }

    pub(crate) fn set_connected(&self, state: Arc<SocketState>) {
        *lock(&self.state) = Some(state);
        self.connected.store(true, Ordering::Release);
    }

    /// The client left the namespace (the connection stays open for another CONNECT):
    /// drops the socket's state.
    pub(crate) fn leave_namespace(&self) {
        self.connected.store(false, Ordering::Release);
        lock(&self.state).take();
    }

    /// Whether the socket is in the namespace, closing or not (for the disconnect notice).
    pub(crate) fn was_connected(&self) -> bool {
        self.connected.load(Ordering::Acquire)
    }

    /// The per-socket state (budgets, what the app is told to forget), while connected.
    pub fn state(&self) -> Option<Arc<SocketState>> {
        lock(&self.state).clone()
    }

    /// Why the connection is closing, once it is.
    pub fn close_reason(&self) -> Option<CloseReason> {
        self.close_reason.get().copied()
    }

    /// Starts closing for `reason` (the first reason wins): the connection task flushes what
    /// is queued, then closes. Returns whether this call started it.
    pub fn begin_close(&self, reason: CloseReason) -> bool {
        let started = self.close_reason.set(reason).is_ok();
        if started {
            self.wake.wake();
        }
        started
    }

    /// Closes at once, dropping whatever is queued: for clients that stopped reading and for
    /// the end of `close()`.
    pub fn kill(&self, reason: CloseReason) {
        self.begin_close(reason);
        *lock(&self.queue) = SendQueue::default();
        let _ = socket2::SockRef::from(&self.stream).shutdown(std::net::Shutdown::Both);
        self.wake.wake();
    }

    /// Sends one frame (shared, never copied per recipient).
    pub fn send(&self, frame: &Bytes) -> Result<(), SendError> {
        self.send_all(std::slice::from_ref(frame))
    }

    /// Sends frames that belong together (an event and its attachments) in order, with no
    /// other frame between them.
    pub fn send_all(&self, frames: &[Bytes]) -> Result<(), SendError> {
        if self.close_reason().is_some() {
            return Err(SendError::Closed);
        }
        self.write_frames(frames)
    }

    /// Sends the connection's last frames (a close frame) while it is closing.
    pub(crate) fn send_final(&self, frame: &Bytes) {
        let _ = self.write_frames(std::slice::from_ref(frame));
    }

    fn write_frames(&self, frames: &[Bytes]) -> Result<(), SendError> {
        let mut queue = lock(&self.queue);
        let idle = queue.frames.is_empty();
        let bytes = frames.iter().map(Bytes::len).sum();
        // An idle socket takes any one message: it is written at once.
        if !idle && queue.would_overflow(frames.len(), bytes, self.limits) {
            return Err(SendError::Full);
        }
        for frame in frames {
            queue.push(frame);
        }
        drop(queue);
        // A queue that was not empty is already being written (by a delivery batch or the
        // connection task); an idle one is written now.
        if idle {
            self.uncork()
        } else {
            Ok(())
        }
    }

    /// Queues `frames` without writing them yet, so that they go out in one `sendmsg` on
    /// [`NativeSocket::uncork`], under one lock of the queue. `Ok(true)` when this left
    /// frames in a queue that was empty before (or that a write on the way emptied): the
    /// caller then owes the socket an `uncork` once its batch is queued.
    pub fn cork_all<'a>(
        &self,
        frames: impl IntoIterator<Item = &'a Bytes>,
    ) -> Result<bool, SendError> {
        if self.close_reason().is_some() {
            return Err(SendError::Closed);
        }
        let mut queue = lock(&self.queue);
        let mut was_empty = queue.frames.is_empty();
        for frame in frames {
            if !queue.frames.is_empty() && queue.would_overflow(1, frame.len(), self.limits) {
                // A batch can hold more for one socket than its limits allow: write out what
                // the kernel takes before calling the client slow.
                drop(queue);
                match self.flush() {
                    Ok(emptied) => was_empty |= emptied,
                    Err(_) => {
                        self.begin_close(CloseReason::TransportError);
                        return Err(SendError::Closed);
                    }
                }
                queue = lock(&self.queue);
                if !queue.frames.is_empty() && queue.would_overflow(1, frame.len(), self.limits) {
                    return Err(SendError::Full);
                }
            }
            queue.push(frame);
        }
        Ok(was_empty && !queue.frames.is_empty())
    }

    /// Writes what is queued (what [`NativeSocket::cork_all`] queued, or a send to an idle
    /// socket); what the kernel does not take now is left to the connection task, which is
    /// woken for it.
    pub fn uncork(&self) -> Result<(), SendError> {
        match self.flush() {
            Ok(true) => Ok(()),
            Ok(false) => {
                self.wake.wake();
                Ok(())
            }
            Err(_) => {
                self.begin_close(CloseReason::TransportError);
                Err(SendError::Closed)
            }
        }
    }

    /// Whether frames wait in the send queue.
    pub(crate) fn has_queued(&self) -> bool {
        !lock(&self.queue).frames.is_empty()
    }

    /// Writes as much of the queue as the socket takes now. `Ok(true)` once it is empty.
    pub(crate) fn flush(&self) -> io::Result<bool> {
        let mut queue = lock(&self.queue);
        while !queue.frames.is_empty() {
            let result = {
                // On the stack: a flush runs per socket per delivery batch.
                let mut slices = [IoSlice::new(&[]); MAX_WRITE_BATCH];
                for (slot, frame) in slices.iter_mut().zip(queue.frames.iter()) {
                    *slot = IoSlice::new(frame);
                }
                let count = queue.frames.len().min(MAX_WRITE_BATCH);
                // `sendmsg` skips the file layer `writev` goes through (`fdget_pos`, VFS
                // checks): ≈10 % of paced fan-out's CPU. `try_io` clears readiness on EAGAIN.
                let sock = socket2::SockRef::from(&self.stream);
                let send = || sock.send_vectored_with_flags(&slices[..count], libc::MSG_NOSIGNAL);
                self.stream.try_io(Interest::WRITABLE, send)
            };
            let mut written = match result {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) => return Err(e),
            };
            queue.bytes -= written.min(queue.bytes);
            while written > 0 {
                let Some(front) = queue.frames.front_mut() else { break };
                if written >= front.len() {
                    written -= front.len();
                    queue.frames.pop_front();
                } else {
                    *front = front.slice(written..);
                    written = 0;
                }
            }
        }
        // An idle socket holds no queue memory (one small allocation per batch to refill).
        *queue = SendQueue::default();
        Ok(true)
    }

    /// The channels the socket is in.
    pub fn rooms(&self) -> Vec<String> {
        lock(&self.rooms).iter().map(|(r, _)| r.to_string()).collect()
    }

    /// The channels with the offsets they were joined at.
    pub fn rooms_joined_at(&self) -> Vec<(Box<str>, u64)> {
        lock(&self.rooms).clone()
    }

    /// The offset of the last broadcast written to the socket.
    pub fn position(&self) -> u64 {
        self.position.load(Ordering::Acquire)
    }

    /// Moves the socket's position (`u64::MAX` holds back every live broadcast while a
    /// recovery replays what was missed).
    pub(crate) fn set_position(&self, offset: u64) {
        self.position.store(offset, Ordering::Release);
    }

    /// Whether the socket is in `room`.
    pub fn in_room(&self, room: &str) -> bool {
        lock(&self.rooms).iter().any(|(r, _)| &**r == room)
    }

    /// How many channels the socket is in.
    pub fn room_count(&self) -> usize {
        lock(&self.rooms).len()
    }

    /// Records membership of `room` from broadcast offset `joined_at`; `false` if it already
    /// was a member.
    pub(crate) fn add_room(&self, room: &str, joined_at: u64) -> bool {
        let mut rooms = lock(&self.rooms);
        if rooms.iter().any(|(r, _)| &**r == room) {
            return false;
        }
        rooms.push((room.into(), joined_at));
        true
    }

    /// Forgets membership of `room`; `false` if it was not a member.
    pub(crate) fn remove_room(&self, room: &str) -> bool {
        let mut rooms = lock(&self.rooms);
        let Some(at) = rooms.iter().position(|(r, _)| &**r == room) else { return false };
        rooms.swap_remove(at);
        true
    }

    /// Forgets every membership, returning the rooms.
    pub(crate) fn take_rooms(&self) -> Vec<(Box<str>, u64)> {
        std::mem::take(&mut *lock(&self.rooms))
    }

    /// Registers a server → client acknowledgement to wait for; returns its id.
    pub(crate) fn expect_ack(&self) -> (u64, oneshot::Receiver<Payload>) {
        let (tx, rx) = oneshot::channel();
        let mut acks = lock(&self.acks);
        let id = acks.next_id;
        acks.next_id += 1;
        acks.waiting.insert(id, tx);
        (id, rx)
    }

    /// Stops waiting for ack `id` (timed out).
    pub(crate) fn forget_ack(&self, id: u64) {
        let mut acks = lock(&self.acks);
        acks.waiting.remove(&id);
        if acks.waiting.is_empty() {
            acks.waiting = HashMap::new();
        }
    }

    /// The client answered ack `id`.
    pub(crate) fn resolve_ack(&self, id: u64, args: Payload) {
        let waiter = lock(&self.acks).waiting.remove(&id);
        if let Some(waiter) = waiter {
            let _ = waiter.send(args);
        }
    }

    /// Fails every pending ack (the socket is gone).
    pub(crate) fn drop_acks(&self) {
        lock(&self.acks).waiting = HashMap::new();
    }
}
