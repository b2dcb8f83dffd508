//! The resilience stack's costs, as the issue asks for them (figures in BENCHMARKS.md):
//! - the stack's own cost per call with no network (timeout + limiter + breaker + the recorded
//!   GLOBAL_QUOTE body classified by the Alpha Vantage connector), beside the same closure bare;
//! - rejection by an open breaker (`Breaker::try_acquire`), with allocations counted;
//! - throughput through the full stack (`Fetcher::fetch`) against a local fast upstream, beside
//!   a bare client (the connector builds the request, plain reqwest sends it, the connector
//!   reads the answer: everything but the stack), bare GETs of a prepared URL with and without
//!   the connector's read, at the same concurrency, in rotating rounds;
//! - p50 latency of `GET /v1/datasets/arxiv?...` served from the cache, fresh (breaker closed)
//!   against stale with the breaker held open, read in alternating pairs from two apps.
//!
//! No benchmark framework: plain `Instant` timing over many iterations, the median of several
//! runs, and a counting global allocator. Run with `cargo bench --bench resilience`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use apiary::config::{BreakerSettings, Config, Window};
use apiary::fetch::Fetcher;
use apiary::resilience::{Breaker, BreakerState, Outcome, Stack};
use apiary_connectors::{Connector, ConnectorError, Context, Page, Params, Request, Response};

// ---- allocation counting -------------------------------------------------------------------

/// The system allocator, counting allocations made by the current thread.
struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

// ---- helpers -------------------------------------------------------------------------------

const RUNS: usize = 15;
const BODY: &[u8] = include_bytes!("data/global_quote_MSFT_success.json");
/// Alpha Vantage's HTTP 200 rate-limit `Note`: a body that classification alone decides.
const NOTE: &[u8] = include_bytes!("data/rate_limit_note_200.json");

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 }
}

fn quantile(v: &[f64], q: f64) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    v[((v.len() - 1) as f64 * q).round() as usize]
}

/// The configuration every part uses: Alpha Vantage pointed at `base_url`, a rate limit that
/// never waits, a key so that requests can be built.
fn config(base_url: &str) -> Config {
    let env = [
        ("APIARY_CONNECTORS__ALPHA_VANTAGE__BASE_URL", base_url),
        ("APIARY_CONNECTORS__ALPHA_VANTAGE__RATE_LIMIT", "1000000000/s"),
        ("APIARY_CONNECTORS__ALPHA_VANTAGE__API_KEY", "bench"),
    ];
    Config::load_with(&[], env.iter().map(|(k, v)| (k.to_string(), v.to_string()))).expect("bench config")
}

fn quote_params() -> Params {
    [("function", "GLOBAL_QUOTE"), ("symbol", "MSFT")].into_iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect()
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument picks parts.
    let filter: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let wanted = |name: &str| filter.is_empty() || filter.iter().any(|f| name.contains(f.as_str()));
    println!("apiary resilience benchmarks: medians of {RUNS} runs (release profile)\n");
    if wanted("overhead") {
        stack_overhead();
    }
    if wanted("rejection") {
        open_breaker_rejection();
    }
    if wanted("throughput") {
        throughput();
    }
    if wanted("read") {
        stale_read();
    }
}

// ---- 1. the stack's own cost per call --------------------------------------------------------

fn stack_overhead() {
    let cfg = config("http://127.0.0.1:9");
    let settings = cfg.connector("alpha_vantage").unwrap();
    let connector = apiary_connectors::get("alpha_vantage").unwrap();
    let params = quote_params();
    let ctx = Context {
        base_url: &settings.base_url,
        api_key: Some("bench"),
        contact_email: None,
        max_pages: 1,
        token: None,
    };
    let request: Request = connector.start(&ctx, &params).unwrap();
    let response = Response::new(200, BODY);
    let classify = || async { connector.read(&ctx, &params, &request, &response) };
    // The Note's class comes back as a value, so the stack sees a success and never retries:
    // what is timed is the stack plus classifying a small body, nothing else.
    let note_response = Response::new(200, NOTE);
    let classify_note = || async {
        let class = connector.read(&ctx, &params, &request, &note_response).map(|_| ()).map_err(|e| e.class);
        Ok::<_, ConnectorError>(black_box(class))
    };
    let noop = || async { Ok::<u32, ConnectorError>(black_box(1)) };
    assert!(classify_once(connector, &ctx, &params, &request, &response).records.len() == 1);
    let note = connector.read(&ctx, &params, &request, &note_response).map(|_| ()).unwrap_err();
    assert_eq!(note.class, apiary_connectors::ErrorClass::RateLimited);

    let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
    const CALLS: u32 = 20_000;

    for recorder in [false, true] {
        if recorder {
            // The service installs a Prometheus recorder; every call then updates a counter and a
            // histogram for real. It cannot be uninstalled, so this pass comes second.
            let _ = apiary::telemetry::metrics_handle();
        }
        let stack = Stack::new("alpha_vantage", &[], settings, &cfg.fetch, None);
        let (mut stacked, mut bare, mut stack_noop, mut bare_noop) = (vec![], vec![], vec![], vec![]);
        let (mut stack_note, mut bare_note) = (vec![], vec![]);
        rt.block_on(async {
            for run in 0..=RUNS {
                let t = Instant::now();
                for _ in 0..CALLS {
                    black_box(stack.call("page", classify).await.unwrap());
                }
                let s = t.elapsed().as_nanos() as f64 / CALLS as f64;
                let t = Instant::now();
                for _ in 0..CALLS {
                    black_box(classify().await.unwrap());
                }
                let b = t.elapsed().as_nanos() as f64 / CALLS as f64;
                let t = Instant::now();
                for _ in 0..CALLS {
                    black_box(stack.call("page", noop).await.unwrap());
                }
                let sn = t.elapsed().as_nanos() as f64 / CALLS as f64;
                let t = Instant::now();
                for _ in 0..CALLS {
                    black_box(noop().await.unwrap());
                }
                let bn = t.elapsed().as_nanos() as f64 / CALLS as f64;
                let t = Instant::now();
                for _ in 0..CALLS {
                    let _ = black_box(stack.call("page", classify_note).await.unwrap());
                }
                let sc = t.elapsed().as_nanos() as f64 / CALLS as f64;
                let t = Instant::now();
                for _ in 0..CALLS {
                    let _ = black_box(classify_note().await.unwrap());
                }
                let bc = t.elapsed().as_nanos() as f64 / CALLS as f64;
                if run > 0 {
                    stack_note.push(sc);
                    bare_note.push(bc);
                    // Run 0 warms caches and the allocator.
                    stacked.push(s);
                    bare.push(b);
                    stack_noop.push(sn);
                    bare_noop.push(bn);
                }
            }
        });
        let overhead: Vec<f64> = stacked.iter().zip(&bare).map(|(s, b)| s - b).collect();
        let noop_overhead: Vec<f64> = stack_noop.iter().zip(&bare_noop).map(|(s, b)| s - b).collect();
        println!(
            "stack overhead, no network ({} metrics recorder), ns/call:",
            if recorder { "Prometheus" } else { "no" }
        );
        println!("  Stack::call(classify GLOBAL_QUOTE) {:>8.0}", median(stacked.clone()));
        println!("  classify GLOBAL_QUOTE, bare        {:>8.0}", median(bare.clone()));
        println!(
            "  overhead (paired, median)          {:>8.0}   [min {:.0}, max {:.0}]",
            median(overhead.clone()),
            quantile(&overhead, 0.0),
            quantile(&overhead, 1.0)
        );
        println!("  Stack::call(no-op closure)         {:>8.0}", median(stack_noop.clone()));
        println!("  no-op closure, bare                {:>8.1}", median(bare_noop.clone()));
        println!("  overhead with no-op (paired)       {:>8.0}", median(noop_overhead));
        println!("  Stack::call(classify rate-limit Note) {:>5.0}", median(stack_note.clone()));
        println!("  classify rate-limit Note, bare     {:>8.0}\n", median(bare_note.clone()));
    }
}

fn classify_once(c: &dyn Connector, ctx: &Context, p: &Params, req: &Request, resp: &Response) -> Page {
    c.read(ctx, p, req, resp).expect("the recorded quote parses")
}

// ---- 2. rejection by an open breaker ---------------------------------------------------------

fn open_breaker_rejection() {
    let breaker = Breaker::new(
        "bench",
        BreakerSettings {
            failure_threshold: 1,
            failure_rate_threshold: 50.0,
            minimum_calls: 10,
            window: Window::Count(10),
            slow_call_threshold: Duration::from_secs(10),
            timeout: Duration::from_secs(10),
            recovery_timeout: Duration::from_secs(3600),
            success_threshold: 1,
            half_open_max_calls: 1,
            per_operation: false,
        },
    );
    let p = breaker.try_acquire().unwrap();
    breaker.record(p, Outcome::Failure, Duration::ZERO);
    assert!(breaker.try_acquire().is_err(), "the breaker is open");

    const CALLS: u64 = 1_000_000;
    let mut times = Vec::new();
    let mut allocated = 0;
    for run in 0..=RUNS {
        let before = allocations();
        let t = Instant::now();
        for _ in 0..CALLS {
            black_box(black_box(&breaker).try_acquire()).unwrap_err();
        }
        let ns = t.elapsed().as_nanos() as f64 / CALLS as f64;
        let after = allocations();
        if run > 0 {
            times.push(ns);
            allocated += after - before;
        }
    }
    println!("rejection by an open breaker (Breaker::try_acquire -> Err(Duration)):");
    println!(
        "  median {:.1} ns/call [min {:.1}, max {:.1}]",
        median(times.clone()),
        quantile(&times, 0.0),
        quantile(&times, 1.0)
    );
    println!("  allocations in {} calls: {allocated}", CALLS * RUNS as u64);

    // The same refusal seen through the stack, for comparison: it builds the deferral's reason.
    let cfg = config("http://127.0.0.1:9");
    let mut settings = cfg.connector("alpha_vantage").unwrap().clone();
    settings.breaker.failure_threshold = 1;
    let stack = Stack::new("alpha_vantage", &[], &settings, &cfg.fetch, None);
    let p = stack.breaker(None).unwrap().try_acquire().unwrap();
    stack.breaker(None).unwrap().record(p, Outcome::Failure, Duration::ZERO);
    let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
    const STACK_CALLS: u64 = 200_000;
    let mut times = Vec::new();
    let mut allocated = 0;
    rt.block_on(async {
        for run in 0..=RUNS {
            let before = allocations();
            let t = Instant::now();
            for _ in 0..STACK_CALLS {
                black_box(stack.call("page", || async { Ok::<(), ConnectorError>(()) }).await.unwrap_err());
            }
            let ns = t.elapsed().as_nanos() as f64 / STACK_CALLS as f64;
            let after = allocations();
            if run > 0 {
                times.push(ns);
                allocated += after - before;
            }
        }
    });
    println!(
        "  through Stack::call (-> CallError::Deferred): median {:.1} ns/call, {:.1} allocations/call\n",
        median(times),
        allocated as f64 / (STACK_CALLS * RUNS as u64) as f64
    );
}

// ---- 3. throughput against a local upstream ------------------------------------------------

/// Concurrent callers, as a worker with `queue.concurrency` jobs would be.
const CONCURRENCY: usize = 8;
const REQUESTS_PER_ROUND: usize = 2_000;
const ROUNDS: usize = 60;

fn throughput() {
    apiary::install_tls();
    // The service always runs with the Prometheus recorder; the stack's metrics are part of its cost.
    let _ = apiary::telemetry::metrics_handle();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = axum::Router::new().route(
            "/query",
            axum::routing::get(|| async { ([(axum::http::header::CONTENT_TYPE, "application/json")], BODY) }),
        );
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

        let base_url = format!("http://{addr}");
        let cfg = Arc::new(config(&base_url));
        let fetcher = Arc::new(Fetcher::new(cfg.clone(), None).unwrap());
        let connector = apiary_connectors::get("alpha_vantage").unwrap();
        let params = Arc::new(quote_params());
        let bare = reqwest::Client::builder().user_agent(cfg.fetch.user_agent.clone()).build().unwrap();
        let url = format!("{base_url}/query?function=GLOBAL_QUOTE&symbol=MSFT&apikey=bench");
        let base = Arc::new(base_url.clone());
        let request = {
            let ctx = Context { base_url: &base, api_key: Some("bench"), contact_email: None, max_pages: 1, token: None };
            Arc::new(connector.start(&ctx, &params).unwrap())
        };

        let stack_round = || {
            let (fetcher, params) = (fetcher.clone(), params.clone());
            round(move || {
                let (fetcher, params) = (fetcher.clone(), params.clone());
                async move {
                    let fetched = fetcher.fetch(connector, &params, &Default::default()).await;
                    match fetched.expect("fetch through the stack") {
                        apiary::fetch::Fetched::Records { records, .. } => assert_eq!(records.len(), 1),
                        other => panic!("not records: {other:?}"),
                    }
                }
            })
        };
        let bare_round = || {
            let (bare, url) = (bare.clone(), url.clone());
            round(move || {
                let (bare, url) = (bare.clone(), url.clone());
                async move {
                    let resp = bare.get(&url).send().await.expect("bare GET");
                    assert!(resp.status().is_success());
                    black_box(resp.bytes().await.expect("bare body"));
                }
            })
        };

        // The fair baseline: the same GET, then the same connector reading the body, no stack.
        let bare_read_round = || {
            let (bare, url, base, params, request) =
                (bare.clone(), url.clone(), base.clone(), params.clone(), request.clone());
            round(move || {
                let (bare, url, base, params, request) =
                    (bare.clone(), url.clone(), base.clone(), params.clone(), request.clone());
                async move {
                    let resp = bare.get(&url).send().await.expect("bare GET");
                    let status = resp.status().as_u16();
                    let body = resp.bytes().await.expect("bare body");
                    let ctx = Context { base_url: &base, api_key: Some("bench"), contact_email: None, max_pages: 1, token: None };
                    let page = connector.read(&ctx, &params, &request, &Response::new(status, &body)).expect("read");
                    assert_eq!(black_box(page).records.len(), 1);
                }
            })
        };

        // What a caller without apiary's stack writes for the same call: the connector builds
        // the request from the parameters, reqwest sends it the usual way (URL, then the query
        // pairs, the key among them), the connector reads the answer. No breaker, no limiter, no
        // retry, no timeout.
        let bare_client_round = || {
            let (bare, base, params) = (bare.clone(), base.clone(), params.clone());
            round(move || {
                let (bare, base, params) = (bare.clone(), base.clone(), params.clone());
                async move {
                    let ctx = Context { base_url: &base, api_key: Some("bench"), contact_email: None, max_pages: 1, token: None };
                    let request = connector.start(&ctx, &params).expect("start");
                    let mut query: Vec<(&str, &str)> = request.query.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                    query.extend(request.secrets.iter().map(|(_, k, v)| (k.as_str(), v.as_str())));
                    let resp = bare.get(&request.url).query(&query).send().await.expect("bare GET");
                    let status = resp.status().as_u16();
                    let body = resp.bytes().await.expect("bare body");
                    let page = connector.read(&ctx, &params, &request, &Response::new(status, &body)).expect("read");
                    assert_eq!(black_box(page).records.len(), 1);
                }
            })
        };

        // Warm up the clients' connection pools.
        stack_round().await;
        bare_round().await;
        bare_read_round().await;
        bare_client_round().await;
        const ARMS: usize = 4;
        let mut rps: [Vec<f64>; ARMS] = Default::default();
        let (mut vs_bare, mut vs_read, mut vs_client, mut read_vs_bare) = (vec![], vec![], vec![], vec![]);
        for i in 0..ROUNDS {
            // Rotate which arm goes first, so that drift in the machine's load hits all alike.
            let mut r = [0.0; ARMS];
            for k in 0..ARMS {
                let arm = (i + k) % ARMS;
                r[arm] = match arm {
                    0 => stack_round().await,
                    1 => bare_round().await,
                    2 => bare_read_round().await,
                    _ => bare_client_round().await,
                };
            }
            for (all, one) in rps.iter_mut().zip(r) {
                all.push(one);
            }
            let [s, b, br, bc] = r;
            vs_bare.push(s / b);
            vs_read.push(s / br);
            vs_client.push(s / bc);
            read_vs_bare.push(br / b);
        }
        let [ms, mb, mr, mc] = rps.map(median);
        println!(
            "throughput against a local upstream ({CONCURRENCY} concurrent callers, {REQUESTS_PER_ROUND} requests a round, {ROUNDS} rotating rounds):"
        );
        println!("  full stack (Fetcher::fetch: stack + reqwest + connector read)  median {ms:>8.0} req/s");
        println!("  bare client: connector start + reqwest GET + connector read   median {mc:>8.0} req/s");
        println!("  bare reqwest GET of a prepared URL + the same connector read   median {mr:>8.0} req/s");
        println!("  bare reqwest GET of a prepared URL + body                      median {mb:>8.0} req/s");
        let line = |name: &str, num: f64, den: f64, per: &[f64]| {
            println!(
                "  {name:<38} ratio of medians {:.3}; per-round: median {:.3}, min {:.3}, max {:.3}",
                num / den,
                median(per.to_vec()),
                quantile(per, 0.0),
                quantile(per, 1.0)
            )
        };
        line("full stack / bare client", ms, mc, &vs_client);
        line("full stack / (bare GET + read)", ms, mr, &vs_read);
        line("full stack / bare GET", ms, mb, &vs_bare);
        line("(bare GET + read) / bare GET", mr, mb, &read_vs_bare);
        println!();
    });
}

/// Run `REQUESTS_PER_ROUND` calls of `one` from `CONCURRENCY` tasks; requests per second.
async fn round<F, Fut>(one: F) -> f64
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let t = Instant::now();
    let tasks: Vec<_> = (0..CONCURRENCY)
        .map(|_| {
            let one = one.clone();
            tokio::spawn(async move {
                for _ in 0..REQUESTS_PER_ROUND / CONCURRENCY {
                    one().await;
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    REQUESTS_PER_ROUND as f64 / t.elapsed().as_secs_f64()
}

// ---- 4. stale read with the breaker open vs fresh read ----------------------------------------

const READ_ROUNDS: usize = 12;
const READS_PER_ROUND: usize = 400;
const ARXIV_QUERY: &str = "search_query=all:testing&max_results=10";

/// `GET /v1/datasets/arxiv?...` against two `App`s served on 127.0.0.1, each on its own
/// temporary SQLite database holding the same cached dataset (the 10 recorded arXiv records):
/// one with the arXiv breaker held closed (fresh reads), one with it held open (stale reads; no
/// refresh is queued then). Reads alternate between the two request by request, one at a time
/// over a kept-alive connection each, with the order within each pair swapped every pair, so
/// that the machine's drift falls on both alike.
fn stale_read() {
    apiary::install_tls();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        let fresh_app = reading_app(BreakerState::Closed).await;
        let stale_app = reading_app(BreakerState::Open).await;
        // The API's view of persisted breakers is re-read at most once a second in a process
        // that runs no workers: let it catch up with the held states before timing.
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let read = |client: reqwest::Client, url: String, want_stale: bool| async move {
            let t = Instant::now();
            let resp = client.get(&url).send().await.expect("read");
            let status = resp.status().as_u16();
            let body = resp.bytes().await.expect("read body");
            let took = t.elapsed().as_nanos() as f64 / 1000.0;
            assert_eq!(status, 200);
            let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(v["stale"], want_stale, "{v}");
            assert!(v.get("refresh_job").is_none(), "no refresh is queued");
            took
        };
        let (fresh_client, stale_client) = (reqwest::Client::new(), reqwest::Client::new());
        let pairs = |n: usize| {
            let (fresh_client, stale_client) = (fresh_client.clone(), stale_client.clone());
            let (fresh_url, stale_url) = (fresh_app.1.clone(), stale_app.1.clone());
            async move {
                let (mut fresh, mut stale) = (Vec::with_capacity(n), Vec::with_capacity(n));
                for i in 0..n {
                    let f = read(fresh_client.clone(), fresh_url.clone(), false);
                    let s = read(stale_client.clone(), stale_url.clone(), true);
                    if i % 2 == 0 {
                        fresh.push(f.await);
                        stale.push(s.await);
                    } else {
                        stale.push(s.await);
                        fresh.push(f.await);
                    }
                }
                (fresh, stale)
            }
        };

        pairs(READS_PER_ROUND).await; // warm-up
        let (mut all_fresh, mut all_stale, mut ratios) = (vec![], vec![], vec![]);
        for _ in 0..READ_ROUNDS {
            let (fresh, stale) = pairs(READS_PER_ROUND).await;
            ratios.push(quantile(&stale, 0.5) / quantile(&fresh, 0.5));
            all_fresh.extend(fresh);
            all_stale.extend(stale);
        }
        let (f, s) = (quantile(&all_fresh, 0.5), quantile(&all_stale, 0.5));
        println!(
            "cached read GET /v1/datasets/arxiv (10 records, SQLite, over loopback; {READ_ROUNDS} rounds of {READS_PER_ROUND} fresh/stale pairs, alternating), µs:"
        );
        println!("  fresh, breaker closed          p50 {f:>7.1}   p90 {:>7.1}", quantile(&all_fresh, 0.9));
        println!("  stale, breaker held open       p50 {s:>7.1}   p90 {:>7.1}", quantile(&all_stale, 0.9));
        println!(
            "  stale/fresh ratio of p50s {:.3}; per-round: median {:.3}, min {:.3}, max {:.3}\n",
            s / f,
            median(ratios.clone()),
            quantile(&ratios, 0.0),
            quantile(&ratios, 1.0)
        );
        drop((fresh_app, stale_app));
    });
}

/// An `App` with the recorded arXiv search cached and its arXiv breaker held in `state`, its API
/// served on 127.0.0.1: the app, the dataset's read URL, and the directory holding its database.
async fn reading_app(state: BreakerState) -> (Arc<apiary::app::App>, String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let env = [("APIARY_DATABASE_URL".to_string(), format!("sqlite://{}", dir.path().join("apiary.db").display()))];
    let config = Config::load_with(&[], env).expect("bench config");
    let app = apiary::app::App::start(config).await.expect("app starts");

    // One cached dataset: the recorded arXiv search, parsed by the connector.
    let body = apiary_connectors::fixtures::read("arxiv/query_search_testing_start0_max10_success.xml");
    let raw: Params = ARXIV_QUERY
        .split('&')
        .map(|kv| kv.split_once('=').unwrap())
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let q = apiary::app::Question::new("arxiv", raw).unwrap();
    let settings = app.config().connector("arxiv").unwrap();
    let ctx = Context { base_url: &settings.base_url, api_key: None, contact_email: None, max_pages: 1, token: None };
    let request = q.connector.start(&ctx, &q.params).unwrap();
    let page = q.connector.read(&ctx, &q.params, &request, &Response::new(200, &body)).expect("fixture parses");
    assert_eq!(page.records.len(), 10);
    let records = serde_json::value::to_raw_value(&page.records).unwrap();
    app.store()
        .upsert_dataset("arxiv", &q.key, &q.params_json(), &records, page.records.len(), chrono::Utc::now())
        .await
        .unwrap();
    app.fetcher().stack("arxiv").unwrap().hold(None, Some(state)).await;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1/datasets/arxiv?{ARXIV_QUERY}", listener.local_addr().unwrap());
    let router = apiary::api::router(app.clone());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (app, url, dir)
}
