//! The JS byte bridge: serves a connection whose bytes only JS can read (a TLS server, or
//! any platform without descriptor handover). Slower than a handover, but correct, with
//! backpressure both ways.

use std::sync::Arc;

use bytes::Bytes;
use napi::{
    bindgen_prelude::{Buffer, Promise},
    threadsafe_function::ThreadsafeFunction,
    Status,
};
use napi_derive::napi;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt, DuplexStream, WriteHalf},
    sync::Mutex,
};

use crate::{
    binding::errors::serve_error,
    core::{errors::ServeError, server::Server},
};

/// Bytes buffered in each direction of the in-memory pipe.
const PIPE_BUFFER_BYTES: usize = 64 * 1024;
/// Largest chunk handed to JS in one call.
const READ_CHUNK_BYTES: usize = 16 * 1024;

/// `(chunk) => Promise<void>`: writes server bytes to the client socket and resolves once it
/// can take more; `null` means the server side is done (end the socket).
pub type BridgeSink =
    ThreadsafeFunction<Option<Buffer>, Promise<()>, Option<Buffer>, Status, false, true>;

/// One bridged connection, as seen from JS: feed it the client's bytes.
#[napi(js_name = "NativeBridge")]
pub struct JsBridge {
    writer: Arc<Mutex<Option<WriteHalf<DuplexStream>>>>,
}

#[napi]
impl JsBridge {
    /// Feeds bytes received from the client; resolves once the server side took them.
    #[napi(catch_unwind)]
    pub async fn write(&self, chunk: Buffer) -> napi::Result<()> {
        let data = chunk.to_vec();
        let mut writer = self.writer.lock().await;
        if let Some(writer) = writer.as_mut() {
            if writer.write_all(&data).await.is_err() {
                return Err(serve_error(ServeError::Closed));
            }
        }
        Ok(())
    }

    /// The client is done sending (its socket ended or closed).
    #[napi(catch_unwind)]
    pub async fn end(&self) -> napi::Result<()> {
        if let Some(mut writer) = self.writer.lock().await.take() {
            let _ = writer.shutdown().await;
        }
        Ok(())
    }
}

/// Starts serving a bridged connection: `head` is replayed first, server bytes go to `sink`.
pub fn open(server: &Arc<Server>, head: Bytes, sink: BridgeSink) -> napi::Result<JsBridge> {
    let (client_end, server_end) = tokio::io::duplex(PIPE_BUFFER_BYTES);
    server.serve_io_checked(server_end, head).map_err(serve_error)?;
    let (mut reader, writer) = tokio::io::split(client_end);
    server.spawn(async move {
        let mut buf = vec![0u8; READ_CHUNK_BYTES];
        loop {
            let chunk = match reader.read(&mut buf).await {
                Ok(0) | Err(_) => None,
                Ok(n) => Some(Buffer::from(buf[..n].to_vec())),
            };
            let last = chunk.is_none();
            let delivered = match sink.call_async_catch(chunk).await {
                Ok(promise) => promise.await.is_ok(),
                Err(_) => false,
            };
            if last || !delivered {
                break;
            }
        }
    });
    Ok(JsBridge { writer: Arc::new(Mutex::new(Some(writer))) })
}
