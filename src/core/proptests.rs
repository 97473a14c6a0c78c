//! Property tests over everything the project parses itself: channel names, handshake
//! tokens and event payloads. Arbitrary input must never panic, and accepted input must
//! satisfy the documented shape. (Unit tests, not `tests/`: an integration test binary
//! would link the napi registration, which needs a Node process.)
//!
//! `PROPTEST_CASES=1000000 cargo test --release proptests` runs a long fuzz.

use crate::core::{
    auth::token_from_auth,
    channel::{room_name, ChannelName},
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
