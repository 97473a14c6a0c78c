//! Tests of `change_stream.rs`.

use super::*;

fn ns(coll: &str) -> Namespace {
    Namespace::new("db", coll).expect("valid")
}

fn history_with(events: &[(&str, u64)], capacity: usize) -> History {
    let mut h = History::new(capacity, 100);
    for (coll, ts) in events {
        let event = insert_event(&ns(coll), *ts, DateTime::now(), &doc! { "_id": *ts as i64 });
        h.record(&ns(coll), *ts, event);
    }
    h
}

fn ids(batch: &[Document]) -> Vec<i64> {
    batch
        .iter()
        .map(|e| e.get_document("fullDocument").and_then(|d| d.get_i64("_id")).expect("id"))
        .collect()
}

#[test]
fn tokens_round_trip() {
    let t = 0x6543_2100_0000_0007;
    assert_eq!(parse_token(&Bson::Document(token_doc(t))), Ok(t));
    assert!(parse_token(&Bson::Document(doc! { "_data": "zz" })).is_err());
    assert!(parse_token(&Bson::Int32(1)).is_err());
}

#[test]
fn resume_after_has_no_gaps_or_duplicates() {
    let h = history_with(&[("a", 101), ("b", 102), ("a", 103), ("a", 104)], 10);
    let req = StreamRequest::parse(
        "db",
        &Bson::String("a".into()),
        &[Bson::Document(doc! { "$changeStream": { "resumeAfter": token_doc(101) } })],
    )
    .expect("valid");
    let mut cursor = req.open(&h, 104).expect("open");
    assert_eq!(ids(&cursor.next_batch(&h, 104, 1).expect("batch")), vec![103]);
    assert_eq!(cursor.resume_token(), token_doc(103));
    assert_eq!(ids(&cursor.next_batch(&h, 104, 10).expect("batch")), vec![104]);
    assert!(cursor.next_batch(&h, 110, 10).expect("batch").is_empty());
    assert_eq!(cursor.resume_token(), token_doc(110));
}

#[test]
fn database_scope_merges_collections_in_time_order() {
    let h = history_with(&[("a", 101), ("b", 102), ("a", 103)], 10);
    let req = StreamRequest::parse(
        "db",
        &Bson::Int32(1),
        &[Bson::Document(doc! { "$changeStream": { "startAtOperationTime": to_timestamp(101) } })],
    )
    .expect("valid");
    let mut cursor = req.open(&h, 103).expect("open");
    assert_eq!(ids(&cursor.next_batch(&h, 103, 10).expect("batch")), vec![101, 102, 103]);
}

#[test]
fn match_stage_filters_but_position_advances() {
    let h = history_with(&[("a", 101), ("a", 102)], 10);
    let pipeline = [
        Bson::Document(doc! { "$changeStream": { "startAfter": token_doc(100) } }),
        Bson::Document(doc! { "$match": { "fullDocument._id": { "$ne": 101_i64 } } }),
    ];
    let req = StreamRequest::parse("db", &Bson::String("a".into()), &pipeline).expect("ok");
    let mut cursor = req.open(&h, 102).expect("open");
    assert_eq!(ids(&cursor.next_batch(&h, 102, 10).expect("batch")), vec![102]);
    assert_eq!(cursor.resume_token(), token_doc(102));
}

#[test]
fn evicted_history_is_reported_lost() {
    let h = history_with(&[("a", 101), ("a", 102), ("a", 103)], 2);
    let open = |t: u64| {
        StreamRequest::parse(
            "db",
            &Bson::String("a".into()),
            &[Bson::Document(doc! { "$changeStream": { "resumeAfter": token_doc(t) } })],
        )
        .expect("valid")
        .open(&h, 103)
    };
    assert_eq!(open(100).map(|_| ()).map_err(|e| e.code), Err(286));
    assert!(open(101).is_ok());
    assert_eq!(open(99).map(|_| ()).map_err(|e| e.code), Err(286));
}

#[test]
fn rejects_bad_options_and_stages() {
    let coll = Bson::String("a".into());
    let parse = |stage: Document| StreamRequest::parse("db", &coll, &[Bson::Document(stage)]);
    assert!(parse(doc! { "$changeStream": { "bogus": 1 } }).is_err());
    assert!(parse(doc! { "$changeStream": { "fullDocument": "sometimes" } }).is_err());
    let with_group = [
        Bson::Document(doc! { "$changeStream": {} }),
        Bson::Document(doc! { "$group": { "_id": 1 } }),
    ];
    assert!(StreamRequest::parse("db", &coll, &with_group).is_err());
}
