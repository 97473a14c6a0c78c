//! MongoDB wire protocol framing: reading OP_MSG / legacy OP_QUERY requests and writing OP_MSG /
//! OP_REPLY responses. Everything here treats the input as untrusted: sizes are checked before
//! use and BSON nesting depth is bounded before the `bson` crate parses it.

use std::fmt;
use std::io;
use std::sync::atomic::{AtomicI32, Ordering};

use bson::{Bson, Document};
use tokio::io::{AsyncRead, AsyncReadExt};

/// OP_REPLY, the legacy reply opcode (only used to answer OP_QUERY handshakes).
pub const OP_REPLY: i32 = 1;
/// OP_QUERY, the legacy query opcode (only `hello`/`isMaster` handshakes are answered).
pub const OP_QUERY: i32 = 2004;
/// OP_COMPRESSED; the emulator advertises no compressors, so it never expects one.
pub const OP_COMPRESSED: i32 = 2012;
/// OP_MSG, the modern command opcode.
pub const OP_MSG: i32 = 2013;

/// Largest message accepted or produced (what `hello` advertises as `maxMessageSizeBytes`).
pub const MAX_MESSAGE_SIZE: usize = 48_000_000;
/// Largest single BSON document (what `hello` advertises as `maxBsonObjectSize`).
pub const MAX_BSON_OBJECT_SIZE: usize = 16 * 1024 * 1024;
/// Deepest BSON nesting accepted from clients (MongoDB allows roughly the same).
pub const MAX_BSON_DEPTH: usize = 180;

const HEADER_LEN: usize = 16;
const FLAG_CHECKSUM_PRESENT: u32 = 1;
const FLAG_MORE_TO_COME: u32 = 1 << 1;

/// A decoded client request.
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    /// An OP_MSG command; document sequences are already merged into `command` as arrays.
    Msg {
        /// The client's request id, echoed as `responseTo`.
        request_id: i32,
        /// The client does not want a reply (`moreToCome` flag).
        more_to_come: bool,
        /// The command document.
        command: Document,
    },
    /// A legacy OP_QUERY message.
    Query {
        /// The client's request id, echoed as `responseTo`.
        request_id: i32,
        /// `db.collection` the query targets (`admin.$cmd` for commands).
        collection: String,
        /// The query document, unwrapped from `$query` if needed.
        query: Document,
    },
}

/// Why a message could not be read; the connection is closed in either case.
#[derive(Debug)]
pub enum WireError {
    /// The socket failed or closed mid-message.
    Io(io::Error),
    /// The bytes do not form a valid message.
    Malformed(String),
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WireError::Io(e) => write!(f, "i/o error: {e}"),
            WireError::Malformed(m) => write!(f, "malformed message: {m}"),
        }
    }
}

impl std::error::Error for WireError {}

impl From<io::Error> for WireError {
    fn from(e: io::Error) -> Self {
        WireError::Io(e)
    }
}

fn malformed(msg: impl Into<String>) -> WireError {
    WireError::Malformed(msg.into())
}

/// Reads one request. Returns `Ok(None)` on a clean end of stream between messages.
pub async fn read_request<R: AsyncRead + Unpin>(
    reader: &mut R,
) -> Result<Option<Request>, WireError> {
    let mut header = [0u8; HEADER_LEN];
    let first = reader.read(&mut header).await?;
    if first == 0 {
        return Ok(None);
    }
    reader.read_exact(&mut header[first..]).await?;
    let length = le_i32(&header, 0)?;
    let request_id = le_i32(&header, 4)?;
    let op_code = le_i32(&header, 12)?;
    let length = usize::try_from(length).map_err(|_| malformed("negative message length"))?;
    if !(HEADER_LEN..=MAX_MESSAGE_SIZE).contains(&length) {
        return Err(malformed(format!("message length {length} out of range")));
    }
    let body_len = length - HEADER_LEN;
    // Grow the buffer as bytes arrive instead of trusting the declared length up front.
    let mut body = Vec::with_capacity(body_len.min(64 * 1024));
    let read = reader.take(body_len as u64).read_to_end(&mut body).await?;
    if read != body_len {
        return Err(WireError::Io(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "connection closed mid-message",
        )));
    }
    parse_body(op_code, request_id, &body).map(Some)
}

/// Decodes a message body (everything after the 16-byte header).
pub fn parse_body(op_code: i32, request_id: i32, body: &[u8]) -> Result<Request, WireError> {
    match op_code {
        OP_MSG => parse_op_msg(request_id, body),
        OP_QUERY => parse_op_query(request_id, body),
        OP_COMPRESSED => {
            Err(malformed("OP_COMPRESSED received but the emulator advertises no compressors"))
        }
        other => Err(malformed(format!("unsupported opcode {other}"))),
    }
}

fn parse_op_msg(request_id: i32, body: &[u8]) -> Result<Request, WireError> {
    let flags = le_u32(body, 0)?;
    let mut end = body.len();
    if flags & FLAG_CHECKSUM_PRESENT != 0 {
        // The CRC-32C trailer is not verified: loopback TCP already guarantees integrity.
        end = end
            .checked_sub(4)
            .filter(|e| *e >= 4)
            .ok_or_else(|| malformed("checksum flag set but no room for a checksum"))?;
    }
    let mut pos = 4;
    let mut command: Option<Document> = None;
    let mut sequences: Vec<(String, Vec<Bson>)> = Vec::new();
    while pos < end {
        let kind = body[pos];
        pos += 1;
        match kind {
            0 => {
                let (doc, next) = read_document(body, pos, end)?;
                if command.replace(doc).is_some() {
                    return Err(malformed("more than one kind 0 section"));
                }
                pos = next;
            }
            1 => {
                let size = usize::try_from(le_i32(body, pos)?)
                    .map_err(|_| malformed("negative sequence size"))?;
                let seq_end = pos
                    .checked_add(size)
                    .filter(|e| *e <= end && size >= 5)
                    .ok_or_else(|| malformed("document sequence size out of range"))?;
                let (identifier, mut cursor) = read_cstring(body, pos + 4, seq_end)?;
                let mut docs = Vec::new();
                while cursor < seq_end {
                    let (doc, next) = read_document(body, cursor, seq_end)?;
                    docs.push(Bson::Document(doc));
                    cursor = next;
                }
                sequences.push((identifier, docs));
                pos = seq_end;
            }
            other => return Err(malformed(format!("unknown section kind {other}"))),
        }
    }
    let mut command = command.ok_or_else(|| malformed("OP_MSG without a kind 0 section"))?;
    for (identifier, docs) in sequences {
        if command.contains_key(&identifier) {
            return Err(malformed(format!(
                "document sequence {identifier} duplicates a command field"
            )));
        }
        command.insert(identifier, docs);
    }
    Ok(Request::Msg { request_id, more_to_come: flags & FLAG_MORE_TO_COME != 0, command })
}

fn parse_op_query(request_id: i32, body: &[u8]) -> Result<Request, WireError> {
    let _flags = le_i32(body, 0)?;
    let (collection, pos) = read_cstring(body, 4, body.len())?;
    // numberToSkip and numberToReturn are irrelevant for command queries.
    let pos = pos
        .checked_add(8)
        .filter(|p| *p <= body.len())
        .ok_or_else(|| malformed("truncated OP_QUERY"))?;
    let (mut query, next) = read_document(body, pos, body.len())?;
    if next < body.len() {
        // Optional returnFieldsSelector: validate it but ignore its content.
        read_document(body, next, body.len())?;
    }
    if let Some(Bson::Document(inner)) = query.get("$query") {
        query = inner.clone();
    }
    Ok(Request::Query { request_id, collection, query })
}

fn le_i32(bytes: &[u8], at: usize) -> Result<i32, WireError> {
    let slice = bytes.get(at..at + 4).ok_or_else(|| malformed("truncated integer"))?;
    let mut raw = [0u8; 4];
    raw.copy_from_slice(slice);
    Ok(i32::from_le_bytes(raw))
}

fn le_u32(bytes: &[u8], at: usize) -> Result<u32, WireError> {
    le_i32(bytes, at).map(|v| v as u32)
}

fn read_cstring(bytes: &[u8], start: usize, end: usize) -> Result<(String, usize), WireError> {
    let region = bytes.get(start..end).ok_or_else(|| malformed("truncated string"))?;
    let nul =
        region.iter().position(|b| *b == 0).ok_or_else(|| malformed("unterminated string"))?;
    let text = std::str::from_utf8(&region[..nul]).map_err(|_| malformed("invalid UTF-8"))?;
    Ok((text.to_owned(), start + nul + 1))
}

/// Parses the BSON document starting at `start`, which must end by `end`.
fn read_document(bytes: &[u8], start: usize, end: usize) -> Result<(Document, usize), WireError> {
    let len = usize::try_from(le_i32(bytes, start)?)
        .map_err(|_| malformed("negative document length"))?;
    let doc_end = start
        .checked_add(len)
        .filter(|e| *e <= end && len >= 5)
        .ok_or_else(|| malformed("document length out of range"))?;
    let raw = &bytes[start..doc_end];
    check_bson(raw, MAX_BSON_DEPTH)?;
    let doc = Document::from_reader(raw).map_err(|e| malformed(format!("invalid BSON: {e}")))?;
    Ok((doc, doc_end))
}

/// Validates document framing and nesting depth without recursion deeper than `depth_left`.
fn check_bson(doc: &[u8], depth_left: usize) -> Result<(), WireError> {
    if depth_left == 0 {
        return Err(malformed("BSON nesting too deep"));
    }
    let len = usize::try_from(le_i32(doc, 0)?).map_err(|_| malformed("bad document length"))?;
    if len != doc.len() || len < 5 || doc[len - 1] != 0 {
        return Err(malformed("bad document framing"));
    }
    let mut pos = 4;
    let last = len - 1;
    while pos < last {
        let element_type = doc[pos];
        let (_, after_name) = read_cstring(doc, pos + 1, last)?;
        pos = after_name;
        let size = |p: usize| -> Result<usize, WireError> {
            usize::try_from(le_i32(doc, p)?).map_err(|_| malformed("negative size"))
        };
        let fixed = |n: usize| -> Result<usize, WireError> {
            pos.checked_add(n).filter(|e| *e <= last).ok_or_else(|| malformed("truncated value"))
        };
        pos = match element_type {
            0x01 | 0x09 | 0x11 | 0x12 => fixed(8)?,
            0x02 | 0x0D | 0x0E => fixed(4 + size(pos)?)?,
            0x03 | 0x04 => {
                let end = fixed(size(pos)?)?;
                check_bson(&doc[pos..end], depth_left - 1)?;
                end
            }
            0x05 => fixed(5 + size(pos)?)?,
            0x06 | 0x0A | 0x7F | 0xFF => pos,
            0x07 => fixed(12)?,
            0x08 => fixed(1)?,
            0x0B => {
                let (_, p) = read_cstring(doc, pos, last)?;
                let (_, p) = read_cstring(doc, p, last)?;
                p
            }
            0x0C => fixed(4 + size(pos)? + 12)?,
            0x0F => {
                let end = fixed(size(pos)?)?;
                let string_len = size(pos + 4)?;
                let scope_start = (pos + 8)
                    .checked_add(string_len)
                    .filter(|s| *s < end)
                    .ok_or_else(|| malformed("bad code with scope"))?;
                check_bson(&doc[scope_start..end], depth_left - 1)?;
                end
            }
            0x10 => fixed(4)?,
            0x13 => fixed(16)?,
            other => return Err(malformed(format!("unknown BSON element type {other:#x}"))),
        };
    }
    Ok(())
}

static NEXT_REQUEST_ID: AtomicI32 = AtomicI32::new(1);

fn next_request_id() -> i32 {
    NEXT_REQUEST_ID.fetch_add(1, Ordering::Relaxed)
}

fn serialize(doc: &Document) -> Result<Vec<u8>, WireError> {
    let mut bytes = Vec::new();
    doc.to_writer(&mut bytes).map_err(|e| malformed(format!("cannot serialize reply: {e}")))?;
    Ok(bytes)
}

fn frame(op_code: i32, response_to: i32, payload: &[u8]) -> Result<Vec<u8>, WireError> {
    let total = HEADER_LEN + payload.len();
    if total > MAX_MESSAGE_SIZE {
        return Err(malformed(format!("reply of {total} bytes is too large")));
    }
    let mut out = Vec::with_capacity(total);
    // `total` <= MAX_MESSAGE_SIZE fits in i32.
    out.extend_from_slice(&(total as i32).to_le_bytes());
    out.extend_from_slice(&next_request_id().to_le_bytes());
    out.extend_from_slice(&response_to.to_le_bytes());
    out.extend_from_slice(&op_code.to_le_bytes());
    out.extend_from_slice(payload);
    Ok(out)
}

/// Encodes an OP_MSG reply with a single kind 0 section.
pub fn encode_msg(response_to: i32, reply: &Document) -> Result<Vec<u8>, WireError> {
    let doc = serialize(reply)?;
    let mut payload = Vec::with_capacity(doc.len() + 5);
    payload.extend_from_slice(&0u32.to_le_bytes());
    payload.push(0);
    payload.extend_from_slice(&doc);
    frame(OP_MSG, response_to, &payload)
}

/// Encodes a legacy OP_REPLY carrying one document.
pub fn encode_reply(response_to: i32, reply: &Document) -> Result<Vec<u8>, WireError> {
    let doc = serialize(reply)?;
    let mut payload = Vec::with_capacity(doc.len() + 20);
    payload.extend_from_slice(&0i32.to_le_bytes()); // responseFlags
    payload.extend_from_slice(&0i64.to_le_bytes()); // cursorID
    payload.extend_from_slice(&0i32.to_le_bytes()); // startingFrom
    payload.extend_from_slice(&1i32.to_le_bytes()); // numberReturned
    payload.extend_from_slice(&doc);
    frame(OP_REPLY, response_to, &payload)
}

#[cfg(test)]
#[path = "wire_tests.rs"]
mod tests;
