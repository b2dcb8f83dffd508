//! Hot reads from memory: each cached dataset's response serialised once per fetch, not per read.
//!
//! A read's body has two parts. What only a new fetch changes — the dataset's key, parameters,
//! records, their count and when they last changed — is serialised once into `Entry::head`
//! and kept here. What changes between reads of the same result — `fetched_at` (an unchanged
//! refresh moves it), the age, whether it is stale, the breaker's state, a refresh job — is
//! written per read after it ([`Entry::body`]).
//!
//! Entries are checked against the store at most every `api.read_cache_revalidate` (one cheap
//! query of the dataset's content hash and `fetched_at`, no records), so a result a worker in
//! another process stored is served within that time; a worker of this process drops the entry
//! at once ([`ReadCache::forget`]). The cache holds at most `api.read_cache_size` bytes; the
//! oldest entries go first.

use std::collections::{HashMap, VecDeque};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::value::RawValue;

use crate::resilience::BreakerState;
use crate::store::Dataset;

/// One dataset's serialised response, as of its last fetch.
pub struct Entry {
    /// `{"dataset":…,"records":[…],"record_count":…,"changed_at":…` — the body without its end.
    head: Bytes,
    pub content_hash: String,
    pub fetched_at: DateTime<Utc>,
    /// `fetched_at` as JSON, written once.
    fetched_at_json: Box<[u8]>,
}

#[derive(Serialize)]
struct Head<'a> {
    dataset: &'a str,
    connector: &'a str,
    params: &'a serde_json::Map<String, serde_json::Value>,
    records: &'a RawValue,
    record_count: i64,
    changed_at: DateTime<Utc>,
}

/// What a read adds to an [`Entry`].
pub struct ReadState<'a> {
    pub age: Duration,
    pub stale: bool,
    pub breaker: BreakerState,
    pub refresh_job: Option<&'a str>,
}

impl Entry {
    pub fn new(d: &Dataset) -> Result<Entry, serde_json::Error> {
        let head = Head {
            dataset: &d.key,
            connector: &d.connector,
            params: &d.params.0,
            records: &d.records.0,
            record_count: d.record_count,
            changed_at: d.changed_at,
        };
        let mut head = serde_json::to_vec(&head)?;
        // Opened again for the fields of each read.
        head.pop();
        // Held for as long as the entry is: no more than it needs (the writer grew it by doubling).
        head.shrink_to_fit();
        Ok(Entry {
            head: Bytes::from(head),
            content_hash: d.content_hash.clone(),
            fetched_at: d.fetched_at,
            fetched_at_json: serde_json::to_vec(&d.fetched_at)?.into(),
        })
    }

    /// The same records, fetched again at `fetched_at` (an unchanged refresh).
    pub fn refetched(&self, fetched_at: DateTime<Utc>) -> Entry {
        Entry {
            head: self.head.clone(),
            content_hash: self.content_hash.clone(),
            fetched_at,
            fetched_at_json: serde_json::to_vec(&fetched_at).unwrap_or_else(|_| b"null".to_vec()).into(),
        }
    }

    /// The whole body of one read: the kept head, shared rather than copied, then this read's
    /// fields: `fetched_at` (as of the entry), `age_seconds`, `stale`, `served_from`, `breaker`
    /// and, when there is one, `refresh_job`. Written out field by field: serialising them as a
    /// struct (the date formatted each time) cost cached reads measurably (BENCHMARKS.md).
    pub fn body(&self, read: &ReadState<'_>) -> Body {
        use std::io::Write as _;
        let mut tail = Vec::with_capacity(160);
        tail.extend_from_slice(b",\"fetched_at\":");
        tail.extend_from_slice(&self.fetched_at_json);
        // Writes to a Vec cannot fail.
        let _ = write!(
            tail,
            ",\"age_seconds\":{},\"stale\":{},\"served_from\":\"cache\",\"breaker\":\"{}\"",
            read.age.as_secs(),
            read.stale,
            read.breaker.as_str()
        );
        if let Some(job) = read.refresh_job {
            tail.extend_from_slice(b",\"refresh_job\":");
            let _ = serde_json::to_writer(&mut tail, job);
        }
        tail.push(b'}');
        Body { head: Some(self.head.clone()), tail: Some(Bytes::from(tail)) }
    }

    /// What keeping this entry under `key` costs: its bytes, the key twice (map and eviction
    /// order) and the bookkeeping around them.
    fn size(&self, key: &str) -> usize {
        const BOOKKEEPING: usize = 256;
        self.head.len() + 2 * key.len() + self.content_hash.len() + BOOKKEEPING
    }
}

/// A read's body in two parts, of known length (sent with `Content-Length`).
pub struct Body {
    head: Option<Bytes>,
    tail: Option<Bytes>,
}

impl Body {
    /// The body in one piece (for tests and logs).
    pub fn to_vec(&self) -> Vec<u8> {
        self.head.iter().chain(&self.tail).flat_map(|b| b.iter().copied()).collect()
    }
}

impl http_body::Body for Body {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        let next = self.head.take().or_else(|| self.tail.take());
        Poll::Ready(next.map(|b| Ok(http_body::Frame::data(b))))
    }

    fn is_end_stream(&self) -> bool {
        self.head.is_none() && self.tail.is_none()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        let len = self.head.iter().chain(&self.tail).map(|b| b.len() as u64).sum();
        http_body::SizeHint::with_exact(len)
    }
}

/// Values worked out from request strings, kept so that a hot read works each out once (a read's
/// query string, validated into its question): at most `max` entries, all dropped when full.
pub struct Memo<T> {
    map: Mutex<HashMap<String, Arc<T>>>,
    max: usize,
}

impl<T> Memo<T> {
    /// The longest string kept.
    const MAX_KEY: usize = 1024;

    pub fn new(max: usize) -> Memo<T> {
        Memo { map: Mutex::new(HashMap::new()), max }
    }

    pub fn get(&self, key: &str) -> Option<Arc<T>> {
        self.map.lock().unwrap_or_else(|e| e.into_inner()).get(key).cloned()
    }

    pub fn put(&self, key: &str, value: Arc<T>) {
        if key.len() > Self::MAX_KEY {
            return;
        }
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= self.max {
            map.clear();
        }
        map.insert(key.to_owned(), value);
    }
}

struct Slot {
    entry: Arc<Entry>,
    /// When it was put in: its place in `Entries::order`.
    placed: Instant,
    /// When it was last known to match the store.
    checked: Instant,
}

#[derive(Default)]
struct Entries {
    by_key: HashMap<String, Slot>,
    /// Keys in the order they were put in, for eviction (a key may appear more than once; only
    /// its newest place counts, via `by_key`).
    order: VecDeque<(String, Instant)>,
    bytes: usize,
}

/// The serialised responses of hot datasets, bounded in bytes.
pub struct ReadCache {
    entries: Mutex<Entries>,
    max_bytes: usize,
    revalidate: Duration,
}

/// What the cache knows of a key.
pub enum Lookup {
    /// Known to match the store within the revalidation period.
    Fresh(Arc<Entry>),
    /// Possibly out of date: check `fetched_at` and the content hash against the store.
    Check(Arc<Entry>),
    Missing,
}

impl ReadCache {
    pub fn new(max_bytes: usize, revalidate: Duration) -> ReadCache {
        ReadCache { entries: Mutex::new(Entries::default()), max_bytes, revalidate }
    }

    pub fn get(&self, key: &str) -> Lookup {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        match entries.by_key.get(key) {
            Some(slot) if slot.checked.elapsed() < self.revalidate => Lookup::Fresh(slot.entry.clone()),
            Some(slot) => Lookup::Check(slot.entry.clone()),
            None => Lookup::Missing,
        }
    }

    /// Keep `entry` for `key` (checked now), evicting the oldest entries past the size bound.
    /// An entry larger than an eighth of the bound is not kept.
    pub fn put(&self, key: &str, entry: Arc<Entry>) {
        let size = entry.size(key);
        if size > self.max_bytes / 8 {
            self.forget(key);
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let entries = &mut *entries;
        let now = Instant::now();
        if let Some(old) = entries.by_key.insert(key.to_owned(), Slot { entry, placed: now, checked: now }) {
            entries.bytes -= old.entry.size(key);
        }
        entries.bytes += size;
        entries.order.push_back((key.to_owned(), now));
        while entries.bytes > self.max_bytes {
            let Some((oldest, at)) = entries.order.pop_front() else { break };
            // A key put again since has a newer place; only its newest one evicts it.
            if entries.by_key.get(&oldest).is_some_and(|s| s.placed == at)
                && let Some(gone) = entries.by_key.remove(&oldest)
            {
                entries.bytes -= gone.entry.size(&oldest);
            }
        }
        // Places of keys put again or forgotten are dropped once they outnumber the entries.
        if entries.order.len() > 2 * entries.by_key.len() + 16 {
            let by_key = &entries.by_key;
            entries.order.retain(|(k, at)| by_key.get(k).is_some_and(|s| s.placed == *at));
        }
    }

    /// Note that `key`'s entry matched the store just now, with `fetched_at` moved on.
    pub fn confirm(&self, key: &str, entry: Arc<Entry>) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(slot) = entries.by_key.get_mut(key) {
            slot.entry = entry;
            slot.checked = Instant::now();
        }
    }

    /// Drop `key`'s entry: its dataset changed.
    pub fn forget(&self, key: &str) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(gone) = entries.by_key.remove(key) {
            entries.bytes -= gone.entry.size(key);
        }
    }

    /// Bytes held now.
    pub fn bytes(&self) -> usize {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::types::Json;

    fn dataset(key: &str, records: usize) -> Dataset {
        let items: Vec<String> = (0..records).map(|i| format!(r#"{{"id":"{key}-{i}","title":"t"}}"#)).collect();
        Dataset {
            key: key.to_owned(),
            connector: "arxiv".into(),
            params: Json(serde_json::Map::new()),
            records: Json(RawValue::from_string(format!("[{}]", items.join(","))).unwrap()),
            record_count: records as i64,
            content_hash: format!("hash-{key}"),
            fetched_at: Utc::now(),
            changed_at: Utc::now(),
        }
    }

    #[test]
    fn a_body_is_the_stored_fields_then_the_reads_own() {
        let d = dataset("arxiv?q=1", 2);
        let entry = Entry::new(&d).unwrap();
        let read = ReadState {
            age: Duration::from_secs(7),
            stale: true,
            breaker: BreakerState::HalfOpen,
            refresh_job: Some("job-1"),
        };
        let body: serde_json::Value = serde_json::from_slice(&entry.body(&read).to_vec()).unwrap();
        assert_eq!(body["dataset"], "arxiv?q=1");
        assert_eq!(body["fetched_at"], serde_json::to_value(d.fetched_at).unwrap());
        assert_eq!(body["served_from"], "cache");
        assert_eq!(body["records"].as_array().unwrap().len(), 2);
        assert_eq!(body["record_count"], 2);
        assert_eq!((body["age_seconds"].as_u64(), body["stale"].as_bool()), (Some(7), Some(true)));
        assert_eq!((body["breaker"].as_str(), body["refresh_job"].as_str()), (Some("half_open"), Some("job-1")));
        let quiet = ReadState { refresh_job: None, stale: false, ..read };
        let body: serde_json::Value = serde_json::from_slice(&entry.body(&quiet).to_vec()).unwrap();
        assert!(body.get("refresh_job").is_none());
    }

    #[test]
    fn the_cache_stays_within_its_bytes_and_keeps_the_newest() {
        let cache = ReadCache::new(64 * 1024, Duration::from_secs(60));
        for i in 0..2000 {
            let d = dataset(&format!("arxiv?q={i}"), 20);
            cache.put(&d.key, Arc::new(Entry::new(&d).unwrap()));
            assert!(cache.bytes() <= 64 * 1024, "{} bytes after {i} entries", cache.bytes());
        }
        assert!(matches!(cache.get("arxiv?q=1999"), Lookup::Fresh(_)));
        assert!(matches!(cache.get("arxiv?q=0"), Lookup::Missing));
        cache.forget("arxiv?q=1999");
        assert!(matches!(cache.get("arxiv?q=1999"), Lookup::Missing));
        // One too large for the cache is not kept.
        let huge = dataset("arxiv?q=huge", 2000);
        cache.put(&huge.key, Arc::new(Entry::new(&huge).unwrap()));
        assert!(matches!(cache.get("arxiv?q=huge"), Lookup::Missing));
        let entries = cache.entries.lock().unwrap();
        assert!(entries.order.len() <= 2 * entries.by_key.len() + 16);
    }

    #[test]
    fn a_memo_keeps_at_most_its_bound() {
        let memo = Memo::new(2);
        memo.put("a", Arc::new(1));
        memo.put("b", Arc::new(2));
        assert_eq!(memo.get("a").as_deref(), Some(&1));
        memo.put("c", Arc::new(3));
        assert!(memo.map.lock().unwrap().len() <= 2);
        assert_eq!(memo.get("c").as_deref(), Some(&3));
        memo.put(&"k".repeat(2000), Arc::new(4));
        assert!(memo.get(&"k".repeat(2000)).is_none(), "a long key is not kept");
    }

    #[test]
    fn an_entry_is_checked_again_after_the_revalidation_period() {
        let cache = ReadCache::new(1 << 20, Duration::from_millis(30));
        let d = dataset("arxiv?q=1", 1);
        cache.put(&d.key, Arc::new(Entry::new(&d).unwrap()));
        assert!(matches!(cache.get(&d.key), Lookup::Fresh(_)));
        std::thread::sleep(Duration::from_millis(40));
        let Lookup::Check(entry) = cache.get(&d.key) else { panic!("not due for a check") };
        cache.confirm(&d.key, entry);
        assert!(matches!(cache.get(&d.key), Lookup::Fresh(_)));
    }
}
