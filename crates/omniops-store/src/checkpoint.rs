//! SQLite's write-ahead log is copied into the database file by a task of its own, and no
//! connection's commit does it. Left to SQLite, the commit that takes the log past 1,000
//! pages runs that checkpoint (the pages' writes and an fsync of the database file) on the
//! committing connection's thread: every request of an ingest batch waits for it (5 % of
//! that thread's time during a backfill), and so does every batch behind a repricing step.

use sqlx::SqlitePool;
use std::time::Duration;

/// How often the log is copied: at 30k sessions/s a quarter second is about 10 MB of log.
const EVERY: Duration = Duration::from_millis(250);

/// Copies the log into the database file every [`EVERY`] until `pool` is closed. PASSIVE
/// never waits for the writer or readers: frames a reader still needs are copied next time.
pub(crate) fn spawn(pool: SqlitePool) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tick.tick().await;
            if pool.is_closed() {
                return;
            }
            if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                .execute(&pool)
                .await
            {
                if pool.is_closed() {
                    return;
                }
                tracing::warn!(error = %e, "copying SQLite's log into the database failed; retrying");
            }
        }
    });
}

#[cfg(test)]
mod tests {
    /// No commit of the store copies the log itself, the pool's included: a repricing step
    /// commits through the pool holding the writer, and a checkpoint inside it held every
    /// batch as long (two steps of 84 ms beside a 42 ms checkpoint, at 10M sessions).
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
            held.push(conn);
        }
    }
}
