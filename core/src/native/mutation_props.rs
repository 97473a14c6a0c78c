//! Property tests that start from *valid* input and change one field, so they reach the
//! accepting branches that uniform random bytes almost never do: upgrade requests with one
//! header broken, frames with one header bit flipped, and whole sessions (CONNECT, events,
//! fragmented and split into arbitrary reads) through the connection protocol.

use proptest::prelude::*;
use tokio::time::Instant;

use crate::{
    config::{Config, CorsPolicy},
    native::{
        frame::{client_frame, Decoder, TEXT},
        handshake::native_upgrade,
        protocol::{Protocol, Step},
    },
    payload::Payload,
};

/// The fields of a valid upgrade request, in order: request line target, then headers.
const VALID: [(&str, &str); 6] = [
    ("target", "/socket.io/?EIO=4&transport=websocket"),
    ("Upgrade", "websocket"),
    ("Connection", "keep-alive, Upgrade"),
    ("Sec-WebSocket-Version", "13"),
    ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
    ("Origin", "https://app.example"),
];

fn upgrade_request(fields: &[(&str, String)]) -> Vec<u8> {
    let mut head = format!("GET {} HTTP/1.1\r\nHost: x\r\n", fields[0].1);
    for (name, value) in &fields[1..] {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    head.into_bytes()
}

/// Values that break each field (the target: another path, version, transport or a sid).
fn breaking_value(field: usize) -> impl Strategy<Value = String> {
    let values: Vec<&str> = match field {
        0 => vec![
            "/other/?EIO=4&transport=websocket",
            "/socket.io/?EIO=3&transport=websocket",
            "/socket.io/?EIO=4&transport=polling",
            "/socket.io/?EIO=4&transport=websocket&sid=abc",
            "/socket.io/",
        ],
        1 => vec!["h2c", "", "websocketx"],
        2 => vec!["keep-alive", "close", ""],
        3 => vec!["8", "12", "", "13x"],
        4 => vec![""],
        _ => vec!["https://evil.example", "null"],
    };
    prop::sample::select(values).prop_map(str::to_owned)
}

fn message_text() -> impl Strategy<Value = String> {
    // Event names and string arguments without characters JSON would escape.
    "[a-zA-Z0-9 :_-]{1,24}"
}

proptest! {
    #[test]
    fn an_upgrade_with_one_field_broken_goes_to_the_http_path(
        (field, value) in (0usize..VALID.len()).prop_flat_map(|f| (Just(f), breaking_value(f))),
    ) {
        let cors = CorsPolicy::List(vec!["https://app.example".into()]);
        let mut fields: Vec<(&str, String)> =
            VALID.iter().map(|(n, v)| (*n, (*v).to_owned())).collect();
        prop_assert!(native_upgrade(&upgrade_request(&fields), "/socket.io", &cors).is_some());
        fields[field].1 = value;
        prop_assert!(native_upgrade(&upgrade_request(&fields), "/socket.io", &cors).is_none());
    }

    #[test]
    fn a_frame_with_one_header_bit_flipped_never_panics_and_rsv_bits_are_errors(
        text in message_text(),
        bit in 0usize..16,
    ) {
        let mut bytes = client_frame(TEXT, true, text.as_bytes(), [7, 1, 9, 3]);
        bytes[bit / 8] ^= 0x80 >> (bit % 8);
        let mut out = Vec::new();
        let result = Decoder::new(1 << 16).feed(&mut bytes, &mut out);
        if (1..=3).contains(&bit) {
            prop_assert!(result.is_err(), "a reserved bit must be refused");
        }
        if bit == 8 {
            prop_assert!(result.is_err(), "an unmasked client frame must be refused");
        }
    }

    #[test]
    fn a_valid_session_yields_its_events_whatever_the_reads(
        events in prop::collection::vec((message_text(), message_text(), prop::option::of(0u64..1000)), 1..12),
        chunk in 1usize..40,
    ) {
        let mut wire = client_frame(TEXT, true, br#"40{"token":"t"}"#, [1, 2, 3, 4]);
        for (name, arg, ack) in &events {
            let id = ack.map(|a| a.to_string()).unwrap_or_default();
            let text = format!(r#"42{id}["{name}","{arg}"]"#);
            wire.extend(client_frame(TEXT, true, text.as_bytes(), [5, 6, 7, 8]));
        }
        let mut protocol = Protocol::new(&Config::default(), Instant::now());
        let mut steps = Vec::new();
        for piece in wire.chunks(chunk) {
            prop_assert_eq!(protocol.feed(&mut piece.to_vec()), None);
            while let Some(step) = protocol.next_step(Instant::now()) {
                if matches!(step, Step::Connect(..)) {
                    protocol.accepted("sid", None);
                }
                steps.push(step);
            }
        }
        let mut expected = vec![Step::Connect(Ok(Some("t".into())), Default::default())];
        expected.extend(events.iter().map(|(name, arg, ack)| Step::Event {
            name: name.clone(),
            args: Payload { json: format!(r#"["{arg}"]"#), binary: vec![] },
            ack: *ack,
        }));
        prop_assert_eq!(steps, expected);
    }

    #[test]
    fn a_packet_with_its_type_changed_is_handled_or_closes(
        name in message_text(),
        kind in prop::sample::select(vec!['0', '1', '2', '3', '4', '5', '6', '7', '8', '9', 'x']),
    ) {
        let mut protocol = Protocol::new(&Config::default(), Instant::now());
        protocol.feed(&mut client_frame(TEXT, true, b"40", [0; 4]));
        prop_assert!(matches!(protocol.next_step(Instant::now()), Some(Step::Connect(..))));
        protocol.accepted("sid", None);
        let text = format!(r#"4{kind}["{name}"]"#);
        protocol.feed(&mut client_frame(TEXT, true, text.as_bytes(), [0; 4]));
        let step = protocol.next_step(Instant::now());
        match kind {
            '2' => prop_assert!(matches!(step, Some(Step::Event { .. })), "an event"),
            '1' => prop_assert_eq!(step, Some(Step::LeaveNamespace)),
            // An ack needs an id, binary packets a count, CONNECT is a repeat: ignored or closed.
            _ => prop_assert!(
                matches!(step, None | Some(Step::Close(_)) | Some(Step::Connect(..))),
                "ignored or closed"
            ),
        }
    }
}
