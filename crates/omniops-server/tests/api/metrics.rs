//! `GET /metrics`: Prometheus text with the ingest counts, the queue, batches, live
//! sessions and per-route HTTP latency.

use crate::common::TestApp;
use crate::http_test;
use serde_json::json;

async fn metrics_count_what_happened(app: &TestApp) {
    let events = json!([
        {"type": "session.start", "session_id": "m1", "model": "gpt-4", "domain": "shop.example"},
        {"type": "usage", "session_id": "m1", "input_tokens": 10, "output_tokens": 1},
        {"type": "usage", "session_id": "m1", "input_tokens": -1, "output_tokens": 1}
    ]);
    let (status, answer) = app.ingest(events).await;
    assert_eq!((status, answer["accepted"].clone()), (200, json!(2)));
    let r = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("metrics");
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(
        r.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let text = r.text().await.expect("text");
    for line in [
        "omniops_ingest_events_total{outcome=\"accepted\"} 2",
        "omniops_ingest_events_total{outcome=\"rejected\"} 1",
        "omniops_ingest_queue_depth 0",
        "omniops_batch_commit_seconds_count 1",
        "omniops_batch_failures_total 0",
        "omniops_live_sessions 1",
        "omniops_webhook_deliveries_total{outcome=\"delivered\"} 0",
        "omniops_http_request_duration_seconds_count{route=\"/api/v1/ingest\",method=\"POST\",status=\"200\"} 1",
        "omniops_http_request_duration_seconds_bucket{route=\"/api/v1/ingest\",method=\"POST\",status=\"200\",le=\"+Inf\"} 1",
    ] {
        assert!(text.lines().any(|l| l == line), "missing `{line}` in:\n{text}");
    }
    // Unknown paths are counted under one label, not under their own.
    assert_eq!(
        app.client
            .get(app.url("/no/such/page"))
            .send()
            .await
            .expect("404")
            .status()
            .as_u16(),
        404
    );
    let text = app.get_text("/metrics").await;
    assert!(
        text.contains("route=\"unmatched\",method=\"GET\",status=\"404\""),
        "{text}"
    );
    assert!(!text.contains("/no/such/page"));
}
http_test!(metrics, metrics_count_what_happened);
