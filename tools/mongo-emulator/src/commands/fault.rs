//! Fault-injection commands used by tests (`emulatorDropConnections`,
//! `emulatorRefuseConnections`, `emulatorStatus`); accepted on any database.

use std::time::Duration;

use bson::{doc, Document};

use super::{Action, Ctx};
use crate::clock::to_timestamp;
use crate::error::{CommandError, CommandResult};
use crate::values::as_f64;

/// Longest refusal window accepted.
const MAX_REFUSE_SECONDS: f64 = 3600.0;

/// `{ emulatorDropConnections: 1 }`: reply, then close every connection.
pub fn drop_connections(ctx: &Ctx<'_>) -> CommandResult<(Document, Action)> {
    let (open, _, _) = ctx.shared.connection_counts();
    Ok((doc! { "closingConnections": open as i64 }, Action::DropConnections))
}

/// `{ emulatorRefuseConnections: N }`: reply, close every connection, and close new ones
/// immediately for N seconds (fractions allowed).
pub fn refuse_connections(ctx: &Ctx<'_>, cmd: &Document) -> CommandResult<(Document, Action)> {
    let seconds = cmd
        .get("emulatorRefuseConnections")
        .and_then(as_f64)
        .filter(|s| s.is_finite() && (0.0..=MAX_REFUSE_SECONDS).contains(s))
        .ok_or_else(|| {
            CommandError::bad_value("emulatorRefuseConnections needs a number of seconds (0-3600)")
        })?;
    let (open, _, _) = ctx.shared.connection_counts();
    Ok((
        doc! { "closingConnections": open as i64, "refuseForSeconds": seconds },
        Action::RefuseConnections(Duration::from_secs_f64(seconds)),
    ))
}

/// `{ emulatorStatus: 1 }`: counters for tests.
pub fn status(ctx: &Ctx<'_>) -> Document {
    let (open, total, refused) = ctx.shared.connection_counts();
    let store = ctx.shared.store();
    doc! {
        "emulator": true,
        "connections": open as i64,
        "totalConnections": total as i64,
        "refusedConnections": refused as i64,
        "refusing": ctx.shared.refusing(),
        "databases": store.database_names().len() as i64,
        "collections": store.collection_count() as i64,
        "documents": store.document_count() as i64,
        "events": store.history.len() as i64,
        "cursors": store.cursors.len() as i64,
        "clusterTime": to_timestamp(store.clock.now()),
    }
}
