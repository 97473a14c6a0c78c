//! The native engine's sockets by id and its rooms (channel → members), kept in step with
//! joins, leaves and disconnects.

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, RwLock, RwLockReadGuard, RwLockWriteGuard,
    },
};

use crate::native::socket::NativeSocket;

type Members = HashMap<u64, Arc<NativeSocket>>;

/// Every open native connection and every room with at least one native member.
#[derive(Default)]
pub struct Registry {
    next_key: AtomicU64,
    sockets: RwLock<HashMap<Box<str>, Arc<NativeSocket>>>,
    rooms: RwLock<HashMap<Box<str>, Members>>,
}

fn read<T>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn write<T>(lock: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Registry {
    /// A fresh key for a new socket.
    pub fn next_key(&self) -> u64 {
        self.next_key.fetch_add(1, Ordering::Relaxed)
    }

    /// Tracks an open connection (so `close()` reaches it).
    pub fn insert(&self, socket: Arc<NativeSocket>) {
        write(&self.sockets).insert(socket.id.clone(), socket);
    }

    /// Forgets a connection that has ended and takes it out of every room.
    pub fn remove(&self, socket: &NativeSocket) {
        write(&self.sockets).remove(&socket.id);
        self.leave_all(socket);
    }

    /// Takes `socket` out of every room.
    pub fn leave_all(&self, socket: &NativeSocket) {
        let rooms = socket.take_rooms();
        if rooms.is_empty() {
            return;
        }
        let mut all = write(&self.rooms);
        for room in rooms {
            remove_member(&mut all, &room, socket.key);
        }
    }

    /// The connected socket with this id.
    pub fn get(&self, id: &str) -> Option<Arc<NativeSocket>> {
        read(&self.sockets).get(id).filter(|s| s.connected()).cloned()
    }

    /// Every open connection.
    pub fn all(&self) -> Vec<Arc<NativeSocket>> {
        read(&self.sockets).values().cloned().collect()
    }

    /// Adds `socket` to `room`.
    pub fn join(&self, socket: &Arc<NativeSocket>, room: &str) {
        let mut all = write(&self.rooms);
        if socket.add_room(room) {
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
            .map(|m| m.values().map(|s| s.id.to_string()).collect())
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
