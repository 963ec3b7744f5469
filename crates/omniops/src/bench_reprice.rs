//! `omniops bench --price-change`: one model's whole history repriced through
//! `PUT /api/v1/prices` while a client keeps ingesting, one small request after another.
//! It reports how long the PUT took to answer, how long the background repricing took, and
//! the ingest latency meanwhile (the target: the worst ≤ 100 ms).

use crate::bench::{post, Endpoint};
use omniops_core::clock::{to_rfc3339, Clock, SystemClock, MICROS_PER_DAY};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Sessions per probe request: a small live batch, as an SDK flushes them.
const PROBE_SESSIONS: usize = 10;
/// Requests slower than this are listed with when they were sent, to tell a stall at the
/// price change's start from one in its steps.
const SLOW: Duration = Duration::from_millis(50);

pub async fn run(
    client: &reqwest::Client,
    base: &str,
    model: &str,
    days: i64,
) -> anyhow::Result<()> {
    let now = SystemClock.now();
    let from = chrono::DateTime::from_timestamp_micros(now - (days + 1) * MICROS_PER_DAY)
        .unwrap_or_default()
        .date_naive();
    // A price that differs from run to run, so a run on a kept database reprices again.
    let cents = now / 1_000_000 % 900 + 100;
    let input = format!("{}.{:02}", cents / 100, cents % 100);
    let output = format!("{}.{:02}", cents * 2 / 100, cents * 2 % 100);
    // Ingest goes on from before the PUT, so that the change's own start (storing the price,
    // installing the table under the writer) is measured too.
    let done = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let probe = tokio::spawn(probe(
        client.clone(),
        base.to_string(),
        model.to_string(),
        done.clone(),
        started,
    ));
    let response = client
        .put(format!("{base}/api/v1/prices"))
        .json(&json!({"model": model, "input": input, "output": output,
                      "effectiveFrom": from.to_string(), "source": "bench"}))
        .send()
        .await?;
    anyhow::ensure!(
        response.status().is_success(),
        "PUT /api/v1/prices answered {}",
        response.status()
    );
    let answer: Value = response.json().await?;
    let put_ms = started.elapsed().as_secs_f64() * 1_000.0;
    let Some(id) = answer["repricing"]["id"].as_str().map(str::to_string) else {
        done.store(true, Ordering::Relaxed);
        println!("price change {model}: no stored session to reprice");
        return Ok(());
    };
    let total = answer["repricing"]["sessionsTotal"].as_i64().unwrap_or(0);
    let job = wait_done(client, base, &id).await;
    done.store(true, Ordering::Relaxed);
    let secs = started.elapsed().as_secs_f64();
    let timed = probe.await??;
    let job = job?;
    let slow: Vec<String> = timed
        .iter()
        .filter(|(_, took)| *took > SLOW)
        .map(|(at, took)| {
            format!(
                "+{:.2} s: {:.0} ms",
                at.as_secs_f64(),
                took.as_secs_f64() * 1_000.0
            )
        })
        .collect();
    let mut latencies: Vec<Duration> = timed.into_iter().map(|(_, took)| took).collect();
    latencies.sort();
    let at = |p: f64| {
        let i = ((latencies.len() as f64 * p).ceil() as usize).clamp(1, latencies.len().max(1)) - 1;
        latencies.get(i).map_or(0.0, |d| d.as_secs_f64() * 1_000.0)
    };
    println!(
        "price change {model}: {total} sessions ({} changed, {} old rollup hours) repriced in {secs:.1} s = {:.0} sessions/s; PUT answered in {put_ms:.1} ms",
        job["sessionsChanged"],
        job["bucketsChanged"],
        total as f64 / secs
    );
    println!(
        "  ingest from the PUT on: {} requests of {PROBE_SESSIONS} sessions, p50 {:.2} ms, p95 {:.2} ms, worst {:.2} ms",
        latencies.len(),
        at(0.50),
        at(0.95),
        latencies.last().map_or(0.0, |d| d.as_secs_f64() * 1_000.0)
    );
    if !slow.is_empty() {
        println!(
            "  requests over {} ms, by when they were sent after the PUT: {}",
            SLOW.as_millis(),
            slow.join(", ")
        );
    }
    Ok(())
}

async fn wait_done(client: &reqwest::Client, base: &str, id: &str) -> anyhow::Result<Value> {
    loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let list: Value = client
            .get(format!("{base}/api/v1/prices/repricing"))
            .send()
            .await?
            .json()
            .await?;
        let job = list["jobs"]
            .as_array()
            .and_then(|jobs| jobs.iter().find(|j| j["id"] == id))
            .cloned()
            .ok_or_else(|| anyhow::anyhow!("repricing job {id} is gone"))?;
        if job["phase"] == "done" {
            return Ok(job);
        }
    }
}

/// Ingests small batches of the repriced model, one after another, until told to stop.
/// Returns each request's send time after `put_at` and its latency.
async fn probe(
    client: reqwest::Client,
    base: String,
    model: String,
    done: Arc<AtomicBool>,
    put_at: Instant,
) -> anyhow::Result<Vec<(Duration, Duration)>> {
    let mut latencies = Vec::new();
    let mut n = 0usize;
    // Ids of this run only: on a kept database a previous run's would be duplicates,
    // answered without a write.
    let run = SystemClock.now();
    while !done.load(Ordering::Relaxed) {
        let at = to_rfc3339(SystemClock.now());
        let events: Vec<Value> = (0..PROBE_SESSIONS)
            .map(|_| {
                n += 1;
                json!({"type": "session", "session_id": format!("reprice-probe-{run}-{n}"), "model": model,
                       "domain": "shop0.example", "start_time": at, "duration_ms": 800, "success": true,
                       "input_tokens": 1_200, "output_tokens": 300})
            })
            .collect();
        let body = serde_json::to_vec(&json!({ "events": events }))?;
        let started = Instant::now();
        post(&client, &base, Endpoint::Ingest, body).await?;
        latencies.push((started.duration_since(put_at), started.elapsed()));
    }
    Ok(latencies)
}
