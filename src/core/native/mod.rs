//! The native engine: Engine.IO v4 / Socket.IO v5 over websocket, for sessions that open
//! directly on a websocket (what the Modelence client and `transports: ['websocket']` do).
//!
//! It exists for memory and speed. Each connection is one task and one [`NativeSocket`]: no
//! read buffer while idle (reads go through a per-thread buffer), no per-socket channel
//! or heartbeat task, and a broadcast is encoded once and written straight to each member's
//! socket from the fan-out task. Long-polling, upgrades from it and bridged (TLS, Windows)
//! streams stay on socketioxide; [`crate::core::client::Client`] hides which engine a
//! socket is on.

pub mod conn;
pub mod frame;
pub mod handshake;
pub mod packet;
pub mod registry;
pub mod socket;

use std::sync::Arc;

use base64::Engine as _;
use bytes::Bytes;
use rand::Rng;
use tokio::net::TcpStream;

use crate::core::session::Shared;
pub use handshake::{native_upgrade, NativeUpgrade};
pub use registry::Registry;
pub use socket::NativeSocket;

/// What every native connection shares: the server's handlers and the registry.
pub struct NativeEngine {
    /// The server's configuration, hooks and broadcaster.
    pub shared: Arc<Shared>,
    /// Native sockets and their rooms.
    pub registry: Arc<Registry>,
}

impl NativeEngine {
    /// Takes over `stream`, whose upgrade request (`head`, recognized as `upgrade`) has been
    /// read: returns the task that registers the socket and serves it.
    pub fn adopt(
        self: &Arc<Self>,
        stream: TcpStream,
        head: Bytes,
        upgrade: NativeUpgrade,
    ) -> impl std::future::Future<Output = ()> + Send + 'static {
        let socket = Arc::new(NativeSocket::new(
            self.registry.next_key(),
            random_id().into_boxed_str(),
            stream,
            self.shared.config.max_buffered_packets,
        ));
        let early = head.slice(upgrade.head_len.min(head.len())..);
        conn::serve(self.clone(), socket, upgrade.accept, early)
    }
}

/// A random 16-character id (96 bits, URL-safe base64), as Engine.IO and Socket.IO use.
pub fn random_id() -> String {
    let bytes: [u8; 12] = rand::rng().random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}
