//! `omniops import`: the spec's own tables on PostgreSQL, read into Omniops (README:
//! Importing). Each table is read in pages ordered by (time, id); each page's rows become
//! ingest events applied as one batch, and the table's checkpoint — with its counts and
//! the cost audit — is saved after the batch committed, so an interrupted import resumes
//! there. Events are idempotent, so a page applied twice (a crash between its commit and
//! its checkpoint) changes nothing. With `follow`, the tables are polled again and again.

mod audit;
mod mapping;
mod prepare;
mod sink;
mod source;
mod table;

pub use audit::CostAudit;
pub use sink::Sink;
use source::{Checkpoint, Found, Source, TableSpec};

use omniops_core::clock::Micros;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The tables in the order they are read: conversations before their messages.
const TABLES: [&TableSpec; 6] = [
    &source::TELEMETRY,
    &source::CONVERSATIONS,
    &source::MESSAGES,
    &source::EXTRACTIONS,
    &source::PAGES,
    &source::CARTS,
];

/// Unmapped rows listed per table; all are counted.
pub(crate) const LISTED: usize = 100;

/// The start of `--since`'s default: the year 1.
pub(crate) const EVER: Micros = -62_135_596_800_000_000;

/// How often a follow reads the tables without a time column again.
const TIMELESS_EVERY: Duration = Duration::from_secs(60);

#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// postgres://… of the assistant's own database.
    pub from: String,
    pub follow: bool,
    /// Only rows from this time on (their table's time column).
    pub since: Option<Micros>,
    /// The domain of rows that name none.
    pub default_domain: Option<String>,
    pub poll: Duration,
    /// How far back each pass reads again, for rows committed after their neighbours.
    pub overlap: Duration,
    /// Rows read and applied at once.
    pub page_rows: i64,
    /// The start of the installation's raw retention: older sessions keep only rollups.
    pub raw_since: Micros,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions {
            from: String::new(),
            follow: false,
            since: None,
            default_domain: None,
            poll: Duration::from_secs(5),
            overlap: Duration::from_secs(60),
            page_rows: 10_000,
            raw_since: EVER,
        }
    }
}

/// Where a table's import stands, saved after every page (in the installation's settings,
/// or the state file beside an import into a server).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TableState {
    pub checkpoint: Checkpoint,
    /// The (time, id) of rows read within the overlap window before the checkpoint: read
    /// again, they are skipped.
    #[serde(default)]
    pub recent: Vec<(i64, String)>,
    /// Sessions that started before raw retention: only their rollups stay.
    #[serde(default)]
    pub before_retention: i64,
    pub read: i64,
    pub imported: i64,
    pub unmapped: i64,
    /// Search entries in sessions that could not be read (no query or result count).
    pub unreadable_searches: i64,
    /// The first unmapped rows: (id, reason).
    pub listed: Vec<(String, String)>,
    pub audit: CostAudit,
}

/// A progress line: rows done of the table's total, with rate and time left.
#[derive(Debug, Clone)]
pub struct Progress {
    pub table: &'static str,
    pub done: i64,
    pub total: i64,
    pub rows_per_second: f64,
    pub eta: Option<Duration>,
}

/// Runs the import; returns the report (README: Importing). `progress` hears of each
/// page; `stop` ends a `follow` (or a long import) after the page in hand.
pub async fn run(
    sink: &Sink,
    options: &ImportOptions,
    progress: &mut (dyn FnMut(&Progress) + Send),
    stop: &CancellationToken,
) -> anyhow::Result<Value> {
    let source = Arc::new(Source::connect(&options.from).await?);
    // Every table is checked before anything is written.
    let mut tables = Vec::new();
    // A table the spec does not document (carts) that cannot be mapped is reported and left.
    let mut skipped = Vec::new();
    for spec in TABLES {
        match source.check(spec).await {
            Ok(Some(found)) => tables.push(Arc::new(found)),
            Ok(None) => {}
            Err(e) if !spec.required => {
                skipped.push(json!({"table": spec.name, "reason": format!("{e:#}")}))
            }
            Err(e) => return Err(e),
        }
    }
    let embeddings = source
        .check(&source::EMBEDDINGS)
        .await?
        .map(Arc::new)
        .ok_or_else(|| anyhow::anyhow!("page_embeddings is required"))?;
    let mut states = HashMap::new();
    let mut first = true;
    let mut timeless_read_at: Option<std::time::Instant> = None;
    loop {
        // Tables without a time column are read whole, at most once a minute when following.
        let timeless_due = timeless_read_at.is_none_or(|t| t.elapsed() >= TIMELESS_EVERY);
        if timeless_due {
            timeless_read_at = Some(std::time::Instant::now());
        }
        for found in &tables {
            if stop.is_cancelled() {
                break;
            }
            if found.spec.time.is_none() && !timeless_due {
                continue;
            }
            let table = table::Table {
                sink,
                source: &source,
                found: found.clone(),
                embeddings: embeddings.clone(),
                options,
            };
            let state = table.import(first, progress, stop).await?;
            states.insert(found.spec.name, state);
        }
        first = false;
        if !options.follow {
            break;
        }
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tokio::time::sleep(options.poll) => {}
        }
    }
    source.pool.close().await;
    let mut report = report(&source.name, &tables, &states);
    report["into"] = json!(sink.name());
    report["skippedTables"] = json!(skipped);
    Ok(report)
}

fn report(source: &str, tables: &[Arc<Found>], states: &HashMap<&str, TableState>) -> Value {
    let list: Vec<Value> = tables
        .iter()
        .filter_map(|found| {
            let name = found.spec.name;
            let state = states.get(name)?;
            let mut line = json!({
                "table": name,
                "read": state.read,
                "imported": state.imported,
                "unmapped": state.unmapped,
                "unmappedRows": state.listed.iter()
                    .map(|(id, reason)| json!({"id": id, "reason": reason}))
                    .collect::<Vec<_>>(),
            });
            if name == source::TELEMETRY.name {
                line["unreadableSearches"] = json!(state.unreadable_searches);
                line["beforeRetention"] = json!(state.before_retention);
            }
            Some(line)
        })
        .collect();
    let audit = states
        .get(source::TELEMETRY.name)
        .map_or_else(|| CostAudit::default().report(), |s| s.audit.report());
    json!({"source": source, "tables": list, "costAudit": audit})
}
