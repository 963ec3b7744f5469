//! Alert webhooks: a receiver on loopback that checks the Standard Webhooks signature, a
//! failed call retried after its backoff (on the test's clock), the delivery log, a test
//! send, and private targets refused without the setting.

use crate::common::TestApp;
use axum::http::HeaderMap;
use omniops_server::Settings;
use omniops_testkit::Engine;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};

#[derive(Default)]
struct Received {
    calls: Vec<(HeaderMap, String)>,
    /// Answers, in order, before answering 200.
    failures: Vec<u16>,
}

async fn receiver() -> (String, Arc<Mutex<Received>>) {
    let received = Arc::new(Mutex::new(Received {
        failures: vec![500],
        ..Received::default()
    }));
    let shared = received.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: String| {
            let shared = shared.clone();
            async move {
                let mut r = shared.lock().expect("lock");
                r.calls.push((headers, body));
                let status = if r.failures.is_empty() {
                    200
                } else {
                    r.failures.remove(0)
                };
                axum::http::StatusCode::from_u16(status).unwrap_or(axum::http::StatusCode::OK)
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/hook"), received)
}

async fn deliveries(app: &TestApp) -> Vec<Value> {
    app.monitoring(json!({"action": "deliveries"})).await.1["deliveries"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

async fn wait_for(app: &TestApp, what: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    for _ in 0..300 {
        let log = deliveries(app).await;
        if what(&log) {
            return log;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!(
        "the delivery log never got there: {:?}",
        deliveries(app).await
    );
}

async fn webhooks_are_signed_retried_and_logged(engine: Engine) {
    let settings = Settings {
        allow_private_outbound: true,
        delivery_interval_ms: 20,
        ..Settings::default()
    };
    let Some(app) = TestApp::spawn_with(engine, settings).await else {
        return;
    };
    let (url, received) = receiver().await;
    let (status, answer) = app
        .monitoring(
            json!({"action": "set-alert", "domain": "shop.example", "alert_type": "daily",
        "threshold_usd": "0.05", "notify_at": [100], "webhook_url": url}),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    let secret = answer["webhookSecret"]
        .as_str()
        .expect("the secret, shown once")
        .to_string();
    assert!(secret.starts_with("whsec_"));
    // Saving the alert again keeps its secret and does not show it.
    let (_, again) = app
        .monitoring(
            json!({"action": "set-alert", "domain": "shop.example", "alert_type": "daily",
        "threshold_usd": "0.05", "notify_at": [100], "webhook_url": url}),
        )
        .await;
    assert!(again.get("webhookSecret").is_none(), "{again}");

    // $0.06 today crosses $0.05: one delivery; the first call gets a 500.
    let events = json!([{"type": "session", "session_id": "s1", "model": "gpt-4", "domain": "shop.example",
        "start_time": "2026-11-26T10:00:00Z", "duration_ms": 10, "success": true, "input_tokens": 1000, "output_tokens": 500}]);
    assert_eq!(app.ingest(events).await.0, 200);
    let log = wait_for(&app, |l| l.first().is_some_and(|d| d["attempts"] == 1)).await;
    assert_eq!(
        (log[0]["status"].clone(), log[0]["lastError"].clone()),
        (json!("pending"), json!("HTTP 500"))
    );
    // The retry waits 5 s on the server's clock.
    assert_eq!(log[0]["nextAttemptAt"], "2026-11-26T12:30:05Z");
    app.clock.advance(6_000_000);
    let log = wait_for(&app, |l| {
        l.first().is_some_and(|d| d["status"] == "delivered")
    })
    .await;
    assert_eq!(log[0]["attempts"], 2);

    let calls = received.lock().expect("lock").calls.clone();
    assert_eq!(calls.len(), 2);
    let (headers, body) = &calls[1];
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let id = header("webhook-id");
    let timestamp: i64 = header("webhook-timestamp").parse().expect("timestamp");
    assert_eq!(
        timestamp,
        crate::common::t("2026-11-26T12:30:06Z") / 1_000_000
    );
    assert_eq!(
        id,
        calls[0]
            .0
            .get("webhook-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default(),
        "a retry keeps its id"
    );
    // Verify as a receiver would: HMAC-SHA256 over "id.timestamp.body" with the secret's bytes.
    use base64::Engine as _;
    use hmac::Mac;
    let key = base64::engine::general_purpose::STANDARD
        .decode(&secret["whsec_".len()..])
        .expect("secret bytes");
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).expect("key");
    mac.update(format!("{id}.{timestamp}.{body}").as_bytes());
    let expected = format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    );
    assert_eq!(header("webhook-signature"), expected);
    let payload: Value = serde_json::from_str(body).expect("json body");
    assert_eq!(
        (
            payload["type"].clone(),
            payload["domain"].clone(),
            payload["alertType"].clone(),
            payload["level"].clone(),
            payload["currentSpend"].clone(),
            payload["thresholdUsd"].clone(),
            payload["percentage"].clone()
        ),
        (
            json!("budget.alert"),
            json!("shop.example"),
            json!("daily"),
            json!("100"),
            json!("0.0600"),
            json!("0.0500"),
            json!(120.0)
        )
    );

    // A test send goes out at once; deleting the alert ends it.
    let (status, _) = app
        .monitoring(
            json!({"action": "test-alert", "domain": "shop.example", "alert_type": "daily"}),
        )
        .await;
    assert_eq!(status, 200);
    wait_for(&app, |l| l.len() == 2 && l[0]["status"] == "delivered").await;
    let last = received
        .lock()
        .expect("lock")
        .calls
        .last()
        .map(|(_, b)| b.clone())
        .unwrap_or_default();
    assert_eq!(
        serde_json::from_str::<Value>(&last).expect("json")["type"],
        "budget.alert.test"
    );
    assert_eq!(
        app.monitoring(
            json!({"action": "delete-alert", "domain": "shop.example", "alert_type": "daily"})
        )
        .await
        .0,
        200
    );
    assert_eq!(
        app.monitoring(
            json!({"action": "delete-alert", "domain": "shop.example", "alert_type": "daily"})
        )
        .await
        .0,
        404
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_sqlite() {
    webhooks_are_signed_retried_and_logged(Engine::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_postgres() {
    webhooks_are_signed_retried_and_logged(Engine::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_webhook_targets_need_the_setting() {
    let app = TestApp::spawn(Engine::Sqlite).await.expect("sqlite");
    let (status, body) = app
        .monitoring(
            json!({"action": "set-alert", "alert_type": "monthly", "threshold_usd": "10",
        "webhook_url": "http://127.0.0.1:9/hook"}),
        )
        .await;
    assert_eq!((status, body["field"].as_str()), (400, Some("webhook_url")));
    assert!(body["error"]
        .as_str()
        .unwrap_or_default()
        .contains("--allow-private-outbound"));
}
