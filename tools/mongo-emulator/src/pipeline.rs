//! Aggregation over stored documents (pipelines that do not start with `$changeStream`).
//!
//! Supported stages: `$match`, `$project` (inclusion/exclusion), `$sort`, `$skip`, `$limit`,
//! `$count`, and `$group` with a constant `_id` and `{ $sum: <number> }` accumulators (what the
//! driver's `count_documents` sends).

use bson::{doc, Bson, Document};

use crate::error::{CommandError, CommandResult};
use crate::matcher::Matcher;
use crate::projection::Projection;
use crate::sort::{compare_by, parse_sort};
use crate::values::{as_f64, as_i64};

/// Runs `pipeline` over `docs`.
pub fn run(docs: Vec<Document>, pipeline: &[Bson]) -> CommandResult<Vec<Document>> {
    let mut docs = docs;
    for stage in pipeline {
        let Bson::Document(stage) = stage else {
            return Err(CommandError::type_mismatch("pipeline stages must be objects"));
        };
        let (name, arg) = match stage.iter().next() {
            Some(entry) if stage.len() == 1 => entry,
            _ => {
                return Err(CommandError::bad_value("a pipeline stage must have exactly one field"))
            }
        };
        docs = match (name.as_str(), arg) {
            ("$match", Bson::Document(filter)) => {
                let m = Matcher::parse(filter)?;
                docs.into_iter().filter(|d| m.matches(d)).collect()
            }
            ("$project", Bson::Document(spec)) => {
                let p = Projection::parse(spec)?;
                docs.iter().map(|d| p.apply(d)).collect()
            }
            ("$sort", Bson::Document(spec)) => {
                let sort = parse_sort(Some(spec))?;
                docs.sort_by(|a, b| compare_by(&sort, a, b));
                docs
            }
            ("$skip", n) => {
                let n = count_arg(n, "$skip")?;
                docs.into_iter().skip(n).collect()
            }
            ("$limit", n) => {
                let n = count_arg(n, "$limit")?;
                docs.truncate(n);
                docs
            }
            ("$count", Bson::String(field)) if !field.is_empty() && !field.starts_with('$') => {
                if docs.is_empty() {
                    Vec::new()
                } else {
                    vec![doc! { field.clone(): docs.len() as i32 }]
                }
            }
            ("$group", Bson::Document(spec)) => group_constant(&docs, spec)?,
            (other, _) => {
                return Err(CommandError::bad_value(format!(
                    "emulator: unsupported aggregation stage {other} or argument"
                )))
            }
        };
    }
    Ok(docs)
}

fn count_arg(value: &Bson, stage: &str) -> CommandResult<usize> {
    as_i64(value)
        .and_then(|n| usize::try_from(n).ok())
        .ok_or_else(|| CommandError::bad_value(format!("{stage} needs a non-negative integer")))
}

fn group_constant(docs: &[Document], spec: &Document) -> CommandResult<Vec<Document>> {
    let id = spec.get("_id").cloned().unwrap_or(Bson::Null);
    if matches!(&id, Bson::String(s) if s.starts_with('$')) || matches!(id, Bson::Document(_)) {
        return Err(CommandError::bad_value("emulator: $group only supports a constant _id"));
    }
    let mut out = doc! { "_id": id };
    for (field, acc) in spec.iter().filter(|(k, _)| k.as_str() != "_id") {
        let addend = match acc {
            Bson::Document(a) if a.len() == 1 => {
                a.get("$sum").and_then(|v| as_f64(v).map(|f| (v, f)))
            }
            _ => None,
        };
        let Some((raw, per_doc)) = addend else {
            return Err(CommandError::bad_value(format!(
                "emulator: $group accumulator for {field} must be {{ $sum: <number> }}"
            )));
        };
        let total = per_doc * docs.len() as f64;
        let value = if as_i64(raw).is_some() && total.abs() < i32::MAX as f64 {
            Bson::Int32(total as i32)
        } else if as_i64(raw).is_some() {
            Bson::Int64(total as i64)
        } else {
            Bson::Double(total)
        };
        out.insert(field.clone(), value);
    }
    Ok(if docs.is_empty() { Vec::new() } else { vec![out] })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn count_documents_shape() {
        let docs: Vec<Document> = (0..5).map(|i| doc! { "i": i }).collect();
        let pipeline = [
            Bson::Document(doc! { "$match": { "i": { "$gte": 1 } } }),
            Bson::Document(doc! { "$skip": 1 }),
            Bson::Document(doc! { "$group": { "_id": 1, "n": { "$sum": 1 } } }),
        ];
        assert_eq!(run(docs, &pipeline), Ok(vec![doc! { "_id": 1, "n": 3 }]));
    }

    #[test]
    fn sort_limit_count_and_errors() {
        let docs: Vec<Document> = (0..5).map(|i| doc! { "i": i }).collect();
        let pipeline =
            [Bson::Document(doc! { "$sort": { "i": -1 } }), Bson::Document(doc! { "$limit": 2 })];
        let out = run(docs.clone(), &pipeline).expect("runs");
        assert_eq!(out, vec![doc! { "i": 4 }, doc! { "i": 3 }]);
        let counted = run(docs.clone(), &[Bson::Document(doc! { "$count": "n" })]);
        assert_eq!(counted, Ok(vec![doc! { "n": 5 }]));
        assert!(run(docs, &[Bson::Document(doc! { "$lookup": {} })]).is_err());
    }
}
