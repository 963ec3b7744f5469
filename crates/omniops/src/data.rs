//! Data in and out: `omniops import` (README: Importing), `migrate` (Moving to PostgreSQL),
//! `backup` and `restore` (Backups).

use super::StorageArgs;
use clap::Args;
use omniops_server::import::{ImportOptions, Progress};
use omniops_server::Settings;
use serde_json::Value;
use std::future::Future;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

#[derive(Args)]
pub struct ImportArgs {
    /// The assistant's PostgreSQL holding the spec's tables (postgres://user:password@host/db).
    #[arg(long, env = "OMNIOPS_IMPORT_FROM", hide_env_values = true)]
    from: String,
    /// Keep polling for new rows until stopped (Ctrl-C).
    #[arg(long)]
    follow: bool,
    /// Only rows from this day (YYYY-MM-DD, UTC) or time (RFC 3339) on.
    #[arg(long)]
    since: Option<String>,
    /// The domain of sessions and conversations that name none.
    #[arg(long)]
    default_domain: Option<String>,
    /// Seconds between polls with --follow (default 5).
    #[arg(long, env = "OMNIOPS_IMPORT_POLL_SECONDS")]
    pub poll_seconds: Option<u32>,
    /// Seconds each pass reads again before its checkpoint, for rows committed late
    /// (default 60).
    #[arg(long, env = "OMNIOPS_IMPORT_OVERLAP_SECONDS")]
    pub overlap_seconds: Option<u32>,
    /// The running server to import through (its ingest API). The default unless
    /// --data-dir or --database-url names an installation to write directly.
    #[arg(long, env = "OMNIOPS_URL", default_value = "http://127.0.0.1:8080")]
    to: String,
    /// An ingest (or admin) API key for --to, when the server uses keys.
    #[arg(long, env = "OMNIOPS_KEY", hide_env_values = true)]
    key: Option<String>,
    /// Where an import through a server keeps its checkpoints.
    #[arg(long, default_value = "omniops-import-state.json")]
    state_file: std::path::PathBuf,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    pub storage: StorageArgs,
}

fn since(text: &str) -> anyhow::Result<i64> {
    if let Some(t) = omniops_core::clock::parse_rfc3339(text) {
        return Ok(t);
    }
    let day = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map_err(|_| anyhow::anyhow!("--since must be YYYY-MM-DD or an RFC 3339 time"))?;
    Ok(day
        .and_hms_opt(0, 0, 0)
        .map_or(0, |t| t.and_utc().timestamp_micros()))
}

/// Prints a table's progress at most once a second, and when it is done.
fn progress_printer() -> impl FnMut(&Progress) + Send {
    let mut last = Instant::now();
    move |p: &Progress| {
        if p.done < p.total && last.elapsed() < Duration::from_secs(1) {
            return;
        }
        last = Instant::now();
        let eta = p
            .eta
            .filter(|_| p.done < p.total)
            .map(|e| format!(", {}s left", e.as_secs()))
            .unwrap_or_default();
        eprintln!(
            "{:<24} {:>10} / {:<10} rows  {:>9.0} rows/s{eta}",
            p.table, p.done, p.total, p.rows_per_second
        );
    }
}

pub async fn import(
    args: ImportArgs,
    settings: Settings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let options = ImportOptions {
        from: args.from,
        follow: args.follow,
        since: args.since.as_deref().map(since).transpose()?,
        default_domain: args.default_domain,
        poll: Duration::from_secs(u64::from(settings.import_poll_seconds)),
        overlap: Duration::from_secs(u64::from(settings.import_overlap_seconds)),
        ..ImportOptions::default()
    };
    // Direct writes only when an installation is named; else through the server.
    let direct = args.storage.data_dir.is_some() || args.storage.database_url.is_some();
    let remote = (!direct).then(|| omniops_server::commands::Remote {
        url: args.to.clone(),
        key: args.key.clone(),
    });
    let stop = CancellationToken::new();
    let on_signal = stop.clone();
    tokio::spawn(async move {
        shutdown.await;
        on_signal.cancel();
    });
    let mut progress = progress_printer();
    let report = omniops_server::commands::import_tables(
        &settings,
        remote.as_ref(),
        &args.state_file,
        &options,
        &mut progress,
        &stop,
    )
    .await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_report(&report);
    }
    Ok(())
}

fn print_report(report: &Value) {
    println!(
        "imported from {} into {}",
        report["source"].as_str().unwrap_or(""),
        report["into"].as_str().unwrap_or("")
    );
    for t in report["tables"].as_array().into_iter().flatten() {
        println!(
            "  {:<28} {:>10} read  {:>10} imported  {:>8} not mapped",
            t["table"].as_str().unwrap_or(""),
            t["read"],
            t["imported"],
            t["unmapped"]
        );
        for row in t["unmappedRows"].as_array().into_iter().flatten().take(10) {
            println!(
                "      {}: {}",
                row["id"].as_str().unwrap_or(""),
                row["reason"].as_str().unwrap_or("")
            );
        }
        if let Some(n) = t.get("unreadableSearches").filter(|n| *n != 0) {
            println!("      {n} search entries could not be read (no query or result count)");
        }
        if let Some(n) = t.get("beforeRetention").filter(|n| *n != 0) {
            println!("      {n} sessions are older than raw retention: only their rollups stay");
        }
    }
    for t in report["skippedTables"].as_array().into_iter().flatten() {
        println!(
            "  {:<28} not imported: {}",
            t["table"].as_str().unwrap_or(""),
            t["reason"].as_str().unwrap_or("")
        );
    }
    let audit = &report["costAudit"];
    println!(
        "cost audit: {} sessions, {} compared, {} stored costs differ from Omniops' prices; \
         stored ${}, Omniops ${}, difference ${}",
        audit["sessions"],
        audit["compared"],
        audit["differing"],
        audit["storedUsd"].as_str().unwrap_or(""),
        audit["omniopsUsd"].as_str().unwrap_or(""),
        audit["differenceUsd"].as_str().unwrap_or("")
    );
    for m in audit["models"].as_array().into_iter().flatten() {
        if m["differing"] == 0 && m["unpriced"] == 0 {
            continue;
        }
        println!(
            "  {:<32} {} of {} differ, difference ${}{}",
            m["model"].as_str().unwrap_or(""),
            m["differing"],
            m["compared"],
            m["differenceUsd"].as_str().unwrap_or(""),
            match m["unpriced"].as_i64() {
                Some(n) if n > 0 => format!("; {n} unpriced in Omniops"),
                _ => String::new(),
            }
        );
    }
}

#[derive(Args)]
pub struct BackupArgs {
    /// The backup file to write (never overwritten).
    #[arg(long, short)]
    output: std::path::PathBuf,
    #[command(flatten)]
    pub storage: StorageArgs,
}

#[derive(Args)]
pub struct RestoreArgs {
    /// A file written by `omniops backup`.
    file: std::path::PathBuf,
    #[command(flatten)]
    pub storage: StorageArgs,
}

pub async fn backup(args: BackupArgs, settings: Settings) -> anyhow::Result<()> {
    let info = omniops_server::commands::backup(&settings, &args.output).await?;
    println!(
        "backed up {} sessions ({} bytes, schema {}) to {}",
        info.sessions,
        info.bytes,
        info.schema_version,
        info.file.display()
    );
    Ok(())
}

pub async fn restore(args: RestoreArgs, settings: Settings) -> anyhow::Result<()> {
    let report = omniops_server::commands::restore(&settings, &args.file).await?;
    println!(
        "restored {} sessions from {} into {}",
        report["restored"]["sessions"],
        args.file.display(),
        settings.data_dir.display()
    );
    if let Some(kept) = report["kept"].as_str() {
        println!("the database it replaced is kept as {kept}");
    }
    Ok(())
}

#[derive(Args)]
pub struct MigrateArgs {
    /// The PostgreSQL to copy this installation into (postgres://user:password@host/db).
    #[arg(long, hide_env_values = true, conflicts_with = "to_data_dir")]
    to: Option<String>,
    /// The schema there (default omniops).
    #[arg(long)]
    to_schema: Option<String>,
    /// Or a directory for an embedded (SQLite) installation: the way back.
    #[arg(long)]
    to_data_dir: Option<std::path::PathBuf>,
    #[command(flatten)]
    pub storage: StorageArgs,
}

pub async fn migrate(args: MigrateArgs, from: Settings) -> anyhow::Result<()> {
    let mut to = Settings::default();
    match (&args.to, &args.to_data_dir) {
        (Some(url), None) => {
            to.database_url = Some(omniops_server::Secret::new(url.clone()));
            if let Some(schema) = &args.to_schema {
                to.postgres_schema = schema.clone();
            }
        }
        (None, Some(dir)) => to.data_dir = dir.clone(),
        _ => anyhow::bail!("give --to postgres://… or --to-data-dir DIR"),
    }
    let mut last = Instant::now();
    let mut progress = |table: &str, rows: i64| {
        if last.elapsed() >= Duration::from_secs(1) {
            last = Instant::now();
            eprintln!("{table:<28} {rows:>10} rows copied");
        }
    };
    let now = chrono::Utc::now().timestamp_micros();
    let report = omniops_server::commands::migrate(&from, &to, now, &mut progress).await?;
    println!("{:<28} {:>12} {:>12}", "table", "source", "copy");
    for t in &report.tables {
        println!("{:<28} {:>12} {:>12}", t.table, t.source, t.target);
    }
    for w in &report.windows {
        println!(
            "telemetry, last {:>3} days: {} requests, ${} — equal on both sides",
            w.days,
            w.requests,
            omniops_core::money::format_nanos(i128::from(w.cost_nanos), 6)
        );
    }
    if !report.skipped.is_empty() {
        println!(
            "only in one schema, not copied: {}",
            report.skipped.join(", ")
        );
    }
    println!("verified: every table and total is equal");
    Ok(())
}
