//! Property tests over everything the project parses itself: channel names, handshake
//! tokens, event payloads, and the native engine's websocket frames, Engine.IO/Socket.IO
//! packets and upgrade requests. Arbitrary input must never panic, and accepted input must
//! satisfy the documented shape. Valid input with one field changed is in
//! `native/mutation_props.rs`.
//!
//! `PROPTEST_CASES=1000000 cargo test --release proptests` runs a long fuzz.

use crate::{
    auth::token_from_auth,
    channel::{room_name, ChannelName},
    config::CorsPolicy,
    native::{
        frame::{self, Decoder, Incoming},
        handshake::native_upgrade,
        packet,
    },
    payload::{OutgoingArgs, Payload},
};
use proptest::prelude::*;
use serde_json::Value;

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| Value::Number(n.into())),
        ".{0,40}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::hash_map(".{0,12}", inner, 0..8)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #[test]
    fn frames_decode_arbitrary_bytes_without_panicking(bytes in prop::collection::vec(any::<u8>(), 0..600), limit in 0usize..300) {
        let mut out = Vec::new();
        let _ = Decoder::new(limit).feed(&mut bytes.clone(), &mut out);
        for message in &out {
            prop_assert!(text_len(message) <= limit.max(125));
        }
    }

    #[test]
    fn fragmented_messages_survive_any_split_into_reads(
        texts in prop::collection::vec("[^\\x00]{0,300}", 1..5),
        fragment in 1usize..120,
        chunk in 1usize..64,
        mask in any::<[u8; 4]>(),
    ) {
        let mut wire = Vec::new();
        for text in &texts {
            let pieces: Vec<&[u8]> = text.as_bytes().chunks(fragment).collect();
            if pieces.is_empty() {
                wire.extend(frame::client_frame(frame::TEXT, true, b"", mask));
            }
            for (i, piece) in pieces.iter().enumerate() {
                let opcode = if i == 0 { frame::TEXT } else { 0 };
                wire.extend(frame::client_frame(opcode, i + 1 == pieces.len(), piece, mask));
            }
        }
        let mut decoder = Decoder::new(1 << 16);
        let mut out = Vec::new();
        for piece in wire.chunks(chunk) {
            decoder.feed(&mut piece.to_vec(), &mut out).unwrap();
        }
        let expected: Vec<Incoming> = texts.iter().cloned().map(Incoming::Text).collect();
        prop_assert_eq!(out, expected);
    }

    #[test]
    fn packets_parse_arbitrary_text_without_panicking(text in ".{0,200}") {
        if let Ok(packet::EnginePacket::Message(sio)) = packet::parse_engine(&text) {
            if let Ok(parsed) = packet::parse_sio(sio) {
                let _ = packet::parse_event(parsed.data);
                let _ = packet::parse_ack_args(parsed.data);
                prop_assert!(parsed.data.len() <= sio.len());
            }
        }
    }

    #[test]
    fn events_round_trip_through_encode_and_parse(name in ".{1,30}", args in prop::collection::vec(json_value(), 0..5), ack in prop::option::of(0u64..1_000_000)) {
        let json = serde_json::to_string(&args).unwrap();
        let frames = packet::event(&name, &Payload { json: json.clone(), binary: vec![] }, ack);
        let text = std::str::from_utf8(&frames[0][header_len_of(&frames[0])..]).unwrap();
        let packet::EnginePacket::Message(sio) = packet::parse_engine(text).unwrap() else { panic!("not a message") };
        let parsed = packet::parse_sio(sio).unwrap();
        prop_assert_eq!(parsed.ack, ack);
        let (got_name, got_args) = packet::parse_event(parsed.data).unwrap();
        prop_assert_eq!(got_name, name);
        let got: Vec<Value> = serde_json::from_str(&got_args).unwrap();
        prop_assert_eq!(got, args);
    }

    #[test]
    fn upgrade_requests_are_recognized_without_panicking(head in prop::collection::vec(any::<u8>(), 0..400)) {
        if let Some(upgrade) = native_upgrade(&head, "/socket.io", &CorsPolicy::Any) {
            prop_assert!(upgrade.head_len <= head.len());
        }
    }

    #[test]
    fn channel_names_parse_without_panicking(name in ".{0,300}", max_len in 1usize..400) {
        if let Ok(channel) = ChannelName::parse(&name, max_len) {
            prop_assert!(!channel.category().is_empty());
            prop_assert!(!channel.category().contains(':'));
            prop_assert!(!channel.id().is_empty());
            prop_assert!(name.len() <= max_len);
            prop_assert_eq!(format!("{}:{}", channel.category(), channel.id()), name.clone());
            prop_assert!(!name.chars().any(char::is_control));
        }
    }

    #[test]
    fn room_names_round_trip(category in "[a-z]{1,20}", id in "[^\\p{Cc}]{1,100}") {
        let channel = room_name(&category, &id, 256).unwrap();
        prop_assert_eq!(channel.category(), category.as_str());
        prop_assert_eq!(channel.id(), id.as_str());
    }

    #[test]
    fn tokens_are_read_without_panicking(auth in json_value(), max_len in 0usize..64) {
        if let Ok(Some(token)) = token_from_auth(&auth, max_len) {
            prop_assert!(token.len() <= max_len);
            prop_assert_eq!(auth.get("token"), Some(&Value::String(token)));
        }
    }

    #[test]
    fn outgoing_args_accept_any_json_array(args in prop::collection::vec(json_value(), 0..6)) {
        let json = serde_json::to_string(&args).unwrap();
        let parsed = OutgoingArgs::try_from(Payload { json, binary: vec![] });
        prop_assert!(matches!(parsed, Ok(OutgoingArgs::Json(ref v)) if v.len() == args.len()));
    }

    #[test]
    fn outgoing_args_reject_garbage_without_panicking(json in ".{0,200}", bins in 0usize..3) {
        let binary = (0..bins).map(|i| bytes::Bytes::from(vec![i as u8])).collect();
        let _ = OutgoingArgs::try_from(Payload { json, binary });
    }
}

/// Payload bytes a decoded message carries (for bounds checks).
fn text_len(message: &Incoming) -> usize {
    match message {
        Incoming::Text(text) => text.len(),
        Incoming::Binary(bytes) => bytes.len(),
        Incoming::Ping(bytes) => bytes.len(),
        Incoming::Close => 0,
    }
}

/// Length of a server frame's header (no mask).
fn header_len_of(frame: &[u8]) -> usize {
    match frame[1] & 0x7F {
        126 => 4,
        127 => 10,
        _ => 2,
    }
}
