//! The crash loop: the real binary is killed with SIGKILL 20 times while four clients
//! send backfills and live sessions; afterwards every acknowledged session is there, once,
//! with its exact cost, and the rollups count each stored session once. On SQLite and on
//! PostgreSQL. (`OMNIOPS_CRASH_ROUNDS` runs a longer loop; the README shows how.)

mod common;

use common::Server;
use serde_json::{json, Value};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn rounds() -> usize {
    std::env::var("OMNIOPS_CRASH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(20)
}

/// One client's requests until the server dies: backfills and whole live sessions, each
/// session id recorded once its request was answered 200.
async fn client(base: String, round: usize, client: usize, acknowledged: Arc<Mutex<Vec<String>>>) {
    let http = reqwest::Client::new();
    let start = (chrono::Utc::now() - chrono::Duration::minutes(30)).to_rfc3339();
    for request in 0.. {
        let prefix = format!("r{round}-c{client}-q{request}");
        let (ids, events): (Vec<String>, Vec<Value>) = if request % 2 == 0 {
            (0..10)
                .map(|i| {
                    let id = format!("{prefix}-b{i}");
                    let e = json!({"type": "session", "session_id": id, "model": "gpt-4", "domain": "crash.example",
                        "start_time": start, "duration_ms": 100, "success": true, "input_tokens": 1000, "output_tokens": 500});
                    (id, e)
                })
                .unzip()
        } else {
            let id = format!("{prefix}-live");
            let events = vec![
                json!({"type": "session.start", "session_id": id, "model": "gpt-4", "domain": "crash.example", "event_id": "1"}),
                json!({"type": "usage", "session_id": id, "input_tokens": 1000, "output_tokens": 500, "event_id": "2"}),
                json!({"type": "session.end", "session_id": id, "success": true, "event_id": "3"}),
            ];
            (vec![id], events)
        };
        let sent = http
            .post(format!("{base}/api/v1/ingest"))
            .json(&json!({"events": events}))
            .send()
            .await;
        match sent {
            Ok(r) if r.status() == 200 => acknowledged.lock().expect("lock").extend(ids),
            Ok(r) => panic!("unexpected status {}", r.status()),
            // The server died mid-request: not acknowledged, so not counted.
            Err(_) => return,
        }
    }
}

async fn crash_loop(start: impl AsyncFn() -> Server, engine: &str) {
    let acknowledged = Arc::new(Mutex::new(Vec::new()));
    let rounds = rounds();
    for round in 0..rounds {
        let server = start().await;
        let clients: Vec<_> = (0..4)
            .map(|c| tokio::spawn(client(server.base.clone(), round, c, acknowledged.clone())))
            .collect();
        // Killed at a different moment of the load each round.
        tokio::time::sleep(Duration::from_millis(150 + (round as u64 * 37) % 250)).await;
        server.kill();
        for c in clients {
            c.await.expect("client");
        }
    }
    let acknowledged: Vec<String> = acknowledged.lock().expect("lock").clone();
    let server = start().await;
    let http = reqwest::Client::new();
    let stored: Vec<Value> = http
        .get(format!(
            "{}/api/export/sessions?days=1&format=json&domain=crash.example",
            server.base
        ))
        .send()
        .await
        .expect("export")
        .json()
        .await
        .expect("json");
    let ids: HashSet<&str> = stored
        .iter()
        .filter_map(|s| s["sessionId"].as_str())
        .collect();
    assert_eq!(ids.len(), stored.len(), "{engine}: a session stored twice");
    let lost: Vec<&String> = acknowledged
        .iter()
        .filter(|id| !ids.contains(id.as_str()))
        .collect();
    assert!(
        lost.is_empty(),
        "{engine}: {} acknowledged sessions lost, e.g. {:?}",
        lost.len(),
        &lost[..lost.len().min(5)]
    );
    // Every stored session ended with its exact cost: gpt-4, 1,000 × $30 + 500 × $60 per million.
    for s in &stored {
        assert_eq!(s["costUsd"], "0.060000", "{engine}: {s}");
    }
    // The rollups count each stored session once.
    let report: Value = http
        .get(format!(
            "{}/api/dashboard/telemetry?days=1&domain=crash.example",
            server.base
        ))
        .send()
        .await
        .expect("telemetry")
        .json()
        .await
        .expect("json");
    assert_eq!(
        report["overview"]["totalRequests"],
        stored.len(),
        "{engine}"
    );
    println!(
        "{engine}: {rounds} SIGKILLs under load, {} sessions acknowledged, {} stored, none lost",
        acknowledged.len(),
        stored.len()
    );
    server.kill();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_sessions_survive_a_crash_loop_on_sqlite() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().to_path_buf();
    crash_loop(async || Server::start(&path).await, "SQLite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_sessions_survive_a_crash_loop_on_postgres() {
    let Some((url, admin, name)) = omniops_testkit::fresh_postgres_database().await else {
        return;
    };
    crash_loop(async || Server::start_postgres(&url).await, "PostgreSQL").await;
    use sqlx::Connection;
    if let Ok(mut c) = sqlx::PgConnection::connect(&admin).await {
        let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&mut c)
            .await;
    }
}
