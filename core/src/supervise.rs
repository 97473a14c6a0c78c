//! Supervision of the server's long-lived singleton tasks (delivery, adapter routing,
//! presence): a panic is logged and the task restarted, so a server never silently stops
//! delivering.

use std::{future::Future, panic::AssertUnwindSafe, time::Duration};

use futures_util::FutureExt;
use tokio_util::sync::CancellationToken;

/// How long a supervisor waits before restarting a task that panicked.
const RESTART_DELAY: Duration = Duration::from_millis(100);

/// Runs the task `start` makes until it returns; restarts it after a panic, until
/// `shutdown`.
pub async fn supervised<F, Fut>(name: &'static str, shutdown: &CancellationToken, mut start: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()>,
{
    loop {
        match AssertUnwindSafe(start()).catch_unwind().await {
            Ok(()) => return,
            Err(_) => {
                tracing::error!(task = name, "a server task panicked; restarting it");
                if shutdown.is_cancelled() {
                    return;
                }
                tokio::time::sleep(RESTART_DELAY).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn a_panicking_task_is_restarted_until_it_returns() {
        let runs = AtomicUsize::new(0);
        supervised("test", &CancellationToken::new(), || {
            let run = runs.fetch_add(1, Ordering::SeqCst);
            async move {
                if run < 2 {
                    panic!("boom");
                }
            }
        })
        .await;
        assert_eq!(runs.load(Ordering::SeqCst), 3);
    }
}
