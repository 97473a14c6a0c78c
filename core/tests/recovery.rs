//! Connection state recovery on the native engine over real TCP: a client that lost its
//! connection gets its socket id, channels and missed broadcasts back, in order, once.

mod fixture;

use std::{sync::atomic::Ordering, time::Duration};

use fixture::{open_channel, TestHooks, TestServer, WsClient};
use modelence_ws_core::{
    config::{ChannelSpec, Config},
    recovery::RecoveryConfig,
};

fn config(window: Duration) -> Config {
    let vip = ChannelSpec { category: "vip".into(), has_access_check: true, has_publish: false };
    let recovery = RecoveryConfig { max_disconnection: window, ..RecoveryConfig::default() };
    Config {
        channels: vec![open_channel("news"), vip],
        recovery: Some(recovery),
        ..Config::default()
    }
}

fn pid_of(ack: &str) -> String {
    ack.split("\"pid\":\"").nth(1).and_then(|r| r.split('"').next()).expect("a pid").to_owned()
}

async fn joined(client: &mut WsClient, channel: &str) {
    client.send(&format!(r#"42["joinChannel","{channel}"]"#)).await;
    let reply = client.text().await.unwrap();
    assert!(reply.starts_with(&format!(r#"42["joinedChannel","{channel}","#)), "{reply}");
}

/// Broadcasts `n` to `news:1` and waits until the server has taken it.
async fn broadcast(server: &TestServer, n: u32) {
    server.server.broadcast("news", "1", n.to_string()).unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
}

#[tokio::test]
async fn a_dropped_client_gets_its_channels_and_missed_broadcasts_back() {
    let server = TestServer::start(config(Duration::from_secs(10)), TestHooks::default()).await;
    let (mut client, sid, ack) = server.connected_with_ack("{}").await;
    let pid = pid_of(&ack);
    joined(&mut client, "news:1").await;
    broadcast(&server, 1).await;
    broadcast(&server, 2).await;
    assert_eq!(client.text().await.unwrap(), r#"42["news",1,"1"]"#);
    assert_eq!(client.text().await.unwrap(), r#"42["news",2,"2"]"#);
    drop(client); // the connection ends without a DISCONNECT
    tokio::time::sleep(Duration::from_millis(100)).await;
    broadcast(&server, 3).await;
    broadcast(&server, 4).await;

    let mut client = server.websocket().await;
    client.send(&format!(r#"40{{"pid":"{pid}","offset":"2"}}"#)).await;
    assert_eq!(client.text().await.unwrap(), r#"42["news",3,"3"]"#);
    assert_eq!(client.text().await.unwrap(), r#"42["news",4,"4"]"#);
    assert_eq!(client.text().await.unwrap(), format!(r#"40{{"sid":"{sid}","pid":"{pid}"}}"#));
    // Still a member, without a new joinChannel; nothing twice.
    broadcast(&server, 5).await;
    assert_eq!(client.text().await.unwrap(), r#"42["news",5,"5"]"#);
    assert_eq!(server.server.rooms(&sid), Some(vec!["news:1".to_owned()]));
    let metrics = server.server.metrics_text().await;
    assert!(metrics.contains("modelence_ws_recoveries_total{result=\"recovered\"} 1\n"));
    assert!(metrics.contains("modelence_ws_recovery_replayed_total 2\n"));
}

#[tokio::test]
async fn a_session_past_its_window_is_not_recovered() {
    let server = TestServer::start(config(Duration::from_millis(50)), TestHooks::default()).await;
    let (mut client, sid, ack) = server.connected_with_ack("{}").await;
    joined(&mut client, "news:1").await;
    drop(client);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (_, new_sid, new_ack) =
        server.connected_with_ack(&format!(r#"{{"pid":"{}","offset":"0"}}"#, pid_of(&ack))).await;
    assert_ne!(new_sid, sid);
    assert_ne!(pid_of(&new_ack), pid_of(&ack));
    assert_eq!(server.server.rooms(&new_sid), Some(vec![]));
    let metrics = server.server.metrics_text().await;
    assert!(metrics.contains("modelence_ws_recoveries_total{result=\"expired\"} 1\n"));
}

#[tokio::test]
async fn a_channel_denied_meanwhile_is_not_restored() {
    let server = TestServer::start(config(Duration::from_secs(10)), TestHooks::default()).await;
    let (mut client, sid, ack) = server.connected_with_ack("{}").await;
    joined(&mut client, "vip:ok1").await;
    joined(&mut client, "news:1").await;
    drop(client);
    tokio::time::sleep(Duration::from_millis(100)).await;
    server.hooks.deny_all.store(true, Ordering::SeqCst);
    let mut client = server.websocket().await;
    client.send(&format!(r#"40{{"pid":"{}"}}"#, pid_of(&ack))).await;
    assert!(client.text().await.unwrap().starts_with(&format!(r#"40{{"sid":"{sid}""#)));
    let refusal = client.text().await.unwrap();
    assert!(
        refusal.starts_with(r#"42["joinError",{"channel":"vip:ok1","error":"Access denied"}"#),
        "{refusal}"
    );
    assert_eq!(server.server.rooms(&sid), Some(vec!["news:1".to_owned()]));
}

#[tokio::test]
async fn a_reconnect_closes_the_half_open_connection_first() {
    let server = TestServer::start(config(Duration::from_secs(10)), TestHooks::default()).await;
    let (mut old, sid, ack) = server.connected_with_ack("{}").await;
    joined(&mut old, "news:1").await;
    // The server has not noticed anything wrong with `old` when the client comes back.
    let mut client = server.websocket().await;
    client.send(&format!(r#"40{{"pid":"{}"}}"#, pid_of(&ack))).await;
    assert!(client.text().await.unwrap().starts_with(&format!(r#"40{{"sid":"{sid}""#)));
    assert_eq!(old.closed().await.unwrap_or(1000), 1000);
    broadcast(&server, 9).await;
    assert_eq!(client.text().await.unwrap(), r#"42["news",9,"1"]"#);
}
