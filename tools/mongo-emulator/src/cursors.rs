//! Open cursors: the rest of a `find`/`listIndexes`-style result, or a change stream position.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use bson::Document;

use crate::change_stream::StreamCursor;

/// Cursors idle for longer than this are discarded (like the server's cursor timeout).
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(10 * 60);
/// Default number of documents in the first batch, as on a real server.
pub const DEFAULT_FIRST_BATCH: usize = 101;
/// Upper bound on the BSON bytes of documents returned in one batch.
const MAX_BATCH_BYTES: usize = 8 * 1024 * 1024;

/// What a cursor iterates over.
#[derive(Debug)]
pub enum CursorKind {
    /// Remaining documents of a finite result.
    Docs(VecDeque<Document>),
    /// A change stream.
    Stream(StreamCursor),
}

/// An open cursor.
#[derive(Debug)]
pub struct Cursor {
    /// The `ns` reported in cursor replies.
    pub ns: String,
    /// Contents.
    pub kind: CursorKind,
    last_used: Instant,
}

/// All open cursors, by id.
#[derive(Debug)]
pub struct CursorTable {
    cursors: HashMap<i64, Cursor>,
    next_id: i64,
}

impl Default for CursorTable {
    fn default() -> Self {
        Self { cursors: HashMap::new(), next_id: 1_000_001 }
    }
}

impl CursorTable {
    /// Registers a cursor and returns its (non-zero) id.
    pub fn open(&mut self, ns: String, kind: CursorKind) -> i64 {
        self.reap_idle();
        let id = self.next_id;
        self.next_id = self.next_id.checked_add(1).unwrap_or(1_000_001);
        self.cursors.insert(id, Cursor { ns, kind, last_used: Instant::now() });
        id
    }

    /// The cursor with `id`, marking it as used.
    pub fn get_mut(&mut self, id: i64) -> Option<&mut Cursor> {
        let cursor = self.cursors.get_mut(&id)?;
        cursor.last_used = Instant::now();
        Some(cursor)
    }

    /// Removes a cursor; returns whether it existed.
    pub fn kill(&mut self, id: i64) -> bool {
        self.cursors.remove(&id).is_some()
    }

    /// Number of open cursors.
    pub fn len(&self) -> usize {
        self.cursors.len()
    }

    /// Whether no cursor is open.
    pub fn is_empty(&self) -> bool {
        self.cursors.is_empty()
    }

    fn reap_idle(&mut self) {
        self.cursors.retain(|_, c| c.last_used.elapsed() < IDLE_TIMEOUT);
    }
}

/// Takes the next batch (at most `limit` documents and about 8 MiB) from `docs`.
pub fn take_batch(docs: &mut VecDeque<Document>, limit: usize) -> Vec<Document> {
    let mut batch = Vec::new();
    let mut bytes = 0;
    while batch.len() < limit {
        let Some(doc) = docs.front() else { break };
        let size = doc_size(doc);
        if !batch.is_empty() && bytes + size > MAX_BATCH_BYTES {
            break;
        }
        bytes += size;
        if let Some(doc) = docs.pop_front() {
            batch.push(doc);
        }
    }
    batch
}

fn doc_size(doc: &Document) -> usize {
    let mut bytes = Vec::new();
    match doc.to_writer(&mut bytes) {
        Ok(()) => bytes.len(),
        Err(_) => 1024,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::doc;

    #[test]
    fn batches_and_kills() {
        let mut table = CursorTable::default();
        let docs: VecDeque<Document> = (0..5).map(|i| doc! { "i": i }).collect();
        let id = table.open("db.c".into(), CursorKind::Docs(docs));
        let Some(Cursor { kind: CursorKind::Docs(queue), .. }) = table.get_mut(id) else {
            panic!("cursor exists");
        };
        assert_eq!(take_batch(queue, 2).len(), 2);
        assert_eq!(take_batch(queue, 10).len(), 3);
        assert!(table.kill(id));
        assert!(!table.kill(id));
        assert!(table.is_empty());
    }
}
