//! The `omniops` command: parses the command line and configuration, then calls the library.

mod bench;
mod bench_bodies;
mod bench_mixed;
mod bench_otlp;
mod bench_reprice;
mod bench_server;
mod data;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use omniops_server::{Settings, SettingsLayer};
use std::net::SocketAddr;
use std::path::PathBuf;

/// jemalloc returns freed memory to the system within seconds, without the fragmentation
/// glibc's per-thread arenas showed: the server's resident memory at 10M sessions stays
/// within the bound in the README (measured by `omniops bench`). It serves SQLite's
/// allocations too (the crate's unprefixed `malloc`): under glibc, each of SQLite's
/// connection threads kept an arena of its own.
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[derive(Parser)]
#[command(
    name = "omniops",
    version,
    about = "Self-hosted cost and performance monitor for AI chat assistants"
)]
struct Cli {
    /// A TOML file with settings (same names as the flags, in snake_case).
    #[arg(long, global = true, env = "OMNIOPS_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP server.
    Serve(ServeArgs),
    /// Create, list and revoke API keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
        #[command(flatten)]
        storage: StorageArgs,
    },
    /// Load synthetic sessions through the ingest API and measure throughput and latency.
    Bench(bench::BenchArgs),
    /// Write a dataset as CSV or JSON, as the dashboard's export does.
    Export(ExportArgs),
    /// Import the spec's own tables (chat_telemetry, conversations, messages, …) from the
    /// assistant's PostgreSQL, once or following new rows.
    Import(data::ImportArgs),
    /// Copy this installation to the other engine (SQLite to PostgreSQL, or back), then
    /// verify both sides agree.
    Migrate(data::MigrateArgs),
    /// Write a consistent copy of the embedded (SQLite) database while the server runs.
    Backup(data::BackupArgs),
    /// Replace the embedded database with a backup, after checking its integrity.
    Restore(data::RestoreArgs),
    /// Model prices.
    Prices {
        #[command(subcommand)]
        command: PricesCommand,
    },
}

#[derive(Subcommand)]
enum PricesCommand {
    /// Load a LiteLLM-format price file (model_prices_and_context_window.json). Reports what
    /// was added and what changed; prices set by hand are never changed.
    Import(ImportArgs),
}

#[derive(Args)]
struct ImportArgs {
    /// The price file.
    file: PathBuf,
    /// Only report what would change.
    #[arg(long)]
    dry_run: bool,
    /// Also reprice stored history of the models added or changed, from --effective-from on.
    #[arg(long)]
    recompute: bool,
    /// The day the imported prices take effect (YYYY-MM-DD; default today, UTC).
    #[arg(long)]
    effective_from: Option<chrono::NaiveDate>,
    /// A running server to import through (its admin API), e.g. http://127.0.0.1:8080.
    /// Without it the database is written directly, which SQLite refuses while a server runs.
    #[arg(long, env = "OMNIOPS_URL")]
    url: Option<String>,
    /// An admin API key for --url.
    #[arg(long, env = "OMNIOPS_KEY", hide_env_values = true)]
    key: Option<String>,
    /// Print the whole report as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    storage: StorageArgs,
}

#[derive(Args)]
struct ExportArgs {
    /// sessions, hourly, models, domains, live, conversations, top-queries, languages,
    /// failed-searches, satisfaction, missing-products, forecast, alerts, response-times
    dataset: String,
    #[arg(long, value_parser = ["csv", "json"], default_value = "csv")]
    format: String,
    /// The last N days (default 7), or --from/--to (RFC 3339).
    #[arg(long)]
    days: Option<String>,
    #[arg(long)]
    from: Option<String>,
    #[arg(long)]
    to: Option<String>,
    #[arg(long)]
    domain: Option<String>,
    /// Sessions only: one model.
    #[arg(long)]
    model: Option<String>,
    /// Sessions only: success or failed.
    #[arg(long)]
    status: Option<String>,
    /// Write here instead of standard output.
    #[arg(long, short)]
    output: Option<PathBuf>,
    #[command(flatten)]
    storage: StorageArgs,
}

#[derive(Args, Clone, Default)]
struct StorageArgs {
    /// Directory of the embedded SQLite database.
    #[arg(long, global = true, env = "OMNIOPS_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Use PostgreSQL instead of SQLite (postgres://user:password@host/db).
    #[arg(
        long,
        global = true,
        env = "OMNIOPS_DATABASE_URL",
        hide_env_values = true
    )]
    database_url: Option<String>,
    /// PostgreSQL schema of Omniops' tables (default omniops).
    #[arg(long, global = true, env = "OMNIOPS_POSTGRES_SCHEMA")]
    postgres_schema: Option<String>,
}

#[derive(Args)]
struct ServeArgs {
    /// Address to listen on. Anything but loopback needs an API key.
    #[arg(long, env = "OMNIOPS_BIND")]
    bind: Option<SocketAddr>,
    #[command(flatten)]
    storage: StorageArgs,
    /// Days raw sessions are kept.
    #[arg(long, env = "OMNIOPS_RETENTION_DAYS")]
    retention_days: Option<u32>,
    /// Days hourly and daily rollups are kept.
    #[arg(long, env = "OMNIOPS_ROLLUP_RETENTION_DAYS")]
    rollup_retention_days: Option<u32>,
    /// Ingest requests that may wait for the writer before 503.
    #[arg(long, env = "OMNIOPS_QUEUE_CAPACITY")]
    queue_capacity: Option<usize>,
    /// Most events committed in one transaction.
    #[arg(long, env = "OMNIOPS_MAX_BATCH_EVENTS")]
    max_batch_events: Option<usize>,
    /// Batches committed at once on PostgreSQL, each in its own transaction (1 to 16).
    #[arg(long, env = "OMNIOPS_INGEST_WRITERS")]
    ingest_writers: Option<usize>,
    /// Fill an empty database with 30 days of demo data and keep live sessions coming.
    #[arg(long, env = "OMNIOPS_DEMO")]
    demo: bool,
    /// Minutes without an event after which a live session is closed as timed out.
    #[arg(long, env = "OMNIOPS_LIVE_TIMEOUT_MINUTES")]
    live_timeout_minutes: Option<u32>,
    /// Let outbound calls (alert webhooks, WooCommerce stores) reach loopback and private
    /// network addresses.
    #[arg(
        long,
        env = "OMNIOPS_ALLOW_PRIVATE_OUTBOUND",
        alias = "allow-private-webhooks"
    )]
    allow_private_outbound: bool,
    /// Trust X-Forwarded-For and X-Forwarded-Proto (only behind a proxy that sets them).
    #[arg(long, env = "OMNIOPS_TRUST_PROXY_HEADERS")]
    trust_proxy_headers: bool,
    /// Open connections at most (kept below the open-file limit).
    #[arg(long, env = "OMNIOPS_MAX_CONNECTIONS")]
    max_connections: Option<usize>,
    /// Request-body bytes held at once across all connections; more get 503.
    #[arg(long, env = "OMNIOPS_BODY_BYTES_IN_FLIGHT")]
    body_bytes_in_flight: Option<usize>,
    /// Milliseconds a client has to send a request's headers.
    #[arg(long, env = "OMNIOPS_HEADER_TIMEOUT_MS")]
    header_timeout_ms: Option<u64>,
    /// Milliseconds a connection may stay idle (no request in flight) before it is closed.
    #[arg(long, env = "OMNIOPS_IDLE_TIMEOUT_MS")]
    idle_timeout_ms: Option<u64>,
    /// Milliseconds a client has to send a request's body.
    #[arg(long, env = "OMNIOPS_BODY_TIMEOUT_MS")]
    body_timeout_ms: Option<u64>,
    /// Failed key checks a client address or key prefix may make before it is slowed down.
    #[arg(long, env = "OMNIOPS_LOGIN_FAILURES_ALLOWED")]
    login_failures_allowed: Option<u32>,
    /// The longest wait imposed on a client that keeps failing, in seconds.
    #[arg(long, env = "OMNIOPS_LOGIN_LOCKOUT_MAX_SECS")]
    login_lockout_max_secs: Option<u64>,
    /// Milliseconds without a new span after which an OpenTelemetry session whose root span
    /// has ended is closed.
    #[arg(long, env = "OMNIOPS_OTLP_QUIET_MS")]
    otlp_quiet_ms: Option<u64>,
    /// Milliseconds a computed report may be shared by reads while nothing changed (0: off).
    #[arg(long, env = "OMNIOPS_REPORT_CACHE_MS")]
    report_cache_ms: Option<u64>,
    /// Minutes between two syncs of each enabled WooCommerce store (1–1440).
    #[arg(long, env = "OMNIOPS_WOOCOMMERCE_SYNC_MINUTES")]
    woocommerce_sync_minutes: Option<u32>,
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Create a key; it is printed once and stored only as a hash.
    Create {
        #[arg(long, value_parser = ["ingest", "read", "admin"])]
        scope: String,
        /// Restrict the key to one customer domain.
        #[arg(long)]
        domain: Option<String>,
        /// A label to recognise the key by.
        #[arg(long)]
        name: Option<String>,
    },
    /// List keys (never their secrets).
    List,
    /// Revoke a key by id.
    Revoke { id: String },
}

fn file_layer(path: Option<&PathBuf>) -> anyhow::Result<SettingsLayer> {
    let Some(path) = path else {
        return Ok(SettingsLayer::default());
    };
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

fn settings(
    config: Option<&PathBuf>,
    args: Option<&ServeArgs>,
    storage: &StorageArgs,
) -> anyhow::Result<Settings> {
    settings_with(config, args, storage, |_| {})
}

/// As [`settings`], with a command's own flags added to the flags' layer.
fn settings_with(
    config: Option<&PathBuf>,
    args: Option<&ServeArgs>,
    storage: &StorageArgs,
    own: impl FnOnce(&mut SettingsLayer),
) -> anyhow::Result<Settings> {
    let mut flags = SettingsLayer {
        bind: args.and_then(|a| a.bind),
        data_dir: storage.data_dir.clone(),
        database_url: storage.database_url.clone(),
        postgres_schema: storage.postgres_schema.clone(),
        retention_days: args.and_then(|a| a.retention_days),
        rollup_retention_days: args.and_then(|a| a.rollup_retention_days),
        queue_capacity: args.and_then(|a| a.queue_capacity),
        max_batch_events: args.and_then(|a| a.max_batch_events),
        ingest_writers: args.and_then(|a| a.ingest_writers),
        demo: args.and_then(|a| a.demo.then_some(true)),
        live_timeout_minutes: args.and_then(|a| a.live_timeout_minutes),
        reaper_interval_ms: None,
        allow_private_webhooks: None,
        allow_private_outbound: args.and_then(|a| a.allow_private_outbound.then_some(true)),
        trust_proxy_headers: args.and_then(|a| a.trust_proxy_headers.then_some(true)),
        max_connections: args.and_then(|a| a.max_connections),
        body_bytes_in_flight: args.and_then(|a| a.body_bytes_in_flight),
        header_timeout_ms: args.and_then(|a| a.header_timeout_ms),
        idle_timeout_ms: args.and_then(|a| a.idle_timeout_ms),
        body_timeout_ms: args.and_then(|a| a.body_timeout_ms),
        login_failures_allowed: args.and_then(|a| a.login_failures_allowed),
        login_lockout_max_secs: args.and_then(|a| a.login_lockout_max_secs),
        delivery_interval_ms: None,
        woocommerce_sync_minutes: args.and_then(|a| a.woocommerce_sync_minutes),
        otlp_quiet_ms: args.and_then(|a| a.otlp_quiet_ms),
        report_cache_ms: args.and_then(|a| a.report_cache_ms),
        import_poll_seconds: None,
        import_overlap_seconds: None,
    };
    own(&mut flags);
    Ok(Settings::resolve(&[file_layer(config)?, flags])?)
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = terminate => {} }
}

async fn keys(command: KeysCommand, settings: Settings) -> anyhow::Result<()> {
    let store = settings.open_store().await?;
    let now = chrono::Utc::now().timestamp_micros();
    match command {
        KeysCommand::Create {
            scope,
            domain,
            name,
        } => {
            // Normalised as every other entry does (README: Domains).
            let domain = domain
                .map(|d| omniops_core::domain::Domain::parse(&d))
                .transpose()
                .map_err(|e| anyhow::anyhow!("--domain: {e}"))?;
            let (record, secret) = store
                .create_key(
                    omniops_store::Scope::parse(&scope)
                        .ok_or_else(|| anyhow::anyhow!("--scope must be ingest, read or admin"))?,
                    domain.as_deref(),
                    name.as_deref(),
                    now,
                )
                .await?;
            println!("{secret}");
            eprintln!(
                "created key {} (scope {}{}); it is shown only this once",
                record.id,
                record.scope,
                record
                    .domain
                    .map(|d| format!(", domain {d}"))
                    .unwrap_or_default()
            );
        }
        KeysCommand::List => {
            println!(
                "{:<36}  {:<6}  {:<20}  {:<12}  {:<25}  status",
                "id", "scope", "domain", "prefix", "created"
            );
            for k in store.list_keys().await? {
                println!(
                    "{:<36}  {:<6}  {:<20}  {:<12}  {:<25}  {}",
                    k.id,
                    k.scope,
                    k.domain.unwrap_or_else(|| "*".into()),
                    k.prefix,
                    omniops_core::clock::to_rfc3339(k.created_at),
                    if k.revoked_at.is_some() {
                        "revoked"
                    } else {
                        "active"
                    }
                );
            }
        }
        KeysCommand::Revoke { id } => {
            if store.revoke_key(&id, now).await? {
                eprintln!("revoked {id}");
            } else {
                anyhow::bail!("no active key with id {id}");
            }
        }
    }
    store.close().await;
    Ok(())
}

async fn import_prices(args: ImportArgs, settings: Settings) -> anyhow::Result<()> {
    let file =
        std::fs::read(&args.file).with_context(|| format!("reading {}", args.file.display()))?;
    let options = omniops_server::queries::prices::ImportOptions {
        dry_run: args.dry_run,
        recompute: args.recompute,
        effective_from: args
            .effective_from
            .unwrap_or_else(|| chrono::Utc::now().date_naive()),
        source: args.file.file_name().map_or_else(
            || "import".to_string(),
            |n| n.to_string_lossy().into_owned(),
        ),
    };
    let remote = args
        .url
        .map(|url| omniops_server::commands::Remote { url, key: args.key });
    let report =
        omniops_server::commands::import_prices(&settings, &file, &options, remote.as_ref())
            .await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    let list = |key: &str| report[key].as_array().cloned().unwrap_or_default();
    let (added, changed, kept) = (list("added"), list("changed"), list("keptUserPrices"));
    println!(
        "{}{} entries read: {} added, {} changed, {} unchanged, {} kept (set by hand), {} left out; in force from {}",
        if options.dry_run { "dry run, nothing stored. " } else { "" },
        report["entries"],
        added.len(),
        changed.len(),
        report["unchanged"],
        kept.len(),
        report["skipped"],
        report["effectiveFrom"].as_str().unwrap_or_default()
    );
    for model in &added {
        println!("  added    {}", model.as_str().unwrap_or_default());
    }
    for c in &changed {
        println!(
            "  changed  {}: input ${} → ${}, output ${} → ${}",
            c["model"].as_str().unwrap_or_default(),
            c["before"]["input"].as_str().unwrap_or_default(),
            c["after"]["input"].as_str().unwrap_or_default(),
            c["before"]["output"].as_str().unwrap_or_default(),
            c["after"]["output"].as_str().unwrap_or_default()
        );
    }
    for model in &kept {
        println!(
            "  kept     {} (your price)",
            model.as_str().unwrap_or_default()
        );
    }
    if let Some(r) = report["repricing"].as_object() {
        match r["phase"].as_str() {
            Some("done") => println!(
                "repriced {} sessions and {} rollup hours",
                r["sessionsChanged"], r["bucketsChanged"]
            ),
            _ => println!(
                "repricing {} sessions in the background (see Settings, or GET /api/v1/prices/repricing)",
                r["sessionsTotal"]
            ),
        }
    }
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // The bench's reference queries are slow on purpose; keep its output to the numbers.
    let default_filter = match cli.command {
        Command::Bench(_)
        | Command::Export(_)
        | Command::Prices { .. }
        | Command::Import(_)
        | Command::Backup(_)
        | Command::Migrate(_)
        | Command::Restore(_) => "warn,sqlx=error",
        _ => "info,sqlx=warn,tower_http=warn",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter)),
        )
        .init();
    match cli.command {
        Command::Serve(args) => {
            let settings = settings(cli.config.as_ref(), Some(&args), &args.storage)?;
            tracing::debug!(?settings, "settings");
            let listener = tokio::net::TcpListener::bind(settings.bind)
                .await
                .with_context(|| format!("binding {}", settings.bind))?;
            omniops_server::launch_with_listener(settings, listener, shutdown_signal()).await
        }
        Command::Keys { command, storage } => {
            keys(command, settings(cli.config.as_ref(), None, &storage)?).await
        }
        Command::Bench(args) => bench::run(args).await,
        Command::Migrate(args) => {
            let settings = settings(cli.config.as_ref(), None, &args.storage)?;
            data::migrate(args, settings).await
        }
        Command::Backup(args) => {
            let settings = settings(cli.config.as_ref(), None, &args.storage)?;
            data::backup(args, settings).await
        }
        Command::Restore(args) => {
            let settings = settings(cli.config.as_ref(), None, &args.storage)?;
            data::restore(args, settings).await
        }
        Command::Import(args) => {
            let (poll, overlap) = (args.poll_seconds, args.overlap_seconds);
            let settings = settings_with(cli.config.as_ref(), None, &args.storage, |l| {
                l.import_poll_seconds = poll;
                l.import_overlap_seconds = overlap;
            })?;
            data::import(args, settings, shutdown_signal()).await
        }
        Command::Prices {
            command: PricesCommand::Import(args),
        } => {
            let settings = settings(cli.config.as_ref(), None, &args.storage)?;
            import_prices(args, settings).await
        }
        Command::Export(args) => {
            let settings = settings(cli.config.as_ref(), None, &args.storage)?;
            let params: std::collections::HashMap<String, String> = [
                ("format", Some(args.format)),
                ("days", args.days),
                ("from", args.from),
                ("to", args.to),
                ("domain", args.domain),
                ("model", args.model),
                ("status", args.status),
            ]
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k.to_string(), v)))
            .collect();
            let mut out: Box<dyn std::io::Write + Send> = match &args.output {
                Some(path) => Box::new(std::io::BufWriter::new(
                    std::fs::File::create(path)
                        .with_context(|| format!("creating {}", path.display()))?,
                )),
                None => Box::new(std::io::BufWriter::new(std::io::stdout())),
            };
            omniops_server::export_to(settings, &args.dataset, params, &mut *out).await?;
            Ok(())
        }
    }
}
