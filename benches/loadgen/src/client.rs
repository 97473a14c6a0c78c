//! One simulated Modelence browser client: websocket upgrade, Engine.IO open, Socket.IO CONNECT
//! with `{ token }`, `joinChannel`, then counting the channel's broadcasts until the end.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::time::Duration;

use tokio::net::TcpSocket;
use tokio::sync::Semaphore;

use crate::config::Config;
use crate::sys::{bind_address_no_port, mono_us};
use crate::ws::{Conn, Event, Outbox};

/// What one client saw of the broadcasts.
#[derive(Default)]
pub struct Record {
    /// One bit per expected sequence number (allocated on the first message).
    seen: Vec<u64>,
    /// Distinct sequence numbers received.
    pub received: u64,
    /// Highest sequence number seen plus one (0: none yet), for the order check.
    next_seq: u64,
    /// Whether the connection ended before the run did.
    pub closed: bool,
    /// Whether the client got through `joinedChannel`.
    pub joined: bool,
}

/// State every client task writes into; single-threaded, so a `RefCell` is enough.
#[derive(Default)]
pub struct Shared {
    /// Per client, by index.
    pub records: Vec<Record>,
    /// One latency sample per delivery, µs from the server's send stamp to receipt.
    pub latencies: Vec<u32>,
    /// One sample per delivery of a burst, µs from the burst's start (its `b` stamp: when
    /// the app began its loop of broadcast calls) to receipt.
    pub from_burst_start: Vec<u32>,
    /// Deliveries counted once (distinct sequence numbers).
    pub delivered: u64,
    /// Deliveries of a sequence number the client already had.
    pub duplicates: u64,
    /// Deliveries that arrived after a higher sequence number.
    pub out_of_order: u64,
    /// Channel messages without a readable `t`/`s`, or with `s` out of range.
    pub malformed: u64,
    /// Earliest send stamp seen (µs, monotonic).
    pub first_send: u64,
    /// Latest receipt (µs, monotonic).
    pub last_recv: u64,
    /// Clients that completed the join.
    pub joined: usize,
    /// Clients that gave up after their retries.
    pub failed: usize,
    /// Handshake attempts that failed and were retried.
    pub retries: u64,
    /// Joined clients whose connection ended before the run did.
    pub closed: usize,
    /// Handshake durations (µs): TCP connect to `joinedChannel`.
    pub handshake_us: Vec<u32>,
    /// When the last join completed.
    pub last_join_at: u64,
    /// Failures by kind.
    pub errors: BTreeMap<String, u64>,
    /// Bytes of client-side buffers (this process's memory, not the server's).
    pub buffer_bytes: usize,
}

impl Shared {
    /// State for `clients` clients.
    pub fn new(clients: usize) -> Self {
        Shared {
            records: (0..clients).map(|_| Record::default()).collect(),
            first_send: u64::MAX,
            ..Default::default()
        }
    }

    fn error(&mut self, kind: String) {
        *self.errors.entry(kind).or_default() += 1;
    }

    fn deliver(&mut self, idx: usize, seq: u64, stamps: Stamps, now: u64, expected: u64) {
        let Stamps { sent, burst_start } = stamps;
        if seq >= expected {
            self.malformed += 1;
            return;
        }
        let rec = &mut self.records[idx];
        if rec.seen.is_empty() {
            rec.seen = vec![0; expected.div_ceil(64) as usize];
        }
        let (word, bit) = ((seq / 64) as usize, 1u64 << (seq % 64));
        if rec.seen[word] & bit != 0 {
            self.duplicates += 1;
            return;
        }
        rec.seen[word] |= bit;
        rec.received += 1;
        if seq + 1 < rec.next_seq {
            self.out_of_order += 1;
        } else {
            rec.next_seq = seq + 1;
        }
        self.delivered += 1;
        self.latencies.push(now.saturating_sub(sent).min(u32::MAX as u64) as u32);
        if let Some(start) = burst_start {
            self.from_burst_start.push(now.saturating_sub(start).min(u32::MAX as u64) as u32);
        }
        self.first_send = self.first_send.min(sent);
        self.last_recv = self.last_recv.max(now);
    }
}

/// A delivery's stamps: `t`, when the server made the broadcast call (or, paced, when the
/// round was due), and `b`, when the burst it belongs to began (bursts only).
#[derive(Clone, Copy)]
struct Stamps {
    sent: u64,
    burst_start: Option<u64>,
}

/// The channel client `idx` joins: `category:<prefix><idx % channels>`.
pub fn channel_of(cfg: &Config, idx: usize) -> String {
    format!("{}:{}{}", cfg.category, cfg.prefix, idx % cfg.channels)
}

/// Runs client `idx`: handshake (bounded by `sem`, retried), then receives until the process ends.
pub async fn run(idx: usize, cfg: Rc<Config>, shared: Rc<RefCell<Shared>>, sem: Rc<Semaphore>) {
    let channel = channel_of(&cfg, idx);
    let mut attempt = 0;
    let conn = loop {
        let Ok(permit) = sem.acquire().await else { return };
        let t0 = mono_us();
        let result = tokio::time::timeout(
            Duration::from_secs_f64(cfg.handshake_timeout_secs),
            handshake(idx, &cfg, &channel),
        )
        .await;
        drop(permit);
        let joined = {
            let mut sh = shared.borrow_mut();
            match result {
                Ok(Ok(conn)) => {
                    let now = mono_us();
                    sh.joined += 1;
                    sh.records[idx].joined = true;
                    sh.handshake_us.push((now - t0).min(u32::MAX as u64) as u32);
                    sh.last_join_at = sh.last_join_at.max(now);
                    sh.buffer_bytes += conn.buffer_bytes();
                    Some(conn)
                }
                Ok(Err(e)) => {
                    sh.error(e.to_string());
                    None
                }
                Err(_) => {
                    sh.error("handshake timeout".into());
                    None
                }
            }
        };
        if let Some(conn) = joined {
            break conn;
        }
        attempt += 1;
        {
            let mut sh = shared.borrow_mut();
            if attempt > cfg.retries {
                sh.failed += 1;
                return;
            }
            sh.retries += 1;
        }
        tokio::time::sleep(Duration::from_millis(50 * attempt as u64)).await;
    };
    let reason = receive(idx, conn, &cfg, &shared).await;
    let mut sh = shared.borrow_mut();
    sh.records[idx].closed = true;
    sh.closed += 1;
    sh.error(format!("closed after join: {reason}"));
}

#[derive(PartialEq)]
enum Phase {
    Open,
    Connect,
    Join,
    Joined,
}

/// TCP connect, websocket upgrade, Engine.IO open, CONNECT with the token, join the channel.
async fn handshake(idx: usize, cfg: &Config, channel: &str) -> io::Result<Conn> {
    let socket = TcpSocket::new_v4()?;
    if cfg.src_addrs > 1 {
        let src = Ipv4Addr::new(127, 0, 0, (1 + idx % cfg.src_addrs) as u8);
        bind_address_no_port(socket.as_raw_fd());
        socket.bind(SocketAddr::new(src.into(), 0))?;
    }
    socket.set_nodelay(true)?;
    let stream = socket.connect(SocketAddr::new(cfg.host, cfg.port)).await?;
    let seed = (idx as u32).wrapping_mul(2_654_435_761);
    let mut conn =
        Conn::upgrade(stream, &cfg.host_header(), &cfg.path_query(), cfg.read_buf, seed).await?;
    let mut phase = Phase::Open;
    let mut failure: Option<String> = None;
    loop {
        conn.drain(|event, out| {
            let Event::Text(m) = event else {
                failure = Some("websocket closed during handshake".into());
                return false;
            };
            match m {
                [b'0', ..] if phase == Phase::Open => {
                    out.text(format!("40{{\"token\":\"{}{idx}\"}}", cfg.token_prefix).as_bytes());
                    phase = Phase::Connect;
                }
                [b'4', b'0', ..] if phase == Phase::Connect => {
                    out.text(
                        format!("42[\"joinChannel\",{}]", serde_json::Value::from(channel))
                            .as_bytes(),
                    );
                    phase = Phase::Join;
                }
                [b'4', b'4', ..] => {
                    failure = Some(format!("connect_error {}", String::from_utf8_lossy(m)))
                }
                b"2" => out.text(b"3"),
                _ if m.starts_with(b"42[\"joinedChannel\"") => {
                    phase = Phase::Joined;
                    return false;
                }
                _ if m.starts_with(b"42[\"joinError\"") => failure = Some("joinError".into()),
                [b'1', ..] | [b'4', b'1', ..] => {
                    failure = Some("disconnected during handshake".into())
                }
                _ => {}
            }
            failure.is_none()
        })?;
        conn.flush().await?;
        if let Some(failure) = failure {
            return Err(io::Error::other(failure));
        }
        if phase == Phase::Joined {
            return Ok(conn);
        }
        if conn.fill().await? == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "closed during handshake"));
        }
    }
}

/// Receives until the connection ends; returns why it ended.
async fn receive(idx: usize, mut conn: Conn, cfg: &Config, shared: &RefCell<Shared>) -> String {
    let prefix = format!("42[{},", serde_json::Value::from(cfg.category.as_str())).into_bytes();
    let mut now = mono_us();
    loop {
        let mut ended: Option<&str> = None;
        let drained = {
            let mut sh = shared.borrow_mut();
            conn.drain(|event, out: &mut Outbox<'_>| {
                let Event::Text(m) = event else {
                    ended = Some("websocket close");
                    return false;
                };
                if m.starts_with(&prefix) {
                    let rest = &m[prefix.len()..];
                    match (number_after(rest, b"\"t\":"), number_after(rest, b"\"s\":")) {
                        (Some(sent), Some(seq)) => {
                            let burst_start = number_after(rest, b"\"b\":");
                            sh.deliver(idx, seq, Stamps { sent, burst_start }, now, cfg.count)
                        }
                        _ => sh.malformed += 1,
                    }
                } else if m == b"2" {
                    out.text(b"3");
                } else if matches!(m, [b'1', ..] | [b'4', b'1', ..]) {
                    ended = Some("disconnect packet");
                    return false;
                }
                true
            })
        };
        if let Err(e) = drained {
            return format!("protocol error: {e}");
        }
        if let Some(reason) = ended {
            return reason.into();
        }
        if let Err(e) = conn.flush().await {
            return format!("write: {e}");
        }
        match conn.fill().await {
            Ok(0) => return "eof".into(),
            Ok(_) => now = mono_us(),
            Err(e) => return format!("read: {e}"),
        }
    }
}

/// The unsigned integer right after `key` in `text`.
fn number_after(text: &[u8], key: &[u8]) -> Option<u64> {
    let at = crate::ws::find(text, key)? + key.len();
    let digits = text[at..].iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 || digits > 19 {
        return None;
    }
    text[at..at + digits]
        .iter()
        .try_fold(0u64, |n, d| n.checked_mul(10)?.checked_add((d - b'0') as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_stamp_and_sequence() {
        let msg = br#"{"t":1234567890123,"s":42,"p":"xx"}]"#;
        assert_eq!(number_after(msg, b"\"t\":"), Some(1_234_567_890_123));
        assert_eq!(number_after(msg, b"\"s\":"), Some(42));
        assert_eq!(number_after(msg, b"\"q\":"), None);
    }

    #[test]
    fn counts_losses_duplicates_and_order() {
        let mut sh = Shared::new(1);
        let stamps = Stamps { sent: 10, burst_start: None };
        for seq in [0, 2, 1, 2] {
            sh.deliver(0, seq, stamps, 15, 4);
        }
        assert_eq!((sh.delivered, sh.duplicates, sh.out_of_order), (3, 1, 1));
        assert_eq!(sh.records[0].received, 3);
        sh.deliver(0, 9, stamps, 15, 4);
        assert_eq!(sh.malformed, 1);
        assert!(sh.from_burst_start.is_empty(), "no burst stamp, no sample");
    }

    #[test]
    fn measures_a_burst_from_its_start_too() {
        let mut sh = Shared::new(1);
        sh.deliver(0, 0, Stamps { sent: 40, burst_start: Some(10) }, 50, 1);
        assert_eq!(
            (sh.latencies.as_slice(), sh.from_burst_start.as_slice()),
            (&[10][..], &[40][..])
        );
        let msg = br#"{"t":40,"b":10,"s":0,"p":""}"#;
        assert_eq!(number_after(msg, b"\"b\":"), Some(10));
    }
}
