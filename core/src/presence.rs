//! Presence across instances: who is in a channel, on every instance of the cluster.
//!
//! Instances announce themselves through the adapter (`hello` when they start, `alive` every
//! heartbeat, `leaving` when they close), so each one knows its live peers. A members query
//! goes to every peer; each answers with its own members (the app's lookup, which adds the
//! `user`), and the query resolves when every live peer has answered or its timeout passes.
//! A peer that did not answer in time is dropped from the registry until it is heard again,
//! so one crashed instance costs at most one slow query.
//!
//! Only `hello` and `alive` make an instance a peer, and only a peer's reply to a query it
//! was asked counts; query ids are random, so a reply cannot be aimed at a query it did not
//! see. Concurrent queries for the same channel share one round trip.

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex},
    time::Instant,
};

use futures_util::{
    future::{BoxFuture, Shared},
    FutureExt,
};

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use crate::{adapter::MessageKind, cluster::ClusterLink, config::PresenceTiming, policy::Policy};

/// What a presence message says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
enum Kind {
    /// Just started: everyone answers with `alive` so the newcomer knows them at once.
    Hello,
    Alive,
    Leaving,
    Query,
    Reply,
}

/// A presence message, as JSON in [`crate::adapter::ClusterMessage::data`].
#[derive(Debug, Serialize, Deserialize)]
struct Envelope {
    #[serde(rename = "type")]
    kind: Kind,
    /// The query a `query` or `reply` belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    id: Option<u64>,
    /// The channel a `query` asks about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    channel: Option<String>,
    /// The instance a `reply` is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    to: Option<String>,
    /// A `reply`'s members: a JSON array of `{ socketId, user }`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    members: Option<Box<RawValue>>,
}

impl Envelope {
    fn signal(kind: Kind) -> Self {
        Self { kind, id: None, channel: None, to: None, members: None }
    }
}

/// A query waiting for its replies.
struct PendingQuery {
    waiting: HashSet<Arc<str>>,
    replies: Vec<String>,
    done: Option<oneshot::Sender<()>>,
}

impl PendingQuery {
    /// Stops waiting for `peer`; wakes the query once nobody is left.
    fn settle(&mut self, peer: &Arc<str>) {
        if self.waiting.remove(peer) && self.waiting.is_empty() {
            if let Some(done) = self.done.take() {
                let _ = done.send(());
            }
        }
    }
}

/// This instance's side of the presence protocol.
pub struct Presence {
    link: Arc<ClusterLink>,
    policy: Arc<Policy>,
    timing: PresenceTiming,
    peers: Mutex<HashMap<Arc<str>, Instant>>,
    queries: Mutex<HashMap<u64, PendingQuery>>,
    /// The query in flight per channel, shared by everyone asking meanwhile.
    asking: Mutex<HashMap<String, Shared<BoxFuture<'static, Vec<String>>>>>,
}

impl Presence {
    /// Presence for the instance behind `link`, looking up local members through `policy`.
    pub fn new(link: Arc<ClusterLink>, policy: Arc<Policy>, timing: PresenceTiming) -> Self {
        Self {
            link,
            policy,
            timing,
            peers: Mutex::new(HashMap::new()),
            queries: Mutex::new(HashMap::new()),
            asking: Mutex::new(HashMap::new()),
        }
    }

    fn send(&self, envelope: &Envelope) {
        let Ok(text) = serde_json::to_string(envelope) else { return };
        let Ok(data) = RawValue::from_string(text) else { return };
        self.link.publish(MessageKind::Presence, String::new(), data.into());
    }

    /// Announces this instance, then says it is alive every heartbeat until `shutdown`.
    /// Each heartbeat also forgets instances silent for longer than the heartbeat timeout,
    /// so the registry stays as small as the live cluster even when nobody queries.
    pub async fn announce(self: Arc<Self>, shutdown: CancellationToken) {
        self.send(&Envelope::signal(Kind::Hello));
        let mut ticks = tokio::time::interval(self.timing.heartbeat_interval);
        ticks.tick().await;
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = ticks.tick() => {
                    self.send(&Envelope::signal(Kind::Alive));
                    self.live_peers();
                }
            }
        }
    }

    /// Tells the other instances this one is closing (they stop waiting for it).
    pub fn leave(&self) {
        self.send(&Envelope::signal(Kind::Leaving));
    }

    /// The instances heard from within the heartbeat timeout (older entries are dropped).
    pub fn live_peers(&self) -> HashSet<Arc<str>> {
        let mut peers = self.lock_peers();
        let timeout = self.timing.heartbeat_timeout;
        peers.retain(|_, seen| seen.elapsed() < timeout);
        peers.keys().cloned().collect()
    }

    /// The members of `channel` on every other live instance: one JSON array text of
    /// `{ socketId, user }` per instance that answered within the query timeout. Callers
    /// asking about the same channel while a query is in flight share it.
    pub async fn remote_members(self: &Arc<Self>, channel: &str) -> Vec<String> {
        let query = {
            let mut asking = self.asking.lock().unwrap_or_else(|e| e.into_inner());
            asking
                .entry(channel.to_owned())
                .or_insert_with(|| {
                    let (presence, channel) = (self.clone(), channel.to_owned());
                    async move { presence.query(&channel).await }.boxed().shared()
                })
                .clone()
        };
        let members = query.clone().await;
        let mut asking = self.asking.lock().unwrap_or_else(|e| e.into_inner());
        if asking.get(channel).is_some_and(|current| current.ptr_eq(&query)) {
            asking.remove(channel);
        }
        members
    }

    async fn query(&self, channel: &str) -> Vec<String> {
        let waiting = self.live_peers();
        if waiting.is_empty() {
            return Vec::new();
        }
        let id: u64 = rand::random();
        let (done, answered) = oneshot::channel();
        let query = PendingQuery { waiting, replies: Vec::new(), done: Some(done) };
        self.lock_queries().insert(id, query);
        self.send(&Envelope {
            kind: Kind::Query,
            id: Some(id),
            channel: Some(channel.to_owned()),
            to: None,
            members: None,
        });
        let _ = tokio::time::timeout(self.timing.query_timeout, answered).await;
        let Some(query) = self.lock_queries().remove(&id) else { return Vec::new() };
        if !query.waiting.is_empty() {
            tracing::warn!(
                missing = query.waiting.len(),
                "presence: some instances did not answer a members query in time; their members are left out"
            );
            let mut peers = self.lock_peers();
            for peer in &query.waiting {
                peers.remove(peer);
            }
        }
        query.replies
    }

    fn lock_queries(&self) -> std::sync::MutexGuard<'_, HashMap<u64, PendingQuery>> {
        self.queries.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn lock_peers(&self) -> std::sync::MutexGuard<'_, HashMap<Arc<str>, Instant>> {
        self.peers.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Handles a presence message from another instance.
    pub fn receive(self: &Arc<Self>, message: &crate::adapter::ClusterMessage) {
        let Ok(envelope) = serde_json::from_str::<Envelope>(message.data.get()) else {
            tracing::debug!("presence: ignoring a malformed message");
            return;
        };
        let from = &message.origin;
        match envelope.kind {
            Kind::Leaving => {
                self.lock_peers().remove(from);
                self.forget_waits_for(from);
            }
            Kind::Hello => {
                self.lock_peers().insert(from.clone(), Instant::now());
                self.send(&Envelope::signal(Kind::Alive));
            }
            Kind::Alive => {
                self.lock_peers().insert(from.clone(), Instant::now());
            }
            Kind::Query => {
                if let (Some(id), Some(channel)) = (envelope.id, envelope.channel) {
                    self.answer(from.clone(), id, channel);
                }
            }
            Kind::Reply => {
                if envelope.to.as_deref() == Some(&**self.link.origin()) {
                    if let (Some(id), Some(members)) = (envelope.id, envelope.members) {
                        self.record_reply(id, from, &members);
                    }
                }
            }
        }
    }

    /// Looks up this instance's members of `channel` (bounded by the query timeout) and
    /// replies to `to`'s query `id`.
    fn answer(self: &Arc<Self>, to: Arc<str>, id: u64, channel: String) {
        let presence = self.clone();
        tokio::spawn(async move {
            let members =
                presence.policy.local_members(channel).await.unwrap_or_else(|| "[]".to_owned());
            let Ok(members) = RawValue::from_string(members) else { return };
            presence.send(&Envelope {
                kind: Kind::Reply,
                id: Some(id),
                channel: None,
                to: Some(to.to_string()),
                members: Some(members),
            });
        });
    }

    fn record_reply(&self, id: u64, from: &Arc<str>, members: &RawValue) {
        let mut queries = self.lock_queries();
        let Some(query) = queries.get_mut(&id) else { return };
        if members.get().starts_with('[') && query.waiting.contains(from) {
            query.replies.push(members.get().to_owned());
        }
        query.settle(from);
    }

    fn forget_waits_for(&self, peer: &Arc<str>) {
        for query in self.lock_queries().values_mut() {
            query.settle(peer);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reply_keeps_its_members_json_as_text() {
        let text =
            r#"{"type":"reply","id":7,"to":"b","members":[{"socketId":"s","user":{"n":"é"}}]}"#;
        let envelope: Envelope = serde_json::from_str(text).unwrap();
        assert_eq!(envelope.kind, Kind::Reply);
        assert_eq!(envelope.id, Some(7));
        assert_eq!(envelope.members.unwrap().get(), r#"[{"socketId":"s","user":{"n":"é"}}]"#);
    }

    #[test]
    fn signals_encode_without_empty_fields_and_unknown_types_are_refused() {
        let text = serde_json::to_string(&Envelope::signal(Kind::Hello)).unwrap();
        assert_eq!(text, r#"{"type":"hello"}"#);
        assert!(serde_json::from_str::<Envelope>(r#"{"type":"gossip"}"#).is_err());
    }
}
