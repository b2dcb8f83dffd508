//! The `apiary` command line.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use apiary_connectors::Params;
use clap::{Parser, Subcommand};

use crate::app::{App, Question};
use crate::config::{Config, format_duration};
use crate::groups::GroupQuestion;
use crate::store::JobStatus;
use crate::telemetry::LogFormat;

/// apiary: third-party data, fetched through a job queue behind per-upstream rate limits and
/// circuit breakers, and served from a cache — stale-flagged, never silently — when an upstream fails.
#[derive(Parser)]
#[command(name = "apiary", version, propagate_version = true)]
pub struct Cli {
    /// A TOML file layered over the built-in defaults (repeatable; later files win).
    #[arg(long = "config", short = 'c', global = true, value_name = "FILE")]
    config: Vec<PathBuf>,
    /// Log format.
    #[arg(long, global = true, value_enum, default_value = "text")]
    log_format: LogFormat,
    /// Serve the API on an address other than loopback with no token configured (anyone who can
    /// reach the port may then enqueue, hold breakers and read every dataset).
    #[arg(long, global = true)]
    insecure_no_auth: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// API, workers and scheduler in one process (the quick start).
    Run,
    /// Fetch workers only.
    Worker,
    /// The HTTP API only.
    Serve,
    /// The scheduler only: enqueues `[[syncs]]` on their timetable (once per tick fleet-wide).
    Scheduler,
    /// Apply database migrations and set up the queue, then exit.
    Migrate,
    /// Queue a fetch: `apiary enqueue arxiv search_query=cat:cs.AI max_results=10`, or of a
    /// failover group: `apiary enqueue --group daily_bars symbol=AAPL from=2024-01-02 to=2024-01-31`.
    /// Prints the job id.
    Enqueue {
        /// The connector, or with --group the failover group.
        connector: String,
        /// Ask a failover group (`[[groups]]`) instead of one connector.
        #[arg(long)]
        group: bool,
        /// Parameters as key=value.
        #[arg(value_name = "KEY=VALUE")]
        params: Vec<String>,
        /// Wait for the job to end, showing its progress; exit non-zero if it failed.
        #[arg(long)]
        wait: bool,
        /// How long --wait waits.
        #[arg(long, default_value = "5m", value_parser = parse_duration_arg)]
        timeout: Duration,
    },
    /// Print a cached dataset as JSON; with --group, a failover group's best cached answer.
    Get {
        /// The connector, or with --group the failover group.
        connector: String,
        /// Ask a failover group (`[[groups]]`) instead of one connector.
        #[arg(long)]
        group: bool,
        #[arg(value_name = "KEY=VALUE")]
        params: Vec<String>,
    },
    /// Breakers, queue and datasets at a glance.
    Status,
    /// Each connector with its parameters, limits and whether its key is set.
    Connectors,
    /// Ask a running API whether it is alive (`/health`, or `/ready` with --ready); exit 0 when it
    /// says so, 1 when not. For container health checks: no other HTTP client is needed.
    Health {
        /// Ask `/ready` (the database and the queue answer) instead of `/health`.
        #[arg(long)]
        ready: bool,
        /// The API's root; by default the configured `listen` address (on loopback when it is a
        /// wildcard).
        #[arg(long)]
        url: Option<String>,
    },
}

fn parse_duration_arg(s: &str) -> Result<Duration, String> {
    crate::config::parse_duration(s)
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // Before the first HTTP client, which the trace exporter may build.
    crate::install_tls();
    let _tracing = crate::telemetry::init_logs(cli.log_format);
    let config = match Config::load(&cli.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("apiary: {e}");
            return ExitCode::from(2);
        }
    };
    if matches!(cli.command, Command::Run | Command::Serve)
        && let Err(e) = check_exposure(&config, cli.insecure_no_auth)
    {
        eprintln!("apiary: {e}");
        return ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("apiary: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(dispatch(cli.command, config)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("apiary: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// An API reachable from other machines must ask for a token, unless the operator says otherwise.
fn check_exposure(config: &Config, insecure_no_auth: bool) -> Result<(), String> {
    if config.listen.ip().is_loopback() || !config.api.tokens.is_empty() {
        return Ok(());
    }
    if insecure_no_auth {
        tracing::warn!(listen = %config.listen, "serving the API without authentication (--insecure-no-auth)");
        return Ok(());
    }
    Err(format!(
        "refusing to serve the API on {} without authentication: set {} (`admin:TOKEN,read:TOKEN`), \
         listen on a loopback address, or pass --insecure-no-auth",
        config.listen,
        crate::config::TOKENS_VAR
    ))
}

async fn dispatch(command: Command, config: Config) -> anyhow::Result<ExitCode> {
    if let Command::Connectors = command {
        print_connectors(&config);
        return Ok(ExitCode::SUCCESS);
    }
    if let Command::Health { ready, url } = command {
        return health(&config, ready, url).await;
    }
    let app = App::start(config).await.context("start-up")?;
    match command {
        Command::Run => run(app, Parts { api: true, workers: true, scheduler: true }).await,
        Command::Worker => run(app, Parts { api: false, workers: true, scheduler: false }).await,
        Command::Serve => run(app, Parts { api: true, workers: false, scheduler: false }).await,
        Command::Scheduler => run(app, Parts { api: false, workers: false, scheduler: true }).await,
        Command::Migrate => {
            println!("migrations applied; cache on {}, queue on {}", app.store().kind(), app.queue().backend());
            Ok(ExitCode::SUCCESS)
        }
        Command::Enqueue { connector, group, params, wait, timeout } => {
            enqueue(&app, &connector, group, &params, wait, timeout).await
        }
        Command::Get { connector, group: false, params } => get(&app, &connector, &params).await,
        Command::Get { connector, group: true, params } => get_group(&app, &connector, &params).await,
        Command::Status => status(&app).await,
        Command::Connectors | Command::Health { .. } => unreachable!("handled above"),
    }
}

/// Which parts of the service a process runs.
struct Parts {
    api: bool,
    workers: bool,
    scheduler: bool,
}

async fn run(app: Arc<App>, parts: Parts) -> anyhow::Result<ExitCode> {
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = move || {
        let mut rx = stop_rx.clone();
        async move {
            let _ = rx.wait_for(|s| *s).await;
        }
    };
    let mut tasks = tokio::task::JoinSet::new();
    if let Some(fleet) = app.fleet().cloned() {
        let role = [(parts.api, "api"), (parts.workers, "worker"), (parts.scheduler, "scheduler")]
            .iter()
            .filter(|(on, _)| *on)
            .map(|(_, r)| *r)
            .collect::<Vec<_>>()
            .join("+");
        let stop = stopped();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(5));
            let mut stop = std::pin::pin!(stop);
            loop {
                tokio::select! {
                    _ = tick.tick() => fleet.heartbeat(&role).await,
                    _ = &mut stop => break,
                }
            }
        });
    }
    if parts.api {
        let listener = tokio::net::TcpListener::bind(app.config().listen)
            .await
            .with_context(|| format!("cannot listen on {}", app.config().listen))?;
        tracing::info!(listen = %app.config().listen, "API listening");
        let app = app.clone();
        let stop = stopped();
        tasks.spawn(async move { crate::api::serve(app, listener, stop).await.context("API server") });
    }
    if parts.scheduler {
        let app = app.clone();
        let stop = stopped();
        tasks.spawn(async move {
            crate::service::run_scheduler(app, stop).await;
            Ok(())
        });
    }
    if parts.workers {
        tracing::info!(
            queue = app.queue().backend(),
            cache = app.store().kind(),
            concurrency = app.config().queue.concurrency,
            "workers starting"
        );
        let app = app.clone();
        let stop = stopped();
        tasks.spawn(async move { crate::service::run_workers(app, stop).await.context("workers") });
    }
    tokio::select! {
        _ = shutdown_signal() => tracing::info!("shutting down; finishing jobs in flight"),
        Some(done) = tasks.join_next() => {
            // A part ended on its own: that is a failure worth stopping for.
            let _ = stop_tx.send(true);
            return match done {
                Ok(Ok(())) => bail!("a component stopped unexpectedly"),
                Ok(Err(e)) => Err(e),
                Err(e) => Err(e.into()),
            };
        }
    }
    let _ = stop_tx.send(true);
    while let Some(done) = tasks.join_next().await {
        if let Ok(Err(e)) = done {
            tracing::error!(error = %e, "component failed while stopping");
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = ctrl_c.await;
                return;
            }
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

fn parse_pairs(pairs: &[String]) -> anyhow::Result<Params> {
    let mut params = Params::new();
    for pair in pairs {
        let Some((k, v)) = pair.split_once('=') else {
            bail!("`{pair}` is not key=value");
        };
        if params.insert(k.to_owned(), v.to_owned()).is_some() {
            bail!("parameter `{k}` given twice");
        }
    }
    Ok(params)
}

async fn enqueue(
    app: &App,
    name: &str,
    group: bool,
    pairs: &[String],
    wait: bool,
    timeout: Duration,
) -> anyhow::Result<ExitCode> {
    let params = parse_pairs(pairs)?;
    let (job, created) = match group {
        false => app.enqueue(&Question::new(name, params)?).await?,
        true => crate::groups::enqueue(app, &GroupQuestion::new(app, name, params)?, None).await?,
    };
    println!("{}", job.id);
    if !created {
        eprintln!("{} was already queued; this is its pending job", job.key);
    }
    if !wait {
        return Ok(ExitCode::SUCCESS);
    }
    let deadline = tokio::time::Instant::now() + timeout;
    let mut last = String::new();
    loop {
        let row = app.store().job(&job.id).await?.context("the job disappeared")?;
        let line = match row.status() {
            JobStatus::Deferred => format!(
                "deferred until {}: {}",
                row.run_at.map(|t| t.to_rfc3339()).unwrap_or_default(),
                row.error.clone().unwrap_or_default()
            ),
            s => format!("{} (attempt {})", s.as_str(), row.attempts),
        };
        // A group job's dataset is its member's of the moment.
        let line = format!("{}: {line}", row.key);
        if line != last {
            eprintln!("{line}");
            last = line;
        }
        match row.status() {
            JobStatus::Succeeded => {
                if let Some(d) = app.store().dataset(&row.key).await? {
                    eprintln!("{} records cached at {}", d.record_count, d.fetched_at.to_rfc3339());
                }
                return Ok(ExitCode::SUCCESS);
            }
            JobStatus::Failed => {
                eprintln!("failed: {}", row.error.unwrap_or_default());
                return Ok(ExitCode::FAILURE);
            }
            _ => {}
        }
        if tokio::time::Instant::now() >= deadline {
            eprintln!("still {} after {}; the job goes on", row.status, format_duration(timeout));
            return Ok(ExitCode::from(3));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn get(app: &App, connector: &str, pairs: &[String]) -> anyhow::Result<ExitCode> {
    let q = Question::new(connector, parse_pairs(pairs)?)?;
    let Some(d) = app.dataset(&q).await? else {
        eprintln!("{} has never been fetched; run `apiary enqueue {connector} ... --wait` first", q.key);
        return Ok(ExitCode::from(4));
    };
    let standing = app.standing(&q, d.fetched_at).await;
    let mut out = serde_json::json!({
        "dataset": d.key,
        "connector": d.connector,
        "params": d.params.0,
        "records": d.records.0,
        "record_count": d.record_count,
        "fetched_at": d.fetched_at,
        "age_seconds": standing.age.as_secs(),
        "stale": standing.stale,
        "breaker": standing.breaker,
    });
    if let Some(job) = standing.refresh_job {
        out["refresh_job"] = job.into();
    }
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(ExitCode::SUCCESS)
}

async fn get_group(app: &App, name: &str, pairs: &[String]) -> anyhow::Result<ExitCode> {
    let gq = GroupQuestion::new(app, name, parse_pairs(pairs)?)?;
    let read = crate::groups::read(app, &gq).await?;
    let Some(body) = read.body(&gq) else {
        eprintln!("no member of {name} has an answer cached; run `apiary enqueue --group {name} ... --wait` first");
        for m in &read.members {
            let why = m.error.as_deref().map(|e| format!(": {e}")).unwrap_or_default();
            eprintln!("  {:<18} breaker {}{why}", m.connector, m.breaker.as_str());
        }
        return Ok(ExitCode::from(4));
    };
    println!("{}", serde_json::to_string_pretty(&body)?);
    Ok(ExitCode::SUCCESS)
}

async fn health(config: &Config, ready: bool, url: Option<String>) -> anyhow::Result<ExitCode> {
    let root = url.unwrap_or_else(|| {
        let mut addr = config.listen;
        if addr.ip().is_unspecified() {
            addr.set_ip(match addr {
                std::net::SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
                std::net::SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
            });
        }
        format!("http://{addr}")
    });
    let url = format!("{}/{}", root.trim_end_matches('/'), if ready { "ready" } else { "health" });
    let client = reqwest::Client::builder().timeout(Duration::from_secs(5)).build()?;
    match client.get(&url).send().await {
        Ok(r) if r.status().is_success() => Ok(ExitCode::SUCCESS),
        Ok(r) => {
            let status = r.status();
            eprintln!("{url}: {status} {}", r.text().await.unwrap_or_default());
            Ok(ExitCode::FAILURE)
        }
        Err(e) => {
            eprintln!("{url}: {e}");
            Ok(ExitCode::FAILURE)
        }
    }
}

async fn status(app: &App) -> anyhow::Result<ExitCode> {
    println!("cache: {}   queue: {}", app.store().kind(), app.queue().backend());
    let jobs = app.store().job_counts().await?;
    let jobs: Vec<String> = jobs.iter().map(|(s, n)| format!("{s} {n}")).collect();
    println!("jobs: {}", if jobs.is_empty() { "none".to_owned() } else { jobs.join(", ") });
    println!("datasets: {}", app.store().dataset_count().await?);
    if let Some(fleet) = app.fleet() {
        let members = fleet.members().await.unwrap_or_default();
        println!("fleet: {} live process(es)", members.len());
        for (member, role, seen) in members {
            println!("  {member:<40} {role:<24} seen {}", seen.to_rfc3339());
        }
    }
    // Each breaker as reads see it: the fleet's, else what the workers last persisted.
    match app.fleet().is_some() {
        true => println!("breakers (fleet-wide):"),
        false => println!("breakers (as the workers last persisted them):"),
    }
    let snaps = app.breakers().all().await;
    for c in apiary_connectors::all() {
        let operations = app.fetcher().stack(c.id()).map(|s| s.operations().collect::<Vec<_>>()).unwrap_or_default();
        for operation in std::iter::once(None).chain(operations.into_iter().map(Some)) {
            let line = match snaps.iter().find(|s| s.connector == c.id() && s.operation.as_deref() == operation) {
                Some(s) => {
                    let retry = s.retry_at.map(|t| format!(", retry at {}", t.to_rfc3339())).unwrap_or_default();
                    let held = s.held.map(|f| format!(" (held {})", f.as_str())).unwrap_or_default();
                    format!("{}{held}, {} of {} recent calls failed{retry}", s.state.as_str(), s.failures, s.calls)
                }
                None => "closed".to_owned(),
            };
            println!("  {:<30} {line}", crate::resilience::breaker_key(c.id(), operation));
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_connectors(config: &Config) {
    for c in apiary_connectors::all() {
        let Some(s) = config.connector(c.id()) else { continue };
        let key = match (c.requires_key(), s.api_key.is_some()) {
            (_, true) => "key set",
            (true, false) => "KEY MISSING (required)",
            (false, false) => "no key (optional)",
        };
        let contact = if c.requires_contact() && config.contact_email.is_none() {
            ", CONTACT MISSING (APIARY_CONTACT_EMAIL)"
        } else {
            ""
        };
        let limit = s.rate_limit.iter().map(|q| q.to_string()).collect::<Vec<_>>().join(",");
        println!("{:<18} {}", c.id(), c.describe());
        println!("  limit {limit}, ttl {}, {key}{contact}", format_duration(s.ttl));
        if !c.operations().is_empty() {
            let breakers = if s.breaker.per_operation { "a breaker each" } else { "one breaker" };
            println!("  operations {} ({breakers})", c.operations().join(", "));
        }
        println!("  {}", apiary_connectors::strip_userinfo(&s.base_url));
        for p in c.params() {
            let req = if p.required { " (required)" } else { "" };
            println!("    {:<14}{req} {}", p.name, p.help);
        }
    }
    for g in &config.groups {
        let members: Vec<&str> = g.members.iter().map(|m| m.connector).collect();
        println!("group {:<12} {}", g.name, g.description);
        println!("  params {}; members {}", g.params.join(", "), members.join(" -> "));
    }
}

#[cfg(test)]
mod tests {
    use super::check_exposure;
    use crate::config::Config;

    fn config(vars: &[(&str, &str)]) -> Config {
        Config::load_with(&[], vars.iter().map(|(k, v)| (k.to_string(), v.to_string()))).unwrap()
    }

    #[test]
    fn an_exposed_api_without_tokens_is_refused_unless_insecure() {
        let exposed = config(&[("APIARY_LISTEN", "0.0.0.0:8080")]);
        let refused = check_exposure(&exposed, false).unwrap_err();
        assert!(refused.contains("0.0.0.0:8080") && refused.contains("APIARY_API_TOKENS"), "{refused}");
        assert!(check_exposure(&exposed, true).is_ok());
        let v6 = config(&[("APIARY_LISTEN", "[::]:8080")]);
        assert!(check_exposure(&v6, false).is_err());
    }

    #[test]
    fn loopback_or_tokens_may_serve() {
        assert!(check_exposure(&config(&[]), false).is_ok());
        assert!(check_exposure(&config(&[("APIARY_LISTEN", "[::1]:8080")]), false).is_ok());
        let tokens = [("APIARY_LISTEN", "0.0.0.0:8080"), ("APIARY_API_TOKENS", "read:0123456789abcdef")];
        assert!(check_exposure(&config(&tokens), false).is_ok());
    }
}
