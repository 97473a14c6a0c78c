//! A dev-only MongoDB wire-protocol **emulator** for tests. It is not a database.
//!
//! It keeps collections, indexes and change-stream history in memory and speaks enough of the
//! MongoDB wire protocol (OP_MSG, plus legacy OP_QUERY handshakes) for the official drivers to
//! connect to it as a single-node replica set primary, create collections and indexes, insert and
//! find documents, and run change streams that resume exactly after a token. Tests can inject
//! faults over the wire with `emulatorDropConnections`, `emulatorRefuseConnections` and inspect
//! it with `emulatorStatus`. See `README.md` next to `Cargo.toml`.
#![warn(missing_docs)]

pub mod change_stream;
pub mod clock;
pub mod commands;
pub mod config;
pub mod cursors;
pub mod error;
pub mod indexes;
pub mod matcher;
pub mod namespace;
pub mod pipeline;
pub mod projection;
pub mod server;
pub mod sort;
pub mod state;
pub mod store;
pub mod values;
pub mod wire;

pub use config::{parse_args, Cli, Config};
pub use server::Server;
