//! Everything that touches napi: JS options into core config, JS callbacks into core hooks,
//! core errors into JS errors, and the `NativeServer` class the JS layer drives.

pub mod adapter;
pub mod answers;
pub mod bridge;
pub mod errors;
pub mod hook_calls;
pub mod hooks;
pub mod options;
pub mod runtime;
pub mod server;
#[cfg(feature = "test-hooks")]
pub mod test_hooks;
