//! `omniops export` writes what `GET /api/export/{dataset}` serves, from the same store.

mod common;

use common::Server;
use serde_json::{json, Value};
use std::process::Command;

#[tokio::test]
async fn the_cli_exports_what_the_api_serves() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = Server::start(dir.path()).await;
    let client = reqwest::Client::new();
    let start = (chrono::Utc::now() - chrono::Duration::minutes(30)).to_rfc3339();
    // gpt-4: 1,000 × $30 + 500 × $60 per million = $0.06.
    let events = json!({"events": [
        {"type": "session", "session_id": "x1", "model": "gpt-4", "domain": "shop.example",
         "start_time": start, "duration_ms": 1000, "success": true, "input_tokens": 1000, "output_tokens": 500}
    ]});
    let r = client
        .post(format!("{}/api/v1/ingest", server.base))
        .json(&events)
        .send()
        .await
        .expect("ingest");
    assert_eq!(r.status().as_u16(), 200);
    let api = client
        .get(format!("{}/api/export/models?days=1", server.base))
        .send()
        .await
        .expect("export")
        .text()
        .await
        .expect("csv");
    server.kill();
    let output = Command::new(env!("CARGO_BIN_EXE_omniops"))
        .args(["export", "models", "--days", "1", "--data-dir"])
        .arg(dir.path())
        .env_remove("OMNIOPS_DATABASE_URL")
        .output()
        .expect("run export");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let cli = String::from_utf8_lossy(&output.stdout);
    assert_eq!(cli, api);
    assert_eq!(
        cli,
        "costUsd,model,percentage,requests,tokens,unpriced\r\n0.0600,gpt-4,100.0,1,1500,false\r\n"
    );

    let output = Command::new(env!("CARGO_BIN_EXE_omniops"))
        .args([
            "export",
            "sessions",
            "--format",
            "json",
            "--days",
            "1",
            "--data-dir",
        ])
        .arg(dir.path())
        .env_remove("OMNIOPS_DATABASE_URL")
        .output()
        .expect("run export");
    let sessions: Value = serde_json::from_slice(&output.stdout).expect("json");
    assert_eq!(sessions[0]["sessionId"], "x1");
    assert_eq!(sessions[0]["costUsd"], "0.060000");
    let output = Command::new(env!("CARGO_BIN_EXE_omniops"))
        .args(["export", "nonsense", "--data-dir"])
        .arg(dir.path())
        .output()
        .expect("run export");
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("no dataset `nonsense`"));
}
