//! Index specifications and the conflict rules of `createIndexes` (the emulator only records
//! indexes; apart from the implicit unique `_id` index they do not affect queries).

use bson::{doc, Bson, Document};

use crate::error::{CommandError, CommandResult};
use crate::values::equal;

/// Name of the implicit `_id` index.
pub const ID_INDEX_NAME: &str = "_id_";

/// A recorded index.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexSpec {
    /// Index name, unique per collection.
    pub name: String,
    /// Key pattern, e.g. `{ createdAt: 1 }`.
    pub key: Document,
    /// Every other option (`expireAfterSeconds`, `unique`, ...).
    pub options: Document,
}

/// Outcome of checking a requested index against the existing ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreatePlan {
    /// The index does not exist yet and must be added.
    Create,
    /// An identical index already exists; nothing to do.
    AlreadyExists,
}

impl IndexSpec {
    /// The implicit `{ _id: 1 }` index every collection has.
    pub fn id_index() -> Self {
        Self { name: ID_INDEX_NAME.to_owned(), key: doc! { "_id": 1 }, options: Document::new() }
    }

    /// Parses one entry of `createIndexes.indexes`.
    pub fn parse(spec: &Document) -> CommandResult<Self> {
        let key = match spec.get("key") {
            Some(Bson::Document(k)) if !k.is_empty() => k.clone(),
            _ => {
                return Err(CommandError::failed_to_parse(
                    "index specification needs a non-empty 'key' document",
                ))
            }
        };
        for (field, value) in &key {
            let valid = matches!(value, Bson::String(_))
                || crate::values::as_f64(value).is_some_and(|v| v != 0.0);
            if field.is_empty() || !valid {
                return Err(CommandError::new(
                    67,
                    "CannotCreateIndex",
                    format!("bad index key pattern {key}"),
                ));
            }
        }
        let name = match spec.get("name") {
            Some(Bson::String(n)) if !n.is_empty() => n.clone(),
            Some(_) => return Err(CommandError::type_mismatch("index 'name' must be a string")),
            None => default_name(&key),
        };
        let mut options = Document::new();
        for (field, value) in spec {
            match field.as_str() {
                "key" | "name" | "v" | "ns" | "background" => {}
                "unique" | "sparse" if value == &Bson::Boolean(false) => {}
                "expireAfterSeconds" => {
                    if crate::values::as_f64(value).is_none_or(|v| v < 0.0) {
                        return Err(CommandError::invalid_options(
                            "expireAfterSeconds must be a non-negative number",
                        ));
                    }
                    options.insert(field.clone(), value.clone());
                }
                _ => {
                    options.insert(field.clone(), value.clone());
                }
            }
        }
        if name == ID_INDEX_NAME && !options.is_empty() {
            return Err(CommandError::invalid_options("the _id index cannot have options"));
        }
        Ok(Self { name, key, options })
    }

    /// The document `listIndexes` reports.
    pub fn to_document(&self) -> Document {
        let mut out = doc! { "v": 2, "key": self.key.clone(), "name": self.name.clone() };
        out.extend(self.options.clone());
        out
    }

    /// Checks this requested index against `existing`, MongoDB style:
    /// same name or same key with different options is `IndexOptionsConflict` (85), same name
    /// with a different key is `IndexKeySpecsConflict` (86).
    pub fn plan(&self, existing: &[IndexSpec]) -> CommandResult<CreatePlan> {
        for index in existing {
            let same_key =
                equal(&Bson::Document(index.key.clone()), &Bson::Document(self.key.clone()));
            let same_options = options_equal(&index.options, &self.options);
            if index.name == self.name {
                if same_key && same_options {
                    return Ok(CreatePlan::AlreadyExists);
                }
                let conflict: fn(String) -> CommandError = if same_key {
                    CommandError::index_options_conflict
                } else {
                    CommandError::index_key_specs_conflict
                };
                return Err(conflict(format!(
                    "An existing index has the same name as the requested index. \
                     Requested index: {}, existing index: {}",
                    self.to_document(),
                    index.to_document()
                )));
            }
            if same_key {
                let detail = if same_options {
                    "Index already exists with a different name"
                } else {
                    "An equivalent index already exists with a different name and options"
                };
                return Err(CommandError::index_options_conflict(format!(
                    "{detail}. Requested index: {}, existing index: {}",
                    self.to_document(),
                    index.to_document()
                )));
            }
        }
        Ok(CreatePlan::Create)
    }
}

/// `a_1_b_-1`, the name drivers and servers derive from a key pattern.
fn default_name(key: &Document) -> String {
    key.iter()
        .map(|(field, value)| {
            let v = match value {
                Bson::String(s) => s.clone(),
                other => crate::values::as_i64(other)
                    .map(|i| i.to_string())
                    .unwrap_or_else(|| other.to_string()),
            };
            format!("{field}_{v}")
        })
        .collect::<Vec<_>>()
        .join("_")
}

fn options_equal(a: &Document, b: &Document) -> bool {
    a.len() == b.len() && a.iter().all(|(k, va)| b.get(k).is_some_and(|vb| equal(va, vb)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ttl(seconds: i32) -> IndexSpec {
        IndexSpec::parse(&doc! {
            "key": { "createdAt": 1 }, "name": "createdAt_1", "expireAfterSeconds": seconds
        })
        .expect("valid spec")
    }

    #[test]
    fn identical_index_is_a_no_op() {
        let existing = vec![IndexSpec::id_index(), ttl(60)];
        assert_eq!(ttl(60).plan(&existing), Ok(CreatePlan::AlreadyExists));
    }

    #[test]
    fn different_ttl_conflicts_with_code_85() {
        let existing = vec![IndexSpec::id_index(), ttl(60)];
        let err = ttl(120).plan(&existing).expect_err("conflict");
        assert_eq!((err.code, err.code_name), (85, "IndexOptionsConflict"));
    }

    #[test]
    fn same_key_other_name_conflicts_and_same_name_other_key_is_86() {
        let existing = vec![ttl(60)];
        let renamed =
            IndexSpec::parse(&doc! { "key": { "createdAt": 1 }, "name": "x" }).expect("valid");
        assert_eq!(renamed.plan(&existing).map_err(|e| e.code), Err(85));
        let other_key =
            IndexSpec::parse(&doc! { "key": { "b": 1 }, "name": "createdAt_1" }).expect("valid");
        assert_eq!(other_key.plan(&existing).map_err(|e| e.code), Err(86));
    }

    #[test]
    fn default_names_and_validation() {
        let spec = IndexSpec::parse(&doc! { "key": { "a": 1, "b": -1 } }).expect("valid");
        assert_eq!(spec.name, "a_1_b_-1");
        assert!(IndexSpec::parse(&doc! { "key": {} }).is_err());
        assert!(IndexSpec::parse(&doc! { "key": { "a": 1 }, "expireAfterSeconds": -1 }).is_err());
    }
}
