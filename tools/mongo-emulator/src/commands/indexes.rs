//! Index commands: `createIndexes`, `listIndexes`, `dropIndexes`.

use bson::{doc, Bson, Document};

use super::{cursor_reply, documents, opt_array, Ctx};
use crate::error::{CommandError, CommandResult};
use crate::indexes::IndexSpec;
use crate::store::IndexSelector;

/// `createIndexes`: records the indexes (TTL expiry is not performed).
pub fn create_indexes(ctx: &Ctx<'_>, cmd: &Document) -> CommandResult<Document> {
    let ns = ctx.ns(cmd, "createIndexes")?;
    let specs = opt_array(cmd, "indexes")?.filter(|a| !a.is_empty()).ok_or_else(|| {
        CommandError::bad_value("createIndexes needs a non-empty 'indexes' array")
    })?;
    let specs = documents(specs, "indexes")?
        .iter()
        .map(IndexSpec::parse)
        .collect::<CommandResult<Vec<_>>>()?;
    let out = ctx.shared.store().create_indexes(&ns, specs)?;
    let mut reply = doc! {
        "numIndexesBefore": out.before as i32,
        "numIndexesAfter": out.after as i32,
        "createdCollectionAutomatically": out.created_collection,
    };
    if out.before == out.after {
        reply.insert("note", "all indexes already exist");
    }
    Ok(reply)
}

/// `listIndexes`: error 26 if the collection does not exist.
pub fn list_indexes(ctx: &Ctx<'_>, cmd: &Document) -> CommandResult<Document> {
    let ns = ctx.ns(cmd, "listIndexes")?;
    let store = ctx.shared.store();
    let coll = store
        .collection(&ns)
        .ok_or_else(|| CommandError::namespace_not_found(format!("ns does not exist: {ns}")))?;
    let batch = coll.indexes().iter().map(IndexSpec::to_document).collect();
    Ok(cursor_reply(0, &ns.to_string(), batch, true, Document::new()))
}

/// `dropIndexes` by name, list of names, key pattern or `"*"`.
pub fn drop_indexes(ctx: &Ctx<'_>, cmd: &Document) -> CommandResult<Document> {
    let name = cmd.keys().next().cloned().unwrap_or_default();
    let ns = ctx.ns(cmd, &name)?;
    let selector = match cmd.get("index") {
        Some(Bson::String(s)) if s == "*" => IndexSelector::All,
        Some(Bson::String(s)) => IndexSelector::Names(vec![s.clone()]),
        Some(Bson::Document(key)) => IndexSelector::Key(key.clone()),
        Some(Bson::Array(items)) => IndexSelector::Names(
            items
                .iter()
                .map(|i| match i {
                    Bson::String(s) => Ok(s.clone()),
                    _ => Err(CommandError::type_mismatch("index names must be strings")),
                })
                .collect::<CommandResult<_>>()?,
        ),
        _ => {
            return Err(CommandError::type_mismatch(
                "'index' must be a name, a list of names, a key pattern or \"*\"",
            ))
        }
    };
    let before = ctx.shared.store().drop_indexes(&ns, &selector)?;
    Ok(doc! { "nIndexesWas": before as i32 })
}
