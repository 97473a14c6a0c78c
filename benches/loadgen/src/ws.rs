//! A minimal RFC 6455 websocket client connection: the upgrade request, masked client frames,
//! and in-place parsing of the server's frames from one growable read buffer.

use std::io;

use tokio::io::{AsyncReadExt, AsyncWriteExt, Interest};
use tokio::net::TcpStream;

/// 16 bytes base64-encoded (RFC 6455's sample nonce); the server's `Sec-WebSocket-Accept` is not checked (the peer is
/// our own server on loopback, and a wrong upgrade fails on the first frame anyway).
const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
/// Largest frame accepted from the server; a bigger one is a protocol error here.
const MAX_FRAME: usize = 16 << 20;

/// What the server sent, as far as the client cares.
pub enum Event<'a> {
    /// A complete text message (Engine.IO packet).
    Text(&'a [u8]),
    /// The server closed the websocket.
    Close,
}

/// One websocket connection with its read buffer and pending output.
pub struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    frag: Option<Vec<u8>>,
    out: Vec<u8>,
    rng: u32,
}

impl Conn {
    /// Sends the upgrade request for `path_query` and waits for `101 Switching Protocols`.
    /// Bytes after the response head stay buffered as websocket frames.
    pub async fn upgrade(
        mut stream: TcpStream,
        host: &str,
        path_query: &str,
        read_buf: usize,
        seed: u32,
    ) -> io::Result<Conn> {
        let request = format!(
            "GET {path_query} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await?;
        let mut conn = Conn {
            stream,
            buf: vec![0; read_buf.max(512)],
            start: 0,
            end: 0,
            frag: None,
            out: Vec::new(),
            rng: seed | 1,
        };
        loop {
            if let Some(pos) = find(&conn.buf[..conn.end], b"\r\n\r\n") {
                let head = &conn.buf[..pos];
                if !head.starts_with(b"HTTP/1.1 101") {
                    let line = head.split(|b| *b == b'\r').next().unwrap_or_default();
                    return Err(io::Error::other(format!(
                        "upgrade refused: {}",
                        String::from_utf8_lossy(line)
                    )));
                }
                conn.start = pos + 4;
                return Ok(conn);
            }
            if conn.fill().await? == 0 {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "closed during upgrade"));
            }
        }
    }

    /// Reads more bytes (compacting or growing the buffer first). Returns 0 at end of stream.
    pub async fn fill(&mut self) -> io::Result<usize> {
        if self.end == self.buf.len() {
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            } else {
                let grown = self.buf.len() * 2;
                self.buf.resize(grown, 0);
            }
        }
        let space = self.buf.len() - self.end;
        let n = self.stream.read(&mut self.buf[self.end..]).await?;
        self.end += n;
        if n > 0 && n < space {
            // A short read took all the kernel had: clear the read readiness now, so the next
            // `fill` waits for the next epoll event instead of making a `recvfrom` that only
            // finds nothing (half of this process's syscalls during a burst). Safe on this
            // one-thread runtime: no readiness event is processed between the read and this,
            // and data arriving meanwhile raises a new one (epoll is edge-triggered).
            let nothing = || Err::<(), _>(io::Error::from(io::ErrorKind::WouldBlock));
            let _ = self.stream.try_io(Interest::READABLE, nothing);
        }
        Ok(n)
    }

    /// Calls `on_event` for every complete message buffered; answers websocket pings. Stops
    /// early (keeping the rest buffered) when `on_event` returns `false`; returns whether it
    /// was stopped that way.
    pub fn drain(
        &mut self,
        mut on_event: impl FnMut(Event<'_>, &mut Outbox<'_>) -> bool,
    ) -> io::Result<bool> {
        let Conn { buf, start, end, frag, out, rng, .. } = self;
        let mut outbox = Outbox { out, rng };
        let mut stopped = false;
        while let Some(frame) = parse(&buf[*start..*end])? {
            let payload = &buf[*start + frame.offset..*start + frame.offset + frame.len];
            *start += frame.offset + frame.len;
            let keep_going = match frame.opcode {
                0x1 | 0x2 if frame.fin && frag.is_none() => {
                    frame.opcode == 0x2 || on_event(Event::Text(payload), &mut outbox)
                }
                0x0..=0x2 => {
                    let acc = frag.get_or_insert_with(Vec::new);
                    acc.extend_from_slice(payload);
                    if acc.len() > MAX_FRAME {
                        return Err(io::Error::other("fragmented message too large"));
                    }
                    match frame.fin {
                        true => {
                            let whole = frag.take().unwrap_or_default();
                            on_event(Event::Text(&whole), &mut outbox)
                        }
                        false => true,
                    }
                }
                0x8 => on_event(Event::Close, &mut outbox),
                0x9 => {
                    outbox.frame(0xA, payload);
                    true
                }
                _ => true, // pong or reserved: ignored
            };
            if !keep_going {
                stopped = true;
                break;
            }
        }
        if *start == *end {
            *start = 0;
            *end = 0;
        }
        Ok(stopped)
    }

    /// Writes whatever `drain` or `send_text` queued.
    pub async fn flush(&mut self) -> io::Result<()> {
        if !self.out.is_empty() {
            self.stream.write_all(&self.out).await?;
            self.out.clear();
        }
        Ok(())
    }

    /// Bytes allocated for this connection's buffers (for memory reports).
    pub fn buffer_bytes(&self) -> usize {
        self.buf.capacity() + self.out.capacity()
    }
}

/// Where message handlers queue replies.
pub struct Outbox<'a> {
    out: &'a mut Vec<u8>,
    rng: &'a mut u32,
}

impl Outbox<'_> {
    /// Queues a text frame.
    pub fn text(&mut self, payload: &[u8]) {
        self.frame(0x1, payload);
    }

    /// Queues a masked frame (clients must mask, RFC 6455 §5.3).
    fn frame(&mut self, opcode: u8, payload: &[u8]) {
        // xorshift32: cheap, unpredictable enough for a mask on loopback.
        let mut x = *self.rng;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        *self.rng = x;
        let mask = x.to_le_bytes();
        self.out.push(0x80 | opcode);
        let len = payload.len();
        if len < 126 {
            self.out.push(0x80 | len as u8);
        } else if len <= 0xFFFF {
            self.out.push(0x80 | 126);
            self.out.extend_from_slice(&(len as u16).to_be_bytes());
        } else {
            self.out.push(0x80 | 127);
            self.out.extend_from_slice(&(len as u64).to_be_bytes());
        }
        self.out.extend_from_slice(&mask);
        self.out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i & 3]));
    }
}

struct Frame {
    fin: bool,
    opcode: u8,
    offset: usize,
    len: usize,
}

/// Parses one frame header from `b`; `None` when the frame is not complete yet.
fn parse(b: &[u8]) -> io::Result<Option<Frame>> {
    if b.len() < 2 {
        return Ok(None);
    }
    let fin = b[0] & 0x80 != 0;
    let opcode = b[0] & 0x0F;
    let masked = b[1] & 0x80 != 0;
    let (mut len, mut offset) = ((b[1] & 0x7F) as usize, 2);
    if len == 126 {
        if b.len() < 4 {
            return Ok(None);
        }
        len = u16::from_be_bytes([b[2], b[3]]) as usize;
        offset = 4;
    } else if len == 127 {
        if b.len() < 10 {
            return Ok(None);
        }
        let mut raw = [0u8; 8];
        raw.copy_from_slice(&b[2..10]);
        len = u64::from_be_bytes(raw) as usize;
        offset = 10;
    }
    if masked {
        return Err(io::Error::other("server sent a masked frame"));
    }
    if len > MAX_FRAME {
        return Err(io::Error::other("frame too large"));
    }
    if b.len() < offset + len {
        return Ok(None);
    }
    Ok(Some(Frame { fin, opcode, offset, len }))
}

/// First index of `needle` in `hay`. Compares only where the first byte matches: comparing
/// every window was the load generator's largest user-space cost (a `memcmp` call per byte of
/// every message it parsed), CPU that the servers it measures share.
pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    let (&first, rest) = needle.split_first()?;
    let last_start = hay.len().checked_sub(needle.len())?;
    (0..=last_start).find(|&i| hay[i] == first && &hay[i + 1..i + needle.len()] == rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_short_and_medium_frames() {
        let f = parse(&[0x81, 0x02, b'4', b'2']).unwrap().unwrap();
        assert!(f.fin && f.opcode == 1 && f.offset == 2 && f.len == 2);
        let mut medium = vec![0x81, 126, 0x01, 0x00];
        medium.extend(std::iter::repeat_n(b'x', 256));
        assert_eq!(parse(&medium).unwrap().unwrap().len, 256);
        assert!(parse(&medium[..100]).unwrap().is_none());
    }

    #[test]
    fn finds_the_first_occurrence() {
        assert_eq!(find(b"a\"t\":1,\"t\":2", b"\"t\":"), Some(1));
        assert_eq!(find(b"\"t\"", b"\"t\":"), None);
        assert_eq!(find(b"abc", b"c"), Some(2));
        assert_eq!(find(b"abc", b""), None);
        assert_eq!(find(b"", b"a"), None);
    }

    #[test]
    fn masks_client_frames() {
        let (mut out, mut rng) = (Vec::new(), 7u32);
        Outbox { out: &mut out, rng: &mut rng }.text(b"3");
        assert_eq!(out[0], 0x81);
        assert_eq!(out[1], 0x81);
        assert_eq!(out[6] ^ out[2], b'3');
    }
}
