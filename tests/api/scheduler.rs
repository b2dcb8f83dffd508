//! Scheduled syncs: several schedulers on one database enqueue each tick once.

use std::time::Duration;

use apiary::app::App;
use apiary::config::Config;

use crate::helpers::fresh_postgres;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_schedulers_enqueue_each_tick_once() {
    apiary::install_tls();
    let dir = tempfile::tempdir().unwrap();
    let toml = dir.path().join("syncs.toml");
    std::fs::write(&toml, "[[syncs]]\nconnector = \"arxiv\"\nparams = { search_query = \"cat:cs.AI\", max_results = 5 }\nevery = \"1s\"\n")
        .unwrap();
    let env = vec![
        ("APIARY_DATABASE_URL".to_string(), fresh_postgres().await),
        ("APIARY_QUEUE__NAME".to_string(), format!("test-{}", uuid::Uuid::new_v4().simple())),
    ];
    let config = Config::load_with(std::slice::from_ref(&toml), env).unwrap();
    assert_eq!(config.syncs.len(), 1);
    assert_eq!(config.syncs[0].key, "arxiv?max_results=5&search_query=cat%3Acs.AI");
    let mut apps = Vec::new();
    for _ in 0..3 {
        apps.push(App::start(config.clone()).await.unwrap());
    }
    run_schedulers(&apps, Duration::from_millis(4500)).await;
    let apiary::store::Db::Postgres(pool) = apps[0].store().db() else { panic!("postgres store") };
    let ticks: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM sync_ticks").fetch_one(pool).await.unwrap();
    // 4.5 s of a 1 s sync: the tick we started in plus 4 or 5 more — never three times that.
    assert!((4..=6).contains(&ticks), "{ticks} ticks claimed by three schedulers in 4.5 s");
    let jobs: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM jobs").fetch_one(pool).await.unwrap();
    assert_eq!(jobs, 1, "no worker ran, so every tick found the first job still queued");
}

#[test]
fn a_bad_sync_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let toml = dir.path().join("syncs.toml");
    std::fs::write(&toml, "[[syncs]]\nconnector = \"arxiv\"\nparams = { query = \"x\" }\nevery = \"1m\"\n").unwrap();
    let err = Config::load_with(std::slice::from_ref(&toml), Vec::new()).unwrap_err().to_string();
    assert!(err.contains("syncs[0].params") && err.contains("search_query"), "{err}");
    std::fs::write(&toml, "[[syncs]]\nconnector = \"arxiv\"\nparams = { search_query = \"x\" }\nevery = \"100ms\"\n")
        .unwrap();
    let err = Config::load_with(std::slice::from_ref(&toml), Vec::new()).unwrap_err().to_string();
    assert!(err.contains("syncs[0].every"), "{err}");
    std::fs::write(
        &toml,
        "[[syncs]]\nconnector = \"arxiv\"\nparams = { search_query = \"x\" }\ncron = \"every tuesday\"\n",
    )
    .unwrap();
    let err = Config::load_with(std::slice::from_ref(&toml), Vec::new()).unwrap_err().to_string();
    assert!(err.contains("syncs[0].cron"), "{err}");
    std::fs::write(&toml, "[[syncs]]\nconnector = \"arxiv\"\nparams = { search_query = \"x\" }\n").unwrap();
    let err = Config::load_with(std::slice::from_ref(&toml), Vec::new()).unwrap_err().to_string();
    assert!(err.contains("exactly one of `every` or `cron`"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cron_sync_catches_up_once_then_ticks_once_per_time_across_schedulers() {
    apiary::install_tls();
    let dir = tempfile::tempdir().unwrap();
    let toml = dir.path().join("syncs.toml");
    std::fs::write(
        &toml,
        "[[syncs]]\nconnector = \"arxiv\"\nparams = { search_query = \"cat:cs.AI\" }\ncron = \"* * * * * *\"\n",
    )
    .unwrap();
    let env = vec![
        ("APIARY_DATABASE_URL".to_string(), fresh_postgres().await),
        ("APIARY_QUEUE__NAME".to_string(), format!("test-{}", uuid::Uuid::new_v4().simple())),
    ];
    let config = Config::load_with(std::slice::from_ref(&toml), env).unwrap();
    let key = config.syncs[0].key.clone();
    let apps = [App::start(config.clone()).await.unwrap(), App::start(config).await.unwrap()];
    // The last tick anyone claimed was a minute ago: sixty ticks were missed while nobody ran.
    let a_minute_ago = chrono::Utc::now().timestamp() - 60;
    assert!(apps[0].store().claim_tick(&key, a_minute_ago, "earlier").await.unwrap());
    run_schedulers(&apps, Duration::from_millis(3500)).await;
    let apiary::store::Db::Postgres(pool) = apps[0].store().db() else { panic!("postgres store") };
    let ticks: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM sync_ticks").fetch_one(pool).await.unwrap();
    // The old tick, one catch-up, then one per second for 3.5 s — from two schedulers, not twice that.
    assert!((4..=7).contains(&ticks), "{ticks} ticks");
}

/// Run a scheduler on each of `apps` for `how_long`, then stop them all.
async fn run_schedulers(apps: &[std::sync::Arc<App>], how_long: Duration) {
    let (stop, _) = tokio::sync::watch::channel(false);
    let mut tasks = Vec::new();
    for app in apps {
        let mut rx = stop.subscribe();
        tasks.push(tokio::spawn(apiary::service::run_scheduler(app.clone(), async move {
            let _ = rx.wait_for(|s| *s).await;
        })));
    }
    tokio::time::sleep(how_long).await;
    let _ = stop.send(true);
    for t in tasks {
        t.await.unwrap();
    }
}
