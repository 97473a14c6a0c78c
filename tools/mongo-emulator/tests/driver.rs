//! End-to-end tests with the official `mongodb` driver against the built emulator binary.

mod common;

use std::time::{Duration, Instant};

use common::{assert_quiet, collect, numbers, server_code, Emulator};
use mongodb::bson::{doc, Bson, DateTime, Document};
use mongodb::change_stream::{
    event::{ChangeStreamEvent, OperationType},
    ChangeStream,
};
use mongodb::options::IndexOptions;
use mongodb::{Client, Collection, IndexModel};

const WAIT: Duration = Duration::from_secs(20);

fn ttl_index(seconds: u64) -> IndexModel {
    IndexModel::builder()
        .keys(doc! { "createdAt": 1 })
        .options(IndexOptions::builder().expire_after(Duration::from_secs(seconds)).build())
        .build()
}

async fn status(client: &Client) -> Document {
    client
        .database("admin")
        .run_command(doc! { "emulatorStatus": 1 })
        .await
        .expect("emulatorStatus")
}

/// `app.events` as seen by two clients: a writer, and a watcher's change stream.
struct Watched {
    writer: Client,
    coll: Collection<Document>,
    stream: ChangeStream<ChangeStreamEvent<Document>>,
    /// Kept so the watcher's connection pool lives as long as its stream.
    _watcher: Client,
}

async fn watch_events(emu: &Emulator, max_await_ms: u64) -> Watched {
    let watcher = emu.client().await;
    let writer = emu.client().await;
    let coll = writer.database("app").collection::<Document>("events");
    let stream = watcher
        .database("app")
        .collection::<Document>("events")
        .watch()
        .max_await_time(Duration::from_millis(max_await_ms))
        .await
        .expect("watch");
    Watched { writer, coll, stream, _watcher: watcher }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uri_and_hello_describe_a_replica_set_primary() {
    let emu = Emulator::start(&[]);
    let addr = emu.address();
    assert!(addr.starts_with("127.0.0.1:"), "{addr}");
    assert_eq!(emu.uri, format!("mongodb://{addr}/?replicaSet=rs0&directConnection=true"));

    let client = emu.client().await;
    let hello = client.database("admin").run_command(doc! { "hello": 1 }).await.expect("hello");
    assert_eq!(hello.get_bool("isWritablePrimary"), Ok(true));
    assert_eq!(hello.get_str("setName"), Ok("rs0"));
    assert_eq!(hello.get_array("hosts"), Ok(&vec![Bson::String(addr.clone())]));
    assert!(hello.get_i32("maxWireVersion").expect("maxWireVersion") >= 17);
    assert!(hello.contains_key("logicalSessionTimeoutMinutes"));
    assert!(!hello.contains_key("compression"), "no compressors advertised");

    let err = client
        .database("app")
        .run_command(doc! { "frobnicate": 1 })
        .await
        .expect_err("unknown command");
    assert_eq!(server_code(&err), Some((59, "CommandNotFound".to_owned())));
    assert!(err.to_string().contains("emulator: unsupported command frobnicate"));

    // Replica-set discovery without directConnection also works (hosts = the advertised address).
    let discovered =
        Client::with_uri_str(format!("mongodb://{addr}/?replicaSet=rs0")).await.expect("client");
    discovered.database("admin").run_command(doc! { "ping": 1 }).await.expect("ping via discovery");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standalone_mode_reports_no_replica_set() {
    let emu = Emulator::start(&["--standalone"]);
    assert_eq!(emu.uri, format!("mongodb://{}/?directConnection=true", emu.address()));
    let client = emu.client().await;
    let hello = client.database("admin").run_command(doc! { "hello": 1 }).await.expect("hello");
    assert_eq!(hello.get_bool("isWritablePrimary"), Ok(true));
    assert!(!hello.contains_key("setName"));
    assert!(!hello.contains_key("hosts"));

    let coll = client.database("app").collection::<Document>("events");
    let err = coll.watch().await.expect_err("standalone has no change streams");
    assert_eq!(server_code(&err).map(|c| c.0), Some(40573));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collections_ttl_indexes_and_documents() {
    let emu = Emulator::start(&[]);
    let client = emu.client().await;
    let db = client.database("app");
    db.create_collection("events").await.expect("create");
    let err = db.create_collection("events").await.expect_err("second create");
    assert_eq!(server_code(&err), Some((48, "NamespaceExists".to_owned())));

    let coll = db.collection::<Document>("events");
    let created = coll.create_index(ttl_index(3600)).await.expect("ttl index");
    assert_eq!(created.index_name, "createdAt_1");
    coll.create_index(ttl_index(3600)).await.expect("identical index is a no-op");
    let err = coll.create_index(ttl_index(60)).await.expect_err("different expireAfterSeconds");
    assert_eq!(server_code(&err), Some((85, "IndexOptionsConflict".to_owned())));

    coll.drop_index("createdAt_1").await.expect("drop index");
    let err = coll.drop_index("createdAt_1").await.expect_err("already gone");
    assert_eq!(server_code(&err), Some((27, "IndexNotFound".to_owned())));
    coll.create_index(ttl_index(60)).await.expect("re-create");

    let indexes: Vec<_> = {
        use futures_util::TryStreamExt;
        coll.list_indexes().await.expect("listIndexes").try_collect().await.expect("index cursor")
    };
    assert_eq!(indexes.len(), 2);
    let ttl = indexes.iter().find(|i| i.keys == doc! { "createdAt": 1 }).expect("ttl index listed");
    let expire = ttl.options.as_ref().and_then(|o| o.expire_after);
    assert_eq!(expire, Some(Duration::from_secs(60)));

    let now = DateTime::now();
    let result = coll
        .insert_many(vec![
            doc! { "uid": "a", "createdAt": now },
            doc! { "uid": "b", "createdAt": now },
        ])
        .await
        .expect("insert_many");
    assert_eq!(result.inserted_ids.len(), 2);
    let found = coll.find_one(doc! { "uid": "b" }).await.expect("find").expect("document");
    assert_eq!(found.get_datetime("createdAt"), Ok(&now));
    assert!(matches!(found.get("_id"), Some(Bson::ObjectId(_))));
    assert_eq!(coll.count_documents(doc! {}).await.expect("count"), 2);

    let status = status(&client).await;
    assert_eq!(status.get_i64("collections"), Ok(1));
    assert_eq!(status.get_i64("events"), Ok(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn change_stream_delivers_matching_inserts_in_order() {
    let emu = Emulator::start(&[]);
    let watcher = emu.client().await;
    let writer = emu.client().await;
    let mut stream = watcher
        .database("app")
        .collection::<Document>("events")
        .watch()
        .pipeline([doc! { "$match": { "fullDocument.uid": { "$ne": "self" } } }])
        .max_await_time(Duration::from_millis(200))
        .await
        .expect("watch");

    let coll = writer.database("app").collection::<Document>("events");
    for n in 0..10 {
        let uid = if n % 3 == 0 { "self" } else { "other" };
        coll.insert_one(doc! { "n": n, "uid": uid, "createdAt": DateTime::now() })
            .await
            .expect("insert");
    }
    let events = collect(&mut stream, 6, WAIT).await;
    assert_eq!(numbers(&events), vec![1, 2, 4, 5, 7, 8]);

    let first = &events[0];
    assert_eq!(first.operation_type, OperationType::Insert);
    let ns = first.ns.as_ref().expect("ns");
    assert_eq!((ns.db.as_str(), ns.coll.as_deref()), ("app", Some("events")));
    let full = first.full_document.as_ref().expect("fullDocument");
    assert_eq!(first.document_key.as_ref().and_then(|k| k.get("_id")), full.get("_id"));
    assert!(matches!(full.get("createdAt"), Some(Bson::DateTime(_))));
    assert!(first.cluster_time.is_some() && first.wall_time.is_some());
    assert_quiet(&mut stream, Duration::from_millis(400)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_after_and_start_after_continue_exactly_after_the_token() {
    let emu = Emulator::start(&[]);
    let client = emu.client().await;
    let coll = client.database("app").collection::<Document>("events");
    let mut stream = coll.watch().await.expect("watch");
    coll.insert_many((0..6).map(|n| doc! { "n": n })).await.expect("insert_many");
    let events = collect(&mut stream, 6, WAIT).await;
    assert_eq!(numbers(&events), vec![0, 1, 2, 3, 4, 5]);
    let token = events[2].id.clone();

    let mut resumed = coll
        .watch()
        .resume_after(token.clone())
        .max_await_time(Duration::from_millis(200))
        .await
        .expect("resume_after");
    assert_eq!(numbers(&collect(&mut resumed, 3, WAIT).await), vec![3, 4, 5]);
    assert_quiet(&mut resumed, Duration::from_millis(300)).await;

    let mut started = coll
        .watch()
        .start_after(token)
        .max_await_time(Duration::from_millis(200))
        .await
        .expect("start_after");
    assert_eq!(numbers(&collect(&mut started, 3, WAIT).await), vec![3, 4, 5]);

    // A token for the position after the last event resumes with nothing missed or repeated.
    coll.insert_one(doc! { "n": 6 }).await.expect("insert");
    assert_eq!(numbers(&collect(&mut resumed, 1, WAIT).await), vec![6]);
    let latest = resumed.resume_token().expect("resume token");
    coll.insert_one(doc! { "n": 7 }).await.expect("insert");
    let mut after_latest = coll.watch().resume_after(latest).await.expect("resume_after latest");
    assert_eq!(numbers(&collect(&mut after_latest, 1, WAIT).await), vec![7]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_older_than_the_bound_is_lost() {
    let emu = Emulator::start(&["--history", "3"]);
    let client = emu.client().await;
    let coll = client.database("app").collection::<Document>("events");
    let mut stream = coll.watch().await.expect("watch");
    let mut lagging = coll.watch().await.expect("watch");
    let mut events = Vec::new();
    for n in 0..5 {
        coll.insert_one(doc! { "n": n }).await.expect("insert");
        events.extend(collect(&mut stream, 1, WAIT).await);
    }
    assert_eq!(numbers(&events), vec![0, 1, 2, 3, 4]);

    // A cursor that fell further behind than the retained history fails instead of skipping.
    // (The driver's first call only drains the empty initial batch without a getMore.)
    let err = loop {
        match lagging.next_if_any().await {
            Ok(None) => continue,
            Ok(Some(event)) => panic!("lagging stream skipped history: {event:?}"),
            Err(e) => break e,
        }
    };
    assert_eq!(server_code(&err).map(|c| c.0), Some(286));

    let err = coll.watch().resume_after(events[0].id.clone()).await.expect_err("evicted");
    assert_eq!(server_code(&err), Some((286, "ChangeStreamHistoryLost".to_owned())));
    let mut ok = coll.watch().resume_after(events[1].id.clone()).await.expect("still retained");
    assert_eq!(numbers(&collect(&mut ok, 3, WAIT).await), vec![2, 3, 4]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn change_stream_resumes_after_all_connections_are_dropped() {
    let emu = Emulator::start(&[]);
    let Watched { writer, coll, mut stream, _watcher } = watch_events(&emu, 500).await;

    for n in 0..5 {
        coll.insert_one(doc! { "n": n }).await.expect("insert");
    }
    assert_eq!(numbers(&collect(&mut stream, 5, WAIT).await), vec![0, 1, 2, 3, 4]);

    // Keep reading in the background so the drop interrupts a blocked getMore.
    let reader = tokio::spawn(async move {
        let events = collect(&mut stream, 5, WAIT).await;
        assert_quiet(&mut stream, Duration::from_millis(1200)).await;
        numbers(&events)
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = status(&writer).await;
    let reply = writer
        .database("admin")
        .run_command(doc! { "emulatorDropConnections": 1 })
        .await
        .expect("drop connections");
    assert!(reply.get_i64("closingConnections").expect("count") >= 2);

    for n in 5..10 {
        coll.insert_one(doc! { "n": n }).await.expect("insert after drop");
    }
    assert_eq!(reader.await.expect("reader task"), vec![5, 6, 7, 8, 9]);

    let after = status(&writer).await;
    let total = |d: &Document| d.get_i64("totalConnections").expect("totalConnections");
    assert!(total(&after) > total(&before), "drivers reconnected");
    assert_eq!(after.get_i64("documents"), Ok(10), "no duplicate writes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_connections_recover_and_the_stream_misses_nothing() {
    let emu = Emulator::start(&[]);
    let Watched { writer, coll, mut stream, _watcher } = watch_events(&emu, 300).await;
    for n in 0..3 {
        coll.insert_one(doc! { "n": n }).await.expect("insert");
    }
    assert_eq!(numbers(&collect(&mut stream, 3, WAIT).await), vec![0, 1, 2]);
    let reader = tokio::spawn(async move {
        let events = collect(&mut stream, 3, WAIT).await;
        assert_quiet(&mut stream, Duration::from_millis(800)).await;
        numbers(&events)
    });

    writer
        .database("admin")
        .run_command(doc! { "emulatorRefuseConnections": 2 })
        .await
        .expect("refuse connections");
    let refused_at = Instant::now();
    // A brand-new client during the window also gets through once it ends.
    let late = Client::with_uri_str(&emu.uri).await.expect("client");
    let late_ping = tokio::spawn(async move {
        late.database("admin").run_command(doc! { "ping": 1 }).await.map(|_| ())
    });
    for n in 3..6 {
        coll.insert_one(doc! { "n": n }).await.expect("insert after refusal");
    }
    assert!(
        refused_at.elapsed() >= Duration::from_millis(1500),
        "writes went through during the refusal window ({:?})",
        refused_at.elapsed()
    );
    late_ping.await.expect("task").expect("late client ping");
    assert_eq!(reader.await.expect("reader task"), vec![3, 4, 5]);

    let status = status(&writer).await;
    assert!(status.get_i64("refusedConnections").expect("refused") >= 1);
    assert_eq!(status.get_bool("refusing"), Ok(false));
    assert_eq!(status.get_i64("documents"), Ok(6));
}
