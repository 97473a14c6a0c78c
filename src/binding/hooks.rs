//! The app's JS callbacks, called from Rust through weak threadsafe functions (they never
//! keep Node's event loop alive) and turned into [`AppHooks`].

use std::sync::Arc;

use napi::{
    bindgen_prelude::{FnArgs, Promise},
    threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode},
    Status,
};

use crate::core::hooks::{AccessVerdict, AppHooks, HookFuture};

/// `(sid, token) => Promise<string | null>`: null once the auth context is stored, else the
/// message to refuse the connection with. The JS side never rejects.
pub type AuthenticateFn = ThreadsafeFunction<
    FnArgs<(String, Option<String>)>,
    Promise<Option<String>>,
    FnArgs<(String, Option<String>)>,
    Status,
    false,
    true,
>;

/// `(sid, category, id) => Promise<number>`: 0 allowed, 1 denied, 2 failed.
pub type CheckAccessFn = ThreadsafeFunction<
    FnArgs<(String, String, String)>,
    Promise<u32>,
    FnArgs<(String, String, String)>,
    Status,
    false,
    true,
>;

/// `(sid) => void`: drop the auth context of a connection that is gone.
pub type ForgetFn = ThreadsafeFunction<String, (), String, Status, false, true>;

/// [`AppHooks`] backed by the JS layer's dispatch functions.
pub struct JsHooks {
    authenticate: Option<Arc<AuthenticateFn>>,
    check_access: Option<Arc<CheckAccessFn>>,
    forget: Option<ForgetFn>,
}

impl JsHooks {
    /// Wraps the JS dispatch functions; a missing one means the feature is unused.
    pub fn new(
        authenticate: Option<AuthenticateFn>,
        check_access: Option<CheckAccessFn>,
        forget: Option<ForgetFn>,
    ) -> Self {
        Self {
            authenticate: authenticate.map(Arc::new),
            check_access: check_access.map(Arc::new),
            forget,
        }
    }
}

const ACCESS_ALLOWED: u32 = 0;
const ACCESS_DENIED: u32 = 1;

impl AppHooks for JsHooks {
    fn authenticate(&self, sid: String, token: Option<String>) -> HookFuture<Result<(), String>> {
        let Some(callback) = self.authenticate.clone() else {
            return Box::pin(async { Ok(()) });
        };
        Box::pin(async move {
            let outcome = match callback.call_async_catch(FnArgs::from((sid, token))).await {
                Ok(promise) => promise.await,
                Err(error) => Err(error),
            };
            match outcome {
                Ok(None) => Ok(()),
                Ok(Some(message)) => Err(message),
                Err(error) => {
                    tracing::warn!(%error, "authenticate could not be called");
                    Err("Authentication failed".to_owned())
                }
            }
        })
    }

    fn check_access(&self, sid: String, category: String, id: String) -> HookFuture<AccessVerdict> {
        let Some(callback) = self.check_access.clone() else {
            return Box::pin(async { AccessVerdict::Failed });
        };
        Box::pin(async move {
            let outcome = match callback.call_async_catch(FnArgs::from((sid, category, id))).await {
                Ok(promise) => promise.await,
                Err(error) => Err(error),
            };
            match outcome {
                Ok(ACCESS_ALLOWED) => AccessVerdict::Allowed,
                Ok(ACCESS_DENIED) => AccessVerdict::Denied,
                Ok(_) => AccessVerdict::Failed,
                Err(error) => {
                    tracing::warn!(%error, "access check could not be called");
                    AccessVerdict::Failed
                }
            }
        })
    }

    fn forget(&self, sid: String) {
        if let Some(forget) = &self.forget {
            forget.call(sid, ThreadsafeFunctionCallMode::NonBlocking);
        }
    }
}
