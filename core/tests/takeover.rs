//! Attach mode's early takeover, over real TCP: connections accepted on another listener
//! (the app's, here a plain one) are kept when they open a websocket session and handed back
//! unread otherwise.
#![cfg(unix)]

mod fixture;

use std::{
    os::fd::{AsRawFd, OwnedFd},
    sync::Arc,
    time::Duration,
};

use fixture::{client_frame, TestHooks, TestServer, WsClient};
use modelence_ws_core::{config::Config, errors::ServeError, server::GiveBack};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    sync::mpsc,
};

/// The app's listener, and what the server handed back to it.
struct App {
    listener: TcpListener,
    given_back: mpsc::UnboundedReceiver<OwnedFd>,
    give_back: GiveBack,
}

impl App {
    async fn new() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (tx, given_back) = mpsc::unbounded_channel();
        let give_back: GiveBack = Arc::new(move |fd| {
            let _ = tx.send(fd);
        });
        Self { listener, given_back, give_back }
    }

    /// Connects a client, accepts it on the app's listener and offers it to `server`, closing
    /// the app's own copy as Node does.
    async fn connect_and_offer(&self, server: &TestServer) -> TcpStream {
        let client = TcpStream::connect(self.listener.local_addr().unwrap()).await.unwrap();
        let (accepted, _) = self.listener.accept().await.unwrap();
        server.server.take_over_fd(accepted.as_raw_fd(), self.give_back.clone()).unwrap();
        drop(accepted);
        client
    }

    /// The next connection handed back, as a stream.
    async fn handed_back(&mut self) -> TcpStream {
        let fd = tokio::time::timeout(Duration::from_secs(5), self.given_back.recv())
            .await
            .expect("a connection handed back in time")
            .unwrap();
        let stream = std::net::TcpStream::from(fd);
        stream.set_nonblocking(true).unwrap();
        TcpStream::from_std(stream).unwrap()
    }
}

async fn read_exactly(stream: &mut TcpStream, len: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; len];
    tokio::time::timeout(Duration::from_secs(5), stream.read_exact(&mut bytes))
        .await
        .unwrap()
        .unwrap();
    bytes
}

#[tokio::test]
async fn a_websocket_session_is_kept_and_served_natively() {
    let server = TestServer::start(Config::default(), TestHooks::default()).await;
    let mut app = App::new().await;
    let client = app.connect_and_offer(&server).await;
    let mut ws = WsClient::upgrade(client).await;
    ws.send("40").await;
    assert!(ws.text().await.unwrap().starts_with(r#"40{"sid":"#));
    assert!(app.given_back.try_recv().is_err(), "a kept connection was also handed back");
}

#[tokio::test]
async fn websocket_bytes_sent_with_the_head_are_served_and_the_head_is_not() {
    // The kept head stays in the receive queue (it was only peeked); the connection's first
    // read must skip exactly it and serve what followed.
    let server = TestServer::start(Config::default(), TestHooks::default()).await;
    let app = App::new().await;
    let mut client = app.connect_and_offer(&server).await;
    let mut bytes = b"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\n\
        Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
        Sec-WebSocket-Version: 13\r\n\r\n"
        .to_vec();
    bytes.extend_from_slice(&client_frame(0x1, b"40"));
    client.write_all(&bytes).await.unwrap();
    let mut received = Vec::new();
    let connected = tokio::time::timeout(Duration::from_secs(5), async {
        let mut chunk = [0u8; 4096];
        loop {
            let n = client.read(&mut chunk).await.unwrap();
            assert!(n > 0, "closed after {:?}", String::from_utf8_lossy(&received));
            received.extend_from_slice(&chunk[..n]);
            if received.windows(8).any(|w| w == br#"40{"sid""#) {
                return;
            }
        }
    })
    .await;
    assert!(connected.is_ok(), "no CONNECT answer: {:?}", String::from_utf8_lossy(&received));
    assert!(received.starts_with(b"HTTP/1.1 101"));
}

#[tokio::test]
async fn a_head_arriving_in_parts_is_still_recognized() {
    let server = TestServer::start(Config::default(), TestHooks::default()).await;
    let app = App::new().await;
    let mut client = app.connect_and_offer(&server).await;
    client
        .write_all(b"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(30)).await;
    client
        .write_all(
            b"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
              Sec-WebSocket-Version: 13\r\n\r\n",
        )
        .await
        .unwrap();
    let status = read_exactly(&mut client, 12).await;
    assert_eq!(status, b"HTTP/1.1 101");
}

#[tokio::test]
async fn other_requests_are_handed_back_unread_and_still_usable() {
    let server = TestServer::start(Config::default(), TestHooks::default()).await;
    let mut app = App::new().await;
    let cases: [&[u8]; 3] = [
        b"GET /app/route HTTP/1.1\r\nHost: x\r\n\r\n",
        // Long-polling under the path: Node forwards it as before.
        b"GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n\r\n",
        b"POST /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi",
    ];
    for request in cases {
        let mut client = app.connect_and_offer(&server).await;
        client.write_all(request).await.unwrap();
        let mut back = app.handed_back().await;
        assert_eq!(read_exactly(&mut back, request.len()).await, request);
        back.write_all(b"HTTP/1.1 204 No Content\r\n\r\n").await.unwrap();
        assert_eq!(read_exactly(&mut client, 12).await, b"HTTP/1.1 204");
    }
}

#[tokio::test]
async fn an_oversized_head_and_an_early_close_are_handed_back() {
    let server = TestServer::start(Config::default(), TestHooks::default()).await;
    let mut app = App::new().await;
    let mut client = app.connect_and_offer(&server).await;
    let long = format!("GET /{} HTTP/1.1\r\n", "a".repeat(10_000));
    client.write_all(long.as_bytes()).await.unwrap();
    let mut back = app.handed_back().await;
    assert_eq!(read_exactly(&mut back, long.len()).await, long.as_bytes());

    let client = app.connect_and_offer(&server).await;
    drop(client);
    let mut back = app.handed_back().await;
    let mut rest = Vec::new();
    back.read_to_end(&mut rest).await.unwrap();
    assert!(rest.is_empty());
}

#[tokio::test]
async fn a_closed_server_refuses_so_the_caller_keeps_the_connection() {
    let server = TestServer::start(Config::default(), TestHooks::default()).await;
    let app = App::new().await;
    let _client = TcpStream::connect(app.listener.local_addr().unwrap()).await.unwrap();
    let (accepted, _) = app.listener.accept().await.unwrap();
    server.server.close().await;
    let refused = server.server.take_over_fd(accepted.as_raw_fd(), app.give_back.clone());
    assert!(matches!(refused, Err(ServeError::Closed)));
}

#[tokio::test]
async fn a_silent_connection_is_handed_back_when_the_server_closes() {
    let server = TestServer::start(Config::default(), TestHooks::default()).await;
    let mut app = App::new().await;
    let mut client = app.connect_and_offer(&server).await;
    // A partial head: the takeover waits for the rest (up to its 10 s head timeout).
    client.write_all(b"GET /socket.io/?EIO=4").await.unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let started = std::time::Instant::now();
    server.server.close().await;
    let mut back = app.handed_back().await;
    assert!(started.elapsed() < Duration::from_secs(2), "closing waited {:?}", started.elapsed());
    assert_eq!(read_exactly(&mut back, 21).await, b"GET /socket.io/?EIO=4");
}
