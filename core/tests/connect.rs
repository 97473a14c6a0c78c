//! The namespace CONNECT on the native engine, over real TCP: authentication, refusals,
//! the CONNECT budget and the protocol errors that close a connection.

mod fixture;

use fixture::{eventually, Frame, TestHooks, TestServer};
use modelence_ws_core::{
    config::Config,
    hooks::{ConnectionInfo, SocketNotice},
};

fn authenticating() -> (Config, TestHooks) {
    let config = Config { authenticate: true, ..Config::default() };
    let hooks = TestHooks { good_token: Some("good".into()), ..TestHooks::default() };
    (config, hooks)
}

#[tokio::test]
async fn a_good_token_connects_and_a_bad_one_gets_connect_error() {
    let (config, hooks) = authenticating();
    let server = TestServer::start(config, hooks).await;
    let (_client, sid) = server.connected(r#"{"token":"good"}"#).await;
    assert_eq!(sid.len(), 16);

    let mut client = server.websocket().await;
    client.send(r#"40{"token":"bad"}"#).await;
    assert_eq!(client.text().await.unwrap(), r#"44{"message":"bad token"}"#);
    // The connection stays open for another attempt, which may succeed.
    client.send(r#"40{"token":"good"}"#).await;
    assert!(client.text().await.unwrap().starts_with(r#"40{"sid":"#));
}

#[tokio::test]
async fn connect_attempts_are_capped_per_connection() {
    let (config, hooks) = authenticating();
    let server = TestServer::start(Config { max_connect_attempts: 3, ..config }, hooks).await;
    let mut client = server.websocket().await;
    for _ in 0..3 {
        client.send(r#"40{"token":"bad"}"#).await;
        assert!(client.text().await.unwrap().starts_with("44"));
    }
    client.send(r#"40{"token":"bad"}"#).await;
    assert_eq!(client.closed().await, Some(1008));
    drop(client);
    // What a late `authenticate` result might have left is forgotten once the connection ends.
    eventually("the refused sid to be forgotten", || {
        server.hooks.forgotten.lock().unwrap().len() == 1
    })
    .await;
}

#[tokio::test]
async fn a_client_engine_io_ping_closes_the_connection() {
    let server = TestServer::start(Config::default(), TestHooks::default()).await;
    let (mut client, _) = server.connected("").await;
    client.send(&format!("2{}", "x".repeat(100_000))).await;
    assert_eq!(client.closed().await, Some(1002));
}

#[tokio::test]
async fn an_unknown_namespace_is_refused_and_an_oversized_one_closes() {
    let server = TestServer::start(Config::default(), TestHooks::default()).await;
    let (mut client, _) = server.connected("").await;
    client.send("40/admin,").await;
    assert_eq!(client.text().await.unwrap(), r#"44/admin,{"message":"Invalid namespace"}"#);
    client.send(&format!("40/{},", "n".repeat(100_000))).await;
    assert_eq!(client.closed().await, Some(1002));
}

#[tokio::test]
async fn unmasked_frames_close_with_a_protocol_error() {
    let server = TestServer::start(Config::default(), TestHooks::default()).await;
    let (mut client, _) = server.connected("").await;
    client.send_raw(&[0x81, 0x01, b'3']).await;
    assert_eq!(client.closed().await, Some(1002));
}

#[tokio::test]
async fn heartbeat_pings_reach_the_client() {
    let config =
        Config { ping_interval: std::time::Duration::from_millis(50), ..Config::default() };
    let server = TestServer::start(config, TestHooks::default()).await;
    let (mut client, _) = server.connected("").await;
    assert_eq!(client.frame().await, Some(Frame::Text("2".into())));
}

#[tokio::test]
async fn the_app_learns_where_a_connection_comes_from() {
    let server = TestServer::start(Config::default(), TestHooks::default()).await;
    server.server.set_socket_notices(true);
    let (_client, sid) = server.connected("").await;
    fixture::eventually("the connect notice", || !server.hooks.notices.lock().unwrap().is_empty())
        .await;
    let expected =
        ConnectionInfo { ip: Some("127.0.0.1".into()), user_agent: Some("fixture/1.0".into()) };
    assert_eq!(server.hooks.notices.lock().unwrap()[0], (sid, SocketNotice::Connected(expected)));
}

#[tokio::test]
async fn messages_after_a_pause_and_a_close_right_after_data_are_seen() {
    use tokio::io::AsyncWriteExt;
    let (config, hooks) = authenticating();
    let server = TestServer::start(config, hooks).await;
    let (mut client, sid) = server.connected(r#"{"token":"good"}"#).await;
    // A read that drains the socket stops waiting on it; what comes later still wakes it.
    for round in 0..3 {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        client.send(&format!(r#"42["joinChannel","nope:{round}"]"#)).await;
        let reply = client.text().await.expect("a reply to each message");
        assert!(reply.contains("joinError"), "round {round}: {reply}");
    }
    // Data and the peer's FIN together: the read that drains the data must not hide the close.
    client.send(r#"42["joinChannel","nope:last"]"#).await;
    client.stream.shutdown().await.unwrap();
    eventually("the close to be seen", || server.hooks.forgotten.lock().unwrap().contains(&sid))
        .await;
}
