//! The SDK against the real server (sessions priced exactly, both usage shapes), and
//! against small stand-ins for a server that says 503 or does not answer.

use omniops_client::{Config, Omniops};
use omniops_core::clock::SystemClock;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::Duration;

async fn real_server() -> (
    String,
    omniops_testkit::TestDb,
    tokio::sync::oneshot::Sender<()>,
) {
    let db = omniops_testkit::TestDb::sqlite().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let store = db.store.clone();
    tokio::spawn(async move {
        omniops_server::serve(
            store,
            omniops_server::Settings::default(),
            listener,
            async {
                let _ = stopped.await;
            },
            Arc::new(SystemClock),
        )
        .await
    });
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
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    (base, db, stop)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_arrive_priced_exactly() {
    let (base, _db, _stop) = real_server().await;
    let omniops = Omniops::new(Config::new(&base));
    // OpenAI Chat usage: 2,000 prompt tokens (1,500 cached) and 100 completion tokens of
    // gpt-4o = 500 × $2.50 + 1,500 × $1.25 + 100 × $10 per million = $0.004125.
    let chat = omniops.create_session("sdk-1", "gpt-4o", "shop.example");
    chat.track_iteration();
    chat.track_iteration();
    chat.track_search("hydraulic pumps", 3);
    chat.track_token_usage(json!({"prompt_tokens": 2000, "completion_tokens": 100,
                                   "prompt_tokens_details": {"cached_tokens": 1500}}));
    chat.complete(true, None);
    // Anthropic usage of claude-sonnet-4-5: $0.006825 (see the telemetry tests).
    let chat = omniops.create_session("sdk-2", "claude-sonnet-4-5", "shop.example");
    chat.track_token_usage(json!({"input_tokens": 100, "cache_read_input_tokens": 3000,
                                   "cache_creation_input_tokens": 500, "output_tokens": 250}));
    chat.complete(false, Some("the model refused"));
    omniops.flush().await;
    assert_eq!(omniops.dropped(), 0);

    let client = reqwest::Client::new();
    let get = |id: &str| client.get(format!("{base}/api/sessions/{id}")).send();
    let first: Value = get("sdk-1").await.expect("GET").json().await.expect("json");
    assert_eq!(
        (
            first["costUsd"].clone(),
            first["iterations"].clone(),
            first["searchCount"].clone(),
            first["totalResults"].clone(),
            first["success"].clone()
        ),
        (json!("0.004125"), json!(2), json!(1), json!(3), json!(true))
    );
    let second: Value = get("sdk-2").await.expect("GET").json().await.expect("json");
    assert_eq!(
        (
            second["costUsd"].clone(),
            second["success"].clone(),
            second["error"].clone()
        ),
        (json!("0.006825"), json!(false), json!("the model refused"))
    );
    // The timestamps the SDK writes are the time of the call.
    let started =
        omniops_core::clock::parse_rfc3339(first["startTime"].as_str().unwrap_or_default())
            .expect("time");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_micros() as i64;
    assert!(
        (now - started).abs() < 60_000_000,
        "started {started}, now {now}"
    );
    omniops.shutdown().await;
}

/// A stand-in that answers with `statuses` in turn (then 200) and keeps each body.
async fn stand_in(
    statuses: Vec<(u16, Option<&'static str>)>,
    delay: Duration,
) -> (String, Arc<Mutex<Vec<Value>>>) {
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let statuses = Arc::new(Mutex::new(statuses));
    let seen = bodies.clone();
    let app = axum::Router::new().route(
        "/api/v1/ingest",
        axum::routing::post(move |body: String| {
            let (seen, statuses) = (seen.clone(), statuses.clone());
            async move {
                tokio::time::sleep(delay).await;
                seen.lock()
                    .expect("lock")
                    .push(serde_json::from_str::<Value>(&body).unwrap_or(Value::Null));
                let next = {
                    let mut s = statuses.lock().expect("lock");
                    if s.is_empty() {
                        None
                    } else {
                        Some(s.remove(0))
                    }
                };
                let mut response = axum::response::Response::new(axum::body::Body::from(
                    r#"{"accepted":1,"rejected":[]}"#,
                ));
                if let Some((status, retry_after)) = next {
                    *response.status_mut() = axum::http::StatusCode::from_u16(status)
                        .unwrap_or(axum::http::StatusCode::OK);
                    if let Some(seconds) = retry_after {
                        response
                            .headers_mut()
                            .insert("retry-after", axum::http::HeaderValue::from_static(seconds));
                    }
                }
                response
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (base, bodies)
}

#[tokio::test]
async fn a_503_is_retried_with_the_same_event_ids() {
    let (base, bodies) = stand_in(vec![(503, Some("0")), (429, Some("0"))], Duration::ZERO).await;
    let omniops = Omniops::new(Config::new(&base));
    omniops
        .create_session("r1", "gpt-4o", "shop.example")
        .complete(true, None);
    omniops.flush().await;
    let bodies = bodies.lock().expect("lock").clone();
    assert_eq!(bodies.len(), 3, "503, 429, then accepted");
    assert_eq!(
        bodies[0], bodies[2],
        "a retry resends the same events, ids included"
    );
    assert!(bodies[0]["events"][0]["event_id"]
        .as_str()
        .is_some_and(|id| id.len() == 36));
    assert_eq!(omniops.dropped(), 0);
}

#[tokio::test]
async fn a_full_buffer_drops_and_counts() {
    // A server that takes 2 s per request: with room for 4 events, most of 50 are dropped.
    let (base, _bodies) = stand_in(Vec::new(), Duration::from_secs(2)).await;
    let config = Config {
        batch_size: 1,
        max_buffer: 4,
        ..Config::new(&base)
    };
    let omniops = Omniops::new(config);
    let chat = omniops.create_session("d1", "gpt-4o", "shop.example");
    for _ in 0..50 {
        chat.track_iteration();
    }
    assert!(omniops.dropped() >= 40, "dropped {}", omniops.dropped());
}
