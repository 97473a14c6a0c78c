//! RFC 6455 framing as a server sees it: masked frames in (reassembled into messages), plain
//! frames out. No extensions are negotiated, so reserved bits must be clear.

use bytes::Bytes;

/// Opcode of a text frame.
pub const TEXT: u8 = 0x1;
/// Opcode of a binary frame.
pub const BINARY: u8 = 0x2;
const CONTINUATION: u8 = 0x0;
const CLOSE: u8 = 0x8;
const PING: u8 = 0x9;
const PONG: u8 = 0xA;

/// Longest control frame payload (RFC 6455 §5.5).
const MAX_CONTROL_PAYLOAD: usize = 125;

/// Why incoming bytes are not acceptable websocket frames. The connection is then closed
/// with [`FrameError::close_code`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// Clients must mask every frame (RFC 6455 §5.1).
    #[error("frame from the client is not masked")]
    Unmasked,
    /// An extension bit is set, but no extension was negotiated.
    #[error("reserved frame bits are set")]
    ReservedBits,
    /// An opcode RFC 6455 does not define.
    #[error("unknown frame opcode {0}")]
    UnknownOpcode(u8),
    /// A control frame that is fragmented or longer than 125 bytes.
    #[error("malformed control frame")]
    BadControlFrame,
    /// A continuation without a message to continue, or a new message inside a fragmented one.
    #[error("unexpected continuation frame")]
    BadContinuation,
    /// A message longer than the configured limit (`maxHttpBufferSize`).
    #[error("message longer than {limit} bytes")]
    TooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// A text message that is not UTF-8.
    #[error("text message is not valid UTF-8")]
    InvalidUtf8,
}

impl FrameError {
    /// The websocket close code that tells the client why (RFC 6455 §7.4.1).
    pub fn close_code(&self) -> u16 {
        match self {
            FrameError::TooLarge { .. } => 1009,
            FrameError::InvalidUtf8 => 1007,
            _ => 1002,
        }
    }
}

/// What a complete incoming frame or message means to the connection.
#[derive(Debug, PartialEq, Eq)]
pub enum Incoming {
    /// A complete text message.
    Text(String),
    /// A complete binary message.
    Binary(Bytes),
    /// A ping: answer with a pong carrying the same bytes.
    Ping(Vec<u8>),
    /// The client closes the connection.
    Close,
}

/// Reassembles frames into messages across reads. Holds no memory while nothing is partial.
#[derive(Debug)]
pub struct Decoder {
    limit: usize,
    /// Bytes of a frame that has not fully arrived yet.
    partial: Vec<u8>,
    /// A fragmented message being collected: its opcode and the payload so far.
    fragments: Option<(u8, Vec<u8>)>,
}

struct FrameHead {
    fin: bool,
    opcode: u8,
    mask: [u8; 4],
    header_len: usize,
    payload_len: usize,
}

impl Decoder {
    /// A decoder that refuses messages longer than `limit` bytes.
    pub fn new(limit: usize) -> Self {
        Self { limit, partial: Vec::new(), fragments: None }
    }

    /// Takes bytes just read from the client (unmasking them in place) and appends every
    /// message or control frame they complete to `out`.
    pub fn feed(&mut self, data: &mut [u8], out: &mut Vec<Incoming>) -> Result<(), FrameError> {
        if self.partial.is_empty() {
            let used = self.decode_all(data, out)?;
            if used < data.len() {
                self.partial.extend_from_slice(&data[used..]);
            }
            return Ok(());
        }
        let mut buffered = std::mem::take(&mut self.partial);
        buffered.extend_from_slice(data);
        let used = self.decode_all(&mut buffered, out)?;
        if used < buffered.len() {
            buffered.drain(..used);
            self.partial = buffered;
        }
        Ok(())
    }

    fn decode_all(
        &mut self,
        data: &mut [u8],
        out: &mut Vec<Incoming>,
    ) -> Result<usize, FrameError> {
        let mut used = 0;
        while let Some(head) = self.parse_head(&data[used..])? {
            let total = head.header_len + head.payload_len;
            if data.len() - used < total {
                break;
            }
            let payload = &mut data[used + head.header_len..used + total];
            unmask(payload, head.mask);
            self.accept(&head, payload, out)?;
            used += total;
        }
        Ok(used)
    }

    fn parse_head(&self, data: &[u8]) -> Result<Option<FrameHead>, FrameError> {
        if data.len() < 2 {
            return Ok(None);
        }
        let (first, second) = (data[0], data[1]);
        if first & 0x70 != 0 {
            return Err(FrameError::ReservedBits);
        }
        if second & 0x80 == 0 {
            return Err(FrameError::Unmasked);
        }
        let fin = first & 0x80 != 0;
        let opcode = first & 0x0F;
        if !matches!(opcode, CONTINUATION | TEXT | BINARY | CLOSE | PING | PONG) {
            return Err(FrameError::UnknownOpcode(opcode));
        }
        let (payload_len, len_bytes) = match second & 0x7F {
            126 if data.len() < 4 => return Ok(None),
            126 => (usize::from(u16::from_be_bytes([data[2], data[3]])), 2),
            127 if data.len() < 10 => return Ok(None),
            127 => {
                let mut len = [0u8; 8];
                len.copy_from_slice(&data[2..10]);
                (usize::try_from(u64::from_be_bytes(len)).unwrap_or(usize::MAX), 8)
            }
            short => (usize::from(short), 0),
        };
        if opcode >= CLOSE && (!fin || payload_len > MAX_CONTROL_PAYLOAD) {
            return Err(FrameError::BadControlFrame);
        }
        let already = self.fragments.as_ref().map_or(0, |(_, bytes)| bytes.len());
        if payload_len.saturating_add(already) > self.limit {
            return Err(FrameError::TooLarge { limit: self.limit });
        }
        let header_len = 2 + len_bytes + 4;
        if data.len() < header_len {
            return Ok(None);
        }
        let mut mask = [0u8; 4];
        mask.copy_from_slice(&data[header_len - 4..header_len]);
        Ok(Some(FrameHead { fin, opcode, mask, header_len, payload_len }))
    }

    fn accept(
        &mut self,
        head: &FrameHead,
        payload: &[u8],
        out: &mut Vec<Incoming>,
    ) -> Result<(), FrameError> {
        match head.opcode {
            PING => out.push(Incoming::Ping(payload.to_vec())),
            PONG => {}
            CLOSE => out.push(Incoming::Close),
            CONTINUATION => {
                let (opcode, mut bytes) =
                    self.fragments.take().ok_or(FrameError::BadContinuation)?;
                bytes.extend_from_slice(payload);
                if head.fin {
                    out.push(message(opcode, bytes)?);
                } else {
                    self.fragments = Some((opcode, bytes));
                }
            }
            opcode => {
                if self.fragments.is_some() {
                    return Err(FrameError::BadContinuation);
                }
                if head.fin {
                    out.push(message(opcode, payload.to_vec())?);
                } else {
                    self.fragments = Some((opcode, payload.to_vec()));
                }
            }
        }
        Ok(())
    }
}

fn message(opcode: u8, bytes: Vec<u8>) -> Result<Incoming, FrameError> {
    if opcode == TEXT {
        String::from_utf8(bytes).map(Incoming::Text).map_err(|_| FrameError::InvalidUtf8)
    } else {
        Ok(Incoming::Binary(Bytes::from(bytes)))
    }
}

fn unmask(payload: &mut [u8], mask: [u8; 4]) {
    for (i, byte) in payload.iter_mut().enumerate() {
        *byte ^= mask[i & 3];
    }
}

/// The length of a frame header for `len` payload bytes (server frames carry no mask).
fn header_len(len: usize) -> usize {
    match len {
        0..=125 => 2,
        126..=65535 => 4,
        _ => 10,
    }
}

/// One unmasked frame whose payload is the concatenation of `parts`, in a single allocation.
pub fn encode(opcode: u8, parts: &[&[u8]]) -> Bytes {
    let len: usize = parts.iter().map(|p| p.len()).sum();
    let mut frame = Vec::with_capacity(header_len(len) + len);
    frame.push(0x80 | opcode);
    match len {
        0..=125 => frame.push(len as u8),
        126..=65535 => {
            frame.push(126);
            frame.extend_from_slice(&(len as u16).to_be_bytes());
        }
        _ => {
            frame.push(127);
            frame.extend_from_slice(&(len as u64).to_be_bytes());
        }
    }
    for part in parts {
        frame.extend_from_slice(part);
    }
    Bytes::from(frame)
}

/// A close frame with `code` (RFC 6455 §5.5.1).
pub fn close(code: u16) -> Bytes {
    encode(CLOSE, &[&code.to_be_bytes()])
}

/// The pong answering a ping with `payload`.
pub fn pong(payload: &[u8]) -> Bytes {
    encode(PONG, &[payload])
}

/// A masked client frame, as a browser sends it (for tests).
#[cfg(test)]
pub(crate) fn client_frame(opcode: u8, fin: bool, payload: &[u8], mask: [u8; 4]) -> Vec<u8> {
    let server = encode(opcode, &[payload]);
    let mut frame = server[..header_len(payload.len())].to_vec();
    if !fin {
        frame[0] &= 0x7F;
    }
    frame[1] |= 0x80;
    frame.extend_from_slice(&mask);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i & 3]));
    frame
}

#[cfg(test)]
mod tests {
    use super::*;

    const MASK: [u8; 4] = [0x12, 0x34, 0x56, 0x78];

    fn decode(decoder: &mut Decoder, bytes: &[u8]) -> Result<Vec<Incoming>, FrameError> {
        let mut out = Vec::new();
        decoder.feed(&mut bytes.to_vec(), &mut out)?;
        Ok(out)
    }

    #[test]
    fn decodes_messages_of_every_length_class() {
        for len in [0, 5, 125, 126, 65535, 65536, 200_000] {
            let text = "a".repeat(len);
            let mut decoder = Decoder::new(1 << 20);
            let got =
                decode(&mut decoder, &client_frame(TEXT, true, text.as_bytes(), MASK)).unwrap();
            assert_eq!(got, vec![Incoming::Text(text)], "length {len}");
        }
    }

    #[test]
    fn reassembles_frames_split_across_reads_byte_by_byte() {
        let mut bytes = client_frame(TEXT, true, b"40{\"token\":\"t\"}", MASK);
        bytes.extend(client_frame(BINARY, true, &[1, 2, 3], MASK));
        let mut decoder = Decoder::new(1024);
        let mut out = Vec::new();
        for byte in bytes {
            decoder.feed(&mut [byte], &mut out).unwrap();
        }
        assert_eq!(
            out,
            vec![
                Incoming::Text("40{\"token\":\"t\"}".into()),
                Incoming::Binary(Bytes::from_static(&[1, 2, 3]))
            ]
        );
        assert!(decoder.partial.capacity() > 0 || decoder.partial.is_empty());
    }

    #[test]
    fn joins_fragments_with_control_frames_between() {
        let mut bytes = client_frame(TEXT, false, b"42[\"a\",", MASK);
        bytes.extend(client_frame(PING, true, b"hi", MASK));
        bytes.extend(client_frame(CONTINUATION, true, b"1]", MASK));
        let got = decode(&mut Decoder::new(1024), &bytes).unwrap();
        assert_eq!(got, vec![Incoming::Ping(b"hi".to_vec()), Incoming::Text("42[\"a\",1]".into())]);
    }

    #[test]
    fn refuses_what_the_rfc_forbids() {
        let mut unmasked = encode(TEXT, &[b"x"]).to_vec();
        assert_eq!(decode(&mut Decoder::new(10), &unmasked), Err(FrameError::Unmasked));
        unmasked[0] |= 0x40;
        assert_eq!(decode(&mut Decoder::new(10), &unmasked), Err(FrameError::ReservedBits));
        assert_eq!(
            decode(&mut Decoder::new(10), &client_frame(0x3, true, b"", MASK)),
            Err(FrameError::UnknownOpcode(3))
        );
        assert_eq!(
            decode(&mut Decoder::new(10), &client_frame(PING, false, b"", MASK)),
            Err(FrameError::BadControlFrame)
        );
        assert_eq!(
            decode(&mut Decoder::new(10), &client_frame(CONTINUATION, true, b"", MASK)),
            Err(FrameError::BadContinuation)
        );
        assert_eq!(
            decode(&mut Decoder::new(10), &client_frame(TEXT, true, &[0xff], MASK)),
            Err(FrameError::InvalidUtf8)
        );
    }

    #[test]
    fn refuses_messages_over_the_limit_before_they_arrive() {
        let frame = client_frame(TEXT, true, &[b'a'; 2000], MASK);
        let mut decoder = Decoder::new(1000);
        assert_eq!(decode(&mut decoder, &frame[..10]), Err(FrameError::TooLarge { limit: 1000 }));
        let mut fragmented = client_frame(TEXT, false, &[b'a'; 600], MASK);
        fragmented.extend(client_frame(CONTINUATION, true, &[b'a'; 600], MASK));
        assert_eq!(
            decode(&mut Decoder::new(1000), &fragmented),
            Err(FrameError::TooLarge { limit: 1000 })
        );
    }

    #[test]
    fn encodes_server_frames_unmasked() {
        assert_eq!(&encode(TEXT, &[b"4", b"2"])[..], &[0x81, 2, b'4', b'2']);
        let long = encode(BINARY, &[&[0u8; 300]]);
        assert_eq!(&long[..4], &[0x82, 126, 1, 44]);
        assert_eq!(&close(1000)[..], &[0x88, 2, 0x03, 0xE8]);
    }
}
