//! Tests of `wire.rs`.

use super::*;
use bson::doc;

fn doc_bytes(d: &Document) -> Vec<u8> {
    serialize(d).expect("serializable")
}

fn op_msg_body(flags: u32, sections: &[u8]) -> Vec<u8> {
    let mut body = flags.to_le_bytes().to_vec();
    body.extend_from_slice(sections);
    body
}

#[test]
fn parses_kind0_and_document_sequence() {
    let mut sections = vec![0];
    sections.extend(doc_bytes(&doc! { "insert": "c", "$db": "d" }));
    let docs = [doc_bytes(&doc! { "a": 1 }), doc_bytes(&doc! { "a": 2 })];
    let ident = b"documents\0";
    let size = 4 + ident.len() + docs.iter().map(Vec::len).sum::<usize>();
    sections.push(1);
    sections.extend((size as i32).to_le_bytes());
    sections.extend(ident);
    for d in &docs {
        sections.extend(d);
    }
    let req = parse_body(OP_MSG, 7, &op_msg_body(0, &sections)).expect("valid");
    let Request::Msg { request_id, command, more_to_come } = req else {
        panic!("expected OP_MSG");
    };
    assert_eq!(request_id, 7);
    assert!(!more_to_come);
    assert_eq!(command, doc! { "insert": "c", "$db": "d", "documents": [{ "a": 1 }, { "a": 2 }] });
}

#[test]
fn accepts_checksum_trailer() {
    let mut sections = vec![0];
    sections.extend(doc_bytes(&doc! { "ping": 1 }));
    sections.extend([1, 2, 3, 4]);
    assert!(parse_body(OP_MSG, 1, &op_msg_body(FLAG_CHECKSUM_PRESENT, &sections)).is_ok());
}

#[test]
fn rejects_garbage_without_panicking() {
    let cases: Vec<Vec<u8>> = vec![
        vec![],
        vec![0, 0, 0],
        op_msg_body(0, &[0, 5, 0, 0]),
        op_msg_body(0, &[0, 0xff, 0xff, 0xff, 0x7f, 0]),
        op_msg_body(0, &[9]),
        op_msg_body(0, &[1, 3, 0, 0, 0]),
        op_msg_body(FLAG_CHECKSUM_PRESENT, &[]),
    ];
    for body in cases {
        assert!(parse_body(OP_MSG, 1, &body).is_err(), "{body:?}");
        assert!(parse_body(OP_QUERY, 1, &body).is_err(), "{body:?}");
    }
    // Every truncation of a valid message fails cleanly.
    let mut sections = vec![0];
    sections.extend(doc_bytes(&doc! { "a": { "b": [1, "x", { "c": null }] } }));
    let body = op_msg_body(0, &sections);
    for cut in 0..body.len() {
        assert!(parse_body(OP_MSG, 1, &body[..cut]).is_err());
    }
}

#[test]
fn random_mutations_never_panic() {
    let mut sections = vec![0];
    sections.extend(doc_bytes(&doc! {
        "insert": "c", "$db": "d", "n": 1.5, "s": "text", "b": true,
        "nested": { "arr": [1, { "x": null }, [2, 3]], "t": bson::Timestamp { time: 1, increment: 2 } },
    }));
    sections.push(1);
    let seq = doc_bytes(&doc! { "a": 1 });
    sections.extend(((4 + 10 + seq.len()) as i32).to_le_bytes());
    sections.extend(b"documents\0");
    sections.extend(&seq);
    let base = op_msg_body(0, &sections);
    assert!(parse_body(OP_MSG, 1, &base).is_ok());
    // Deterministic xorshift so failures are reproducible.
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _ in 0..20_000 {
        let mut body = base.clone();
        for _ in 0..(next() % 4 + 1) {
            let at = (next() as usize) % body.len();
            body[at] = next() as u8;
        }
        let cut = (next() as usize) % (body.len() + 1);
        let _ = parse_body(OP_MSG, 1, &body);
        let _ = parse_body(OP_MSG, 1, &body[..cut]);
        let _ = parse_body(OP_QUERY, 1, &body);
    }
}

#[test]
fn rejects_excessive_nesting() {
    let mut d = doc! { "leaf": 1 };
    for _ in 0..(MAX_BSON_DEPTH + 5) {
        d = doc! { "n": d };
    }
    let mut sections = vec![0];
    sections.extend(doc_bytes(&d));
    assert!(parse_body(OP_MSG, 1, &op_msg_body(0, &sections)).is_err());
}

#[test]
fn parses_legacy_query() {
    let mut body = 0i32.to_le_bytes().to_vec();
    body.extend(b"admin.$cmd\0");
    body.extend(0i32.to_le_bytes());
    body.extend((-1i32).to_le_bytes());
    body.extend(doc_bytes(&doc! { "$query": { "isMaster": 1 } }));
    let req = parse_body(OP_QUERY, 3, &body).expect("valid");
    assert_eq!(
        req,
        Request::Query {
            request_id: 3,
            collection: "admin.$cmd".into(),
            query: doc! { "isMaster": 1 },
        }
    );
}

#[test]
fn encodes_op_msg_reply() {
    let bytes = encode_msg(42, &doc! { "ok": 1.0 }).expect("encodes");
    assert_eq!(le_i32(&bytes, 0).expect("len") as usize, bytes.len());
    assert_eq!(le_i32(&bytes, 8).expect("responseTo"), 42);
    assert_eq!(le_i32(&bytes, 12).expect("opcode"), OP_MSG);
    let back = parse_body(OP_MSG, 0, &bytes[16..]).expect("round trip");
    assert!(matches!(back, Request::Msg { command, .. } if command == doc! { "ok": 1.0 }));
}
