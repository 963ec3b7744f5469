//! SQLite: no connection's commit copies the write-ahead log into the database file;
//! the store's own task does, so what was committed reaches the file without waiting for
//! 1,000 pages of log or for the server to stop.

use omniops_testkit::{events, t, TestDb};
use std::time::{Duration, Instant};

/// Sessions in a copy of the database file alone, without its log; `None` while the copy
/// cannot be read (a checkpoint was writing to it).
async fn sessions_in_file_alone(data_dir: &std::path::Path) -> Option<i64> {
    let copy = tempfile::tempdir().ok()?;
    std::fs::copy(data_dir.join("omniops.db"), copy.path().join("omniops.db")).ok()?;
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(copy.path().join("omniops.db"))
        .read_only(true);
    let pool = sqlx::SqlitePool::connect_with(options).await.ok()?;
    let count = sqlx::query_scalar("SELECT COUNT(*) FROM chat_telemetry")
        .fetch_one(&pool)
        .await
        .ok();
    pool.close().await;
    count
}

#[tokio::test]
async fn committed_sessions_reach_the_database_file() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let db = TestDb::sqlite_in(dir.path()).await;
    let now = t("2026-11-26T12:30:00Z");
    let lines: Vec<String> = (0..200)
        .map(|i| {
            format!(
                r#"{{"type":"session","session_id":"c{i}","model":"gpt-5-mini","domain":"shop.example","start_time":"2026-11-26T12:00:00Z","duration_ms":2000,"success":true,"input_tokens":1000,"output_tokens":100}}"#
            )
        })
        .collect();
    let outcome = db
        .store
        .apply_batch(&[events(now, &lines)], now)
        .await
        .expect("batch");
    assert_eq!(outcome.backfilled, 200);
    // 200 sessions are far below SQLite's own threshold of 1,000 pages: only the store's
    // task can have copied them, within a few of its quarter-second rounds.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut seen = None;
    while Instant::now() < deadline {
        seen = sessions_in_file_alone(dir.path()).await;
        if seen == Some(200) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        seen,
        Some(200),
        "the database file alone holds the sessions"
    );
}
