//! SQLite's write-ahead log is copied into the database file by a task of its own. Left to
//! SQLite, the commit that takes the log past 1,000 pages runs that checkpoint (the pages'
//! writes and an fsync of the database file) on the ingest connection's thread, and every
//! request of the batch waits for it: 5 % of that thread's time during a backfill.

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
