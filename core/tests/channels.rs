//! Joins, leaves, broadcasts and publishes over real TCP, on both engines: the native
//! websocket engine and socketioxide (long-polling), which share one dispatch.

mod fixture;

use std::time::Duration;

use fixture::{open_channel, TestHooks, TestServer};
use modelence_ws_core::config::{ChannelSpec, Config};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn config() -> Config {
    let guarded =
        ChannelSpec { category: "vip".into(), has_access_check: true, has_publish: false };
    let chat = ChannelSpec { category: "chat".into(), has_access_check: false, has_publish: true };
    Config { channels: vec![chat, guarded, open_channel("news")], ..Config::default() }
}

#[tokio::test]
async fn join_broadcast_and_leave_on_the_native_engine() {
    let server = TestServer::start(config(), TestHooks::default()).await;
    let (mut client, _) = server.connected("").await;
    client.send(r#"42["joinChannel","news:1"]"#).await;
    assert_eq!(client.text().await.unwrap(), r#"42["joinedChannel","news:1"]"#);
    server.server.broadcast("news", "1", r#"{"n":1}"#.into()).unwrap();
    assert_eq!(client.text().await.unwrap(), r#"42["news",{"n":1}]"#);
    client.send(r#"42["leaveChannel","news:1"]"#).await;
    assert_eq!(client.text().await.unwrap(), r#"42["leftChannel","news:1"]"#);
    server.server.broadcast("news", "1", "2".into()).unwrap();
    server.server.broadcast("news", "other", "3".into()).unwrap();
    client.send(r#"42["joinChannel","news:other"]"#).await;
    // Only what was sent after the join arrives.
    assert_eq!(client.text().await.unwrap(), r#"42["joinedChannel","news:other"]"#);
}

#[tokio::test]
async fn access_checks_decide_and_refusals_echo_only_short_names() {
    let server = TestServer::start(config(), TestHooks::default()).await;
    let (mut client, _) = server.connected("").await;
    client.send(r#"42["joinChannel","vip:ok1"]"#).await;
    assert_eq!(client.text().await.unwrap(), r#"42["joinedChannel","vip:ok1"]"#);
    client.send(r#"42["joinChannel","vip:no"]"#).await;
    assert_eq!(
        client.text().await.unwrap(),
        r#"42["joinError",{"channel":"vip:no","error":"Access denied"}]"#
    );
    let long = "x".repeat(100_000);
    client.send(&format!(r#"42["joinChannel","chat:{long}"]"#)).await;
    assert_eq!(
        client.text().await.unwrap(),
        r#"42["joinError",{"channel":null,"error":"Invalid channel name: the name is longer than 256 bytes"}]"#
    );
    client.send(&format!(r#"42["leaveChannel","{long}"]"#)).await;
    assert_eq!(client.text().await.unwrap(), r#"42["leftChannel",null]"#);
    client.send(&format!(r#"42["joinChannel",{{"x":"{long}"}}]"#)).await;
    assert_eq!(
        client.text().await.unwrap(),
        r#"42["joinError",{"channel":null,"error":"Channel name must be a string"}]"#
    );
}

#[tokio::test]
async fn a_publish_is_broadcast_to_the_channel_and_acknowledged() {
    let server = TestServer::start(config(), TestHooks::default()).await;
    let (mut client, _) = server.connected("").await;
    client.send(r#"42["joinChannel","chat:1"]"#).await;
    assert_eq!(client.text().await.unwrap(), r#"42["joinedChannel","chat:1"]"#);
    client.send(r#"425["publish","chat:1",{"t":"hi"}]"#).await;
    let mut got = vec![client.text().await.unwrap(), client.text().await.unwrap()];
    got.sort();
    assert_eq!(got, vec![r#"42["chat",{"t":"hi"}]"#.to_owned(), "435[true]".to_owned()]);
}

#[tokio::test]
async fn a_join_flood_is_rate_limited_and_invalid_joins_count() {
    let config = Config { max_joins_per_second: 5, ..config() };
    let server = TestServer::start(config, TestHooks::default()).await;
    let (mut client, _) = server.connected("").await;
    // The burst allowance is twice the rate: ten requests, valid or not, then refusals.
    for n in 0..10 {
        client.send(&format!(r#"42["joinChannel","nosuch{n}"]"#)).await;
        assert!(client.text().await.unwrap().contains("expected 'category:id'"));
    }
    client.send(r#"42["joinChannel","news:1"]"#).await;
    assert_eq!(
        client.text().await.unwrap(),
        r#"42["joinError",{"channel":"news:1","error":"Too many joins: slow down (limit 5 per second)"}]"#
    );
}

/// One long-polling request over a fresh TCP connection: the response body.
async fn poll(server: &TestServer, method: &str, query: &str, body: &str) -> String {
    let mut stream = server.tcp().await;
    let request = format!(
        "{method} /socket.io/?EIO=4&transport=polling{query} HTTP/1.1\r\nHost: x\r\n\
         Content-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_string(&mut response))
        .await
        .expect("response in time")
        .unwrap();
    response.split("\r\n\r\n").nth(1).unwrap_or_default().to_owned()
}

/// The next long-poll's packets other than heartbeat pings (which are answered).
async fn next_packets(server: &TestServer, session: &str) -> String {
    loop {
        let body = poll(server, "GET", session, "").await;
        let packets: Vec<&str> = body.split('\x1e').filter(|p| *p != "2").collect();
        if packets.len() < body.split('\x1e').count() {
            assert_eq!(poll(server, "POST", session, "3").await, "ok");
        }
        if !packets.is_empty() {
            return packets.join("\x1e");
        }
    }
}

#[tokio::test]
async fn long_polling_goes_through_the_same_dispatch() {
    let server = TestServer::start(config(), TestHooks::default()).await;
    let open = poll(&server, "GET", "", "").await;
    let sid = open.split("\"sid\":\"").nth(1).unwrap().split('"').next().unwrap().to_owned();
    let session = format!("&sid={sid}");
    assert_eq!(poll(&server, "POST", &session, "40").await, "ok");
    assert!(next_packets(&server, &session).await.starts_with("40{\"sid\""));
    let long = "x".repeat(10_000);
    let join = format!(r#"42["joinChannel","chat:{long}"]"#);
    assert_eq!(poll(&server, "POST", &session, &join).await, "ok");
    assert_eq!(
        next_packets(&server, &session).await,
        r#"42["joinError",{"channel":null,"error":"Invalid channel name: the name is longer than 256 bytes"}]"#
    );
    assert_eq!(poll(&server, "POST", &session, r#"42["joinChannel","news:1"]"#).await, "ok");
    assert_eq!(next_packets(&server, &session).await, r#"42["joinedChannel","news:1"]"#);
    server.server.broadcast("news", "1", "7".into()).unwrap();
    assert_eq!(next_packets(&server, &session).await, r#"42["news",7]"#);
    // An unknown session is refused as socket.io refuses it (the code is a number).
    let unknown = poll(&server, "GET", "&sid=nosuchsession", "").await;
    assert!(unknown.starts_with(r#"{"code":1,"#), "{unknown}");
}

#[tokio::test]
async fn the_first_long_poll_is_held_until_the_ping_interval() {
    let interval = Duration::from_millis(300);
    let server =
        TestServer::start(Config { ping_interval: interval, ..config() }, TestHooks::default())
            .await;
    let open = poll(&server, "GET", "", "").await;
    let sid = open.split("\"sid\":\"").nth(1).unwrap().split('"').next().unwrap().to_owned();
    let started = tokio::time::Instant::now();
    // As on socket.io: nothing to send until the first heartbeat, pingInterval later.
    assert_eq!(poll(&server, "GET", &format!("&sid={sid}"), "").await, "2");
    assert!(started.elapsed() >= interval - Duration::from_millis(50), "{:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_of_several_channels_gets_a_batch_in_the_order_it_was_broadcast() {
    let server = TestServer::start(config(), TestHooks::default()).await;
    let (mut client, _) = server.connected("").await;
    for channel in ["news:a", "chat:b"] {
        client.send(&format!(r#"42["joinChannel","{channel}"]"#)).await;
        assert_eq!(client.text().await.unwrap(), format!(r#"42["joinedChannel","{channel}"]"#));
    }
    // Back to back, so that delivery takes them as batches with runs of one channel (the
    // native engine queues a run on each member at once) between runs of the other.
    let sequence: Vec<(&str, &str)> =
        (0..400).map(|i| if (i / 7) % 3 == 2 { ("chat", "b") } else { ("news", "a") }).collect();
    for (i, (category, id)) in sequence.iter().enumerate() {
        server.server.broadcast(category, id, i.to_string()).unwrap();
    }
    for (i, (category, _)) in sequence.iter().enumerate() {
        assert_eq!(client.text().await.unwrap(), format!(r#"42["{category}",{i}]"#));
    }
}
