//! Hooks that force internal failures, so a test can prove they reach JS as errors instead
//! of aborting Node. Compiled only with the `test-hooks` feature.
#![doc(hidden)]

use napi_derive::napi;

/// Panics on the JS thread inside an export (caught by `catch_unwind`).
#[doc(hidden)]
#[napi(catch_unwind, js_name = "__forcePanic")]
pub fn force_panic(message: String) -> napi::Result<()> {
    panic!("{message}");
}

/// Panics inside an async export, on a runtime thread.
#[doc(hidden)]
#[napi(js_name = "__forceAsyncPanic")]
pub async fn force_async_panic(message: String) -> napi::Result<()> {
    let task = tokio::spawn(async move { panic!("{message}") });
    task.await.map_err(|e| napi::Error::from_reason(format!("internal failure: {e}")))
}

/// Keeps the runtime's workers busy for `ms` without letting them park: a task that yields
/// until then (a yielded task is polled again before a worker would sleep). Lets a test
/// prove that hook calls made meanwhile still reach JS within the deferred wake's bound.
#[doc(hidden)]
#[napi(js_name = "__busyRuntime")]
pub async fn busy_runtime(ms: u32) -> napi::Result<()> {
    let until = std::time::Instant::now() + std::time::Duration::from_millis(ms.into());
    while std::time::Instant::now() < until {
        tokio::task::yield_now().await;
    }
    Ok(())
}
