//! The server's `/bench/*` control routes over plain HTTP/1.1 (one connection per request).

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Sends one request and returns the JSON body (`null` when empty). Non-2xx is an error.
pub async fn request(
    host: IpAddr,
    port: u16,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> io::Result<Value> {
    let mut stream = TcpStream::connect(SocketAddr::new(host, port)).await?;
    let body = body.unwrap_or("");
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await?;
    let split = crate::ws::find(&raw, b"\r\n\r\n")
        .ok_or_else(|| io::Error::other("no HTTP response head"))?;
    let head = String::from_utf8_lossy(&raw[..split]);
    let status: u16 = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let text = String::from_utf8_lossy(&raw[split + 4..]);
    if !(200..300).contains(&status) {
        return Err(io::Error::other(format!("{method} {path}: HTTP {status}: {text}")));
    }
    if text.trim().is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_str(&text)
        .map_err(|e| io::Error::other(format!("{method} {path}: bad JSON: {e}")))
}

/// `GET /bench/stats` (with a full GC first when `gc`), bounded by `limit`; errors become
/// `{"error": ...}` so a run still reports what it measured.
pub async fn stats(host: IpAddr, port: u16, gc: bool, limit: Duration) -> Value {
    let path = if gc { "/bench/stats?gc=1" } else { "/bench/stats" };
    match tokio::time::timeout(limit, request(host, port, "GET", path, None)).await {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => serde_json::json!({ "error": e.to_string() }),
        Err(_) => serde_json::json!({ "error": "stats request timed out" }),
    }
}
