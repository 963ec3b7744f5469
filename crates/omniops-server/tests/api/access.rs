//! API keys and scopes over HTTP.

use crate::common::{TestApp, NOW};
use crate::http_test;
use serde_json::json;

async fn keys_gate_every_route_but_health(app: &TestApp) {
    let now = crate::common::t(NOW);
    // No key yet: everyone is answered (loopback).
    assert_eq!(app.get_json("/api/dashboard/telemetry", None).await.0, 200);
    let store = &app.db.store;
    let (_, admin) = store
        .create_key("admin", None, None, now)
        .await
        .expect("key");
    let (_, ingest) = store
        .create_key("ingest", None, None, now)
        .await
        .expect("key");
    let (_, read_a) = store
        .create_key("read", Some("a.example"), None, now)
        .await
        .expect("key");
    let (_, ingest_a) = store
        .create_key("ingest", Some("a.example"), None, now)
        .await
        .expect("key");
    // The server caches "no keys" for up to two seconds.
    tokio::time::sleep(std::time::Duration::from_millis(2_100)).await;

    assert_eq!(app.get_json("/healthz", None).await.0, 200);
    let (status, body) = app.get_json("/api/dashboard/telemetry", None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("missing or unknown API key"))
    );
    assert_eq!(
        app.get_json("/api/dashboard/telemetry", Some("omk_not_a_key"))
            .await
            .0,
        401
    );
    assert_eq!(
        app.get_json("/api/dashboard/telemetry", Some(&ingest))
            .await
            .0,
        403
    );
    assert_eq!(
        app.get_json("/api/dashboard/telemetry", Some(&admin))
            .await
            .0,
        200
    );
    assert_eq!(app.get_json("/api/v1/prices", Some(&read_a)).await.0, 200);

    let events = json!([
        {"type": "session", "session_id": "a1", "model": "gpt-4", "domain": "a.example",
         "start_time": "2026-11-26T10:00:00Z", "duration_ms": 10, "success": true, "input_tokens": 1000, "output_tokens": 500},
        {"type": "session", "session_id": "b1", "model": "gpt-4", "domain": "b.example",
         "start_time": "2026-11-26T10:00:00Z", "duration_ms": 10, "success": true, "input_tokens": 2000, "output_tokens": 1000}
    ]);
    assert_eq!(app.ingest_as(events.clone(), None).await.0, 401);
    assert_eq!(app.ingest_as(events.clone(), Some(&read_a)).await.0, 403);
    // A domain-scoped ingest key may only send its own domain.
    let (status, answer) = app.ingest_as(events.clone(), Some(&ingest_a)).await;
    assert_eq!(status, 200);
    assert_eq!(answer["accepted"], 1);
    assert_eq!(answer["rejected"][0]["index"], 1);
    assert_eq!(app.ingest_as(events, Some(&ingest)).await.1["accepted"], 2);

    // A domain-scoped read key sees its own domain, also without asking, and 403 for others.
    let (status, r) = app
        .get_json("/api/dashboard/telemetry?days=1", Some(&read_a))
        .await;
    assert_eq!(
        (status, r["overview"]["totalRequests"].clone()),
        (200, json!(1))
    );
    assert_eq!(r["cost"]["total"], "0.0600");
    let (status, _) = app
        .get_json(
            "/api/dashboard/telemetry?days=1&domain=b.example",
            Some(&read_a),
        )
        .await;
    assert_eq!(status, 403);
    let (_, r) = app
        .get_json("/api/dashboard/telemetry?days=1", Some(&admin))
        .await;
    assert_eq!(r["overview"]["totalRequests"], 2);

    // Changing prices needs admin.
    let price = json!({"model": "acme", "input": "1", "output": "2"});
    let put = |key: String| {
        let request = app
            .client
            .put(app.url("/api/v1/prices"))
            .bearer_auth(key)
            .json(&price);
        async move { request.send().await.expect("PUT").status().as_u16() }
    };
    assert_eq!(put(read_a.clone()).await, 403);
    assert_eq!(put(admin.clone()).await, 200);
    // So does changing the configuration.
    let config = |key: String| {
        let request = app
            .client
            .put(app.url("/api/dashboard/config"))
            .bearer_auth(key)
            .json(&json!({"retentionDays": 20}));
        async move { request.send().await.expect("PUT").status().as_u16() }
    };
    assert_eq!(config(read_a.clone()).await, 403);
    assert_eq!(config(ingest.clone()).await, 403);
    assert_eq!(config(admin.clone()).await, 200);
}
http_test!(keys_and_scopes, keys_gate_every_route_but_health);

#[tokio::test]
async fn refuses_a_non_loopback_bind_without_keys() {
    let db = omniops_testkit::TestDb::sqlite().await;
    let listener = tokio::net::TcpListener::bind("0.0.0.0:0")
        .await
        .expect("bind");
    let error = omniops_server::check_access(&db.store, &listener)
        .await
        .expect_err("must refuse");
    assert!(error.to_string().contains("without an API key"), "{error}");
    db.store
        .create_key("admin", None, None, 0)
        .await
        .expect("key");
    omniops_server::check_access(&db.store, &listener)
        .await
        .expect("allowed once a key exists");
}
