//! The native engine's sockets by id and its rooms (channel → members), kept in step with
//! joins, leaves and disconnects.

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, RwLock, RwLockReadGuard, RwLockWriteGuard,
    },
};

use crate::{native::socket::NativeSocket, recovery::Recovery};

type Members = HashMap<u64, Arc<NativeSocket>>;

/// Every open native connection (by key until its first CONNECT gives it a socket id, by id
/// from then on) and every room with at least one native member.
#[derive(Default)]
pub struct Registry {
    /// Where join offsets come from, when recovery is on.
    history: Option<Arc<Recovery>>,
    next_key: AtomicU64,
    /// Connections without a socket id yet.
    open: RwLock<Members>,
    /// Connections with a socket id.
    by_id: RwLock<HashMap<Box<str>, Arc<NativeSocket>>>,
    rooms: RwLock<HashMap<Box<str>, Members>>,
}

fn read<T>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn write<T>(lock: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Registry {
    /// A registry whose joins record the broadcast offset they happen at (`recovery`'s).
    pub fn new(recovery: Option<Arc<Recovery>>) -> Self {
        Self { history: recovery, ..Self::default() }
    }

    /// A fresh key for a new socket.
    pub fn next_key(&self) -> u64 {
        self.next_key.fetch_add(1, Ordering::Relaxed)
    }

    /// Tracks an open connection (so `close()` reaches it).
    pub fn insert(&self, socket: Arc<NativeSocket>) {
        write(&self.open).insert(socket.key, socket);
    }

    /// Makes a socket that got its id findable by it (it is then tracked by id only: one
    /// map entry per connected socket).
    pub fn register_id(&self, socket: &Arc<NativeSocket>) {
        write(&self.by_id).insert(socket.id().into(), socket.clone());
        write(&self.open).remove(&socket.key);
    }

    /// Forgets a connection that has ended and takes it out of every room.
    pub fn remove(&self, socket: &NativeSocket) {
        write(&self.open).remove(&socket.key);
        let mut by_id = write(&self.by_id);
        if by_id.get(socket.id()).is_some_and(|s| s.key == socket.key) {
            by_id.remove(socket.id());
        }
        drop(by_id);
        self.leave_all(socket);
    }

    /// Takes `socket` out of every room.
    pub fn leave_all(&self, socket: &NativeSocket) {
        let rooms = socket.take_rooms();
        if rooms.is_empty() {
            return;
        }
        let mut all = write(&self.rooms);
        for (room, _) in rooms {
            remove_member(&mut all, &room, socket.key);
        }
    }

    /// The connected socket with this id.
    pub fn get(&self, id: &str) -> Option<Arc<NativeSocket>> {
        read(&self.by_id).get(id).filter(|s| s.connected()).cloned()
    }

    /// The socket with this id, connected or closing.
    pub fn get_any(&self, id: &str) -> Option<Arc<NativeSocket>> {
        read(&self.by_id).get(id).cloned()
    }

    /// Every open connection.
    pub fn all(&self) -> Vec<Arc<NativeSocket>> {
        let mut all: Vec<_> = read(&self.open).values().cloned().collect();
        all.extend(read(&self.by_id).values().cloned());
        all
    }

    /// Adds `socket` to `room`.
    pub fn join(&self, socket: &Arc<NativeSocket>, room: &str) {
        let joined_at = self.history.as_ref().map_or(0, |r| r.history.current());
        self.join_at(socket, room, joined_at);
    }

    /// Adds `socket` to `room` as of broadcast offset `joined_at` (a recovered membership).
    pub fn join_at(&self, socket: &Arc<NativeSocket>, room: &str, joined_at: u64) {
        let mut all = write(&self.rooms);
        if socket.add_room(room, joined_at) {
            all.entry(room.into()).or_default().insert(socket.key, socket.clone());
        }
    }

    /// Takes `socket` out of `room`.
    pub fn leave(&self, socket: &NativeSocket, room: &str) {
        let mut all = write(&self.rooms);
        if socket.remove_room(room) {
            remove_member(&mut all, room, socket.key);
        }
    }

    /// Fills `into` with the members of `room` (cleared first), so that delivery runs without
    /// holding the lock.
    pub fn members_into(&self, room: &str, into: &mut Vec<Arc<NativeSocket>>) {
        into.clear();
        if let Some(members) = read(&self.rooms).get(room) {
            into.extend(members.values().cloned());
        }
    }

    /// Every room with at least one native member.
    pub fn room_names(&self) -> Vec<String> {
        read(&self.rooms).keys().map(|r| r.to_string()).collect()
    }

    /// The ids of the members of `room`.
    pub fn member_ids(&self, room: &str) -> Vec<String> {
        read(&self.rooms)
            .get(room)
            .map(|m| m.values().map(|s| s.id().to_owned()).collect())
            .unwrap_or_default()
    }
}

fn remove_member(all: &mut HashMap<Box<str>, Members>, room: &str, key: u64) {
    if let Some(members) = all.get_mut(room) {
        members.remove(&key);
        if members.is_empty() {
            all.remove(room);
        } else if members.capacity() > 64 && members.len() < members.capacity() / 4 {
            members.shrink_to_fit();
        }
    }
}
