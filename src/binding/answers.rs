//! Hook calls that JS answers by call id (`answerHookCall(id, code, message, binary)`)
//! instead of returning a Promise. Turning a returned Promise into a Rust future costs napi-rs
//! two new JS functions with finalizers per call (its `then` and `catch`), which V8 must track
//! until a GC; on the connect path (one `authenticate` and one access check per connection)
//! that was a large share of the JS thread's time, and client events and publishes paid it
//! per message. An id and one synchronous call cost neither.

use std::{
    collections::{hash_map::Entry, HashMap},
    future::Future,
    pin::Pin,
    sync::{
        atomic::{AtomicU32, Ordering},
        Arc, LazyLock, Mutex,
    },
    task::{Context, Poll},
};

use bytes::Bytes;
use rustc_hash::FxBuildHasher;
use tokio::sync::oneshot;

/// What JS answered: a code whose meaning belongs to the hook, and an optional message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The hook's outcome code (e.g. an access verdict).
    pub code: u32,
    /// Text that goes with it (e.g. why a connection was refused, an event's ack as JSON).
    pub message: Option<String>,
    /// Binary attachments the message's JSON refers to (an event's ack); empty otherwise.
    pub binary: Vec<Bytes>,
}

/// The calls JS has not answered yet, by id.
#[derive(Default)]
pub struct Answers {
    next_id: AtomicU32,
    /// Keyed by ids this table hands out in sequence, so a fast hash (not the default
    /// SipHash, which showed in connect-storm profiles) cannot be steered into collisions.
    waiting: Mutex<HashMap<u32, oneshot::Sender<Answer>, FxBuildHasher>>,
}

impl Answers {
    /// The process's calls awaiting an answer, for every server: with one table, JS answers
    /// through a plain function, which napi calls without unwrapping and borrow-tracking a
    /// class instance (measured on the connect path, two answers per connection).
    pub fn pending() -> &'static Arc<Answers> {
        static PENDING: LazyLock<Arc<Answers>> = LazyLock::new(Arc::default);
        &PENDING
    }

    /// Registers a call: its id (to pass to JS) and the future of its answer.
    pub fn expect(self: &Arc<Self>) -> (u32, AwaitedAnswer) {
        let (tx, rx) = oneshot::channel();
        let mut waiting = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
        // Ids wrap after 2^32 calls; one still waiting then (a call never answered nor
        // dropped) is skipped rather than replaced.
        let id = loop {
            let id = self.next_id.fetch_add(1, Ordering::Relaxed);
            if let Entry::Vacant(slot) = waiting.entry(id) {
                slot.insert(tx);
                break id;
            }
        };
        drop(waiting);
        let awaited = AwaitedAnswer { id, answers: self.clone(), rx, answered: false };
        (id, awaited)
    }

    /// Delivers JS's answer to call `id`; false when nobody waits for it any more (the
    /// caller timed out, or the id is unknown).
    pub fn settle(&self, id: u32, answer: Answer) -> bool {
        let waiting = self.waiting.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
        waiting.is_some_and(|tx| tx.send(answer).is_ok())
    }

    /// Delivers code-only answers, `[id, code, id, code, …]`, under one lock: JS answers
    /// the calls it settled in a tick together. Returns how many were still awaited.
    pub fn settle_codes(&self, pairs: &[u32]) -> usize {
        let mut waiting = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
        let settled: Vec<_> = pairs
            .chunks_exact(2)
            .filter_map(|pair| waiting.remove(&pair[0]).map(|tx| (tx, pair[1])))
            .collect();
        drop(waiting);
        // Sent once the lock is released: each send wakes a task on the runtime.
        settled
            .into_iter()
            .map(|(tx, code)| tx.send(Answer { code, message: None, binary: Vec::new() }))
            .filter(Result::is_ok)
            .count()
    }

    /// Number of calls waiting for an answer.
    #[cfg(test)]
    fn waiting(&self) -> usize {
        self.waiting.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Drops call `id` without an answer: its waiter resolves `None`.
    pub(crate) fn forget(&self, id: u32) {
        self.waiting.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
    }
}

/// The answer to one call: `None` if the call could not reach JS. Dropping it before that
/// (a timeout) forgets the call, so a late answer finds nobody and costs nothing.
pub struct AwaitedAnswer {
    id: u32,
    answers: Arc<Answers>,
    rx: oneshot::Receiver<Answer>,
    /// Its outcome arrived, so the table no longer holds the call (settling or forgetting
    /// it removed the entry, which is what ends the sender): nothing to forget on drop.
    answered: bool,
}

impl Future for AwaitedAnswer {
    type Output = Option<Answer>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let outcome = std::task::ready!(Pin::new(&mut self.rx).poll(cx));
        self.answered = true;
        Poll::Ready(outcome.ok())
    }
}

impl Drop for AwaitedAnswer {
    fn drop(&mut self) {
        if !self.answered {
            self.answers.forget(self.id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(code: u32) -> Answer {
        Answer { code, message: None, binary: Vec::new() }
    }

    #[tokio::test]
    async fn an_answer_reaches_its_own_call() {
        let answers = Arc::new(Answers::default());
        let (first, first_answer) = answers.expect();
        let (second, second_answer) = answers.expect();
        assert_ne!(first, second);
        let refusal = Answer { code: 1, message: Some("no".into()), binary: Vec::new() };
        assert!(answers.settle(second, refusal));
        assert!(answers.settle(first, answer(0)));
        assert_eq!(first_answer.await, Some(answer(0)));
        assert_eq!(second_answer.await.map(|a| a.message), Some(Some("no".into())));
        assert_eq!(answers.waiting(), 0);
    }

    #[tokio::test]
    async fn a_dropped_call_is_forgotten_and_its_late_answer_ignored() {
        let answers = Arc::new(Answers::default());
        let (id, awaited) = answers.expect();
        drop(awaited);
        assert_eq!(answers.waiting(), 0, "nothing kept for a call nobody waits for");
        assert!(!answers.settle(id, answer(0)));
        assert!(!answers.settle(id + 100, answer(0)), "an unknown id is ignored");
    }

    #[tokio::test]
    async fn code_answers_settle_together_and_skip_calls_nobody_awaits() {
        let answers = Arc::new(Answers::default());
        let (first, first_answer) = answers.expect();
        let (dropped, dropped_answer) = answers.expect();
        let (last, last_answer) = answers.expect();
        drop(dropped_answer);
        let settled = answers.settle_codes(&[last, 2, dropped, 0, first, 1, 999, 0]);
        assert_eq!(settled, 2, "the dropped call and the unknown id are not counted");
        assert_eq!(first_answer.await.map(|a| a.code), Some(1));
        assert_eq!(last_answer.await.map(|a| a.code), Some(2));
        assert_eq!(answers.waiting(), 0);
    }

    #[test]
    fn a_call_dropped_while_waiting_is_forgotten() {
        let answers = Arc::new(Answers::default());
        let (id, mut awaited) = answers.expect();
        let mut cx = Context::from_waker(std::task::Waker::noop());
        assert!(Pin::new(&mut awaited).poll(&mut cx).is_pending());
        drop(awaited);
        assert_eq!(answers.waiting(), 0, "a call that timed out while waiting leaves nothing");
        assert!(!answers.settle(id, answer(0)));
    }

    #[test]
    fn ids_in_use_are_skipped_when_they_wrap() {
        let answers = Arc::new(Answers::default());
        let (zero, _kept) = answers.expect();
        answers.next_id.store(u32::MAX, Ordering::Relaxed);
        let (last, _a) = answers.expect();
        let (after_wrap, _b) = answers.expect();
        assert_eq!((zero, last), (0, u32::MAX));
        assert_eq!(after_wrap, 1, "0 is still waiting, so the next free id is taken");
    }
}
