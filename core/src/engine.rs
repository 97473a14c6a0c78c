//! The narrow interface between the server and an engine (native websocket, socketioxide):
//! find a socket, list a room's members, deliver a batch of broadcasts, close everything.
//! Everything above it (flows, delivery, socket operations) is written once.

use std::{future::Future, pin::Pin};

use crate::{broadcast::Broadcast, client::Client};

/// A boxed future returned by [`Engine`] methods.
pub type EngineFuture<T = ()> = Pin<Box<dyn Future<Output = T> + Send>>;

/// One engine's sockets, as the server sees them.
pub trait Engine: Send + Sync + 'static {
    /// The connected socket with this id, if this engine has it.
    fn socket(&self, sid: &str) -> Option<Client>;
    /// The ids of this engine's members of `room`.
    fn member_ids(&self, room: &str) -> Vec<String>;
    /// The rooms with at least one member on this engine.
    fn room_names(&self) -> EngineFuture<Vec<String>>;
    /// Delivers `batch` (in order) to this engine's members of each broadcast's channel.
    /// Members that cannot take it are cut off as slow consumers.
    fn deliver(&self, batch: &[Broadcast]);
    /// Starts closing every connection (the server is shutting down): each client sees a
    /// transport close and may reconnect elsewhere. Resolves once the engine has sent what
    /// it must.
    fn begin_close_all(&self) -> EngineFuture;
    /// Cuts whatever connection is left after the close grace period.
    fn kill_all(&self);
}
