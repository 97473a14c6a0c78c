//! Document commands: `insert`, `delete`, `find`, `count`.

use std::collections::VecDeque;

use bson::{doc, Bson, Document};

use super::{batch_size, cursor_reply, documents, opt_array, opt_bool, opt_doc, opt_i64, Ctx};
use crate::cursors::{take_batch, CursorKind, DEFAULT_FIRST_BATCH};
use crate::error::{CommandError, CommandResult};
use crate::matcher::Matcher;
use crate::projection::Projection;
use crate::sort::{compare_by, parse_sort};
use crate::store::RetryKey;
use crate::values::{as_i64, unique_key};

/// `insert`: adds `_id` where missing, reports duplicates as `writeErrors` (code 11000), and
/// answers a retried write (same `lsid` + `txnNumber`) with the original reply.
pub fn insert(ctx: &Ctx<'_>, cmd: &Document) -> CommandResult<Document> {
    let ns = ctx.ns(cmd, "insert")?;
    let docs = documents(required_batch(cmd, "documents")?, "documents")?;
    let ordered = opt_bool(cmd, "ordered", true)?;
    let retry = retry_key(cmd);
    let reply = {
        let mut store = ctx.shared.store();
        if let Some(previous) = retry.as_ref().and_then(|k| store.retried_reply(k)) {
            return Ok(previous);
        }
        let out = store.insert(&ns, docs, ordered);
        let mut reply = doc! { "n": out.n as i32 };
        if !out.write_errors.is_empty() {
            reply.insert("writeErrors", out.write_errors);
        }
        if let Some(key) = retry {
            store.remember_reply(key, reply.clone());
        }
        reply
    };
    ctx.shared.notify_changes();
    Ok(reply)
}

/// `delete` with `deletes: [{ q, limit: 0|1 }]`.
pub fn delete(ctx: &Ctx<'_>, cmd: &Document) -> CommandResult<Document> {
    let ns = ctx.ns(cmd, "delete")?;
    let statements = documents(required_batch(cmd, "deletes")?, "deletes")?;
    let mut parsed = Vec::with_capacity(statements.len());
    for statement in &statements {
        let filter = opt_doc(statement, "q")?
            .ok_or_else(|| CommandError::failed_to_parse("delete statement needs 'q'"))?;
        let just_one = match opt_i64(statement, "limit")? {
            None | Some(0) => false,
            Some(1) => true,
            Some(_) => return Err(CommandError::bad_value("delete limit must be 0 or 1")),
        };
        parsed.push((Matcher::parse(filter)?, just_one));
    }
    let retry = retry_key(cmd);
    let reply = {
        let mut store = ctx.shared.store();
        if let Some(previous) = retry.as_ref().and_then(|k| store.retried_reply(k)) {
            return Ok(previous);
        }
        let n: usize =
            parsed.iter().map(|(matcher, just_one)| store.delete(&ns, matcher, *just_one)).sum();
        let reply = doc! { "n": n as i32 };
        if let Some(key) = retry {
            store.remember_reply(key, reply.clone());
        }
        reply
    };
    ctx.shared.notify_changes();
    Ok(reply)
}

/// `find` with `filter`, `projection`, `sort`, `skip`, `limit`, `batchSize`, `singleBatch`.
pub fn find(ctx: &Ctx<'_>, cmd: &Document) -> CommandResult<Document> {
    let ns = ctx.ns(cmd, "find")?;
    let matcher = filter_arg(cmd, "filter")?;
    let projection = opt_doc(cmd, "projection")?.map(Projection::parse).transpose()?;
    let sort = parse_sort(opt_doc(cmd, "sort")?)?;
    let skip = non_negative(opt_i64(cmd, "skip")?, "skip")?;
    let limit = opt_i64(cmd, "limit")?;
    let mut single_batch = opt_bool(cmd, "singleBatch", false)?;
    if limit.is_some_and(|l| l < 0) {
        single_batch = true;
    }
    let limit = limit.map(i64::unsigned_abs).filter(|l| *l > 0);
    let first_batch = batch_size(opt_i64(cmd, "batchSize")?)?.unwrap_or(DEFAULT_FIRST_BATCH);

    let mut store = ctx.shared.store();
    let mut results: Vec<Document> = store
        .collection(&ns)
        .map(|c| c.docs().iter().filter(|d| matcher.matches(d)).cloned().collect())
        .unwrap_or_default();
    if !sort.is_empty() {
        results.sort_by(|a, b| compare_by(&sort, a, b));
    }
    let mut queue: VecDeque<Document> = results
        .into_iter()
        .skip(skip)
        .take(limit.map_or(usize::MAX, |l| usize::try_from(l).unwrap_or(usize::MAX)))
        .map(|d| match &projection {
            Some(p) => p.apply(&d),
            None => d,
        })
        .collect();
    let batch = take_batch(&mut queue, first_batch);
    let id = if queue.is_empty() || single_batch {
        0
    } else {
        store.cursors.open(ns.to_string(), CursorKind::Docs(queue))
    };
    Ok(cursor_reply(id, &ns.to_string(), batch, true, Document::new()))
}

/// `count` with `query`, `skip`, `limit`.
pub fn count(ctx: &Ctx<'_>, cmd: &Document) -> CommandResult<Document> {
    let ns = ctx.ns(cmd, "count")?;
    let matcher = filter_arg(cmd, "query")?;
    let skip = non_negative(opt_i64(cmd, "skip")?, "skip")?;
    let limit = opt_i64(cmd, "limit")?
        .map(i64::unsigned_abs)
        .filter(|l| *l > 0)
        .map_or(usize::MAX, |l| usize::try_from(l).unwrap_or(usize::MAX));
    let store = ctx.shared.store();
    let n = store
        .collection(&ns)
        .map(|c| c.docs().iter().filter(|d| matcher.matches(d)).count())
        .unwrap_or(0);
    Ok(doc! { "n": n.saturating_sub(skip).min(limit) as i64 })
}

fn required_batch<'a>(cmd: &'a Document, key: &str) -> CommandResult<&'a Vec<Bson>> {
    opt_array(cmd, key)?.filter(|a| !a.is_empty() && a.len() <= 100_000).ok_or_else(|| {
        CommandError::new(
            16,
            "InvalidLength",
            format!("Write batch sizes must be between 1 and 100000 ({key})"),
        )
    })
}

fn filter_arg(cmd: &Document, key: &str) -> CommandResult<Matcher> {
    match opt_doc(cmd, key)? {
        Some(f) => Matcher::parse(f),
        None => Ok(Matcher::all()),
    }
}

fn non_negative(value: Option<i64>, what: &str) -> CommandResult<usize> {
    match value {
        None => Ok(0),
        Some(v) => usize::try_from(v)
            .map_err(|_| CommandError::bad_value(format!("{what} must be non-negative"))),
    }
}

/// `lsid` + `txnNumber` of a retryable write.
fn retry_key(cmd: &Document) -> Option<RetryKey> {
    let lsid = cmd.get("lsid")?;
    let txn = as_i64(cmd.get("txnNumber")?)?;
    Some((unique_key(lsid), txn))
}
