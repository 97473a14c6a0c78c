//! Cursor commands: `aggregate` (change streams and simple pipelines), `getMore`, `killCursors`.

use std::collections::VecDeque;
use std::time::Duration;

use bson::{doc, Bson, Document};
use tokio::time::Instant;

use super::{batch_size, cursor_reply, opt_array, opt_doc, opt_i64, Ctx};
use crate::change_stream::StreamRequest;
use crate::clock::to_timestamp;
use crate::cursors::{take_batch, CursorKind, DEFAULT_FIRST_BATCH};
use crate::error::{CommandError, CommandResult};
use crate::namespace::Namespace;
use crate::pipeline;

/// How long a change stream `getMore` waits for events when the client gives no `maxTimeMS`.
const DEFAULT_AWAIT: Duration = Duration::from_millis(1000);
/// Longest wait honoured for one change stream `getMore`.
const MAX_AWAIT: Duration = Duration::from_secs(60);

/// `aggregate`: a `$changeStream` pipeline opens a change stream cursor; any other pipeline
/// runs over the collection's documents.
pub fn aggregate(ctx: &Ctx<'_>, cmd: &Document) -> CommandResult<Document> {
    let target = cmd.get("aggregate").cloned().unwrap_or(Bson::Null);
    let stages = opt_array(cmd, "pipeline")?
        .ok_or_else(|| CommandError::failed_to_parse("aggregate needs a 'pipeline' array"))?;
    let first_batch = match opt_doc(cmd, "cursor")? {
        Some(cursor) => batch_size(opt_i64(cursor, "batchSize")?)?,
        None => None,
    };
    let is_stream =
        matches!(stages.first(), Some(Bson::Document(d)) if d.contains_key("$changeStream"));
    if is_stream {
        open_change_stream(ctx, &target, stages, first_batch)
    } else {
        let Bson::String(coll) = &target else {
            return Err(CommandError::invalid_namespace(
                "emulator: database-level aggregation is only supported for $changeStream",
            ));
        };
        let ns = Namespace::new(ctx.db, coll)?;
        let mut store = ctx.shared.store();
        let docs = store.collection(&ns).map(|c| c.docs().to_vec()).unwrap_or_default();
        let mut queue: VecDeque<Document> = pipeline::run(docs, stages)?.into();
        let batch = take_batch(&mut queue, first_batch.unwrap_or(DEFAULT_FIRST_BATCH));
        let id = if queue.is_empty() {
            0
        } else {
            store.cursors.open(ns.to_string(), CursorKind::Docs(queue))
        };
        Ok(cursor_reply(id, &ns.to_string(), batch, true, Document::new()))
    }
}

fn open_change_stream(
    ctx: &Ctx<'_>,
    target: &Bson,
    stages: &[Bson],
    first_batch: Option<usize>,
) -> CommandResult<Document> {
    if ctx.shared.config.standalone {
        return Err(CommandError::new(
            40573,
            "Location40573",
            "The $changeStream stage is only supported on replica sets",
        ));
    }
    let request = StreamRequest::parse(ctx.db, target, stages)?;
    let mut guard = ctx.shared.store();
    let store = &mut *guard;
    let now = store.clock.now();
    let mut stream = request.open(&store.history, now)?;
    let batch =
        stream.next_batch(&store.history, now, first_batch.unwrap_or(DEFAULT_FIRST_BATCH))?;
    let token = stream.resume_token();
    let ns = stream.scope.cursor_ns();
    let id = store.cursors.open(ns.clone(), CursorKind::Stream(stream));
    let mut reply = cursor_reply(id, &ns, batch, true, doc! { "postBatchResumeToken": token });
    reply.insert("operationTime", to_timestamp(now));
    Ok(reply)
}

/// `getMore`: the next batch of a document cursor, or of a change stream, waiting up to
/// `maxTimeMS` (default 1 s) for new events before returning an empty batch.
pub async fn get_more(ctx: &Ctx<'_>, cmd: &Document) -> CommandResult<Document> {
    let id = match cmd.get("getMore") {
        Some(Bson::Int64(id)) => *id,
        Some(Bson::Int32(id)) => i64::from(*id),
        _ => return Err(CommandError::type_mismatch("getMore cursor id must be a long")),
    };
    let limit = batch_size(opt_i64(cmd, "batchSize")?)?.filter(|n| *n > 0).unwrap_or(usize::MAX);
    let wait = opt_i64(cmd, "maxTimeMS")?
        .or(opt_i64(cmd, "maxAwaitTimeMS")?)
        .map(|ms| Duration::from_millis(u64::try_from(ms).unwrap_or(0)))
        .unwrap_or(DEFAULT_AWAIT)
        .min(MAX_AWAIT);
    let deadline = Instant::now() + wait;
    loop {
        // Subscribe before looking so that an insert racing with this check still wakes us.
        let mut changes = ctx.shared.subscribe_changes();
        let (ns, batch, token, now) = {
            let mut guard = ctx.shared.store();
            let store = &mut *guard;
            let now = store.clock.now();
            let cursor =
                store.cursors.get_mut(id).ok_or_else(|| CommandError::cursor_not_found(id))?;
            let ns = cursor.ns.clone();
            match &mut cursor.kind {
                CursorKind::Docs(queue) => {
                    let batch = take_batch(queue, limit);
                    let exhausted = queue.is_empty();
                    if exhausted {
                        store.cursors.kill(id);
                    }
                    let next_id = if exhausted { 0 } else { id };
                    return Ok(cursor_reply(next_id, &ns, batch, false, Document::new()));
                }
                CursorKind::Stream(stream) => match stream.next_batch(&store.history, now, limit) {
                    Ok(batch) => (ns, batch, stream.resume_token(), now),
                    Err(e) => {
                        store.cursors.kill(id);
                        return Err(e);
                    }
                },
            }
        };
        if !batch.is_empty() || Instant::now() >= deadline {
            let mut reply =
                cursor_reply(id, &ns, batch, false, doc! { "postBatchResumeToken": token });
            reply.insert("operationTime", to_timestamp(now));
            return Ok(reply);
        }
        // Either a change arrived or the wait is over; both loop back to scan again.
        let _ = tokio::time::timeout_at(deadline, changes.changed()).await;
    }
}

/// `killCursors`.
pub fn kill_cursors(ctx: &Ctx<'_>, cmd: &Document) -> CommandResult<Document> {
    let ids = opt_array(cmd, "cursors")?
        .ok_or_else(|| CommandError::failed_to_parse("killCursors needs a 'cursors' array"))?;
    let mut killed = Vec::new();
    let mut not_found = Vec::new();
    let mut store = ctx.shared.store();
    for id in ids {
        let id = match id {
            Bson::Int64(v) => *v,
            Bson::Int32(v) => i64::from(*v),
            _ => return Err(CommandError::type_mismatch("cursor ids must be longs")),
        };
        if store.cursors.kill(id) {
            killed.push(id);
        } else {
            not_found.push(id);
        }
    }
    Ok(doc! {
        "cursorsKilled": killed,
        "cursorsNotFound": not_found,
        "cursorsAlive": [],
        "cursorsUnknown": [],
    })
}
