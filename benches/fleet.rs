//! Fleet mode's costs, as issue 5 asks for them (figures in BENCHMARKS.md, "Fleet mode"):
//! - the cost of a fleet permit (`Fleet::rate`: one Redis round trip running the sliding-log Lua
//!   script) beside a local `Limiter::reserve` check, both with a quota so high that neither waits,
//!   with a bare Redis `PING` on its own connection as the floor of any round trip;
//! - jobs/s of 1, 2 and 4 real `apiary worker` processes on the Redis queue and a fresh Postgres
//!   cache database, against a fast fake arXiv served by this process.
//!
//! Rounds alternate (the order rotates each round) and figures are medians over rounds. Needs
//! Redis at `APIARY_TEST_REDIS` (default redis://127.0.0.1:6379/) and Postgres at
//! `APIARY_TEST_PG_ADMIN` (default postgres://postgres@127.0.0.1:5432/postgres).
//! Run with `cargo bench --bench fleet`. Knobs: `APIARY_BENCH_JOBS` (jobs per throughput round,
//! default 500), `APIARY_BENCH_ROUNDS` (throughput rounds, default 5).
//!
//! Every worker process this bench starts is killed when its round ends, when the round times out
//! (120 s), on a panic (drop during unwinding) and on Ctrl-C.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use apiary::app::{App, Question};
use apiary::config::{Config, parse_rate_limit};
use apiary::resilience::{Fleet, Limiter};

// ---- helpers -------------------------------------------------------------------------------

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 }
}

fn quantile(v: &[f64], q: f64) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    v[((v.len() - 1) as f64 * q).round() as usize]
}

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn redis_url() -> String {
    std::env::var("APIARY_TEST_REDIS").unwrap_or_else(|_| "redis://127.0.0.1:6379/".into())
}

/// The queue backend (`APIARY_BENCH_QUEUE`, default `redis`); fleet state is in Redis either way.
fn queue_backend() -> String {
    std::env::var("APIARY_BENCH_QUEUE").unwrap_or_else(|_| "redis".into())
}

fn pg_admin() -> String {
    std::env::var("APIARY_TEST_PG_ADMIN").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

fn fixture(rel: &str) -> Vec<u8> {
    apiary_connectors::fixtures::read(rel)
}

/// Deletes every Redis key matching `pattern` (the bench's own namespaces only).
async fn delete_keys(pattern: &str) {
    let Ok(client) = redis::Client::open(redis_url()) else { return };
    let Ok(mut conn) = client.get_multiplexed_async_connection().await else { return };
    let mut cursor: u64 = 0;
    loop {
        let Ok((next, keys)): Result<(u64, Vec<String>), _> = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(1000)
            .query_async(&mut conn)
            .await
        else {
            return;
        };
        if !keys.is_empty() {
            let _: Result<i64, _> = redis::cmd("DEL").arg(&keys).query_async(&mut conn).await;
        }
        if next == 0 {
            return;
        }
        cursor = next;
    }
}

// ---- part 1: the cost of a permit ----------------------------------------------------------

const PERMIT_ROUNDS: usize = 15;
/// Local checks per round (timed as one batch: a single check is shorter than the clock's cost).
const LOCAL_CALLS: u32 = 200_000;
/// Fleet permits per round, each timed on its own.
const FLEET_CALLS: usize = 2_000;

async fn permit_cost() {
    let quotas = parse_rate_limit("1000000/s").unwrap();
    let max_wait = Duration::from_secs(1);
    let namespace = format!("bench-permit-{}", uuid::Uuid::new_v4().simple());
    let fleet = Fleet::connect(&redis_url(), &namespace, 1).await.expect("Redis for the bench (APIARY_TEST_REDIS)");
    let limiter = Limiter::new(&quotas);
    let client = redis::Client::open(redis_url()).unwrap();
    let mut ping_conn = client.get_multiplexed_async_connection().await.unwrap();

    // Warm up: the script gets loaded (EVALSHA misses once), connections settle, the log fills.
    for _ in 0..500 {
        fleet.rate("arxiv", &quotas, max_wait).await.unwrap().unwrap();
    }

    let mut local_ns = Vec::new(); // per round: mean ns per check over the batch
    let mut fleet_us_round = Vec::new(); // per round: median µs per permit
    let mut fleet_us_all = Vec::new(); // every permit
    let mut ping_us_round = Vec::new();
    let (mut local_waits, mut fleet_waits) = (0u64, 0u64);
    // The local limiter's clock is synthetic: 2 µs apart per check (500k/s, under the enforced
    // ~952k/s of `1000000/s`), so it never waits however fast the loop runs, and the log stays full
    // (each check pushes one time and drops the oldest), as it would in a busy worker.
    let mut t0 = tokio::time::Instant::now();
    for round in 0..PERMIT_ROUNDS {
        let local = |t0: &mut tokio::time::Instant, waits: &mut u64| {
            let base = *t0;
            let start = Instant::now();
            for i in 0..LOCAL_CALLS {
                let now = base + Duration::from_micros(2 * u64::from(i));
                match std::hint::black_box(limiter.reserve(now, max_wait)) {
                    Ok(w) if w.is_zero() => {}
                    _ => *waits += 1,
                }
            }
            let ns = start.elapsed().as_nanos() as f64 / f64::from(LOCAL_CALLS);
            *t0 = base + Duration::from_micros(2 * u64::from(LOCAL_CALLS));
            ns
        };
        let run_fleet = async |all: &mut Vec<f64>, waits: &mut u64| {
            let mut lat = Vec::with_capacity(FLEET_CALLS);
            for _ in 0..FLEET_CALLS {
                let start = Instant::now();
                let r = fleet.rate("arxiv", &quotas, max_wait).await.expect("Redis answered");
                lat.push(start.elapsed().as_nanos() as f64 / 1000.0);
                match r {
                    Ok(w) if w.is_zero() => {}
                    _ => *waits += 1,
                }
            }
            all.extend_from_slice(&lat);
            median(lat)
        };
        let mut ping = async || {
            let mut lat = Vec::with_capacity(FLEET_CALLS);
            for _ in 0..FLEET_CALLS {
                let start = Instant::now();
                let _: String = redis::cmd("PING").query_async(&mut ping_conn).await.unwrap();
                lat.push(start.elapsed().as_nanos() as f64 / 1000.0);
            }
            median(lat)
        };
        if round % 2 == 0 {
            local_ns.push(local(&mut t0, &mut local_waits));
            fleet_us_round.push(run_fleet(&mut fleet_us_all, &mut fleet_waits).await);
            ping_us_round.push(ping().await);
        } else {
            ping_us_round.push(ping().await);
            fleet_us_round.push(run_fleet(&mut fleet_us_all, &mut fleet_waits).await);
            local_ns.push(local(&mut t0, &mut local_waits));
        }
    }
    delete_keys(&format!("apiary:{namespace}:*")).await;

    let local = median(local_ns.clone());
    let fleet_med = median(fleet_us_round.clone());
    let ping = median(ping_us_round.clone());
    println!("== permit cost ({PERMIT_ROUNDS} alternating rounds; quota 1000000/s, never waits) ==");
    println!(
        "local Limiter::reserve   median {local:>9.1} ns/check  (rounds: min {:.1}, max {:.1}; {LOCAL_CALLS} checks/round; waits: {local_waits})",
        local_ns.iter().cloned().fold(f64::INFINITY, f64::min),
        local_ns.iter().cloned().fold(0.0, f64::max),
    );
    println!(
        "fleet Fleet::rate        median {fleet_med:>9.1} µs/permit (all {} permits: p50 {:.1}, p90 {:.1}, p99 {:.1}, max {:.1}; waits: {fleet_waits})",
        fleet_us_all.len(),
        quantile(&fleet_us_all, 0.5),
        quantile(&fleet_us_all, 0.9),
        quantile(&fleet_us_all, 0.99),
        quantile(&fleet_us_all, 1.0),
    );
    println!("redis PING (floor)       median {ping:>9.1} µs/round trip");
    println!(
        "ratio fleet / local: {:.0}x   fleet / PING: {:.2}x   => at most {:.0} permits/s per sequential caller",
        fleet_med * 1000.0 / local,
        fleet_med / ping,
        1e6 / fleet_med
    );
    println!();
}

// ---- part 2: jobs/s of 1, 2 and 4 workers --------------------------------------------------

const ROUND_TIMEOUT: Duration = Duration::from_secs(120);
/// No new round starts after this much time in part 2.
const PART2_BUDGET: Duration = Duration::from_secs(420);
const WORKER_COUNTS: [usize; 3] = [1, 2, 4];

/// Worker processes, killed when dropped (end of round, timeout, panic).
struct Workers(Vec<Child>, Vec<PathBuf>);

impl Workers {
    fn start(n: usize, env: &[(String, String)]) -> Workers {
        let mut ws = Workers(Vec::new(), Vec::new());
        for _ in 0..n {
            let log = std::env::temp_dir().join(format!("apiary-bench-worker-{}.log", uuid::Uuid::new_v4().simple()));
            let stderr = std::fs::File::create(&log).expect("worker log file");
            let child = Command::new(env!("CARGO_BIN_EXE_apiary"))
                .arg("worker")
                .env_clear()
                .env("PATH", std::env::var("PATH").unwrap_or_default())
                .env("RUST_LOG", "warn")
                .envs(env.iter().cloned())
                .current_dir(std::env::temp_dir())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(stderr)
                .spawn()
                .expect("start an apiary worker process");
            ws.0.push(child);
            ws.1.push(log);
        }
        ws
    }

    /// The end of the log of a worker that exited, if one did.
    fn exited(&mut self) -> Option<String> {
        let i = self.0.iter_mut().position(|c| !matches!(c.try_wait(), Ok(None)))?;
        let log = std::fs::read_to_string(&self.1[i]).unwrap_or_default();
        Some(log.chars().rev().take(600).collect::<String>().chars().rev().collect())
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
        for log in &self.1 {
            let _ = std::fs::remove_file(log);
        }
    }
}

struct Outcome {
    /// Jobs/s from starting the processes to the last job succeeded (polled every 20 ms).
    wall: f64,
    /// Jobs/s between the first and the last job's `finished_at` (startup excluded).
    steady: f64,
}

async fn count(app: &App, status: &str) -> i64 {
    let counts = app.store().job_counts().await.expect("job counts");
    counts.iter().find(|(s, _)| s == status).map_or(0, |(_, n)| *n)
}

async fn fake_arxiv() -> String {
    let body = fixture("arxiv/id_list_1605.08386_single_entry_success.xml");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = axum::Router::new().fallback(move || {
        let body = body.clone();
        async move { ([(axum::http::header::CONTENT_TYPE, "application/atom+xml")], body) }
    });
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    format!("http://{addr}")
}

#[allow(clippy::too_many_arguments)]
async fn throughput_round(
    database_url: &str,
    pool: &sqlx::PgPool,
    upstream: &str,
    workers: usize,
    jobs: usize,
    tag: &str,
    queues: &mut Vec<String>,
) -> Result<Outcome, String> {
    let queue = format!("bench-fleet-{}", uuid::Uuid::new_v4().simple());
    queues.push(queue.clone());
    let env: Vec<(String, String)> = vec![
        ("APIARY_DATABASE_URL".into(), database_url.into()),
        ("APIARY_QUEUE__BACKEND".into(), queue_backend()),
        ("APIARY_QUEUE__POLL_INTERVAL".into(), "20ms".into()),
        ("APIARY_REDIS_URL".into(), redis_url()),
        ("APIARY_QUEUE__NAME".into(), queue),
        ("APIARY_CONNECTORS__ARXIV__BASE_URL".into(), upstream.into()),
        ("APIARY_CONNECTORS__ARXIV__RATE_LIMIT".into(), "100000/s".into()),
        ("APIARY_FLEET__SIZE".into(), workers.to_string()),
    ];
    let config = Config::load_with(&[], env.clone()).map_err(|e| e.to_string())?;
    let app = App::start(config).await.map_err(|e| e.to_string())?;
    let done_before = count(&app, "succeeded").await;
    let failed_before = count(&app, "failed").await;
    let mut ids = Vec::with_capacity(jobs);
    for i in 0..jobs {
        let params = [("search_query".to_string(), format!("all:{tag}q{i}"))].into_iter().collect();
        let q = Question::new("arxiv", params).map_err(|e| e.to_string())?;
        let (row, created) = app.enqueue(&q).await.map_err(|e| e.to_string())?;
        assert!(created, "a fresh job per question");
        ids.push(row.id);
    }
    let target = done_before + jobs as i64;

    let start = Instant::now();
    let mut procs = Workers::start(workers, &env);
    loop {
        let done = count(&app, "succeeded").await;
        if done >= target {
            break;
        }
        if start.elapsed() > ROUND_TIMEOUT {
            return Err(format!("timed out after {ROUND_TIMEOUT:?}: {} of {jobs} succeeded", done - done_before));
        }
        if count(&app, "failed").await > failed_before {
            return Err(format!("jobs failed: {:?}", app.store().job_counts().await));
        }
        if let Some(log) = procs.exited() {
            return Err(format!("a worker process exited: {log}"));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let wall = start.elapsed();
    drop(procs);

    let (span,): (f64,) = sqlx::query_as(
        "SELECT COALESCE(EXTRACT(EPOCH FROM MAX(finished_at) - MIN(finished_at))::float8, 0) FROM jobs WHERE id = ANY($1)",
    )
    .bind(&ids)
    .fetch_one(pool)
    .await
    .map_err(|e| e.to_string())?;
    Ok(Outcome { wall: jobs as f64 / wall.as_secs_f64(), steady: (jobs as f64 - 1.0) / span.max(1e-6) })
}

async fn throughput() {
    let jobs = env_or("APIARY_BENCH_JOBS", 500);
    let rounds = env_or("APIARY_BENCH_ROUNDS", 5);
    let upstream = fake_arxiv().await;

    // A fresh cache database for the whole part (rounds keep apart by their queries).
    let admin = sqlx::PgPool::connect(&pg_admin()).await.expect("Postgres for the bench (APIARY_TEST_PG_ADMIN)");
    let name = format!("apiary_bench_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&admin).await.unwrap();
    let database_url = format!("{}/{name}", pg_admin().rsplit_once('/').unwrap().0);
    // Migrate before any worker starts (the first `App::start` would, too).
    let config = Config::load_with(
        &[],
        [("APIARY_DATABASE_URL".to_string(), database_url.clone()), ("APIARY_QUEUE__BACKEND".into(), queue_backend())]
            .into_iter()
            .chain([("APIARY_REDIS_URL".to_string(), redis_url())]),
    )
    .unwrap();
    drop(App::start(config).await.expect("app starts"));
    let pool = sqlx::PgPool::connect(&database_url).await.unwrap();

    let mut wall: Vec<Vec<f64>> = vec![Vec::new(); WORKER_COUNTS.len()];
    let mut steady: Vec<Vec<f64>> = vec![Vec::new(); WORKER_COUNTS.len()];
    let mut queues = Vec::new();
    let part_start = Instant::now();
    println!(
        "== jobs/s, {jobs} arXiv jobs per round, {} queue + Postgres cache, fleet state in Redis, fake upstream ==",
        queue_backend()
    );
    'rounds: for round in 0..rounds {
        for k in 0..WORKER_COUNTS.len() {
            if part_start.elapsed() > PART2_BUDGET {
                println!("time budget spent: stopping after {round} full rounds");
                break 'rounds;
            }
            let idx = (k + round) % WORKER_COUNTS.len();
            let n = WORKER_COUNTS[idx];
            let tag = format!("r{round}w{n}");
            match throughput_round(&database_url, &pool, &upstream, n, jobs, &tag, &mut queues).await {
                Ok(o) => {
                    println!(
                        "round {round} workers {n}: {:>7.1} jobs/s from start, {:>7.1} jobs/s first-to-last",
                        o.wall, o.steady
                    );
                    wall[idx].push(o.wall);
                    steady[idx].push(o.steady);
                }
                Err(e) => println!("round {round} workers {n}: aborted: {e}"),
            }
        }
    }

    println!();
    println!("| workers | rounds | jobs/s from start (median) | scaling | jobs/s first-to-last (median) | scaling |");
    println!("|---:|---:|---:|---:|---:|---:|");
    let base_wall = median(wall[0].clone());
    let base_steady = median(steady[0].clone());
    for (i, n) in WORKER_COUNTS.iter().enumerate() {
        if wall[i].is_empty() {
            println!("| {n} | 0 | no round completed | | | |");
            continue;
        }
        let w = median(wall[i].clone());
        let s = median(steady[i].clone());
        println!("| {n} | {} | {w:.1} | {:.2}x | {s:.1} | {:.2}x |", wall[i].len(), w / base_wall, s / base_steady);
    }

    pool.close().await;
    for q in &queues {
        delete_keys(&format!("*{q}*")).await;
    }
    let _ =
        sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))).execute(&admin).await;
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument picks one part ("permit" or "jobs").
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let wants = |part: &str| filter.as_deref().is_none_or(|f| part.contains(f));
    apiary::install_tls();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        let work = async {
            if wants("permit") {
                permit_cost().await;
            }
            if wants("jobs") {
                throughput().await;
            }
        };
        tokio::select! {
            () = work => {}
            _ = tokio::signal::ctrl_c() => eprintln!("interrupted: stopping the workers"),
        }
    });
}
