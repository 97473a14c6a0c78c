//! Database + collection names.

use std::fmt;

use crate::error::{CommandError, CommandResult};

/// A `db.collection` namespace.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Namespace {
    /// Database name.
    pub db: String,
    /// Collection name.
    pub coll: String,
}

impl Namespace {
    /// Builds a namespace, validating both names like MongoDB does (roughly).
    pub fn new(db: &str, coll: &str) -> CommandResult<Self> {
        validate_db(db)?;
        if coll.is_empty() || coll.contains('\0') || coll.starts_with('$') {
            return Err(CommandError::invalid_namespace(format!(
                "Invalid collection name: {coll:?}"
            )));
        }
        Ok(Self { db: db.to_owned(), coll: coll.to_owned() })
    }
}

/// Validates a database name.
pub fn validate_db(db: &str) -> CommandResult<()> {
    if db.is_empty()
        || db.len() > 63
        || db.chars().any(|c| matches!(c, '/' | '\\' | '.' | ' ' | '"' | '$' | '\0'))
    {
        return Err(CommandError::invalid_namespace(format!("Invalid database name: {db:?}")));
    }
    Ok(())
}

impl fmt::Display for Namespace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.db, self.coll)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validates_names() {
        assert_eq!(Namespace::new("db", "c.x").map(|n| n.to_string()), Ok("db.c.x".into()));
        assert!(Namespace::new("", "c").is_err());
        assert!(Namespace::new("a.b", "c").is_err());
        assert!(Namespace::new("db", "").is_err());
    }
}
