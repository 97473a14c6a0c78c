//! Command dispatch: maps a command document to its handler and shapes the reply.

mod collections;
mod crud;
mod cursor;
mod fault;
mod handshake;
mod indexes;

use std::time::{Duration, Instant};

use bson::{doc, Bson, Document};

use crate::error::{CommandError, CommandResult};
use crate::namespace::{validate_db, Namespace};
use crate::state::Shared;

pub use handshake::hello_reply;

/// A transport-level effect to carry out after the reply has been written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Nothing.
    None,
    /// Close every open connection (including the requesting one).
    DropConnections,
    /// Close every connection and refuse new ones for this long.
    RefuseConnections(Duration),
}

/// A command's reply and follow-up action.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// The reply document (`ok: 1` or an error document).
    pub reply: Document,
    /// What the connection layer must do after replying.
    pub action: Action,
}

/// Per-command context.
#[derive(Debug, Clone, Copy)]
pub struct Ctx<'a> {
    /// Shared emulator state.
    pub shared: &'a Shared,
    /// The requesting connection's number.
    pub conn_id: u64,
    /// Target database (`$db`).
    pub db: &'a str,
}

impl Ctx<'_> {
    /// The namespace `db.<collection named by the command's first field>`.
    fn ns(&self, cmd: &Document, name: &str) -> CommandResult<Namespace> {
        match cmd.get(name) {
            Some(Bson::String(coll)) => Namespace::new(self.db, coll),
            _ => Err(CommandError::type_mismatch(format!(
                "collection name has invalid type for {name}"
            ))),
        }
    }
}

/// Runs one OP_MSG command.
pub async fn execute(shared: &Shared, conn_id: u64, command: Document) -> Outcome {
    let started = Instant::now();
    let name = command.keys().next().cloned().unwrap_or_default();
    let db = match command.get("$db") {
        Some(Bson::String(db)) => db.clone(),
        _ => String::new(),
    };
    let result = match validate_db(&db) {
        Err(_) if db.is_empty() => {
            Err(CommandError::new(40571, "Location40571", "OP_MSG requests require a $db argument"))
        }
        Err(e) => Err(e),
        Ok(()) => {
            let ctx = Ctx { shared, conn_id, db: &db };
            dispatch(&ctx, &name, &command).await
        }
    };
    let outcome = match result {
        Ok((mut reply, action)) => {
            reply.insert("ok", 1.0);
            Outcome { reply, action }
        }
        Err(e) => Outcome { reply: e.to_reply(), action: Action::None },
    };
    shared.log(|| {
        let status = match outcome.reply.get("code") {
            Some(code) => format!("error {code}"),
            None => "ok".to_owned(),
        };
        let detail = match name.as_str() {
            "aggregate" => command
                .get_array("pipeline")
                .ok()
                .and_then(|p| p.first())
                .map(|stage| format!(" {stage}"))
                .unwrap_or_default(),
            "getMore" | "find" | "insert" => {
                command.get(&name).map(|v| format!(" {v}")).unwrap_or_default()
            }
            _ => String::new(),
        };
        format!(
            "conn {conn_id}: {db}.{name}{detail} -> {status} ({} ms)",
            started.elapsed().as_millis()
        )
    });
    outcome
}

async fn dispatch(ctx: &Ctx<'_>, name: &str, cmd: &Document) -> CommandResult<(Document, Action)> {
    let plain = |r: CommandResult<Document>| r.map(|d| (d, Action::None));
    match name {
        "hello" | "isMaster" | "ismaster" => plain(Ok(hello_reply(ctx.shared, ctx.conn_id, cmd))),
        "ping" => plain(Ok(Document::new())),
        "buildInfo" | "buildinfo" => plain(Ok(handshake::build_info())),
        "endSessions" | "killSessions" | "refreshSessions" => plain(Ok(Document::new())),
        "create" => plain(collections::create(ctx, cmd)),
        "drop" => plain(collections::drop(ctx, cmd)),
        "dropDatabase" => plain(collections::drop_database(ctx)),
        "listCollections" => plain(collections::list_collections(ctx, cmd)),
        "listDatabases" => plain(collections::list_databases(ctx, cmd)),
        "createIndexes" => plain(indexes::create_indexes(ctx, cmd)),
        "listIndexes" => plain(indexes::list_indexes(ctx, cmd)),
        "dropIndexes" | "deleteIndexes" => plain(indexes::drop_indexes(ctx, cmd)),
        "insert" => plain(crud::insert(ctx, cmd)),
        "delete" => plain(crud::delete(ctx, cmd)),
        "find" => plain(crud::find(ctx, cmd)),
        "count" => plain(crud::count(ctx, cmd)),
        "aggregate" => plain(cursor::aggregate(ctx, cmd)),
        "getMore" => plain(cursor::get_more(ctx, cmd).await),
        "killCursors" => plain(cursor::kill_cursors(ctx, cmd)),
        "emulatorDropConnections" => fault::drop_connections(ctx),
        "emulatorRefuseConnections" => fault::refuse_connections(ctx, cmd),
        "emulatorStatus" => plain(Ok(fault::status(ctx))),
        "" => Err(CommandError::failed_to_parse("empty command document")),
        other => Err(CommandError::command_not_found(other)),
    }
}

/// An optional document argument.
fn opt_doc<'a>(cmd: &'a Document, key: &str) -> CommandResult<Option<&'a Document>> {
    match cmd.get(key) {
        None | Some(Bson::Null) => Ok(None),
        Some(Bson::Document(d)) => Ok(Some(d)),
        Some(_) => Err(CommandError::type_mismatch(format!("{key} must be an object"))),
    }
}

/// An optional array argument.
fn opt_array<'a>(cmd: &'a Document, key: &str) -> CommandResult<Option<&'a Vec<Bson>>> {
    match cmd.get(key) {
        None | Some(Bson::Null) => Ok(None),
        Some(Bson::Array(a)) => Ok(Some(a)),
        Some(_) => Err(CommandError::type_mismatch(format!("{key} must be an array"))),
    }
}

/// An optional integral argument.
fn opt_i64(cmd: &Document, key: &str) -> CommandResult<Option<i64>> {
    match cmd.get(key) {
        None | Some(Bson::Null) => Ok(None),
        Some(value) => crate::values::as_i64(value)
            .map(Some)
            .ok_or_else(|| CommandError::type_mismatch(format!("{key} must be a number"))),
    }
}

/// An optional boolean argument.
fn opt_bool(cmd: &Document, key: &str, default: bool) -> CommandResult<bool> {
    match cmd.get(key) {
        None | Some(Bson::Null) => Ok(default),
        Some(Bson::Boolean(b)) => Ok(*b),
        Some(value) => crate::values::as_f64(value)
            .map(|v| v != 0.0)
            .ok_or_else(|| CommandError::type_mismatch(format!("{key} must be a boolean"))),
    }
}

/// Every element of an array argument, which must all be documents.
fn documents(items: &[Bson], what: &str) -> CommandResult<Vec<Document>> {
    items
        .iter()
        .map(|item| match item {
            Bson::Document(d) => Ok(d.clone()),
            _ => Err(CommandError::type_mismatch(format!("{what} entries must be objects"))),
        })
        .collect()
}

/// `cursor.batchSize` of find/aggregate-style commands (a non-negative count).
fn batch_size(value: Option<i64>) -> CommandResult<Option<usize>> {
    match value {
        None => Ok(None),
        Some(n) => usize::try_from(n)
            .map(Some)
            .map_err(|_| CommandError::bad_value("batchSize must be non-negative")),
    }
}

/// A cursor reply: `{ cursor: { firstBatch|nextBatch, id, ns, ...extra } }`.
fn cursor_reply(id: i64, ns: &str, batch: Vec<Document>, first: bool, extra: Document) -> Document {
    let key = if first { "firstBatch" } else { "nextBatch" };
    let mut cursor = doc! { key: batch, "id": id, "ns": ns };
    cursor.extend(extra);
    doc! { "cursor": cursor }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddrV4;

    use super::*;
    use crate::config::Config;

    fn shared() -> Shared {
        Shared::new(Config::default(), SocketAddrV4::new([127, 0, 0, 1].into(), 27017).into())
    }

    async fn ok(shared: &Shared, cmd: Document) -> Document {
        let out = execute(shared, 1, cmd.clone()).await;
        assert_eq!(out.reply.get_f64("ok"), Ok(1.0), "{cmd} -> {}", out.reply);
        out.reply
    }

    #[tokio::test]
    async fn malformed_commands_get_error_replies() {
        let shared = shared();
        let cases = vec![
            doc! { "insert": 5, "$db": "a" },
            doc! { "insert": "c", "$db": "a" },
            doc! { "insert": "c", "documents": [1], "$db": "a" },
            doc! { "insert": "c", "documents": [{ "_id": [1] }], "$db": "a", "ordered": "x" },
            doc! { "find": "c", "filter": 3, "$db": "a" },
            doc! { "find": "c", "filter": { "$bogus": 1 }, "$db": "a" },
            doc! { "find": "c", "sort": { "a": "x" }, "$db": "a" },
            doc! { "find": "c", "projection": { "a": "$x" }, "$db": "a" },
            doc! { "find": "c", "skip": -1, "$db": "a" },
            doc! { "find": "c", "batchSize": -1, "$db": "a" },
            doc! { "getMore": "x", "$db": "a" },
            doc! { "getMore": 12345_i64, "$db": "a" },
            doc! { "createIndexes": "c", "indexes": [1], "$db": "a" },
            doc! { "createIndexes": "c", "$db": "a" },
            doc! { "dropIndexes": "nope", "index": "x", "$db": "a" },
            doc! { "dropIndexes": "c", "index": 5, "$db": "a" },
            doc! { "listIndexes": "nope", "$db": "a" },
            doc! { "aggregate": "c", "pipeline": "x", "$db": "a" },
            doc! { "aggregate": "c", "pipeline": [{ "$changeStream": { "resumeAfter": 1 } }], "$db": "a" },
            doc! { "aggregate": "c", "pipeline": [{ "$changeStream": { "resumeAfter": { "_data": "zz" } } }], "$db": "a" },
            doc! { "aggregate": "c", "pipeline": [{ "$changeStream": {} }, { "$match": 1 }], "$db": "a" },
            doc! { "aggregate": 1, "pipeline": [{ "$match": {} }], "$db": "a" },
            doc! { "killCursors": "c", "cursors": ["x"], "$db": "a" },
            doc! { "emulatorRefuseConnections": -1, "$db": "a" },
            doc! { "emulatorRefuseConnections": f64::NAN, "$db": "a" },
            doc! { "emulatorRefuseConnections": "soon", "$db": "a" },
            doc! { "ping": 1, "$db": "bad.db" },
            doc! { "ping": 1 },
            doc! { "count": "c", "limit": "x", "$db": "a" },
            doc! { "delete": "c", "deletes": [{ "q": {}, "limit": 5 }], "$db": "a" },
            doc! { "listCollections": 1, "filter": 5, "$db": "a" },
            doc! { "create": "", "$db": "a" },
            doc! { "update": "c", "$db": "a" },
            doc! { "$db": "a" },
        ];
        for cmd in cases {
            let out = execute(&shared, 1, cmd.clone()).await;
            assert_eq!(out.reply.get_f64("ok"), Ok(0.0), "{cmd} -> {}", out.reply);
            assert!(out.reply.get_i32("code").is_ok(), "{}", out.reply);
            assert_eq!(out.action, Action::None);
        }
    }

    #[tokio::test]
    async fn change_stream_get_more_waits_then_returns_empty_batch() {
        let shared = shared();
        let opened = ok(
            &shared,
            doc! { "aggregate": "c", "pipeline": [{ "$changeStream": {} }], "cursor": {}, "$db": "a" },
        )
        .await;
        let cursor = opened.get_document("cursor").expect("cursor");
        let id = cursor.get_i64("id").expect("id");
        assert_ne!(id, 0);
        let token = cursor.get_document("postBatchResumeToken").expect("token").clone();

        let started = std::time::Instant::now();
        let reply =
            ok(&shared, doc! { "getMore": id, "collection": "c", "maxTimeMS": 150, "$db": "a" })
                .await;
        assert!(started.elapsed() >= Duration::from_millis(140));
        let cursor = reply.get_document("cursor").expect("cursor");
        assert_eq!(cursor.get_i64("id"), Ok(id));
        assert!(cursor.get_array("nextBatch").expect("nextBatch").is_empty());
        assert_eq!(cursor.get_document("postBatchResumeToken"), Ok(&token));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn insert_wakes_a_waiting_get_more() {
        let shared = std::sync::Arc::new(shared());
        let opened = ok(
            &shared,
            doc! { "aggregate": "c", "pipeline": [{ "$changeStream": {} }], "$db": "a" },
        )
        .await;
        let id = opened.get_document("cursor").and_then(|c| c.get_i64("id")).expect("id");
        let waiter = {
            let shared = std::sync::Arc::clone(&shared);
            tokio::spawn(async move {
                let started = std::time::Instant::now();
                let reply =
                    ok(&shared, doc! { "getMore": id, "maxTimeMS": 10_000, "$db": "a" }).await;
                (started.elapsed(), reply)
            })
        };
        tokio::time::sleep(Duration::from_millis(100)).await;
        ok(&shared, doc! { "insert": "c", "documents": [{ "x": 1 }], "$db": "a" }).await;
        let (elapsed, reply) = waiter.await.expect("task");
        assert!(elapsed < Duration::from_secs(5), "woken early, took {elapsed:?}");
        let batch =
            reply.get_document("cursor").and_then(|c| c.get_array("nextBatch")).expect("nextBatch");
        assert_eq!(batch.len(), 1);
    }

    #[tokio::test]
    async fn retried_insert_is_not_applied_twice() {
        let shared = shared();
        let cmd = doc! {
            "insert": "c", "documents": [{ "_id": 1 }], "$db": "a",
            "lsid": { "id": 7 }, "txnNumber": 1_i64,
        };
        assert_eq!(ok(&shared, cmd.clone()).await.get_i32("n"), Ok(1));
        let again = ok(&shared, cmd).await;
        assert_eq!(again.get_i32("n"), Ok(1));
        assert!(!again.contains_key("writeErrors"));
        assert_eq!(shared.store().history.len(), 1);
    }

    #[tokio::test]
    async fn fault_commands_request_actions() {
        let shared = shared();
        let out = execute(&shared, 1, doc! { "emulatorDropConnections": 1, "$db": "x" }).await;
        assert_eq!(out.action, Action::DropConnections);
        let out = execute(&shared, 1, doc! { "emulatorRefuseConnections": 1.5, "$db": "x" }).await;
        assert_eq!(out.action, Action::RefuseConnections(Duration::from_millis(1500)));
        let status = ok(&shared, doc! { "emulatorStatus": 1, "$db": "x" }).await;
        assert_eq!(status.get_i64("events"), Ok(0));
    }
}
