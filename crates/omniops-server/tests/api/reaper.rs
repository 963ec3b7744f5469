//! A live session silent past the timeout is closed as failed ("timed out") at its last
//! event; one that is still talking stays live. The test moves the clock, not real time.

use crate::common::TestApp;
use omniops_server::Settings;
use omniops_testkit::{Engine, TestDb};
use serde_json::json;

async fn reaper_closes_silent_sessions(engine: Engine) {
    let Some(db) = TestDb::open(engine).await else {
        return;
    };
    let settings = Settings {
        live_timeout_minutes: 10,
        reaper_interval_ms: 20,
        ..Settings::default()
    };
    let app = TestApp::boot(db, settings).await;
    let events = json!([
        {"type": "session.start", "session_id": "quiet", "model": "gpt-4", "domain": "shop.example", "timestamp": "2026-11-26T12:25:00Z"},
        {"type": "usage", "session_id": "quiet", "input_tokens": 1000, "output_tokens": 500, "timestamp": "2026-11-26T12:26:00Z"},
        {"type": "session.start", "session_id": "busy", "model": "gpt-4", "domain": "shop.example", "timestamp": "2026-11-26T12:29:00Z"}
    ]);
    assert_eq!(app.ingest(events).await.0, 200);
    let live = || async {
        let (_, r) = app.get_json("/api/dashboard/telemetry?days=1", None).await;
        r["live"]["activeSessions"].as_i64().unwrap_or(-1)
    };
    assert_eq!(live().await, 2);
    // 12:37: "quiet" has been silent 11 minutes; "busy" speaks at 12:36.
    app.clock.set(crate::common::t("2026-11-26T12:37:00Z"));
    let usage = json!([{"type": "usage", "session_id": "busy", "input_tokens": 10, "output_tokens": 1, "timestamp": "2026-11-26T12:36:00Z"}]);
    assert_eq!(app.ingest(usage).await.0, 200);
    let mut remaining = live().await;
    for _ in 0..200 {
        if remaining == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        remaining = live().await;
    }
    assert_eq!(
        remaining, 1,
        "the quiet session is closed, the busy one stays"
    );
    let (_, quiet) = app.get_json("/api/sessions/quiet", None).await;
    // Closed at its last event (12:26), one minute after it started, as a failure.
    assert_eq!(
        (
            quiet["success"].clone(),
            quiet["error"].clone(),
            quiet["durationMs"].clone(),
            quiet["costUsd"].clone()
        ),
        (
            json!(false),
            json!("timed out"),
            json!(60_000),
            json!("0.060000")
        )
    );
    let (_, r) = app.get_json("/api/dashboard/telemetry?days=1", None).await;
    assert_eq!(
        (
            r["overview"]["totalRequests"].clone(),
            r["overview"]["failedRequests"].clone()
        ),
        (json!(1), json!(1))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reaper_sqlite() {
    reaper_closes_silent_sessions(Engine::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reaper_postgres() {
    reaper_closes_silent_sessions(Engine::Postgres).await;
}
