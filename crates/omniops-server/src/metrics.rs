//! Prometheus metrics at `GET /metrics` (text format 0.0.4): ingest, the writer's queue and
//! batches, HTTP latency per route, live sessions and webhook deliveries.

use crate::state::AppState;
use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Latency buckets, in seconds.
const BOUNDS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

#[derive(Default)]
pub struct Histogram {
    buckets: [AtomicU64; BOUNDS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl Histogram {
    pub fn observe(&self, took: Duration) {
        let seconds = took.as_secs_f64();
        for (bound, bucket) in BOUNDS.iter().zip(&self.buckets) {
            if seconds <= *bound {
                bucket.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_micros.fetch_add(
            u64::try_from(took.as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        for (bound, bucket) in BOUNDS.iter().zip(&self.buckets) {
            let _ = writeln!(
                out,
                "{name}_bucket{{{labels}{sep}le=\"{bound}\"}} {}",
                bucket.load(Ordering::Relaxed)
            );
        }
        let count = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {count}");
        let wrap = |s: &str| {
            if s.is_empty() {
                String::new()
            } else {
                format!("{{{s}}}")
            }
        };
        let sum = self.sum_micros.load(Ordering::Relaxed) as f64 / 1_000_000.0;
        let _ = writeln!(out, "{name}_sum{} {sum}", wrap(labels));
        let _ = writeln!(out, "{name}_count{} {count}", wrap(labels));
    }
}

#[derive(Default)]
pub struct Metrics {
    pub events_accepted: AtomicU64,
    pub events_rejected: AtomicU64,
    pub batches: Histogram,
    pub batches_failed: AtomicU64,
    pub deliveries_ok: AtomicU64,
    pub deliveries_failed: AtomicU64,
    /// (route, method, status) → latency.
    http: Mutex<BTreeMap<(String, String, u16), Histogram>>,
}

impl Metrics {
    fn observe_http(&self, route: &str, method: &str, status: u16, took: Duration) {
        if let Ok(mut http) = self.http.lock() {
            http.entry((route.to_string(), method.to_string(), status))
                .or_default()
                .observe(took);
        }
    }
}

/// Middleware: each request's latency under its matched route (never the raw path, so
/// unknown paths cannot grow the label set).
pub async fn track(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str)
        .to_string();
    let method = request.method().to_string();
    let started = Instant::now();
    let response = next.run(request).await;
    state.metrics.observe_http(
        &route,
        &method,
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}

fn counter(out: &mut String, name: &str, help: &str, kind: &str, lines: &[(&str, u64)]) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    for (labels, value) in lines {
        if labels.is_empty() {
            let _ = writeln!(out, "{name} {value}");
        } else {
            let _ = writeln!(out, "{name}{{{labels}}} {value}");
        }
    }
}

/// `GET /metrics`
#[utoipa::path(get, path = "/metrics", tag = "health",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain"),
        crate::api::errors::Common))]
pub async fn render(
    State(state): State<AppState>,
    axum::Extension(principal): axum::Extension<crate::auth::Principal>,
) -> Response {
    // The whole server's counters (live sessions of every domain): not for a key held to one.
    if let Err(e) = principal.require_unscoped("read the whole server's metrics") {
        return e.into_response();
    }
    let m = &state.metrics;
    let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
    let mut out = String::new();
    counter(
        &mut out,
        "omniops_ingest_events_total",
        "Ingested events by outcome.",
        "counter",
        &[
            ("outcome=\"accepted\"", load(&m.events_accepted)),
            ("outcome=\"rejected\"", load(&m.events_rejected)),
        ],
    );
    counter(
        &mut out,
        "omniops_ingest_queue_depth",
        "Ingest requests waiting for the writer.",
        "gauge",
        &[("", state.ingest.depth() as u64)],
    );
    let _ = writeln!(out, "# HELP omniops_batch_commit_seconds Time to apply and commit one write batch.\n# TYPE omniops_batch_commit_seconds histogram");
    m.batches
        .render(&mut out, "omniops_batch_commit_seconds", "");
    counter(
        &mut out,
        "omniops_batch_failures_total",
        "Write batches that failed (nothing of them stored).",
        "counter",
        &[("", load(&m.batches_failed))],
    );
    match state
        .store
        .live_sessions(None)
        .await
        .map(|l| l.len() as u64)
    {
        Ok(live) => counter(
            &mut out,
            "omniops_live_sessions",
            "Sessions running now.",
            "gauge",
            &[("", live)],
        ),
        Err(error) => tracing::error!(?error, "metrics: live sessions"),
    }
    let (telemetry, analytics) = (
        state.reports.telemetry.counts(),
        state.reports.analytics.counts(),
    );
    counter(
        &mut out,
        "omniops_report_reads_total",
        "Report reads by report and whether they computed it or shared one (README: Caches).",
        "counter",
        &[
            ("report=\"telemetry\",outcome=\"computed\"", telemetry.0),
            ("report=\"telemetry\",outcome=\"shared\"", telemetry.1),
            ("report=\"analytics\",outcome=\"computed\"", analytics.0),
            ("report=\"analytics\",outcome=\"shared\"", analytics.1),
        ],
    );
    counter(
        &mut out,
        "omniops_webhook_deliveries_total",
        "Alert webhook calls by outcome.",
        "counter",
        &[
            ("outcome=\"delivered\"", load(&m.deliveries_ok)),
            ("outcome=\"failed\"", load(&m.deliveries_failed)),
        ],
    );
    let _ = writeln!(out, "# HELP omniops_http_request_duration_seconds HTTP request latency by route.\n# TYPE omniops_http_request_duration_seconds histogram");
    if let Ok(http) = m.http.lock() {
        for ((route, method, status), histogram) in http.iter() {
            let labels = format!("route=\"{route}\",method=\"{method}\",status=\"{status}\"");
            histogram.render(&mut out, "omniops_http_request_duration_seconds", &labels);
        }
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        out,
    )
        .into_response()
}
