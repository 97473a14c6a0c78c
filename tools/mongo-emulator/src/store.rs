//! The in-memory data: databases, collections, documents, indexes, plus the change history,
//! cluster clock and cursor table that must change atomically with them.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

use bson::{doc, oid::ObjectId, Bson, DateTime, Document};

use crate::change_stream::{delete_event, insert_event, History};
use crate::clock::ClusterClock;
use crate::cursors::CursorTable;
use crate::error::{CommandError, CommandResult};
use crate::indexes::{CreatePlan, IndexSpec, ID_INDEX_NAME};
use crate::matcher::Matcher;
use crate::namespace::Namespace;
use crate::values::unique_key;

/// Number of retryable-write replies remembered for deduplication.
const RETRY_CACHE_SIZE: usize = 10_000;

/// One collection's documents and indexes.
#[derive(Debug)]
pub struct Collection {
    docs: Vec<Document>,
    ids: HashSet<Vec<u8>>,
    indexes: Vec<IndexSpec>,
}

impl Collection {
    fn new() -> Self {
        Self { docs: Vec::new(), ids: HashSet::new(), indexes: vec![IndexSpec::id_index()] }
    }

    /// Documents in insertion order.
    pub fn docs(&self) -> &[Document] {
        &self.docs
    }

    /// Recorded indexes, `_id_` first.
    pub fn indexes(&self) -> &[IndexSpec] {
        &self.indexes
    }
}

/// Which indexes `dropIndexes` removes.
#[derive(Debug, Clone, PartialEq)]
pub enum IndexSelector {
    /// `"*"`: every index but `_id_`.
    All,
    /// Indexes by name.
    Names(Vec<String>),
    /// The index with this key pattern.
    Key(Document),
}

/// Result of an insert batch.
#[derive(Debug, Clone, PartialEq)]
pub struct InsertOutcome {
    /// Documents inserted.
    pub n: usize,
    /// `writeErrors` entries (`{ index, code, errmsg }`).
    pub write_errors: Vec<Document>,
}

/// Result of `createIndexes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CreateIndexesOutcome {
    /// The collection did not exist before.
    pub created_collection: bool,
    /// Index count before.
    pub before: usize,
    /// Index count after.
    pub after: usize,
}

/// Identifies a retryable write: session id bytes and transaction number.
pub type RetryKey = (Vec<u8>, i64);

/// Everything the emulator stores.
#[derive(Debug)]
pub struct Store {
    dbs: BTreeMap<String, BTreeMap<String, Collection>>,
    /// Cluster time source.
    pub clock: ClusterClock,
    /// Change event history.
    pub history: History,
    /// Open cursors.
    pub cursors: CursorTable,
    retry_replies: HashMap<RetryKey, Document>,
    retry_order: VecDeque<RetryKey>,
}

impl Store {
    /// An empty store keeping `history_capacity` change events per collection.
    pub fn new(history_capacity: usize) -> Self {
        let clock = ClusterClock::new();
        let history = History::new(history_capacity, clock.start());
        Self {
            dbs: BTreeMap::new(),
            clock,
            history,
            cursors: CursorTable::default(),
            retry_replies: HashMap::new(),
            retry_order: VecDeque::new(),
        }
    }

    /// The collection at `ns`, if it exists.
    pub fn collection(&self, ns: &Namespace) -> Option<&Collection> {
        self.dbs.get(&ns.db)?.get(&ns.coll)
    }

    fn collection_mut(&mut self, ns: &Namespace) -> CommandResult<&mut Collection> {
        self.dbs
            .get_mut(&ns.db)
            .and_then(|db| db.get_mut(&ns.coll))
            .ok_or_else(|| CommandError::namespace_not_found(format!("ns not found: {ns}")))
    }

    /// The collection at `ns`, created if missing; the flag tells whether it was created.
    fn ensure_collection(&mut self, ns: &Namespace) -> (&mut Collection, bool) {
        let db = self.dbs.entry(ns.db.clone()).or_default();
        let created = !db.contains_key(&ns.coll);
        (db.entry(ns.coll.clone()).or_insert_with(Collection::new), created)
    }

    /// Names of the collections in `db`.
    pub fn collection_names(&self, db: &str) -> Vec<String> {
        self.dbs.get(db).map(|c| c.keys().cloned().collect()).unwrap_or_default()
    }

    /// Names of databases holding at least one collection.
    pub fn database_names(&self) -> Vec<String> {
        self.dbs
            .iter()
            .filter(|(_, colls)| !colls.is_empty())
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// Number of collections across all databases.
    pub fn collection_count(&self) -> usize {
        self.dbs.values().map(BTreeMap::len).sum()
    }

    /// Number of documents across all collections.
    pub fn document_count(&self) -> usize {
        self.dbs.values().flat_map(BTreeMap::values).map(|c| c.docs.len()).sum()
    }

    /// Explicitly creates a collection (error 48 if it exists).
    pub fn create_collection(&mut self, ns: &Namespace) -> CommandResult<()> {
        let (_, created) = self.ensure_collection(ns);
        if created {
            Ok(())
        } else {
            Err(CommandError::namespace_exists(format!("Collection {ns} already exists.")))
        }
    }

    /// Drops a collection; returns its index count if it existed. Its change history is kept.
    pub fn drop_collection(&mut self, ns: &Namespace) -> Option<usize> {
        let db = self.dbs.get_mut(&ns.db)?;
        let coll = db.remove(&ns.coll)?;
        if db.is_empty() {
            self.dbs.remove(&ns.db);
        }
        Some(coll.indexes.len())
    }

    /// Drops every collection of `db`.
    pub fn drop_database(&mut self, db: &str) {
        self.dbs.remove(db);
    }

    /// Inserts documents (adding `_id` where missing) and records their change events.
    pub fn insert(&mut self, ns: &Namespace, docs: Vec<Document>, ordered: bool) -> InsertOutcome {
        let mut outcome = InsertOutcome { n: 0, write_errors: Vec::new() };
        let mut events = Vec::new();
        {
            let (coll, _) = self.ensure_collection(ns);
            for (index, doc) in docs.into_iter().enumerate() {
                let doc = with_id_first(doc);
                let id = doc.get("_id").cloned().unwrap_or(Bson::Null);
                let failure = if matches!(id, Bson::Array(_) | Bson::RegularExpression(_)) {
                    Some((2, format!("can't use {id} (an array or regex) for _id")))
                } else if !coll.ids.insert(unique_key(&id)) {
                    Some((
                        11000,
                        format!(
                            "E11000 duplicate key error collection: {ns} index: {ID_INDEX_NAME} \
                             dup key: {{ _id: {id} }}"
                        ),
                    ))
                } else {
                    None
                };
                if let Some((code, errmsg)) = failure {
                    outcome
                        .write_errors
                        .push(doc! { "index": index as i32, "code": code, "errmsg": errmsg });
                    if ordered {
                        break;
                    }
                    continue;
                }
                events.push(doc.clone());
                coll.docs.push(doc);
                outcome.n += 1;
            }
        }
        let wall = DateTime::now();
        for doc in events {
            let ts = self.clock.tick();
            self.history.record(ns, ts, insert_event(ns, ts, wall, &doc));
        }
        outcome
    }

    /// Deletes matching documents (at most one if `just_one`) and records delete events.
    pub fn delete(&mut self, ns: &Namespace, matcher: &Matcher, just_one: bool) -> usize {
        let Ok(coll) = self.collection_mut(ns) else {
            return 0;
        };
        let mut removed_ids = Vec::new();
        let mut i = 0;
        while i < coll.docs.len() {
            if just_one && !removed_ids.is_empty() {
                break;
            }
            if matcher.matches(&coll.docs[i]) {
                let doc = coll.docs.remove(i);
                let id = doc.get("_id").cloned().unwrap_or(Bson::Null);
                coll.ids.remove(&unique_key(&id));
                removed_ids.push(id);
            } else {
                i += 1;
            }
        }
        let wall = DateTime::now();
        for id in &removed_ids {
            let ts = self.clock.tick();
            self.history.record(ns, ts, delete_event(ns, ts, wall, id));
        }
        removed_ids.len()
    }

    /// Adds indexes, MongoDB style: identical ones are no-ops, conflicting ones fail the whole
    /// request with 85/86 and nothing is added.
    pub fn create_indexes(
        &mut self,
        ns: &Namespace,
        specs: Vec<IndexSpec>,
    ) -> CommandResult<CreateIndexesOutcome> {
        let existed = self.collection(ns).is_some();
        let current = self
            .collection(ns)
            .map(|c| c.indexes.clone())
            .unwrap_or_else(|| vec![IndexSpec::id_index()]);
        let before = current.len();
        let mut planned = current;
        for spec in specs {
            if spec.plan(&planned)? == CreatePlan::Create {
                planned.push(spec);
            }
        }
        let after = planned.len();
        let (coll, _) = self.ensure_collection(ns);
        coll.indexes = planned;
        Ok(CreateIndexesOutcome { created_collection: !existed, before, after })
    }

    /// Removes indexes; returns the index count before. Errors: 26 (no collection), 27 (no such
    /// index), 72 (the `_id_` index).
    pub fn drop_indexes(
        &mut self,
        ns: &Namespace,
        selector: &IndexSelector,
    ) -> CommandResult<usize> {
        let coll = self.collection_mut(ns)?;
        let before = coll.indexes.len();
        let doomed: Vec<String> = match selector {
            IndexSelector::All => coll
                .indexes
                .iter()
                .filter(|i| i.name != ID_INDEX_NAME)
                .map(|i| i.name.clone())
                .collect(),
            IndexSelector::Names(names) => {
                for name in names {
                    if !coll.indexes.iter().any(|i| &i.name == name) {
                        return Err(CommandError::index_not_found(format!(
                            "index not found with name [{name}]"
                        )));
                    }
                }
                names.clone()
            }
            IndexSelector::Key(key) => {
                let found = coll.indexes.iter().find(|i| {
                    crate::values::equal(
                        &Bson::Document(i.key.clone()),
                        &Bson::Document(key.clone()),
                    )
                });
                match found {
                    Some(index) => vec![index.name.clone()],
                    None => {
                        return Err(CommandError::index_not_found(format!(
                            "can't find index with key: {key}"
                        )))
                    }
                }
            }
        };
        if doomed.iter().any(|n| n == ID_INDEX_NAME) {
            return Err(CommandError::invalid_options("cannot drop _id index"));
        }
        coll.indexes.retain(|i| !doomed.contains(&i.name));
        Ok(before)
    }

    /// The stored reply of an already executed retryable write.
    pub fn retried_reply(&self, key: &RetryKey) -> Option<Document> {
        self.retry_replies.get(key).cloned()
    }

    /// Remembers the reply of a retryable write so a retry returns it instead of re-executing.
    pub fn remember_reply(&mut self, key: RetryKey, reply: Document) {
        if self.retry_replies.insert(key.clone(), reply).is_none() {
            self.retry_order.push_back(key);
        }
        while self.retry_order.len() > RETRY_CACHE_SIZE {
            if let Some(old) = self.retry_order.pop_front() {
                self.retry_replies.remove(&old);
            }
        }
    }
}

/// Returns `doc` with `_id` as its first field, generating an ObjectId if it has none.
fn with_id_first(mut doc: Document) -> Document {
    let id = doc.remove("_id").unwrap_or_else(|| Bson::ObjectId(ObjectId::new()));
    let mut out = Document::new();
    out.insert("_id", id);
    out.extend(doc);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ns() -> Namespace {
        Namespace::new("db", "c").expect("valid")
    }

    #[test]
    fn insert_assigns_ids_and_rejects_duplicates() {
        let mut store = Store::new(10);
        let out = store.insert(&ns(), vec![doc! { "a": 1 }, doc! { "_id": 5, "b": 1 }], true);
        assert_eq!(out.n, 2);
        let docs = store.collection(&ns()).expect("exists").docs();
        assert!(matches!(docs[0].get("_id"), Some(Bson::ObjectId(_))));
        let out = store.insert(&ns(), vec![doc! { "_id": 5.0 }, doc! { "_id": 6 }], true);
        assert_eq!(out.n, 0);
        assert_eq!(out.write_errors[0].get_i32("code"), Ok(11000));
        let out = store.insert(&ns(), vec![doc! { "_id": 5 }, doc! { "_id": 6 }], false);
        assert_eq!(out.n, 1);
        assert_eq!(store.history.len(), 3);
    }

    #[test]
    fn create_collection_twice_is_48_and_drop_index_missing_is_27() {
        let mut store = Store::new(10);
        assert!(store.create_collection(&ns()).is_ok());
        assert_eq!(store.create_collection(&ns()).map_err(|e| e.code), Err(48));
        let names = IndexSelector::Names(vec!["nope".into()]);
        assert_eq!(store.drop_indexes(&ns(), &names).map_err(|e| e.code), Err(27));
        let id = IndexSelector::Names(vec![ID_INDEX_NAME.into()]);
        assert_eq!(store.drop_indexes(&ns(), &id).map_err(|e| e.code), Err(72));
    }

    #[test]
    fn ttl_index_lifecycle() {
        let mut store = Store::new(10);
        let ttl = |s: i32| {
            IndexSpec::parse(&doc! {
                "key": { "createdAt": 1 }, "name": "createdAt_1", "expireAfterSeconds": s
            })
            .expect("valid")
        };
        let out = store.create_indexes(&ns(), vec![ttl(60)]).expect("created");
        assert!(out.created_collection);
        assert_eq!((out.before, out.after), (1, 2));
        let again = store.create_indexes(&ns(), vec![ttl(60)]).expect("no-op");
        assert_eq!((again.before, again.after), (2, 2));
        assert_eq!(store.create_indexes(&ns(), vec![ttl(30)]).map_err(|e| e.code), Err(85));
        let names = IndexSelector::Names(vec!["createdAt_1".into()]);
        assert_eq!(store.drop_indexes(&ns(), &names), Ok(2));
        assert!(store.create_indexes(&ns(), vec![ttl(30)]).is_ok());
    }

    #[test]
    fn delete_removes_and_records_events() {
        let mut store = Store::new(10);
        store.insert(&ns(), vec![doc! { "_id": 1, "k": "x" }, doc! { "_id": 2, "k": "x" }], true);
        let m = Matcher::parse(&doc! { "k": "x" }).expect("valid");
        assert_eq!(store.delete(&ns(), &m, true), 1);
        assert_eq!(store.delete(&ns(), &m, false), 1);
        assert_eq!(store.document_count(), 0);
        assert_eq!(store.history.len(), 4);
        // The _id can be reused after deletion.
        assert_eq!(store.insert(&ns(), vec![doc! { "_id": 1 }], true).n, 1);
    }
}
