//! A hung app handler never keeps a departed client's socket open (its own test binary, as
//! it counts this process's descriptors).

mod fixture;

use std::{sync::atomic::Ordering, time::Duration};

use fixture::{eventually, TestHooks, TestServer};
use modelence_ws_core::config::Config;

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map(|d| d.count()).unwrap_or(0)
}

#[tokio::test]
async fn a_hung_handler_keeps_no_departed_socket_open() {
    let config = Config { event_timeout: Duration::from_secs(30), ..Config::default() };
    let hooks = TestHooks::default();
    *hooks.event_delay.lock().unwrap() = Duration::from_secs(3600);
    let server = TestServer::start(config, hooks).await;
    server.server.set_event_route("hang", true);
    let baseline = open_fds();
    let mut clients = Vec::new();
    for _ in 0..20 {
        let (mut client, _) = server.connected("").await;
        client.send(r#"421["hang"]"#).await;
        clients.push(client);
    }
    eventually("the handlers to start", || {
        server.hooks.events_in_flight.load(Ordering::SeqCst) == 20
    })
    .await;
    assert!(open_fds() >= baseline + 40, "client and server ends are open");
    drop(clients);
    // The handlers still hang, but the server's ends of the connections are closed.
    eventually("the server's descriptors to be released", || open_fds() <= baseline + 2).await;
    assert_eq!(server.hooks.events_in_flight.load(Ordering::SeqCst), 20);
}
