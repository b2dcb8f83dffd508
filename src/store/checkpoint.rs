//! SQLite's write-ahead log is copied back into the database file by a connection of its own,
//! in the background, so no commit waits for it.
//!
//! By default the commit that takes the log past 1 000 pages copies them all and syncs the file
//! before it returns; with one writer connection every write queued behind it waits too (a job's
//! result write at the 90th percentile took 10 ms, at the median 1). A passive checkpoint from
//! another connection takes no lock a writer needs. Should it fall behind or stop, commits still
//! checkpoint past [`BACKSTOP_PAGES`], so the log stays bounded.

use std::sync::Arc;
use std::time::Duration;

use sqlx::sqlite::SqliteConnectOptions;
use tokio::sync::oneshot;

/// How often the background connection checkpoints.
const EVERY: Duration = Duration::from_millis(100);

/// Log pages (4 KiB each) past which a writer's commit checkpoints itself.
pub const BACKSTOP_PAGES: u32 = 8_192;

/// The writer's side of the arrangement: its connection leaves checkpoints to [`start`]'s task
/// until the log passes [`BACKSTOP_PAGES`].
pub fn for_writer(opts: SqliteConnectOptions) -> SqliteConnectOptions {
    opts.pragma("wal_autocheckpoint", BACKSTOP_PAGES.to_string())
}

/// Keeps the background checkpoints going while any clone is alive.
#[derive(Clone, Debug)]
pub struct Checkpoints {
    _alive: Arc<oneshot::Sender<()>>,
}

/// Checkpoint the database `opts` opens every [`EVERY`] from a connection of its own, until the
/// [`Checkpoints`] returned and all its clones are dropped.
pub async fn start(opts: &SqliteConnectOptions) -> Result<Checkpoints, sqlx::Error> {
    let pool = super::sqlite_pool(1).connect_with(opts.clone()).await?;
    let (alive, mut dropped) = oneshot::channel::<()>();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = &mut dropped => break,
                _ = tick.tick() => {}
            }
            // A failure (the file went away, a disk error) is the writers' to report; the
            // backstop keeps the log bounded meanwhile.
            if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)").execute(&pool).await {
                tracing::debug!(error = %e, "background checkpoint failed");
            }
        }
        pool.close().await;
    });
    Ok(Checkpoints { _alive: Arc::new(alive) })
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use sqlx::sqlite::SqlitePoolOptions;

    use super::*;

    /// Writes from a connection that never checkpoints on its own reach the database file once
    /// the background task has run.
    #[tokio::test]
    async fn the_background_connection_moves_the_log_into_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.db");
        let opts = SqliteConnectOptions::from_str(&format!("sqlite://{}", path.display()))
            .unwrap()
            .create_if_missing(true)
            .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
            .pragma("wal_autocheckpoint", "0");
        let writer = SqlitePoolOptions::new().max_connections(1).connect_with(opts.clone()).await.unwrap();
        sqlx::query("CREATE TABLE t (v BLOB)").execute(&writer).await.unwrap();
        for _ in 0..50 {
            sqlx::query("INSERT INTO t VALUES (randomblob(8000))").execute(&writer).await.unwrap();
        }
        let file_pages = || std::fs::metadata(&path).unwrap().len() / 4096;
        assert!(file_pages() < 10, "nothing checkpointed yet: {} pages", file_pages());
        let checkpoints = start(&opts).await.unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while file_pages() < 100 && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(file_pages() >= 100, "the rows reached the file: {} pages", file_pages());
        drop(checkpoints);
    }
}
