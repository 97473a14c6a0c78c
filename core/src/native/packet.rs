//! Engine.IO v4 and Socket.IO v5 packets over a websocket: parsing what clients send and
//! encoding what the server sends, for the main namespace `/`.
//!
//! An Engine.IO text message starts with its type digit (`4` = message); a Socket.IO packet
//! inside it is `<type>[<attachments>-][/<nsp>,][<ack id>][<json>]`. Binary attachments
//! follow as separate binary messages.

use bytes::Bytes;
use serde_json::value::RawValue;

use crate::{native::frame, payload::Payload};

/// Why a client's packet is malformed. socket.io closes the connection on any of these.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PacketError {
    /// An empty message, or a type digit Engine.IO or Socket.IO does not define.
    #[error("unknown packet type")]
    UnknownType,
    /// The attachment count or ack id is not a number.
    #[error("malformed packet header")]
    BadHeader,
    /// The payload is not the JSON the packet type requires.
    #[error("malformed packet payload")]
    BadPayload,
}

/// An Engine.IO packet from the client.
#[derive(Debug, PartialEq, Eq)]
pub enum EnginePacket<'a> {
    /// `1`: the client closes the session.
    Close,
    /// `2` with optional data: answered with `3` and the same data.
    Ping(&'a str),
    /// `3`: the answer to the server's heartbeat.
    Pong,
    /// `4`: a Socket.IO packet.
    Message(&'a str),
    /// `5` (upgrade) or `6` (noop): meaningless on a websocket-only session, ignored.
    Ignored,
}

/// Parses the Engine.IO layer of a text message.
pub fn parse_engine(text: &str) -> Result<EnginePacket<'_>, PacketError> {
    let mut chars = text.chars();
    let kind = chars.next().ok_or(PacketError::UnknownType)?;
    let rest = chars.as_str();
    match kind {
        '1' => Ok(EnginePacket::Close),
        '2' => Ok(EnginePacket::Ping(rest)),
        '3' => Ok(EnginePacket::Pong),
        '4' => Ok(EnginePacket::Message(rest)),
        '5' | '6' => Ok(EnginePacket::Ignored),
        _ => Err(PacketError::UnknownType),
    }
}

/// The type of a Socket.IO packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SioKind {
    /// `0`: connect to a namespace, with an optional auth object.
    Connect,
    /// `1`: leave the namespace.
    Disconnect,
    /// `2`: an event (`[name, ...args]`).
    Event,
    /// `3`: the answer to a server event that asked for one.
    Ack,
    /// `5`: an event with binary attachments.
    BinaryEvent,
    /// `6`: an ack with binary attachments.
    BinaryAck,
}

/// A Socket.IO packet from the client, borrowing from the message text.
#[derive(Debug, PartialEq, Eq)]
pub struct SioPacket<'a> {
    /// The packet type.
    pub kind: SioKind,
    /// How many binary messages follow (binary packets only).
    pub attachments: usize,
    /// The namespace; `/` when the client left it out.
    pub namespace: &'a str,
    /// The ack id, when the packet asks for (or answers) an acknowledgement.
    pub ack: Option<u64>,
    /// The JSON payload, possibly empty.
    pub data: &'a str,
}

fn leading_number(text: &str) -> (Option<u64>, &str) {
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return (None, text);
    }
    (text[..digits].parse().ok(), &text[digits..])
}

/// Parses a Socket.IO packet (the text after the Engine.IO `4`).
pub fn parse_sio(text: &str) -> Result<SioPacket<'_>, PacketError> {
    let kind = match text.as_bytes().first() {
        Some(b'0') => SioKind::Connect,
        Some(b'1') => SioKind::Disconnect,
        Some(b'2') => SioKind::Event,
        Some(b'3') => SioKind::Ack,
        Some(b'5') => SioKind::BinaryEvent,
        Some(b'6') => SioKind::BinaryAck,
        _ => return Err(PacketError::UnknownType),
    };
    let mut rest = &text[1..];
    let mut attachments = 0;
    if matches!(kind, SioKind::BinaryEvent | SioKind::BinaryAck) {
        let (count, after) = leading_number(rest);
        let after = after.strip_prefix('-').ok_or(PacketError::BadHeader)?;
        attachments = usize::try_from(count.ok_or(PacketError::BadHeader)?)
            .map_err(|_| PacketError::BadHeader)?;
        rest = after;
    }
    let mut namespace = "/";
    if rest.starts_with('/') {
        let end = rest.find(',').unwrap_or(rest.len());
        namespace = &rest[..end];
        rest = rest.get(end + 1..).unwrap_or("");
    }
    let (ack, data) = leading_number(rest);
    if rest.as_bytes().first().is_some_and(u8::is_ascii_digit) && ack.is_none() {
        return Err(PacketError::BadHeader);
    }
    Ok(SioPacket { kind, attachments, namespace, ack, data })
}

/// An event's name and its arguments (a JSON array text, binary parts as placeholders).
pub fn parse_event(data: &str) -> Result<(String, String), PacketError> {
    let parts: Vec<&RawValue> = serde_json::from_str(data).map_err(|_| PacketError::BadPayload)?;
    let (name, args) = parts.split_first().ok_or(PacketError::BadPayload)?;
    let name: String = serde_json::from_str(name.get()).map_err(|_| PacketError::BadPayload)?;
    Ok((name, join_array(args.iter().map(|a| a.get()))))
}

/// Checks that an ack's payload is a JSON array, as socket.io requires.
pub fn parse_ack_args(data: &str) -> Result<String, PacketError> {
    let parts: Vec<&RawValue> = serde_json::from_str(data).map_err(|_| PacketError::BadPayload)?;
    Ok(join_array(parts.iter().map(|a| a.get())))
}

fn join_array<'a>(items: impl Iterator<Item = &'a str>) -> String {
    let mut out = String::from("[");
    for (i, item) in items.enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(item);
    }
    out.push(']');
    out
}

fn json_string(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_else(|_| "\"\"".to_owned())
}

/// The Engine.IO open packet (`0{...}`) of a websocket-only session.
pub fn open(sid: &str, ping_interval_ms: u128, ping_timeout_ms: u128, max_payload: u64) -> Bytes {
    let json = format!(
        r#"0{{"sid":{},"upgrades":[],"pingInterval":{ping_interval_ms},"pingTimeout":{ping_timeout_ms},"maxPayload":{max_payload}}}"#,
        json_string(sid)
    );
    frame::encode(frame::TEXT, &[json.as_bytes()])
}

/// The server's heartbeat ping (`2`).
pub fn ping() -> Bytes {
    frame::encode(frame::TEXT, &[b"2"])
}

/// The answer to a client ping (`3` with the same data).
pub fn pong(data: &str) -> Bytes {
    frame::encode(frame::TEXT, &[b"3", data.as_bytes()])
}

/// The namespace accepted the socket (`40{"sid":...}`, with `"pid"` when it can recover).
pub fn connected(socket_id: &str, pid: Option<&str>) -> Bytes {
    let json = match pid {
        None => format!(r#"{{"sid":{}}}"#, json_string(socket_id)),
        Some(pid) => format!(r#"{{"sid":{},"pid":{}}}"#, json_string(socket_id), json_string(pid)),
    };
    frame::encode(frame::TEXT, &[b"40", json.as_bytes()])
}

/// The namespace refused the socket (`44[/nsp,]{"message":...}`).
pub fn connect_error(namespace: &str, message: &str) -> Bytes {
    let json = format!(r#"{{"message":{}}}"#, json_string(message));
    let prefix = if namespace == "/" { String::new() } else { format!("{namespace},") };
    frame::encode(frame::TEXT, &[b"44", prefix.as_bytes(), json.as_bytes()])
}

/// The server disconnects the socket from the namespace (`41`).
pub fn disconnect() -> Bytes {
    frame::encode(frame::TEXT, &[b"41"])
}

/// Event `name` with one JSON argument `data`: the frame a broadcast sends to every member,
/// with its recovery offset as a last argument when it has one.
pub fn broadcast(name: &str, data: &str, offset: Option<u64>) -> Bytes {
    let name = json_string(name);
    match offset {
        None => frame::encode(frame::TEXT, &[b"42[", name.as_bytes(), b",", data.as_bytes(), b"]"]),
        Some(offset) => {
            let offset = format!(",\"{offset}\"]");
            frame::encode(
                frame::TEXT,
                &[b"42[", name.as_bytes(), b",", data.as_bytes(), offset.as_bytes()],
            )
        }
    }
}

/// `args` (a JSON array text) with the recovery offset `offset` appended as a string.
pub fn with_offset(args: &Payload, offset: u64) -> Payload {
    let body = args.json.trim().strip_suffix(']').unwrap_or("[");
    let separator = if body.trim_end().ends_with('[') { "" } else { "," };
    Payload { json: format!("{body}{separator}\"{offset}\"]"), binary: args.binary.clone() }
}

/// Event `name` with `args`, optionally asking for ack `ack`: one text frame, then one
/// binary frame per attachment.
pub fn event(name: &str, args: &Payload, ack: Option<u64>) -> Vec<Bytes> {
    let name = json_string(name);
    let rest = args.json.trim().strip_prefix('[').unwrap_or("]");
    let separator: &[u8] = if rest.trim_start().starts_with(']') { b"" } else { b"," };
    let header = header(b'2', b'5', args.binary.len(), ack);
    let text = frame::encode(
        frame::TEXT,
        &[header.as_bytes(), b"[", name.as_bytes(), separator, rest.as_bytes()],
    );
    with_attachments(text, &args.binary)
}

/// The acknowledgement `ack` carrying `args` (a JSON array text with placeholders).
pub fn ack(ack: u64, args: &Payload) -> Vec<Bytes> {
    let header = header(b'3', b'6', args.binary.len(), Some(ack));
    let text = frame::encode(frame::TEXT, &[header.as_bytes(), args.json.as_bytes()]);
    with_attachments(text, &args.binary)
}

fn header(plain: u8, binary: u8, attachments: usize, ack: Option<u64>) -> String {
    let mut header = String::from("4");
    if attachments == 0 {
        header.push(char::from(plain));
    } else {
        header.push(char::from(binary));
        header.push_str(&format!("{attachments}-"));
    }
    if let Some(id) = ack {
        header.push_str(&id.to_string());
    }
    header
}

fn with_attachments(text: Bytes, binary: &[Bytes]) -> Vec<Bytes> {
    let mut frames = Vec::with_capacity(1 + binary.len());
    frames.push(text);
    frames.extend(binary.iter().map(|b| frame::encode(frame::BINARY, &[b])));
    frames
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(json: &str) -> Payload {
        Payload { json: json.into(), binary: vec![] }
    }

    fn text(frame: &Bytes) -> &str {
        std::str::from_utf8(&frame[2..]).unwrap()
    }

    #[test]
    fn parses_socket_io_headers() {
        let p = parse_sio(r#"2["joinChannel","chat:1"]"#).unwrap();
        assert_eq!(
            (p.kind, p.namespace, p.ack, p.data),
            (SioKind::Event, "/", None, r#"["joinChannel","chat:1"]"#)
        );
        let p = parse_sio(r#"212["e"]"#).unwrap();
        assert_eq!(p.ack, Some(12));
        let p = parse_sio(r#"51-/admin,7["e",{"_placeholder":true,"num":0}]"#).unwrap();
        assert_eq!(
            (p.kind, p.attachments, p.namespace, p.ack),
            (SioKind::BinaryEvent, 1, "/admin", Some(7))
        );
        let p = parse_sio("0/admin,").unwrap();
        assert_eq!((p.kind, p.namespace, p.data), (SioKind::Connect, "/admin", ""));
        assert_eq!(parse_sio("9x"), Err(PacketError::UnknownType));
        assert_eq!(parse_sio(""), Err(PacketError::UnknownType));
        assert_eq!(parse_sio("5x-[]"), Err(PacketError::BadHeader));
        assert_eq!(parse_sio("299999999999999999999999[]"), Err(PacketError::BadHeader));
    }

    #[test]
    fn parses_engine_packets() {
        assert_eq!(parse_engine("3"), Ok(EnginePacket::Pong));
        assert_eq!(parse_engine("2probe"), Ok(EnginePacket::Ping("probe")));
        assert_eq!(parse_engine("40"), Ok(EnginePacket::Message("0")));
        assert_eq!(parse_engine(""), Err(PacketError::UnknownType));
        assert_eq!(parse_engine("xyz"), Err(PacketError::UnknownType));
    }

    #[test]
    fn splits_events_into_name_and_arguments() {
        assert_eq!(
            parse_event(r#"["a",1,{"b":[2]}]"#),
            Ok(("a".into(), r#"[1,{"b":[2]}]"#.into()))
        );
        assert_eq!(parse_event(r#"["a"]"#), Ok(("a".into(), "[]".into())));
        assert_eq!(parse_event(r#"{"a":1}"#), Err(PacketError::BadPayload));
        assert_eq!(parse_event("[]"), Err(PacketError::BadPayload));
        assert_eq!(parse_event("[1]"), Err(PacketError::BadPayload));
        assert_eq!(parse_event(r#"["joinChannel""#), Err(PacketError::BadPayload));
    }

    #[test]
    fn encodes_what_socket_io_client_expects() {
        assert_eq!(text(&broadcast("chat", r#"{"t":"hi"}"#, None)), r#"42["chat",{"t":"hi"}]"#);
        assert_eq!(text(&broadcast("chat", "1", Some(7))), r#"42["chat",1,"7"]"#);
        assert_eq!(with_offset(&payload("[]"), 3).json, r#"["3"]"#);
        assert_eq!(with_offset(&payload(r#"["a", 1]"#), 3).json, r#"["a", 1,"3"]"#);
        assert_eq!(text(&connected("s", Some("p"))), r#"40{"sid":"s","pid":"p"}"#);
        assert_eq!(text(&event("e", &payload("[]"), None)[0]), r#"42["e"]"#);
        assert_eq!(text(&event("e", &payload("[1,2]"), Some(3))[0]), r#"423["e",1,2]"#);
        let binary = Payload {
            json: r#"[{"_placeholder":true,"num":0}]"#.into(),
            binary: vec![Bytes::from_static(b"xy")],
        };
        let frames = event("e", &binary, None);
        assert_eq!(text(&frames[0]), r#"451-["e",{"_placeholder":true,"num":0}]"#);
        assert_eq!(&frames[1][..], &[0x82, 2, b'x', b'y']);
        assert_eq!(text(&ack(4, &payload("[true]"))[0]), "434[true]");
        assert_eq!(text(&connect_error("/", "no \"way\"")), r#"44{"message":"no \"way\""}"#);
        assert_eq!(
            text(&connect_error("/admin", "Invalid namespace")),
            r#"44/admin,{"message":"Invalid namespace"}"#
        );
        assert!(text(&open("abc", 25000, 20000, 1000))
            .starts_with(r#"0{"sid":"abc","upgrades":[],"pingInterval":25000"#));
    }
}
