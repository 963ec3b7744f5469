//! The parts of `omniops bench` where writes and reads meet: how soon an ingested session
//! reaches a live-stream subscriber, and a combined run where clients write sessions while
//! others read the dashboard, as a busy installation does.

use crate::bench::{fetch_ok, post, print_latency, BenchArgs, Endpoint, DASHBOARD_PAGES};
use omniops_core::clock::{to_rfc3339, Clock, SystemClock};
use rand::{Rng, SeedableRng};
use serde_json::json;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// Sessions per write request in the combined run: a busy SDK's flush.
const COMBINED_BATCH: usize = 100;

/// Time from posting a `session.start` until `/api/live` delivers its `session.started`.
pub async fn live_latency(
    client: &reqwest::Client,
    base: &str,
    samples: usize,
) -> anyhow::Result<()> {
    let response = client.get(format!("{base}/api/live")).send().await?;
    anyhow::ensure!(
        response.status().is_success(),
        "/api/live answered {}",
        response.status()
    );
    let (seen, mut arrivals) = mpsc::unbounded_channel::<(String, Instant)>();
    let reader = tokio::spawn(read_started(response, seen));
    let mut latencies = Vec::with_capacity(samples);
    for i in 0..samples.min(100) + 3 {
        let id = uuid::Uuid::new_v4().to_string();
        let event = json!({"events": [{"type": "session.start", "session_id": id,
            "model": "gpt-4o-mini", "domain": "shop0.example"}]});
        let started = Instant::now();
        post(client, base, Endpoint::Ingest, serde_json::to_vec(&event)?).await?;
        let arrived = tokio::time::timeout(Duration::from_secs(10), async {
            while let Some((session, at)) = arrivals.recv().await {
                if session == id {
                    return Some(at);
                }
            }
            None
        })
        .await;
        let Ok(Some(at)) = arrived else {
            anyhow::bail!("session {id} never reached /api/live within 10 s");
        };
        if i >= 3 {
            latencies.push(at.duration_since(started));
        }
    }
    reader.abort();
    println!("live stream (ms)                   p50      p95      p99");
    print_latency("ingest → session.started", &mut latencies);
    Ok(())
}

/// Reads the event stream, reporting each `session.started` with the time it arrived.
async fn read_started(
    mut response: reqwest::Response,
    seen: mpsc::UnboundedSender<(String, Instant)>,
) -> anyhow::Result<()> {
    let mut buffer = String::new();
    while let Some(chunk) = response.chunk().await? {
        let at = Instant::now();
        buffer.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buffer.find("\n\n") {
            let frame: String = buffer.drain(..end + 2).collect();
            if !frame.contains("event: session.started") {
                continue;
            }
            let Some(data) = frame.lines().find_map(|l| l.strip_prefix("data: ")) else {
                continue;
            };
            let value: serde_json::Value = serde_json::from_str(data)?;
            if let Some(id) = value["sessionId"].as_str() {
                let _ = seen.send((id.to_string(), at));
            }
        }
    }
    Ok(())
}

/// Half the clients write finished sessions in batches, the other half read the overview
/// (its page and sections in parallel) and the main JSON reports, for `combined_secs`.
/// Reads are sent as a browser sends them (no `no-cache`): under steady writes each one
/// still computes, since every commit ends what could be shared.
pub async fn combined(
    args: &BenchArgs,
    client: &reqwest::Client,
    base: &str,
) -> anyhow::Result<()> {
    let stop = Arc::new(AtomicBool::new(false));
    let written = Arc::new(AtomicUsize::new(0));
    let writes = Arc::new(Mutex::new(Vec::new()));
    let json_reads = Arc::new(Mutex::new(Vec::new()));
    let page_loads = Arc::new(Mutex::new(Vec::new()));
    let half = (args.concurrency / 2).max(1);
    // Ids unique to this run: on a kept database a repeated id is accepted and stores nothing.
    let run = uuid::Uuid::new_v4().simple().to_string();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for writer in 0..half {
        let (client, base, stop) = (client.clone(), base.to_string(), stop.clone());
        let (written, writes, run) = (written.clone(), writes.clone(), run.clone());
        let domains = args.domains.max(1);
        let models = args.models();
        tasks.push(tokio::spawn(async move {
            let mut rng = rand::rngs::StdRng::seed_from_u64(writer as u64);
            let mut n = 0usize;
            while !stop.load(Ordering::Relaxed) {
                let now = SystemClock.now();
                let events: Vec<_> = (0..COMBINED_BATCH)
                    .map(|_| {
                        n += 1;
                        json!({"type": "session", "session_id": format!("mixed-{run}-{writer}-{n}"),
                            "model": models[rng.gen_range(0..models.len())],
                            "domain": format!("shop{}.example", rng.gen_range(0..domains)),
                            "start_time": to_rfc3339(now - 5_000_000), "duration_ms": 2_000,
                            "success": true, "input_tokens": rng.gen_range(200..6_000),
                            "output_tokens": rng.gen_range(50..900)})
                    })
                    .collect();
                let body = serde_json::to_vec(&json!({ "events": events }))?;
                let sent = Instant::now();
                post(&client, &base, Endpoint::Ingest, body).await?;
                lock(&writes).push(sent.elapsed());
                written.fetch_add(COMBINED_BATCH, Ordering::Relaxed);
            }
            anyhow::Ok(())
        }));
    }
    for _ in 0..half {
        let (client, base, stop) = (client.clone(), base.to_string(), stop.clone());
        let (json_reads, page_loads) = (json_reads.clone(), page_loads.clone());
        tasks.push(tokio::spawn(async move {
            let (_, page, sections) = DASHBOARD_PAGES[0];
            while !stop.load(Ordering::Relaxed) {
                for path in [
                    "/api/dashboard/telemetry?days=30",
                    "/api/dashboard/analytics?days=30",
                    "/api/sessions?days=7",
                ] {
                    let sent = Instant::now();
                    fetch_ok(&client, &format!("{base}{path}")).await?;
                    lock(&json_reads).push(sent.elapsed());
                }
                let sent = Instant::now();
                fetch_ok(&client, &format!("{base}{page}?days=30")).await?;
                let parts = sections.iter().map(|section| {
                    let url = format!("{base}/dashboard/partials/{section}?days=30");
                    let client = &client;
                    async move { fetch_ok(client, &url).await }
                });
                futures_util::future::try_join_all(parts).await?;
                lock(&page_loads).push(sent.elapsed());
            }
            anyhow::Ok(())
        }));
    }
    tokio::time::sleep(Duration::from_secs(args.combined_secs)).await;
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        task.await??;
    }
    let secs = started.elapsed().as_secs_f64();
    let sessions = written.load(Ordering::Relaxed);
    println!(
        "combined {secs:.0} s: {half} writers stored {sessions} sessions = {:.0} sessions/s, {half} readers",
        sessions as f64 / secs
    );
    println!("combined latency (ms)              p50      p95      p99");
    print_latency(
        &format!("write {COMBINED_BATCH} sessions"),
        &mut lock(&writes),
    );
    print_latency("json reads", &mut lock(&json_reads));
    print_latency("overview + sections", &mut lock(&page_loads));
    Ok(())
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
