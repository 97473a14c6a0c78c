//! The plain-Rust core: no Node, no napi. It builds and tests with `cargo test`.

pub mod access;
pub mod adapter;
pub mod auth;
pub mod channel;
pub mod client;
pub mod cluster;
pub mod config;
pub mod connection;
pub mod emitter;
pub mod errors;
pub mod fanout;
pub mod hooks;
pub mod http;
pub mod memory;
pub mod native;
pub mod payload;
pub mod presence;
pub mod protocol;
pub mod publish;
pub mod server;
pub mod session;

#[cfg(test)]
mod proptests;
