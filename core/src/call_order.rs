//! Keeps one socket's calls into the app in the order its events arrived, as socket.io
//! does: each event takes a [`Turn`] when it is dispatched (in arrival order) and makes its
//! call only once every earlier turn is over. Only the *calls* are ordered: the app's
//! answers are awaited concurrently.

use std::sync::Mutex;

use tokio::sync::oneshot;

/// Where the next turn of one socket queues: after the last one taken.
#[derive(Default)]
pub struct CallOrder {
    last: Mutex<Option<oneshot::Receiver<()>>>,
}

impl CallOrder {
    /// The next turn, after every turn taken before it.
    pub fn take(&self) -> Turn {
        let (over, follower) = oneshot::channel();
        let after =
            self.last.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).replace(follower);
        Turn { after, _over: over }
    }
}

/// One event's place in its socket's order. It is over when dropped, whether its call was
/// made or it gave up (timed out, refused, the socket went away).
pub struct Turn {
    after: Option<oneshot::Receiver<()>>,
    _over: oneshot::Sender<()>,
}

impl Turn {
    /// Waits until every earlier turn is over.
    pub async fn come(&mut self) {
        if let Some(earlier) = self.after.take() {
            // An error only says the earlier turn's sender is gone: that is it being over.
            let _ = earlier.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn turns_come_in_the_order_they_were_taken() {
        let order = CallOrder::default();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for i in 0..200 {
            let mut turn = order.take();
            let seen = seen.clone();
            tasks.push(tokio::spawn(async move {
                // Later turns get going first more often than not.
                tokio::time::sleep(std::time::Duration::from_micros(200 - i)).await;
                turn.come().await;
                seen.lock().unwrap().push(i);
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(*seen.lock().unwrap(), (0..200).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn a_turn_given_up_lets_the_next_one_come() {
        let order = CallOrder::default();
        let first = order.take();
        let mut second = order.take();
        drop(first);
        tokio::time::timeout(std::time::Duration::from_secs(1), second.come())
            .await
            .expect("the second turn comes once the first is dropped");
    }
}
