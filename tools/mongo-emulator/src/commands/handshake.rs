//! Handshake and server-information commands: `hello`/`isMaster`, `buildInfo`.

use bson::{doc, oid::ObjectId, DateTime, Document};

use crate::state::Shared;
use crate::wire::{MAX_BSON_OBJECT_SIZE, MAX_MESSAGE_SIZE};

/// Highest wire version reported (21 = MongoDB 7.0; the driver needs at least 9 and change
/// streams with `postBatchResumeToken` need 7+).
pub const MAX_WIRE_VERSION: i32 = 21;
/// Server version reported by `buildInfo`.
pub const SERVER_VERSION: &str = "7.0.0";

/// Fixed election id of the single-node "replica set".
const ELECTION_ID: [u8; 12] = [0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 1];

/// The reply to `hello` / legacy `isMaster` (without `ok`).
///
/// No `topologyVersion` is sent, so drivers use the polling monitoring protocol instead of
/// streaming (exhaust) `hello`s, which the emulator does not implement.
pub fn hello_reply(shared: &Shared, conn_id: u64, cmd: &Document) -> Document {
    let legacy = cmd.keys().next().is_some_and(|k| k != "hello");
    let mut reply = Document::new();
    reply.insert(if legacy { "ismaster" } else { "isWritablePrimary" }, true);
    reply.insert("helloOk", true);
    if !shared.config.standalone {
        let me = shared.advertised.clone();
        reply.extend(doc! {
            "setName": shared.config.set_name.clone(),
            "setVersion": 1,
            "hosts": [me.clone()],
            "primary": me.clone(),
            "me": me,
            "secondary": false,
            "electionId": ObjectId::from_bytes(ELECTION_ID),
        });
    }
    reply.extend(doc! {
        "maxBsonObjectSize": MAX_BSON_OBJECT_SIZE as i32,
        "maxMessageSizeBytes": MAX_MESSAGE_SIZE as i32,
        "maxWriteBatchSize": 100_000,
        "localTime": DateTime::now(),
        "logicalSessionTimeoutMinutes": 30,
        "connectionId": i64::try_from(conn_id).unwrap_or(i64::MAX),
        "minWireVersion": 0,
        "maxWireVersion": MAX_WIRE_VERSION,
        "readOnly": false,
    });
    reply
}

/// The reply to `buildInfo` (without `ok`).
pub fn build_info() -> Document {
    doc! {
        "version": SERVER_VERSION,
        "gitVersion": "mongo-emulator",
        "versionArray": [7, 0, 0, 0],
        "modules": ["emulator"],
        "bits": 64,
        "debug": false,
        "maxBsonObjectSize": MAX_BSON_OBJECT_SIZE as i32,
        "storageEngines": ["emulator-memory"],
    }
}
