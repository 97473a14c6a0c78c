//! Query filter evaluation (the subset of MongoDB's query language used by `find`, `delete`,
//! `count` and change stream `$match` stages).
//!
//! Supported: field equality on dotted paths (with array traversal), `$eq`, `$ne`, `$gt`,
//! `$gte`, `$lt`, `$lte`, `$in`, `$nin`, `$exists`, `$not`, `$and`, `$or`, `$nor`, `$comment`.

use std::cmp::Ordering;

use bson::{Bson, Document};

use crate::error::{CommandError, CommandResult};
use crate::values::{compare, equal, type_rank};

/// A compiled filter document.
#[derive(Debug, Clone)]
pub struct Matcher {
    root: Expr,
}

#[derive(Debug, Clone)]
enum Expr {
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Nor(Vec<Expr>),
    Field { path: Vec<String>, cond: Cond },
}

#[derive(Debug, Clone)]
enum Cond {
    Eq(Bson),
    Ne(Bson),
    Cmp(Bson, fn(Ordering) -> bool),
    In(Vec<Bson>),
    Nin(Vec<Bson>),
    Exists(bool),
    Not(Box<Cond>),
    All(Vec<Cond>),
}

impl Matcher {
    /// Compiles a filter document; unknown or malformed operators are rejected with BadValue.
    pub fn parse(filter: &Document) -> CommandResult<Self> {
        Ok(Self { root: parse_expr(filter)? })
    }

    /// A matcher that accepts every document.
    pub fn all() -> Self {
        Self { root: Expr::And(Vec::new()) }
    }

    /// Whether `doc` satisfies the filter.
    pub fn matches(&self, doc: &Document) -> bool {
        eval_expr(&self.root, doc)
    }
}

fn parse_expr(filter: &Document) -> CommandResult<Expr> {
    let mut parts = Vec::with_capacity(filter.len());
    for (key, value) in filter {
        match key.as_str() {
            "$and" | "$or" | "$nor" => {
                let Bson::Array(items) = value else {
                    return Err(CommandError::bad_value(format!("{key} must be an array")));
                };
                if items.is_empty() {
                    return Err(CommandError::bad_value(format!("{key} must be a nonempty array")));
                }
                let mut subs = Vec::with_capacity(items.len());
                for item in items {
                    let Bson::Document(sub) = item else {
                        return Err(CommandError::bad_value(format!(
                            "{key} entries need to be full objects"
                        )));
                    };
                    subs.push(parse_expr(sub)?);
                }
                parts.push(match key.as_str() {
                    "$and" => Expr::And(subs),
                    "$or" => Expr::Or(subs),
                    _ => Expr::Nor(subs),
                });
            }
            "$comment" => {}
            other if other.starts_with('$') => {
                return Err(CommandError::bad_value(format!(
                    "emulator: unsupported top level operator {other}"
                )));
            }
            path => parts.push(Expr::Field {
                path: path.split('.').map(str::to_owned).collect(),
                cond: parse_cond(value)?,
            }),
        }
    }
    Ok(if parts.len() == 1 {
        parts.pop().unwrap_or(Expr::And(Vec::new()))
    } else {
        Expr::And(parts)
    })
}

fn is_operator_doc(value: &Bson) -> Option<&Document> {
    match value {
        Bson::Document(d) if d.keys().next().is_some_and(|k| k.starts_with('$')) => Some(d),
        _ => None,
    }
}

fn parse_cond(value: &Bson) -> CommandResult<Cond> {
    match is_operator_doc(value) {
        Some(ops) => parse_operators(ops),
        None => Ok(Cond::Eq(value.clone())),
    }
}

fn parse_operators(ops: &Document) -> CommandResult<Cond> {
    let mut conds = Vec::with_capacity(ops.len());
    for (op, arg) in ops {
        let cond = match op.as_str() {
            "$eq" => Cond::Eq(arg.clone()),
            "$ne" => Cond::Ne(arg.clone()),
            "$gt" => Cond::Cmp(arg.clone(), Ordering::is_gt),
            "$gte" => Cond::Cmp(arg.clone(), Ordering::is_ge),
            "$lt" => Cond::Cmp(arg.clone(), Ordering::is_lt),
            "$lte" => Cond::Cmp(arg.clone(), Ordering::is_le),
            "$in" | "$nin" => {
                let Bson::Array(list) = arg else {
                    return Err(CommandError::bad_value(format!("{op} needs an array")));
                };
                if op == "$in" {
                    Cond::In(list.clone())
                } else {
                    Cond::Nin(list.clone())
                }
            }
            "$exists" => Cond::Exists(truthy(arg)),
            "$not" => match arg {
                Bson::Document(inner) if !inner.is_empty() => {
                    if is_operator_doc(arg).is_none() {
                        return Err(CommandError::bad_value("$not needs a document of operators"));
                    }
                    Cond::Not(Box::new(parse_operators(inner)?))
                }
                _ => return Err(CommandError::bad_value("$not needs a document of operators")),
            },
            other if other.starts_with('$') => {
                return Err(CommandError::bad_value(format!(
                    "emulator: unsupported query operator {other}"
                )))
            }
            other => {
                return Err(CommandError::bad_value(format!(
                    "unknown operator: {other} (mixing operators and fields)"
                )))
            }
        };
        conds.push(cond);
    }
    Ok(if conds.len() == 1 {
        conds.pop().unwrap_or(Cond::All(Vec::new()))
    } else {
        Cond::All(conds)
    })
}

fn truthy(value: &Bson) -> bool {
    match value {
        Bson::Boolean(b) => *b,
        Bson::Null | Bson::Undefined => false,
        Bson::Int32(v) => *v != 0,
        Bson::Int64(v) => *v != 0,
        Bson::Double(v) => *v != 0.0,
        _ => true,
    }
}

fn eval_expr(expr: &Expr, doc: &Document) -> bool {
    match expr {
        Expr::And(subs) => subs.iter().all(|e| eval_expr(e, doc)),
        Expr::Or(subs) => subs.iter().any(|e| eval_expr(e, doc)),
        Expr::Nor(subs) => !subs.iter().any(|e| eval_expr(e, doc)),
        Expr::Field { path, cond } => {
            let mut values = Vec::new();
            lookup(doc, path, &mut values);
            eval_cond(cond, &values)
        }
    }
}

/// Collects the values at `path`, descending into arrays of documents like MongoDB does.
fn lookup<'a>(doc: &'a Document, path: &[String], out: &mut Vec<&'a Bson>) {
    let Some((first, rest)) = path.split_first() else {
        return;
    };
    let Some(value) = doc.get(first) else {
        return;
    };
    lookup_value(value, rest, out);
}

fn lookup_value<'a>(value: &'a Bson, rest: &[String], out: &mut Vec<&'a Bson>) {
    let Some((next, tail)) = rest.split_first() else {
        out.push(value);
        return;
    };
    match value {
        Bson::Document(sub) => lookup(sub, rest, out),
        Bson::Array(items) => {
            if let Ok(index) = next.parse::<usize>() {
                if let Some(item) = items.get(index) {
                    lookup_value(item, tail, out);
                }
            }
            for item in items {
                if let Bson::Document(sub) = item {
                    lookup(sub, rest, out);
                }
            }
        }
        _ => {}
    }
}

/// True if `pred` holds for some value or, for arrays, some element.
fn any_value(values: &[&Bson], pred: &dyn Fn(&Bson) -> bool) -> bool {
    values.iter().any(|v| {
        pred(v)
            || match v {
                Bson::Array(items) => items.iter().any(pred),
                _ => false,
            }
    })
}

fn matches_eq(values: &[&Bson], target: &Bson) -> bool {
    if matches!(target, Bson::Null) && values.is_empty() {
        return true;
    }
    any_value(values, &|v| {
        equal(v, target) || (matches!(target, Bson::Null) && matches!(v, Bson::Undefined))
    })
}

fn eval_cond(cond: &Cond, values: &[&Bson]) -> bool {
    match cond {
        Cond::Eq(target) => matches_eq(values, target),
        Cond::Ne(target) => !matches_eq(values, target),
        Cond::Cmp(target, pred) => {
            any_value(values, &|v| type_rank(v) == type_rank(target) && pred(compare(v, target)))
        }
        Cond::In(list) => list.iter().any(|t| matches_eq(values, t)),
        Cond::Nin(list) => !list.iter().any(|t| matches_eq(values, t)),
        Cond::Exists(want) => values.is_empty() != *want,
        Cond::Not(inner) => !eval_cond(inner, values),
        Cond::All(conds) => conds.iter().all(|c| eval_cond(c, values)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::doc;

    fn m(filter: Document, doc: Document) -> bool {
        Matcher::parse(&filter).expect("valid filter").matches(&doc)
    }

    #[test]
    fn dotted_equality_and_ne() {
        let ev = doc! { "operationType": "insert", "fullDocument": { "uid": "a", "n": 3 } };
        assert!(m(doc! { "fullDocument.uid": "a" }, ev.clone()));
        assert!(m(doc! { "operationType": "insert" }, ev.clone()));
        assert!(!m(doc! { "fullDocument.uid": { "$ne": "a" } }, ev.clone()));
        assert!(m(doc! { "fullDocument.uid": { "$ne": "b" } }, ev.clone()));
        assert!(m(doc! { "fullDocument.n": { "$gte": 3, "$lt": 4.5 } }, ev.clone()));
        assert!(m(doc! { "fullDocument.missing": null }, ev));
    }

    #[test]
    fn in_nin_exists_not() {
        let d = doc! { "a": 1, "tags": ["x", "y"], "sub": [{ "k": 1 }, { "k": 2 }] };
        assert!(m(doc! { "a": { "$in": [0, 1] } }, d.clone()));
        assert!(!m(doc! { "a": { "$nin": [0, 1] } }, d.clone()));
        assert!(m(doc! { "tags": "y" }, d.clone()));
        assert!(m(doc! { "sub.k": 2 }, d.clone()));
        assert!(m(doc! { "a": { "$exists": true }, "b": { "$exists": false } }, d.clone()));
        assert!(m(doc! { "a": { "$not": { "$gt": 5 } } }, d.clone()));
        assert!(!m(doc! { "a": { "$not": { "$eq": 1 } } }, d));
    }

    #[test]
    fn logical_operators() {
        let d = doc! { "a": 1, "b": "x" };
        assert!(m(doc! { "$or": [{ "a": 2 }, { "b": "x" }] }, d.clone()));
        assert!(!m(doc! { "$and": [{ "a": 1 }, { "b": "y" }] }, d.clone()));
        assert!(m(doc! { "$nor": [{ "a": 2 }] }, d.clone()));
        assert!(m(doc! {}, d));
    }

    #[test]
    fn rejects_unknown_operators() {
        assert!(Matcher::parse(&doc! { "a": { "$where": "x" } }).is_err());
        assert!(Matcher::parse(&doc! { "$expr": {} }).is_err());
        assert!(Matcher::parse(&doc! { "$or": [] }).is_err());
        assert!(Matcher::parse(&doc! { "a": { "$in": 1 } }).is_err());
    }
}
