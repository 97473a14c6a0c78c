//! A socket's events reach the app in the order they arrived, as with socket.io, while the
//! app's answers are awaited side by side.

mod fixture;

use std::{sync::atomic::Ordering, time::Duration};

use fixture::{client_frame, TestHooks, TestServer};
use modelence_ws_core::config::Config;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn events_reach_the_app_in_arrival_order() {
    let hooks = TestHooks::default();
    *hooks.event_delay.lock().unwrap() = Duration::from_millis(5);
    let server = TestServer::start(Config::default(), hooks).await;
    server.server.set_event_route("step", true);
    let (mut client, _) = server.connected("").await;
    let mut burst = Vec::new();
    for i in 0..300 {
        burst.extend(client_frame(0x1, format!(r#"42{i}["step",{i}]"#).as_bytes()));
    }
    client.send_raw(&burst).await;
    for _ in 0..300 {
        let text = client.text().await.expect("an ack");
        assert!(text.starts_with("43"), "{text}");
    }
    let expected: Vec<String> = (0..300).map(|i| format!("[{i}]")).collect();
    assert_eq!(*server.hooks.events.lock().unwrap(), expected);
    assert!(
        server.hooks.most_events_in_flight.load(Ordering::SeqCst) > 1,
        "answers are awaited side by side, not one by one"
    );
}
