//! What the command line does besides serving: work on an installation, directly or
//! through a running server's API.

use crate::queries::prices::{self, ImportOptions};
use crate::settings::Settings;
use omniops_store::{DataDirLock, Store};
use serde_json::Value;

/// A running server to send a command to, with an admin key when keys are in use.
#[derive(Debug, Clone)]
pub struct Remote {
    pub url: String,
    pub key: Option<String>,
}

/// On SQLite, the data directory's lock; `busy` is the error when another process (a
/// running server) holds it. Nothing on PostgreSQL, which several processes share.
pub fn lock_data_dir(settings: &Settings, busy: &str) -> anyhow::Result<Option<DataDirLock>> {
    if settings.database_url.is_some() {
        return Ok(None);
    }
    let lock = DataDirLock::acquire(&settings.data_dir)?;
    lock.map(Some)
        .ok_or_else(|| anyhow::anyhow!("{busy} (the database in {})", settings.data_dir.display()))
}

/// Opens the configured store for a command that writes to it directly, refusing on
/// SQLite while a server uses it.
pub async fn open_for_writing(
    settings: &Settings,
    what: &str,
) -> anyhow::Result<(Store, Option<DataDirLock>)> {
    let busy = format!("a server is using the database: {what} through it instead (--url and an admin --key), or stop it");
    let lock = lock_data_dir(settings, &busy)?;
    let store = settings.open_store().await?;
    Ok((store, lock))
}

/// `omniops prices import`: the report as the API gives it.
pub async fn import_prices(
    settings: &Settings,
    file: &[u8],
    options: &ImportOptions,
    remote: Option<&Remote>,
) -> anyhow::Result<Value> {
    if let Some(remote) = remote {
        return import_remote(remote, file, options).await;
    }
    let catalogue: Value =
        serde_json::from_slice(file).map_err(|e| anyhow::anyhow!("the file is not JSON: {e}"))?;
    let (store, _lock) = open_for_writing(settings, "import").await?;
    let now = chrono::Utc::now().timestamp_micros();
    let raw_since = omniops_core::clock::floor_hour(
        now - i64::from(settings.retention_days) * omniops_core::clock::MICROS_PER_DAY,
    );
    let report = prices::import(&store, &catalogue, options, raw_since, now).await;
    // No server runs on this database: the repricing is done here, to its end.
    let mut report = serde_json::to_value(report?)?;
    if !report["repricing"].is_null() {
        let done = store.run_reprice_jobs(now).await?;
        if let Some(job) = done.last() {
            report["repricing"] = serde_json::to_value(job)?;
        }
    }
    store.close().await;
    Ok(report)
}

async fn import_remote(
    remote: &Remote,
    file: &[u8],
    options: &ImportOptions,
) -> anyhow::Result<Value> {
    let url = format!("{}/api/v1/prices/import", remote.url.trim_end_matches('/'));
    let mut request = reqwest::Client::new()
        .post(&url)
        .query(&[
            ("dryRun", options.dry_run.to_string()),
            ("recompute", options.recompute.to_string()),
            ("effectiveFrom", options.effective_from.to_string()),
            ("source", options.source.clone()),
        ])
        .header("content-type", "application/json")
        .body(file.to_vec());
    if let Some(key) = &remote.key {
        request = request.bearer_auth(key);
    }
    let response = request
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("{url}: {e}"))?;
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        anyhow::bail!(
            "{url} answered {status}: {}",
            body["error"].as_str().unwrap_or("no reason given")
        );
    }
    Ok(body)
}

/// `omniops import`: the spec's own tables into a running server (`to`, through its
/// ingest API, with checkpoints in `state_file`) or into this installation directly
/// (README: Importing). Directly, SQLite refuses while a server uses the database.
pub async fn import_tables(
    settings: &Settings,
    to: Option<&Remote>,
    state_file: &std::path::Path,
    options: &crate::import::ImportOptions,
    progress: &mut (dyn FnMut(&crate::import::Progress) + Send),
    stop: &tokio_util::sync::CancellationToken,
) -> anyhow::Result<Value> {
    let mut options = options.clone();
    options.raw_since = omniops_core::clock::floor_hour(
        chrono::Utc::now().timestamp_micros()
            - i64::from(settings.retention_days) * omniops_core::clock::MICROS_PER_DAY,
    );
    if let Some(remote) = to {
        let sink = crate::import::Sink::server(&remote.url, remote.key.clone(), state_file.into());
        return crate::import::run(&sink, &options, progress, stop).await;
    }
    let busy = "a server is using the database: import through it (--to http://… and an \
                ingest --key), or stop it";
    let _lock = lock_data_dir(settings, busy)?;
    let store = settings.open_store().await?;
    let sink = crate::import::Sink::Store(store.clone());
    let report = crate::import::run(&sink, &options, progress, stop).await;
    store.close().await;
    report
}

const PG_BACKUPS: &str = "Omniops is on PostgreSQL: back it up with pg_dump (README: Backups)";

/// `omniops backup`: a consistent copy of the embedded database, taken while a server may
/// keep writing to it (README: Backups).
pub async fn backup(
    settings: &Settings,
    output: &std::path::Path,
) -> anyhow::Result<omniops_store::backup::BackupInfo> {
    if settings.database_url.is_some() {
        anyhow::bail!(PG_BACKUPS);
    }
    omniops_store::backup::backup(&settings.data_dir, output).await
}

/// `omniops restore`: checks `file`, then puts it in place of the embedded database, which
/// is kept beside it; the restored database is brought to this version's schema.
pub async fn restore(settings: &Settings, file: &std::path::Path) -> anyhow::Result<Value> {
    if settings.database_url.is_some() {
        anyhow::bail!(PG_BACKUPS);
    }
    let _lock = lock_data_dir(
        settings,
        "a server is using the database: stop it before restoring",
    )?;
    let now = chrono::Utc::now().timestamp();
    let (info, kept) = omniops_store::backup::restore(file, &settings.data_dir, now).await?;
    let store = settings.open_store().await?;
    store.close().await;
    Ok(serde_json::json!({"restored": info, "kept": kept}))
}

/// `omniops migrate`: copies the installation `from` into the empty one `to` (the other
/// engine, usually), then compares them (README: Moving to PostgreSQL). A SQLite side must
/// not be in use by a server. Fails, naming what differs, unless both sides agree.
pub async fn migrate(
    from: &Settings,
    to: &Settings,
    now: i64,
    progress: &mut (dyn FnMut(&str, i64) + Send),
) -> anyhow::Result<omniops_store::migrate::Migration> {
    let busy = "a server is using the database: stop it before migrating";
    let _from = lock_data_dir(from, busy)?;
    let _to = lock_data_dir(to, busy)?;
    let source = from.open_store().await?;
    let target = to.open_store().await?;
    let copied = omniops_store::migrate::copy(&source, &target, progress).await;
    let report = match copied {
        Ok(()) => omniops_store::migrate::verify(&source, &target, now).await,
        Err(e) => Err(e),
    };
    source.close().await;
    target.close().await;
    let report = report?;
    if !report.verified() {
        let tables: Vec<String> = report
            .tables
            .iter()
            .filter(|t| t.source != t.target)
            .map(|t| format!("{} ({} rows, {} copied)", t.table, t.source, t.target))
            .collect();
        let windows: Vec<String> = report
            .windows
            .iter()
            .filter(|w| !w.equal)
            .map(|w| format!("the last {} days", w.days))
            .collect();
        anyhow::bail!(
            "the copy differs from its source: {}",
            [tables, windows].concat().join(", ")
        );
    }
    Ok(report)
}
