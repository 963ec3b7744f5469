//! A PostgreSQL outage, made by cutting a TCP proxy between the server and the database:
//! health, reads and ingest answer 503 with `Retry-After` within about a second instead of
//! hanging, and all recover when the database is back.

use crate::common::{spawn_server, t, NOW};
use omniops_core::clock::ManualClock;
use omniops_server::Settings;
use serde_json::json;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

/// Forwards connections on `addr` to PostgreSQL until cut.
struct Proxy {
    accept: JoinSet<()>,
    connections: Arc<tokio::sync::Mutex<JoinSet<()>>>,
}

impl Proxy {
    async fn start(addr: SocketAddr, upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind(addr).await.expect("bind proxy");
        let connections = Arc::new(tokio::sync::Mutex::new(JoinSet::new()));
        let mut accept = JoinSet::new();
        let shared = connections.clone();
        accept.spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                shared.lock().await.spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
            }
        });
        Proxy {
            accept,
            connections,
        }
    }

    /// Stops accepting and closes every forwarded connection, and returns only once they
    /// are closed: aborting alone is asynchronous, and a request sent at once could still
    /// pass through a connection not yet dropped.
    async fn cut(mut self) {
        self.accept.abort_all();
        while self.accept.join_next().await.is_some() {}
        let mut connections = self.connections.lock().await;
        connections.abort_all();
        while connections.join_next().await.is_some() {}
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_answers_503_quickly() {
    let Some((url, admin, name)) = omniops_testkit::fresh_postgres_database().await else {
        return;
    };
    let upstream: SocketAddr = "127.0.0.1:5432".parse().expect("address");
    let free = TcpListener::bind("127.0.0.1:0").await.expect("port");
    let proxy_addr = free.local_addr().expect("address");
    drop(free);
    let proxy = Proxy::start(proxy_addr, upstream).await;
    let through_proxy = url.replace("127.0.0.1:5432", &proxy_addr.to_string());
    assert_ne!(through_proxy, url, "the test database is on 127.0.0.1:5432");
    let store = omniops_store::Store::open_postgres(&through_proxy)
        .await
        .expect("store");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    let (_stop, _server) = spawn_server(
        store,
        Settings::default(),
        listener,
        Arc::new(ManualClock::at(t(NOW))),
    );
    let client = reqwest::Client::new();
    let session = |id: &str| {
        json!({"events": [{"type": "session", "session_id": id, "model": "gpt-4", "domain": "a.example",
        "start_time": "2026-11-26T10:00:00Z", "duration_ms": 5, "success": true, "input_tokens": 1, "output_tokens": 1}]})
    };
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
    let r = client
        .post(format!("{base}/api/v1/ingest"))
        .json(&session("before"))
        .send()
        .await
        .expect("ingest");
    assert_eq!(r.status().as_u16(), 200);

    proxy.cut().await;
    for (method, path) in [
        ("GET", "/healthz"),
        ("GET", "/api/dashboard/telemetry?days=1"),
        ("POST", "/api/v1/ingest"),
    ] {
        let started = Instant::now();
        let request = match method {
            "GET" => client.get(format!("{base}{path}")),
            _ => client
                .post(format!("{base}{path}"))
                .json(&session("during")),
        };
        let response = request.send().await.expect("an answer");
        let elapsed = started.elapsed();
        assert_eq!(response.status().as_u16(), 503, "{path}");
        assert_eq!(
            response.headers().get("retry-after").map(|v| v.as_bytes()),
            Some(&b"1"[..]),
            "{path}"
        );
        assert!(
            elapsed < Duration::from_millis(1_500),
            "{path} took {elapsed:?}"
        );
    }

    // The database is back: everything answers again.
    let _proxy = Proxy::start(proxy_addr, upstream).await;
    let mut healthy = false;
    for _ in 0..100 {
        if client
            .get(format!("{base}/healthz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            healthy = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(healthy, "healthy again");
    let r = client
        .post(format!("{base}/api/v1/ingest"))
        .json(&session("after"))
        .send()
        .await
        .expect("ingest");
    assert_eq!(r.status().as_u16(), 200);
    drop(_stop);
    // The test's database goes.
    use sqlx::Connection;
    if let Ok(mut conn) = sqlx::PgConnection::connect(&admin).await {
        let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&mut conn)
            .await;
    }
}
