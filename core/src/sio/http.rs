//! The HTTP entry point in front of the Socket.IO service: CORS, preflight, and tagging each
//! request with its connection's kill switch.

use std::{convert::Infallible, fmt::Debug, future::Future, pin::Pin, sync::Arc};

use bytes::Bytes;
use engineioxide::service::NotFoundService;
use http::{header, HeaderValue, Method, Request, Response, StatusCode, Uri};
use http_body_util::{combinators::BoxBody, BodyExt, Full};
use hyper::body::Body;
use socketioxide::service::SocketIoService;

use crate::{
    config::CorsPolicy,
    sio::{
        first_ping::{self, FirstPings, PollKind},
        io::KillSwitch,
    },
};

/// The kill switch of the connection a request arrived on, stored in the request's
/// extensions so that a socket can be aborted later (see `socketioxide::Socket::req_parts`).
#[derive(Clone, Debug)]
pub struct ConnectionKill(pub Arc<KillSwitch>);

/// The peer address of the connection a session was opened on (for the app's connection
/// info), stored in the request's extensions like [`ConnectionKill`].
#[derive(Clone, Copy, Debug)]
pub struct PeerAddr(pub std::net::IpAddr);

/// Response body: the Socket.IO service's own, or a short one of ours.
pub type EntryBody = BoxBody<Bytes, Infallible>;

/// A hyper service: CORS checks, then the Socket.IO service.
#[derive(Clone)]
pub struct HttpEntry {
    sio: SocketIoService<NotFoundService>,
    cors: Arc<CorsPolicy>,
    first_pings: Arc<FirstPings>,
    kill: Option<Arc<KillSwitch>>,
    peer: Option<PeerAddr>,
}

impl HttpEntry {
    /// An entry for `sio` with the given CORS policy and ping interval, not tied to any
    /// connection.
    pub fn new(
        sio: SocketIoService<NotFoundService>,
        cors: CorsPolicy,
        ping_interval: std::time::Duration,
    ) -> Self {
        let first_pings = Arc::new(FirstPings::new(ping_interval));
        Self { sio, cors: Arc::new(cors), first_pings, kill: None, peer: None }
    }

    /// The same entry, tagging requests with the kill switch of one connection.
    pub fn for_connection(&self, kill: Arc<KillSwitch>, peer: Option<PeerAddr>) -> Self {
        Self { kill: Some(kill), peer, ..self.clone() }
    }
}

fn short_response(status: StatusCode, text: &'static str) -> Response<EntryBody> {
    let mut res = Response::new(Full::new(Bytes::from_static(text.as_bytes())).boxed());
    *res.status_mut() = status;
    res.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    res
}

fn allow_origin_value(cors: &CorsPolicy, origin: Option<&HeaderValue>) -> Option<HeaderValue> {
    match (cors, origin) {
        (CorsPolicy::Any, _) => Some(HeaderValue::from_static("*")),
        (CorsPolicy::List(_), Some(origin)) => Some(origin.clone()),
        (CorsPolicy::List(_), None) => None,
    }
}

fn add_cors_headers<B>(res: &mut Response<B>, allow_origin: Option<HeaderValue>) {
    if let Some(value) = allow_origin {
        let headers = res.headers_mut();
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, value);
        headers.append(header::VARY, HeaderValue::from_static("Origin"));
    }
}

/// Whether the request starts an Engine.IO session (it has no `sid`). Only such requests'
/// parts are kept by socketioxide, for the socket's whole life.
fn opens_session<B>(req: &Request<B>) -> bool {
    !req.uri().query().is_some_and(|q| q.split('&').any(|pair| pair.starts_with("sid=")))
}

/// Gives the request its own copies of the URI and header values. hyper parses them as
/// slices of the connection's read buffer (8 KiB), and socketioxide keeps a socket's request
/// parts for its whole life: without the copies every idle socket pins that buffer.
fn own_request_head<B>(req: &mut Request<B>) {
    if let Ok(uri) = Uri::try_from(req.uri().to_string()) {
        *req.uri_mut() = uri;
    }
    for value in req.headers_mut().values_mut() {
        if let Ok(mut copy) = HeaderValue::from_bytes(value.as_bytes()) {
            copy.set_sensitive(value.is_sensitive());
            *value = copy;
        }
    }
}

/// Engine.IO's error bodies carry `code` as a number (`{"code":1,…}`); engineioxide writes
/// it as a string.
fn numeric_error_code(body: Bytes) -> Bytes {
    let Some(rest) = body.strip_prefix(br#"{"code":""#) else { return body };
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 || rest.get(digits) != Some(&b'"') {
        return body;
    }
    let mut fixed = br#"{"code":"#.to_vec();
    fixed.extend_from_slice(&rest[..digits]);
    fixed.extend_from_slice(&rest[digits + 1..]);
    Bytes::from(fixed)
}

/// A whole (small) response body.
async fn collect<B: Body>(body: B) -> Bytes
where
    B::Error: Debug,
{
    body.collect().await.map(|c| c.to_bytes()).unwrap_or_default()
}

type EntryFuture = Pin<Box<dyn Future<Output = Result<Response<EntryBody>, Infallible>> + Send>>;

impl<B> hyper::service::Service<Request<B>> for HttpEntry
where
    B: Body + Send + Unpin + Debug + 'static,
    B::Error: Debug,
    B::Data: Send,
{
    type Response = Response<EntryBody>;
    type Error = Infallible;
    type Future = EntryFuture;

    fn call(&self, mut req: Request<B>) -> Self::Future {
        let origin = req.headers().get(header::ORIGIN).cloned();
        let origin_str = origin.as_ref().and_then(|o| o.to_str().ok());
        if origin.is_some() && (origin_str.is_none() || !self.cors.allows(origin_str)) {
            return Box::pin(async {
                Ok(short_response(StatusCode::FORBIDDEN, "origin not allowed"))
            });
        }
        let allow_origin = allow_origin_value(&self.cors, origin.as_ref());
        if req.method() == Method::OPTIONS {
            let mut res = short_response(StatusCode::NO_CONTENT, "");
            let headers = res.headers_mut();
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static("GET, POST"),
            );
            if let Some(requested) = req.headers().get(header::ACCESS_CONTROL_REQUEST_HEADERS) {
                headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, requested.clone());
            }
            add_cors_headers(&mut res, allow_origin);
            return Box::pin(async { Ok(res) });
        }
        // Only connections hyper reads itself have a kill switch; forwarded requests (attach
        // mode) were built from owned copies already, and later polling requests are not kept.
        if let Some(kill) = &self.kill {
            req.extensions_mut().insert(ConnectionKill(kill.clone()));
            if let Some(peer) = self.peer {
                req.extensions_mut().insert(peer);
            }
            if opens_session(&req) {
                own_request_head(&mut req);
            }
        }
        let kind = self.first_pings.classify(&req);
        let fut = hyper::service::Service::call(&self.sio, req);
        let (sio, first_pings) = (self.sio.clone(), self.first_pings.clone());
        Box::pin(async move {
            let res = fut.await?;
            let mut res = match kind {
                PollKind::Other if res.status() == StatusCode::BAD_REQUEST => {
                    let (parts, body) = res.into_parts();
                    let body = numeric_error_code(collect(body).await);
                    Response::from_parts(parts, Full::new(body).boxed())
                }
                PollKind::Other => res.map(BodyExt::boxed),
                PollKind::Handshake => {
                    let (parts, body) = res.into_parts();
                    let body = collect(body).await;
                    first_pings.opened(&body);
                    Response::from_parts(parts, Full::new(body).boxed())
                }
                PollKind::FirstPoll(uri) => {
                    let (parts, body) = res.into_parts();
                    let body = collect(body).await;
                    if first_ping::is_lone_ping(&body) {
                        let _ = hyper::service::Service::call(&sio, first_ping::pong(&uri)).await;
                        hyper::service::Service::call(&sio, first_ping::poll(&uri))
                            .await?
                            .map(BodyExt::boxed)
                    } else {
                        Response::from_parts(parts, Full::new(body).boxed())
                    }
                }
            };
            add_cors_headers(&mut res, allow_origin);
            Ok(res)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_head_no_longer_points_into_the_read_buffer() {
        let path = b"/socket.io/?EIO=4&transport=websocket";
        let mut bytes = path.to_vec();
        bytes.resize(8192, b'x');
        let buffer = Bytes::from(bytes);
        let range = buffer.as_ptr() as usize..buffer.as_ptr() as usize + buffer.len();
        let inside = |p: *const u8| range.contains(&(p as usize));
        let uri = Uri::from_maybe_shared(buffer.slice(0..path.len())).unwrap();
        let mut req = Request::builder().uri(uri).body(()).unwrap();
        let mut cookie = HeaderValue::from_maybe_shared(buffer.slice(100..140)).unwrap();
        cookie.set_sensitive(true);
        req.headers_mut().insert(header::COOKIE, cookie);
        assert!(inside(req.uri().path().as_ptr()));
        assert!(inside(req.headers()[header::COOKIE].as_bytes().as_ptr()));

        own_request_head(&mut req);

        let cookie = &req.headers()[header::COOKIE];
        assert!(!inside(cookie.as_bytes().as_ptr()));
        assert!(!inside(req.uri().path().as_ptr()));
        assert_eq!(cookie.as_bytes(), &[b'x'; 40][..]);
        assert!(cookie.is_sensitive());
        assert_eq!(req.uri().query(), Some("EIO=4&transport=websocket"));
    }

    #[test]
    fn error_codes_become_numbers() {
        let fixed = numeric_error_code(Bytes::from_static(
            br#"{"code":"1","message":"Session ID unknown"}"#,
        ));
        assert_eq!(&fixed[..], br#"{"code":1,"message":"Session ID unknown"}"#);
        let other = Bytes::from_static(b"not json");
        assert_eq!(numeric_error_code(other.clone()), other);
    }

    #[test]
    fn only_requests_without_a_sid_open_a_session() {
        let request = |uri: &str| Request::builder().uri(uri).body(()).unwrap();
        assert!(opens_session(&request("/socket.io/?EIO=4&transport=websocket")));
        assert!(opens_session(&request("/socket.io/")));
        assert!(!opens_session(&request("/socket.io/?EIO=4&transport=polling&sid=abc")));
        assert!(!opens_session(&request("/socket.io/?sid=abc&EIO=4")));
    }
}
