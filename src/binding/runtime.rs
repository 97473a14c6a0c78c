//! The tokio runtime the addon runs on: napi's, sized once at module load.

use napi::bindgen_prelude::{create_custom_tokio_runtime, within_runtime_if_available};

/// Environment variable that sets the number of tokio worker threads (default: one per core).
pub const WORKER_THREADS_ENV: &str = "MODELENCE_WS_WORKER_THREADS";

#[napi_derive::module_init]
fn init_runtime() {
    let workers = std::env::var(WORKER_THREADS_ENV)
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|n| *n > 0);
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.enable_all().thread_name("modelence-ws");
    if let Some(workers) = workers {
        builder.worker_threads(workers);
    }
    // If the runtime cannot be built, napi falls back to its own default runtime.
    if let Ok(runtime) = builder.build() {
        create_custom_tokio_runtime(runtime);
    }
}

/// A handle to the addon's runtime.
pub fn handle() -> tokio::runtime::Handle {
    within_runtime_if_available(tokio::runtime::Handle::current)
}
