//! Command errors in the shape MongoDB servers report them (`code`, `codeName`, `errmsg`).

use std::fmt;

use bson::{doc, Document};

/// An error returned to the client as an `{ ok: 0, errmsg, code, codeName }` reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandError {
    /// Numeric MongoDB error code.
    pub code: i32,
    /// Symbolic MongoDB error code name.
    pub code_name: &'static str,
    /// Human readable message.
    pub message: String,
}

/// Shorthand for results of command handlers.
pub type CommandResult<T> = Result<T, CommandError>;

impl CommandError {
    /// Builds an error from its parts.
    pub fn new(code: i32, code_name: &'static str, message: impl Into<String>) -> Self {
        Self { code, code_name, message: message.into() }
    }

    /// Code 2, BadValue.
    pub fn bad_value(message: impl Into<String>) -> Self {
        Self::new(2, "BadValue", message)
    }

    /// Code 9, FailedToParse.
    pub fn failed_to_parse(message: impl Into<String>) -> Self {
        Self::new(9, "FailedToParse", message)
    }

    /// Code 14, TypeMismatch.
    pub fn type_mismatch(message: impl Into<String>) -> Self {
        Self::new(14, "TypeMismatch", message)
    }

    /// Code 26, NamespaceNotFound.
    pub fn namespace_not_found(message: impl Into<String>) -> Self {
        Self::new(26, "NamespaceNotFound", message)
    }

    /// Code 27, IndexNotFound.
    pub fn index_not_found(message: impl Into<String>) -> Self {
        Self::new(27, "IndexNotFound", message)
    }

    /// Code 43, CursorNotFound.
    pub fn cursor_not_found(id: i64) -> Self {
        Self::new(43, "CursorNotFound", format!("cursor id {id} not found"))
    }

    /// Code 48, NamespaceExists.
    pub fn namespace_exists(message: impl Into<String>) -> Self {
        Self::new(48, "NamespaceExists", message)
    }

    /// Code 59, CommandNotFound, for commands the emulator does not implement.
    pub fn command_not_found(name: &str) -> Self {
        Self::new(59, "CommandNotFound", format!("emulator: unsupported command {name}"))
    }

    /// Code 72, InvalidOptions.
    pub fn invalid_options(message: impl Into<String>) -> Self {
        Self::new(72, "InvalidOptions", message)
    }

    /// Code 73, InvalidNamespace.
    pub fn invalid_namespace(message: impl Into<String>) -> Self {
        Self::new(73, "InvalidNamespace", message)
    }

    /// Code 85, IndexOptionsConflict.
    pub fn index_options_conflict(message: impl Into<String>) -> Self {
        Self::new(85, "IndexOptionsConflict", message)
    }

    /// Code 86, IndexKeySpecsConflict.
    pub fn index_key_specs_conflict(message: impl Into<String>) -> Self {
        Self::new(86, "IndexKeySpecsConflict", message)
    }

    /// Code 286, ChangeStreamHistoryLost.
    pub fn history_lost(message: impl Into<String>) -> Self {
        Self::new(286, "ChangeStreamHistoryLost", message)
    }

    /// Code 352, UnsupportedOpQueryCommand, for legacy OP_QUERY commands other than hello.
    pub fn unsupported_op_query(name: &str) -> Self {
        Self::new(
            352,
            "UnsupportedOpQueryCommand",
            format!("emulator: OP_QUERY only supports hello/isMaster, not {name}"),
        )
    }

    /// The reply document sent to the client.
    pub fn to_reply(&self) -> Document {
        doc! {
            "ok": 0.0,
            "errmsg": self.message.clone(),
            "code": self.code,
            "codeName": self.code_name,
        }
    }
}

impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}): {}", self.code_name, self.code, self.message)
    }
}

impl std::error::Error for CommandError {}
