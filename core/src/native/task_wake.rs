//! How other tasks wake a connection's task: one waiter, no lock. The connection waits on
//! it at every turn of its loop, and a `tokio::sync::Notify` would take its lock twice per
//! turn (to enlist the waiter, and to take it out when another branch won).

use std::{
    future::{poll_fn, Future},
    sync::atomic::{AtomicBool, Ordering},
    task::Poll,
};

use futures_util::task::AtomicWaker;

/// A wake for one task, kept until that task next waits when it is not waiting yet (as
/// `Notify::notify_one` keeps its permit).
#[derive(Default)]
pub(crate) struct TaskWake {
    waker: AtomicWaker,
    woken: AtomicBool,
}

impl TaskWake {
    /// Wakes the waiting task, or the next wait when none is waiting.
    pub(crate) fn wake(&self) {
        self.woken.store(true, Ordering::Release);
        self.waker.wake();
    }

    /// Resolves once woken (at once when a wake is kept). Only one task may wait.
    pub(crate) fn woken(&self) -> impl Future<Output = ()> + '_ {
        poll_fn(move |cx| {
            if self.woken.swap(false, Ordering::Acquire) {
                return Poll::Ready(());
            }
            self.waker.register(cx.waker());
            // A wake between the check and the registration found no waker: check again.
            if self.woken.swap(false, Ordering::Acquire) {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use std::{sync::Arc, time::Duration};

    use super::*;

    #[tokio::test]
    async fn a_wake_before_the_wait_is_kept_once() {
        let wake = TaskWake::default();
        wake.wake();
        wake.wake();
        tokio::time::timeout(Duration::from_secs(1), wake.woken()).await.unwrap();
        let second = tokio::time::timeout(Duration::from_millis(20), wake.woken()).await;
        assert!(second.is_err(), "two wakes before a wait are one");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_waiting_task_is_woken_from_another_thread() {
        let wake = Arc::new(TaskWake::default());
        for _ in 0..1000 {
            let waker = wake.clone();
            let waking = std::thread::spawn(move || waker.wake());
            tokio::time::timeout(Duration::from_secs(1), wake.woken()).await.unwrap();
            waking.join().unwrap();
        }
    }
}
