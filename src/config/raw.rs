//! The configuration as written (strings and numbers), and its validation into [`super::Config`].

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{
    BreakerSettings, ConfigError, ConnectorSettings, DatabaseBreakers, FetchSettings, GroupSettings, Member,
    QueueBackend, QueueSettings, Secret, SyncSettings, Template, Timetable, Window, env_source, parse_duration,
    parse_rate_limit,
};

/// A scalar that may arrive as a TOML string or number (environment values are typed by shape).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Scalar {
    Int(i64),
    Float(f64),
    Str(String),
}

impl Scalar {
    fn text(&self) -> String {
        match self {
            Scalar::Int(n) => n.to_string(),
            Scalar::Float(f) => f.to_string(),
            Scalar::Str(s) => s.clone(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    listen: Scalar,
    database_url: Scalar,
    redis_url: Option<Scalar>,
    contact_email: Option<Scalar>,
    queue: Queue,
    fleet: FleetRaw,
    fetch: Fetch,
    breakers: BTreeMap<String, Breaker>,
    connectors: BTreeMap<String, Connector>,
    api: Api,
    retention: Retention,
    #[serde(default)]
    syncs: Vec<Sync>,
    #[serde(default)]
    groups: Vec<GroupRaw>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GroupRaw {
    name: String,
    #[serde(default)]
    description: String,
    params: Vec<String>,
    members: Vec<String>,
    /// Per member, its parameters as templates of the group's; a member left out takes the
    /// group's parameters as they are.
    #[serde(default)]
    map: BTreeMap<String, BTreeMap<String, Scalar>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Api {
    header_read_timeout: Scalar,
    max_connections: Scalar,
    max_records_per_read: Scalar,
    read_cache_size: Scalar,
    read_cache_revalidate: Scalar,
    max_body: Scalar,
    open_metrics: bool,
    /// Refused when present: tokens come from the environment only.
    tokens: Option<Scalar>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Retention {
    max_age: Scalar,
    max_jobs: Scalar,
    max_fetch_log: Scalar,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Sync {
    connector: String,
    #[serde(default)]
    params: BTreeMap<String, Scalar>,
    every: Option<Scalar>,
    cron: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Queue {
    backend: Option<Scalar>,
    name: Scalar,
    concurrency: Scalar,
    poll_interval: Scalar,
    give_up_after: Scalar,
    max_pending: Scalar,
    max_pending_per_connector: Scalar,
    heartbeat: Scalar,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FleetRaw {
    size: Scalar,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Fetch {
    max_pages: Scalar,
    max_attempts: Scalar,
    backoff_base: Scalar,
    backoff_max: Scalar,
    max_wait: Scalar,
    user_agent: Scalar,
    max_body: Scalar,
    max_records: Scalar,
    probe_interval: Scalar,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Breaker {
    failure_threshold: Option<Scalar>,
    #[serde(alias = "rate_threshold")]
    failure_rate_threshold: Option<Scalar>,
    minimum_calls: Option<Scalar>,
    window: Option<Scalar>,
    slow_call_threshold: Option<Scalar>,
    timeout: Option<Scalar>,
    recovery_timeout: Option<Scalar>,
    success_threshold: Option<Scalar>,
    half_open_max_calls: Option<Scalar>,
    per_operation: Option<bool>,
}

impl Breaker {
    /// `self`'s fields where set, else `base`'s.
    fn over(&self, base: &Breaker) -> Breaker {
        macro_rules! pick {
            ($($f:ident),*) => { Breaker { $($f: self.$f.clone().or_else(|| base.$f.clone())),* } };
        }
        pick!(
            failure_threshold,
            failure_rate_threshold,
            minimum_calls,
            window,
            slow_call_threshold,
            timeout,
            recovery_timeout,
            success_threshold,
            half_open_max_calls,
            per_operation
        )
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Connector {
    base_url: Option<Scalar>,
    rate_limit: Option<Scalar>,
    rate_limit_with_key: Option<Scalar>,
    ttl: Option<Scalar>,
    max_pages: Option<Scalar>,
    concurrency: Option<Scalar>,
    max_body: Option<Scalar>,
    max_records: Option<Scalar>,
    #[serde(default)]
    breaker: Breaker,
    /// Accepted only so that a file that sets it gets a clear refusal rather than "unknown field".
    api_key: Option<Scalar>,
}

/// Reads one field, naming its key (and the variable that set it) when it is wrong.
struct Check<'a> {
    env: &'a BTreeMap<String, String>,
}

impl Check<'_> {
    fn fail(&self, key: &str, expected: &str, got: &Scalar) -> ConfigError {
        let from = env_source(key, self.env).map(|v| format!(" (set by {v})")).unwrap_or_default();
        ConfigError(format!("`{key}`{from}: expected {expected}, got `{}`", got.text()))
    }
    fn required<'s>(&self, key: &str, v: Option<&'s Scalar>) -> Result<&'s Scalar, ConfigError> {
        v.ok_or_else(|| ConfigError(format!("`{key}` is missing")))
    }
    fn duration(&self, key: &str, v: &Scalar) -> Result<std::time::Duration, ConfigError> {
        parse_duration(&v.text()).map_err(|_| self.fail(key, "a duration like 250ms, 4s, 15m, 2h", v))
    }
    fn count(&self, key: &str, v: &Scalar, min: i64) -> Result<u32, ConfigError> {
        match v {
            Scalar::Int(n) if *n >= min && *n <= u32::MAX as i64 => Ok(*n as u32),
            Scalar::Str(s) if s.trim().parse::<u32>().is_ok_and(|n| n as i64 >= min) => {
                Ok(s.trim().parse().unwrap_or(0))
            }
            _ => Err(self.fail(key, &format!("a whole number of at least {min}"), v)),
        }
    }
    fn size(&self, key: &str, v: &Scalar) -> Result<usize, ConfigError> {
        super::parse_size(&v.text()).map_err(|_| self.fail(key, "a size like 512KiB, 32MiB, 1GiB", v))
    }
    fn percent(&self, key: &str, v: &Scalar) -> Result<f64, ConfigError> {
        let n = match v {
            Scalar::Int(n) => *n as f64,
            Scalar::Float(f) => *f,
            Scalar::Str(s) => s.trim().trim_end_matches('%').parse().map_err(|_| self.fail(key, "a percentage", v))?,
        };
        if (0.0..=100.0).contains(&n) && n > 0.0 { Ok(n) } else { Err(self.fail(key, "a percentage in (0, 100]", v)) }
    }
    fn url(&self, key: &str, v: &Scalar, schemes: &[&str]) -> Result<String, ConfigError> {
        let s = v.text();
        if schemes.iter().any(|p| s.starts_with(p)) {
            Ok(s.trim_end_matches('/').to_owned())
        } else {
            Err(self.fail(key, &format!("a URL starting with {}", schemes.join(" or ")), v))
        }
    }
}

impl Config {
    pub fn validate(self, env: &BTreeMap<String, String>) -> Result<super::Config, ConfigError> {
        let c = Check { env };
        let listen =
            self.listen.text().parse().map_err(|_| c.fail("listen", "an address like 127.0.0.1:8080", &self.listen))?;
        let database_url = c.url("database_url", &self.database_url, &["sqlite:", "postgres://", "postgresql://"])?;
        let redis_url =
            self.redis_url.as_ref().map(|v| c.url("redis_url", v, &["redis://", "rediss://"])).transpose()?;
        let contact_email = self.contact_email.map(|v| v.text()).filter(|s| !s.trim().is_empty());
        if let Some(email) = &contact_email
            && !email.contains('@')
        {
            return Err(c.fail("contact_email", "an e-mail address", &Scalar::Str(email.clone())));
        }
        let backend = match &self.queue.backend {
            None => {
                if database_url.starts_with("sqlite:") {
                    QueueBackend::Sqlite
                } else {
                    QueueBackend::Postgres
                }
            }
            Some(v) => match v.text().as_str() {
                "sqlite" => QueueBackend::Sqlite,
                "postgres" => QueueBackend::Postgres,
                "redis" => QueueBackend::Redis,
                _ => return Err(c.fail("queue.backend", "sqlite, postgres or redis", v)),
            },
        };
        if backend == QueueBackend::Redis && redis_url.is_none() {
            return Err(ConfigError("`queue.backend` is redis but `redis_url` (APIARY_REDIS_URL) is not set".into()));
        }
        if backend == QueueBackend::Postgres && !database_url.starts_with("postgres") {
            return Err(ConfigError("`queue.backend` is postgres but `database_url` is not a postgres:// URL".into()));
        }
        if backend == QueueBackend::Sqlite && !database_url.starts_with("sqlite:") {
            return Err(ConfigError("`queue.backend` is sqlite but `database_url` is not a sqlite:// URL".into()));
        }
        let queue = QueueSettings {
            backend,
            name: match self.queue.name.text() {
                n if !n.is_empty() && n.chars().all(|c| c.is_ascii_alphanumeric() || "-_:.".contains(c)) => n,
                _ => return Err(c.fail("queue.name", "a name of letters, digits, -, _, : or .", &self.queue.name)),
            },
            concurrency: c.count("queue.concurrency", &self.queue.concurrency, 1)? as usize,
            poll_interval: c.duration("queue.poll_interval", &self.queue.poll_interval)?,
            give_up_after: c.duration("queue.give_up_after", &self.queue.give_up_after)?,
            heartbeat: match c.duration("queue.heartbeat", &self.queue.heartbeat)? {
                d if d >= std::time::Duration::from_millis(100) && d <= std::time::Duration::from_secs(600) => d,
                _ => return Err(c.fail("queue.heartbeat", "a duration from 100ms to 10m", &self.queue.heartbeat)),
            },
            max_pending: c.count("queue.max_pending", &self.queue.max_pending, 1)? as usize,
            max_pending_per_connector: c.count(
                "queue.max_pending_per_connector",
                &self.queue.max_pending_per_connector,
                1,
            )? as usize,
        };
        let a = &self.api;
        let api = super::ApiSettings {
            header_read_timeout: c.duration("api.header_read_timeout", &a.header_read_timeout)?,
            max_connections: c.count("api.max_connections", &a.max_connections, 1)? as usize,
            max_records_per_read: c.count("api.max_records_per_read", &a.max_records_per_read, 1)? as usize,
            read_cache_size: c.size("api.read_cache_size", &a.read_cache_size)?,
            read_cache_revalidate: c.duration("api.read_cache_revalidate", &a.read_cache_revalidate)?,
            max_body: c.size("api.max_body", &a.max_body)?,
            open_metrics: a.open_metrics,
            tokens: match (&a.tokens, env.get(super::TOKENS_VAR)) {
                (Some(_), _) => {
                    return Err(ConfigError(format!(
                        "`api.tokens` may not be set in a file; tokens come from the environment ({})",
                        super::TOKENS_VAR
                    )));
                }
                (None, Some(v)) => super::parse_tokens(v)?,
                (None, None) => Vec::new(),
            },
        };
        let r = &self.retention;
        let retention = super::RetentionSettings {
            max_age: c.duration("retention.max_age", &r.max_age)?,
            max_jobs: c.count("retention.max_jobs", &r.max_jobs, 1)? as u64,
            max_fetch_log: c.count("retention.max_fetch_log", &r.max_fetch_log, 1)? as u64,
        };
        let fleet = super::FleetSettings { size: c.count("fleet.size", &self.fleet.size, 1)? };
        let f = &self.fetch;
        let fetch = FetchSettings {
            max_attempts: c.count("fetch.max_attempts", &f.max_attempts, 1)?,
            backoff_base: c.duration("fetch.backoff_base", &f.backoff_base)?,
            backoff_max: c.duration("fetch.backoff_max", &f.backoff_max)?,
            max_wait: c.duration("fetch.max_wait", &f.max_wait)?,
            probe_interval: c.duration("fetch.probe_interval", &f.probe_interval)?,
            user_agent: f.user_agent.text(),
        };
        let default_pages = c.count("fetch.max_pages", &f.max_pages, 1)?;
        let default_body = c.size("fetch.max_body", &f.max_body)?;
        let default_records = c.count("fetch.max_records", &f.max_records, 1)? as usize;

        if let Some(unknown) = self.connectors.keys().find(|k| apiary_connectors::get(k).is_none()) {
            let known: Vec<_> = apiary_connectors::all().iter().map(|c| c.id()).collect();
            return Err(ConfigError(format!("`connectors.{unknown}` is not a connector; known: {}", known.join(", "))));
        }
        let mut connectors = BTreeMap::new();
        for conn in apiary_connectors::all() {
            let id = conn.id();
            let raw = self.connectors.get(id).ok_or_else(|| ConfigError(format!("`connectors.{id}` is missing")))?;
            let key = |field: &str| format!("connectors.{id}.{field}");
            if raw.api_key.is_some() {
                return Err(ConfigError(format!(
                    "`connectors.{id}.api_key` may not be set in a file; keys come from the environment \
                     (APIARY_CONNECTORS__{}__API_KEY)",
                    id.to_uppercase()
                )));
            }
            let base_url = c.url(
                &key("base_url"),
                c.required(&key("base_url"), raw.base_url.as_ref())?,
                &["http://", "https://"],
            )?;
            let quotas = |field: &str, v: &Scalar| {
                parse_rate_limit(&v.text())
                    .map_err(|e| c.fail(&key(field), &format!("quotas like 5/min,25/day ({e})"), v))
            };
            let mut rate_limit = quotas("rate_limit", c.required(&key("rate_limit"), raw.rate_limit.as_ref())?)?;
            let keyed = raw.rate_limit_with_key.as_ref().map(|v| quotas("rate_limit_with_key", v)).transpose()?;
            let ttl = c.duration(&key("ttl"), c.required(&key("ttl"), raw.ttl.as_ref())?)?;
            let max_pages = match &raw.max_pages {
                Some(v) => c.count(&key("max_pages"), v, 1)?,
                None => default_pages,
            };
            let concurrency = match &raw.concurrency {
                Some(v) => c.count(&key("concurrency"), v, 1)? as usize,
                None => queue.concurrency,
            };
            let max_body = match &raw.max_body {
                Some(v) => c.size(&key("max_body"), v)?,
                None => default_body,
            };
            let max_records = match &raw.max_records {
                Some(v) => c.count(&key("max_records"), v, 1)? as usize,
                None => default_records,
            };
            let group = conn.group().as_str();
            let base = self.breakers.get(group).ok_or_else(|| ConfigError(format!("`breakers.{group}` is missing")))?;
            let breaker = breaker(&c, &format!("connectors.{id}.breaker"), &raw.breaker.over(base))?;
            let api_key = env
                .get(&format!("APIARY_CONNECTORS__{}__API_KEY", id.to_uppercase()))
                .filter(|k| !k.trim().is_empty())
                .map(|k| Secret::new(k.trim()));
            if let (Some(_), Some(keyed)) = (&api_key, keyed) {
                rate_limit = keyed;
            }
            connectors.insert(
                id.to_owned(),
                ConnectorSettings {
                    base_url,
                    api_key,
                    rate_limit,
                    ttl,
                    max_pages,
                    concurrency,
                    max_body,
                    max_records,
                    breaker,
                },
            );
        }
        let mut syncs = Vec::new();
        for (i, sync) in self.syncs.iter().enumerate() {
            let at = format!("syncs[{i}]");
            let conn = apiary_connectors::get(&sync.connector)
                .ok_or_else(|| ConfigError(format!("`{at}.connector`: `{}` is not a connector", sync.connector)))?;
            let raw = sync.params.iter().map(|(k, v)| (k.clone(), v.text())).collect();
            let params = apiary_connectors::params::validate(conn, raw)
                .map_err(|e| ConfigError(format!("`{at}.params`: {e}")))?;
            let timetable = match (&sync.every, &sync.cron) {
                (Some(every_raw), None) => {
                    let every = c.duration(&format!("{at}.every"), every_raw)?;
                    if every < std::time::Duration::from_secs(1) {
                        return Err(c.fail(&format!("{at}.every"), "at least 1s", every_raw));
                    }
                    Timetable::Every(every)
                }
                (None, Some(expr)) => {
                    let schedule = expr.parse::<cron::Schedule>().map_err(|e| {
                        ConfigError(format!(
                            "`{at}.cron`: `{expr}` is not a cron expression with a seconds field, \
                             e.g. \"0 */15 * * * *\" ({e})"
                        ))
                    })?;
                    Timetable::Cron(Box::new(schedule))
                }
                _ => return Err(ConfigError(format!("`{at}` needs exactly one of `every` or `cron`"))),
            };
            let key = apiary_connectors::dataset_key(conn.id(), &params);
            syncs.push(SyncSettings { connector: conn.id(), params, key, timetable });
        }
        let groups = groups(&self.groups)?;
        let database_breaker = |name: &str| {
            let raw = self.breakers.get(name).ok_or_else(|| ConfigError(format!("`breakers.{name}` is missing")))?;
            breaker(&c, &format!("breakers.{name}"), raw)
        };
        let database_breakers =
            DatabaseBreakers { read: database_breaker("database_read")?, write: database_breaker("database_write")? };
        Ok(super::Config {
            listen,
            database_url,
            redis_url,
            contact_email,
            queue,
            fleet,
            fetch,
            api,
            retention,
            connectors,
            syncs,
            groups,
            database_breakers,
        })
    }
}

/// Check every `[[groups]]`: a name of its own, parameters, known connectors as members, each
/// member's map naming its connector's parameters and filled from the group's.
fn groups(raw: &[GroupRaw]) -> Result<Vec<GroupSettings>, ConfigError> {
    let mut groups: Vec<GroupSettings> = Vec::with_capacity(raw.len());
    let word = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    for (i, g) in raw.iter().enumerate() {
        let at = format!("groups[{i}]");
        if !word(&g.name) {
            return Err(ConfigError(format!("`{at}.name`: `{}` is not a name of a-z, 0-9 and _", g.name)));
        }
        if groups.iter().any(|o| o.name == g.name) {
            return Err(ConfigError(format!("`{at}.name`: a group `{}` is already defined", g.name)));
        }
        let at = format!("groups.{}", g.name);
        if let Some(bad) = g.params.iter().find(|p| !word(p) || p.starts_with('_')) {
            return Err(ConfigError(format!("`{at}.params`: `{bad}` is not a name of a-z, 0-9 and _")));
        }
        if g.members.is_empty() {
            return Err(ConfigError(format!("`{at}.members` is empty")));
        }
        if let Some(extra) = g.map.keys().find(|m| !g.members.contains(m)) {
            return Err(ConfigError(format!("`{at}.map.{extra}`: `{extra}` is not one of the group's members")));
        }
        let mut members: Vec<Member> = Vec::with_capacity(g.members.len());
        for id in &g.members {
            let connector = apiary_connectors::get(id).ok_or_else(|| {
                let known: Vec<&str> = apiary_connectors::all().iter().map(|c| c.id()).collect();
                ConfigError(format!("`{at}.members`: `{id}` is not a connector; known: {}", known.join(", ")))
            })?;
            if members.iter().any(|m| m.connector == connector.id()) {
                return Err(ConfigError(format!("`{at}.members`: `{id}` is listed twice")));
            }
            // A member without a map takes the group's parameters as they are.
            let map: Vec<(String, Template)> = match g.map.get(id) {
                Some(map) => map
                    .iter()
                    .map(|(name, value)| {
                        Template::parse(&value.text(), &g.params)
                            .map(|t| (name.clone(), t))
                            .map_err(|e| ConfigError(format!("`{at}.map.{id}.{name}`: {e}")))
                    })
                    .collect::<Result<_, _>>()?,
                None => g.params.iter().map(|p| (p.clone(), Template::param(p))).collect(),
            };
            if let Some((name, _)) =
                map.iter().find(|(name, _)| !connector.params().iter().any(|p| p.name == name.as_str()))
            {
                return Err(ConfigError(format!(
                    "`{at}.map.{id}.{name}`: {id} has no parameter `{name}`; valid: {}",
                    apiary_connectors::params::describe_params(connector)
                )));
            }
            if let Some(missing) =
                connector.params().iter().find(|p| p.required && !map.iter().any(|(n, _)| n == p.name))
            {
                return Err(ConfigError(format!(
                    "`{at}.map.{id}` does not set `{}`, which {id} requires",
                    missing.name
                )));
            }
            members.push(Member { connector: connector.id(), map });
        }
        groups.push(GroupSettings {
            name: g.name.clone(),
            description: g.description.clone(),
            params: g.params.clone(),
            members,
        });
    }
    Ok(groups)
}

fn breaker(c: &Check, prefix: &str, b: &Breaker) -> Result<BreakerSettings, ConfigError> {
    let key = |f: &str| format!("{prefix}.{f}");
    let get = |f: &str, v: &Option<Scalar>| -> Result<Scalar, ConfigError> { c.required(&key(f), v.as_ref()).cloned() };
    let window = get("window", &b.window)?;
    let window = match &window {
        Scalar::Int(_) => Window::Count(c.count(&key("window"), &window, 1)?),
        Scalar::Str(s) if s.trim().chars().all(|ch| ch.is_ascii_digit()) => {
            Window::Count(c.count(&key("window"), &window, 1)?)
        }
        _ => Window::Time(c.duration(&key("window"), &window)?),
    };
    Ok(BreakerSettings {
        failure_threshold: c.count(&key("failure_threshold"), &get("failure_threshold", &b.failure_threshold)?, 1)?,
        failure_rate_threshold: c
            .percent(&key("failure_rate_threshold"), &get("failure_rate_threshold", &b.failure_rate_threshold)?)?,
        minimum_calls: c.count(&key("minimum_calls"), &get("minimum_calls", &b.minimum_calls)?, 1)?,
        window,
        slow_call_threshold: c
            .duration(&key("slow_call_threshold"), &get("slow_call_threshold", &b.slow_call_threshold)?)?,
        timeout: c.duration(&key("timeout"), &get("timeout", &b.timeout)?)?,
        recovery_timeout: c.duration(&key("recovery_timeout"), &get("recovery_timeout", &b.recovery_timeout)?)?,
        success_threshold: c.count(&key("success_threshold"), &get("success_threshold", &b.success_threshold)?, 1)?,
        half_open_max_calls: c.count(
            &key("half_open_max_calls"),
            &get("half_open_max_calls", &b.half_open_max_calls)?,
            1,
        )?,
        per_operation: b.per_operation.unwrap_or(false),
    })
}
