//! Typed, layered configuration.
//!
//! Layers, each overriding the one before: `config/default.toml` (compiled into the binary, so
//! apiary runs from any directory), every `--config FILE` in order, then `APIARY_` environment
//! variables with `__` between levels (`APIARY_CONNECTORS__ARXIV__TTL`). Upstream keys are read
//! from the environment only and held in [`Secret`]. Everything is validated at start-up: a bad
//! value is refused with its key and what was expected.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use figment::Figment;
use figment::providers::{Format, Serialized, Toml};

/// The built-in defaults.
pub const DEFAULT_TOML: &str = include_str!("../../config/default.toml");

/// A value that must never be shown: `Debug` and `Display` print `[redacted]`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    /// The value itself, for the one place that sends it upstream.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// A configuration that could not be loaded; names the key and what was expected.
#[derive(Debug, thiserror::Error)]
#[error("configuration: {0}")]
pub struct ConfigError(String);

/// Where the queue lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueBackend {
    Sqlite,
    Postgres,
    Redis,
}

impl QueueBackend {
    pub fn as_str(self) -> &'static str {
        match self {
            QueueBackend::Sqlite => "sqlite",
            QueueBackend::Postgres => "postgres",
            QueueBackend::Redis => "redis",
        }
    }
}

/// One quota of a rate limit: `count` calls per `period`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    pub count: u32,
    pub period: Duration,
}

impl fmt::Display for Quota {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let per = match self.period.as_millis() {
            1_000 => "s".to_owned(),
            60_000 => "min".to_owned(),
            3_600_000 => "h".to_owned(),
            86_400_000 => "day".to_owned(),
            _ => format_duration(self.period),
        };
        write!(f, "{}/{per}", self.count)
    }
}

/// How the breaker's failure rate is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    /// The last N calls.
    Count(u32),
    /// The calls of the last period.
    Time(Duration),
}

/// Circuit breaker settings of one connector.
#[derive(Debug, Clone, PartialEq)]
pub struct BreakerSettings {
    /// Consecutive failures that open the breaker.
    pub failure_threshold: u32,
    /// Percent of failing calls in the window that opens it, once `minimum_calls` were seen.
    pub failure_rate_threshold: f64,
    pub minimum_calls: u32,
    pub window: Window,
    /// A call slower than this counts as failing.
    pub slow_call_threshold: Duration,
    /// Per-call timeout.
    pub timeout: Duration,
    /// Open → half-open after this long.
    pub recovery_timeout: Duration,
    /// Successful probes in half-open that close the breaker.
    pub success_threshold: u32,
    /// Probes allowed in flight while half-open.
    pub half_open_max_calls: u32,
    /// One breaker per operation of the connector (each endpoint or step it calls) instead of one
    /// for the whole connector, so a failing endpoint does not stop calls to a healthy one.
    pub per_operation: bool,
}

/// One connector's deployment. `Debug` shows the base URL without any `user:password@`.
#[derive(Clone)]
pub struct ConnectorSettings {
    pub base_url: String,
    pub api_key: Option<Secret>,
    pub rate_limit: Vec<Quota>,
    pub ttl: Duration,
    pub max_pages: u32,
    /// Jobs of this connector one worker process runs at once (its lane of the queue).
    pub concurrency: usize,
    /// Largest response body read from this upstream; a larger one fails the fetch for good.
    pub max_body: usize,
    /// Most records one fetch may keep; more fails the fetch for good.
    pub max_records: usize,
    pub breaker: BreakerSettings,
}

impl fmt::Debug for ConnectorSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectorSettings")
            .field("base_url", &apiary_connectors::strip_userinfo(&self.base_url))
            .field("api_key", &self.api_key)
            .field("rate_limit", &self.rate_limit)
            .field("ttl", &self.ttl)
            .field("max_pages", &self.max_pages)
            .field("concurrency", &self.concurrency)
            .field("max_body", &self.max_body)
            .field("max_records", &self.max_records)
            .field("breaker", &self.breaker)
            .finish()
    }
}

#[derive(Debug, Clone)]
pub struct QueueSettings {
    pub backend: QueueBackend,
    /// apalis' queue name.
    pub name: String,
    /// Jobs of one connector a worker process runs at once, unless the connector sets its own.
    pub concurrency: usize,
    pub poll_interval: Duration,
    pub give_up_after: Duration,
    /// How often a running job's row is touched; one silent for six beats is presumed lost with
    /// its worker and queued again.
    pub heartbeat: Duration,
    /// Jobs waiting (queued or deferred) past which enqueues are refused with 429.
    pub max_pending: usize,
    /// The same, per connector.
    pub max_pending_per_connector: usize,
}

/// The HTTP server's bounds.
#[derive(Debug, Clone)]
pub struct ApiSettings {
    /// A client must send a whole request head within this long of its connection being ready
    /// for one (new, or kept alive after a response): it bounds slow and idle clients alike.
    pub header_read_timeout: Duration,
    /// Connections served at once; more wait to be accepted.
    pub max_connections: usize,
    /// Records one dataset read returns at most (a page; `_cursor` reads on).
    pub max_records_per_read: usize,
    /// Bytes of serialised responses the read cache holds at most.
    pub read_cache_size: usize,
    /// How long a read-cache entry is served before it is checked against the store again: the
    /// longest an API process serves a result another process's worker has replaced.
    pub read_cache_revalidate: Duration,
    /// Largest request body accepted; a bigger one is answered `413`.
    pub max_body: usize,
    /// Whether `/metrics` is served without a token (it holds no secrets and no dataset).
    pub open_metrics: bool,
    /// Bearer tokens and what each may do; none means the API asks for none.
    pub tokens: Vec<ApiToken>,
}

/// What a bearer token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scope {
    /// Datasets, jobs, breakers and connectors.
    Read,
    /// Everything `read` may, and enqueueing and holding breakers.
    Admin,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Admin => "admin",
        }
    }
}

/// A bearer token the API accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiToken {
    pub scope: Scope,
    pub token: Secret,
}

/// The variable that holds the API's tokens: `admin:TOKEN,read:TOKEN`.
pub const TOKENS_VAR: &str = "APIARY_API_TOKENS";

/// The OTLP collector traces go to: read by the log setup, before and apart from the
/// configuration (`telemetry`).
pub const OTLP_VAR: &str = "APIARY_OTLP_ENDPOINT";

/// Tokens shorter than this are refused: they could be guessed.
const MIN_TOKEN_LEN: usize = 16;

/// `admin:TOKEN,read:TOKEN` (commas or whitespace between entries). Errors never show a token.
fn parse_tokens(v: &str) -> Result<Vec<ApiToken>, ConfigError> {
    let mut tokens = Vec::new();
    for (i, entry) in v.split(|c: char| c == ',' || c.is_whitespace()).filter(|e| !e.is_empty()).enumerate() {
        let at = format!("{TOKENS_VAR}: entry {}", i + 1);
        let (scope, token) =
            entry.split_once(':').ok_or_else(|| ConfigError(format!("{at} is not `read:TOKEN` or `admin:TOKEN`")))?;
        let scope = match scope {
            "read" => Scope::Read,
            "admin" => Scope::Admin,
            _ => return Err(ConfigError(format!("{at}: scope must be `read` or `admin`"))),
        };
        if token.len() < MIN_TOKEN_LEN || !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(ConfigError(format!(
                "{at}: a token must be at least {MIN_TOKEN_LEN} visible ASCII characters \
                 (e.g. `openssl rand -hex 32`)"
            )));
        }
        tokens.push(ApiToken { scope, token: Secret::new(token) });
    }
    if tokens.is_empty() {
        return Err(ConfigError(format!("{TOKENS_VAR} is set but holds no token")));
    }
    Ok(tokens)
}

/// How long finished jobs and the fetch log are kept.
#[derive(Debug, Clone)]
pub struct RetentionSettings {
    /// Finished jobs and fetch-log entries older than this are deleted.
    pub max_age: Duration,
    /// Finished jobs kept at most, newest first.
    pub max_jobs: u64,
    /// Fetch-log entries kept at most, newest first.
    pub max_fetch_log: u64,
}

/// Fleet mode: shared limits and breakers in Redis (on when `redis_url` is set).
#[derive(Debug, Clone)]
pub struct FleetSettings {
    /// Processes a quota is divided among while Redis is away.
    pub size: u32,
}

#[derive(Debug, Clone)]
pub struct FetchSettings {
    pub max_attempts: u32,
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    pub max_wait: Duration,
    pub user_agent: String,
    /// How often a worker probes connectors whose breaker is ready to probe (zero: never).
    pub probe_interval: Duration,
}

/// The whole, validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub database_url: String,
    pub redis_url: Option<String>,
    pub contact_email: Option<String>,
    pub queue: QueueSettings,
    pub fleet: FleetSettings,
    pub fetch: FetchSettings,
    pub api: ApiSettings,
    pub retention: RetentionSettings,
    /// By connector id, one entry for every connector apiary ships.
    pub connectors: BTreeMap<String, ConnectorSettings>,
    /// Datasets refreshed on a timetable.
    pub syncs: Vec<SyncSettings>,
    /// Failover groups, by name.
    pub groups: Vec<GroupSettings>,
    /// The breakers around the cache database.
    pub database_breakers: DatabaseBreakers,
}

/// The cache database's breakers (`[breakers.database_read]`, `[breakers.database_write]`).
#[derive(Debug, Clone)]
pub struct DatabaseBreakers {
    pub read: BreakerSettings,
    pub write: BreakerSettings,
}

/// When a sync runs.
#[derive(Debug, Clone)]
pub enum Timetable {
    /// On a grid of `every` since the Unix epoch.
    Every(Duration),
    /// At the times of a cron expression (with a seconds field), UTC.
    Cron(Box<cron::Schedule>),
}

impl fmt::Display for Timetable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Timetable::Every(d) => write!(f, "every {}", format_duration(*d)),
            Timetable::Cron(s) => write!(f, "cron {s}"),
        }
    }
}

/// A scheduled sync: one dataset, refreshed on a timetable.
#[derive(Debug, Clone)]
pub struct SyncSettings {
    pub connector: &'static str,
    pub params: apiary_connectors::Params,
    /// The dataset key; also names the sync.
    pub key: String,
    pub timetable: Timetable,
}

/// A failover group (`[[groups]]`): connectors that answer the same question, asked in order.
#[derive(Debug, Clone)]
pub struct GroupSettings {
    pub name: String,
    pub description: String,
    /// The group's own parameters, every one required; each member maps them to its own.
    pub params: Vec<String>,
    /// In priority order.
    pub members: Vec<Member>,
}

/// One member of a [`GroupSettings`]: a connector and how the group's parameters become its own.
#[derive(Debug, Clone)]
pub struct Member {
    pub connector: &'static str,
    /// Each of the connector's parameters that the member sets, with its value.
    pub map: Vec<(String, Template)>,
}

impl Member {
    /// The connector's parameters for the group's `params` (all of the group's, as checked by
    /// the caller).
    pub fn params(&self, params: &apiary_connectors::Params) -> apiary_connectors::Params {
        self.map.iter().map(|(name, t)| (name.clone(), t.fill(params))).collect()
    }
}

/// A parameter value with the group's parameters in braces (`DOI:{doi}`, `{doi}[doi]`, `1d`);
/// `{{` and `}}` are braces themselves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template(Vec<Piece>);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Param(String),
}

impl Template {
    /// Read `s`, whose braces may name only `known` parameters.
    pub fn parse(s: &str, known: &[String]) -> Result<Template, String> {
        let mut pieces = Vec::new();
        let mut text = String::new();
        let mut chars = s.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '{' if chars.peek() == Some(&'{') => {
                    chars.next();
                    text.push('{');
                }
                '}' if chars.peek() == Some(&'}') => {
                    chars.next();
                    text.push('}');
                }
                '{' => {
                    let mut name = String::new();
                    loop {
                        match chars.next() {
                            Some('}') => break,
                            Some(c) => name.push(c),
                            None => return Err(format!("`{{{name}` has no closing `}}`")),
                        }
                    }
                    if !known.contains(&name) {
                        return Err(format!("`{{{name}}}` is not one of the group's params ({})", known.join(", ")));
                    }
                    if !text.is_empty() {
                        pieces.push(Piece::Text(std::mem::take(&mut text)));
                    }
                    pieces.push(Piece::Param(name));
                }
                '}' => return Err("a `}` without its `{` (write `}}` for a brace)".into()),
                c => text.push(c),
            }
        }
        if !text.is_empty() {
            pieces.push(Piece::Text(text));
        }
        Ok(Template(pieces))
    }

    /// The value of the group's parameter `name`, as it is.
    pub fn param(name: &str) -> Template {
        Template(vec![Piece::Param(name.to_owned())])
    }

    /// The value for the group's `params`; a parameter not given is left empty.
    pub fn fill(&self, params: &apiary_connectors::Params) -> String {
        self.0
            .iter()
            .map(|p| match p {
                Piece::Text(t) => t.as_str(),
                Piece::Param(name) => params.get(name).map_or("", String::as_str),
            })
            .collect()
    }
}

impl fmt::Display for Template {
    /// As written: the group's parameters in braces, braces doubled.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for piece in &self.0 {
            match piece {
                Piece::Text(t) => f.write_str(&t.replace('{', "{{").replace('}', "}}"))?,
                Piece::Param(name) => write!(f, "{{{name}}}")?,
            }
        }
        Ok(())
    }
}

impl Config {
    /// The failover group `name`.
    pub fn group(&self, name: &str) -> Option<&GroupSettings> {
        self.groups.iter().find(|g| g.name == name)
    }

    /// Load the layers: built-in defaults, `files` in order, then the environment.
    pub fn load(files: &[PathBuf]) -> Result<Config, ConfigError> {
        Self::load_with(files, std::env::vars())
    }

    /// As [`Config::load`], with the environment given (for tests).
    pub fn load_with(
        files: &[PathBuf],
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let env: BTreeMap<String, String> = env.into_iter().filter(|(k, _)| k.starts_with("APIARY_")).collect();
        let mut figment = Figment::from(Toml::string(DEFAULT_TOML));
        for file in files {
            if !file.exists() {
                return Err(ConfigError(format!("config file {} does not exist", file.display())));
            }
            figment = figment.merge(Toml::file(file));
        }
        // Keys and API tokens are read separately so that they keep their exact text and never pass
        // through figment's value parsing (a numeric key would otherwise become a number).
        let apart = |k: &str| k.ends_with("__API_KEY") || k == TOKENS_VAR || k == OTLP_VAR;
        for (k, v) in env.iter().filter(|(k, _)| !apart(k)) {
            figment = figment.merge(Serialized::default(&env_path(k), parse_env_value(v)));
        }
        let raw: raw::Config = figment.extract().map_err(|e| ConfigError(describe_figment(e, &env)))?;
        raw.validate(&env)
    }

    pub fn connector(&self, id: &str) -> Option<&ConnectorSettings> {
        self.connectors.get(id)
    }
}

/// An environment value as figment would read it from TOML: numbers and booleans typed, all
/// else a string.
fn parse_env_value(v: &str) -> figment::value::Value {
    if let Ok(n) = v.parse::<i64>() {
        return n.into();
    }
    if let Ok(f) = v.parse::<f64>()
        && v.contains('.')
    {
        return f.into();
    }
    match v {
        "true" => true.into(),
        "false" => false.into(),
        _ => v.to_owned().into(),
    }
}

/// `APIARY_CONNECTORS__ARXIV__TTL` → `connectors.arxiv.ttl`.
fn env_path(var: &str) -> String {
    var.trim_start_matches("APIARY_").split("__").map(str::to_lowercase).collect::<Vec<_>>().join(".")
}

/// The variable that sets `path`, when one does.
pub(crate) fn env_source(path: &str, env: &BTreeMap<String, String>) -> Option<String> {
    env.keys().find(|k| env_path(k) == path).cloned()
}

fn describe_figment(e: figment::Error, env: &BTreeMap<String, String>) -> String {
    let mut parts = Vec::new();
    for err in e {
        let path = err.path.join(".");
        let at = if path.is_empty() { String::new() } else { format!("`{path}`: ") };
        let from = env_source(&path, env).map(|v| format!(" (set by {v})")).unwrap_or_default();
        parts.push(format!("{at}{}{from}", err.kind));
    }
    parts.join("; ")
}

/// `250ms`, `4s`, `15m`, `2h`, `7d`, or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num.parse().map_err(|_| format!("`{s}` is not a duration like 250ms, 4s, 15m, 2h, 7d"))?;
    let secs = match unit.trim() {
        "ms" => n / 1000.0,
        "" | "s" => n,
        "m" | "min" => n * 60.0,
        "h" => n * 3600.0,
        "d" => n * 86400.0,
        _ => return Err(format!("`{s}` has an unknown unit; use ms, s, m, h or d")),
    };
    Duration::try_from_secs_f64(secs).map_err(|_| format!("`{s}` is not a duration"))
}

/// A size: `1048576`, `512KiB`, `32MiB`, `1GiB` (also `KB`/`MB`/`GB`, as powers of 1024).
pub fn parse_size(s: &str) -> Result<usize, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().map_err(|_| format!("`{s}` is not a size like 512KiB, 32MiB"))?;
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        _ => return Err(format!("`{s}` has an unknown unit; use KiB, MiB or GiB")),
    };
    n.checked_mul(1 << shift)
        .and_then(|b| usize::try_from(b).ok())
        .filter(|b| *b > 0)
        .ok_or_else(|| format!("`{s}` is not a usable size"))
}

/// The shortest of `250ms`, `4s`, `15m`, `2h`, `7d` that is exact.
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if !ms.is_multiple_of(1000) {
        return format!("{ms}ms");
    }
    let s = d.as_secs();
    for (unit, len) in [("d", 86400), ("h", 3600), ("m", 60)] {
        if s >= len && s.is_multiple_of(len) {
            return format!("{}{unit}", s / len);
        }
    }
    format!("{s}s")
}

/// `5/min,25/day`, `10/s`, `1/3s`.
pub fn parse_rate_limit(s: &str) -> Result<Vec<Quota>, String> {
    let mut quotas = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (count, per) =
            part.split_once('/').ok_or_else(|| format!("`{part}` is not a quota like 10/s, 5/min, 1/3s or 25/day"))?;
        let count: u32 = count.trim().parse().map_err(|_| format!("`{part}`: `{count}` is not a whole number"))?;
        if count == 0 {
            return Err(format!("`{part}`: a quota needs at least one call"));
        }
        let per = per.trim();
        let period = match per {
            "s" | "sec" | "second" => Duration::from_secs(1),
            "min" | "minute" => Duration::from_secs(60),
            "h" | "hour" => Duration::from_secs(3600),
            "day" | "d" => Duration::from_secs(86400),
            other => parse_duration(other).map_err(|e| format!("`{part}`: {e}"))?,
        };
        if period.is_zero() {
            return Err(format!("`{part}`: the period must be longer than zero"));
        }
        quotas.push(Quota { count, period });
    }
    if quotas.is_empty() {
        return Err("empty; give at least one quota like 10/s".into());
    }
    Ok(quotas)
}

mod raw;

#[cfg(test)]
mod tests;
