//! The real binary, killed with SIGKILL right after a 200: nothing acknowledged is lost.

use serde_json::{json, Value};
mod common;

use common::Server;

#[tokio::test]
async fn acknowledged_sessions_survive_sigkill() {
    let dir = tempfile::tempdir().expect("temp dir");
    let client = reqwest::Client::new();
    let start = chrono::Utc::now() - chrono::Duration::minutes(30);
    for round in 0..3 {
        let server = Server::start(dir.path()).await;
        for request in 0..10 {
            let events: Vec<Value> = (0..50)
                .map(|i| {
                    json!({"type": "session", "session_id": format!("r{round}-q{request}-s{i}"),
                           "model": "gpt-4", "domain": "shop.example",
                           "start_time": start.to_rfc3339(), "duration_ms": 100, "success": true,
                           "input_tokens": 1000, "output_tokens": 500})
                })
                .collect();
            let response = client
                .post(format!("{}/api/v1/ingest", server.base))
                .json(&json!({ "events": events }))
                .send()
                .await
                .expect("ingest");
            assert_eq!(response.status(), 200);
        }
        // Killed the moment the last 200 arrived: no graceful shutdown, no flush.
        server.kill();
    }
    let server = Server::start(dir.path()).await;
    let report: Value = client
        .get(format!("{}/api/dashboard/telemetry?days=1", server.base))
        .send()
        .await
        .expect("telemetry")
        .json()
        .await
        .expect("json");
    // 3 rounds × 10 requests × 50 sessions at $0.06 each.
    assert_eq!(report["overview"]["totalRequests"], 1_500);
    assert_eq!(report["cost"]["total"], "90.0000");
    server.kill();
}
