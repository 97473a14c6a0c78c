//! The websocket handshake of a new Engine.IO session: recognizing a request the native
//! engine serves, and the `101 Switching Protocols` answer (RFC 6455 §4.2).
//!
//! Only a clean, allowed upgrade that opens a websocket-only Engine.IO v4 session is taken
//! here; anything else (polling, an upgrade of a polling session, other protocol versions,
//! refused origins, odd requests) goes to the general HTTP path, which answers it as
//! socket.io would.

use base64::Engine as _;
use sha1::{Digest, Sha1};

use crate::{config::CorsPolicy, hooks::MAX_USER_AGENT_LEN};

/// The GUID every websocket server appends to the client's key (RFC 6455 §1.3).
const WEBSOCKET_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// Most headers a request head may have and still be taken by the native engine.
const MAX_HEADERS: usize = 64;

/// A request the native engine takes: how long its head is, and the accept key to answer.
#[derive(Debug, PartialEq, Eq)]
pub struct NativeUpgrade {
    /// Length of the request head in bytes; anything after it is websocket data.
    pub head_len: usize,
    /// The `Sec-WebSocket-Accept` value.
    pub accept: String,
    /// The request's `User-Agent`, when it is short enough to keep.
    pub user_agent: Option<String>,
}

/// Where a complete request head ends in `buf` (after its blank line), if it has arrived.
pub fn head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4)
}

fn header<'a>(headers: &'a [httparse::Header<'a>], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case(name))
        .and_then(|h| std::str::from_utf8(h.value).ok())
        .map(str::trim)
}

fn has_token(value: Option<&str>, token: &str) -> bool {
    value.is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
}

/// Whether the query opens a websocket-only Engine.IO v4 session.
fn opens_websocket_session(query: &str) -> bool {
    let pairs = || query.split('&');
    pairs().any(|p| p == "EIO=4")
        && pairs().any(|p| p == "transport=websocket")
        && !pairs().any(|p| p.starts_with("sid="))
}

fn on_path(request_path: &str, path: &str) -> bool {
    let path = path.trim_end_matches('/');
    request_path == path || request_path.strip_prefix(path) == Some("/")
}

/// Recognizes a request head that the native engine serves; `None` leaves it to the
/// general HTTP path.
pub fn native_upgrade(head: &[u8], path: &str, cors: &CorsPolicy) -> Option<NativeUpgrade> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut headers);
    let httparse::Status::Complete(head_len) = request.parse(head).ok()? else { return None };
    if request.method != Some("GET") || request.version != Some(1) {
        return None;
    }
    let (request_path, query) = request.path?.split_once('?')?;
    if !on_path(request_path, path) || !opens_websocket_session(query) {
        return None;
    }
    let headers = request.headers;
    if !has_token(header(headers, "upgrade"), "websocket")
        || !has_token(header(headers, "connection"), "upgrade")
        || header(headers, "sec-websocket-version") != Some("13")
    {
        return None;
    }
    // An Origin that is not text is refused on the HTTP path, as every other refused origin.
    if let Some(origin) = headers.iter().find(|h| h.name.eq_ignore_ascii_case("origin")) {
        let origin = std::str::from_utf8(origin.value).ok()?;
        if !cors.allows(Some(origin)) {
            return None;
        }
    }
    let key = header(headers, "sec-websocket-key").filter(|k| !k.is_empty())?;
    let user_agent = header(headers, "user-agent")
        .filter(|ua| ua.len() <= MAX_USER_AGENT_LEN)
        .map(str::to_owned);
    Some(NativeUpgrade { head_len, accept: accept_key(key), user_agent })
}

/// `Sec-WebSocket-Accept` for the client's `Sec-WebSocket-Key`.
pub fn accept_key(key: &str) -> String {
    let mut hasher = Sha1::new();
    hasher.update(key.as_bytes());
    hasher.update(WEBSOCKET_GUID.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(hasher.finalize())
}

/// The `101 Switching Protocols` response head.
pub fn switching_protocols(accept: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(target: &str, extra: &str) -> Vec<u8> {
        format!(
            "GET {target} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n{extra}\r\n"
        )
        .into_bytes()
    }

    #[test]
    fn computes_the_rfc_sample_accept_key() {
        assert_eq!(accept_key("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    }

    #[test]
    fn takes_new_websocket_sessions_on_the_path() {
        let head = request("/socket.io/?EIO=4&transport=websocket", "");
        let got = native_upgrade(&head, "/socket.io", &CorsPolicy::Any).unwrap();
        assert_eq!(got.head_len, head.len());
        let mut with_data = head.clone();
        with_data.extend_from_slice(b"\x81\x80....");
        assert_eq!(
            native_upgrade(&with_data, "/socket.io", &CorsPolicy::Any).unwrap().head_len,
            head.len()
        );
    }

    #[test]
    fn leaves_everything_else_to_the_http_path() {
        let any = CorsPolicy::Any;
        for target in [
            "/socket.io/?EIO=4&transport=polling",
            "/socket.io/?EIO=4&transport=websocket&sid=abc",
            "/socket.io/?EIO=3&transport=websocket",
            "/other/?EIO=4&transport=websocket",
            "/socket.io/",
        ] {
            assert_eq!(native_upgrade(&request(target, ""), "/socket.io", &any), None, "{target}");
        }
        let target = "/socket.io/?EIO=4&transport=websocket";
        assert_eq!(native_upgrade(&request(target, "")[..40], "/socket.io", &any), None);
        let listed = CorsPolicy::List(vec!["https://good.example".into()]);
        assert_eq!(
            native_upgrade(
                &request(target, "Origin: https://evil.example\r\n"),
                "/socket.io",
                &listed
            ),
            None
        );
        assert!(native_upgrade(
            &request(target, "Origin: https://good.example\r\n"),
            "/socket.io",
            &listed
        )
        .is_some());
    }

    #[test]
    fn leaves_a_non_text_origin_to_the_http_path() {
        let target = "/socket.io/?EIO=4&transport=websocket";
        let mut head = request(target, "Origin: https://good.example~\r\n");
        let at = head.iter().position(|&b| b == b'~').unwrap();
        head[at] = 0xff;
        let listed = CorsPolicy::List(vec!["https://good.example".into()]);
        assert_eq!(native_upgrade(&head, "/socket.io", &listed), None);
        head[at] = b'/';
        assert_eq!(native_upgrade(&head, "/socket.io", &listed), None, "another origin");
        assert!(native_upgrade(&head, "/socket.io", &CorsPolicy::Any).is_some());
    }
}
