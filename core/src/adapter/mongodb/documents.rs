//! What the MongoDB backend stores: the shared collection's documents, and what waits to be
//! inserted.

use std::time::Instant;

use mongodb::bson::{doc, oid::ObjectId, DateTime, Document, Timestamp};

use crate::adapter::{ClusterMessage, Order};

/// What waits in the publishing queue.
pub struct Pending {
    /// The `_id` its document is inserted with (the same on a retry).
    pub id: ObjectId,
    /// When it was queued.
    pub queued: Instant,
    /// What to insert.
    pub item: Item,
}

impl Pending {
    /// The message, if it is one.
    pub fn message_mut(&mut self) -> Option<&mut ClusterMessage> {
        match &mut self.item {
            Item::Message(message) => Some(message),
            Item::Session { .. } => None,
        }
    }
}

/// What the publishing task inserts.
pub enum Item {
    /// A message for the shared collection.
    Message(ClusterMessage),
    /// A recoverable session, for the sessions collection.
    Session { pid: String, session: String, expires_at: DateTime },
}

/// The shared collection's document for `message`.
pub fn to_document(id: ObjectId, message: &ClusterMessage) -> Document {
    let mut document = doc! {
        "_id": id,
        "origin": &*message.origin,
        "channel": &message.channel,
        "data": message.data.get(),
        "createdAt": DateTime::now(),
    };
    if let Some(kind) = message.kind.wire_name() {
        document.insert("kind", kind);
    }
    if message.order == Order::Requested {
        document.insert("q", true);
    }
    document
}

/// A change event's cluster time as an offset: later events have greater ones.
pub fn offset_of(time: Timestamp) -> u64 {
    (u64::from(time.time) << 32) | u64::from(time.increment)
}

pub fn from_document(document: &Document) -> Option<ClusterMessage> {
    let mut message = ClusterMessage::from_parts(
        document.get_str("origin").ok()?,
        document.get_str("kind").ok(),
        document.get_str("channel").ok()?.to_owned(),
        document.get_str("data").ok()?.to_owned(),
    )?;
    message.sent_at = document.get_datetime("createdAt").ok().map(|at| at.to_system_time());
    Some(message)
}
