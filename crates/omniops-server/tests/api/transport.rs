//! Slow and idle clients, too many connections, too many bodies at once: each is cut off
//! by its bound (README: Limits) while the server keeps answering others.

use crate::common::TestApp;
use omniops_server::Settings;
use omniops_testkit::Engine;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Waits until the server closes `stream`; how long that took.
async fn closed_within(stream: &mut TcpStream, limit: Duration) -> Duration {
    let started = Instant::now();
    let mut buffer = [0u8; 4096];
    loop {
        match tokio::time::timeout(limit, stream.read(&mut buffer)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return started.elapsed(),
            Ok(Ok(_)) => continue,
            Err(_) => panic!("still open after {limit:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_idle_connections_are_closed() {
    let settings = Settings {
        header_timeout_ms: 300,
        idle_timeout_ms: 400,
        ..Settings::default()
    };
    let app = TestApp::spawn_with(Engine::Sqlite, settings)
        .await
        .expect("sqlite");
    // Connects and says nothing.
    let mut silent = TcpStream::connect(app.addr).await.expect("connect");
    assert!(closed_within(&mut silent, Duration::from_secs(3)).await < Duration::from_secs(2));
    // Sends half a request line, then nothing (slowloris).
    let mut slow = TcpStream::connect(app.addr).await.expect("connect");
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("write");
    assert!(closed_within(&mut slow, Duration::from_secs(3)).await < Duration::from_secs(2));
    // One request on a kept-alive connection, then silence.
    let mut idle = TcpStream::connect(app.addr).await.expect("connect");
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("write");
    let mut answer = vec![0u8; 1024];
    let n = idle.read(&mut answer).await.expect("answer");
    assert!(String::from_utf8_lossy(&answer[..n]).starts_with("HTTP/1.1 200"));
    assert!(closed_within(&mut idle, Duration::from_secs(3)).await < Duration::from_secs(2));
    // A live stream is a request in flight: it outlives the idle timeout.
    let mut live = app
        .client
        .get(app.url("/api/live"))
        .send()
        .await
        .expect("live");
    let first = tokio::time::timeout(Duration::from_secs(5), live.chunk())
        .await
        .expect("summary");
    assert!(first.expect("chunk").is_some());
    let more = tokio::time::timeout(Duration::from_millis(1_500), live.chunk()).await;
    assert!(
        more.is_err(),
        "the stream stayed open (nothing more to say yet)"
    );
    // Meanwhile others are answered.
    assert_eq!(app.get_json("/healthz", None).await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_past_the_cap_are_closed_at_once() {
    let settings = Settings {
        max_connections: 16,
        header_timeout_ms: 5_000,
        ..Settings::default()
    };
    let app = TestApp::spawn_with(Engine::Sqlite, settings)
        .await
        .expect("sqlite");
    let mut held = Vec::new();
    for _ in 0..16 {
        held.push(TcpStream::connect(app.addr).await.expect("connect"));
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    // The 17th is accepted and closed: the descriptors never run out.
    let mut extra = TcpStream::connect(app.addr).await.expect("connect");
    let _ = extra
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await;
    assert!(closed_within(&mut extra, Duration::from_secs(2)).await < Duration::from_secs(1));
    drop(held);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let fresh = reqwest::Client::new();
    let r = fresh
        .get(app.url("/healthz"))
        .send()
        .await
        .expect("answered once connections free up");
    assert_eq!(r.status().as_u16(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_past_the_budget_get_503_at_once() {
    let settings = Settings {
        body_bytes_in_flight: 1024 * 1024,
        body_timeout_ms: 5_000,
        ..Settings::default()
    };
    let app = TestApp::spawn_with(Engine::Sqlite, settings)
        .await
        .expect("sqlite");
    // A client declares 900 KB and sends it slowly: it holds most of the budget.
    let mut slow = TcpStream::connect(app.addr).await.expect("connect");
    slow.write_all(b"POST /api/v1/ingest HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 921600\r\n\r\n{\"events\":[")
        .await
        .expect("write");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let body = format!("{{\"events\":[],\"pad\":\"{}\"}}", "x".repeat(600_000));
    let started = Instant::now();
    let r = app
        .client
        .post(app.url("/api/v1/ingest"))
        .header("content-type", "application/json")
        .body(body.clone())
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status().as_u16(), 503);
    assert_eq!(
        r.headers().get("retry-after").map(|v| v.as_bytes()),
        Some(&b"1"[..])
    );
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "{:?}",
        started.elapsed()
    );
    let json: serde_json::Value = r.json().await.expect("json");
    assert_eq!(json["field"], "body");
    // Small requests still pass, and once the slow one is gone, so does the large one.
    assert_eq!(app.ingest(serde_json::json!([])).await.0, 200);
    drop(slow);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let r = app
        .client
        .post(app.url("/api/v1/ingest"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status().as_u16(), 200);
}

/// A body that stalls past `body_timeout_ms` is answered 408 naming the body, not 413
/// "body larger than …" as it was, and the connection closes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_body_gets_408() {
    let settings = Settings {
        body_timeout_ms: 500,
        ..Settings::default()
    };
    let app = TestApp::spawn_with(Engine::Sqlite, settings)
        .await
        .expect("sqlite");
    for path in ["/api/v1/ingest", "/v1/traces", "/api/v1/prices"] {
        let mut stalled = TcpStream::connect(app.addr).await.expect("connect");
        let method = if path == "/api/v1/prices" {
            "PUT"
        } else {
            "POST"
        };
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"events\":["
        );
        stalled.write_all(head.as_bytes()).await.expect("write");
        let mut answer = vec![0u8; 4096];
        let n = tokio::time::timeout(Duration::from_secs(5), stalled.read(&mut answer))
            .await
            .expect("answered in time")
            .expect("read");
        let answer = String::from_utf8_lossy(&answer[..n]);
        assert!(answer.starts_with("HTTP/1.1 408"), "{path}: {answer}");
        assert!(answer.contains("body"), "{path}: {answer}");
    }
}
