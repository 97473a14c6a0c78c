//! The metrics endpoint of a standalone server, scraped over real TCP while clients join,
//! receive broadcasts and wait on a hook that times out.

mod fixture;

use std::time::Duration;

use fixture::{open_channel, TestHooks, TestServer};
use modelence_ws_core::config::{ChannelSpec, Config};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn scrape(server: &TestServer, path: &str) -> (String, String) {
    let mut stream = server.tcp().await;
    let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_string(&mut response))
        .await
        .expect("an answer")
        .unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    (head.to_owned(), body.to_owned())
}

/// The value of the sample `name` (with its labels, e.g. `x{a="b"}`).
fn sample(body: &str, name: &str) -> f64 {
    body.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no sample {name}"))
}

#[tokio::test]
async fn counts_connections_joins_deliveries_and_hook_timeouts() {
    let vip = ChannelSpec { category: "vip".into(), has_access_check: true, has_publish: false };
    let config = Config {
        channels: vec![open_channel("chat"), vip],
        metrics_path: Some("/metrics".into()),
        event_timeout: Duration::from_millis(50),
        ..Config::default()
    };
    let hooks = TestHooks::default();
    *hooks.event_delay.lock().unwrap() = Duration::from_secs(10);
    let server = TestServer::start(config, hooks).await;
    server.server.set_event_route("slow", true);
    let mut clients = Vec::new();
    for _ in 0..3 {
        let (mut client, _) = server.connected("").await;
        client.send(r#"42["joinChannel","chat:1"]"#).await;
        assert_eq!(client.text().await.unwrap(), r#"42["joinedChannel","chat:1"]"#);
        clients.push(client);
    }
    clients[0].send(r#"42["joinChannel","vip:no"]"#).await;
    assert!(clients[0].text().await.unwrap().contains("Access denied"));
    clients[0].send(r#"42["joinChannel","secret-room-42:x"]"#).await;
    assert!(clients[0].text().await.unwrap().contains("Access denied"));
    for n in 0..4 {
        server.server.broadcast("chat", "1", n.to_string()).unwrap();
    }
    for client in &mut clients {
        for n in 0..4 {
            assert_eq!(client.text().await.unwrap(), format!(r#"42["chat",{n}]"#));
        }
    }
    clients[1].send(r#"42["slow"]"#).await;
    tokio::time::sleep(Duration::from_millis(200)).await;

    let (head, body) = scrape(&server, "/metrics").await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.contains("Content-Type: text/plain; version=0.0.4"), "{head}");
    assert_eq!(sample(&body, r#"modelence_ws_connections{transport="websocket"}"#), 3.0);
    assert_eq!(sample(&body, r#"modelence_ws_deliveries_total{category="chat"}"#), 12.0);
    assert_eq!(sample(&body, r#"modelence_ws_broadcasts_total{category="chat"}"#), 4.0);
    assert_eq!(sample(&body, r#"modelence_ws_joins_total{category="chat",result="ok"}"#), 3.0);
    assert_eq!(sample(&body, r#"modelence_ws_joins_total{category="vip",result="denied"}"#), 1.0);
    assert_eq!(
        sample(&body, r#"modelence_ws_joins_total{category="unknown",result="denied"}"#),
        1.0
    );
    assert_eq!(sample(&body, r#"modelence_ws_hook_timeouts_total{hook="on_event"}"#), 1.0);
    assert_eq!(sample(&body, r#"modelence_ws_hook_duration_seconds_count{hook="on_event"}"#), 1.0);
    assert_eq!(sample(&body, "modelence_ws_channels"), 1.0);
    assert!(sample(&body, "modelence_ws_bytes_sent_total") > 0.0);
    assert!(sample(&body, "process_resident_memory_bytes") > 0.0);
    // Labels never carry a channel id or an unregistered category.
    assert!(!body.contains("secret-room-42") && !body.contains("chat:1"));

    drop(clients);
    let deadline = tokio::time::Instant::now() + fixture::PATIENCE;
    while server.server.stats().await["connections"]["websocket"] != 0 {
        assert!(tokio::time::Instant::now() < deadline, "the connections gauge stays up");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (_, body) = scrape(&server, "/metrics").await;
    assert_eq!(sample(&body, r#"modelence_ws_disconnects_total{reason="transport close"}"#), 3.0);
}

#[tokio::test]
async fn without_a_metrics_path_there_is_no_route() {
    let server = TestServer::start(Config::default(), TestHooks::default()).await;
    let (head, _) = scrape(&server, "/metrics").await;
    assert!(!head.starts_with("HTTP/1.1 200"), "{head}");
}
