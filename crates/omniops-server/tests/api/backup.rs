//! `omniops backup` and `restore` of the embedded database (SQLite only: PostgreSQL has
//! pg_dump).

use crate::common::TestApp;
use omniops_server::commands;
use omniops_server::Settings;
use omniops_testkit::Engine;
use serde_json::json;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};

fn on(data_dir: &std::path::Path) -> Settings {
    Settings {
        data_dir: data_dir.to_path_buf(),
        ..Settings::default()
    }
}

async fn session_ids(data_dir: &std::path::Path) -> HashSet<String> {
    let url = format!("sqlite:{}", data_dir.join("omniops.db").display());
    let pool = sqlx::SqlitePool::connect(&url).await.expect("open");
    let ids: Vec<String> = sqlx::query_scalar("SELECT session_id FROM chat_telemetry")
        .fetch_all(&pool)
        .await
        .expect("ids");
    pool.close().await;
    ids.into_iter().collect()
}

/// Taken while ingest runs, the backup holds every session acknowledged before it began,
/// and ingest is never refused meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_under_ingest_holds_what_was_acknowledged() {
    let app = Arc::new(TestApp::spawn(Engine::Sqlite).await.expect("sqlite"));
    let acknowledged = Arc::new(Mutex::new(Vec::<String>::new()));
    let refused = Arc::new(Mutex::new(Vec::<u16>::new()));
    let stop = tokio_util::sync::CancellationToken::new();
    let writer = {
        let (app, acknowledged, refused, stop) = (
            app.clone(),
            acknowledged.clone(),
            refused.clone(),
            stop.clone(),
        );
        tokio::spawn(async move {
            let mut n = 0;
            while !stop.is_cancelled() {
                let ids: Vec<String> = (0..20).map(|i| format!("b{n}-{i}")).collect();
                let events: Vec<_> = ids
                    .iter()
                    .map(|id| {
                        json!({"type": "session", "session_id": id, "model": "gpt-4",
                            "domain": "shop.example", "start_time": "2026-11-26T10:00:00Z",
                            "duration_ms": 10, "input_tokens": 10, "output_tokens": 1,
                            "success": true})
                    })
                    .collect();
                match app.ingest(json!(events)).await.0 {
                    200 => acknowledged.lock().expect("lock").extend(ids),
                    status => refused.lock().expect("lock").push(status),
                }
                n += 1;
            }
        })
    };
    while acknowledged.lock().expect("lock").len() < 400 {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let before: Vec<String> = acknowledged.lock().expect("lock").clone();
    let out = tempfile::tempdir().expect("dir");
    let file = out.path().join("omniops-backup.db");
    let info = commands::backup(&on(&app.db.data_dir), &file)
        .await
        .expect("backup");
    stop.cancel();
    writer.await.expect("writer");
    assert_eq!(refused.lock().expect("lock").as_slice(), &[] as &[u16]);
    assert!(info.sessions >= before.len() as i64, "{info:?}");

    let restored = tempfile::tempdir().expect("dir");
    commands::restore(&on(restored.path()), &file)
        .await
        .expect("restore");
    let ids = session_ids(restored.path()).await;
    let missing: Vec<&String> = before.iter().filter(|id| !ids.contains(*id)).collect();
    assert!(missing.is_empty(), "{} missing: {missing:?}", missing.len());
    assert_eq!(ids.len() as i64, info.sessions);

    // A backup never overwrites a file.
    let again = commands::backup(&on(&app.db.data_dir), &file).await;
    assert!(again.expect_err("exists").to_string().contains("exists"));
}

/// A file that is not a whole Omniops database is refused before anything is replaced;
/// a good one replaces the database, which is kept beside it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_checks_before_it_replaces() {
    let app = TestApp::spawn(Engine::Sqlite).await.expect("sqlite");
    let event = |id: &str| {
        json!([{"type": "session", "session_id": id, "model": "gpt-4", "domain": "shop.example",
            "start_time": "2026-11-26T10:00:00Z", "duration_ms": 10, "input_tokens": 10,
            "output_tokens": 1, "success": true}])
    };
    assert_eq!(app.ingest(event("kept")).await.0, 200);
    let dir = tempfile::tempdir().expect("dir");
    let backup = dir.path().join("one.db");
    commands::backup(&on(&app.db.data_dir), &backup)
        .await
        .expect("backup");
    app.db.store.close().await;
    drop(app);

    let target = tempfile::tempdir().expect("dir");
    let first = TestApp::boot(
        omniops_testkit::TestDb::sqlite_in(target.path()).await,
        Settings::default(),
    )
    .await;
    assert_eq!(first.ingest(event("replaced")).await.0, 200);
    first.db.store.close().await;
    drop(first);

    let garbage = dir.path().join("garbage.db");
    std::fs::write(&garbage, b"this is not a database, only some bytes").expect("write");
    let mut truncated = std::fs::read(&backup).expect("read");
    truncated.truncate(truncated.len() / 2);
    let half = dir.path().join("half.db");
    std::fs::write(&half, truncated).expect("write");
    for bad in [&garbage, &half] {
        let error = commands::restore(&on(target.path()), bad)
            .await
            .expect_err("refused");
        assert!(
            error.to_string().contains(&bad.display().to_string()),
            "{error:#}"
        );
        assert_eq!(
            session_ids(target.path()).await,
            HashSet::from(["replaced".to_string()])
        );
    }

    let report = commands::restore(&on(target.path()), &backup)
        .await
        .expect("restore");
    assert_eq!(report["restored"]["sessions"], 1);
    assert_eq!(
        session_ids(target.path()).await,
        HashSet::from(["kept".to_string()])
    );
    let kept = report["kept"].as_str().expect("kept").to_string();
    let kept_dir = tempfile::tempdir().expect("dir");
    std::fs::copy(&kept, kept_dir.path().join("omniops.db")).expect("copy");
    let wal = format!("{kept}-wal");
    if std::path::Path::new(&wal).exists() {
        std::fs::copy(&wal, kept_dir.path().join("omniops.db-wal")).expect("copy wal");
    }
    assert_eq!(
        session_ids(kept_dir.path()).await,
        HashSet::from(["replaced".to_string()])
    );
}
