//! The store on real SQLite and real Postgres (a fresh database per test).

use chrono::{Duration, Utc};
use serde_json::value::to_raw_value;

use super::*;

/// The database breakers as configured by default.
pub(crate) fn breakers() -> DatabaseBreakers {
    crate::config::Config::load_with(&[], Vec::<(String, String)>::new()).unwrap().database_breakers
}

async fn sqlite() -> (Store, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("cache.db").display());
    (Store::connect(&url, &breakers()).await.unwrap(), dir)
}

/// [`sqlite`], with a trigger that refuses every fetch-log entry whose outcome is `refused`
/// ("refused by the test"): a write that fails part-way.
async fn sqlite_refusing_logs() -> (Store, tempfile::TempDir) {
    let (store, dir) = sqlite().await;
    let Db::Sqlite(db) = store.db() else { unreachable!() };
    sqlx::query(
        "CREATE TRIGGER refuse BEFORE INSERT ON fetch_log WHEN NEW.outcome = 'refused'
         BEGIN SELECT RAISE(ABORT, 'refused by the test'); END",
    )
    .execute(&db.writer)
    .await
    .unwrap();
    (store, dir)
}

/// A fresh Postgres database on the server named by `APIARY_TEST_PG_ADMIN`.
pub(crate) async fn postgres() -> Store {
    let admin =
        std::env::var("APIARY_TEST_PG_ADMIN").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let pool = PgPool::connect(&admin).await.expect("Postgres for tests (set APIARY_TEST_PG_ADMIN)");
    let name = format!("apiary_unit_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&pool).await.unwrap();
    let url = format!("{}/{name}", admin.rsplit_once('/').unwrap().0);
    Store::connect(&url, &breakers()).await.unwrap()
}

fn params() -> serde_json::Map<String, serde_json::Value> {
    let mut m = serde_json::Map::new();
    m.insert("search_query".into(), "all:testing".into());
    m
}

async fn upsert_only_refreshes_unchanged_content(store: Store) {
    let records = to_raw_value(&serde_json::json!([{"id": "1"}, {"id": "2"}])).unwrap();
    let t0 = Utc::now() - Duration::seconds(60);
    assert_eq!(store.upsert_dataset("arxiv", "arxiv?k=1", &params(), &records, 2, t0).await.unwrap(), Upsert::Changed);
    let t1 = Utc::now();
    assert_eq!(
        store.upsert_dataset("arxiv", "arxiv?k=1", &params(), &records, 2, t1).await.unwrap(),
        Upsert::Unchanged
    );
    let d = store.dataset("arxiv?k=1").await.unwrap().unwrap();
    assert_eq!(d.record_count, 2);
    assert!((d.fetched_at - t1).num_milliseconds().abs() < 2, "fetched_at refreshed");
    assert!((d.changed_at - t0).num_milliseconds().abs() < 2, "changed_at kept");
    // An older result arriving late (a redelivered job) never replaces a newer one.
    let other = to_raw_value(&serde_json::json!([{"id": "old"}])).unwrap();
    store.upsert_dataset("arxiv", "arxiv?k=1", &params(), &other, 1, t0).await.unwrap();
    assert_eq!(store.dataset("arxiv?k=1").await.unwrap().unwrap().record_count, 2);
    // New content replaces it.
    let newer = to_raw_value(&serde_json::json!([{"id": "3"}])).unwrap();
    let t2 = Utc::now() + Duration::seconds(1);
    assert_eq!(store.upsert_dataset("arxiv", "arxiv?k=1", &params(), &newer, 1, t2).await.unwrap(), Upsert::Changed);
    let d = store.dataset("arxiv?k=1").await.unwrap().unwrap();
    let stored: serde_json::Value = serde_json::from_str(d.records.0.get()).unwrap();
    assert_eq!(stored, serde_json::json!([{"id": "3"}]));
    let list = store.datasets(Some("arxiv"), 10, 0).await.unwrap();
    assert_eq!(list.len(), 1);
    assert!(store.datasets(Some("pubmed"), 10, 0).await.unwrap().is_empty());
}

async fn one_pending_job_per_dataset(store: Store) {
    let p = params();
    let new = |id: &'static str| NewJob {
        id,
        connector: "arxiv",
        key: "arxiv?k=1",
        params: &p,
        request_id: None,
        failover: None,
    };
    let (first, created) = store.create_job(&new("a")).await.unwrap();
    assert!(created);
    assert_eq!(first.status(), JobStatus::Queued);
    let (again, created) = store.create_job(&new("b")).await.unwrap();
    assert!(!created);
    assert_eq!(again.id, "a", "the pending job is returned");
    // Running: a new enqueue gets a new job (the running fetch may predate the question).
    let running = store.start_job("a").await.unwrap().unwrap();
    assert_eq!(running.job.attempts, 1);
    assert!(store.start_job("a").await.unwrap().is_none(), "a claimed job is not claimed twice");
    let (c, created) = store.create_job(&new("c")).await.unwrap();
    assert!(created && c.id == "c");
    // Deferring "a" would make two pending jobs for one dataset: refused, the caller ends "a".
    assert!(!store.defer_job("a", Utc::now(), "breaker open").await.unwrap());
    store.finish_job("a", JobStatus::Failed, Some("superseded")).await.unwrap();
    // "c" defers without spending its attempt.
    store.start_job("c").await.unwrap().unwrap();
    assert!(store.defer_job("c", Utc::now() + Duration::seconds(5), "breaker open").await.unwrap());
    let c = store.job("c").await.unwrap().unwrap();
    assert_eq!((c.status(), c.attempts), (JobStatus::Deferred, 0));
    assert!(c.run_at.is_some());
    store.start_job("c").await.unwrap().unwrap();
    store.finish_job("c", JobStatus::Succeeded, None).await.unwrap();
    let c = store.job("c").await.unwrap().unwrap();
    assert_eq!(c.status(), JobStatus::Succeeded);
    assert!(c.finished_at.is_some());
    let counts = store.job_counts().await.unwrap();
    assert!(counts.contains(&("failed".into(), 1)) && counts.contains(&("succeeded".into(), 1)), "{counts:?}");
}

/// `record_fetch` keeps a result, logs and finishes the job in one go, with `upsert_dataset`'s
/// rules: unchanged content only moves `fetched_at`, an older result changes nothing.
async fn a_fetch_is_recorded_whole(store: Store) {
    let p = params();
    let log = |job_id: &'static str, started_at| FetchLog {
        job_id,
        connector: "arxiv",
        key: "arxiv?k=1",
        outcome: "success",
        error: None,
        record_count: Some(1),
        started_at,
        duration: std::time::Duration::from_millis(3),
    };
    let records = to_raw_value(&serde_json::json!([{"id": "1"}])).unwrap();
    let validators = Validators::default();
    let result = |fetched_at| NewResult {
        connector: "arxiv",
        key: "arxiv?k=1",
        params: &p,
        records: &records,
        record_count: 1,
        fetched_at,
        validators: &validators,
    };
    let (t0, t1) = (Utc::now() - Duration::seconds(60), Utc::now());
    for (id, at, want) in [("a", t0, Upsert::Changed), ("b", t1, Upsert::Unchanged), ("c", t0, Upsert::Unchanged)] {
        store
            .create_job(&NewJob {
                id,
                connector: "arxiv",
                key: "arxiv?k=1",
                params: &p,
                request_id: None,
                failover: None,
            })
            .await
            .unwrap();
        store.start_job(id).await.unwrap().unwrap();
        let got = store
            .record_fetch(Some(&Kept::Records(result(at))), &log(id, at), JobStatus::Succeeded, None)
            .await
            .unwrap();
        assert_eq!(got, Some(want), "job {id}");
        assert_eq!(store.job(id).await.unwrap().unwrap().status(), JobStatus::Succeeded);
    }
    let d = store.dataset("arxiv?k=1").await.unwrap().unwrap();
    assert!((d.fetched_at - t1).num_milliseconds().abs() < 2, "the newest fetch's time is kept");
    assert!((d.changed_at - t0).num_milliseconds().abs() < 2);
    // A failure logs and finishes, and leaves the result alone.
    store
        .create_job(&NewJob {
            id: "d",
            connector: "arxiv",
            key: "arxiv?k=1",
            params: &p,
            request_id: None,
            failover: None,
        })
        .await
        .unwrap();
    store.start_job("d").await.unwrap().unwrap();
    let failed = FetchLog { outcome: "transient", error: Some("HTTP 503"), record_count: None, ..log("d", t1) };
    assert_eq!(store.record_fetch(None, &failed, JobStatus::Failed, Some("HTTP 503")).await.unwrap(), None);
    let d_job = store.job("d").await.unwrap().unwrap();
    assert_eq!((d_job.status(), d_job.error.as_deref()), (JobStatus::Failed, Some("HTTP 503")));
    assert_eq!(store.dataset("arxiv?k=1").await.unwrap().unwrap().record_count, 1);
    assert_eq!(store.prune_fetch_log(Duration::days(1), 2).await.unwrap(), 2, "four entries were logged");
}

/// Validators are kept with the records and come back with the job's claim; a `304`
/// (`Kept::Current`) moves only `fetched_at`, keeps the records and their hash, and keeps the
/// stored validators unless it brings its own; new records replace them.
async fn validators_follow_the_records(store: Store) {
    let p = params();
    let key = "arxiv?k=1";
    let records = to_raw_value(&serde_json::json!([{"id": "1"}])).unwrap();
    let v1 = Validators { etag: Some("\"v1\"".into()), last_modified: Some("Tue, 01 Dec 2026 10:00:00 GMT".into()) };
    let log = |job_id: &'static str, started_at| FetchLog {
        job_id,
        connector: "arxiv",
        key,
        outcome: "success",
        error: None,
        record_count: None,
        started_at,
        duration: std::time::Duration::from_millis(3),
    };
    let claim = |id: &'static str| {
        let store = store.clone();
        let p = p.clone();
        async move {
            let job = NewJob { id, connector: "arxiv", key, params: &p, request_id: None, failover: None };
            store.create_job(&job).await.unwrap();
            store.start_job(id).await.unwrap().unwrap()
        }
    };
    assert!(claim("a").await.validators.is_empty(), "nothing cached yet");
    let t0 = Utc::now() - Duration::seconds(60);
    let first = NewResult {
        connector: "arxiv",
        key,
        params: &p,
        records: &records,
        record_count: 1,
        fetched_at: t0,
        validators: &v1,
    };
    store.record_fetch(Some(&Kept::Records(first)), &log("a", t0), JobStatus::Succeeded, None).await.unwrap();
    let before = store.dataset(key).await.unwrap().unwrap();

    assert_eq!(claim("b").await.validators, v1, "the claim carries the cached copy's validators");
    let t1 = t0 + Duration::seconds(10);
    let none = Validators::default();
    let current = Kept::Current { key, fetched_at: t1, validators: &none };
    let got = store.record_fetch(Some(&current), &log("b", t1), JobStatus::Succeeded, None).await.unwrap();
    assert_eq!(got, Some(Upsert::Unchanged));
    let after = store.dataset(key).await.unwrap().unwrap();
    assert!((after.fetched_at - t1).num_milliseconds().abs() < 2, "fetched_at moved");
    assert_eq!((after.changed_at, &after.content_hash), (before.changed_at, &before.content_hash));
    assert_eq!(after.records.0.get(), before.records.0.get());
    assert_eq!(store.job("b").await.unwrap().unwrap().status(), JobStatus::Succeeded);

    let v2 = Validators { etag: Some("\"v2\"".into()), last_modified: None };
    assert_eq!(claim("c").await.validators, v1, "a 304 without validators keeps the stored ones");
    let t2 = t1 + Duration::seconds(10);
    let current = Kept::Current { key, fetched_at: t2, validators: &v2 };
    store.record_fetch(Some(&current), &log("c", t2), JobStatus::Succeeded, None).await.unwrap();
    let kept = claim("d").await.validators;
    assert_eq!(kept, Validators { etag: v2.etag.clone(), last_modified: v1.last_modified.clone() });

    let t3 = t2 + Duration::seconds(10);
    let other = to_raw_value(&serde_json::json!([{"id": "2"}])).unwrap();
    let fresh = NewResult { records: &other, fetched_at: t3, validators: &none, ..first };
    let got = store.record_fetch(Some(&Kept::Records(fresh)), &log("d", t3), JobStatus::Succeeded, None).await.unwrap();
    assert_eq!(got, Some(Upsert::Changed));
    assert!(claim("e").await.validators.is_empty(), "new records without validators clear the old ones");
}

async fn breaker_snapshots_round_trip(store: Store) {
    let snap = Snapshot {
        connector: "arxiv".into(),
        operation: None,
        state: crate::resilience::BreakerState::Open,
        failure_rate: 50.0,
        calls: 4,
        failures: 2,
        consecutive_failures: 2,
        opened_at: Some(Utc::now()),
        retry_at: Some(Utc::now() + Duration::seconds(30)),
        held: None,
    };
    store.save_breaker(&snap).await.unwrap();
    store.save_breaker(&snap).await.unwrap();
    let back = store.breakers().await.unwrap();
    assert_eq!(back.len(), 1);
    assert_eq!(back[0].state, snap.state);
    assert_eq!(back[0].retry_at, snap.retry_at);

    // A per-operation breaker is a row of its own, and comes back with its operation.
    let op = Snapshot { operation: Some("efetch".into()), state: crate::resilience::BreakerState::Closed, ..snap };
    store.save_breaker(&op).await.unwrap();
    let mut back = store.breakers().await.unwrap();
    back.sort_by_key(|s| s.key());
    assert_eq!(back.iter().map(Snapshot::key).collect::<Vec<_>>(), ["arxiv", "arxiv/efetch"]);
    assert_eq!(back[0].state, crate::resilience::BreakerState::Open);
    assert_eq!(back[1].operation.as_deref(), Some("efetch"));
    assert_eq!(back[1].state, crate::resilience::BreakerState::Closed);

    // Operators' holds: set, replaced, released.
    use crate::resilience::BreakerState::{Closed, Open};
    store.set_breaker_hold("arxiv", Some(Open)).await.unwrap();
    store.set_breaker_hold("pubmed/efetch", Some(Open)).await.unwrap();
    store.set_breaker_hold("arxiv", Some(Closed)).await.unwrap();
    let mut holds = store.breaker_holds().await.unwrap();
    holds.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(holds, [("arxiv".to_owned(), Closed), ("pubmed/efetch".to_owned(), Open)]);
    store.set_breaker_hold("arxiv", None).await.unwrap();
    store.set_breaker_hold("never-held", None).await.unwrap();
    assert_eq!(store.breaker_holds().await.unwrap(), [("pubmed/efetch".to_owned(), Open)]);
}

/// A group job falls over by becoming the next member's job, keeping its id; onto a dataset
/// already pending in another job it does not, and a job not running does not move.
async fn a_group_job_falls_over_in_place(store: Store) {
    let p = params();
    let failover = super::Failover { group: "g".into(), params: p.clone(), passed: Vec::new() };
    let job = |id: &'static str, connector: &'static str, key: &'static str| NewJob {
        id,
        connector,
        key,
        params: &p,
        request_id: None,
        failover: Some(&failover),
    };
    store.create_job(&job("a", "crossref", "crossref?doi=1")).await.unwrap();
    store.start_job("a").await.unwrap().unwrap();
    let passed = super::Failover {
        passed: vec![super::Passed { connector: "crossref".into(), reason: "HTTP 503".into() }],
        ..failover.clone()
    };
    let next = super::NextMember { connector: "pubmed", key: "pubmed?term=1", params: &p, failover: &passed };
    assert!(store.fall_over("a", &next, "crossref: HTTP 503; fell over to pubmed").await.unwrap());
    let row = store.job("a").await.unwrap().unwrap();
    assert_eq!(
        (row.connector.as_str(), row.key.as_str(), row.status()),
        ("pubmed", "pubmed?term=1", JobStatus::Queued)
    );
    assert_eq!(row.failover.map(|f| f.0), Some(passed.clone()));
    assert!(!store.fall_over("a", &next, "again").await.unwrap(), "a queued job is not running: it does not move");

    store.create_job(&job("b", "crossref", "crossref?doi=2")).await.unwrap();
    store.start_job("b").await.unwrap().unwrap();
    let taken = super::NextMember { key: "pubmed?term=1", ..next };
    assert!(!store.fall_over("b", &taken, "x").await.unwrap(), "pubmed?term=1 is pending as job a");
    assert_eq!(store.job("b").await.unwrap().unwrap().status(), JobStatus::Running);
}

#[tokio::test]
async fn sqlite_fall_over() {
    let (s, _dir) = sqlite().await;
    a_group_job_falls_over_in_place(s).await;
}

#[tokio::test]
async fn postgres_fall_over() {
    a_group_job_falls_over_in_place(postgres().await).await;
}

#[tokio::test]
async fn sqlite_upsert() {
    let (s, _dir) = sqlite().await;
    upsert_only_refreshes_unchanged_content(s).await;
}

#[tokio::test]
async fn sqlite_jobs() {
    let (s, _dir) = sqlite().await;
    one_pending_job_per_dataset(s).await;
}

#[tokio::test]
async fn sqlite_record_fetch() {
    let (s, _dir) = sqlite().await;
    a_fetch_is_recorded_whole(s).await;
}

#[tokio::test]
async fn sqlite_validators() {
    let (s, _dir) = sqlite().await;
    validators_follow_the_records(s).await;
}

#[tokio::test]
async fn postgres_validators() {
    validators_follow_the_records(postgres().await).await;
}

/// Writes that arrive together are committed in one round, each answered with its own rows; one
/// that fails in a round (its fetch-log insert refused by a trigger) fails alone, and the other
/// writes of its round are kept.
#[tokio::test]
async fn sqlite_writes_of_a_round_stand_or_fail_on_their_own() {
    let (store, _dir) = sqlite_refusing_logs().await;
    const N: usize = 20;
    const REFUSED: usize = 7;
    let id = |i: usize| format!("job-{i}");
    let key = |i: usize| format!("arxiv?k={i}");
    // Each step's writes are all sent before the writer's task takes the first of them.
    let mut created = tokio::task::JoinSet::new();
    for i in 0..N {
        let store = store.clone();
        created.spawn(async move {
            let p = params();
            let job =
                NewJob { id: &id(i), connector: "arxiv", key: &key(i), params: &p, request_id: None, failover: None };
            (i, store.create_job(&job).await.unwrap())
        });
    }
    while let Some(joined) = created.join_next().await {
        let (i, (row, inserted)) = joined.unwrap();
        assert!(inserted);
        assert_eq!((row.id, row.key), (id(i), key(i)), "each write gets its own row back");
    }
    let mut claimed = tokio::task::JoinSet::new();
    for i in 0..N {
        let store = store.clone();
        claimed.spawn(async move { (i, store.start_job(&id(i)).await.unwrap()) });
    }
    while let Some(joined) = claimed.join_next().await {
        let (i, claim) = joined.unwrap();
        assert_eq!(claim.map(|c| c.job.id), Some(id(i)));
    }
    let mut recorded = tokio::task::JoinSet::new();
    for i in 0..N {
        let store = store.clone();
        recorded.spawn(async move {
            let (p, validators, now) = (params(), Validators::default(), Utc::now());
            let records = to_raw_value(&serde_json::json!([{"id": i}])).unwrap();
            let (id, key) = (id(i), key(i));
            let result = NewResult {
                connector: "arxiv",
                key: &key,
                params: &p,
                records: &records,
                record_count: 1,
                fetched_at: now,
                validators: &validators,
            };
            let log = FetchLog {
                job_id: &id,
                connector: "arxiv",
                key: &key,
                outcome: if i == REFUSED { "refused" } else { "success" },
                error: None,
                record_count: Some(1),
                started_at: now,
                duration: std::time::Duration::from_millis(1),
            };
            (i, store.record_fetch(Some(&Kept::Records(result)), &log, JobStatus::Succeeded, None).await)
        });
    }
    while let Some(joined) = recorded.join_next().await {
        let (i, got) = joined.unwrap();
        match i {
            REFUSED => assert!(got.unwrap_err().to_string().contains("refused by the test")),
            _ => assert_eq!(got.unwrap(), Some(Upsert::Changed), "job {i}"),
        }
    }
    for i in 0..N {
        let status = store.job(&id(i)).await.unwrap().unwrap().status();
        let cached = store.dataset(&key(i)).await.unwrap().is_some();
        match i {
            REFUSED => assert_eq!((status, cached), (JobStatus::Running, false), "the refused write left nothing"),
            _ => assert_eq!((status, cached), (JobStatus::Succeeded, true), "job {i} was kept"),
        }
    }
    let Db::Sqlite(db) = store.db() else { unreachable!() };
    assert!(db.rounds.committed_together() >= 2 * N as u64, "creates and claims went in rounds");
}

/// A batch that fails part-way on SQLite (its fetch-log insert refused by a trigger) writes
/// nothing, and leaves the one writer connection out of its transaction for the next write.
#[tokio::test]
async fn sqlite_record_fetch_failing_midway_writes_nothing_and_frees_the_writer() {
    let (store, _dir) = sqlite_refusing_logs().await;
    let p = params();
    let records = to_raw_value(&serde_json::json!([{"id": "1"}])).unwrap();
    let now = Utc::now();
    let validators = Validators::default();
    let result = NewResult {
        connector: "arxiv",
        key: "arxiv?k=1",
        params: &p,
        records: &records,
        record_count: 1,
        fetched_at: now,
        validators: &validators,
    };
    let log = |outcome| FetchLog {
        job_id: "a",
        connector: "arxiv",
        key: "arxiv?k=1",
        outcome,
        error: None,
        record_count: Some(1),
        started_at: now,
        duration: std::time::Duration::from_millis(3),
    };
    store
        .create_job(&NewJob {
            id: "a",
            connector: "arxiv",
            key: "arxiv?k=1",
            params: &p,
            request_id: None,
            failover: None,
        })
        .await
        .unwrap();
    store.start_job("a").await.unwrap().unwrap();
    let err = store
        .record_fetch(Some(&Kept::Records(result)), &log("refused"), JobStatus::Succeeded, None)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("refused by the test"), "{err}");
    assert!(store.dataset("arxiv?k=1").await.unwrap().is_none(), "the upsert before the failure was rolled back");
    assert_eq!(store.job("a").await.unwrap().unwrap().status(), JobStatus::Running);
    // The same connection writes again, and commits: a reader sees it.
    let got =
        store.record_fetch(Some(&Kept::Records(result)), &log("success"), JobStatus::Succeeded, None).await.unwrap();
    assert_eq!(got, Some(Upsert::Changed));
    assert_eq!(store.job("a").await.unwrap().unwrap().status(), JobStatus::Succeeded);
    assert_eq!(store.dataset("arxiv?k=1").await.unwrap().unwrap().record_count, 1);
}

#[tokio::test]
async fn postgres_record_fetch() {
    a_fetch_is_recorded_whole(postgres().await).await;
}

#[tokio::test]
async fn sqlite_breakers() {
    let (s, _dir) = sqlite().await;
    breaker_snapshots_round_trip(s).await;
}

#[tokio::test]
async fn postgres_upsert() {
    upsert_only_refreshes_unchanged_content(postgres().await).await;
}

#[tokio::test]
async fn postgres_jobs() {
    one_pending_job_per_dataset(postgres().await).await;
}

#[tokio::test]
async fn postgres_breakers() {
    breaker_snapshots_round_trip(postgres().await).await;
}

#[tokio::test]
async fn an_unreachable_database_is_a_clear_error() {
    let err = Store::connect("postgres://nobody:secretpw@127.0.0.1:1/none", &breakers()).await.unwrap_err().to_string();
    assert!(err.contains("unavailable"), "{err}");
    assert!(!err.contains("secretpw"), "password leaked: {err}");
}
