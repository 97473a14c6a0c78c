//! Test helpers: run the built `mongo-emulator` binary on a free port and talk to it with the
//! official driver.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use mongodb::bson::Document;
use mongodb::change_stream::event::ChangeStreamEvent;
use mongodb::change_stream::ChangeStream;
use mongodb::error::{Error, ErrorKind};
use mongodb::Client;

/// A running emulator process, killed on drop.
pub struct Emulator {
    child: Child,
    _stdout: BufReader<ChildStdout>,
    /// The URI printed on the first line of stdout.
    pub uri: String,
}

impl Emulator {
    /// Starts the binary with `--port 0` plus `extra` arguments and reads the URI line.
    pub fn start(extra: &[&str]) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_mongo-emulator"));
        command.args(["--port", "0"]).args(extra);
        // MONGO_EMULATOR_VERBOSE=1 shows the emulator's command log while debugging tests.
        if std::env::var_os("MONGO_EMULATOR_VERBOSE").is_some_and(|v| v == "1") {
            command.arg("--verbose");
        }
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn mongo-emulator");
        let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        let mut uri = String::new();
        stdout.read_line(&mut uri).expect("read URI line");
        let uri = uri.trim().to_owned();
        assert!(uri.starts_with("mongodb://"), "unexpected first line: {uri:?}");
        Self { child, _stdout: stdout, uri }
    }

    /// `host:port` from the URI.
    pub fn address(&self) -> String {
        let rest = self.uri.trim_start_matches("mongodb://");
        rest.split('/').next().unwrap_or_default().to_owned()
    }

    /// A new driver client for the printed URI.
    pub async fn client(&self) -> Client {
        Client::with_uri_str(&self.uri).await.expect("client")
    }

    /// The process (for signal tests).
    pub fn child_mut(&mut self) -> &mut Child {
        &mut self.child
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The server error code of a driver error, if it is a command error.
pub fn server_code(error: &Error) -> Option<(i32, String)> {
    match error.kind.as_ref() {
        ErrorKind::Command(c) => Some((c.code, c.code_name.clone())),
        _ => None,
    }
}

/// Type of the change streams used in the tests.
pub type Stream = ChangeStream<ChangeStreamEvent<Document>>;

/// Reads exactly `n` events or panics after `timeout`.
pub async fn collect(
    stream: &mut Stream,
    n: usize,
    timeout: Duration,
) -> Vec<ChangeStreamEvent<Document>> {
    let deadline = Instant::now() + timeout;
    let mut events = Vec::with_capacity(n);
    while events.len() < n {
        assert!(Instant::now() < deadline, "timed out after {} of {n} events", events.len());
        if let Some(event) = stream.next_if_any().await.expect("change stream error") {
            events.push(event);
        }
    }
    events
}

/// Asserts that no event arrives for `quiet`.
pub async fn assert_quiet(stream: &mut Stream, quiet: Duration) {
    let deadline = Instant::now() + quiet;
    while Instant::now() < deadline {
        if let Some(event) = stream.next_if_any().await.expect("change stream error") {
            panic!("unexpected extra event: {event:?}");
        }
    }
}

/// The `n` field of each event's full document.
pub fn numbers(events: &[ChangeStreamEvent<Document>]) -> Vec<i32> {
    events
        .iter()
        .map(|e| {
            e.full_document.as_ref().and_then(|d| d.get_i32("n").ok()).expect("fullDocument.n")
        })
        .collect()
}
