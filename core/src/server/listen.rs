//! How the server takes connections: its own listener (standalone), descriptors handed over
//! by Node (attach mode), forwarded HTTP requests and bridged streams; and the routing of
//! each to the engine that serves it.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use tokio::{
    io::{AsyncRead, AsyncWrite},
    net::TcpStream,
};

use crate::{
    errors::ServeError,
    native::{handshake::head_end, native_upgrade},
    server::Server,
};

/// Longest request head read before deciding which engine serves a standalone connection
/// (a longer one goes to hyper, which refuses it) or whether attach mode keeps a connection
/// (a longer one goes back to Node).
pub(super) const MAX_SNIFFED_HEAD: usize = 8192;

/// How long a standalone or offered (attach mode) connection may take to send its first
/// request head.
pub(super) const HEAD_TIMEOUT: Duration = Duration::from_secs(10);

/// Standalone listen backlog: Node's default, since tokio's 128 overflows in connect storms.
const LISTEN_BACKLOG: i32 = 511;

/// How long the accept loop backs off after a failed accept (e.g. out of descriptors).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

impl Server {
    /// Standalone mode: listens on `host:port` (port 0 = any free port) and serves every
    /// connection until [`Server::close`]. Returns the bound address.
    pub async fn listen(self: &Arc<Self>, host: &str, port: u16) -> Result<SocketAddr, ServeError> {
        self.ensure_open()?;
        let listen_error = |source| ServeError::Listen { addr: format!("{host}:{port}"), source };
        let addr = tokio::net::lookup_host((host, port))
            .await
            .map_err(listen_error)?
            .next()
            .ok_or_else(|| listen_error(std::io::ErrorKind::AddrNotAvailable.into()))?;
        let listener = bind(addr).map_err(listen_error)?;
        let local = listener.local_addr().map_err(listen_error)?;
        let server = self.clone();
        self.spawn(async move { server.accept_loop(listener).await });
        Ok(local)
    }

    async fn accept_loop(self: Arc<Self>, listener: tokio::net::TcpListener) {
        loop {
            tokio::select! {
                _ = self.shutdown.cancelled() => break,
                accepted = listener.accept() => match accepted {
                    Ok((stream, _peer)) => {
                        let _ = stream.set_nodelay(true);
                        let server = self.clone();
                        self.spawn(async move { server.route_standalone(stream).await });
                    }
                    Err(error) => {
                        tracing::warn!(%error, "accept failed");
                        tokio::time::sleep(ACCEPT_BACKOFF).await;
                    }
                },
            }
        }
    }

    /// Reads a standalone connection's first request head, then hands the connection to the
    /// engine that serves it.
    async fn route_standalone(self: Arc<Self>, stream: TcpStream) {
        let mut head = Vec::new();
        let read = tokio::time::timeout(HEAD_TIMEOUT, async {
            let mut chunk = [0u8; 1024];
            while head_end(&head).is_none() && head.len() < MAX_SNIFFED_HEAD {
                if stream.readable().await.is_err() {
                    return false;
                }
                match stream.try_read(&mut chunk) {
                    Ok(0) => return false,
                    Ok(n) => head.extend_from_slice(&chunk[..n]),
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    Err(_) => return false,
                }
            }
            true
        });
        if matches!(read.await, Ok(true)) {
            self.route(stream, Bytes::from(head));
        }
    }

    /// Serves a TCP connection whose request head has been read: a new websocket session
    /// goes to the native engine, anything else to socketioxide. The connection gets a task
    /// of its own (not the caller's), so what routing held is freed, not kept per connection.
    fn route(&self, stream: TcpStream, head: Bytes) {
        if self.is_metrics_request(&head) {
            let server = self.metrics_server();
            let head_only = head.starts_with(b"HEAD ");
            self.spawn(async move { server.answer_metrics(stream, head_only).await });
            return;
        }
        if let Some(native) = &self.native {
            let config = self.config();
            if let Some(upgrade) = native_upgrade(&head, &config.path, &config.cors) {
                self.spawn(native.adopt(stream, head, upgrade));
                return;
            }
        }
        let peer = crate::hooks::peer_ip(&stream);
        self.serve_io(stream, peer, head);
    }

    /// Attach mode on Unix: takes over a TCP connection whose request head Node already read.
    /// `fd` is duplicated here (the caller closes its own copy on return); `head` is replayed
    /// first. Everything else (checks, reactor registration, routing, the handshake) runs on
    /// the runtime, so Node's thread, which accepts and parses every upgrade, only pays for
    /// the `dup`.
    #[cfg(unix)]
    pub fn adopt_fd(
        self: &Arc<Self>,
        fd: std::os::fd::RawFd,
        head: Bytes,
    ) -> Result<(), ServeError> {
        self.serve_duplicate(fd, move |server, stream| async move { server.route(stream, head) })
    }

    /// Duplicates connection `fd` (the caller closes its own copy on return) and, on the
    /// runtime, registers it and hands it to `serve`. A descriptor that is not a TCP stream
    /// is closed there and logged (the JS side bridges Unix-socket connections instead).
    #[cfg(unix)]
    pub(super) fn serve_duplicate<Serving>(
        self: &Arc<Self>,
        fd: std::os::fd::RawFd,
        serve: impl FnOnce(Arc<Self>, TcpStream) -> Serving + Send + 'static,
    ) -> Result<(), ServeError>
    where
        Serving: std::future::Future<Output = ()> + Send + 'static,
    {
        self.ensure_open()?;
        let socket = duplicate_fd(fd).map_err(ServeError::Adopt)?;
        let server = self.clone();
        self.spawn(async move {
            match adopt_tcp_socket(socket) {
                Ok(stream) => serve(server, stream).await,
                Err(error) => tracing::warn!(%error, "handed-over connection refused"),
            }
        });
        Ok(())
    }

    /// Serves HTTP/1 (with upgrades) on any byte stream (a bridged one), after replaying
    /// `prefix`; refuses once the server is closed.
    pub fn serve_io_checked<I>(&self, io: I, prefix: Bytes) -> Result<(), ServeError>
    where
        I: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    {
        self.ensure_open()?;
        self.serve_io(io, None, prefix);
        Ok(())
    }

    fn serve_io<I>(&self, io: I, peer: Option<std::net::IpAddr>, prefix: Bytes)
    where
        I: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    {
        self.sio.serve_io(io, peer, prefix, &self.tasks, &self.runtime, self.shutdown.clone());
    }

    /// Attach mode: answers one HTTP request (long-polling, handshake) that Node received
    /// from `peer`.
    pub async fn forward(
        &self,
        req: Request<Full<Bytes>>,
        peer: Option<std::net::IpAddr>,
    ) -> Result<Response<Bytes>, ServeError> {
        self.ensure_open()?;
        tokio::select! {
            res = self.sio.answer(req, peer) => Ok(res),
            // A long-poll still waiting after every socket was closed has nothing more to get.
            _ = self.finished.cancelled() => Err(ServeError::Closed),
        }
    }
}

fn bind(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::STREAM,
        Some(socket2::Protocol::TCP),
    )?;
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(LISTEN_BACKLOG)?;
    tokio::net::TcpListener::from_std(socket.into())
}

/// Duplicates a descriptor handed over by Node (attach mode), which closes its own copy.
#[cfg(unix)]
fn duplicate_fd(fd: std::os::fd::RawFd) -> std::io::Result<socket2::Socket> {
    use std::os::fd::FromRawFd;
    // SAFETY: fcntl on a caller-supplied descriptor only reads it; the result is checked.
    let dup = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) };
    if dup < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `dup` is a fresh descriptor that nothing else owns (closed on drop).
    Ok(unsafe { socket2::Socket::from_raw_fd(dup) })
}

/// Registers a duplicated, connected TCP socket with the tokio reactor. Must run inside the
/// runtime. The descriptor is one of Node's TCP handles, which libuv keeps non-blocking (a
/// duplicate shares the flag); `TCP_NODELAY` is refused for anything but a TCP socket, which
/// is what turns a wrong descriptor away, with no system call spent on checking.
#[cfg(unix)]
fn adopt_tcp_socket(socket: socket2::Socket) -> std::io::Result<TcpStream> {
    socket.set_nodelay(true).map_err(|error| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!(
                "the descriptor is not a TCP stream ({error}); bridge Unix-socket connections instead"
            ),
        )
    })?;
    TcpStream::from_std(socket.into())
}
