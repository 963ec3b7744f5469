//! `omniops import`: the spec's own tables on PostgreSQL, read into Omniops (README:
//! Importing). Each table is read in pages ordered by (time, id); each page's rows become
//! ingest events applied as one batch, and the table's checkpoint — with its counts and
//! the cost audit — is saved after the batch committed, so an interrupted import resumes
//! there. Events are idempotent, so a page applied twice (a crash between its commit and
//! its checkpoint) changes nothing. With `follow`, the tables are polled again and again.

mod audit;
mod mapping;
mod source;

pub use audit::CostAudit;
use mapping::PREVIEWS_PER_PAGE;
use source::{Checkpoint, Found, Source, TableSpec};

use omniops_core::clock::Micros;
use omniops_core::events::{parse, Event};
use omniops_core::pricing::PriceTable;
use omniops_store::Store;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sqlx::postgres::PgRow;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
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
const LISTED: usize = 100;

/// Rows a follow poll leaves for the next one when newer than this: a row committed late
/// with an earlier time is then still read.
const SETTLE_MS: i64 = 1_000;

/// The start of `--since`'s default: the year 1.
const EVER: Micros = -62_135_596_800_000_000;

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
    /// Rows read and applied at once.
    pub page_rows: i64,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions {
            from: String::new(),
            follow: false,
            since: None,
            default_domain: None,
            poll: Duration::from_secs(5),
            page_rows: 10_000,
        }
    }
}

/// Where a table's import stands, kept in the installation's settings after every page.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TableState {
    pub checkpoint: Checkpoint,
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
    store: &Store,
    options: &ImportOptions,
    progress: &mut (dyn FnMut(&Progress) + Send),
    stop: &CancellationToken,
) -> anyhow::Result<Value> {
    let source = Arc::new(Source::connect(&options.from).await?);
    // Every table is checked before anything is written.
    let mut tables = Vec::new();
    for spec in TABLES {
        if let Some(found) = source.check(spec).await? {
            tables.push(Arc::new(found));
        }
    }
    let embeddings = source
        .check(&source::EMBEDDINGS)
        .await?
        .map(Arc::new)
        .ok_or_else(|| anyhow::anyhow!("page_embeddings is required"))?;
    let mut states = HashMap::new();
    let mut first = true;
    loop {
        for found in &tables {
            if stop.is_cancelled() {
                break;
            }
            let table = Table {
                store,
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
    Ok(report(&source.name, &tables, &states))
}

fn report(source: &str, tables: &[Arc<Found>], states: &HashMap<&str, TableState>) -> Value {
    let mut audit = CostAudit::default();
    let list: Vec<Value> = tables
        .iter()
        .filter_map(|found| {
            let name = found.spec.name;
            let state = states.get(name)?;
            if name == source::TELEMETRY.name {
                audit = state.audit.clone();
            }
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
            }
            Some(line)
        })
        .collect();
    json!({"source": source, "tables": list, "costAudit": audit.report()})
}

/// One table of one pass.
struct Table<'a> {
    store: &'a Store,
    source: &'a Arc<Source>,
    found: Arc<Found>,
    embeddings: Arc<Found>,
    options: &'a ImportOptions,
}

/// A page read and mapped ahead of the writes: its events, each with the row it came
/// from, the rows that could not be mapped, and the checkpoint after it.
struct Prepared {
    rows: i64,
    events: Vec<Event>,
    origins: Vec<usize>,
    failures: HashMap<usize, String>,
    /// Each row's id, to list the ones not imported.
    ids: Vec<String>,
    /// Sessions: (row, model, stored cost, Omniops' cost).
    costs: Vec<(usize, String, Option<String>, Option<i64>)>,
    unreadable_searches: i64,
    last: Checkpoint,
}

impl Table<'_> {
    fn key(&self) -> String {
        format!("import:{}:{}", self.source.name, self.found.spec.name)
    }

    async fn import(
        &self,
        first: bool,
        progress: &mut (dyn FnMut(&Progress) + Send),
        stop: &CancellationToken,
    ) -> anyhow::Result<TableState> {
        let mut state: TableState = match self.store.setting(&self.key()).await? {
            Some(text) => serde_json::from_str(&text).unwrap_or_default(),
            None => TableState::default(),
        };
        let since = self.options.since.unwrap_or(EVER);
        let settle = self.options.follow.then_some(SETTLE_MS);
        // The first pass shows the whole table's progress; a follow poll only what it found.
        let total = match first {
            true => source::remaining(self.source, &self.found, &state.checkpoint, since).await?,
            false => 0,
        };
        let started = Instant::now();
        let mut done = 0;
        let prices = self.store.price_table().await;
        let mut pages = self.read_ahead(state.checkpoint.clone(), since, settle, prices);
        while let Some(page) = pages.recv().await {
            let mut page = page?;
            let rows = page.rows;
            self.apply(&mut page, &mut state).await?;
            state.checkpoint = page.last;
            state.read += rows;
            self.store
                .put_setting(&self.key(), &serde_json::to_string(&state)?)
                .await?;
            done += rows;
            let elapsed = started.elapsed().as_secs_f64().max(1e-3);
            let rate = done as f64 / elapsed;
            let total = total.max(done);
            progress(&Progress {
                table: self.found.spec.name,
                done,
                total,
                rows_per_second: rate,
                eta: (rate > 0.0).then(|| Duration::from_secs_f64((total - done) as f64 / rate)),
            });
            if stop.is_cancelled() {
                break;
            }
        }
        Ok(state)
    }

    /// Reads and maps pages on their own task, ahead of the writes.
    fn read_ahead(
        &self,
        mut after: Checkpoint,
        since: Micros,
        settle: Option<i64>,
        prices: Arc<PriceTable>,
    ) -> tokio::sync::mpsc::Receiver<anyhow::Result<Prepared>> {
        let (sender, receiver) = tokio::sync::mpsc::channel(2);
        let (source, found, embeddings) = (
            self.source.clone(),
            self.found.clone(),
            self.embeddings.clone(),
        );
        let limit = self.options.page_rows;
        let default_domain = self.options.default_domain.clone();
        tokio::spawn(async move {
            loop {
                let page = read_page(&source, &found, &embeddings, &after, since, limit, settle);
                let page = page.await.map(|page| {
                    let now = chrono::Utc::now().timestamp_micros();
                    prepare(
                        page,
                        found.spec.name,
                        default_domain.as_deref(),
                        &prices,
                        now,
                    )
                });
                let full = page.as_ref().is_ok_and(|p| p.rows == limit);
                if let Ok(p) = &page {
                    if p.rows == 0 {
                        return;
                    }
                    after = p.last.clone();
                }
                let failed = page.is_err();
                if sender.send(page).await.is_err() || failed || !full {
                    return;
                }
            }
        });
        receiver
    }

    /// Applies a page's events as one batch; counts what was imported and what could not
    /// be, and audits the imported sessions' stored costs.
    async fn apply(&self, page: &mut Prepared, state: &mut TableState) -> anyhow::Result<()> {
        let now = chrono::Utc::now().timestamp_micros();
        let outcome = self
            .store
            .apply_batch(std::slice::from_ref(&page.events), now)
            .await?;
        for (index, error) in outcome.rejections.into_iter().flatten() {
            if let Some(&row) = page.origins.get(index) {
                page.failures
                    .entry(row)
                    .or_insert_with(|| error.to_string());
            }
        }
        for (row, model, stored, cost) in &page.costs {
            if !page.failures.contains_key(row) {
                state.audit.record(model, stored.as_deref(), *cost);
            }
        }
        state.unreadable_searches += page.unreadable_searches;
        state.unmapped += page.failures.len() as i64;
        state.imported += page.rows - page.failures.len() as i64;
        let mut failed: Vec<(&usize, &String)> = page.failures.iter().collect();
        failed.sort();
        for (&row, reason) in failed {
            if state.listed.len() >= LISTED {
                break;
            }
            let id = page.ids.get(row).cloned().unwrap_or_default();
            state.listed.push((id, reason.clone()));
        }
        Ok(())
    }
}

/// A page's rows as events (README: Importing), with what could not be mapped; sessions
/// priced as `Session::reprice` prices one without calls (its totals at the base rates)
/// for the cost audit.
fn prepare(
    page: Page,
    table: &str,
    default_domain: Option<&str>,
    prices: &PriceTable,
    now: Micros,
) -> Prepared {
    let mut prepared = Prepared {
        rows: page.rows.len() as i64,
        events: Vec::with_capacity(page.rows.len()),
        origins: Vec::with_capacity(page.rows.len()),
        failures: HashMap::new(),
        ids: Vec::with_capacity(page.rows.len()),
        costs: Vec::new(),
        unreadable_searches: 0,
        last: page.last,
    };
    for (i, row) in page.rows.iter().enumerate() {
        prepared
            .ids
            .push(mapping::text(row, "id").unwrap_or_default());
        let mapped: Result<Vec<Value>, String> = match table {
            "chat_telemetry" => {
                let (event, unreadable) = mapping::session(row, default_domain);
                prepared.unreadable_searches += unreadable;
                event.map(|e| vec![e])
            }
            "conversations" => mapping::conversation(row, default_domain).map(|e| vec![e]),
            "messages" => mapping::message(row).map(|e| vec![e]),
            "structured_extractions" => mapping::extractions(row, now),
            "scraped_pages" => {
                let id = mapping::text(row, "id").unwrap_or_default();
                mapping::page(row, page.chunks.get(&id)).map(|e| vec![e])
            }
            _ => mapping::cart(row).map(|e| vec![e]),
        };
        let list = match mapped {
            Ok(list) => list,
            Err(reason) => {
                prepared.failures.insert(i, reason);
                continue;
            }
        };
        for value in list {
            let event = match parse(&value.to_string(), now) {
                Ok(event) => event,
                Err(e) => {
                    prepared.failures.entry(i).or_insert_with(|| e.to_string());
                    continue;
                }
            };
            if let Event::Session(e) = &event {
                if let omniops_core::events::EventKind::Backfill(b) = &e.kind {
                    let cost = prices
                        .lookup(&b.model, b.start_time)
                        .map(|entry| entry.base_cost(&b.usage));
                    let stored = mapping::text(row, "cost_usd");
                    prepared.costs.push((i, b.model.clone(), stored, cost));
                }
            }
            prepared.events.push(event);
            prepared.origins.push(i);
        }
    }
    prepared
}

/// A page as read: its rows, the chunks of its pages (scraped_pages only), and the
/// checkpoint after it.
struct Page {
    rows: Vec<PgRow>,
    chunks: HashMap<String, (i64, Vec<String>)>,
    last: Checkpoint,
}

async fn read_page(
    source: &Source,
    found: &Found,
    embeddings: &Found,
    after: &Checkpoint,
    since: Micros,
    limit: i64,
    settle: Option<i64>,
) -> anyhow::Result<Page> {
    let rows = source::page(source, found, after, since, limit, settle).await?;
    let last = match rows.last() {
        Some(row) => Checkpoint {
            time: found.spec.time.and_then(|t| mapping::time(row, t)),
            id: mapping::text(row, "id"),
        },
        None => after.clone(),
    };
    let chunks = if found.spec.name == source::PAGES.name && !rows.is_empty() {
        let ids: Vec<String> = rows.iter().filter_map(|r| mapping::text(r, "id")).collect();
        source::chunks(source, embeddings, &ids, PREVIEWS_PER_PAGE).await?
    } else {
        HashMap::new()
    };
    Ok(Page { rows, chunks, last })
}
