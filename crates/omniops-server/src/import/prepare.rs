//! Reading a page from the source and turning its rows into the events its sink takes,
//! ahead of the writes.

use super::mapping::{self, PREVIEWS_PER_PAGE};
use super::sink::Batch;
use super::source::{self, Checkpoint, Found, Source};
use omniops_core::clock::Micros;
use omniops_core::events::{parse, Event, EventKind};
use omniops_core::pricing::PriceTable;
use serde_json::Value;
use sqlx::postgres::PgRow;
use std::collections::HashMap;

/// A page read and mapped: its events, each with the row it came from, the rows that
/// could not be mapped, and the checkpoint after it.
pub struct Prepared {
    pub rows: i64,
    pub batch: Batch,
    pub origins: Vec<usize>,
    pub failures: HashMap<usize, String>,
    /// Each row's id, to list the ones not imported.
    pub ids: Vec<String>,
    /// Each row's (time, id), for the overlap window.
    pub stamps: Vec<(i64, String)>,
    pub costs: Vec<SessionCost>,
    pub unreadable_searches: i64,
    pub last: Checkpoint,
}

/// A session's stored cost beside Omniops' (`None`: unpriced), for the audit.
pub struct SessionCost {
    pub row: usize,
    pub model: String,
    pub stored: Option<String>,
    pub omniops: Option<i64>,
    /// It started before the installation's raw retention: only its rollups stay.
    pub before_retention: bool,
}

/// What mapping a page needs besides its rows.
pub struct Context {
    pub table: &'static str,
    /// The table's time column, if it has one.
    pub time: Option<&'static str>,
    pub default_domain: Option<String>,
    pub prices: std::sync::Arc<PriceTable>,
    pub raw_since: Micros,
    pub as_text: bool,
}

/// A page as read: its rows, the chunks of its pages (scraped_pages only), and the
/// checkpoint after it.
pub struct Page {
    pub rows: Vec<PgRow>,
    pub chunks: HashMap<String, (i64, Vec<String>)>,
    pub last: Checkpoint,
}

pub async fn read_page(
    source: &Source,
    found: &Found,
    embeddings: &Found,
    rows: Vec<PgRow>,
    after: &Checkpoint,
) -> anyhow::Result<Page> {
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

fn map_row(row: &PgRow, page: &Page, cx: &Context) -> (Result<Vec<Value>, String>, i64) {
    let default_domain = cx.default_domain.as_deref();
    let one = |v: Result<Value, String>| v.map(|e| vec![e]);
    match cx.table {
        "chat_telemetry" => {
            let (event, unreadable) = mapping::session(row, default_domain);
            (one(event), unreadable)
        }
        "conversations" => (one(mapping::conversation(row, default_domain)), 0),
        "messages" => (one(mapping::message(row)), 0),
        "structured_extractions" => (mapping::extractions(row), 0),
        "scraped_pages" => {
            let id = mapping::text(row, "id").unwrap_or_default();
            (one(mapping::page(row, page.chunks.get(&id))), 0)
        }
        _ => (one(mapping::cart(row)), 0),
    }
}

/// A page's rows as events (README: Importing), each checked as ingest checks it, with
/// what could not be mapped; sessions priced as `Session::reprice` prices one without
/// calls (its totals at the base rates) for the cost audit.
pub fn prepare(page: Page, cx: &Context, now: Micros) -> Prepared {
    let n = page.rows.len();
    let (mut events, mut texts) = (Vec::new(), Vec::new());
    let mut p = Prepared {
        rows: n as i64,
        batch: Batch::Texts(Vec::new()),
        origins: Vec::with_capacity(n),
        failures: HashMap::new(),
        ids: Vec::with_capacity(n),
        stamps: Vec::new(),
        costs: Vec::new(),
        unreadable_searches: 0,
        last: page.last.clone(),
    };
    for (i, row) in page.rows.iter().enumerate() {
        let id = mapping::text(row, "id").unwrap_or_default();
        if let Some(time) = cx.time.and_then(|t| mapping::time(row, t)) {
            p.stamps.push((time, id.clone()));
        }
        p.ids.push(id);
        let (mapped, unreadable) = map_row(row, &page, cx);
        p.unreadable_searches += unreadable;
        let list = match mapped {
            Ok(list) => list,
            Err(reason) => {
                p.failures.insert(i, reason);
                continue;
            }
        };
        for value in list {
            let text = value.to_string();
            let event = match parse(&text, now) {
                Ok(event) => event,
                Err(e) => {
                    p.failures.entry(i).or_insert_with(|| e.to_string());
                    continue;
                }
            };
            if let Event::Session(e) = &event {
                if let EventKind::Backfill(b) = &e.kind {
                    p.costs.push(SessionCost {
                        row: i,
                        model: b.model.clone(),
                        stored: mapping::text(row, "cost_usd"),
                        omniops: cx
                            .prices
                            .lookup(&b.model, b.start_time)
                            .map(|entry| entry.base_cost(&b.usage)),
                        before_retention: b.start_time < cx.raw_since,
                    });
                }
            }
            match cx.as_text {
                true => texts.push(text),
                false => events.push(event),
            }
            p.origins.push(i);
        }
    }
    p.batch = match cx.as_text {
        true => Batch::Texts(texts),
        false => Batch::Events(events),
    };
    p
}
