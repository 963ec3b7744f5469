//! Two Omniops processes on one PostgreSQL database behave as one: a session ingested on
//! one reaches live-stream subscribers of the other (LISTEN/NOTIFY), and a silent session is
//! closed once however many reapers see it.

use crate::common::TestApp;
use omniops_server::Settings;
use omniops_testkit::{Engine, TestDb};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_live_changes() {
    let Some(db) = TestDb::open(Engine::Postgres).await else {
        return;
    };
    let url = db.database_url.clone().expect("a PostgreSQL test database");
    let settings = Settings {
        reaper_interval_ms: 20,
        ..Settings::default()
    };
    let a = TestApp::boot(db, settings.clone()).await;

    // Instance B: its own store (pool) on the same database, its own server.
    let store_b = omniops_store::Store::open_postgres(&url)
        .await
        .expect("second store");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let b_addr = listener.local_addr().expect("address");
    let (stop_b, server_b) =
        crate::common::spawn_server(store_b, settings, listener, Arc::new(a.clock.clone()));
    let client = reqwest::Client::new();
    for _ in 0..200 {
        if client
            .get(format!("http://{b_addr}/healthz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let mut stream = client
        .get(format!("http://{b_addr}/api/live"))
        .send()
        .await
        .expect("live on B");
    // Wait for B's first summary, so its subscription exists before A publishes.
    let mut seen = String::new();
    while !seen.contains("event: summary") {
        let chunk = tokio::time::timeout(Duration::from_secs(10), stream.chunk())
            .await
            .expect("summary")
            .expect("chunk")
            .expect("open");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    let events = json!([{"type": "session.start", "session_id": "x1", "model": "gpt-4", "domain": "shop.example",
                         "timestamp": "2026-11-26T12:20:00Z"}]);
    assert_eq!(a.ingest(events).await.0, 200);
    while !seen.contains("event: session.started") {
        let chunk = tokio::time::timeout(Duration::from_secs(10), stream.chunk())
            .await
            .expect("B hears of A's session within 10 s")
            .expect("chunk")
            .expect("open");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(seen.contains("\"sessionId\":\"x1\""), "{seen}");
    let (_, live) = a.get_json("/api/dashboard/telemetry?days=1", None).await;
    let b_live: serde_json::Value = client
        .get(format!("http://{b_addr}/api/dashboard/telemetry?days=1"))
        .send()
        .await
        .expect("B telemetry")
        .json()
        .await
        .expect("json");
    assert_eq!(
        (
            live["live"]["activeSessions"].clone(),
            b_live["live"]["activeSessions"].clone()
        ),
        (json!(1), json!(1))
    );

    // Both reapers see x1 silent at 12:31: it is closed once, counted once.
    a.clock.set(crate::common::t("2026-11-26T12:31:00Z"));
    let mut requests = 0;
    for _ in 0..200 {
        let (_, r) = a.get_json("/api/dashboard/telemetry?days=1", None).await;
        requests = r["overview"]["totalRequests"].as_i64().unwrap_or(0);
        if requests > 0 && r["live"]["activeSessions"] == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (_, r) = a.get_json("/api/dashboard/telemetry?days=1", None).await;
    assert_eq!(
        (
            requests,
            r["overview"]["totalRequests"].clone(),
            r["overview"]["failedRequests"].clone()
        ),
        (1, json!(1), json!(1))
    );

    // A budget alert crossed by sessions ingested on both instances fires once per level:
    // both evaluate, the database keeps one event each.
    let set = json!({"action": "set-alert", "domain": "parts.example", "alert_type": "daily", "threshold_usd": "0.10"});
    let r = client
        .post(a.url("/api/monitoring/chat"))
        .json(&set)
        .send()
        .await
        .expect("set alert");
    assert_eq!(r.status().as_u16(), 200);
    let spend = |id: &str| {
        json!({"events": [{"type": "session", "session_id": id, "model": "gpt-4", "domain": "parts.example",
        "start_time": "2026-11-26T11:00:00Z", "duration_ms": 10, "success": true, "input_tokens": 2000, "output_tokens": 1000}]})
    };
    // $0.12 on A crosses both levels; $0.12 more on B crosses nothing new.
    let r = client
        .post(a.url("/api/v1/ingest"))
        .json(&spend("pa"))
        .send()
        .await
        .expect("ingest on A");
    assert_eq!(r.status().as_u16(), 200);
    let history = |base: String| {
        let client = client.clone();
        async move {
            let r = client
                .post(format!("{base}/api/monitoring/chat"))
                .json(&json!({"action": "check-alerts", "domain": "parts.example"}))
                .send()
                .await
                .expect("check");
            let body: serde_json::Value = r.json().await.expect("json");
            body["history"].as_array().cloned().unwrap_or_default()
        }
    };
    for _ in 0..300 {
        if history(a.url("")).await.len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let r = client
        .post(format!("http://{b_addr}/api/v1/ingest"))
        .json(&spend("pb"))
        .send()
        .await
        .expect("ingest on B");
    assert_eq!(r.status().as_u16(), 200);
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let levels: Vec<String> = history(format!("http://{b_addr}"))
        .await
        .iter()
        .filter_map(|e| e["level"].as_str().map(str::to_string))
        .collect();
    assert_eq!(levels.len(), 2, "{levels:?}");
    assert!(
        levels.contains(&"80".to_string()) && levels.contains(&"100".to_string()),
        "{levels:?}"
    );
    let _ = stop_b.send(());
    let _ = server_b.await;
}

/// A price changed through one instance prices the next session on the other at once
/// (NOTIFY omniops_prices, then a reload), without waiting for its periodic reload.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_price_change_reaches_every_instance() {
    let Some(db) = TestDb::open(Engine::Postgres).await else {
        return;
    };
    let url = db.database_url.clone().expect("a PostgreSQL test database");
    let a = TestApp::boot(db, Settings::default()).await;
    let store_b = omniops_store::Store::open_postgres(&url)
        .await
        .expect("second store");
    let b_store = store_b.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let (_stop_b, _server_b) = crate::common::spawn_server(
        store_b,
        Settings::default(),
        listener,
        Arc::new(a.clock.clone()),
    );
    // B's listener must be in place before A announces: wait until B answers.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let file = json!({"brand-new-llm": {"mode": "chat", "input_cost_per_token": 1e-6, "output_cost_per_token": 2e-6}});
    let r = a
        .client
        .post(a.url("/api/v1/prices/import"))
        .json(&file)
        .send()
        .await
        .expect("import on A");
    assert_eq!(r.status().as_u16(), 200);
    let now = crate::common::t(crate::common::NOW);
    for _ in 0..100 {
        if b_store
            .price_table()
            .await
            .lookup("brand-new-llm", now)
            .is_some()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("instance B did not reload its prices within 2 s");
}
