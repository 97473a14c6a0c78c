//! A long-polling session's first heartbeat, held back as socket.io holds it.
//!
//! engineioxide 0.17 sends a v4 session's first ping the moment the session opens (its
//! interval's first tick is immediate), where socket.io sends it after `pingInterval`. The
//! client's first poll then returns at once with `2`, which breaks socket.io's behaviour on
//! that poll (a `1` from the client answers it with `6`; a duplicate poll closes the
//! session). This module absorbs that one early ping: it answers it for the client (`3`)
//! and polls again, so the client's first poll waits as it would on socket.io. Only the
//! first poll of a session younger than `pingInterval` is touched; later heartbeats are
//! the client's to answer.

use std::{sync::Mutex, time::Duration};

use bytes::Bytes;
use http::{header, Method, Request, Uri};
use http_body_util::Full;

use crate::expiring::ExpiringMap;

/// What a request is, for the first-ping rule.
pub enum PollKind {
    /// A v4 long-polling handshake (no `sid`): its answer names a new session.
    Handshake,
    /// A v4 long-polling poll (GET with a `sid`) of a session opened recently.
    FirstPoll(Uri),
    /// Anything else.
    Other,
}

/// The sessions whose first poll has not come yet, each kept for `pingInterval` from its
/// opening.
pub struct FirstPings {
    opened: Mutex<ExpiringMap<String, ()>>,
}

fn query_has(uri: &Uri, pair: &str) -> bool {
    uri.query().is_some_and(|q| q.split('&').any(|p| p == pair))
}

fn sid_of(uri: &Uri) -> Option<&str> {
    uri.query()?.split('&').find_map(|p| p.strip_prefix("sid="))
}

impl FirstPings {
    /// Rules for sessions whose ping interval is `interval`.
    pub fn new(interval: Duration) -> Self {
        Self { opened: Mutex::new(ExpiringMap::new(interval)) }
    }

    /// What `req` is (for a poll, this takes the session's first-poll mark).
    pub fn classify<B>(&self, req: &Request<B>) -> PollKind {
        let uri = req.uri();
        if req.method() != Method::GET
            || !query_has(uri, "EIO=4")
            || !query_has(uri, "transport=polling")
        {
            return PollKind::Other;
        }
        let Some(sid) = sid_of(uri) else { return PollKind::Handshake };
        let opened = self.opened.lock().unwrap_or_else(|e| e.into_inner()).take(sid);
        match opened {
            Some(()) => PollKind::FirstPoll(uri.clone()),
            None => PollKind::Other,
        }
    }

    /// A handshake answered with `body` (`0{"sid":…}`): remembers the new session.
    pub fn opened(&self, body: &[u8]) {
        let Some(sid) = std::str::from_utf8(body)
            .ok()
            .and_then(|text| text.split("\"sid\":\"").nth(1))
            .and_then(|rest| rest.split('"').next())
        else {
            return;
        };
        self.opened.lock().unwrap_or_else(|e| e.into_inner()).insert(sid.to_owned(), ());
    }
}

/// Whether a poll's answer is just the heartbeat ping.
pub fn is_lone_ping(body: &[u8]) -> bool {
    body == b"2"
}

/// The client's pong to the absorbed ping, for the session polled at `uri`.
pub fn pong(uri: &Uri) -> Request<Full<Bytes>> {
    let mut req = Request::new(Full::new(Bytes::from_static(b"3")));
    *req.method_mut() = Method::POST;
    *req.uri_mut() = uri.clone();
    req.headers_mut().insert(header::CONTENT_TYPE, "text/plain;charset=UTF-8".parse().unwrap());
    req
}

/// The poll again, after the absorbed ping.
pub fn poll(uri: &Uri) -> Request<Full<Bytes>> {
    let mut req = Request::new(Full::new(Bytes::new()));
    *req.uri_mut() = uri.clone();
    req
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(uri: &str) -> Request<()> {
        Request::builder().uri(uri).body(()).unwrap()
    }

    #[test]
    fn only_the_first_poll_of_a_young_v4_session_is_held() {
        let pings = FirstPings::new(Duration::from_secs(25));
        assert!(matches!(pings.classify(&get("/s/?EIO=4&transport=polling")), PollKind::Handshake));
        pings.opened(br#"0{"sid":"abc","upgrades":["websocket"]}"#);
        let poll = get("/s/?EIO=4&transport=polling&sid=abc");
        assert!(matches!(pings.classify(&poll), PollKind::FirstPoll(_)));
        assert!(matches!(pings.classify(&poll), PollKind::Other), "only the first");
        pings.opened(br#"0{"sid":"v3"}"#);
        assert!(matches!(
            pings.classify(&get("/s/?EIO=3&transport=polling&sid=v3")),
            PollKind::Other
        ));
        assert!(is_lone_ping(b"2") && !is_lone_ping(b"2\x1e42[\"a\"]"));
    }

    #[test]
    fn sessions_past_the_interval_are_forgotten() {
        let pings = FirstPings::new(Duration::ZERO);
        pings.opened(br#"0{"sid":"old"}"#);
        assert!(matches!(
            pings.classify(&get("/s/?EIO=4&transport=polling&sid=old")),
            PollKind::Other
        ));
    }
}
