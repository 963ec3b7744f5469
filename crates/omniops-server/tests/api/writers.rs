//! Several batches commit at once (`ingest_writers`, PostgreSQL; SQLite has one writer):
//! concurrent requests that repeat each other's sessions and share rollup rows store each
//! session once, count each usage once, and sum exactly.

use crate::common::TestApp;
use crate::http_test_with;
use omniops_server::Settings;
use serde_json::{json, Value};

/// Sessions s0…s39 at 12:00, gpt-4 ($30 / $60 per million), input 1,000 + i, output 100 + i.
fn backfill(i: usize) -> Value {
    json!({"type": "session", "session_id": format!("s{i}"), "model": "gpt-4",
           "domain": "shop.example", "start_time": "2026-11-26T12:00:00Z", "duration_ms": 1000,
           "success": true, "input_tokens": 1000 + i, "output_tokens": 100 + i})
}

async fn concurrent_batches_store_each_session_once(app: &TestApp) {
    // 12 requests of 10 sessions each: every session is sent by three requests at once.
    // Each also starts the same live session and adds its own usage of 10 input tokens.
    let requests = (0..12).map(|r| {
        let mut events: Vec<Value> = (0..10).map(|k| backfill((r * 10 + k) % 40)).collect();
        events.push(
            json!({"type": "session.start", "session_id": "live-x", "event_id": "start",
                           "model": "gpt-4", "domain": "shop.example",
                           "timestamp": "2026-11-26T12:28:00Z"}),
        );
        events.push(
            json!({"type": "usage", "session_id": "live-x", "event_id": format!("u{r}"),
                           "input_tokens": 10, "output_tokens": 0}),
        );
        app.ingest(Value::Array(events))
    });
    for (status, answer) in futures_util::future::join_all(requests).await {
        assert_eq!(
            (status, &answer),
            (200, &json!({"accepted": 12, "rejected": []}))
        );
    }

    let (status, r) = app.get_json("/api/dashboard/telemetry?days=1", None).await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["overview"]["totalRequests"], 40, "{r}");
    assert_eq!(r["overview"]["activeSessions"], 1, "{r}");
    // Input 40 × 1,000 + (0 + … + 39) = 40,780 at $30/M = $1.2234; output 4,780 at $60/M
    // = $0.2868.
    assert_eq!(r["cost"]["total"], "1.5102", "{r}");
    let (status, live) = app.get_json("/api/sessions/live-x", None).await;
    assert_eq!(status, 200, "{live}");
    assert_eq!(live["tokens"]["input"], 120, "{live}");
}
/// Four writers and batches of at most one request, so the requests commit side by side.
fn side_by_side() -> Settings {
    Settings {
        ingest_writers: 4,
        max_batch_events: 12,
        report_cache_ms: 0,
        ..Settings::default()
    }
}
http_test_with!(
    writers,
    concurrent_batches_store_each_session_once,
    super::side_by_side()
);
