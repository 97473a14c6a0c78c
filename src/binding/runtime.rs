//! The tokio runtime the addon runs on: napi's, sized once at module load.

use napi::bindgen_prelude::{create_custom_tokio_runtime, within_runtime_if_available};

/// Environment variable that sets the number of tokio worker threads (default: one per core
/// but one, see [`default_workers`]).
pub const WORKER_THREADS_ENV: &str = "MODELENCE_WS_WORKER_THREADS";

/// Environment variable that sets the native log level on stderr: `off`, `error`, `warn`
/// (default: adapter state changes, slow consumers cut off), `info`, `debug`, `trace`.
pub const LOG_ENV: &str = "MODELENCE_WS_LOG";

fn init_logging() {
    let level = match std::env::var(LOG_ENV).unwrap_or_default().to_ascii_lowercase().as_str() {
        "off" | "none" => return,
        "error" => tracing::Level::ERROR,
        "info" => tracing::Level::INFO,
        "debug" => tracing::Level::DEBUG,
        "trace" => tracing::Level::TRACE,
        _ => tracing::Level::WARN,
    };
    let subscriber = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(level)
        .with_target(false)
        .finish();
    // Another copy of the addon (or the app) may have set one already: keep theirs.
    let _ = tracing::subscriber::set_global_default(subscriber);
}

#[napi_derive::module_init]
fn init_runtime() {
    init_logging();
    let workers = std::env::var(WORKER_THREADS_ENV)
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|n| *n > 0)
        .unwrap_or_else(default_workers);
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.enable_all().thread_name("modelence-ws").worker_threads(workers);
    // Node's thread is woken for hook calls when a worker runs out of work (see
    // `hook_calls::wake_deferred`), not at each call. Not in the addon's unit tests: they
    // link without Node, and the hook calls into napi.
    #[cfg(not(test))]
    builder.on_thread_park(crate::binding::hook_calls::wake_deferred);
    // If the runtime cannot be built, napi falls back to its own default runtime.
    if let Ok(runtime) = builder.build() {
        create_custom_tokio_runtime(runtime);
    }
}

/// One worker per core but one, and at least one: Node's JS thread (the app, and the
/// `authenticate` and access-check callbacks every connection waits for) needs a core of its
/// own, and delivery is one task whatever the count. Measured on 2 cores (`npm run bench`,
/// storm-10k): 1 worker 8,058 joins/s, 2 workers 7,373; bursts and paced fan-out equal or better.
fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().saturating_sub(1).max(1))
}

/// A handle to the addon's runtime.
pub fn handle() -> tokio::runtime::Handle {
    within_runtime_if_available(tokio::runtime::Handle::current)
}
