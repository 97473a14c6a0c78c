//! TCP listener and per-connection tasks: reads requests, runs commands, writes replies, and
//! applies the fault-injection switches (drop all connections, refuse new ones for a while).

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bson::Document;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::commands::{self, hello_reply, Action};
use crate::config::Config;
use crate::error::CommandError;
use crate::state::Shared;
use crate::wire::{self, Request};

/// A bound emulator, ready to serve.
#[derive(Debug)]
pub struct Server {
    listener: TcpListener,
    shared: Arc<Shared>,
}

impl Server {
    /// Binds the listening socket described by `config`.
    pub async fn bind(config: Config) -> io::Result<Self> {
        let listener = TcpListener::bind(SocketAddr::new(config.host, config.port)).await?;
        let addr = listener.local_addr()?;
        Ok(Self { listener, shared: Arc::new(Shared::new(config, addr)) })
    }

    /// The bound address (useful with port 0).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The connection string drivers should use.
    pub fn uri(&self) -> String {
        self.shared.uri()
    }

    /// The shared state (for in-process inspection).
    pub fn shared(&self) -> Arc<Shared> {
        Arc::clone(&self.shared)
    }

    /// Accepts connections forever, one tokio task per connection.
    pub async fn run(self) {
        loop {
            let (stream, peer) = match self.listener.accept().await {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Typically EMFILE; back off instead of spinning.
                    self.shared.log(|| format!("accept failed: {e}"));
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            if self.shared.refusing() {
                self.shared.note_refused();
                self.shared.log(|| format!("refusing connection from {peer} (fault injection)"));
                drop(stream);
                continue;
            }
            // Subscribe before spawning so a drop/refuse issued right now also closes this one.
            let kill = self.shared.subscribe_kill();
            let shared = Arc::clone(&self.shared);
            tokio::spawn(async move {
                serve_connection(&shared, stream, peer, kill).await;
            });
        }
    }
}

async fn serve_connection(
    shared: &Shared,
    mut stream: TcpStream,
    peer: SocketAddr,
    mut kill: watch::Receiver<u64>,
) {
    let guard = shared.connection_opened();
    let conn_id = guard.id;
    let _ = stream.set_nodelay(true);
    shared.log(|| format!("conn {conn_id}: accepted from {peer}"));
    let reason = loop {
        let request = tokio::select! {
            biased;
            _ = kill.changed() => break "closed by fault injection".to_owned(),
            read = wire::read_request(&mut stream) => read,
        };
        let request = match request {
            Ok(Some(request)) => request,
            Ok(None) => break "client closed the connection".to_owned(),
            Err(e) => break format!("dropped: {e}"),
        };
        let (reply, action) = tokio::select! {
            biased;
            _ = kill.changed() => break "closed by fault injection".to_owned(),
            out = handle(shared, conn_id, request) => out,
        };
        if let Some(bytes) = reply {
            if let Err(e) = stream.write_all(&bytes).await {
                break format!("write failed: {e}");
            }
        }
        match action {
            Action::None => {}
            Action::DropConnections => {
                let _ = stream.flush().await;
                shared.drop_all_connections();
            }
            Action::RefuseConnections(duration) => {
                let _ = stream.flush().await;
                shared.refuse_connections_for(duration);
            }
        }
    };
    shared.log(|| format!("conn {conn_id}: {reason}"));
    let _ = stream.shutdown().await;
    drop(guard);
}

/// Runs one request; returns the encoded reply (if any) and the follow-up action.
async fn handle(shared: &Shared, conn_id: u64, request: Request) -> (Option<Vec<u8>>, Action) {
    match request {
        Request::Msg { request_id, more_to_come, command } => {
            let outcome = commands::execute(shared, conn_id, command).await;
            if more_to_come {
                return (None, outcome.action);
            }
            let bytes = encode_or_error(&outcome.reply, |d| wire::encode_msg(request_id, d));
            (bytes, outcome.action)
        }
        Request::Query { request_id, collection, query } => {
            let name = query.keys().next().cloned().unwrap_or_default();
            let is_hello = matches!(name.as_str(), "hello" | "isMaster" | "ismaster");
            let reply = if collection.ends_with(".$cmd") && is_hello {
                let mut reply = hello_reply(shared, conn_id, &query);
                reply.insert("ok", 1.0);
                reply
            } else {
                CommandError::unsupported_op_query(&name).to_reply()
            };
            shared.log(|| format!("conn {conn_id}: OP_QUERY {collection} {name}"));
            let bytes = encode_or_error(&reply, |d| wire::encode_reply(request_id, d));
            (bytes, Action::None)
        }
    }
}

/// Encodes `reply`; if that fails (e.g. too large) encodes an error reply instead.
fn encode_or_error(
    reply: &Document,
    encode: impl Fn(&Document) -> Result<Vec<u8>, wire::WireError>,
) -> Option<Vec<u8>> {
    match encode(reply) {
        Ok(bytes) => Some(bytes),
        Err(e) => {
            let fallback = CommandError::new(10334, "BSONObjectTooLarge", e.to_string()).to_reply();
            encode(&fallback).ok()
        }
    }
}
