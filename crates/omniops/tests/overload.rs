//! 200 clients uploading 10 MB bodies at once: the server sheds what its body budget cannot
//! hold with 503 and `Retry-After`, keeps answering, and its memory stays bounded.

mod common;

use common::Server;
use std::time::{Duration, Instant};

/// The bound the README promises under any concurrency.
const MAX_RSS: u64 = 512 * 1024 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_large_uploads_keep_memory_bounded() {
    let dir = tempfile::tempdir().expect("dir");
    let server = Server::start(dir.path()).await;
    // 10,000 events of about 1 KB: a full-size request the server must parse (and refuses
    // event by event, the type being unknown), so each admitted body costs real work.
    let event = format!(
        r#"{{"type":"x","session_id":"s","pad":"{}"}}"#,
        "p".repeat(980)
    );
    let mut body = String::from(r#"{"events":["#);
    for i in 0..10_000 {
        if i > 0 {
            body.push(',');
        }
        body.push_str(&event);
    }
    body.push_str("]}");
    // One buffer shared by every request (a clone is a reference).
    let body = bytes::Bytes::from(body.into_bytes());
    assert!(body.len() > 10_000_000);
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .expect("client");
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..200 {
        let client = client.clone();
        let url = format!("{}/api/v1/ingest", server.base);
        let body = body.clone();
        tasks.push(tokio::spawn(async move {
            let sent = Instant::now();
            let r = client
                .post(url)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await;
            let status = r.as_ref().map_or(0, |r| r.status().as_u16());
            let retry = r
                .as_ref()
                .ok()
                .and_then(|r| r.headers().get("retry-after"))
                .is_some();
            (status, retry, sent.elapsed())
        }));
    }
    let (mut ok, mut shed, mut slowest) = (0, 0, Duration::ZERO);
    for t in tasks {
        let (status, retry, took) = t.await.expect("client");
        match status {
            200 => ok += 1,
            503 => {
                assert!(retry, "a 503 says when to retry");
                shed += 1;
            }
            other => panic!("unexpected status {other}"),
        }
        slowest = slowest.max(took);
    }
    let peak = server.peak_rss();
    println!(
        "200 × {} MB uploads: {ok} stored, {shed} shed with 503, slowest answer {:?}, all in {:?}; peak RSS {} MB",
        body.len() / 1_000_000,
        slowest,
        started.elapsed(),
        peak / (1024 * 1024)
    );
    assert!(
        ok > 0 && shed > 0,
        "some admitted, the rest shed: {ok} / {shed}"
    );
    assert!(
        peak > 0 && peak <= MAX_RSS,
        "peak RSS {} MB",
        peak / (1024 * 1024)
    );
    // Still answering.
    let r = client
        .get(format!("{}/healthz", server.base))
        .send()
        .await
        .expect("healthz");
    assert_eq!(r.status().as_u16(), 200);
    server.kill();
}
