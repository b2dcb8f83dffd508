//! The running service's shared state, and the operations the API and the CLI share:
//! enqueue a fetch, read a cached dataset.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use apiary_connectors::{Connector, ParamError, Params, dataset_key, params::validate};
use chrono::{DateTime, Utc};

use crate::breakers::Breakers;
use crate::config::Config;
use crate::fetch::Fetcher;
use crate::queue::{Queue, QueueError};
use crate::reads::{Entry, Lookup, Memo, ReadCache};
use crate::resilience::{BreakerState, Fleet};
use crate::store::{Dataset, Failover, JobRow, NewJob, Store, StoreError};

/// How a read stands ([`App::standing`]).
#[derive(Debug)]
pub struct Standing {
    pub age: Duration,
    pub breaker: BreakerState,
    pub stale: bool,
    /// The refresh a stale read queued.
    pub refresh_job: Option<String>,
}

/// Everything a request handler or a job needs, built once per process.
pub struct App {
    config: Arc<Config>,
    store: Store,
    queue: Queue,
    /// The HTTP client and each connector's resilience stack.
    fetcher: Arc<Fetcher>,
    /// The stacks' breakers: persisted, held, and viewed as the API, the CLI and reads see them.
    breakers: Breakers,
    /// Shared limits and breakers, in fleet mode.
    fleet: Option<Arc<Fleet>>,
    /// Serialised responses of hot datasets.
    reads: ReadCache,
    /// The questions of hot reads, by the path and query string they were asked with.
    pub(crate) questions: Memo<Question>,
    /// Waiting jobs by connector, as last counted (and since counted up by this process's
    /// enqueues), for the queue-depth cap.
    pending: Mutex<Option<(Instant, HashMap<String, usize>)>>,
}

/// Longest dataset key accepted: parameters are names and short values, and every key is
/// stored with each job and fetch-log entry.
pub const MAX_KEY_LEN: usize = 4096;

/// How many hot reads' questions are kept ([`App::questions`]).
const QUESTIONS_KEPT: usize = 4096;

/// How long a count of waiting jobs serves the queue-depth cap.
const PENDING_TTL: Duration = Duration::from_secs(1);

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Queue(#[from] QueueError),
    #[error("HTTP client: {0}")]
    Http(String),
}

/// Why an enqueue or a read was refused.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    #[error("unknown connector `{0}`; known: {known}", known = known_connectors())]
    UnknownConnector(String),
    #[error(transparent)]
    Params(#[from] ParamError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Queue(#[from] QueueError),
    #[error("the parameters are too long: the dataset key would be {0} bytes, at most {MAX_KEY_LEN}")]
    TooLong(usize),
    #[error("unknown group `{name}`; known: {known}")]
    UnknownGroup { name: String, known: String },
    /// The group's parameters, or a member's mapping of them, are not valid.
    #[error("group {group}: {message}")]
    GroupParams { group: String, message: String },
    /// No member of the group can be asked, however long one waits (keys or contact missing).
    #[error("no member of group {group} can be asked: {reasons}")]
    NoMember { group: String, reasons: String },
    /// The queue-depth cap: `retry_after` in seconds.
    #[error("{message}")]
    QueueFull { message: String, retry_after: u64 },
}

pub fn known_connectors() -> String {
    apiary_connectors::all().iter().map(|c| c.id()).collect::<Vec<_>>().join(", ")
}

/// A question, validated: the connector, its canonical parameters and the dataset key.
pub struct Question {
    pub connector: &'static dyn Connector,
    pub params: Params,
    pub key: String,
}

impl Question {
    pub fn new(connector: &str, raw: Params) -> Result<Question, RequestError> {
        let c =
            apiary_connectors::get(connector).ok_or_else(|| RequestError::UnknownConnector(connector.to_owned()))?;
        // Checked before the parameters are read any further, so a huge one costs nothing more.
        let raw_len: usize = raw.iter().map(|(k, v)| k.len() + v.len() + 2).sum();
        if raw_len > MAX_KEY_LEN {
            return Err(RequestError::TooLong(raw_len));
        }
        let params = validate(c, raw)?;
        let key = dataset_key(c.id(), &params);
        if key.len() > MAX_KEY_LEN {
            return Err(RequestError::TooLong(key.len()));
        }
        Ok(Question { connector: c, params, key })
    }

    pub fn params_json(&self) -> serde_json::Map<String, serde_json::Value> {
        self.params.iter().map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone()))).collect()
    }
}

impl App {
    /// Connect to the store and the queue, build the stacks, restore persisted breaker state.
    pub async fn start(config: Config) -> Result<Arc<App>, StartError> {
        // Install the metrics recorder before anything records.
        crate::telemetry::metrics_handle();
        let config = Arc::new(config);
        let store = Store::connect(&config.database_url, &config.database_breakers).await?;
        let queue = Queue::connect(&config).await?;
        let fleet = match &config.redis_url {
            Some(url) => match Fleet::connect(url, &config.queue.name, config.fleet.size).await {
                Ok(fleet) => {
                    tracing::info!(member = %fleet.member, "fleet mode: limits and breakers shared through Redis");
                    Some(Arc::new(fleet))
                }
                Err(e) => {
                    tracing::error!(error = %e, share = config.fleet.size, "Redis unreachable at start: limits and breakers stay local (1/fleet.size of each quota)");
                    None
                }
            },
            None => None,
        };
        let fetcher = Fetcher::new(config.clone(), fleet.clone()).map_err(|e| StartError::Http(e.to_string()))?;
        let fetcher = Arc::new(fetcher);
        let breakers = Breakers::start(fetcher.clone(), store.clone(), fleet.is_some()).await?;
        let reads = ReadCache::new(config.api.read_cache_size, config.api.read_cache_revalidate);
        Ok(Arc::new(App {
            config,
            store,
            queue,
            fetcher,
            breakers,
            fleet,
            pending: Mutex::new(None),
            reads,
            questions: Memo::new(QUESTIONS_KEPT),
        }))
    }

    /// The configuration the process started with.
    pub fn config(&self) -> &Arc<Config> {
        &self.config
    }

    /// The cache database.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The job queue.
    pub fn queue(&self) -> &Queue {
        &self.queue
    }

    /// The HTTP client and each connector's resilience stack.
    pub fn fetcher(&self) -> &Fetcher {
        &self.fetcher
    }

    /// The upstream breakers, as every reader of them sees them.
    pub fn breakers(&self) -> &Breakers {
        &self.breakers
    }

    /// Shared limits and breakers, in fleet mode.
    pub fn fleet(&self) -> Option<&Arc<Fleet>> {
        self.fleet.as_ref()
    }

    /// Serialised responses of hot datasets.
    pub fn reads(&self) -> &ReadCache {
        &self.reads
    }

    /// Enqueue a fetch; a dataset already waiting returns its pending job (`false`). Past the
    /// queue-depth cap a new dataset is refused ([`RequestError::QueueFull`]); a dataset deferred
    /// to beyond its connector's TTL (an upstream asked for a long wait) runs again now.
    pub async fn enqueue(&self, q: &Question) -> Result<(JobRow, bool), RequestError> {
        self.enqueue_for(q, None).await
    }

    /// As [`App::enqueue`], on behalf of the API request `request_id`, which the job keeps.
    pub async fn enqueue_for(&self, q: &Question, request_id: Option<&str>) -> Result<(JobRow, bool), RequestError> {
        self.enqueue_job(q, request_id, None).await
    }

    /// As [`App::enqueue_for`], for a job asked of a failover group when `failover` says which.
    pub(crate) async fn enqueue_job(
        &self,
        q: &Question,
        request_id: Option<&str>,
        failover: Option<&Failover>,
    ) -> Result<(JobRow, bool), RequestError> {
        use tracing::Instrument as _;
        let span = tracing::debug_span!("enqueue", connector = q.connector.id(), dataset = %q.key);
        self.enqueue_in_span(q, request_id, failover).instrument(span).await
    }

    /// [`App::enqueue_job`]'s work, inside its span.
    async fn enqueue_in_span(
        &self,
        q: &Question,
        request_id: Option<&str>,
        failover: Option<&Failover>,
    ) -> Result<(JobRow, bool), RequestError> {
        let connector = q.connector.id();
        if let Some(refusal) = self.queue_full(connector).await? {
            // A dataset already waiting is answered with its job, full or not.
            if let Some(pending) = self.store.pending_job(&q.key).await? {
                return Ok((pending, false));
            }
            return Err(refusal);
        }
        let id = uuid::Uuid::new_v4().to_string();
        let params = q.params_json();
        let (row, created) = self
            .store
            .create_job(&NewJob { id: &id, connector, key: &q.key, params: &params, request_id, failover })
            .await?;
        if !created {
            return self.replace_long_deferral(row).await.map(|row| (row, false));
        }
        if let Some((_, counts)) = self.pending.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
            *counts.entry(connector.to_owned()).or_default() += 1;
        }
        if let Err(e) = self.queue.push(&row.id, connector, None).await {
            let msg = format!("could not queue: {e}");
            self.store.finish_job(&row.id, crate::store::JobStatus::Failed, Some(&msg)).await?;
            return Err(e.into());
        }
        metrics::counter!("apiary_jobs_enqueued_total", "connector" => connector).increment(1);
        tracing::info!(job_id = %row.id, connector, dataset = %q.key, "job queued");
        Ok((row, true))
    }

    /// `Some` refusal when waiting jobs are at `queue.max_pending`, or `connector`'s at
    /// `queue.max_pending_per_connector`. Counted at most once a second.
    async fn queue_full(&self, connector: &str) -> Result<Option<RequestError>, StoreError> {
        let tally = |counts: &HashMap<String, usize>| {
            (counts.get(connector).copied().unwrap_or(0), counts.values().sum::<usize>())
        };
        let cached = {
            let guard = self.pending.lock().unwrap_or_else(|e| e.into_inner());
            guard.as_ref().filter(|(at, _)| at.elapsed() < PENDING_TTL).map(|(_, c)| tally(c))
        };
        let (mine, total) = match cached {
            Some(both) => both,
            None => {
                let counts: HashMap<String, usize> =
                    self.store.pending_counts().await?.into_iter().map(|(c, n)| (c, n.max(0) as usize)).collect();
                let both = tally(&counts);
                *self.pending.lock().unwrap_or_else(|e| e.into_inner()) = Some((Instant::now(), counts));
                both
            }
        };
        let queue = &self.config.queue;
        // About as long as the connector's quota takes to make room for one more job.
        let spacing = self.config.connector(connector).map_or(Duration::from_secs(1), |c| {
            c.rate_limit.iter().map(|q| q.period / q.count.max(1)).max().unwrap_or_default()
        });
        let retry_after = spacing.as_secs().clamp(1, 300);
        let (scope, message) = if mine >= queue.max_pending_per_connector {
            (
                "connector",
                format!(
                    "{mine} {connector} jobs are waiting (queue.max_pending_per_connector is {}); retry later",
                    queue.max_pending_per_connector
                ),
            )
        } else if total >= queue.max_pending {
            ("total", format!("{total} jobs are waiting (queue.max_pending is {}); retry later", queue.max_pending))
        } else {
            return Ok(None);
        };
        metrics::counter!("apiary_enqueue_refused_total", "connector" => connector.to_owned(), "scope" => scope)
            .increment(1);
        Ok(Some(RequestError::QueueFull { message, retry_after }))
    }

    /// A pending job deferred to beyond its connector's TTL, queued to run now instead: a new
    /// request for the dataset must not wait out an upstream's year-long `Retry-After`.
    async fn replace_long_deferral(&self, row: JobRow) -> Result<JobRow, RequestError> {
        let ttl = self.config.connector(&row.connector).map_or(Duration::ZERO, |c| c.ttl);
        let horizon = chrono::TimeDelta::from_std(ttl).ok().and_then(|t| Utc::now().checked_add_signed(t));
        let too_far = row.status() == crate::store::JobStatus::Deferred
            && matches!((row.run_at, horizon), (Some(run_at), Some(h)) if run_at > h);
        if !too_far || !self.store.undefer_job(&row.id).await? {
            return Ok(row);
        }
        tracing::info!(job_id = %row.id, dataset = %row.key, "deferral past the dataset's TTL replaced by a new request");
        if let Err(e) = self.queue.push(&row.id, &row.connector, None).await {
            let msg = format!("could not queue: {e}");
            self.store.finish_job(&row.id, crate::store::JobStatus::Failed, Some(&msg)).await?;
            return Err(e.into());
        }
        Ok(self.store.job(&row.id).await?.unwrap_or(row))
    }

    /// A dataset's serialised response from the read cache, checked against the store when it
    /// was last checked longer than `api.read_cache_revalidate` ago (and served as it is when the
    /// store cannot answer). `None`: not cached, or changed since (read it from the store, then
    /// [`App::keep_read`]).
    pub async fn cached_read(&self, key: &str) -> Result<Option<Arc<Entry>>, StoreError> {
        match self.reads.get(key) {
            Lookup::Fresh(entry) => Ok(Some(entry)),
            Lookup::Missing => Ok(None),
            Lookup::Check(entry) => match self.store.dataset_version(key).await {
                // The database cannot say: what was read last is still the best answer there is.
                Err(e) => {
                    tracing::warn!(dataset = %key, error = %e, "read served from memory; the database did not answer");
                    Ok(Some(entry))
                }
                Ok(Some((hash, fetched_at))) if hash == entry.content_hash => {
                    let entry = match fetched_at == entry.fetched_at {
                        true => entry,
                        false => Arc::new(entry.refetched(fetched_at)),
                    };
                    self.reads.confirm(key, entry.clone());
                    Ok(Some(entry))
                }
                _ => {
                    self.reads.forget(key);
                    Ok(None)
                }
            },
        }
    }

    /// Keep `d`'s serialised response in the read cache; `None` if it cannot be serialised.
    pub fn keep_read(&self, d: &Dataset) -> Option<Arc<Entry>> {
        let entry = Arc::new(Entry::new(d).ok()?);
        self.reads.put(&d.key, entry.clone());
        Some(entry)
    }

    pub async fn dataset(&self, q: &Question) -> Result<Option<Dataset>, RequestError> {
        Ok(self.store.dataset(&q.key).await?)
    }

    /// How a read of `q`'s dataset, fetched at `fetched_at`, stands now: the one rule for every
    /// read (`GET /v1/datasets/…` and `apiary get`). Stale when older than the connector's TTL or
    /// its breaker is not closed; a stale read queues one (deduplicated) refresh unless the
    /// breaker is open.
    pub async fn standing(&self, q: &Question, fetched_at: DateTime<Utc>) -> Standing {
        let age = (Utc::now() - fetched_at).to_std().unwrap_or(Duration::ZERO);
        let breaker = self.breakers.dataset_state(q.connector, &q.params).await;
        let stale = self.is_stale(q.connector.id(), age, breaker);
        let mut refresh_job = None;
        if stale && breaker != BreakerState::Open {
            match self.enqueue(q).await {
                Ok((job, _)) => refresh_job = Some(job.id),
                Err(e) => tracing::warn!(dataset = %q.key, error = %e, "could not queue a refresh"),
            }
        }
        Standing { age, breaker, stale, refresh_job }
    }

    /// Whether a cached dataset of `connector` fetched `age` ago is stale, given its breaker.
    pub fn is_stale(&self, connector: &str, age: Duration, breaker: BreakerState) -> bool {
        let ttl = self.config.connector(connector).map_or(Duration::ZERO, |c| c.ttl);
        age > ttl || breaker != BreakerState::Closed
    }

    /// A stored dataset's parameters, as the connector takes them.
    pub fn params(stored: &serde_json::Map<String, serde_json::Value>) -> Params {
        stored.iter().map(|(k, v)| (k.clone(), v.as_str().map_or_else(|| v.to_string(), str::to_owned))).collect()
    }
}
