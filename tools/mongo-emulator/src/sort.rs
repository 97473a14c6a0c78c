//! Sorting documents by a `{ field: 1 | -1 }` spec (dotted paths; missing fields sort as null).

use std::cmp::Ordering;

use bson::{Bson, Document};

use crate::error::{CommandError, CommandResult};
use crate::values::{as_i64, compare};

/// A parsed sort spec: `(path, ascending)` pairs in priority order.
pub type SortSpec = Vec<(Vec<String>, bool)>;

/// Parses a sort spec (`{ field: 1 | -1 }`).
pub fn parse_sort(spec: Option<&Document>) -> CommandResult<SortSpec> {
    let Some(spec) = spec else {
        return Ok(Vec::new());
    };
    spec.iter()
        .map(|(field, dir)| match as_i64(dir) {
            Some(1) => Ok((field.split('.').map(str::to_owned).collect(), true)),
            Some(-1) => Ok((field.split('.').map(str::to_owned).collect(), false)),
            _ => Err(CommandError::bad_value(format!(
                "emulator: unsupported sort order for {field} (only 1 / -1)"
            ))),
        })
        .collect()
}

/// Orders two documents by a parsed sort spec.
pub fn compare_by(sort: &SortSpec, a: &Document, b: &Document) -> Ordering {
    for (path, ascending) in sort {
        let ord = compare(&sort_value(a, path), &sort_value(b, path));
        let ord = if *ascending { ord } else { ord.reverse() };
        if ord != Ordering::Equal {
            return ord;
        }
    }
    Ordering::Equal
}

fn sort_value(doc: &Document, path: &[String]) -> Bson {
    let mut current = doc;
    for (i, part) in path.iter().enumerate() {
        match current.get(part) {
            Some(Bson::Document(sub)) if i + 1 < path.len() => current = sub,
            Some(value) if i + 1 == path.len() => return value.clone(),
            _ => return Bson::Null,
        }
    }
    Bson::Null
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::doc;

    #[test]
    fn sorts_by_multiple_keys() {
        let sort = parse_sort(Some(&doc! { "a.b": 1, "c": -1 })).expect("valid");
        let x = doc! { "a": { "b": 1 }, "c": 1 };
        let y = doc! { "a": { "b": 1 }, "c": 2 };
        assert_eq!(compare_by(&sort, &x, &y), Ordering::Greater);
        assert!(parse_sort(Some(&doc! { "a": "text" })).is_err());
    }
}
