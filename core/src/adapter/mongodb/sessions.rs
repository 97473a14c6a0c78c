//! Recoverable sessions in MongoDB.

use std::time::{Duration, Instant};

use mongodb::{
    bson::{doc, oid::ObjectId, DateTime, Document},
    Collection,
};
use tokio::sync::mpsc;

use super::documents::{Item, Pending};
use crate::adapter::{SessionStore, StoreFuture};

/// Sessions as documents `{ _id: pid, session, expiresAt }`: saved through the publishing
/// task, taken by reading then deleting (the one whose delete removed it gets it).
pub struct MongoSessions {
    /// Weak: the adapter's going away closes the queue, which lets the publisher finish.
    pub queue: mpsc::WeakSender<Pending>,
    /// The sessions collection.
    pub sessions: Collection<Document>,
}

impl SessionStore for MongoSessions {
    fn save(&self, pid: &str, session: String, ttl: Duration) {
        let expires_at = DateTime::from_system_time(std::time::SystemTime::now() + ttl);
        let item = Item::Session { pid: pid.to_owned(), session, expires_at };
        let pending = Pending { id: ObjectId::new(), queued: Instant::now(), item };
        let Some(queue) = self.queue.upgrade() else { return };
        if queue.try_send(pending).is_err() {
            tracing::warn!("MongoDB publish queue full: a recoverable session was not saved");
        }
    }

    fn take(&self, pid: &str) -> StoreFuture<Option<String>> {
        let (sessions, pid) = (self.sessions.clone(), pid.to_owned());
        Box::pin(async move {
            let found = sessions.find_one(doc! { "_id": &pid }).await;
            let document = match found {
                Ok(document) => document?,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read a recoverable session from MongoDB");
                    return None;
                }
            };
            let deleted = sessions.delete_one(doc! { "_id": &pid }).await.ok()?;
            let live = document.get_datetime("expiresAt").is_ok_and(|at| *at > DateTime::now());
            (deleted.deleted_count == 1 && live)
                .then(|| document.get_str("session").ok().map(str::to_owned))
                .flatten()
        })
    }
}
