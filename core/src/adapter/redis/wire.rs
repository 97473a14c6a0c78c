//! The Redis backend's wire: the message text on the pub/sub channel, the keys it uses,
//! and the script that sequences broadcasts.

use std::{sync::Arc, time::Duration};

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::adapter::{from_unix_millis, unix_millis, ClusterMessage, MessageKind, Order, Sequence};

/// Numbers a broadcast and publishes it with its number, atomically: Redis runs scripts one
/// at a time, so the numbers are published in order. A fresh counter (first use, or Redis
/// lost its data) starts at the publisher's clock in microseconds, above any number given
/// before as long as fewer than a million were given per second. `%.0f` prints the number
/// exactly (Lua numbers are doubles; exact below 2^53). Returns the number, which the
/// publisher keeps until its subscription brings the broadcast back. Sent with `EVAL` (Redis
/// caches the compiled script): nothing to reload after Redis restarts.
pub const SEQUENCE_SCRIPT: &str = r"
local n = redis.call('INCR', KEYS[1])
if n == 1 then
  n = tonumber(ARGV[3])
  redis.call('SET', KEYS[1], ARGV[3])
end
redis.call('PUBLISH', ARGV[4], ARGV[1] .. string.format('%.0f', n) .. ARGV[2])
return n
";

/// The message on the wire: JSON with the payload embedded as is; `t` is when it was
/// published (Unix milliseconds; absent from older instances' messages); `n`, first, is a
/// sequenced broadcast's number (written by [`SEQUENCE_SCRIPT`]).
#[derive(Serialize)]
struct WireOut<'a> {
    o: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    k: Option<&'a str>,
    c: &'a str,
    d: &'a RawValue,
    t: u64,
}

#[derive(Deserialize)]
struct WireIn {
    o: String,
    #[serde(default)]
    k: Option<String>,
    c: String,
    d: Box<RawValue>,
    #[serde(default)]
    t: Option<u64>,
    #[serde(default)]
    n: Option<u64>,
}

/// What the publishing task sends, in order.
pub enum Outgoing {
    /// A message for the channel.
    Message(ClusterMessage),
    /// A recoverable session to keep under `pid` for `ttl`.
    Session { pid: String, session: String, ttl: Duration },
}

impl Outgoing {
    /// The message, if it is one.
    pub fn message(&self) -> Option<&ClusterMessage> {
        match self {
            Outgoing::Message(message) => Some(message),
            Outgoing::Session { .. } => None,
        }
    }

    /// The message, if it is one, to change.
    pub fn message_mut(&mut self) -> Option<&mut ClusterMessage> {
        match self {
            Outgoing::Message(message) => Some(message),
            Outgoing::Session { .. } => None,
        }
    }
}

/// An [`Outgoing`] encoded as one Redis command.
pub enum Command {
    /// `PUBLISH` this text.
    Publish(String),
    /// A sequenced broadcast: its message text before and after the number.
    Sequenced(String, String),
    /// `SET key session PX ttl_ms`.
    Session { key: String, session: String, ttl_ms: u64 },
}

/// The key of the sequence counter of `channel`.
pub fn sequence_key(channel: &str) -> String {
    format!("{channel}#seq")
}

/// The key a session saved under `pid` is kept at.
pub fn session_key(channel: &str, pid: &str) -> String {
    format!("{channel}#session#{pid}")
}

/// Encodes what is to be sent as a command for `channel`; `None` if a message's data is not
/// JSON.
pub fn command(outgoing: &Outgoing, channel: &str) -> Option<Command> {
    match outgoing {
        Outgoing::Message(message) => {
            let text = encode(message)?;
            if message.order == Order::Requested {
                let rest = text.strip_prefix('{')?;
                Some(Command::Sequenced("{\"n\":".to_owned(), format!(",{rest}")))
            } else {
                Some(Command::Publish(text))
            }
        }
        Outgoing::Session { pid, session, ttl } => {
            let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
            let (key, session) = (session_key(channel, pid), session.clone());
            Some(Command::Session { key, session, ttl_ms })
        }
    }
}

/// Encodes a message for the channel; `None` if its data is not JSON.
pub fn encode(message: &ClusterMessage) -> Option<String> {
    let wire = WireOut {
        o: &message.origin,
        k: message.kind.wire_name(),
        c: &message.channel,
        d: &message.data,
        t: unix_millis(std::time::SystemTime::now()),
    };
    serde_json::to_string(&wire).ok()
}

/// Decodes a message; a sequenced one is continuous when its number follows `last`.
pub fn decode(payload: &[u8], last: Option<u64>) -> Option<ClusterMessage> {
    let wire: WireIn = serde_json::from_slice(payload).ok()?;
    let order = match wire.n {
        Some(offset) => Order::Sequenced(Sequence {
            offset,
            continuous: last.is_some_and(|last| offset == last + 1),
        }),
        None => Order::Unsequenced,
    };
    Some(ClusterMessage {
        origin: wire.o.into(),
        kind: MessageKind::from_wire_name(wire.k.as_deref())?,
        channel: wire.c,
        data: Arc::from(wire.d),
        sent_at: wire.t.map(from_unix_millis),
        order,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_round_trip_keeps_the_json_text() {
        for kind in [None, Some("presence")] {
            let message =
                ClusterMessage::from_parts("a", kind, "chat:1".into(), r#"{"x":[1,"é"]}"#.into())
                    .unwrap();
            let encoded = encode(&message).unwrap();
            let decoded = decode(encoded.as_bytes(), None).unwrap();
            assert_eq!(decoded, message);
            let age = decoded.sent_at.unwrap().elapsed().unwrap_or_default();
            assert!(age < Duration::from_secs(5), "sent_at is when it was encoded");
        }
        let older = decode(br#"{"o":"a","c":"chat:1","d":1}"#, None).unwrap();
        assert_eq!(older.sent_at, None, "an older instance's message has no time");
        assert_eq!(decode(b"not json", None), None);
        assert_eq!(decode(br#"{"o":"a","k":"future","c":"","d":1}"#, None), None);
    }

    #[test]
    fn a_sequenced_broadcast_is_numbered_by_the_script_and_continuous_only_after_its_predecessor() {
        let mut message =
            ClusterMessage::from_parts("a", None, "chat:1".into(), "[1]".into()).unwrap();
        message.order = Order::Requested;
        let Some(Command::Sequenced(head, tail)) = command(&Outgoing::Message(message), "ch")
        else {
            panic!("a requested broadcast is sequenced");
        };
        // What the script publishes for number 42.
        let published = format!("{head}42{tail}");
        let after = |last| decode(published.as_bytes(), last).unwrap().order;
        let sequence = |continuous| Order::Sequenced(Sequence { offset: 42, continuous });
        assert_eq!(after(Some(41)), sequence(true));
        assert_eq!(after(Some(40)), sequence(false), "one was lost in between");
        assert_eq!(after(None), sequence(false), "the first since subscribing");
    }
}
