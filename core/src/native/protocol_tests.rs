//! The native connection protocol, driven with bytes and a clock only (no socket).

use super::*;
use crate::native::frame::{client_frame, BINARY, TEXT};

fn text(message: &str) -> Vec<u8> {
    client_frame(TEXT, true, message.as_bytes(), [1, 2, 3, 4])
}

fn sent_text(step: &Step) -> String {
    let Step::Send(frames) = step else { panic!("expected a send, got {step:?}") };
    String::from_utf8_lossy(&frames[0][2..]).into_owned()
}

fn open(config: &Config) -> (Protocol, Instant) {
    let now = Instant::now();
    (Protocol::new(config, now), now)
}

fn steps(protocol: &mut Protocol, bytes: Vec<u8>) -> Vec<Step> {
    steps_at(protocol, bytes, Instant::now())
}

fn steps_at(protocol: &mut Protocol, bytes: Vec<u8>, now: Instant) -> Vec<Step> {
    let mut bytes = bytes;
    let mut out: Vec<Step> = protocol.feed(&mut bytes).into_iter().collect();
    while let Some(step) = protocol.next_step(now) {
        out.push(step);
    }
    out
}

fn connected(config: &Config) -> Protocol {
    let (mut protocol, _) = open(config);
    assert_eq!(steps(&mut protocol, text("40")), vec![Step::Connect(Ok(None), Default::default())]);
    protocol.accepted("sid", None);
    protocol
}

#[test]
fn connect_reads_the_token_and_events_follow_the_ack() {
    let config = Config::default();
    let (mut protocol, _) = open(&config);
    // Events before the CONNECT are ignored.
    assert_eq!(steps(&mut protocol, text(r#"42["early"]"#)), vec![]);
    let got = steps(&mut protocol, text(r#"40{"token":"t"}"#));
    assert_eq!(got, vec![Step::Connect(Ok(Some("t".into())), Default::default())]);
    assert!(String::from_utf8_lossy(&protocol.accepted("abc", None)).contains(r#"40{"sid":"abc"}"#));
    let got = steps(&mut protocol, text(r#"427["echo",1]"#));
    assert_eq!(
        got,
        vec![Step::Event {
            name: "echo".into(),
            args: Payload { json: "[1]".into(), binary: vec![] },
            ack: Some(7)
        }]
    );
}

#[test]
fn a_client_ping_closes_instead_of_echoing() {
    let mut protocol = connected(&Config::default());
    let got = steps(&mut protocol, text(&format!("2{}", "x".repeat(100_000))));
    assert_eq!(got, vec![Step::Close(CloseReason::ParseError)]);
}

#[test]
fn connect_attempts_are_capped() {
    let config = Config { max_connect_attempts: 3, ..Config::default() };
    let (mut protocol, _) = open(&config);
    let refusal = AuthError::Refused("no".into());
    for _ in 0..3 {
        assert_eq!(
            steps(&mut protocol, text("40")),
            vec![Step::Connect(Ok(None), Default::default())]
        );
        assert!(
            String::from_utf8_lossy(&protocol.refused(&refusal)).contains(r#"44{"message":"no"}"#)
        );
    }
    assert_eq!(steps(&mut protocol, text("40")), vec![Step::Close(CloseReason::Refused)]);
}

#[test]
fn unknown_namespaces_are_refused_without_echoing_long_names() {
    let mut protocol = connected(&Config::default());
    let got = steps(&mut protocol, text("40/admin,"));
    assert_eq!(sent_text(&got[0]), r#"44/admin,{"message":"Invalid namespace"}"#);
    let long = format!("40/{},", "n".repeat(10_000));
    assert_eq!(steps(&mut protocol, text(&long)), vec![Step::Close(CloseReason::ParseError)]);
}

#[test]
fn binary_events_wait_for_their_attachments() {
    let mut protocol = connected(&Config::default());
    let header = r#"451-["file",{"_placeholder":true,"num":0}]"#;
    assert_eq!(steps(&mut protocol, text(header)), vec![]);
    let got = steps(&mut protocol, client_frame(BINARY, true, &[9, 9], [0; 4]));
    let [Step::Event { name, args, ack: None }] = got.as_slice() else { panic!("{got:?}") };
    assert_eq!(name, "file");
    assert_eq!(args.binary, vec![Bytes::from_static(&[9, 9])]);
}

#[test]
fn heartbeat_pings_then_times_out_without_a_pong() {
    let config = Config {
        ping_interval: Duration::from_secs(1),
        ping_timeout: Duration::from_secs(2),
        ..Config::default()
    };
    let (mut protocol, start) = open(&config);
    protocol.accepted("sid", None);
    assert_eq!(protocol.deadline(), start + Duration::from_secs(1));
    let ping = protocol.on_timer(start + Duration::from_secs(1)).unwrap();
    assert_eq!(sent_text(&ping), "2");
    assert_eq!(protocol.deadline(), start + Duration::from_secs(3));
    assert_eq!(
        protocol.on_timer(start + Duration::from_secs(3)),
        Some(Step::Close(CloseReason::PingTimeout))
    );
}

#[test]
fn a_pong_rearms_the_heartbeat() {
    let config = Config { ping_interval: Duration::from_secs(1), ..Config::default() };
    let (mut protocol, start) = open(&config);
    protocol.accepted("sid", None);
    protocol.on_timer(start + Duration::from_secs(1));
    let answered = start + Duration::from_millis(1200);
    assert_eq!(steps_at(&mut protocol, text("3"), answered), vec![]);
    assert_eq!(protocol.deadline(), answered + Duration::from_secs(1));
    assert_eq!(protocol.on_timer(start + Duration::from_millis(1500)), None);
}

#[test]
fn no_connect_in_time_closes() {
    let config = Config { connect_timeout: Duration::from_secs(1), ..Config::default() };
    let (mut protocol, start) = open(&config);
    assert_eq!(
        protocol.on_timer(start + Duration::from_secs(1)),
        Some(Step::Close(CloseReason::ConnectTimeout))
    );
}

#[test]
fn malformed_packets_close_with_a_protocol_error() {
    let mut protocol = connected(&Config::default());
    assert_eq!(steps(&mut protocol, text("9")), vec![Step::Close(CloseReason::ParseError)]);
    let mut protocol = connected(&Config::default());
    assert_eq!(steps(&mut protocol, text("42{}")), vec![Step::Close(CloseReason::ParseError)]);
    let mut protocol = connected(&Config::default());
    let unmasked = vec![0x81, 1, b'3'];
    assert_eq!(steps(&mut protocol, unmasked), vec![Step::Close(CloseReason::ParseError)]);
    assert_eq!(protocol.close_code(CloseReason::ParseError), 1002);
}

#[test]
fn leaving_the_namespace_keeps_the_connection_for_another_connect() {
    let mut protocol = connected(&Config::default());
    assert_eq!(steps(&mut protocol, text("41")), vec![Step::LeaveNamespace]);
    // Events are ignored until the client connects again.
    assert_eq!(steps(&mut protocol, text(r#"42["late"]"#)), vec![]);
    assert_eq!(steps(&mut protocol, text("40")), vec![Step::Connect(Ok(None), Default::default())]);
    protocol.accepted("sid", None);
    assert!(matches!(
        steps(&mut protocol, text(r#"42["again"]"#)).as_slice(),
        [Step::Event { .. }]
    ));
}
