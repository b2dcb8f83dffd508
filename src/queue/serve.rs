//! Serving the lanes: one apalis worker per lane, each handing its messages to the [`Runner`] it
//! was given (the jobs service), and each supervised on its own.
//!
//! Nothing outside stops a lane: a queue that goes away ends the lane's apalis worker, which is
//! started again after a pause that doubles up to [`RESTART_MAX`] while the failures go on, and
//! within a second of the queue answering again; the other lanes carry on meanwhile.

use std::sync::Arc;
use std::time::Duration;

use apalis::prelude::*;
use futures::future::BoxFuture;
use tokio::sync::watch;

use super::{FetchJob, Queue};

/// First and longest pause between two starts of a lane's worker while its queue is away.
const RESTART_MIN: Duration = Duration::from_millis(500);
const RESTART_MAX: Duration = Duration::from_secs(30);
/// How long jobs in flight get to finish at shutdown.
const DRAIN: Duration = Duration::from_secs(30);

/// What runs the job a message names. The future resolves once the job's outcome is recorded
/// (or the job is handed back to the queue); it runs as a task of its own.
pub trait Runner: Send + Sync + 'static {
    fn run(&self, job: FetchJob) -> BoxFuture<'static, ()>;
}

/// The runner as the lanes' workers hold it.
#[derive(Clone)]
struct Shared(Arc<dyn Runner>);

impl Queue {
    /// Serve every lane with `runner` until `stop` says so, each lane's worker running up to
    /// `concurrency(lane)` jobs at a time (`shared` for the queue of older releases) and looking
    /// for jobs every `poll` and when nudged. At stop, jobs in flight get `DRAIN` (30 s) to finish.
    pub async fn serve(
        self,
        runner: Arc<dyn Runner>,
        concurrency: impl Fn(&str) -> usize,
        poll: Duration,
        stop: watch::Receiver<bool>,
    ) {
        let mut lanes = tokio::task::JoinSet::new();
        // The same supervision on each backend; the backends' types differ, so the code is stamped out.
        macro_rules! supervise {
            ($queues:expr) => {{
                let queues = $queues;
                let mut all = vec![("shared", queues.shared.clone())];
                all.extend(queues.lanes.iter().map(|(id, q)| (*id, q.clone())));
                for (lane, q) in all {
                    let (queue, runner, stop, concurrency) =
                        (self.clone(), runner.clone(), stop.clone(), concurrency(lane));
                    lanes.spawn(async move {
                        let mut pause = RESTART_MIN;
                        loop {
                            let started = std::time::Instant::now();
                            // apalis registers workers by name and refuses a second live one: each
                            // start needs its own.
                            let worker = WorkerBuilder::new(format!("apiary-fetch-{lane}-{}", worker_id()))
                                .backend(q.storage.clone().poll_with_strategy(q.nudge.strategy(poll)))
                                .concurrency(concurrency)
                                .data(Shared(runner.clone()))
                                .build(handle);
                            let signal = stopped(stop.clone());
                            let result = worker
                                .run_until(async move {
                                    signal.await;
                                    Ok::<(), std::io::Error>(())
                                })
                                .await;
                            if *stop.borrow() {
                                return;
                            }
                            // A worker that ran a good while before failing starts the backoff over.
                            if started.elapsed() > RESTART_MAX * 4 {
                                pause = RESTART_MIN;
                            }
                            match result {
                                Ok(()) => tracing::error!(lane, "fetch worker stopped on its own; starting it again"),
                                Err(e) => tracing::error!(lane, error = %e, retry_in_ms = pause.as_millis() as u64, "fetch worker failed; starting it again"),
                            }
                            metrics::counter!("apiary_worker_restarts_total", "lane" => lane).increment(1);
                            let mut watching = stop.clone();
                            tokio::select! {
                                _ = queue.back_or_after(pause) => {}
                                _ = watching.wait_for(|s| *s) => return,
                            }
                            pause = (pause * 2).min(RESTART_MAX);
                        }
                    });
                }
            }};
        }
        match &self {
            Queue::Sqlite(queues) => supervise!(queues),
            Queue::Postgres(queues) => supervise!(queues),
            Queue::Redis(queues) => supervise!(queues),
        }
        stopped(stop).await;
        if tokio::time::timeout(DRAIN, async { while lanes.join_next().await.is_some() {} }).await.is_err() {
            tracing::warn!("jobs still running after the drain period; they will be taken back by the lost-job sweep");
        }
    }

    /// Resolves after `pause`, or as soon as a queue that did not answer answers again (asked
    /// every second), so that a lane restarts within a second of its queue coming back, however
    /// long the backoff grew.
    async fn back_or_after(&self, pause: Duration) {
        let until = tokio::time::Instant::now() + pause;
        let mut was_down = false;
        loop {
            let left = until.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                return;
            }
            tokio::time::sleep(left.min(Duration::from_secs(1))).await;
            let up = tokio::time::timeout(Duration::from_secs(1), self.ping()).await.is_ok_and(|r| r.is_ok());
            if up && was_down {
                return;
            }
            was_down |= !up;
        }
    }
}

/// Resolves once `stop` says so.
async fn stopped(mut stop: watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// This process among the workers sharing a queue: host, process id and a random suffix (a
/// restarted process on the same host and pid must not collide with its predecessor's record).
fn worker_id() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok().map(|s| s.trim().to_owned()))
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "host".into());
    format!("{host}-{}-{}", std::process::id(), &uuid::Uuid::new_v4().simple().to_string()[..8])
}

async fn handle(job: FetchJob, runner: Data<Shared>) -> Result<(), BoxDynError> {
    // The job runs as a task of its own, awaited here: should this lane's worker fail (its queue
    // went away) and be dropped, a job in flight still finishes and records how it went, rather
    // than being cut off mid-fetch and left to the lost-job sweep.
    let Shared(runner) = &*runner;
    tokio::spawn(runner.run(job)).await.map_err(|e| Box::new(e) as BoxDynError)
}
