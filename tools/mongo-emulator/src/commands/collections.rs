//! Collection and database commands: `create`, `drop`, `dropDatabase`, `listCollections`,
//! `listDatabases`.

use bson::{doc, Bson, Document};

use super::{cursor_reply, opt_bool, opt_doc, Ctx};
use crate::error::CommandResult;
use crate::matcher::Matcher;

/// `create`: explicit creation; options (capped, validators, ...) are accepted and ignored.
pub fn create(ctx: &Ctx<'_>, cmd: &Document) -> CommandResult<Document> {
    let ns = ctx.ns(cmd, "create")?;
    ctx.shared.store().create_collection(&ns)?;
    Ok(Document::new())
}

/// `drop`: succeeds whether or not the collection exists (MongoDB 7.0 behaviour).
pub fn drop(ctx: &Ctx<'_>, cmd: &Document) -> CommandResult<Document> {
    let ns = ctx.ns(cmd, "drop")?;
    Ok(match ctx.shared.store().drop_collection(&ns) {
        Some(indexes) => doc! { "nIndexesWas": indexes as i32, "ns": ns.to_string() },
        None => Document::new(),
    })
}

/// `dropDatabase`.
pub fn drop_database(ctx: &Ctx<'_>) -> CommandResult<Document> {
    ctx.shared.store().drop_database(ctx.db);
    Ok(doc! { "dropped": ctx.db })
}

/// `listCollections` with optional `filter` and `nameOnly`; one batch, no cursor kept.
pub fn list_collections(ctx: &Ctx<'_>, cmd: &Document) -> CommandResult<Document> {
    let matcher = match opt_doc(cmd, "filter")? {
        Some(f) => Matcher::parse(f)?,
        None => Matcher::all(),
    };
    let name_only = opt_bool(cmd, "nameOnly", false)?;
    let names = ctx.shared.store().collection_names(ctx.db);
    let batch = names
        .into_iter()
        .map(|name| {
            if name_only {
                doc! { "name": name, "type": "collection" }
            } else {
                doc! {
                    "name": name,
                    "type": "collection",
                    "options": {},
                    "info": { "readOnly": false },
                    "idIndex": { "v": 2, "key": { "_id": 1 }, "name": "_id_" },
                }
            }
        })
        .filter(|d| matcher.matches(d))
        .collect();
    let ns = format!("{}.$cmd.listCollections", ctx.db);
    Ok(cursor_reply(0, &ns, batch, true, Document::new()))
}

/// `listDatabases` with optional `filter` and `nameOnly`.
pub fn list_databases(ctx: &Ctx<'_>, cmd: &Document) -> CommandResult<Document> {
    let matcher = match opt_doc(cmd, "filter")? {
        Some(f) => Matcher::parse(f)?,
        None => Matcher::all(),
    };
    let name_only = opt_bool(cmd, "nameOnly", false)?;
    let databases: Vec<Bson> = ctx
        .shared
        .store()
        .database_names()
        .into_iter()
        .map(|name| {
            if name_only {
                doc! { "name": name }
            } else {
                doc! { "name": name, "sizeOnDisk": 0_i64, "empty": false }
            }
        })
        .filter(|d| matcher.matches(d))
        .map(Bson::Document)
        .collect();
    Ok(if name_only {
        doc! { "databases": databases }
    } else {
        doc! { "databases": databases, "totalSize": 0_i64 }
    })
}
