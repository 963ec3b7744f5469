//! SQLite's write-ahead log is copied into the database file by a task of its own, and no
//! connection's commit does it. Left to SQLite, the commit that takes the log past 1,000
//! pages runs that checkpoint (the pages' writes and an fsync of the database file) on the
//! committing connection's thread: every request of an ingest batch waits for it (5 % of
//! that thread's time during a backfill), and so does every batch behind a repricing step.
//!
//! The log starts over from its beginning only at a write that finds it wholly copied. Under
//! steady ingest a batch commits during every pass, so it never did: loading 10M sessions
//! grew it to 8 GB beside a 4.4 GB database. Once the log passes [`RESTART_FRAMES`], the task
//! copies again beside the writers until little is left, then copies the rest holding the
//! ingest connection, through which batches and repricing steps write: a few megabytes, so
//! they wait milliseconds, and the next write starts the log over (`journal_size_limit` then
//! gives the file's space back). Copying what a whole pass left while holding it made
//! batches wait up to a second when the log grew 100 MB a second.

use sqlx::SqlitePool;
use std::time::Duration;

/// How often the log is copied: at 30k sessions/s a quarter second is about 10 MB of log.
const EVERY: Duration = Duration::from_millis(250);

/// Pages in the log (64 MiB of 4 KiB pages) past which it is brought back to its start; also
/// the size the file is cut back to then.
pub(crate) const RESTART_FRAMES: i64 = 16_384;

/// Copies the log into the database file every [`EVERY`] until either pool is closed. PASSIVE
/// never waits for the writer or readers: frames a reader still needs are copied next time.
pub(crate) fn spawn(pool: SqlitePool, ingest: SqlitePool) {
    spawn_with(pool, ingest, RESTART_FRAMES);
}

fn spawn_with(pool: SqlitePool, ingest: SqlitePool, restart_frames: i64) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tick.tick().await;
            let closed = || pool.is_closed() || ingest.is_closed();
            if closed() {
                return;
            }
            if let Err(e) = pass(&pool, &ingest, restart_frames).await {
                if closed() {
                    return;
                }
                tracing::warn!(error = %e, "copying SQLite's log into the database failed; retrying");
            }
        }
    });
}

/// Frames left to copy (4 MiB) below which the rest is copied holding the ingest connection.
const LEFT_FOR_THE_WRITER: i64 = 1_024;

/// Copies beside the writers at most this often in one pass; a writer that outpaces them
/// keeps the log growing until it slows down.
const CATCH_UP: usize = 8;

/// Copies the log beside the writers; past `restart_frames`, again until a copy leaves little
/// behind, then the rest between two writes, so that the next one starts the log over.
async fn pass(pool: &SqlitePool, ingest: &SqlitePool, restart_frames: i64) -> sqlx::Result<()> {
    let mut previous_log = None;
    for _ in 0..CATCH_UP {
        let (_busy, log, copied): (i64, i64, i64) =
            sqlx::query_as("PRAGMA wal_checkpoint(PASSIVE)")
                .fetch_one(pool)
                .await?;
        if log < restart_frames {
            return Ok(());
        }
        // Written during the previous copy, and held back by readers: about what is left.
        let left = log - previous_log.unwrap_or(0) + (log - copied);
        if left < LEFT_FOR_THE_WRITER {
            let mut between_writes = ingest.acquire().await?;
            sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                .execute(&mut *between_writes)
                .await?;
            return Ok(());
        }
        previous_log = Some(log);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    /// No commit of the store copies the log itself, the pool's included: a repricing step
    /// commits holding the writer, and a checkpoint inside it held every batch as long (two
    /// steps of 84 ms beside a 42 ms checkpoint, at 10M sessions).
    #[tokio::test]
    async fn no_connection_checkpoints_on_commit() {
        let db = crate::open::TestSqlite::open().await;
        let pool = db.pool();
        let mut held = Vec::new();
        for _ in 0..3 {
            let mut conn = pool.acquire().await.expect("connection");
            let pages: i64 = sqlx::query_scalar("PRAGMA wal_autocheckpoint")
                .fetch_one(&mut *conn)
                .await
                .expect("pragma");
            assert_eq!(pages, 0);
            // The log's file is cut back to the restart size, counted in 4 KiB pages.
            let (limit, page): (i64, i64) =
                sqlx::query_as("SELECT * FROM pragma_journal_size_limit, pragma_page_size")
                    .fetch_one(&mut *conn)
                    .await
                    .expect("pragmas");
            assert_eq!((limit, page), (64 * 1024 * 1024, 4096));
            held.push(conn);
        }
    }

    /// A writer committing back to back, as the ingest connection does under load, still
    /// finds the log wholly copied now and then and starts it over. The log's header counts
    /// those restarts (its checkpoint sequence number, bytes 12 to 15).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_log_starts_over_under_a_steady_writer() {
        use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};
        let dir = tempfile::tempdir().expect("temporary directory");
        let options = SqliteConnectOptions::new()
            .filename(dir.path().join("t.db"))
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .pragma("wal_autocheckpoint", "0");
        let open = |n| {
            SqlitePoolOptions::new()
                .max_connections(n)
                .connect_with(options.clone())
        };
        let (pool, ingest) = (open(2).await.expect("pool"), open(1).await.expect("ingest"));
        sqlx::query("CREATE TABLE t (v BLOB)")
            .execute(&ingest)
            .await
            .expect("table");
        super::spawn_with(pool.clone(), ingest.clone(), 64);
        let restarts = || {
            use std::io::Read;
            let mut header = [0u8; 16];
            std::fs::File::open(dir.path().join("t.db-wal"))
                .and_then(|mut log| log.read_exact(&mut header))
                .expect("the log's header");
            u32::from_be_bytes([header[12], header[13], header[14], header[15]])
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let mut commits = 0;
        while restarts() == 0 && std::time::Instant::now() < deadline {
            sqlx::query("INSERT INTO t VALUES (randomblob(16000))")
                .execute(&ingest)
                .await
                .expect("insert");
            commits += 1;
        }
        assert!(restarts() > 0, "no restart in {commits} commits");
    }
}
