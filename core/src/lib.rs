//! The plain-Rust core of modelence-native-ws: no Node, no napi. It builds and tests with
//! `cargo test`, including integration tests (`tests/`) that drive a real server over TCP.
//!
//! Modules depend downward only. From the bottom: the wire and configuration (`protocol`,
//! `channel`, `payload`, `errors`, `config`, `expiring`); the app's hooks and the policy that bounds
//! them (`hooks`, `policy`); per-socket state and the engine-independent socket handle
//! (`socket_state`, `client`); the cluster link and broadcast sending (`adapter`,
//! `cluster`, `broadcast`, `shared`); the flows (`auth`, `access`, `publish`, `dispatch`,
//! `presence`); the engine interface and the engines (`engine`, `native`, `sio`); local
//! delivery; and the server on top.
#![warn(missing_docs)]

pub mod access;
pub mod adapter;
pub mod auth;
pub mod broadcast;
pub mod call_order;
pub mod channel;
pub mod client;
pub mod cluster;
pub mod config;
pub mod delivery;
pub mod dispatch;
pub mod emitter;
pub mod engine;
pub mod errors;
pub mod expiring;
pub mod hooks;
pub mod memory;
pub mod metrics;
pub mod native;
pub mod payload;
pub mod policy;
pub mod presence;
pub mod protocol;
pub mod publish;
pub mod recovery;
pub mod server;
pub mod shared;
pub mod sio;
pub mod socket_state;
pub mod supervise;

#[cfg(test)]
mod proptests;
