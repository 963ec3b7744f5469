//! `omniops bench`: loads synthetic sessions through the real ingest API of an in-process
//! server on loopback, then measures `/api/dashboard/telemetry` latency against the spec's
//! approach (summing raw rows), on SQLite and, given a URL, on PostgreSQL.

use crate::bench_bodies::{conversation_bodies, live_streams, Backfill};
use crate::bench_server::{BenchServer, Storage};
use anyhow::Context;
use clap::Args;
use omniops_core::clock::{to_rfc3339, Clock, SystemClock};
use omniops_core::window::Window;
use omniops_store::Store;
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Args)]
pub struct BenchArgs {
    /// Sessions loaded by backfill (`session` events, 5,000 per request).
    #[arg(long, default_value_t = 1_000_000)]
    pub sessions: usize,
    /// Sessions sent through the live path (start, 2 usage, end).
    #[arg(long, default_value_t = 100_000)]
    pub live_sessions: usize,
    /// Sessions sent as OpenTelemetry traces of three spans (`POST /v1/traces`).
    #[arg(long, default_value_t = 100_000)]
    otlp_sessions: usize,
    /// Conversations loaded (10 messages each), for the analytics endpoints.
    #[arg(long, default_value_t = 100_000)]
    pub conversations: usize,
    /// Days of history the backfilled sessions spread over.
    #[arg(long, default_value_t = 30)]
    pub days: i64,
    #[arg(long, default_value_t = 20)]
    pub domains: usize,
    /// Parallel HTTP clients, each sending its next request once answered. With more, more
    /// requests are read while the writer writes, and more bodies are held (README).
    #[arg(long, default_value_t = 4)]
    pub concurrency: usize,
    /// Telemetry requests per window size.
    #[arg(long, default_value_t = 200)]
    samples: usize,
    /// Models the sessions are spread over (up to 10 real names).
    #[arg(long, default_value_t = 6)]
    models: usize,
    /// Runs of the raw-row reference (the spec's approach) per window: slow at 10M sessions.
    #[arg(long, default_value_t = 5)]
    naive_samples: usize,
    /// After loading, change the first model's price and time the background repricing of
    /// its whole history, with ingest going on meanwhile.
    #[arg(long)]
    price_change: bool,
    /// Seconds of the combined run after the reads: half the clients write sessions while
    /// the other half read the overview and the main reports (0: skip it).
    #[arg(long, default_value_t = 30)]
    pub combined_secs: u64,
    /// Skip the read latencies (for a run that only loads, or only changes a price).
    #[arg(long)]
    skip_reads: bool,
    /// Also run on PostgreSQL: an admin URL; the bench creates and drops its own database.
    #[arg(long, env = "OMNIOPS_BENCH_DATABASE_URL")]
    postgres_url: Option<String>,
    /// Skip the SQLite run.
    #[arg(long)]
    skip_sqlite: bool,
    /// Keep the PostgreSQL database after the run (its name is printed), for inspection.
    #[arg(long)]
    keep_postgres: bool,
    /// Measure a server already running at this URL instead of starting one (no raw-row
    /// reference then; memory only with --target-pid).
    #[arg(long)]
    target: Option<String>,
    /// The process id of the --target server, for its memory figures.
    #[arg(long)]
    target_pid: Option<u32>,
    /// Keep the SQLite database in this directory (default: a temporary one).
    #[arg(long)]
    sqlite_dir: Option<std::path::PathBuf>,
}

const MODELS: [&str; 10] = [
    "gpt-5-mini",
    "gpt-4o",
    "gpt-4o-mini",
    "claude-sonnet-4-5",
    "claude-haiku-4-5",
    "gemini-2.0-flash",
    "gpt-4.1",
    "o3-mini",
    "claude-opus-4-1",
    "gemini-2.5-flash",
];

impl BenchArgs {
    /// The models sessions are spread over.
    pub fn models(&self) -> &'static [&'static str] {
        &MODELS[..self.models.clamp(1, MODELS.len())]
    }
}
pub const BACKFILL_PER_REQUEST: usize = 5_000;
pub const LIVE_GROUP: usize = 250;
/// A short quiet period, so that the bench sees OTLP sessions end soon after their traces.
const OTLP_QUIET_MS: u64 = 200;

pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    if let Some(target) = &args.target {
        let server = BenchServer::existing(target, args.target_pid).await?;
        return run_on(&args, server, "target", None).await;
    }
    if !args.skip_sqlite {
        let temporary = tempfile::tempdir()?;
        let dir = args.sqlite_dir.as_deref().unwrap_or(temporary.path());
        let server = BenchServer::spawn(Storage::Sqlite(dir), retention(&args), OTLP_QUIET_MS);
        run_on(&args, server.await?, "sqlite", None).await?;
        if !args.skip_reads {
            naive_reads(&args, Store::open_sqlite(dir).await?).await?;
        }
    }
    if let Some(admin) = &args.postgres_url {
        let (url, name) = create_database(admin).await?;
        let server = BenchServer::spawn(Storage::Postgres(&url), retention(&args), OTLP_QUIET_MS);
        let mut result = match server.await {
            Ok(server) => run_on(&args, server, "postgres", Some(&url)).await,
            Err(e) => Err(e),
        };
        if result.is_ok() && !args.skip_reads {
            let store = Store::open_postgres(&url).await?;
            result = naive_reads(&args, store.clone()).await;
            store.close().await;
        }
        if args.keep_postgres {
            println!("kept PostgreSQL database {name}");
        } else {
            drop_database(admin, &name).await?;
        }
        result?;
    }
    Ok(())
}

fn database_url(admin: &str, name: &str) -> String {
    let authority = admin.find("://").map_or(0, |i| i + 3);
    let path = admin[authority..]
        .find('/')
        .map_or(admin.len(), |i| authority + i);
    format!("{}/{name}", &admin[..path])
}

async fn create_database(admin: &str) -> anyhow::Result<(String, String)> {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(admin)
        .await
        .context("connecting to PostgreSQL")?;
    let name = format!("omniops_bench_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await?;
    Ok((database_url(admin, &name), name))
}

async fn drop_database(admin: &str, name: &str) -> anyhow::Result<()> {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(admin).await?;
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&mut conn)
        .await?;
    Ok(())
}

/// Every loaded day stays raw, as a user keeping a quarter would set it.
fn retention(args: &BenchArgs) -> u32 {
    u32::try_from(args.days + 1).unwrap_or(u32::MAX)
}

/// `postgres`: the database's URL, to vacuum it after loading.
async fn run_on(
    args: &BenchArgs,
    server: BenchServer,
    engine: &str,
    postgres: Option<&str>,
) -> anyhow::Result<()> {
    let base = server.base.clone();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency * 2)
        .build()?;
    println!("== {engine} ==");
    server.report_phase("start");

    let result = async {
        load(args, &client, &base, &server).await?;
        if let Some(url) = postgres {
            vacuum(url).await?;
        }
        if args.price_change {
            crate::bench_reprice::run(&client, &base, args.models()[0], args.days).await?;
            server.report_phase("price change");
            // The repricing left a million dead row versions.
            if let Some(url) = postgres {
                vacuum(url).await?;
            }
        }
        if !args.skip_reads {
            reads(args, &client, &base).await?;
            server.report_phase("reads");
            pages(args, &client, &base).await?;
            server.report_phase("page loads");
            crate::bench_mixed::live_latency(&client, &base, args.samples).await?;
            if args.combined_secs > 0 {
                crate::bench_mixed::combined(args, &client, &base).await?;
                server.report_phase("combined load");
            }
        }
        anyhow::Ok(())
    }
    .await;
    let stopped = server.stop().await;
    result?;
    stopped
}

/// VACUUM ANALYZE after loading (and after a repricing), as autovacuum does in the
/// background: without it (some machines turn autovacuum off) every read walks the dead
/// versions of updated rollup rows and plans from empty statistics.
async fn vacuum(url: &str) -> anyhow::Result<()> {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(url).await?;
    let autovacuum: String = sqlx::query_scalar("SELECT current_setting('autovacuum')")
        .fetch_one(&mut conn)
        .await?;
    let started = Instant::now();
    // Every table of the database, the bench's own.
    sqlx::query("VACUUM ANALYZE").execute(&mut conn).await?;
    println!(
        "vacuum analyze: {:.1} s (autovacuum is {autovacuum} here)",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The spec's approach, summing raw rows, read from the store directly once the server
/// stopped (SQLite admits one server process).
async fn naive_reads(args: &BenchArgs, store: Store) -> anyhow::Result<()> {
    println!("raw-row reference (ms)             p50      p95      p99");
    for days in [1, 7, 30, 90] {
        let window = Window::last_days(days, SystemClock.now())?;
        let mut naive = Vec::new();
        for _ in 0..args.naive_samples.max(1) {
            let started = Instant::now();
            store.naive_window_sums(&window, None).await?;
            naive.push(started.elapsed());
        }
        print_latency(&format!("raw-row sums days={days:<3}"), &mut naive);
    }
    Ok(())
}

/// Loads the sessions, live sessions, traces and conversations, timing each path.
async fn load(
    args: &BenchArgs,
    client: &reqwest::Client,
    base: &str,
    server: &BenchServer,
) -> anyhow::Result<()> {
    let client = client.clone();
    let base = base.to_string();
    let now = SystemClock.now();
    let bodies = Backfill::new(args, now);
    let started = Instant::now();
    send_all(&client, &base, Endpoint::Ingest, bodies, args.concurrency).await?;
    let secs = started.elapsed().as_secs_f64();
    println!(
        "backfill   {:>9} sessions in {:>6.2} s = {:>8.0} sessions/s ({} per request, {} clients)",
        args.sessions,
        secs,
        args.sessions as f64 / secs,
        BACKFILL_PER_REQUEST,
        args.concurrency
    );
    server.report_phase("backfill");

    if args.live_sessions > 0 {
        let streams = live_streams(args);
        let started = Instant::now();
        let tasks: Vec<_> = streams
            .into_iter()
            .map(|bodies| {
                let client = client.clone();
                let base = base.clone();
                tokio::spawn(async move {
                    for body in bodies {
                        post(&client, &base, Endpoint::Ingest, body).await?;
                    }
                    anyhow::Ok(())
                })
            })
            .collect();
        for task in tasks {
            task.await??;
        }
        let secs = started.elapsed().as_secs_f64();
        println!(
            "live path  {:>9} sessions in {:>6.2} s = {:>8.0} sessions/s (4 events each, {} clients)",
            args.live_sessions,
            secs,
            args.live_sessions as f64 / secs,
            args.concurrency
        );
        server.report_phase("live path");
    }

    if args.otlp_sessions > 0 {
        crate::bench_otlp::run(
            &client,
            &base,
            args.otlp_sessions,
            args.domains,
            args.concurrency,
            OTLP_QUIET_MS,
        )
        .await?;
        server.report_phase("otlp");
    }

    if args.conversations > 0 {
        let bodies = conversation_bodies(args, now);
        let events = args.conversations * 11 + args.conversations.div_ceil(5);
        let started = Instant::now();
        send_all(&client, &base, Endpoint::Ingest, bodies, args.concurrency).await?;
        let secs = started.elapsed().as_secs_f64();
        println!(
            "conversations {:>6} conversations, {} messages, {} sessions with a failed search in {:>6.2} s = {:>8.0} events/s",
            args.conversations,
            args.conversations * 10,
            args.conversations.div_ceil(5),
            secs,
            events as f64 / secs
        );
        server.report_phase("conversations");
    }

    Ok(())
}

/// JSON endpoints and partials, timed one request after another.
async fn reads(args: &BenchArgs, client: &reqwest::Client, base: &str) -> anyhow::Result<()> {
    println!("latency (ms), every read computes (no-cache)   p50      p95      p99");
    for days in [1, 7, 30, 90] {
        let url = format!("{base}/api/dashboard/telemetry?days={days}");
        let mut samples = measure(client, &url, args.samples).await?;
        print_latency(&format!("telemetry days={days:<3}"), &mut samples);
    }
    for (label, path) in JSON_READS {
        let mut samples = measure(client, &format!("{base}{path}"), args.samples.min(50)).await?;
        print_latency(label, &mut samples);
    }
    for (_, _, sections) in DASHBOARD_PAGES {
        for section in sections {
            let url = format!("{base}/dashboard/partials/{section}?days=30");
            let mut samples = measure(client, &url, args.samples.min(50)).await?;
            print_latency(&format!("partial {section}"), &mut samples);
        }
    }
    Ok(())
}

/// The JSON endpoints timed besides telemetry (exports stream and are left out).
const JSON_READS: [(&str, &str); 16] = [
    ("analytics days=1", "/api/dashboard/analytics?days=1"),
    ("analytics days=7", "/api/dashboard/analytics?days=7"),
    ("analytics days=30", "/api/dashboard/analytics?days=30"),
    ("analytics days=90", "/api/dashboard/analytics?days=90"),
    (
        "conversations days=7",
        "/api/dashboard/conversations?days=7",
    ),
    (
        "conversations days=30",
        "/api/dashboard/conversations?days=30",
    ),
    (
        "missing-products days=30",
        "/api/dashboard/missing-products?days=30",
    ),
    (
        "missing-products days=90",
        "/api/dashboard/missing-products?days=90",
    ),
    ("scraped", "/api/dashboard/scraped"),
    ("woocommerce days=30", "/api/dashboard/woocommerce?days=30"),
    ("config", "/api/dashboard/config"),
    ("monitoring period=week", "/api/monitoring/chat?period=week"),
    (
        "monitoring period=month",
        "/api/monitoring/chat?period=month",
    ),
    ("sessions days=7", "/api/sessions?days=7"),
    ("sessions days=30", "/api/sessions?days=30"),
    ("prices", "/api/v1/prices"),
];

/// Each dashboard page, and the page with its sections fetched in parallel as a browser
/// does, each load right after a write (so nothing computed before is reused), with
/// reports shared as the server shares them; and how many telemetry and analytics reports
/// one page load computed.
async fn pages(args: &BenchArgs, client: &reqwest::Client, base: &str) -> anyhow::Result<()> {
    println!("dashboard (days=30)                p50      p95      p99     gzip KB   reports/load");
    for (label, page, sections) in DASHBOARD_PAGES {
        let url = format!("{base}{page}?days=30");
        let mut samples = measure(client, &url, args.samples.min(50)).await?;
        print_latency(&format!("{label} HTML"), &mut samples);
        let mut full = Vec::new();
        let runs = args.samples.min(50);
        let mut computed = 0;
        for i in 0..runs + 3 {
            // A session stored before each load, as under live traffic: the load cannot
            // reuse reports computed for the one before.
            let session = json!({"events": [{"type": "session",
                "session_id": uuid::Uuid::new_v4().to_string(), "model": "gpt-4o-mini",
                "domain": "shop0.example", "duration_ms": 900, "success": true,
                "start_time": to_rfc3339(SystemClock.now() - 60_000_000),
                "input_tokens": 1200, "output_tokens": 150}]});
            post(
                client,
                base,
                Endpoint::Ingest,
                serde_json::to_vec(&session)?,
            )
            .await?;
            let before = reports_computed(client, base).await?;
            let started = Instant::now();
            fetch_ok(client, &url).await?;
            let fetches = sections.iter().map(|section| {
                let url = format!("{base}/dashboard/partials/{section}?days=30");
                async move { fetch_ok(client, &url).await }
            });
            futures_util::future::try_join_all(fetches).await?;
            if i >= 3 {
                full.push(started.elapsed());
                computed += reports_computed(client, base).await? - before;
            }
        }
        let weight = page_weight(client, base, &url, sections).await?;
        print_latency_with(
            &format!("{label} + sections"),
            &mut full,
            &format!(
                "{:>11.1}{:>15.1}",
                weight as f64 / 1024.0,
                computed as f64 / runs.max(1) as f64
            ),
        );
    }
    Ok(())
}

/// Telemetry and analytics reports the server computed so far (from `/metrics`).
async fn reports_computed(client: &reqwest::Client, base: &str) -> anyhow::Result<u64> {
    let text = String::from_utf8(fetch_ok(client, &format!("{base}/metrics")).await?)?;
    Ok(text
        .lines()
        .filter(|l| l.starts_with("omniops_report_reads_total") && l.contains("computed"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum())
}

/// Each page and the sections it loads.
pub const DASHBOARD_PAGES: [(&str, &str, &[&str]); 6] = [
    (
        "overview",
        "/dashboard",
        &[
            "stats",
            "trend",
            "status",
            "recent",
            "insights",
            "languages",
        ],
    ),
    ("analytics", "/dashboard/analytics", &["analytics-overview"]),
    (
        "costs",
        "/dashboard/costs",
        &[
            "cost-metrics",
            "cost-trend",
            "ticker",
            "models",
            "alerts",
            "domain-costs",
        ],
    ),
    (
        "sessions",
        "/dashboard/sessions",
        &["sessions-live", "sessions-history"],
    ),
    (
        "products",
        "/dashboard/products",
        &[
            "product-stats",
            "product-list",
            "product-advice",
            "forecast",
        ],
    ),
    (
        "settings",
        "/dashboard/settings",
        &[
            "settings-prices",
            "settings-domains",
            "settings-retention",
            "settings-keys",
        ],
    ),
];

pub async fn fetch_ok(client: &reqwest::Client, url: &str) -> anyhow::Result<Vec<u8>> {
    let response = client.get(url).send().await?;
    anyhow::ensure!(
        response.status().is_success(),
        "{url} answered {}",
        response.status()
    );
    Ok(response.bytes().await?.to_vec())
}

/// Compressed bytes of a first visit: the page, its sections and every asset it links.
async fn page_weight(
    client: &reqwest::Client,
    base: &str,
    url: &str,
    sections: &[&str],
) -> anyhow::Result<usize> {
    let gzip = |u: String| client.get(u).header("accept-encoding", "gzip").send();
    let html = fetch_ok(client, url).await?;
    let html = String::from_utf8_lossy(&html);
    let mut urls: Vec<String> = html
        .split("\"/assets/")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .map(|name| format!("{base}/assets/{name}"))
        .collect();
    urls.push(url.to_string());
    urls.extend(
        sections
            .iter()
            .map(|s| format!("{base}/dashboard/partials/{s}?days=30")),
    );
    let mut total = 0;
    for u in urls {
        total += gzip(u).await?.bytes().await?.len();
    }
    Ok(total)
}

async fn measure(
    client: &reqwest::Client,
    url: &str,
    samples: usize,
) -> anyhow::Result<Vec<Duration>> {
    let mut timings = Vec::with_capacity(samples);
    for i in 0..samples + 5 {
        let started = Instant::now();
        // Each sample computes its answer: none shares a report computed before.
        let response = client
            .get(url)
            .header("cache-control", "no-cache")
            .send()
            .await?;
        anyhow::ensure!(
            response.status().is_success(),
            "{url} answered {}",
            response.status()
        );
        response.bytes().await?;
        if i >= 5 {
            timings.push(started.elapsed());
        }
    }
    Ok(timings)
}

pub fn print_latency(label: &str, samples: &mut [Duration]) {
    print_latency_with(label, samples, "");
}

fn print_latency_with(label: &str, samples: &mut [Duration], tail: &str) {
    samples.sort();
    let at = |p: f64| {
        let i = ((samples.len() as f64 * p).ceil() as usize).clamp(1, samples.len()) - 1;
        samples[i].as_secs_f64() * 1_000.0
    };
    println!(
        "{label:<28} {:>8.2} {:>8.2} {:>8.2}{tail}",
        at(0.50),
        at(0.95),
        at(0.99)
    );
}

/// Where the bench posts its bodies, and how it checks that nothing was rejected.
#[derive(Clone, Copy)]
pub enum Endpoint {
    /// `POST /api/v1/ingest` with JSON events.
    Ingest,
    /// `POST /v1/traces` with an OTLP protobuf export.
    Traces,
}

impl Endpoint {
    fn path_and_type(self) -> (&'static str, &'static str) {
        match self {
            Endpoint::Ingest => ("/api/v1/ingest", "application/json"),
            Endpoint::Traces => ("/v1/traces", "application/x-protobuf"),
        }
    }

    /// Fails unless the answer says every event (or span) was stored.
    async fn check(self, response: reqwest::Response) -> anyhow::Result<()> {
        match self {
            Endpoint::Ingest => {
                let answer: serde_json::Value = response.json().await?;
                let rejected = answer["rejected"].as_array().map_or(0, Vec::len);
                anyhow::ensure!(
                    rejected == 0,
                    "ingest rejected {rejected} events: {}",
                    answer["rejected"][0]
                );
            }
            Endpoint::Traces => {
                use prost::Message;
                let answer =
                    omniops_server::ingest::otlp::proto::ExportTraceServiceResponse::decode(
                        response.bytes().await?,
                    )?;
                anyhow::ensure!(
                    answer.partial_success.is_none(),
                    "OTLP rejected spans: {:?}",
                    answer.partial_success
                );
            }
        }
        Ok(())
    }
}

/// Posts one body, waiting and retrying while the server answers 503 (queue full).
pub async fn post(
    client: &reqwest::Client,
    base: &str,
    endpoint: Endpoint,
    body: Vec<u8>,
) -> anyhow::Result<()> {
    let (path, content_type) = endpoint.path_and_type();
    loop {
        let response = client
            .post(format!("{base}{path}"))
            .header("content-type", content_type)
            .body(body.clone())
            .send()
            .await?;
        if response.status() == reqwest::StatusCode::SERVICE_UNAVAILABLE {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        }
        anyhow::ensure!(
            response.status().is_success(),
            "{path} answered {}",
            response.status()
        );
        return endpoint.check(response).await;
    }
}

/// Posts every body over `concurrency` clients.
pub async fn send_all(
    client: &reqwest::Client,
    base: &str,
    endpoint: Endpoint,
    bodies: impl IntoIterator<Item = Vec<u8>, IntoIter: Send + 'static>,
    concurrency: usize,
) -> anyhow::Result<()> {
    // Bodies are built as they are sent, so the client holds a few at a time.
    let queue = Arc::new(tokio::sync::Mutex::new(bodies.into_iter()));
    let tasks: Vec<_> = (0..concurrency.max(1))
        .map(|_| {
            let queue = queue.clone();
            let client = client.clone();
            let base = base.to_string();
            tokio::spawn(async move {
                loop {
                    let next = queue.lock().await.next();
                    let Some(body) = next else {
                        return anyhow::Ok(());
                    };
                    post(&client, &base, endpoint, body).await?;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await??;
    }
    Ok(())
}
