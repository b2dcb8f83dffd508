//! The embedded database's hot writes — a new job, a job's claim, a finished fetch — from every
//! request and worker of the process, committed together.
//!
//! SQLite has one writer, and every commit appends each page the transaction touched to the
//! log: a job's three writes, each its own transaction, wrote the same index and table pages
//! three times over, and so did every other job's. Writes that arrive while a round is being
//! written wait here; the next round takes all of them (up to [`MAX_ROUND`]) into one
//! transaction, so the pages they share go to the log once. A caller's answer is sent only once
//! the round has committed: nothing is reported written that was not.
//!
//! Should any statement of a round fail, or its transaction not begin or commit, the round is
//! rolled back and each of its writes runs alone, as it would without rounds: each gets its own
//! answer and error, and one write's failure is never another's. A round of one runs alone
//! from the start (cached statements, no extra `BEGIN`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use sqlx::sqlite::{SqliteArguments, SqlitePool, SqliteRow};
use sqlx::{Execute, SqliteConnection};
use tokio::sync::{mpsc, oneshot};

use super::StoreError;

/// Most writes in one round: bounds how long the writes of one round hold the writer.
const MAX_ROUND: usize = 64;

/// One write: its statements inside a round and alone, and its arguments, the same for both.
struct Write {
    /// The statements inside a round's transaction (no `BEGIN`/`COMMIT` of their own).
    together: &'static str,
    /// The statements run alone (a transaction of their own if they need one).
    alone: &'static str,
    args: SqliteArguments,
    reply: oneshot::Sender<Result<Vec<SqliteRow>, StoreError>>,
}

/// Hands writes to the task that commits them in rounds; cheap to clone. The task ends when the
/// last clone is dropped.
#[derive(Clone, Debug)]
pub(crate) struct Rounds {
    tx: mpsc::UnboundedSender<Write>,
    /// Writes committed in a round of more than one (read by the tests).
    #[cfg_attr(not(test), allow(dead_code))]
    together: Arc<AtomicU64>,
}

impl Rounds {
    /// Start the task that writes rounds on `writer` (the pool of the one writing connection).
    pub(crate) fn start(writer: SqlitePool) -> Rounds {
        let (tx, mut rx) = mpsc::unbounded_channel::<Write>();
        let together = Arc::new(AtomicU64::new(0));
        let counted = together.clone();
        tokio::spawn(async move {
            let mut writes = Vec::with_capacity(MAX_ROUND);
            while rx.recv_many(&mut writes, MAX_ROUND).await > 0 {
                let n = round(&writer, std::mem::take(&mut writes)).await;
                counted.fetch_add(n as u64, Ordering::Relaxed);
            }
        });
        Rounds { tx, together }
    }

    /// How many writes were committed in rounds of more than one so far.
    #[cfg(test)]
    pub(crate) fn committed_together(&self) -> u64 {
        self.together.load(Ordering::Relaxed)
    }

    /// Run `query` (the arguments bound to `alone`'s statements; `together` is the same
    /// statements for inside a round) in the next round; the rows it returned once committed.
    pub(crate) async fn write<'q>(
        &self,
        together: &'static str,
        alone: &'static str,
        mut query: impl Execute<'q, sqlx::Sqlite>,
    ) -> Result<Vec<SqliteRow>, StoreError> {
        let args = query.take_arguments().map_err(sqlx::Error::Encode)?.unwrap_or_default();
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Write { together, alone, args, reply })
            .map_err(|_| StoreError::Unavailable("the database writer has stopped".into()))?;
        answer.await.map_err(|_| StoreError::Unavailable("the database writer has stopped".into()))?
    }
}

/// Commit `writes` in one transaction, or, when that fails, each alone. How many were committed
/// together.
async fn round(writer: &SqlitePool, writes: Vec<Write>) -> usize {
    if writes.len() > 1 {
        match writer.acquire().await {
            Ok(mut conn) => match together(&mut conn, &writes).await {
                Ok(rows) => {
                    let n = writes.len();
                    for (write, rows) in writes.into_iter().zip(rows) {
                        let _ = write.reply.send(Ok(rows));
                    }
                    return n;
                }
                Err(e) => {
                    tracing::debug!(error = %e, writes = writes.len(), "a round of writes failed; each runs alone");
                    end_transaction(&mut conn).await;
                }
            },
            Err(e) => tracing::debug!(error = %e, "no writer for a round; each write runs alone"),
        }
    }
    for write in writes {
        let rows = alone(writer, &write).await;
        let _ = write.reply.send(rows);
    }
    0
}

async fn together(conn: &mut SqliteConnection, writes: &[Write]) -> Result<Vec<Vec<SqliteRow>>, sqlx::Error> {
    sqlx::query("BEGIN IMMEDIATE").execute(&mut *conn).await?;
    let mut all = Vec::with_capacity(writes.len());
    for write in writes {
        all.push(sqlx::query_with(write.together, write.args.clone()).fetch_all(&mut *conn).await?);
    }
    sqlx::query("COMMIT").execute(&mut *conn).await?;
    Ok(all)
}

/// One write in a transaction of its own.
async fn alone(writer: &SqlitePool, write: &Write) -> Result<Vec<SqliteRow>, StoreError> {
    let mut conn = writer.acquire().await?;
    match sqlx::query_with(write.alone, write.args.clone()).fetch_all(&mut *conn).await {
        Ok(rows) => Ok(rows),
        Err(e) => {
            end_transaction(&mut conn).await;
            Err(e.into())
        }
    }
}

/// After a failure, end the transaction the statements may have stopped inside, or, if that is
/// not sure, let the connection go rather than hand it on mid-transaction.
async fn end_transaction(conn: &mut sqlx::pool::PoolConnection<sqlx::Sqlite>) {
    let ended = match sqlx::query("ROLLBACK").execute(&mut **conn).await {
        Ok(_) => true,
        Err(sqlx::Error::Database(d)) => d.message().contains("no transaction is active"),
        Err(_) => false,
    };
    if !ended {
        conn.close_on_drop();
    }
}
