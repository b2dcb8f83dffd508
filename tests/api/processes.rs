//! Separate API and worker processes without a fleet: the API reads the breaker state its
//! workers persist.

use std::time::Duration;

use apiary::app::App;
use apiary::config::Config;
use apiary::resilience::BreakerState;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_only_process_sees_the_workers_breakers() {
    apiary::install_tls();
    let dir = tempfile::tempdir().unwrap();
    let env = vec![
        ("APIARY_DATABASE_URL".to_string(), format!("sqlite://{}", dir.path().join("apiary.db").display())),
        ("APIARY_CONNECTORS__ARXIV__BREAKER__RECOVERY_TIMEOUT".to_string(), "1s".to_string()),
    ];
    let config = Config::load_with(&[], env).unwrap();
    let workers = App::start(config.clone()).await.unwrap();
    workers.breakers().serve_workers();
    let api = App::start(config).await.unwrap();
    assert_eq!(api.breakers().state("arxiv").await, BreakerState::Closed);

    // The worker process's breaker opens (here: held open by an operator on that process).
    let stack = workers.fetcher().stack("arxiv").unwrap();
    stack.breaker(None).unwrap().hold(Some(BreakerState::Open));
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let seen = api.breakers().get("arxiv", None).await.unwrap();
    assert_eq!(seen.state, BreakerState::Open, "the API process must not report its own idle breaker");
    assert_eq!(seen.held, Some(BreakerState::Open));
    // `GET /v1/breakers` on the API process says the same.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1/breakers", listener.local_addr().unwrap());
    tokio::spawn(apiary::api::serve(api.clone(), listener, std::future::pending()));
    let body: serde_json::Value = reqwest::get(&url).await.unwrap().json().await.unwrap();
    let arxiv = body["breakers"].as_array().unwrap().iter().find(|b| b["connector"] == "arxiv").unwrap().clone();
    assert_eq!(arxiv["state"], "open", "{body}");
    // Twelve connectors' own, SEC's two operations', the database's reads' and writes'.
    assert_eq!(body["breakers"].as_array().unwrap().len(), 12 + 2 + 2, "every breaker once: {body}");

    // Released and tripped for real: open, then half-open once its retry time has passed.
    stack.breaker(None).unwrap().hold(None);
    stack.breaker(None).unwrap().hold(Some(BreakerState::Closed));
    stack.breaker(None).unwrap().hold(None);
    for _ in 0..4 {
        let p = stack.breaker(None).unwrap().try_acquire().unwrap();
        stack.breaker(None).unwrap().record(p, apiary::resilience::Outcome::Failure, Duration::ZERO);
    }
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        api.breakers().state("arxiv").await,
        BreakerState::HalfOpen,
        "past retry_at an open breaker reads half-open"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hold_set_through_an_api_only_process_reaches_the_workers() {
    apiary::install_tls();
    let dir = tempfile::tempdir().unwrap();
    let env = vec![
        ("APIARY_DATABASE_URL".to_string(), format!("sqlite://{}", dir.path().join("apiary.db").display())),
        ("APIARY_QUEUE__NAME".to_string(), format!("holds-{}", uuid::Uuid::new_v4().simple())),
        ("APIARY_CONTACT_EMAIL".to_string(), "ops@example.org".to_string()),
    ];
    let config = Config::load_with(&[], env).unwrap();
    let workers = App::start(config.clone()).await.unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(apiary::service::run_workers(workers.clone(), async move {
        let _ = stopped.await;
    }));
    let api = App::start(config.clone()).await.unwrap();
    let held = |app: &App, id: &str, op: Option<&str>| app.fetcher().stack(id).unwrap().breaker(op).unwrap().held();
    let eventually = |want: Option<BreakerState>, id: &'static str, op: Option<&'static str>| {
        let workers = workers.clone();
        async move {
            for _ in 0..50 {
                if held(&workers, id, op) == want {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            panic!("the workers' {id} {op:?} breaker is held {:?}, not {want:?}", held(&workers, id, op));
        }
    };

    // Held open through the API process: the worker process's breaker follows within seconds.
    assert!(api.breakers().hold("arxiv", None, Some(BreakerState::Open)).await.unwrap());
    eventually(Some(BreakerState::Open), "arxiv", None).await;
    // One operation only, on a connector that keeps a breaker per operation.
    assert!(api.breakers().hold("sec_edgar", Some("companyfacts"), Some(BreakerState::Open)).await.unwrap());
    eventually(Some(BreakerState::Open), "sec_edgar", Some("companyfacts")).await;
    assert_eq!(held(&workers, "sec_edgar", Some("submissions")), None);
    // Released: the workers let go too, and a process started later sees no hold.
    assert!(api.breakers().hold("arxiv", None, None).await.unwrap());
    eventually(None, "arxiv", None).await;
    let later = App::start(config).await.unwrap();
    assert_eq!(held(&later, "arxiv", None), None);
    assert_eq!(held(&later, "sec_edgar", Some("companyfacts")), Some(BreakerState::Open), "a hold survives restarts");
    assert!(!api.breakers().hold("arxiv", Some("nope"), Some(BreakerState::Open)).await.unwrap());
    let _ = stop.send(());
}

/// `apiary get` reads by the same rule as `GET /v1/datasets/…`: a dataset past its TTL is
/// stale, and the read queues its refresh (once: a second read finds the same job).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apiary_get_flags_a_stale_dataset_and_queues_its_refresh() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("apiary.db").display());
    let breakers = apiary::config::Config::load_with(&[], Vec::<(String, String)>::new()).unwrap().database_breakers;
    let store = apiary::store::Store::connect(&url, &breakers).await.unwrap();
    let params: apiary_connectors::Params = [("search_query", "all:stale"), ("max_results", "3")]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let q = apiary::app::Question::new("arxiv", params).unwrap();
    let records = serde_json::value::to_raw_value(&serde_json::json!([{"id": "1"}])).unwrap();
    let long_ago = chrono::Utc::now() - chrono::Duration::days(30);
    store.upsert_dataset("arxiv", &q.key, &q.params_json(), &records, 1, long_ago).await.unwrap();

    let get = || {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_apiary"))
            .args(["get", "arxiv", "search_query=all:stale", "max_results=3"])
            .current_dir(dir.path())
            .env("APIARY_DATABASE_URL", &url)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let first = get();
    assert_eq!((&first["stale"], &first["breaker"]), (&true.into(), &"closed".into()), "{first}");
    let job = first["refresh_job"].as_str().expect("a stale read queues a refresh").to_owned();
    let row = store.job(&job).await.unwrap().expect("the refresh job is in the store");
    assert_eq!((row.key.as_str(), row.status()), (q.key.as_str(), apiary::store::JobStatus::Queued));
    assert_eq!(get()["refresh_job"], job.as_str(), "the pending refresh is reused, not doubled");
}
