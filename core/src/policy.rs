//! The policy layer: the one way the core calls the app's code, and the rule for what a
//! reply may echo back to a client.
//!
//! Every awaited hook (authenticate, access checks, `onPublish`, `onEvent`, presence
//! lookups) goes through [`Policy`], which bounds it twice: by its own timeout, and by a
//! server-wide cap on calls in flight (`max_pending_hook_calls`), so the queues into JS never
//! grow without limit. When JS is saturated a caller waits for a permit, within its timeout.
//! A socket's calls (access checks, `onPublish`, `onEvent`) reach the app in the order its
//! events arrived: each waits for its [`Turn`] before it takes a permit.
//! The raw [`AppHooks`] are private to this module, so a new flow cannot forget the bounds.

use std::{future::Future, sync::Arc, time::Duration};

use serde_json::Value;
use tokio::sync::Semaphore;

use crate::{
    call_order::Turn,
    config::Config,
    errors::{AuthError, JoinError, PublishError},
    hooks::{AccessVerdict, AppHooks, Forget, SocketNotice},
    metrics::{Hook, Metrics},
    payload::Payload,
};

/// Bounded access to the app's hooks, and the limits of what replies carry.
pub struct Policy {
    hooks: Arc<dyn AppHooks>,
    metrics: Arc<Metrics>,
    gate: Semaphore,
    auth_timeout: Duration,
    access_check_timeout: Duration,
    event_timeout: Duration,
    presence_timeout: Duration,
    max_echo_len: usize,
}

/// The hook did not settle within its timeout (waiting for a free call included).
struct TimedOut;

impl Policy {
    /// The policy of a server configured by `config`, calling `hooks` and timing them in
    /// `metrics`.
    pub fn new(config: &Config, hooks: Arc<dyn AppHooks>, metrics: Arc<Metrics>) -> Self {
        Self {
            hooks,
            metrics,
            gate: Semaphore::new(config.max_pending_hook_calls.max(1)),
            auth_timeout: config.auth_timeout,
            access_check_timeout: config.access_check_timeout,
            event_timeout: config.event_timeout,
            presence_timeout: config.presence.query_timeout,
            max_echo_len: config.max_channel_name_len,
        }
    }

    /// Runs one call of `hook`: waits for `turn` (if ordered) and a free call slot, then
    /// makes the call and waits for it, all within `limit`; the time taken goes to the
    /// metrics. The turn is over as soon as the call is made, so the next one can go.
    async fn bounded<T, F: Future<Output = T>>(
        &self,
        hook: Hook,
        limit: Duration,
        mut turn: Option<Turn>,
        call: impl FnOnce() -> F,
    ) -> Result<T, TimedOut> {
        let started = tokio::time::Instant::now();
        let run = async {
            if let Some(turn) = turn.as_mut() {
                turn.come().await;
            }
            // The semaphore is never closed, so acquiring only waits.
            let _permit = self.gate.acquire().await.ok();
            let answer = call();
            drop(turn);
            answer.await
        };
        let outcome = tokio::time::timeout(limit, run).await.map_err(|_| TimedOut);
        self.metrics.hook(hook, started.elapsed(), outcome.is_err());
        outcome
    }

    /// Authenticates connection `sid` with `token`. A result that arrives after the timeout
    /// is the app side's to discard (each attempt is numbered there); what a refused
    /// connection leaves behind is forgotten when it ends ([`Policy::forget`]).
    pub async fn authenticate(&self, sid: &str, token: Option<String>) -> Result<(), AuthError> {
        let call = || self.hooks.authenticate(sid.to_owned(), token);
        match self.bounded(Hook::Authenticate, self.auth_timeout, None, call).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(message)) => Err(AuthError::Refused(message)),
            Err(TimedOut) => Err(AuthError::TimedOut),
        }
    }

    /// Tells the app to drop whatever it keeps for connection `sid` (fire and forget).
    pub fn forget(&self, sid: &str) {
        self.hooks.forget(sid.to_owned());
    }

    /// Runs the access check of `category` for `sid` joining `category:id`, in `turn` (none
    /// for the checks of a restored session, made one by one before it handles any event).
    pub async fn check_access(
        &self,
        sid: &str,
        category: &str,
        id: &str,
        turn: Option<Turn>,
    ) -> Result<(), JoinError> {
        let call = || self.hooks.check_access(sid.to_owned(), category.to_owned(), id.to_owned());
        let limit = self.access_check_timeout;
        match self.bounded(Hook::AccessCheck, limit, turn, call).await {
            Ok(AccessVerdict::Allowed) => Ok(()),
            Ok(AccessVerdict::Denied) => Err(JoinError::Denied),
            Ok(AccessVerdict::Failed) => Err(JoinError::CheckFailed),
            Err(TimedOut) => Err(JoinError::CheckTimedOut),
        }
    }

    /// Runs `onPublish` of `category` for `sid`'s `data`, in `turn`: the JSON to broadcast.
    pub async fn on_publish(
        &self,
        sid: &str,
        (category, id): (&str, &str),
        data: String,
        turn: Turn,
    ) -> Result<String, PublishError> {
        let call =
            || self.hooks.on_publish(sid.to_owned(), category.to_owned(), id.to_owned(), data);
        let limit = self.access_check_timeout;
        match self.bounded(Hook::OnPublish, limit, Some(turn), call).await {
            Ok(Ok(json)) => Ok(json),
            Ok(Err(message)) => Err(PublishError::Rejected(message)),
            Err(TimedOut) => Err(PublishError::TimedOut),
        }
    }

    /// Runs the app's `onEvent` handler of `event`, in `turn`: the ack arguments, if any. A
    /// handler that does not settle in time gets no ack, and the app hears of it (`onError`).
    pub async fn on_event(
        &self,
        sid: &str,
        event: &str,
        (args, wants_ack): (Payload, bool),
        turn: Turn,
    ) -> Option<Payload> {
        let call = || self.hooks.on_event(sid.to_owned(), event.to_owned(), args, wants_ack);
        match self.bounded(Hook::OnEvent, self.event_timeout, Some(turn), call).await {
            Ok(reply) => reply,
            Err(TimedOut) => {
                tracing::debug!(%sid, %event, "event handler timed out");
                let notice = SocketNotice::EventTimedOut(event.to_owned());
                self.hooks.socket_notice(sid.to_owned(), notice);
                None
            }
        }
    }

    /// This instance's members of `channel` for another instance's presence query.
    pub async fn local_members(&self, channel: String) -> Option<String> {
        let call = || self.hooks.local_members(channel);
        self.bounded(Hook::Presence, self.presence_timeout, None, call).await.ok().flatten()
    }

    /// Tells the app about a connection's life event (fire and forget, in order).
    pub fn notice(&self, sid: &str, notice: SocketNotice) {
        self.hooks.socket_notice(sid.to_owned(), notice);
    }

    /// What makes the app forget connection `sid` once dropped.
    pub fn forget_on_drop(&self, sid: &str) -> Forget {
        Forget::new(self.hooks.clone(), sid.to_owned())
    }

    /// The channel a reply may name: the client's own text only when it is a string within
    /// the channel-name limit, so that no reply can echo unbounded client text.
    pub fn echo(&self, requested: Option<&str>) -> Value {
        match requested {
            Some(name) if name.len() <= self.max_echo_len => Value::String(name.to_owned()),
            _ => Value::Null,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{call_order::CallOrder, hooks::HookFuture};
    use std::sync::{
        atomic::{AtomicUsize, Ordering},
        Mutex,
    };

    /// Hooks whose `on_event` never settles; counts calls that reached it, and records
    /// their events in the order they reached it.
    #[derive(Default)]
    struct HangingHooks {
        started: AtomicUsize,
        events: Mutex<Vec<String>>,
        notices: Mutex<Vec<SocketNotice>>,
    }

    impl AppHooks for HangingHooks {
        fn authenticate(&self, _: String, _: Option<String>) -> HookFuture<Result<(), String>> {
            Box::pin(std::future::pending())
        }
        fn check_access(&self, _: String, _: String, _: String) -> HookFuture<AccessVerdict> {
            Box::pin(async { AccessVerdict::Allowed })
        }
        fn forget(&self, _: String) {}
        fn socket_notice(&self, _: String, notice: SocketNotice) {
            self.notices.lock().unwrap().push(notice);
        }
        fn on_event(
            &self,
            _: String,
            event: String,
            _: Payload,
            _: bool,
        ) -> HookFuture<Option<Payload>> {
            self.started.fetch_add(1, Ordering::SeqCst);
            self.events.lock().unwrap().push(event);
            Box::pin(std::future::pending())
        }
        fn on_publish(
            &self,
            _: String,
            _: String,
            _: String,
            _: String,
        ) -> HookFuture<Result<String, String>> {
            Box::pin(async { Ok("null".into()) })
        }
        fn local_members(&self, _: String) -> HookFuture<Option<String>> {
            Box::pin(async { None })
        }
    }

    fn policy(hooks: Arc<HangingHooks>, pending: usize) -> Arc<Policy> {
        let config = Config {
            event_timeout: Duration::from_millis(200),
            auth_timeout: Duration::from_millis(50),
            max_pending_hook_calls: pending,
            ..Config::default()
        };
        Arc::new(Policy::new(&config, hooks, Arc::new(Metrics::new([]))))
    }

    #[tokio::test]
    async fn a_hung_event_handler_times_out_and_is_reported() {
        let hooks = Arc::new(HangingHooks::default());
        let policy = policy(hooks.clone(), 8);
        let turn = CallOrder::default().take();
        assert_eq!(policy.on_event("s", "hang", (Payload::default(), true), turn).await, None);
        assert_eq!(
            *hooks.notices.lock().unwrap(),
            vec![SocketNotice::EventTimedOut("hang".into())]
        );
        assert_eq!(policy.authenticate("s", None).await, Err(AuthError::TimedOut));
    }

    #[tokio::test]
    async fn calls_beyond_the_cap_wait_instead_of_reaching_the_app() {
        let hooks = Arc::new(HangingHooks::default());
        let policy = policy(hooks.clone(), 2);
        let calls: Vec<_> = (0..10)
            .map(|i| {
                let (policy, turn) = (policy.clone(), CallOrder::default().take());
                let event = format!("socket {i}");
                tokio::spawn(async move {
                    policy.on_event("s", &event, (Payload::default(), false), turn).await
                })
            })
            .collect();
        // Well within the 200 ms timeout: two calls hold the two slots, the rest wait.
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(hooks.started.load(Ordering::SeqCst), 2);
        for call in calls {
            assert_eq!(call.await.unwrap(), None);
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn one_sockets_calls_reach_the_app_in_arrival_order_though_none_settles() {
        let hooks = Arc::new(HangingHooks::default());
        let policy = policy(hooks.clone(), 1024);
        let order = CallOrder::default();
        let calls: Vec<_> = (0..100u64)
            .map(|i| {
                let (policy, turn) = (policy.clone(), order.take());
                tokio::spawn(async move {
                    // Later events set off first more often than not.
                    tokio::time::sleep(Duration::from_micros(100 - i)).await;
                    policy.on_event("s", &i.to_string(), (Payload::default(), false), turn).await
                })
            })
            .collect();
        for call in calls {
            assert_eq!(call.await.unwrap(), None, "every call times out");
        }
        let expected: Vec<String> = (0..100).map(|i| i.to_string()).collect();
        assert_eq!(*hooks.events.lock().unwrap(), expected);
    }

    #[test]
    fn replies_echo_only_short_strings() {
        let policy = policy(Arc::new(HangingHooks::default()), 1);
        assert_eq!(policy.echo(Some("chat:1")), Value::String("chat:1".into()));
        assert_eq!(policy.echo(Some(&"x".repeat(257))), Value::Null);
        assert_eq!(policy.echo(None), Value::Null);
    }
}
