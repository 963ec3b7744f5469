// The query layer, written once against the alias `DB` and compiled for each engine by
// `include!` in `lib.rs` (modules `sqlite` and `postgres`). SQL here must mean the same on
// SQLite and PostgreSQL: integers are BIGINT, sums are cast back to BIGINT, JSON is text.

use crate::batch::{self, ContentDelta, FailedSearch, LiveCache, NewMessage, Plan, RollupDelta};
use omniops_core::analytics::{ConversationCounts, ConversationStats, MessageStats};
use omniops_core::conversation::Conversation;
use omniops_core::missing::ProductRequest;
use omniops_core::shop::{CurrencyTotal, ScrapedInputs, ShopInputs};
use omniops_core::events::{Event, ExtractionEvent, PageEvent, ScrapeJobEvent, ShopEvent, ShopKind};
use crate::{ApiKeyRecord, BatchOutcome, DomainConfig, RecomputeReport, UnpricedModel};
use omniops_core::clock::{floor_day, floor_hour, Micros, MICROS_PER_DAY};
use omniops_core::pricing::{PriceEntry, PriceTable};
use omniops_core::rollup::Counters;
use omniops_core::session::Session;
use omniops_core::telemetry::LiveSession;
use omniops_core::usage::TokenUsage;
use omniops_core::window::Window;
use sqlx::{Pool, QueryBuilder, Row, Transaction};
use std::collections::{HashMap, HashSet};

type Tx<'a> = Transaction<'a, DB>;

/// Rows per multi-row statement: 25 columns × 1,000 stays under both engines' bind limits.
const CHUNK: usize = 1_000;

const SESSION_COLUMNS: &str = "id, session_id, model, domain, conversation_id, start_time, \
    end_time, duration_ms, iterations, search_count, total_results, searches, input_tokens, \
    cached_input_tokens, cache_write_tokens, output_tokens, reasoning_tokens, cost_nanos, \
    success, error, logs, metadata, last_event_at, event_ids, created_at";

const COUNTER_COLUMNS: &str = "requests, successes, failures, unpriced, input_tokens, \
    cached_input_tokens, cache_write_tokens, output_tokens, reasoning_tokens, cost_nanos, \
    duration_ms, searches, iterations";

fn json_list(text: &str) -> Vec<serde_json::Value> {
    serde_json::from_str(text).unwrap_or_default()
}

fn session_from_row(row: &<DB as sqlx::Database>::Row) -> sqlx::Result<Session> {
    let searches: String = row.try_get("searches")?;
    let logs: String = row.try_get("logs")?;
    let metadata: Option<String> = row.try_get("metadata")?;
    let event_ids: String = row.try_get("event_ids")?;
    Ok(Session {
        id: row.try_get("id")?,
        session_id: row.try_get("session_id")?,
        model: row.try_get("model")?,
        domain: row.try_get("domain")?,
        conversation_id: row.try_get("conversation_id")?,
        start_time: row.try_get("start_time")?,
        end_time: row.try_get("end_time")?,
        iterations: row.try_get("iterations")?,
        search_count: row.try_get("search_count")?,
        total_results: row.try_get("total_results")?,
        searches: json_list(&searches),
        usage: TokenUsage {
            input: row.try_get("input_tokens")?,
            cached_input: row.try_get("cached_input_tokens")?,
            cache_write: row.try_get("cache_write_tokens")?,
            output: row.try_get("output_tokens")?,
            reasoning: row.try_get("reasoning_tokens")?,
        },
        cost_nanos: row.try_get("cost_nanos")?,
        success: row.try_get("success")?,
        error: row.try_get("error")?,
        logs: json_list(&logs),
        metadata: metadata.and_then(|m| serde_json::from_str(&m).ok()),
        last_event_at: row.try_get("last_event_at")?,
        event_ids: serde_json::from_str(&event_ids).unwrap_or_default(),
    })
}

fn counters_from_row(row: &<DB as sqlx::Database>::Row, offset: usize) -> sqlx::Result<Counters> {
    Ok(Counters {
        requests: row.try_get(offset)?,
        successes: row.try_get(offset + 1)?,
        failures: row.try_get(offset + 2)?,
        unpriced: row.try_get(offset + 3)?,
        input_tokens: row.try_get(offset + 4)?,
        cached_input_tokens: row.try_get(offset + 5)?,
        cache_write_tokens: row.try_get(offset + 6)?,
        output_tokens: row.try_get(offset + 7)?,
        reasoning_tokens: row.try_get(offset + 8)?,
        cost_nanos: row.try_get(offset + 9)?,
        duration_ms: row.try_get(offset + 10)?,
        searches: row.try_get(offset + 11)?,
        iterations: row.try_get(offset + 12)?,
    })
}

fn push_session(b: &mut sqlx::query_builder::Separated<'_, '_, DB, &'static str>, s: &Session, now: Micros) {
    let json = |v: &Vec<serde_json::Value>| serde_json::to_string(v).unwrap_or_else(|_| "[]".into());
    b.push_bind(s.id.clone())
        .push_bind(s.session_id.clone())
        .push_bind(s.model.clone())
        .push_bind(s.domain.clone())
        .push_bind(s.conversation_id.clone())
        .push_bind(s.start_time)
        .push_bind(s.end_time)
        .push_bind(s.duration_ms())
        .push_bind(s.iterations)
        .push_bind(s.search_count)
        .push_bind(s.total_results)
        .push_bind(json(&s.searches))
        .push_bind(s.usage.input)
        .push_bind(s.usage.cached_input)
        .push_bind(s.usage.cache_write)
        .push_bind(s.usage.output)
        .push_bind(s.usage.reasoning)
        .push_bind(s.cost_nanos)
        .push_bind(s.success)
        .push_bind(s.error.clone())
        .push_bind(json(&s.logs))
        .push_bind(s.metadata.as_ref().map(|m| m.to_string()))
        .push_bind(s.last_event_at)
        .push_bind(serde_json::to_string(&s.event_ids).unwrap_or_else(|_| "[]".into()))
        .push_bind(now);
}

/// Rows of `select` (ending in `… IN (`) for every id, a chunk of ids per statement.
async fn fetch_by_ids<T>(
    tx: &mut Tx<'_>,
    select: &str,
    ids: &[String],
    decode: fn(&<DB as sqlx::Database>::Row) -> sqlx::Result<T>,
) -> sqlx::Result<Vec<T>> {
    let mut found = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(CHUNK) {
        let mut q = QueryBuilder::<DB>::new(select);
        let mut list = q.separated(", ");
        for id in chunk {
            list.push_bind(id.clone());
        }
        q.push(")");
        for row in q.build().fetch_all(&mut **tx).await? {
            found.push(decode(&row)?);
        }
    }
    Ok(found)
}

async fn load_sessions(tx: &mut Tx<'_>, ids: &[String]) -> sqlx::Result<Vec<Session>> {
    let select = format!("SELECT {SESSION_COLUMNS} FROM chat_telemetry WHERE session_id IN (");
    fetch_by_ids(tx, &select, ids, session_from_row).await
}

async fn upsert_sessions(tx: &mut Tx<'_>, sessions: &[&Session], now: Micros) -> sqlx::Result<()> {
    for chunk in sessions.chunks(CHUNK) {
        let mut q = QueryBuilder::<DB>::new(format!("INSERT INTO chat_telemetry ({SESSION_COLUMNS}) "));
        q.push_values(chunk, |mut b, s| push_session(&mut b, s, now));
        q.push(
            " ON CONFLICT (session_id) DO UPDATE SET end_time = excluded.end_time, \
             duration_ms = excluded.duration_ms, iterations = excluded.iterations, \
             search_count = excluded.search_count, total_results = excluded.total_results, \
             searches = excluded.searches, input_tokens = excluded.input_tokens, \
             cached_input_tokens = excluded.cached_input_tokens, \
             cache_write_tokens = excluded.cache_write_tokens, output_tokens = excluded.output_tokens, \
             reasoning_tokens = excluded.reasoning_tokens, cost_nanos = excluded.cost_nanos, \
             success = excluded.success, error = excluded.error, logs = excluded.logs, \
             last_event_at = excluded.last_event_at, event_ids = excluded.event_ids",
        );
        q.build().execute(&mut **tx).await?;
    }
    Ok(())
}

/// Inserts finished sessions whose id is new; returns the ids actually inserted.
async fn insert_backfills(tx: &mut Tx<'_>, sessions: &[Session], now: Micros) -> sqlx::Result<HashSet<String>> {
    let mut inserted = HashSet::with_capacity(sessions.len());
    for chunk in sessions.chunks(CHUNK) {
        let mut q = QueryBuilder::<DB>::new(format!("INSERT INTO chat_telemetry ({SESSION_COLUMNS}) "));
        q.push_values(chunk, |mut b, s| push_session(&mut b, s, now));
        q.push(" ON CONFLICT (session_id) DO NOTHING RETURNING session_id");
        for row in q.build().fetch_all(&mut **tx).await? {
            inserted.insert(row.try_get::<String, _>(0)?);
        }
    }
    Ok(inserted)
}

async fn add_counters(
    tx: &mut Tx<'_>,
    table: &str,
    rows: &HashMap<(Micros, String, String), Counters>,
) -> sqlx::Result<()> {
    let rows: Vec<_> = rows.iter().collect();
    let updates = COUNTER_COLUMNS
        .split(", ")
        .map(|c| format!("{c} = {table}.{c} + excluded.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    for chunk in rows.chunks(CHUNK) {
        let mut q = QueryBuilder::<DB>::new(format!("INSERT INTO {table} (bucket, domain, model, {COUNTER_COLUMNS}) "));
        q.push_values(chunk, |mut b, ((bucket, domain, model), c)| {
            b.push_bind(*bucket)
                .push_bind(domain.clone())
                .push_bind(model.clone())
                .push_bind(c.requests)
                .push_bind(c.successes)
                .push_bind(c.failures)
                .push_bind(c.unpriced)
                .push_bind(c.input_tokens)
                .push_bind(c.cached_input_tokens)
                .push_bind(c.cache_write_tokens)
                .push_bind(c.output_tokens)
                .push_bind(c.reasoning_tokens)
                .push_bind(c.cost_nanos)
                .push_bind(c.duration_ms)
                .push_bind(c.searches)
                .push_bind(c.iterations);
        });
        q.push(format!(" ON CONFLICT (bucket, domain, model) DO UPDATE SET {updates}"));
        q.build().execute(&mut **tx).await?;
    }
    Ok(())
}

async fn add_rollups(tx: &mut Tx<'_>, delta: &RollupDelta) -> sqlx::Result<()> {
    add_counters(tx, "rollup_hourly", &delta.hourly).await?;
    add_counters(tx, "rollup_daily", &delta.daily).await?;
    Ok(())
}

/// Applies one batch of ingest requests in one transaction: raw rows, event ids and
/// rollups commit together or not at all.
pub async fn apply_batch(
    pool: &Pool<DB>,
    requests: &[Vec<Event>],
    prices: &PriceTable,
    now: Micros,
    cache: Option<&mut LiveCache>,
) -> sqlx::Result<BatchOutcome> {
    let mut tx = pool.begin().await?;
    let (ids, conversation_ids) = batch::ids_to_load(requests);
    let mut cache = cache;
    // Sessions taken from the cache go back only after a commit: on failure the store is the truth.
    let (mut loaded, missing) = match cache.as_deref_mut() {
        Some(cache) => cache.take(ids),
        None => (Vec::new(), ids),
    };
    loaded.extend(load_sessions(&mut tx, &missing).await?);
    let conversations = load_conversations(&mut tx, &conversation_ids).await?;
    let plan = batch::plan(requests, loaded, conversations, prices, || uuid::Uuid::now_v7().to_string());
    let content_delta = ContentDelta::of_plan(&plan);
    let Plan { sessions, backfills, ended, rejections, conversations, messages, mut failed_searches, extractions, pages, scrape_jobs, shop, .. } =
        plan;

    let dirty: Vec<&Session> = sessions.values().filter(|(_, d)| *d).map(|(s, _)| s).collect();
    upsert_sessions(&mut tx, &dirty, now).await?;
    let inserted = insert_backfills(&mut tx, &backfills, now).await?;
    let changed: Vec<&Conversation> = conversations.values().filter(|(_, d)| *d).map(|(c, _)| c).collect();
    upsert_conversations(&mut tx, &changed).await?;
    insert_messages(&mut tx, &messages).await?;
    for session in backfills.iter().filter(|s| inserted.contains(&s.session_id)) {
        failed_searches.extend(FailedSearch::from_backfill(session));
    }
    insert_failed_searches(&mut tx, &failed_searches).await?;
    upsert_extractions(&mut tx, &extractions).await?;
    upsert_pages(&mut tx, &pages).await?;
    upsert_scrape_jobs(&mut tx, &scrape_jobs).await?;
    upsert_shop(&mut tx, &shop).await?;

    let mut delta = RollupDelta::default();
    for id in &ended {
        if let Some((session, _)) = sessions.get(id) {
            delta.add(session);
        }
    }
    for session in backfills.iter().filter(|s| inserted.contains(&s.session_id)) {
        delta.add(session);
    }
    add_rollups(&mut tx, &delta).await?;
    add_content_rollups(&mut tx, &content_delta).await?;
    tx.commit().await?;

    let ended = ended.len();
    let backfilled = inserted.len();
    if let Some(cache) = cache {
        cache.keep(sessions.into_values().map(|(s, _)| s));
    }
    Ok(BatchOutcome { rejections, ended, backfilled })
}

const CONVERSATION_COLUMNS: &str = "id, domain, created_at, updated_at, metadata, first_user_message, \
    message_count, user_message_count, pending_count, pending_sum, last_user_answered, \
    last_user_negative, resolved, hits_es, hits_fr, hits_de, non_latin_letters, letters, language, message_ids";

fn conversation_from_row(row: &<DB as sqlx::Database>::Row) -> sqlx::Result<Conversation> {
    let metadata: Option<String> = row.try_get("metadata")?;
    let pending_sum: String = row.try_get("pending_sum")?;
    let message_ids: String = row.try_get("message_ids")?;
    Ok(Conversation {
        id: row.try_get("id")?,
        domain: row.try_get("domain")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        metadata: metadata.and_then(|m| serde_json::from_str(&m).ok()),
        first_user_message: row.try_get("first_user_message")?,
        message_count: row.try_get("message_count")?,
        user_message_count: row.try_get("user_message_count")?,
        pending_count: row.try_get("pending_count")?,
        pending_sum: pending_sum.parse().unwrap_or(0),
        last_user_answered: row.try_get("last_user_answered")?,
        last_user_negative: row.try_get("last_user_negative")?,
        language_hits: [row.try_get("hits_es")?, row.try_get("hits_fr")?, row.try_get("hits_de")?],
        non_latin_letters: row.try_get("non_latin_letters")?,
        letters: row.try_get("letters")?,
        message_ids: serde_json::from_str(&message_ids).unwrap_or_default(),
    })
}

async fn load_conversations(tx: &mut Tx<'_>, ids: &[String]) -> sqlx::Result<Vec<Conversation>> {
    let select = format!("SELECT {CONVERSATION_COLUMNS} FROM conversations WHERE id IN (");
    fetch_by_ids(tx, &select, ids, conversation_from_row).await
}

async fn upsert_conversations(tx: &mut Tx<'_>, conversations: &[&Conversation]) -> sqlx::Result<()> {
    for chunk in conversations.chunks(CHUNK) {
        let mut q = QueryBuilder::<DB>::new(format!("INSERT INTO conversations ({CONVERSATION_COLUMNS}) "));
        q.push_values(chunk, |mut b, c| {
            b.push_bind(c.id.clone())
                .push_bind(c.domain.clone())
                .push_bind(c.created_at)
                .push_bind(c.updated_at)
                .push_bind(c.metadata.as_ref().map(|m| m.to_string()))
                .push_bind(c.first_user_message.clone())
                .push_bind(c.message_count)
                .push_bind(c.user_message_count)
                .push_bind(c.pending_count)
                .push_bind(c.pending_sum.to_string())
                .push_bind(c.last_user_answered)
                .push_bind(c.last_user_negative)
                .push_bind(c.resolved())
                .push_bind(c.language_hits[0])
                .push_bind(c.language_hits[1])
                .push_bind(c.language_hits[2])
                .push_bind(c.non_latin_letters)
                .push_bind(c.letters)
                .push_bind(c.language().code())
                .push_bind(serde_json::to_string(&c.message_ids).unwrap_or_else(|_| "[]".into()));
        });
        q.push(
            " ON CONFLICT (id) DO UPDATE SET updated_at = excluded.updated_at, \
             first_user_message = excluded.first_user_message, message_count = excluded.message_count, \
             user_message_count = excluded.user_message_count, pending_count = excluded.pending_count, \
             pending_sum = excluded.pending_sum, last_user_answered = excluded.last_user_answered, \
             last_user_negative = excluded.last_user_negative, resolved = excluded.resolved, \
             hits_es = excluded.hits_es, hits_fr = excluded.hits_fr, hits_de = excluded.hits_de, \
             non_latin_letters = excluded.non_latin_letters, letters = excluded.letters, \
             language = excluded.language, message_ids = excluded.message_ids",
        );
        q.build().execute(&mut **tx).await?;
    }
    Ok(())
}

async fn insert_messages(tx: &mut Tx<'_>, messages: &[NewMessage]) -> sqlx::Result<()> {
    for chunk in messages.chunks(CHUNK) {
        let mut q = QueryBuilder::<DB>::new(
            "INSERT INTO messages (id, conversation_id, message_id, domain, role, content, created_at, \
             metadata, sentiment, query, product, response_ms_sum, responses) ",
        );
        q.push_values(chunk, |mut b, m| {
            b.push_bind(m.id.clone())
                .push_bind(m.event.conversation_id.clone())
                .push_bind(m.event.message_id.clone())
                .push_bind(m.domain.clone())
                .push_bind(m.event.role.as_str())
                .push_bind(m.event.content.clone())
                .push_bind(m.event.at)
                .push_bind(m.event.metadata.as_ref().map(|v| v.to_string()))
                .push_bind(m.facts.sentiment.score())
                .push_bind(m.facts.query.clone())
                .push_bind(m.facts.product.clone())
                .push_bind(m.facts.response_ms_sum)
                .push_bind(m.facts.responses);
        });
        q.build().execute(&mut **tx).await?;
    }
    Ok(())
}

async fn insert_failed_searches(tx: &mut Tx<'_>, searches: &[FailedSearch]) -> sqlx::Result<()> {
    let mut latest: HashMap<(String, String), Micros> = HashMap::new();
    for f in searches {
        for domain in [f.domain.as_str(), ""] {
            let at = latest.entry((domain.to_string(), f.query.clone())).or_insert(f.at);
            *at = (*at).max(f.at);
        }
    }
    let latest: Vec<_> = latest.into_iter().collect();
    for chunk in latest.chunks(CHUNK) {
        let mut q = QueryBuilder::<DB>::new("INSERT INTO failed_queries (domain, query, last_at) ");
        q.push_values(chunk, |mut b, ((domain, query), at)| {
            b.push_bind(domain.clone()).push_bind(query.clone()).push_bind(*at);
        });
        q.push(
            " ON CONFLICT (domain, query) DO UPDATE SET last_at = \
             CASE WHEN excluded.last_at > failed_queries.last_at THEN excluded.last_at ELSE failed_queries.last_at END",
        );
        q.build().execute(&mut **tx).await?;
    }
    for chunk in searches.chunks(CHUNK) {
        let mut q =
            QueryBuilder::<DB>::new("INSERT INTO failed_searches (session_id, domain, query, product, created_at) ");
        q.push_values(chunk, |mut b, f| {
            b.push_bind(f.session_id.clone())
                .push_bind(f.domain.clone())
                .push_bind(f.query.clone())
                .push_bind(f.product.clone())
                .push_bind(f.at);
        });
        q.build().execute(&mut **tx).await?;
    }
    Ok(())
}

/// Adds counts to a rollup keyed by (bucket, domain): `columns` name the counts in order.
async fn add_bucket_counts(
    tx: &mut Tx<'_>,
    table: &str,
    columns: &[&str],
    rows: Vec<((Micros, String), Vec<i64>)>,
) -> sqlx::Result<()> {
    let updates = columns.iter().map(|c| format!("{c} = {table}.{c} + excluded.{c}")).collect::<Vec<_>>().join(", ");
    for chunk in rows.chunks(CHUNK) {
        let mut q = QueryBuilder::<DB>::new(format!("INSERT INTO {table} (bucket, domain, {}) ", columns.join(", ")));
        q.push_values(chunk, |mut b, ((bucket, domain), counts)| {
            b.push_bind(*bucket).push_bind(domain.clone());
            for count in counts {
                b.push_bind(*count);
            }
        });
        q.push(format!(" ON CONFLICT (domain, bucket) DO UPDATE SET {updates}"));
        q.build().execute(&mut **tx).await?;
    }
    Ok(())
}

async fn add_query_counts(tx: &mut Tx<'_>, table: &str, rows: &HashMap<(String, Micros, String), i64>) -> sqlx::Result<()> {
    let rows: Vec<_> = rows.iter().collect();
    for chunk in rows.chunks(CHUNK) {
        let mut q = QueryBuilder::<DB>::new(format!("INSERT INTO {table} (domain, bucket, query, count) "));
        q.push_values(chunk, |mut b, ((domain, bucket, query), count)| {
            b.push_bind(domain.clone()).push_bind(*bucket).push_bind(query.clone()).push_bind(**count);
        });
        q.push(format!(" ON CONFLICT (domain, bucket, query) DO UPDATE SET count = {table}.count + excluded.count"));
        q.build().execute(&mut **tx).await?;
    }
    Ok(())
}

const MESSAGE_COUNTS: [&str; 6] = ["messages", "user_messages", "positive", "negative", "response_ms_sum", "responses"];
const CONVERSATION_COUNTS: [&str; 8] = [
    "conversations", "with_user_messages", "resolved", "lang_en", "lang_es", "lang_fr", "lang_de", "lang_other",
];

fn message_counts(m: &MessageStats) -> Vec<i64> {
    vec![m.messages, m.user_messages, m.positive, m.negative, m.response_ms_sum, m.responses]
}

fn conversation_counts(c: &ConversationCounts) -> Vec<i64> {
    let mut v = vec![c.conversations, c.with_user_messages, c.resolved];
    v.extend(c.languages);
    v
}

async fn add_content_rollups(tx: &mut Tx<'_>, delta: &ContentDelta) -> sqlx::Result<()> {
    for (table, rows) in [("message_rollup_hourly", &delta.messages_hourly), ("message_rollup_daily", &delta.messages_daily)] {
        let rows = rows.iter().map(|(k, m)| (k.clone(), message_counts(m))).collect();
        add_bucket_counts(tx, table, &MESSAGE_COUNTS, rows).await?;
    }
    for (table, rows) in [
        ("conversation_rollup_hourly", &delta.conversations_hourly),
        ("conversation_rollup_daily", &delta.conversations_daily),
    ] {
        let rows = rows.iter().map(|(k, c)| (k.clone(), conversation_counts(c))).collect();
        add_bucket_counts(tx, table, &CONVERSATION_COUNTS, rows).await?;
    }
    add_query_counts(tx, "query_rollup_hourly", &delta.queries_hourly).await?;
    add_query_counts(tx, "query_rollup_daily", &delta.queries_daily).await
}

/// The last of several items with the same key, in order: one multi-row upsert may not
/// touch a row twice (PostgreSQL refuses).
fn last_per_key<T, K: std::hash::Hash + Eq>(items: &[T], key: impl Fn(&T) -> K) -> Vec<&T> {
    let mut last: HashMap<K, usize> = HashMap::new();
    for (i, item) in items.iter().enumerate() {
        last.insert(key(item), i);
    }
    items.iter().enumerate().filter(|(i, item)| last.get(&key(item)) == Some(i)).map(|(_, item)| item).collect()
}

fn hashed_id(parts: &[&str]) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(parts.join("\n")))
}

fn extraction_id(x: &ExtractionEvent) -> String {
    let key = x.product_name.clone().unwrap_or_else(|| x.data.to_string());
    hashed_id(&[&x.extraction_type, &x.domain, &key])
}

fn page_id(p: &PageEvent) -> String {
    hashed_id(&[&p.domain, &p.url])
}

/// One row per product (domain, name) — a later extraction replaces its data and price —
/// and per distinct FAQ or contact record.
async fn upsert_extractions(tx: &mut Tx<'_>, extractions: &[ExtractionEvent]) -> sqlx::Result<()> {
    let extractions = last_per_key(extractions, extraction_id);
    for chunk in extractions.chunks(CHUNK) {
        let mut q = QueryBuilder::<DB>::new(
            "INSERT INTO structured_extractions (id, domain, extraction_type, data, product_name, price, created_at) ",
        );
        q.push_values(chunk, |mut b, x| {
            b.push_bind(extraction_id(x))
                .push_bind(x.domain.clone())
                .push_bind(x.extraction_type.clone())
                .push_bind(x.data.to_string())
                .push_bind(x.product_name.clone())
                .push_bind(x.price.clone())
                .push_bind(x.at);
        });
        q.push(
            " ON CONFLICT (id) DO UPDATE SET data = excluded.data, price = excluded.price, \
             created_at = excluded.created_at",
        );
        q.build().execute(&mut **tx).await?;
    }
    Ok(())
}

/// A page is stored once per (domain, url); a new scrape replaces it and its chunks.
async fn upsert_pages(tx: &mut Tx<'_>, pages: &[PageEvent]) -> sqlx::Result<()> {
    let pages = last_per_key(pages, page_id);
    for chunk in pages.chunks(CHUNK) {
        let mut q = QueryBuilder::<DB>::new(
            "INSERT INTO scraped_pages (id, url, domain, content, content_length, embedding_count, scraped_at) ",
        );
        q.push_values(chunk, |mut b, p| {
            b.push_bind(page_id(p))
                .push_bind(p.url.clone())
                .push_bind(p.domain.clone())
                .push_bind(p.content.clone())
                .push_bind(p.content_length)
                .push_bind(p.embeddings)
                .push_bind(p.at);
        });
        q.push(
            " ON CONFLICT (id) DO UPDATE SET content = excluded.content, content_length = excluded.content_length, \
             embedding_count = excluded.embedding_count, scraped_at = excluded.scraped_at",
        );
        q.build().execute(&mut **tx).await?;
        let mut q = QueryBuilder::<DB>::new("DELETE FROM page_embeddings WHERE page_id IN (");
        let mut list = q.separated(", ");
        for p in chunk {
            list.push_bind(page_id(p));
        }
        q.push(")");
        q.build().execute(&mut **tx).await?;
    }
    let chunks: Vec<(String, i64, Option<String>)> = pages
        .iter()
        .flat_map(|p| (0..p.embeddings).map(move |i| (page_id(p), i, p.previews.get(i as usize).cloned())))
        .collect();
    for chunk in chunks.chunks(CHUNK) {
        let mut q = QueryBuilder::<DB>::new("INSERT INTO page_embeddings (page_id, chunk_index, content_preview) ");
        q.push_values(chunk, |mut b, (page, index, preview)| {
            b.push_bind(page.clone()).push_bind(*index).push_bind(preview.clone());
        });
        q.build().execute(&mut **tx).await?;
    }
    Ok(())
}

async fn upsert_scrape_jobs(tx: &mut Tx<'_>, jobs: &[ScrapeJobEvent]) -> sqlx::Result<()> {
    let jobs = last_per_key(jobs, |j| (j.domain.clone(), j.url.clone()));
    for chunk in jobs.chunks(CHUNK) {
        let mut q = QueryBuilder::<DB>::new("INSERT INTO scrape_jobs (domain, url, status, updated_at) ");
        q.push_values(chunk, |mut b, j| {
            b.push_bind(j.domain.clone()).push_bind(j.url.clone()).push_bind(j.status.clone()).push_bind(j.at);
        });
        q.push(" ON CONFLICT (domain, url) DO UPDATE SET status = excluded.status, updated_at = excluded.updated_at");
        q.build().execute(&mut **tx).await?;
    }
    Ok(())
}

/// Carts and orders, one row per (domain, id); a repeat replaces amount and currency.
async fn upsert_shop(tx: &mut Tx<'_>, events: &[ShopEvent]) -> sqlx::Result<()> {
    for (kind, table, id_column, amount_column) in [
        (ShopKind::AbandonedCart, "abandoned_carts", "cart_id", "value_nanos"),
        (ShopKind::Order, "orders", "order_id", "total_nanos"),
    ] {
        let of_kind: Vec<ShopEvent> = events.iter().filter(|e| e.kind == kind).cloned().collect();
        let rows = last_per_key(&of_kind, |e| (e.domain.clone(), e.id.clone()));
        for chunk in rows.chunks(CHUNK) {
            let mut q = QueryBuilder::<DB>::new(format!(
                "INSERT INTO {table} (domain, {id_column}, {amount_column}, currency, created_at) "
            ));
            q.push_values(chunk, |mut b, e| {
                b.push_bind(e.domain.clone())
                    .push_bind(e.id.clone())
                    .push_bind(e.amount_nanos)
                    .push_bind(e.currency.clone())
                    .push_bind(e.at);
            });
            q.push(format!(
                " ON CONFLICT (domain, {id_column}) DO UPDATE SET {amount_column} = excluded.{amount_column}, \
                 currency = excluded.currency"
            ));
            q.build().execute(&mut **tx).await?;
        }
    }
    Ok(())
}

fn window_ranges(window: &Window) -> [(&'static str, Micros, Micros); 3] {
    let split = window.split_days();
    [
        ("rollup_hourly", split.head.0, split.head.1),
        ("rollup_hourly", split.tail.0, split.tail.1),
        ("rollup_daily", split.days.0, split.days.1),
    ]
}

/// Rollup sums of a window: whole days from daily rollups, the edges from hourly ones. For
/// all domains (`domain` empty) it reads the all-domains rows (totals and per model) and the
/// per-domain totals; for one domain, that domain's rows.
pub async fn window_groups(
    pool: &Pool<DB>,
    window: &Window,
    domain: &str,
    model: Option<&str>,
) -> sqlx::Result<Vec<(String, String, Counters)>> {
    let sums = COUNTER_COLUMNS
        .split(", ")
        .map(|c| format!("CAST(SUM({c}) AS BIGINT)"))
        .collect::<Vec<_>>()
        .join(", ");
    let mut q = QueryBuilder::<DB>::new(format!("SELECT domain, model, {sums} FROM ("));
    let mut first = true;
    for (table, start, end) in window_ranges(window) {
        if start >= end {
            continue;
        }
        if !first {
            q.push(" UNION ALL ");
        }
        first = false;
        q.push(format!("SELECT domain, model, {COUNTER_COLUMNS} FROM {table} WHERE bucket >= "));
        q.push_bind(start).push(" AND bucket < ").push_bind(end);
        match (domain.is_empty(), model) {
            (true, None) => {
                q.push(" AND (domain = '' OR model = '')");
            }
            (false, None) => {
                q.push(" AND domain = ").push_bind(domain.to_string());
            }
            (true, Some(m)) => {
                q.push(" AND model = ").push_bind(m.to_string());
            }
            (false, Some(m)) => {
                q.push(" AND domain = ").push_bind(domain.to_string());
                q.push(" AND model = ").push_bind(m.to_string());
            }
        }
    }
    q.push(") r GROUP BY domain, model");
    let rows = q.build().fetch_all(pool).await?;
    rows.iter()
        .map(|row| Ok((row.try_get(0)?, row.try_get(1)?, counters_from_row(row, 2)?)))
        .collect()
}

/// The spec's approach, kept as a benchmark reference: sum the raw rows of the window.
pub async fn naive_window_sums(pool: &Pool<DB>, window: &Window, domain: &str) -> sqlx::Result<Vec<(String, String, Counters)>> {
    let rows = sqlx::query(
        "SELECT domain, model, CAST(COUNT(*) AS BIGINT), \
         CAST(SUM(CASE WHEN success THEN 1 ELSE 0 END) AS BIGINT), \
         CAST(SUM(CASE WHEN success THEN 0 ELSE 1 END) AS BIGINT), \
         CAST(SUM(CASE WHEN cost_nanos IS NULL THEN 1 ELSE 0 END) AS BIGINT), \
         CAST(SUM(input_tokens) AS BIGINT), CAST(SUM(cached_input_tokens) AS BIGINT), \
         CAST(SUM(cache_write_tokens) AS BIGINT), CAST(SUM(output_tokens) AS BIGINT), \
         CAST(SUM(reasoning_tokens) AS BIGINT), CAST(SUM(COALESCE(cost_nanos, 0)) AS BIGINT), \
         CAST(SUM(duration_ms) AS BIGINT), CAST(SUM(search_count) AS BIGINT), \
         CAST(SUM(iterations) AS BIGINT) \
         FROM chat_telemetry WHERE start_time >= $1 AND start_time < $2 AND end_time IS NOT NULL \
         AND ($3 = '' OR domain = $3) GROUP BY domain, model",
    )
    .bind(window.start)
    .bind(window.end)
    .bind(domain)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|row| Ok((row.try_get(0)?, row.try_get(1)?, counters_from_row(row, 2)?)))
        .collect()
}

/// Requests and cost per hour of the window (hours without sessions are absent), for all
/// models or one (`model` empty = all).
pub async fn trend(pool: &Pool<DB>, window: &Window, domain: &str, model: &str) -> sqlx::Result<Vec<(Micros, i64, i64)>> {
    let rows = sqlx::query(
        "SELECT bucket, requests, cost_nanos FROM rollup_hourly \
         WHERE domain = $1 AND model = $4 AND bucket >= $2 AND bucket < $3 ORDER BY bucket",
    )
    .bind(domain)
    .bind(window.start)
    .bind(window.end)
    .bind(model)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
        .collect()
}

pub async fn first_session_hour(pool: &Pool<DB>, domain: &str) -> sqlx::Result<Option<Micros>> {
    sqlx::query_scalar("SELECT MIN(bucket) FROM rollup_hourly WHERE domain = $1 AND model = ''")
        .bind(domain)
        .fetch_one(pool)
        .await
}

pub async fn live_sessions(pool: &Pool<DB>, domain: &str) -> sqlx::Result<Vec<LiveSession>> {
    let mut tx = pool.begin().await?;
    if <DB as sqlx::Database>::NAME == "PostgreSQL" {
        // Live rows are rewritten on every event, so until vacuum runs the partial index holds
        // many dead entries. A plain index scan marks them dead as it passes (a bitmap scan
        // does not), keeping this query fast right after a burst of sessions.
        sqlx::query("SET LOCAL enable_bitmapscan = off").execute(&mut *tx).await?;
    }
    let rows = sqlx::query(
        "SELECT session_id, model, domain, start_time, cost_nanos, input_tokens, output_tokens \
         FROM chat_telemetry WHERE end_time IS NULL AND ($1 = '' OR domain = $1) ORDER BY start_time",
    )
    .bind(domain)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    rows.iter()
        .map(|r| {
            Ok(LiveSession {
                session_id: r.try_get(0)?,
                model: r.try_get(1)?,
                domain: r.try_get(2)?,
                start_time: r.try_get(3)?,
                cost_nanos: r.try_get(4)?,
                input_tokens: r.try_get(5)?,
                output_tokens: r.try_get(6)?,
            })
        })
        .collect()
}

pub async fn session(pool: &Pool<DB>, session_id: &str) -> sqlx::Result<Option<Session>> {
    let row = sqlx::query(&format!("SELECT {SESSION_COLUMNS} FROM chat_telemetry WHERE session_id = $1"))
        .bind(session_id)
        .fetch_optional(pool)
        .await?;
    row.as_ref().map(session_from_row).transpose()
}

// ---- prices ----

fn price_from_row(row: &<DB as sqlx::Database>::Row) -> Result<PriceEntry, String> {
    let get = |name: &str| -> Result<Option<String>, String> { row.try_get(name).map_err(|e| e.to_string()) };
    let dec = |name: &str| -> Result<Option<rust_decimal::Decimal>, String> {
        get(name)?.map(|t| t.parse().map_err(|e| format!("{name}: {e}"))).transpose()
    };
    let required = |v: Option<rust_decimal::Decimal>, name: &str| v.ok_or_else(|| format!("{name} missing"));
    let effective = get("effective_from")?.unwrap_or_default();
    Ok(PriceEntry {
        model: get("model")?.unwrap_or_default(),
        aliases: serde_json::from_str(&get("aliases")?.unwrap_or_default()).unwrap_or_default(),
        pattern: get("pattern")?,
        input: required(dec("input")?, "input")?,
        cached_input: dec("cached_input")?,
        cache_write: dec("cache_write")?,
        output: required(dec("output")?, "output")?,
        reasoning: dec("reasoning")?,
        effective_from: chrono::NaiveDate::parse_from_str(&effective, "%Y-%m-%d").map_err(|e| e.to_string())?,
        source: get("source")?.unwrap_or_default(),
    })
}

const PRICE_COLUMNS: &str =
    "model, effective_from, aliases, pattern, input, cached_input, cache_write, output, reasoning, source, updated_at";

async fn load_prices_with<'e, E>(executor: E) -> anyhow::Result<Vec<PriceEntry>>
where
    E: sqlx::Executor<'e, Database = DB>,
{
    let rows = sqlx::query(&format!("SELECT {PRICE_COLUMNS} FROM model_prices ORDER BY model, effective_from"))
        .fetch_all(executor)
        .await?;
    rows.iter()
        .map(|r| price_from_row(r).map_err(|e| anyhow::anyhow!("bad stored price: {e}")))
        .collect()
}

pub async fn load_prices(pool: &Pool<DB>) -> anyhow::Result<Vec<PriceEntry>> {
    load_prices_with(pool).await
}

fn price_insert(entry: &PriceEntry, now: Micros) -> QueryBuilder<'static, DB> {
    let mut q = QueryBuilder::<DB>::new(format!("INSERT INTO model_prices ({PRICE_COLUMNS}) "));
    let text = |d: Option<rust_decimal::Decimal>| d.map(|d| d.to_string());
    let entry = entry.clone();
    q.push_values([entry], |mut b, e| {
        b.push_bind(e.model.clone())
            .push_bind(e.effective_from.format("%Y-%m-%d").to_string())
            .push_bind(serde_json::to_string(&e.aliases).unwrap_or_else(|_| "[]".into()))
            .push_bind(e.pattern.clone())
            .push_bind(e.input.to_string())
            .push_bind(text(e.cached_input))
            .push_bind(text(e.cache_write))
            .push_bind(e.output.to_string())
            .push_bind(text(e.reasoning))
            .push_bind(e.source.clone())
            .push_bind(now);
    });
    q
}

pub async fn seed_prices(pool: &Pool<DB>, entries: &[PriceEntry], now: Micros) -> sqlx::Result<()> {
    let mut tx = pool.begin().await?;
    for entry in entries {
        let mut q = price_insert(entry, now);
        q.push(" ON CONFLICT (model, effective_from) DO NOTHING");
        q.build().execute(&mut *tx).await?;
    }
    tx.commit().await
}

/// Adds or replaces a price entry and, in the same transaction, recomputes the cost of
/// every stored session and rollup bucket it prices from its effective date on. Buckets
/// whose raw sessions are still kept (start at or after `raw_since`) are rebuilt from the
/// sessions; older ones are priced from their token sums.
pub async fn put_price(pool: &Pool<DB>, entry: &PriceEntry, raw_since: Micros, now: Micros) -> anyhow::Result<RecomputeReport> {
    let mut tx = pool.begin().await?;
    let mut q = price_insert(entry, now);
    q.push(
        " ON CONFLICT (model, effective_from) DO UPDATE SET aliases = excluded.aliases, \
         pattern = excluded.pattern, input = excluded.input, cached_input = excluded.cached_input, \
         cache_write = excluded.cache_write, output = excluded.output, reasoning = excluded.reasoning, \
         source = excluded.source, updated_at = excluded.updated_at",
    );
    q.build().execute(&mut *tx).await?;
    let table = PriceTable::new(load_prices_with(&mut *tx).await?);
    let from = entry.effective_from_micros();
    let raw_since = floor_hour(raw_since);

    let models: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT model FROM rollup_hourly WHERE bucket >= $1 AND model <> '' \
         UNION SELECT DISTINCT model FROM chat_telemetry WHERE start_time >= $1",
    )
    .bind(from)
    .fetch_all(&mut *tx)
    .await?;
    let mut report = RecomputeReport::default();
    for model in models.iter().filter(|m| PriceTable::entry_matches(entry, m)) {
        report.models.push(model.clone());
        recompute_model(&mut tx, &table, model, from, raw_since, &mut report).await?;
    }
    tx.commit().await?;
    Ok(report)
}

async fn recompute_model(
    tx: &mut Tx<'_>,
    table: &PriceTable,
    model: &str,
    from: Micros,
    raw_since: Micros,
    report: &mut RecomputeReport,
) -> anyhow::Result<()> {
    // 1. Raw sessions, and the rebuilt (cost, unpriced) of each kept hour bucket.
    let rows = sqlx::query(
        "SELECT id, domain, start_time, end_time, cost_nanos, input_tokens, cached_input_tokens, \
         cache_write_tokens, output_tokens, reasoning_tokens FROM chat_telemetry \
         WHERE model = $1 AND start_time >= $2",
    )
    .bind(model)
    .bind(from)
    .fetch_all(&mut **tx)
    .await?;
    let mut rebuilt: HashMap<(Micros, String), (i64, i64)> = HashMap::new();
    for row in &rows {
        let start: Micros = row.try_get(2)?;
        let usage = TokenUsage {
            input: row.try_get(5)?,
            cached_input: row.try_get(6)?,
            cache_write: row.try_get(7)?,
            output: row.try_get(8)?,
            reasoning: row.try_get(9)?,
        };
        let cost = table.lookup(model, start).map(|e| e.cost_nanos(&usage));
        let old: Option<i64> = row.try_get(4)?;
        if cost != old {
            let id: String = row.try_get(0)?;
            sqlx::query("UPDATE chat_telemetry SET cost_nanos = $1 WHERE id = $2")
                .bind(cost)
                .bind(id)
                .execute(&mut **tx)
                .await?;
            report.sessions += 1;
        }
        let ended: Option<Micros> = row.try_get(3)?;
        if ended.is_some() {
            let bucket = rebuilt.entry((floor_hour(start), row.try_get(1)?)).or_default();
            bucket.0 += cost.unwrap_or(0);
            bucket.1 += i64::from(cost.is_none());
        }
    }

    // 2. Hourly buckets: rebuilt where raw rows are kept, priced from token sums before.
    let buckets = sqlx::query(&format!(
        "SELECT bucket, domain, {COUNTER_COLUMNS} FROM rollup_hourly WHERE model = $1 AND domain <> '' AND bucket >= $2"
    ))
    .bind(model)
    .bind(floor_hour(from))
    .fetch_all(&mut **tx)
    .await?;
    for row in &buckets {
        let bucket: Micros = row.try_get(0)?;
        let domain: String = row.try_get(1)?;
        let c = counters_from_row(row, 2)?;
        let (cost, unpriced) = if bucket >= raw_since {
            rebuilt.get(&(bucket, domain.clone())).copied().unwrap_or((0, 0))
        } else {
            let usage = TokenUsage {
                input: c.input_tokens,
                cached_input: c.cached_input_tokens,
                cache_write: c.cache_write_tokens,
                output: c.output_tokens,
                reasoning: c.reasoning_tokens,
            };
            match table.lookup(model, bucket) {
                Some(e) => (e.cost_nanos(&usage), 0),
                None => (0, c.requests),
            }
        };
        if (cost, unpriced) != (c.cost_nanos, c.unpriced) {
            sqlx::query(
                "UPDATE rollup_hourly SET cost_nanos = $1, unpriced = $2 \
                 WHERE bucket = $3 AND domain = $4 AND model = $5",
            )
            .bind(cost)
            .bind(unpriced)
            .bind(bucket)
            .bind(&domain)
            .bind(model)
            .execute(&mut **tx)
            .await?;
            report.buckets += 1;
        }
    }

    // 3. Daily rollups are sums of hourly ones: rebuild the model's days from its hours.
    sqlx::query(
        "UPDATE rollup_daily SET \
         cost_nanos = (SELECT COALESCE(CAST(SUM(h.cost_nanos) AS BIGINT), 0) FROM rollup_hourly h \
           WHERE h.model = rollup_daily.model AND h.domain = rollup_daily.domain \
           AND h.bucket >= rollup_daily.bucket AND h.bucket < rollup_daily.bucket + $3), \
         unpriced = (SELECT COALESCE(CAST(SUM(h.unpriced) AS BIGINT), 0) FROM rollup_hourly h \
           WHERE h.model = rollup_daily.model AND h.domain = rollup_daily.domain \
           AND h.bucket >= rollup_daily.bucket AND h.bucket < rollup_daily.bucket + $3) \
         WHERE model = $1 AND domain <> '' AND bucket >= $2",
    )
    .bind(model)
    .bind(floor_day(from))
    .bind(MICROS_PER_DAY)
    .execute(&mut **tx)
    .await?;
    // 4. The all-domains and all-models rows of the touched buckets, from the pair rows.
    for (table, start) in [("rollup_hourly", floor_hour(from)), ("rollup_daily", floor_day(from))] {
        let pair_sum = |column: &str| {
            format!(
                "(SELECT COALESCE(CAST(SUM(p.{column}) AS BIGINT), 0) FROM {table} p \
                 WHERE p.bucket = {table}.bucket AND p.domain <> '' AND p.model <> '' \
                 AND ({table}.domain = '' OR p.domain = {table}.domain) \
                 AND ({table}.model = '' OR p.model = {table}.model))"
            )
        };
        sqlx::query(&format!(
            "UPDATE {table} SET cost_nanos = {}, unpriced = {} \
             WHERE (domain = '' OR model = '') AND bucket >= $2 \
             AND bucket IN (SELECT bucket FROM {table} WHERE model = $1 AND domain = '' AND bucket >= $2)",
            pair_sum("cost_nanos"),
            pair_sum("unpriced")
        ))
        .bind(model)
        .bind(start)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

pub async fn unpriced_models(pool: &Pool<DB>) -> sqlx::Result<Vec<UnpricedModel>> {
    let rows = sqlx::query(
        "SELECT model, CAST(SUM(unpriced) AS BIGINT), MAX(bucket) FROM rollup_daily \
         WHERE unpriced > 0 AND domain = '' AND model <> '' GROUP BY model \
         UNION ALL SELECT model, CAST(COUNT(*) AS BIGINT), MAX(start_time) FROM chat_telemetry \
         WHERE end_time IS NULL AND cost_nanos IS NULL GROUP BY model",
    )
    .fetch_all(pool)
    .await?;
    let mut by_model: HashMap<String, UnpricedModel> = HashMap::new();
    for row in &rows {
        let model: String = row.try_get(0)?;
        let sessions: i64 = row.try_get(1)?;
        let last: Micros = row.try_get(2)?;
        let entry = by_model.entry(model.clone()).or_insert(UnpricedModel { model, sessions: 0, last_seen: last });
        entry.sessions += sessions;
        entry.last_seen = entry.last_seen.max(last);
    }
    let mut models: Vec<_> = by_model.into_values().collect();
    models.sort_by(|a, b| b.sessions.cmp(&a.sessions).then_with(|| a.model.cmp(&b.model)));
    Ok(models)
}

// ---- API keys ----

fn key_from_row(row: &<DB as sqlx::Database>::Row) -> sqlx::Result<ApiKeyRecord> {
    Ok(ApiKeyRecord {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        scope: row.try_get("scope")?,
        domain: row.try_get("domain")?,
        prefix: row.try_get("prefix")?,
        created_at: row.try_get("created_at")?,
        revoked_at: row.try_get("revoked_at")?,
    })
}

pub async fn insert_key(pool: &Pool<DB>, key: &ApiKeyRecord, hash: &str) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO api_keys (id, name, scope, domain, key_hash, prefix, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&key.id)
    .bind(&key.name)
    .bind(&key.scope)
    .bind(&key.domain)
    .bind(hash)
    .bind(&key.prefix)
    .bind(key.created_at)
    .execute(pool)
    .await
    .map(|_| ())
}

pub async fn list_keys(pool: &Pool<DB>) -> sqlx::Result<Vec<ApiKeyRecord>> {
    let rows = sqlx::query(
        "SELECT id, name, scope, domain, prefix, created_at, revoked_at FROM api_keys ORDER BY created_at, id",
    )
    .fetch_all(pool)
    .await?;
    rows.iter().map(key_from_row).collect()
}

pub async fn revoke_key(pool: &Pool<DB>, id: &str, now: Micros) -> sqlx::Result<bool> {
    let result = sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
        .bind(now)
        .bind(id)
        .execute(pool)
        .await?;
    Ok(result.rows_affected() > 0)
}

pub async fn find_key(pool: &Pool<DB>, hash: &str) -> sqlx::Result<Option<ApiKeyRecord>> {
    let row = sqlx::query(
        "SELECT id, name, scope, domain, prefix, created_at, revoked_at FROM api_keys \
         WHERE key_hash = $1 AND revoked_at IS NULL",
    )
    .bind(hash)
    .fetch_optional(pool)
    .await?;
    row.as_ref().map(key_from_row).transpose()
}

pub async fn count_active_keys(pool: &Pool<DB>) -> sqlx::Result<i64> {
    sqlx::query_scalar("SELECT CAST(COUNT(*) AS BIGINT) FROM api_keys WHERE revoked_at IS NULL")
        .fetch_one(pool)
        .await
}

// ---- retention ----

/// Deletes ended raw sessions that started before `cutoff`, a slice at a time so that
/// ingest is never blocked for long. Returns how many were deleted.
pub async fn delete_sessions_before(pool: &Pool<DB>, cutoff: Micros) -> sqlx::Result<u64> {
    let mut deleted = 0;
    loop {
        let n = sqlx::query(
            "DELETE FROM chat_telemetry WHERE id IN (SELECT id FROM chat_telemetry \
             WHERE start_time < $1 AND end_time IS NOT NULL LIMIT 5000)",
        )
        .bind(cutoff)
        .execute(pool)
        .await?
        .rows_affected();
        deleted += n;
        if n == 0 {
            break;
        }
    }
    Ok(deleted)
}

pub async fn delete_rollups_before(pool: &Pool<DB>, cutoff: Micros) -> sqlx::Result<u64> {
    let mut deleted = 0;
    for table in [
        "rollup_hourly",
        "rollup_daily",
        "message_rollup_hourly",
        "message_rollup_daily",
        "conversation_rollup_hourly",
        "conversation_rollup_daily",
        "query_rollup_hourly",
        "query_rollup_daily",
    ] {
        deleted += sqlx::query(&format!("DELETE FROM {table} WHERE bucket < $1"))
            .bind(cutoff)
            .execute(pool)
            .await?
            .rows_affected();
    }
    Ok(deleted)
}

// ---- conversations and analytics ----

/// `SELECT {select} FROM (rows of the window from `{prefix}_hourly` and `{prefix}_daily` for
/// `scope`) r {tail}`: whole days from the daily rollup, the edges from the hourly one.
fn rollup_window_query(prefix: &str, columns: &str, select: &str, tail: &str, window: &Window, scope: &str) -> QueryBuilder<'static, DB> {
    let split = window.split_days();
    let mut q = QueryBuilder::<DB>::new(format!("SELECT {select} FROM ("));
    let mut first = true;
    for (granularity, (start, end)) in [("hourly", split.head), ("hourly", split.tail), ("daily", split.days)] {
        if start >= end {
            continue;
        }
        if !first {
            q.push(" UNION ALL ");
        }
        first = false;
        q.push(format!("SELECT {columns} FROM {prefix}_{granularity} WHERE domain = "));
        q.push_bind(scope.to_string()).push(" AND bucket >= ").push_bind(start).push(" AND bucket < ").push_bind(end);
    }
    q.push(format!(") r {tail}"));
    q
}

fn sums(columns: &[&str]) -> String {
    columns.iter().map(|c| format!("CAST(COALESCE(SUM({c}), 0) AS BIGINT)")).collect::<Vec<_>>().join(", ")
}

pub async fn message_stats(pool: &Pool<DB>, window: &Window, scope: &str) -> sqlx::Result<MessageStats> {
    let mut q = rollup_window_query("message_rollup", &MESSAGE_COUNTS.join(", "), &sums(&MESSAGE_COUNTS), "", window, scope);
    let row = q.build().fetch_one(pool).await?;
    Ok(MessageStats {
        messages: row.try_get(0)?,
        user_messages: row.try_get(1)?,
        positive: row.try_get(2)?,
        negative: row.try_get(3)?,
        response_ms_sum: row.try_get(4)?,
        responses: row.try_get(5)?,
    })
}

pub async fn conversation_counts_of_window(pool: &Pool<DB>, window: &Window, scope: &str) -> sqlx::Result<ConversationCounts> {
    let mut q = rollup_window_query("conversation_rollup", &CONVERSATION_COUNTS.join(", "), &sums(&CONVERSATION_COUNTS), "", window, scope);
    let row = q.build().fetch_one(pool).await?;
    let mut languages = [0; 5];
    for (i, l) in languages.iter_mut().enumerate() {
        *l = row.try_get(3 + i)?;
    }
    Ok(ConversationCounts {
        conversations: row.try_get(0)?,
        with_user_messages: row.try_get(1)?,
        resolved: row.try_get(2)?,
        languages,
    })
}

pub async fn top_queries(pool: &Pool<DB>, window: &Window, scope: &str, limit: i64) -> sqlx::Result<Vec<(String, i64)>> {
    let mut q = rollup_window_query(
        "query_rollup",
        "query, count",
        "query, CAST(SUM(count) AS BIGINT) AS n",
        "GROUP BY query ORDER BY n DESC, query LIMIT ",
        window,
        scope,
    );
    q.push_bind(limit);
    let rows = q.build().fetch_all(pool).await?;
    rows.iter().map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).collect()
}

fn scope_filter(q: &mut QueryBuilder<'_, DB>, window: &Window, domain: &str, time_column: &str) {
    q.push(format!(" WHERE {time_column} >= ")).push_bind(window.start);
    q.push(format!(" AND {time_column} < ")).push_bind(window.end);
    if !domain.is_empty() {
        q.push(" AND domain = ").push_bind(domain.to_string());
    }
}

pub async fn raw_conversation_count(pool: &Pool<DB>, window: &Window, domain: &str) -> sqlx::Result<i64> {
    let mut q = QueryBuilder::<DB>::new("SELECT CAST(COUNT(*) AS BIGINT) FROM conversations");
    scope_filter(&mut q, window, domain, "created_at");
    q.build_query_scalar().fetch_one(pool).await
}

/// Newest first: (id, first user message, created_at).
pub async fn recent_conversations(
    pool: &Pool<DB>,
    window: &Window,
    domain: &str,
    limit: i64,
    offset: i64,
) -> sqlx::Result<Vec<(String, Option<String>, Micros)>> {
    let mut q = QueryBuilder::<DB>::new("SELECT id, first_user_message, created_at FROM conversations");
    scope_filter(&mut q, window, domain, "created_at");
    q.push(" ORDER BY created_at DESC, id LIMIT ").push_bind(limit).push(" OFFSET ").push_bind(offset);
    let rows = q.build().fetch_all(pool).await?;
    rows.iter().map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?))).collect()
}

pub async fn raw_message_stats(pool: &Pool<DB>, window: &Window, domain: &str) -> sqlx::Result<MessageStats> {
    let mut q = QueryBuilder::<DB>::new(
        "SELECT CAST(COUNT(*) AS BIGINT), \
         CAST(COALESCE(SUM(CASE WHEN role = 'user' THEN 1 ELSE 0 END), 0) AS BIGINT), \
         CAST(COALESCE(SUM(CASE WHEN role = 'user' AND sentiment > 0 THEN 1 ELSE 0 END), 0) AS BIGINT), \
         CAST(COALESCE(SUM(CASE WHEN role = 'user' AND sentiment < 0 THEN 1 ELSE 0 END), 0) AS BIGINT), \
         CAST(COALESCE(SUM(response_ms_sum), 0) AS BIGINT), CAST(COALESCE(SUM(responses), 0) AS BIGINT) \
         FROM messages",
    );
    scope_filter(&mut q, window, domain, "created_at");
    let row = q.build().fetch_one(pool).await?;
    Ok(MessageStats {
        messages: row.try_get(0)?,
        user_messages: row.try_get(1)?,
        positive: row.try_get(2)?,
        negative: row.try_get(3)?,
        response_ms_sum: row.try_get(4)?,
        responses: row.try_get(5)?,
    })
}

pub async fn raw_conversation_stats(pool: &Pool<DB>, window: &Window, domain: &str) -> sqlx::Result<ConversationStats> {
    let mut q = QueryBuilder::<DB>::new(
        "SELECT language, CAST(COUNT(*) AS BIGINT), \
         CAST(SUM(CASE WHEN resolved THEN 1 ELSE 0 END) AS BIGINT) FROM conversations",
    );
    scope_filter(&mut q, window, domain, "created_at");
    q.push(" AND user_message_count > 0 GROUP BY language");
    let rows = q.build().fetch_all(pool).await?;
    let mut stats = ConversationStats::default();
    for row in &rows {
        let count: i64 = row.try_get(1)?;
        stats.with_user_messages += count;
        stats.resolved += row.try_get::<i64, _>(2)?;
        stats.languages.push((row.try_get(0)?, count));
    }
    Ok(stats)
}

pub async fn raw_top_queries(pool: &Pool<DB>, window: &Window, domain: &str, limit: i64) -> sqlx::Result<Vec<(String, i64)>> {
    let mut q = QueryBuilder::<DB>::new("SELECT query, CAST(COUNT(*) AS BIGINT) AS n FROM messages");
    scope_filter(&mut q, window, domain, "created_at");
    q.push(" AND role = 'user' GROUP BY query ORDER BY n DESC, query LIMIT ").push_bind(limit);
    let rows = q.build().fetch_all(pool).await?;
    rows.iter().map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).collect()
}

/// Distinct queries of searches that found nothing, newest first. A window that ends now
/// reads each query's latest time; an older window groups the raw failed searches.
pub async fn failed_search_queries(pool: &Pool<DB>, window: &Window, domain: &str, limit: i64, now: Micros) -> sqlx::Result<Vec<String>> {
    if window.end > now {
        return sqlx::query_scalar(
            "SELECT query FROM failed_queries WHERE domain = $1 AND last_at >= $2 AND last_at < $3 \
             ORDER BY last_at DESC, query LIMIT $4",
        )
        .bind(domain)
        .bind(window.start)
        .bind(window.end)
        .bind(limit)
        .fetch_all(pool)
        .await;
    }
    let mut q = QueryBuilder::<DB>::new("SELECT query, MAX(created_at) AS last FROM failed_searches");
    scope_filter(&mut q, window, domain, "created_at");
    q.push(" GROUP BY query ORDER BY last DESC, query LIMIT ").push_bind(limit);
    let rows = q.build().fetch_all(pool).await?;
    rows.iter().map(|r| r.try_get(0)).collect()
}

/// Deletes conversations (and, by cascade, their messages) last active before `cutoff`,
/// and failed searches older than it: the same retention as raw sessions.
pub async fn delete_conversations_before(pool: &Pool<DB>, cutoff: Micros) -> sqlx::Result<u64> {
    let mut deleted = 0;
    loop {
        let n = sqlx::query(
            "DELETE FROM conversations WHERE id IN (SELECT id FROM conversations \
             WHERE updated_at < $1 LIMIT 1000)",
        )
        .bind(cutoff)
        .execute(pool)
        .await?
        .rows_affected();
        deleted += n;
        if n == 0 {
            break;
        }
    }
    for statement in ["DELETE FROM failed_searches WHERE created_at < $1", "DELETE FROM failed_queries WHERE last_at < $1"] {
        sqlx::query(statement).bind(cutoff).execute(pool).await?;
    }
    Ok(deleted)
}

/// Requests for products the domain's catalogue lacks: failed searches, and user questions
/// of conversations one of whose sessions searched and found nothing.
pub async fn product_requests(pool: &Pool<DB>, window: &Window, scope: &str) -> sqlx::Result<Vec<ProductRequest>> {
    let rows = sqlx::query(
        "SELECT r.product, r.text, r.created_at, r.failed FROM ( \
           SELECT product, query AS text, created_at, domain, CAST(1 AS BIGINT) AS failed FROM failed_searches \
           WHERE product IS NOT NULL AND created_at >= $1 AND created_at < $2 AND ($3 = '' OR domain = $3) \
           UNION ALL \
           SELECT m.product, m.content, m.created_at, m.domain, CAST(0 AS BIGINT) FROM messages m \
           WHERE m.conversation_id IN (SELECT conversation_id FROM chat_telemetry \
             WHERE conversation_id IS NOT NULL AND end_time IS NOT NULL AND search_count > 0 AND total_results = 0) \
           AND m.role = 'user' AND m.product IS NOT NULL AND m.created_at >= $1 AND m.created_at < $2 \
           AND ($3 = '' OR m.domain = $3) \
         ) r WHERE NOT EXISTS (SELECT 1 FROM structured_extractions x WHERE x.extraction_type = 'products' \
           AND x.domain = r.domain AND x.product_name = r.product)",
    )
    .bind(window.start)
    .bind(window.end)
    .bind(scope)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(ProductRequest {
                product: r.try_get(0)?,
                text: r.try_get(1)?,
                at: r.try_get(2)?,
                failed_search: r.try_get::<i64, _>(3)? == 1,
            })
        })
        .collect()
}

/// Pages (scraped in `window`, if given) and scrape jobs waiting or running.
pub async fn scraped_inputs(pool: &Pool<DB>, window: Option<&Window>, scope: &str) -> sqlx::Result<ScrapedInputs> {
    let (start, end) = window.map_or((i64::MIN, i64::MAX), |w| (w.start, w.end));
    let row = sqlx::query(
        "SELECT CAST(COUNT(*) AS BIGINT), MAX(scraped_at), CAST(COALESCE(SUM(content_length), 0) AS BIGINT), \
         CAST(COALESCE(SUM(embedding_count), 0) AS BIGINT), \
         CAST(COALESCE(SUM(CASE WHEN embedding_count > 0 THEN 1 ELSE 0 END), 0) AS BIGINT), \
         CAST(COUNT(DISTINCT domain) AS BIGINT) \
         FROM scraped_pages WHERE scraped_at >= $1 AND scraped_at < $2 AND ($3 = '' OR domain = $3)",
    )
    .bind(start)
    .bind(end)
    .bind(scope)
    .fetch_one(pool)
    .await?;
    let top_domains = sqlx::query_scalar(
        "SELECT domain FROM scraped_pages WHERE scraped_at >= $1 AND scraped_at < $2 AND ($3 = '' OR domain = $3) \
         GROUP BY domain ORDER BY COUNT(*) DESC, domain LIMIT 5",
    )
    .bind(start)
    .bind(end)
    .bind(scope)
    .fetch_all(pool)
    .await?;
    let queued_jobs = sqlx::query_scalar(
        "SELECT CAST(COUNT(*) AS BIGINT) FROM scrape_jobs WHERE status IN ('queued', 'running') \
         AND ($1 = '' OR domain = $1)",
    )
    .bind(scope)
    .fetch_one(pool)
    .await?;
    Ok(ScrapedInputs {
        pages: row.try_get(0)?,
        last_scraped: row.try_get(1)?,
        content_length_sum: row.try_get(2)?,
        embeddings: row.try_get(3)?,
        pages_with_embeddings: row.try_get(4)?,
        unique_domains: row.try_get(5)?,
        top_domains,
        queued_jobs,
    })
}

async fn currency_totals(pool: &Pool<DB>, table: &str, amount: &str, window: &Window, scope: &str) -> sqlx::Result<Vec<CurrencyTotal>> {
    let rows = sqlx::query(&format!(
        "SELECT currency, CAST(COUNT(*) AS BIGINT), CAST(SUM({amount}) AS BIGINT) FROM {table} \
         WHERE created_at >= $1 AND created_at < $2 AND ($3 = '' OR domain = $3) GROUP BY currency ORDER BY currency"
    ))
    .bind(window.start)
    .bind(window.end)
    .bind(scope)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| Ok(CurrencyTotal { currency: r.try_get(0)?, count: r.try_get(1)?, nanos: r.try_get(2)? }))
        .collect()
}

/// The catalogue (all of it), and orders and abandoned carts of the window.
pub async fn shop_inputs(pool: &Pool<DB>, window: &Window, scope: &str) -> sqlx::Result<ShopInputs> {
    let products = sqlx::query(
        "SELECT product_name, price FROM structured_extractions \
         WHERE extraction_type = 'products' AND ($1 = '' OR domain = $1)",
    )
    .bind(scope)
    .fetch_all(pool)
    .await?;
    let mut names = std::collections::HashSet::new();
    let mut prices = Vec::new();
    for row in &products {
        names.insert(row.try_get::<Option<String>, _>(0)?);
        if let Some(price) = row.try_get::<Option<String>, _>(1)? {
            prices.extend(price.parse::<rust_decimal::Decimal>().ok());
        }
    }
    let domains = sqlx::query_scalar(
        "SELECT domain FROM structured_extractions WHERE extraction_type = 'products' AND ($1 = '' OR domain = $1) \
         UNION SELECT domain FROM orders WHERE ($1 = '' OR domain = $1) \
         UNION SELECT domain FROM abandoned_carts WHERE ($1 = '' OR domain = $1) ORDER BY 1",
    )
    .bind(scope)
    .fetch_all(pool)
    .await?;
    Ok(ShopInputs {
        unique_products: names.len() as i64,
        products_indexed: products.len() as i64,
        prices,
        orders: currency_totals(pool, "orders", "total_nanos", window, scope).await?,
        carts: currency_totals(pool, "abandoned_carts", "value_nanos", window, scope).await?,
        domains,
    })
}

// ---- cost alerts ----

pub async fn upsert_alert(pool: &Pool<DB>, domain: &str, alert_type: &str, threshold_nanos: i64, now: Micros) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO cost_alerts (domain, alert_type, threshold_nanos, created_at, updated_at) VALUES ($1, $2, $3, $4, $4) \
         ON CONFLICT (domain, alert_type) DO UPDATE SET threshold_nanos = excluded.threshold_nanos, updated_at = excluded.updated_at",
    )
    .bind(domain)
    .bind(alert_type)
    .bind(threshold_nanos)
    .bind(now)
    .execute(pool)
    .await
    .map(drop)
}

/// Alerts of one domain ('' = the all-domains ones), or every alert when `all` is set.
pub async fn list_alerts(pool: &Pool<DB>, domain: &str, all: bool) -> sqlx::Result<Vec<(String, String, i64)>> {
    let rows = sqlx::query(
        "SELECT domain, alert_type, threshold_nanos FROM cost_alerts WHERE $2 OR domain = $1 ORDER BY domain, alert_type",
    )
    .bind(domain)
    .bind(all)
    .fetch_all(pool)
    .await?;
    rows.iter().map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?))).collect()
}

/// Priced cost of ended sessions that started in [start, end), from hourly rollups.
pub async fn cost_between(pool: &Pool<DB>, start: Micros, end: Micros, domain: &str) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "SELECT CAST(COALESCE(SUM(cost_nanos), 0) AS BIGINT) FROM rollup_hourly \
         WHERE domain = $1 AND model = '' AND bucket >= $2 AND bucket < $3",
    )
    .bind(domain)
    .bind(start)
    .bind(end)
    .fetch_one(pool)
    .await
}

/// Ended sessions that started in the window, newest first, and how many there are.
pub async fn sessions_in_window(
    pool: &Pool<DB>,
    window: &Window,
    domain: &str,
    model: &str,
    limit: i64,
    offset: i64,
) -> sqlx::Result<(Vec<Session>, i64)> {
    let filter = "FROM chat_telemetry WHERE start_time >= $1 AND start_time < $2 AND end_time IS NOT NULL \
                  AND ($3 = '' OR domain = $3) AND ($4 = '' OR model = $4)";
    let total: i64 = sqlx::query_scalar(&format!("SELECT CAST(COUNT(*) AS BIGINT) {filter}"))
        .bind(window.start)
        .bind(window.end)
        .bind(domain)
        .bind(model)
        .fetch_one(pool)
        .await?;
    let rows = sqlx::query(&format!(
        "SELECT {SESSION_COLUMNS} {filter} ORDER BY start_time DESC, session_id LIMIT $5 OFFSET $6"
    ))
    .bind(window.start)
    .bind(window.end)
    .bind(domain)
    .bind(model)
    .bind(limit)
    .bind(offset)
    .fetch_all(pool)
    .await?;
    let sessions = rows.iter().map(session_from_row).collect::<sqlx::Result<Vec<_>>>()?;
    Ok((sessions, total))
}

// ---- configuration ----

pub async fn list_domain_configs(pool: &Pool<DB>) -> sqlx::Result<Vec<DomainConfig>> {
    let rows = sqlx::query(
        "SELECT domain, woocommerce_url, woocommerce_enabled, consumer_key, consumer_secret FROM domain_config ORDER BY domain",
    )
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(DomainConfig {
                domain: r.try_get(0)?,
                woocommerce_url: r.try_get(1)?,
                woocommerce_enabled: r.try_get(2)?,
                consumer_key: r.try_get(3)?,
                consumer_secret: r.try_get(4)?,
            })
        })
        .collect()
}

pub async fn put_domain_configs(pool: &Pool<DB>, configs: &[DomainConfig], removed: &[String], now: Micros) -> sqlx::Result<()> {
    let mut tx = pool.begin().await?;
    for c in configs {
        sqlx::query(
            "INSERT INTO domain_config (domain, woocommerce_url, woocommerce_enabled, consumer_key, consumer_secret, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (domain) DO UPDATE SET woocommerce_url = excluded.woocommerce_url, \
             woocommerce_enabled = excluded.woocommerce_enabled, consumer_key = excluded.consumer_key, \
             consumer_secret = excluded.consumer_secret, updated_at = excluded.updated_at",
        )
        .bind(&c.domain)
        .bind(&c.woocommerce_url)
        .bind(c.woocommerce_enabled)
        .bind(&c.consumer_key)
        .bind(&c.consumer_secret)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    }
    for domain in removed {
        sqlx::query("DELETE FROM domain_config WHERE domain = $1").bind(domain).execute(&mut *tx).await?;
    }
    tx.commit().await
}

pub async fn get_setting(pool: &Pool<DB>, key: &str) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar("SELECT value FROM app_settings WHERE key = $1").bind(key).fetch_optional(pool).await
}

pub async fn put_setting(pool: &Pool<DB>, key: &str, value: &str) -> sqlx::Result<()> {
    sqlx::query("INSERT INTO app_settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value")
        .bind(key)
        .bind(value)
        .execute(pool)
        .await
        .map(drop)
}
