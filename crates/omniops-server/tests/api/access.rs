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
        .create_key(omniops_store::Scope::Admin, None, None, now)
        .await
        .expect("key");
    let (_, ingest) = store
        .create_key(omniops_store::Scope::Ingest, None, None, now)
        .await
        .expect("key");
    let (_, read_a) = store
        .create_key(omniops_store::Scope::Read, Some("a.example"), None, now)
        .await
        .expect("key");
    let (_, ingest_a) = store
        .create_key(omniops_store::Scope::Ingest, Some("a.example"), None, now)
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
        .create_key(omniops_store::Scope::Admin, None, None, 0)
        .await
        .expect("key");
    omniops_server::check_access(&db.store, &listener)
        .await
        .expect("allowed once a key exists");
}

/// The attack: on a server bound to 0.0.0.0, revoking its only key. It is refused;
/// and should the keys vanish anyway (another instance, the database edited by hand), the
/// server does not open: keyless answers only while bound to loopback, checked per request.
async fn the_last_admin_key_cannot_be_revoked(engine: omniops_testkit::Engine) {
    let Some(db) = omniops_testkit::TestDb::open(engine).await else {
        return;
    };
    let now = crate::common::t(NOW);
    let (first, admin) = db
        .store
        .create_key(omniops_store::Scope::Admin, None, None, now)
        .await
        .expect("key");
    // A domain's admin key manages nothing global: it does not count as a way back in.
    db.store
        .create_key(omniops_store::Scope::Admin, Some("a.example"), None, now)
        .await
        .expect("key");
    let listener = tokio::net::TcpListener::bind("0.0.0.0:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("address").port();
    let base = format!("http://127.0.0.1:{port}");
    let store = db.store.clone();
    let (_stop, _server) = crate::common::spawn_server(
        store,
        omniops_server::Settings::default(),
        listener,
        std::sync::Arc::new(omniops_core::clock::ManualClock::at(now)),
    );
    let client = reqwest::Client::new();
    for _ in 0..200 {
        if client
            .get(format!("{base}/healthz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let delete = |id: String, key: String| {
        let request = client
            .delete(format!("{base}/api/keys/{id}"))
            .bearer_auth(key);
        async move {
            let r = request.send().await.expect("DELETE");
            (
                r.status().as_u16(),
                r.json::<serde_json::Value>().await.unwrap_or_default(),
            )
        }
    };
    let (status, body) = delete(first.id.clone(), admin.clone()).await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap_or_default()
            .contains("last admin key"),
        "{body}"
    );
    // With a second one, the first can go; the second then cannot.
    let r = client
        .post(format!("{base}/api/keys"))
        .bearer_auth(&admin)
        .json(&json!({"scope": "admin"}))
        .send()
        .await
        .expect("POST");
    let created: serde_json::Value = r.json().await.expect("json");
    let (second_id, second) = (
        created["record"]["id"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        created["key"].as_str().unwrap_or_default().to_string(),
    );
    assert_eq!(delete(first.id.clone(), second.clone()).await.0, 200);
    assert_eq!(delete(second_id.clone(), second.clone()).await.0, 409);
    // Keys gone behind the server's back: it stays shut.
    let all = db.store.list_keys().await.expect("keys");
    for k in all {
        sqlx_revoke(&db, &k.id).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(2_100)).await;
    let r = client
        .get(format!("{base}/api/dashboard/telemetry"))
        .send()
        .await
        .expect("GET");
    assert_eq!(r.status().as_u16(), 401);
    let r = client
        .post(format!("{base}/api/keys"))
        .json(&json!({"scope": "admin"}))
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status().as_u16(), 401);
}

/// Revokes a key in the database directly, past the store's rule.
async fn sqlx_revoke(db: &omniops_testkit::TestDb, id: &str) {
    use sqlx::Connection;
    let sql = "UPDATE api_keys SET revoked_at = 1 WHERE id = $1";
    match &db.raw_postgres_url() {
        Some(url) => {
            let mut c = sqlx::PgConnection::connect(url).await.expect("connect");
            sqlx::query(sql)
                .bind(id)
                .execute(&mut c)
                .await
                .expect("revoke");
        }
        None => {
            let path = db.data_dir.join("omniops.db");
            let mut c = sqlx::SqliteConnection::connect(&format!("sqlite:{}", path.display()))
                .await
                .expect("connect");
            sqlx::query(sql)
                .bind(id)
                .execute(&mut c)
                .await
                .expect("revoke");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn last_admin_key_sqlite() {
    the_last_admin_key_cannot_be_revoked(omniops_testkit::Engine::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn last_admin_key_postgres() {
    the_last_admin_key_cannot_be_revoked(omniops_testkit::Engine::Postgres).await;
}
