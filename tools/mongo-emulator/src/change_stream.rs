//! Change streams: the bounded per-collection event history, resume tokens, and the position of
//! each open change stream cursor.
//!
//! Every event gets a unique cluster time from [`crate::clock::ClusterClock`]; its resume token is
//! `{ _data: "<16 hex digits of that time>" }`, so tokens order like the events they name. A
//! cursor remembers the time of the last event it has *scanned* (`after`); resuming after a token
//! continues with the first event whose time is greater, which gives no duplicates and no gaps.

use std::collections::{HashMap, VecDeque};

use bson::{doc, Bson, DateTime, Document};

use crate::clock::{from_timestamp, to_timestamp};
use crate::error::{CommandError, CommandResult};
use crate::matcher::Matcher;
use crate::namespace::Namespace;
use crate::projection::Projection;

/// Upper bound on the BSON bytes of events returned in one batch.
const MAX_BATCH_BYTES: usize = 8 * 1024 * 1024;

/// The resume token document for the event (or position) at `ts`.
pub fn token_doc(ts: u64) -> Document {
    doc! { "_data": format!("{ts:016X}") }
}

/// Decodes a resume token produced by [`token_doc`].
pub fn parse_token(token: &Bson) -> CommandResult<u64> {
    let data = match token {
        Bson::Document(d) => d.get("_data"),
        _ => None,
    };
    match data {
        Some(Bson::String(hex)) if hex.len() == 16 => u64::from_str_radix(hex, 16)
            .map_err(|_| CommandError::failed_to_parse(format!("invalid resume token {token}"))),
        _ => Err(CommandError::failed_to_parse(format!(
            "invalid resume token {token} (not issued by this emulator)"
        ))),
    }
}

/// The change event for an inserted document.
pub fn insert_event(ns: &Namespace, ts: u64, wall: DateTime, doc: &Document) -> Document {
    let id = doc.get("_id").cloned().unwrap_or(Bson::Null);
    doc! {
        "_id": token_doc(ts),
        "operationType": "insert",
        "clusterTime": to_timestamp(ts),
        "wallTime": wall,
        "ns": { "db": ns.db.clone(), "coll": ns.coll.clone() },
        "documentKey": { "_id": id },
        "fullDocument": doc.clone(),
    }
}

/// The change event for a deleted document.
pub fn delete_event(ns: &Namespace, ts: u64, wall: DateTime, id: &Bson) -> Document {
    doc! {
        "_id": token_doc(ts),
        "operationType": "delete",
        "clusterTime": to_timestamp(ts),
        "wallTime": wall,
        "ns": { "db": ns.db.clone(), "coll": ns.coll.clone() },
        "documentKey": { "_id": id.clone() },
    }
}

/// What a change stream watches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// One collection (`collection.watch()`).
    Collection(Namespace),
    /// Every collection of a database (`db.watch()`).
    Database(String),
    /// Every non-system database (`client.watch()`).
    Cluster,
}

impl Scope {
    fn contains(&self, ns: &Namespace) -> bool {
        match self {
            Scope::Collection(target) => target == ns,
            Scope::Database(db) => *db == ns.db,
            Scope::Cluster => !matches!(ns.db.as_str(), "admin" | "config" | "local"),
        }
    }

    /// The `ns` reported in cursor replies.
    pub fn cursor_ns(&self) -> String {
        match self {
            Scope::Collection(ns) => ns.to_string(),
            Scope::Database(db) => format!("{db}.$cmd.aggregate"),
            Scope::Cluster => "admin.$cmd.aggregate".to_owned(),
        }
    }
}

#[derive(Debug, Default)]
struct EventLog {
    /// `(time, event, approximate BSON size)`, ascending by time.
    events: VecDeque<(u64, Document, usize)>,
    /// Time of the newest event dropped from the front (0 if none).
    evicted_through: u64,
}

/// The in-memory, bounded event history of every namespace.
#[derive(Debug)]
pub struct History {
    logs: HashMap<Namespace, EventLog>,
    capacity: usize,
    origin: u64,
}

impl History {
    /// An empty history keeping at most `capacity` events per collection; `origin` is the
    /// earliest position that can be resumed from (the emulator's start time).
    pub fn new(capacity: usize, origin: u64) -> Self {
        Self { logs: HashMap::new(), capacity: capacity.max(1), origin }
    }

    /// Appends an event; `ts` must be greater than every recorded time.
    pub fn record(&mut self, ns: &Namespace, ts: u64, event: Document) {
        let size = approximate_size(&event);
        let log = self.logs.entry(ns.clone()).or_default();
        log.events.push_back((ts, event, size));
        while log.events.len() > self.capacity {
            if let Some((old, _, _)) = log.events.pop_front() {
                log.evicted_through = old;
            }
        }
    }

    /// Total number of events currently kept.
    pub fn len(&self) -> usize {
        self.logs.values().map(|l| l.events.len()).sum()
    }

    /// Whether no events are kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Fails with ChangeStreamHistoryLost if events after `after` in `scope` may be missing.
    fn check_position(&self, scope: &Scope, after: u64) -> CommandResult<()> {
        if after < self.origin {
            return Err(CommandError::history_lost(
                "resume point is older than this emulator process's change history",
            ));
        }
        for (ns, log) in &self.logs {
            if scope.contains(ns) && log.evicted_through > after {
                return Err(CommandError::history_lost(format!(
                    "resume point in {ns} is older than the oldest retained change event"
                )));
            }
        }
        Ok(())
    }

    /// Events in `scope` with time greater than `after`, ascending by time.
    fn events_after<'a>(
        &'a self,
        scope: &Scope,
        after: u64,
    ) -> Box<dyn Iterator<Item = &'a (u64, Document, usize)> + 'a> {
        let tail = |log: &'a EventLog| {
            let start = log.events.partition_point(|(ts, _, _)| *ts <= after);
            log.events.range(start..)
        };
        if let Scope::Collection(ns) = scope {
            return match self.logs.get(ns) {
                Some(log) => Box::new(tail(log)),
                None => Box::new(std::iter::empty()),
            };
        }
        let mut sources: Vec<_> = self
            .logs
            .iter()
            .filter(|(ns, _)| scope.contains(ns))
            .map(|(_, log)| tail(log).peekable())
            .collect();
        Box::new(std::iter::from_fn(move || {
            let next = sources
                .iter_mut()
                .enumerate()
                .filter_map(|(i, it)| it.peek().map(|e| (e.0, i)))
                .min()?;
            sources[next.1].next()
        }))
    }
}

fn approximate_size(doc: &Document) -> usize {
    let mut bytes = Vec::new();
    match doc.to_writer(&mut bytes) {
        Ok(()) => bytes.len(),
        Err(_) => 1024,
    }
}

/// A pipeline stage after `$changeStream`.
#[derive(Debug, Clone)]
enum Stage {
    Match(Matcher),
    Project(Projection),
}

/// Where a new change stream starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// Only events after the stream is opened.
    Now,
    /// Events strictly after the given position (`resumeAfter` / `startAfter`).
    After(u64),
    /// Events at or after the given cluster time (`startAtOperationTime`).
    AtOrAfter(u64),
}

/// A parsed `aggregate` whose first stage is `$changeStream`.
#[derive(Debug, Clone)]
pub struct StreamRequest {
    /// What is watched.
    pub scope: Scope,
    /// Where to start.
    pub start: Start,
    stages: Vec<Stage>,
}

impl StreamRequest {
    /// Parses the `$changeStream` options and the following stages. `target` is the aggregate
    /// command's value (a collection name or `1`).
    pub fn parse(db: &str, target: &Bson, pipeline: &[Bson]) -> CommandResult<Self> {
        let Some((Bson::Document(first), rest)) = pipeline.split_first() else {
            return Err(CommandError::bad_value("pipeline must start with $changeStream"));
        };
        let options = match first.get("$changeStream") {
            Some(Bson::Document(o)) if first.len() == 1 => o,
            _ => return Err(CommandError::bad_value("$changeStream must be an object")),
        };
        let mut start = Start::Now;
        let mut all_for_cluster = false;
        let mut start_options = 0;
        for (key, value) in options {
            match key.as_str() {
                "fullDocument" | "fullDocumentBeforeChange" => {
                    let allowed: &[&str] = if key == "fullDocument" {
                        &["default", "updateLookup", "whenAvailable", "required"]
                    } else {
                        &["off", "whenAvailable", "required"]
                    };
                    if !matches!(value, Bson::String(s) if allowed.contains(&s.as_str())) {
                        return Err(CommandError::bad_value(format!(
                            "unsupported value for {key}: {value}"
                        )));
                    }
                }
                "resumeAfter" | "startAfter" => {
                    start = Start::After(parse_token(value)?);
                    start_options += 1;
                }
                "startAtOperationTime" => {
                    let Bson::Timestamp(ts) = value else {
                        return Err(CommandError::type_mismatch(
                            "startAtOperationTime must be a timestamp",
                        ));
                    };
                    start = Start::AtOrAfter(from_timestamp(*ts));
                    start_options += 1;
                }
                "allChangesForCluster" => all_for_cluster = value == &Bson::Boolean(true),
                "showExpandedEvents" | "showSystemEvents" => {}
                other => {
                    return Err(CommandError::new(
                        40415,
                        "Location40415",
                        format!("BSON field '$changeStream.{other}' is an unknown field."),
                    ))
                }
            }
        }
        if start_options > 1 {
            return Err(CommandError::bad_value(
                "only one of resumeAfter, startAfter and startAtOperationTime may be given",
            ));
        }
        let scope = match target {
            Bson::String(coll) => Scope::Collection(Namespace::new(db, coll)?),
            _ if all_for_cluster => {
                if db != "admin" {
                    return Err(CommandError::invalid_options(
                        "allChangesForCluster is only valid on the admin database",
                    ));
                }
                Scope::Cluster
            }
            _ => Scope::Database(db.to_owned()),
        };
        let mut stages = Vec::new();
        for stage in rest {
            let Bson::Document(stage) = stage else {
                return Err(CommandError::type_mismatch("pipeline stages must be objects"));
            };
            match stage.iter().next() {
                Some((name, Bson::Document(arg))) if stage.len() == 1 && name == "$match" => {
                    stages.push(Stage::Match(Matcher::parse(arg)?));
                }
                Some((name, Bson::Document(arg))) if stage.len() == 1 && name == "$project" => {
                    stages.push(Stage::Project(Projection::parse(arg)?));
                }
                Some((name, _)) => {
                    return Err(CommandError::bad_value(format!(
                        "emulator: unsupported change stream stage {name} \
                         (only $match and $project)"
                    )))
                }
                None => return Err(CommandError::bad_value("empty pipeline stage")),
            }
        }
        Ok(Self { scope, start, stages })
    }

    /// Opens a cursor position for this request at cluster time `now`.
    pub fn open(self, history: &History, now: u64) -> CommandResult<StreamCursor> {
        let after = match self.start {
            Start::Now => now,
            Start::After(t) => t,
            Start::AtOrAfter(t) => t.saturating_sub(1),
        };
        history.check_position(&self.scope, after)?;
        Ok(StreamCursor { scope: self.scope, after, stages: self.stages })
    }
}

/// The position and filters of an open change stream cursor.
#[derive(Debug, Clone)]
pub struct StreamCursor {
    /// What is watched.
    pub scope: Scope,
    after: u64,
    stages: Vec<Stage>,
}

impl StreamCursor {
    /// The current `postBatchResumeToken`: every event up to here has been scanned.
    pub fn resume_token(&self) -> Document {
        token_doc(self.after)
    }

    /// Returns up to `limit` matching events after the current position and advances past them.
    /// `now` is the current cluster time: when the history is exhausted the position moves to it.
    pub fn next_batch(
        &mut self,
        history: &History,
        now: u64,
        limit: usize,
    ) -> CommandResult<Vec<Document>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        history.check_position(&self.scope, self.after)?;
        let mut batch = Vec::new();
        let mut bytes = 0;
        let mut exhausted = true;
        for (ts, event, size) in history.events_after(&self.scope, self.after) {
            if batch.len() >= limit || (bytes + size > MAX_BATCH_BYTES && !batch.is_empty()) {
                exhausted = false;
                break;
            }
            self.after = *ts;
            if let Some(out) = self.apply_stages(event)? {
                bytes += size;
                batch.push(out);
            }
        }
        if exhausted {
            self.after = self.after.max(now);
        }
        Ok(batch)
    }

    fn apply_stages(&self, event: &Document) -> CommandResult<Option<Document>> {
        let mut current: Option<Document> = None;
        for stage in &self.stages {
            let doc = current.as_ref().unwrap_or(event);
            match stage {
                Stage::Match(m) => {
                    if !m.matches(doc) {
                        return Ok(None);
                    }
                }
                Stage::Project(p) => {
                    let projected = p.apply(doc);
                    if projected.get("_id") != event.get("_id") {
                        return Err(CommandError::new(
                            280,
                            "ChangeStreamFatalError",
                            "Encountered an event whose _id field, which contains the resume \
                             token, was modified by the pipeline",
                        ));
                    }
                    current = Some(projected);
                }
            }
        }
        Ok(Some(current.unwrap_or_else(|| event.clone())))
    }
}

#[cfg(test)]
#[path = "change_stream_tests.rs"]
mod tests;
