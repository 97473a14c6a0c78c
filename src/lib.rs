//! modelence-native-ws: the Modelence WebSocket layer as a Node.js native addon.
//!
//! The [`core`] (its own crate, `core/`, with no napi in it) owns the wire: the Socket.IO
//! server, channels, the authentication and join flow with its policy, and broadcast
//! delivery. The [`binding`] is the only place that touches napi: it turns JS options into a
//! core [`core::config::Config`], JS callbacks into [`core::hooks::AppHooks`], and core
//! errors into JS errors. See `docs/ARCHITECTURE.md` for how data flows between them.
#![warn(missing_docs)]

/// mimalloc for the native side: delivery allocates and frees small buffers per
/// recipient, and mimalloc hands freed memory back to the OS on its own.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

pub mod binding;
pub use modelence_ws_core as core;
