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
