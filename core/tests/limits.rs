//! Per-client limits over real TCP: the send queue's byte bound and reading paused at the
//! in-flight cap.

mod fixture;

use std::{sync::atomic::Ordering, time::Duration};

use fixture::{client_frame, eventually, open_channel, TestHooks, TestServer};
use modelence_ws_core::config::Config;

#[tokio::test]
async fn a_member_that_stops_reading_is_cut_off_by_bytes() {
    let config = Config {
        channels: vec![open_channel("news")],
        max_buffered_bytes: 256 * 1024,
        ..Config::default()
    };
    let server = TestServer::start(config, TestHooks::default()).await;
    let (mut client, sid) = server.connected("").await;
    client.send(r#"42["joinChannel","news:1"]"#).await;
    assert_eq!(client.text().await.unwrap(), r#"42["joinedChannel","news:1"]"#);
    // Shrink what the kernel buffers for this client, then stop reading.
    socket2::SockRef::from(&client.stream).set_recv_buffer_size(4096).unwrap();
    let before = server.server.metrics().slow_consumer_count();
    let big = format!("\"{}\"", "x".repeat(64 * 1024));
    for _ in 0..200 {
        if server.server.rooms(&sid).is_none() {
            break;
        }
        server.server.broadcast("news", "1", big.clone()).unwrap();
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    eventually("the slow member to be cut off", || server.server.rooms(&sid).is_none()).await;
    assert!(server.server.metrics().slow_consumer_count() > before);
}

#[tokio::test]
async fn reading_pauses_at_the_in_flight_cap() {
    let config = Config { max_inflight_events_per_socket: 4, ..Config::default() };
    let hooks = TestHooks::default();
    *hooks.event_delay.lock().unwrap() = Duration::from_millis(20);
    let server = TestServer::start(config, hooks).await;
    server.server.set_event_route("echo", true);
    let (mut client, _) = server.connected("").await;
    let mut burst = Vec::new();
    for id in 0..200 {
        burst.extend(client_frame(0x1, format!(r#"42{id}["echo",{id}]"#).as_bytes()));
    }
    client.send_raw(&burst).await;
    // Every event is answered, in order of arrival per batch, never more than 4 at a time.
    let mut acks = 0;
    while acks < 200 {
        let text = client.text().await.expect("an ack");
        assert!(text.starts_with("43"), "{text}");
        acks += 1;
    }
    assert_eq!(server.hooks.most_events_in_flight.load(Ordering::SeqCst), 4);
}
