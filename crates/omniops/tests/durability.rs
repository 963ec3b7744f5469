//! The real binary, killed with SIGKILL right after a 200: nothing acknowledged is lost.

use serde_json::{json, Value};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

struct Server {
    child: Child,
    base: String,
}

impl Server {
    async fn start(data_dir: &std::path::Path) -> Server {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let child = Command::new(env!("CARGO_BIN_EXE_omniops"))
            .args([
                "serve",
                "--bind",
                &format!("127.0.0.1:{port}"),
                "--data-dir",
            ])
            .arg(data_dir)
            .env_remove("OMNIOPS_DATABASE_URL")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start omniops");
        let server = Server {
            child,
            base: format!("http://127.0.0.1:{port}"),
        };
        let client = reqwest::Client::new();
        for _ in 0..300 {
            if let Ok(r) = client.get(format!("{}/healthz", server.base)).send().await {
                if r.status().is_success() {
                    return server;
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("omniops did not start");
    }

    fn kill(mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reaped");
    }
}

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
