//! Field projections (`find` projection and change stream `$project`): plain inclusion or
//! exclusion of (dotted) fields. Expressions and array operators are not supported.

use std::collections::BTreeMap;

use bson::{Bson, Document};

use crate::error::{CommandError, CommandResult};

/// A compiled projection.
#[derive(Debug, Clone)]
pub struct Projection {
    include: bool,
    tree: Tree,
    keep_id: bool,
}

type Tree = BTreeMap<String, Node>;

#[derive(Debug, Clone)]
enum Node {
    Leaf,
    Sub(Tree),
}

impl Projection {
    /// Compiles a projection spec such as `{ a: 1, "b.c": 1, _id: 0 }`.
    pub fn parse(spec: &Document) -> CommandResult<Self> {
        let mut include = None;
        let mut keep_id = true;
        let mut tree = Tree::new();
        for (path, value) in spec {
            let on = match value {
                Bson::Boolean(b) => *b,
                Bson::Int32(v) => *v != 0,
                Bson::Int64(v) => *v != 0,
                Bson::Double(v) => *v != 0.0,
                _ => {
                    return Err(CommandError::bad_value(format!(
                        "emulator: unsupported projection value for {path} \
                         (only 0/1/true/false)"
                    )))
                }
            };
            if path.starts_with('$') || path.split('.').any(str::is_empty) {
                return Err(CommandError::bad_value(format!(
                    "emulator: unsupported projection field {path}"
                )));
            }
            if path == "_id" {
                keep_id = on;
                continue;
            }
            match include {
                Some(mode) if mode != on => {
                    return Err(CommandError::new(
                        31254,
                        "Location31254",
                        "Cannot mix inclusion and exclusion in a projection",
                    ))
                }
                _ => include = Some(on),
            }
            insert_path(&mut tree, path);
        }
        // `{ _id: 1 }` alone is an inclusion projection; `{}` and `{ _id: 0 }` exclude.
        let include = include.unwrap_or(spec.contains_key("_id") && keep_id);
        Ok(Self { include, tree, keep_id })
    }

    /// Whether the projection keeps the top-level `_id` field.
    pub fn keeps_id(&self) -> bool {
        self.keep_id
    }

    /// Applies the projection to `doc`.
    pub fn apply(&self, doc: &Document) -> Document {
        let mut out = if self.include {
            include_fields(doc, &self.tree)
        } else {
            exclude_fields(doc, &self.tree)
        };
        if self.include && self.keep_id {
            if let Some(id) = doc.get("_id") {
                let mut with_id = Document::new();
                with_id.insert("_id", id.clone());
                with_id.extend(out);
                out = with_id;
            }
        }
        if !self.keep_id {
            out.remove("_id");
        }
        out
    }
}

fn insert_path(tree: &mut Tree, path: &str) {
    let mut node = tree;
    let mut parts = path.split('.').peekable();
    while let Some(part) = parts.next() {
        if parts.peek().is_none() {
            node.insert(part.to_owned(), Node::Leaf);
            return;
        }
        let entry = node.entry(part.to_owned()).or_insert_with(|| Node::Sub(Tree::new()));
        match entry {
            Node::Leaf => return,
            Node::Sub(sub) => node = sub,
        }
    }
}

fn include_fields(doc: &Document, tree: &Tree) -> Document {
    let mut out = Document::new();
    for (key, value) in doc {
        match tree.get(key) {
            Some(Node::Leaf) => {
                out.insert(key.clone(), value.clone());
            }
            Some(Node::Sub(sub)) => match value {
                Bson::Document(inner) => {
                    out.insert(key.clone(), include_fields(inner, sub));
                }
                Bson::Array(items) => {
                    let kept: Vec<Bson> = items
                        .iter()
                        .filter_map(|item| match item {
                            Bson::Document(inner) => {
                                Some(Bson::Document(include_fields(inner, sub)))
                            }
                            _ => None,
                        })
                        .collect();
                    out.insert(key.clone(), kept);
                }
                _ => {}
            },
            None => {}
        }
    }
    out
}

fn exclude_fields(doc: &Document, tree: &Tree) -> Document {
    let mut out = Document::new();
    for (key, value) in doc {
        match tree.get(key) {
            Some(Node::Leaf) => {}
            Some(Node::Sub(sub)) => match value {
                Bson::Document(inner) => {
                    out.insert(key.clone(), exclude_fields(inner, sub));
                }
                Bson::Array(items) => {
                    let kept: Vec<Bson> = items
                        .iter()
                        .map(|item| match item {
                            Bson::Document(inner) => Bson::Document(exclude_fields(inner, sub)),
                            other => other.clone(),
                        })
                        .collect();
                    out.insert(key.clone(), kept);
                }
                other => {
                    out.insert(key.clone(), other.clone());
                }
            },
            None => {
                out.insert(key.clone(), value.clone());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::doc;

    #[test]
    fn inclusion_keeps_id_and_listed_fields() {
        let p = Projection::parse(&doc! { "a": 1, "b.c": 1 }).expect("valid");
        let out = p.apply(&doc! { "_id": 1, "a": 2, "b": { "c": 3, "d": 4 }, "e": 5 });
        assert_eq!(out, doc! { "_id": 1, "a": 2, "b": { "c": 3 } });
    }

    #[test]
    fn exclusion_and_id_removal() {
        let p = Projection::parse(&doc! { "b.d": 0, "_id": 0 }).expect("valid");
        let out = p.apply(&doc! { "_id": 1, "a": 2, "b": { "c": 3, "d": 4 } });
        assert_eq!(out, doc! { "a": 2, "b": { "c": 3 } });
        assert!(!p.keeps_id());
    }

    #[test]
    fn rejects_mixed_and_expressions() {
        assert!(Projection::parse(&doc! { "a": 1, "b": 0 }).is_err());
        assert!(Projection::parse(&doc! { "a": "$b" }).is_err());
    }
}
