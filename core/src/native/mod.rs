//! The native engine: Engine.IO v4 / Socket.IO v5 over websocket, for sessions that open
//! directly on a websocket (what the Modelence client and `transports: ['websocket']` do).
//!
//! It exists for memory and speed. Each connection is one task and one [`NativeSocket`]: no
//! read buffer while idle (reads go through a per-thread buffer), no per-socket channel
//! or heartbeat task, and a broadcast is encoded once and written straight to each member's
//! socket from the delivery task. Long-polling, upgrades from it and bridged streams (TLS,
//! Windows, Unix-socket servers) are served by the socketioxide engine (`crate::sio`); both sit behind
//! [`crate::engine::Engine`].

pub mod client;
pub mod conn;
mod flows;
pub mod frame;
pub mod handshake;
pub mod packet;
pub mod protocol;
pub mod registry;
pub mod restore;
pub mod socket;
mod task_wake;

#[cfg(test)]
mod mutation_props;

use std::sync::Arc;

use base64::Engine as _;
use bytes::Bytes;
use rand::Rng;
use tokio::net::TcpStream;

use crate::{
    broadcast::Broadcast,
    client::{cut_off_slow, Client},
    engine::{Engine, EngineFuture},
    shared::Shared,
};
pub use client::NativeClient;
pub use handshake::{native_upgrade, NativeUpgrade};
pub use registry::Registry;
pub use socket::NativeSocket;
use socket::{CloseReason, QueueLimits, SendError};

/// A batch's deliveries written before the corked sockets are flushed, which bounds the
/// frames queued at once (each a shared reference, 32 bytes, not a copy: at most 32 MiB) and
/// the latency batching adds (corking one costs tens of nanoseconds; the writes cost far more).
/// A member whose broadcasts straddle a flush gets two writes for them, and the write is most
/// of what a delivery costs: at 262,144, a burst of 20 broadcasts to each of 16,667 members
/// (`npm run bench -- --cluster`, burst-1ch) went out in two writes per member.
const MAX_BATCH_DELIVERIES: usize = 1 << 20;

/// What every native connection shares: the server's handlers and the registry.
pub struct NativeEngine {
    /// The server's configuration, policy and broadcaster.
    pub shared: Arc<Shared>,
    /// Native sockets and their rooms.
    pub registry: Arc<Registry>,
}

/// Where a connection's upgrade request head is when the engine takes it over.
pub(crate) enum RequestHead<'a> {
    /// Already read; `early` holds the websocket bytes that arrived with it.
    Read { early: &'a [u8] },
    /// Still in the socket's receive queue, `head_len` bytes long (it was peeked).
    Unread { head_len: usize },
}

impl NativeEngine {
    /// An engine serving connections with `shared`.
    pub fn new(shared: Arc<Shared>) -> Self {
        let registry = Arc::new(Registry::new(shared.recovery.clone()));
        Self { shared, registry }
    }

    /// Takes over `stream`, whose upgrade request (`head`, recognized as `upgrade`) has been
    /// read: answers it, registers the socket, and returns the task that serves it.
    pub fn adopt(
        self: &Arc<Self>,
        stream: TcpStream,
        head: Bytes,
        upgrade: NativeUpgrade,
    ) -> impl std::future::Future<Output = ()> + Send + 'static {
        let early = &head[upgrade.head_len.min(head.len())..];
        self.serve(stream, RequestHead::Read { early }, upgrade)
    }

    /// Takes over `stream`, whose upgrade request (recognized as `upgrade`) was only peeked:
    /// it is still in the receive queue, and the connection's first read takes it with
    /// whatever follows. A read of its own would cost a `recvfrom`, and leave the socket
    /// marked readable, so the connection's first wait would pay another that finds nothing.
    pub fn adopt_peeked(
        self: &Arc<Self>,
        stream: TcpStream,
        upgrade: NativeUpgrade,
    ) -> impl std::future::Future<Output = ()> + Send + 'static {
        let head_len = upgrade.head_len;
        self.serve(stream, RequestHead::Unread { head_len }, upgrade)
    }

    fn serve(
        self: &Arc<Self>,
        stream: TcpStream,
        head: RequestHead<'_>,
        upgrade: NativeUpgrade,
    ) -> impl std::future::Future<Output = ()> + Send + 'static {
        let config = &self.shared.config;
        let limits =
            QueueLimits { frames: config.max_buffered_packets, bytes: config.max_buffered_bytes };
        let socket = Arc::new(NativeSocket::new(self.registry.next_key(), stream, limits));
        conn::serve(self.clone(), socket, &upgrade.accept, head, upgrade.user_agent)
    }

    fn client(&self, socket: &Arc<NativeSocket>) -> NativeClient {
        let offsets = self.shared.recovery.is_some();
        NativeClient::new(socket, self.registry.clone(), self.shared.metrics.clone(), offsets)
    }
}

impl Engine for NativeEngine {
    fn socket(&self, sid: &str) -> Option<Client> {
        let socket = self.registry.get(sid)?;
        Some(Client::new(Arc::new(self.client(&socket))))
    }

    fn member_ids(&self, room: &str) -> Vec<String> {
        self.registry.member_ids(room)
    }

    /// Encodes each broadcast once and corks each run of broadcasts to one channel on every
    /// member under one lock of its queue; each member's frames then go out together
    /// (`sendmsg`).
    fn deliver(&self, batch: &[Broadcast]) {
        let mut members = Vec::new();
        let mut frames = Vec::new();
        let mut corked = Vec::new();
        let mut deliveries = 0;
        for same_channel in batch.chunk_by(|a, b| a.channel == b.channel) {
            let channel = &same_channel[0].channel;
            self.registry.members_into(channel.as_str(), &mut members);
            if members.is_empty() {
                continue;
            }
            // A run of broadcasts to one channel is queued on each member under one lock,
            // in pieces small enough that the corked deliveries stay bounded.
            let per_piece = (MAX_BATCH_DELIVERIES / members.len()).max(1);
            let category = channel.category();
            for piece in same_channel.chunks(per_piece) {
                frames.clear();
                for broadcast in piece {
                    let frame = packet::broadcast(category, broadcast.data.get(), broadcast.label);
                    self.shared.metrics.delivered(category, members.len());
                    self.shared.metrics.sent(frame.len() * members.len());
                    frames.push((frame, broadcast.offset));
                }
                deliveries += members.len() * piece.len();
                for socket in &members {
                    match socket.cork_all(unseen(socket, &frames)) {
                        Ok(true) => corked.push(socket.clone()),
                        Ok(false) | Err(SendError::Closed) => {}
                        Err(SendError::Full) => cut_off_slow(&self.client(socket)),
                    }
                }
                if deliveries >= MAX_BATCH_DELIVERIES {
                    uncork(&mut corked);
                    deliveries = 0;
                }
            }
        }
        uncork(&mut corked);
    }

    fn room_names(&self) -> EngineFuture<Vec<String>> {
        let names = self.registry.room_names();
        Box::pin(async move { names })
    }

    fn begin_close_all(&self) -> EngineFuture {
        for socket in self.registry.all() {
            socket.begin_close(CloseReason::ServerClosing);
        }
        Box::pin(async {})
    }

    fn kill_all(&self) {
        for socket in self.registry.all() {
            socket.kill(CloseReason::ServerClosing);
        }
    }
}

/// The frames of `frames` that `socket` has not had: a recovering socket got the ones up to
/// its position from its replay (or will not need them). Advances its position as they go.
fn unseen<'a>(
    socket: &'a NativeSocket,
    frames: &'a [(Bytes, Option<u64>)],
) -> impl Iterator<Item = &'a Bytes> + 'a {
    frames.iter().filter_map(move |(frame, offset)| match offset {
        Some(offset) if socket.position() >= *offset => None,
        Some(offset) => {
            socket.set_position(*offset);
            Some(frame)
        }
        None => Some(frame),
    })
}

/// Writes what a batch queued on each socket.
fn uncork(corked: &mut Vec<Arc<NativeSocket>>) {
    for socket in corked.drain(..) {
        let _ = socket.uncork(); // a failed write has started closing the socket
    }
}

/// A random 16-character id (96 bits, URL-safe base64), as Engine.IO and Socket.IO use.
pub fn random_id() -> String {
    let bytes: [u8; 12] = rand::rng().random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}
