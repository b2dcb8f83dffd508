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
    workers.runs_workers.store(true, std::sync::atomic::Ordering::Relaxed);
    let api = App::start(config).await.unwrap();
    assert_eq!(api.breaker_state("arxiv").await, BreakerState::Closed);

    // The worker process's breaker opens (here: held open by an operator on that process).
    let stack = workers.fetcher.stack("arxiv").unwrap();
    stack.breaker(None).unwrap().force(Some(BreakerState::Open));
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let seen = api.breaker("arxiv", None).await.unwrap();
    assert_eq!(seen.state, BreakerState::Open, "the API process must not report its own idle breaker");
    assert_eq!(seen.forced, Some(BreakerState::Open));

    // Released and tripped for real: open, then half-open once its retry time has passed.
    stack.breaker(None).unwrap().force(None);
    stack.breaker(None).unwrap().force(Some(BreakerState::Closed));
    stack.breaker(None).unwrap().force(None);
    for _ in 0..4 {
        let p = stack.breaker(None).unwrap().try_acquire().unwrap();
        stack.breaker(None).unwrap().record(p, apiary::resilience::Outcome::Failure, Duration::ZERO);
    }
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        api.breaker_state("arxiv").await,
        BreakerState::HalfOpen,
        "past retry_at an open breaker reads half-open"
    );
}
