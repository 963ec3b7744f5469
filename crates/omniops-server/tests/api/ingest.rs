//! `POST /api/v1/ingest`: validation, order, idempotency.

use crate::common::TestApp;
use crate::http_test;
use serde_json::json;

async fn rejects_bad_events_and_keeps_good_ones(app: &TestApp) {
    let (status, answer) = app
        .ingest(json!([
            {"type": "session.start", "session_id": "s1", "model": "gpt-4", "domain": "shop.example", "event_id": "e1"},
            {"type": "session.start", "session_id": "s2", "domain": "shop.example"},
            {"type": "usage", "session_id": "s1", "input_tokens": 10, "output_tokens": -1},
            {"type": "usage", "session_id": "ghost", "input_tokens": 10, "output_tokens": 1},
            {"type": "teleport", "session_id": "s1"},
            "not an object",
            {"type": "usage", "session_id": "s1", "input_tokens": 1000, "output_tokens": 500, "event_id": "e2"},
            {"type": "usage", "session_id": "s1", "input_tokens": 1000, "output_tokens": 500, "event_id": "e2"},
            {"type": "session.end", "session_id": "s1", "success": true},
            {"type": "log", "session_id": "s1", "level": "info", "message": "after the end"}
        ]))
        .await;
    assert_eq!(status, 200);
    assert_eq!(answer["accepted"], 4);
    let rejected: Vec<(u64, String)> = answer["rejected"]
        .as_array()
        .expect("list")
        .iter()
        .map(|r| {
            (
                r["index"].as_u64().expect("index"),
                r["error"].as_str().expect("error").to_string(),
            )
        })
        .collect();
    assert_eq!(rejected.len(), 6, "{rejected:?}");
    assert_eq!(rejected[0], (1, "missing field `model`".to_string()));
    assert_eq!(
        rejected[1],
        (2, "output_tokens must not be negative".to_string())
    );
    assert_eq!(rejected[2], (3, "unknown session".to_string()));
    assert!(rejected[3].1.starts_with("unknown event type `teleport`"));
    assert_eq!(rejected[4].0, 5);
    assert_eq!(rejected[5], (9, "session ended".to_string()));

    // The same request again: event ids e1/e2 are repeats; the end is now "session ended".
    let (_, r) = app.get_json("/api/dashboard/telemetry?days=1", None).await;
    assert_eq!(r["cost"]["total"], "0.0600");
    let (_, again) = app
        .ingest(json!([
            {"type": "session.start", "session_id": "s1", "model": "gpt-4", "domain": "shop.example", "event_id": "e1"},
            {"type": "usage", "session_id": "s1", "input_tokens": 1000, "output_tokens": 500, "event_id": "e2"}
        ]))
        .await;
    assert_eq!(again, json!({"accepted": 2, "rejected": []}));
    let (_, r) = app.get_json("/api/dashboard/telemetry?days=1", None).await;
    assert_eq!(r["cost"]["total"], "0.0600");
    assert_eq!(r["overview"]["totalRequests"], 1);
}
http_test!(mixed_batch, rejects_bad_events_and_keeps_good_ones);

async fn malformed_bodies_get_clear_errors(app: &TestApp) {
    let url = app.url("/api/v1/ingest");
    let send = |body: Vec<u8>, content_type: &'static str| {
        let client = app.client.clone();
        let url = url.clone();
        async move {
            let r = client
                .post(url)
                .header("content-type", content_type)
                .body(body)
                .send()
                .await
                .expect("request");
            let status = r.status().as_u16();
            let retry = r.headers().get("retry-after").is_some();
            let body: serde_json::Value = r.json().await.expect("json error");
            (status, body, retry)
        }
    };
    let (status, body, _) = send(b"{not json".to_vec(), "application/json").await;
    assert_eq!(status, 400);
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.contains("not valid JSON")),
        "{body}"
    );
    let (status, body, _) = send(br#"{"event": []}"#.to_vec(), "application/json").await;
    assert_eq!((status, body["field"].as_str()), (400, Some("events")));
    let (status, body, _) = send(br#"{"events": {}}"#.to_vec(), "application/json").await;
    assert_eq!((status, body["field"].as_str()), (400, Some("events")));
    let (status, _, _) = send(br#"{"events": []}"#.to_vec(), "text/plain").await;
    assert_eq!(status, 415);
    let many =
        serde_json::to_vec(&json!({"events": vec![json!({"type": "log"}); 10_001]})).expect("json");
    let (status, body, _) = send(many, "application/json").await;
    assert_eq!(status, 413, "{body}");
    let huge = format!(r#"{{"events": ["{}"]}}"#, "x".repeat(10 * 1024 * 1024 + 1));
    let (status, _, _) = send(huge.into_bytes(), "application/json").await;
    assert_eq!(status, 413);
    let (status, body, _) = send(
        br#"{"events": []}"#.to_vec(),
        "application/json; charset=utf-8",
    )
    .await;
    assert_eq!(
        (status, body),
        (200, json!({"accepted": 0, "rejected": []}))
    );
    // The server is still healthy and nothing was stored.
    let (status, r) = app.get_json("/healthz", None).await;
    assert_eq!(status, 200);
    assert_eq!(r["version"], env!("CARGO_PKG_VERSION"));
    let (_, r) = app.get_json("/api/dashboard/telemetry?days=1", None).await;
    assert_eq!(r["overview"]["totalRequests"], 0);
}
http_test!(malformed_bodies, malformed_bodies_get_clear_errors);

async fn healthz_names_version_and_backend(app: &TestApp) {
    let (status, r) = app.get_json("/healthz", None).await;
    assert_eq!(status, 200);
    assert_eq!(r["status"], "ok");
    assert_eq!(r["backend"], app.db.store.backend().name());
    let (status, r) = app.get_json("/api/nothing-here", None).await;
    assert_eq!((status, r["error"].as_str()), (404, Some("no such route")));
}
http_test!(healthz, healthz_names_version_and_backend);
