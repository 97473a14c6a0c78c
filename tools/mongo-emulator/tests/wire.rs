//! Raw wire-protocol tests: legacy handshakes, document sequences, `moreToCome`, and garbage
//! input that must only close the offending connection. Also the CLI surface.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use common::Emulator;
use mongodb::bson::{doc, Document};

const OP_REPLY: i32 = 1;
const OP_QUERY: i32 = 2004;
const OP_MSG: i32 = 2013;

fn connect(emu: &Emulator) -> TcpStream {
    let stream = TcpStream::connect(emu.address()).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
    stream
}

fn bson_bytes(d: &Document) -> Vec<u8> {
    let mut out = Vec::new();
    d.to_writer(&mut out).expect("serialize");
    out
}

fn frame(request_id: i32, op_code: i32, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend(((16 + body.len()) as i32).to_le_bytes());
    out.extend(request_id.to_le_bytes());
    out.extend(0i32.to_le_bytes());
    out.extend(op_code.to_le_bytes());
    out.extend(body);
    out
}

fn op_msg(
    request_id: i32,
    flags: u32,
    command: &Document,
    sequence: Option<(&str, &[Document])>,
) -> Vec<u8> {
    let mut body = flags.to_le_bytes().to_vec();
    body.push(0);
    body.extend(bson_bytes(command));
    if let Some((identifier, docs)) = sequence {
        let docs: Vec<u8> = docs.iter().flat_map(bson_bytes).collect();
        body.push(1);
        body.extend(((4 + identifier.len() + 1 + docs.len()) as i32).to_le_bytes());
        body.extend(identifier.as_bytes());
        body.push(0);
        body.extend(docs);
    }
    frame(request_id, OP_MSG, &body)
}

/// Reads one reply; returns `(responseTo, opcode, document)`.
fn read_reply(stream: &mut TcpStream) -> (i32, i32, Document) {
    let mut header = [0u8; 16];
    stream.read_exact(&mut header).expect("reply header");
    let field =
        |i: usize| i32::from_le_bytes([header[i], header[i + 1], header[i + 2], header[i + 3]]);
    let mut body = vec![0u8; field(0) as usize - 16];
    stream.read_exact(&mut body).expect("reply body");
    let doc_start = if field(12) == OP_REPLY { 20 } else { 5 };
    let doc = Document::from_reader(&body[doc_start..]).expect("reply document");
    (field(8), field(12), doc)
}

fn command(stream: &mut TcpStream, request_id: i32, cmd: Document) -> Document {
    stream.write_all(&op_msg(request_id, 0, &cmd, None)).expect("write");
    let (response_to, op, reply) = read_reply(stream);
    assert_eq!((response_to, op), (request_id, OP_MSG));
    reply
}

/// True if the server closes the connection (EOF or reset) within the read timeout.
fn closed_by_server(stream: &mut TcpStream) -> bool {
    let mut buf = [0u8; 64];
    matches!(stream.read(&mut buf), Ok(0) | Err(_))
        && !matches!(stream.read(&mut buf), Ok(n) if n > 0)
}

#[test]
fn legacy_op_query_handshake_gets_an_op_reply() {
    let emu = Emulator::start(&[]);
    let mut stream = connect(&emu);
    let mut body = 0i32.to_le_bytes().to_vec();
    body.extend(b"admin.$cmd\0");
    body.extend(0i32.to_le_bytes());
    body.extend((-1i32).to_le_bytes());
    body.extend(bson_bytes(&doc! { "isMaster": 1, "helloOk": true }));
    stream.write_all(&frame(11, OP_QUERY, &body)).expect("write");
    let (response_to, op, reply) = read_reply(&mut stream);
    assert_eq!((response_to, op), (11, OP_REPLY));
    assert_eq!(reply.get_bool("ismaster"), Ok(true));
    assert_eq!(reply.get_str("setName"), Ok("rs0"));

    // Anything but a handshake over OP_QUERY is refused with an error document.
    let mut body = 0i32.to_le_bytes().to_vec();
    body.extend(b"app.$cmd\0");
    body.extend(0i32.to_le_bytes());
    body.extend((-1i32).to_le_bytes());
    body.extend(bson_bytes(&doc! { "find": "x" }));
    stream.write_all(&frame(12, OP_QUERY, &body)).expect("write");
    let (_, op, reply) = read_reply(&mut stream);
    assert_eq!(op, OP_REPLY);
    assert_eq!(reply.get_i32("code"), Ok(352));
}

#[test]
fn document_sequences_more_to_come_and_checksums() {
    let emu = Emulator::start(&[]);
    let mut stream = connect(&emu);
    let docs = [doc! { "_id": 1, "x": "a" }, doc! { "_id": 2, "x": "b" }];
    stream
        .write_all(&op_msg(1, 0, &doc! { "insert": "c", "$db": "app" }, Some(("documents", &docs))))
        .expect("write");
    let (_, _, reply) = read_reply(&mut stream);
    assert_eq!(reply.get_i32("n"), Ok(2));

    // moreToCome: executed, not answered; the next reply belongs to the next request.
    let more_to_come = 1 << 1;
    stream
        .write_all(&op_msg(
            2,
            more_to_come,
            &doc! { "insert": "c", "$db": "app", "documents": [{ "_id": 3 }] },
            None,
        ))
        .expect("write");
    // checksumPresent: a trailing CRC is accepted (and not verified).
    let mut with_crc = op_msg(3, 1, &doc! { "count": "c", "$db": "app" }, None);
    with_crc.extend([0xde, 0xad, 0xbe, 0xef]);
    let len = with_crc.len() as i32;
    with_crc[..4].copy_from_slice(&len.to_le_bytes());
    stream.write_all(&with_crc).expect("write");
    let (response_to, _, reply) = read_reply(&mut stream);
    assert_eq!(response_to, 3);
    assert_eq!(reply.get_i64("n"), Ok(3));

    let reply = command(&mut stream, 4, doc! { "find": "c", "$db": "app", "filter": { "x": "b" } });
    let batch =
        reply.get_document("cursor").and_then(|c| c.get_array("firstBatch")).expect("firstBatch");
    assert_eq!(batch.len(), 1);
}

#[test]
fn garbage_closes_only_the_offending_connection() {
    let emu = Emulator::start(&[]);
    let mut healthy = connect(&emu);
    assert_eq!(command(&mut healthy, 1, doc! { "ping": 1, "$db": "admin" }).get_f64("ok"), Ok(1.0));

    let mut oversized = 16i32.to_le_bytes().to_vec();
    oversized[..4].copy_from_slice(&i32::MAX.to_le_bytes());
    oversized.extend([0u8; 12]);
    let mut truncated = op_msg(5, 0, &doc! { "ping": 1, "$db": "admin" }, None);
    truncated.truncate(truncated.len() - 3);
    let mut bad_bson = op_msg(6, 0, &doc! { "ping": 1, "$db": "admin" }, None);
    let last = bad_bson.len() - 1;
    bad_bson[last] = 0x42;
    let cases: Vec<(&str, Vec<u8>, bool)> = vec![
        ("text", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(), false),
        ("oversized length", oversized, false),
        ("negative length", (-5i32).to_le_bytes().repeat(4), false),
        ("unknown opcode", frame(7, 9999, &[0; 8]), false),
        ("bad bson", bad_bson, false),
        ("truncated then EOF", truncated, true),
    ];
    for (name, bytes, half_close) in cases {
        let mut bad = connect(&emu);
        bad.write_all(&bytes).expect("write garbage");
        if half_close {
            bad.shutdown(std::net::Shutdown::Write).expect("shutdown");
        }
        assert!(closed_by_server(&mut bad), "{name}: connection should be closed");
    }

    // The emulator and the other connection are unaffected.
    assert_eq!(command(&mut healthy, 2, doc! { "ping": 1, "$db": "admin" }).get_f64("ok"), Ok(1.0));
    // Closed connections are unregistered right after the socket closes; allow a moment.
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut request_id = 100;
    loop {
        request_id += 1;
        let status =
            command(&mut healthy, request_id, doc! { "emulatorStatus": 1, "$db": "admin" });
        if status.get_i64("connections") == Ok(1) {
            break;
        }
        assert!(Instant::now() < deadline, "connections not released: {status}");
        std::thread::sleep(Duration::from_millis(20));
    }

    // A command without $db is an error reply, not a disconnect.
    let reply = command(&mut healthy, 4, doc! { "ping": 1 });
    assert_eq!(reply.get_f64("ok"), Ok(0.0));
}

#[test]
fn help_describes_the_emulator_and_bad_arguments_fail() {
    let out = Command::new(env!("CARGO_BIN_EXE_mongo-emulator"))
        .arg("--help")
        .output()
        .expect("run --help");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("emulator") && text.contains("not a database"), "{text}");
    assert!(text.contains("emulatorRefuseConnections"));

    let out = Command::new(env!("CARGO_BIN_EXE_mongo-emulator"))
        .arg("--bogus")
        .output()
        .expect("run --bogus");
    assert_eq!(out.status.code(), Some(2));
}

fn wait_for_exit(child: &mut std::process::Child, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while child.try_wait().expect("try_wait").is_none() {
        assert!(Instant::now() < deadline, "emulator ignored {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn send_signal(pid: u32, signal: &str) {
    let status = Command::new("kill").args([signal, &pid.to_string()]).status().expect("kill");
    assert!(status.success());
}

#[test]
fn sigterm_stops_the_emulator() {
    let mut emu = Emulator::start(&[]);
    let pid = emu.child_mut().id();
    send_signal(pid, "-TERM");
    wait_for_exit(emu.child_mut(), "SIGTERM");
}

#[test]
fn sigint_stops_the_emulator_even_when_inherited_as_ignored() {
    // Like `mongo-emulator &` in a script: the shell starts it with SIGINT ignored.
    let script = format!("trap '' INT; exec '{}' --port 0", env!("CARGO_BIN_EXE_mongo-emulator"));
    let mut child = Command::new("sh")
        .args(["-c", &script])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn via sh");
    let mut line = String::new();
    let mut stdout = std::io::BufReader::new(child.stdout.take().expect("stdout"));
    std::io::BufRead::read_line(&mut stdout, &mut line).expect("URI line");
    assert!(line.starts_with("mongodb://127.0.0.1:"), "{line}");
    send_signal(child.id(), "-INT");
    wait_for_exit(&mut child, "SIGINT");
}
