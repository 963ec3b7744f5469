// The query layer, written once against the alias `DB` and compiled for each engine by
// `include!` in `lib.rs` (modules `sqlite` and `postgres`); the files of `sql/` share one
// module, and this first one holds the imports and the write path of ingest batches. SQL
// here must mean the same on SQLite and PostgreSQL: integers are BIGINT, sums are cast back
// to BIGINT, JSON is text.

use crate::batch::{self, found_nothing, ContentDelta, FailedSearch, LiveCache, NewMessage, Plan, ProductCounts, ProductDelta, RollupDelta};
use omniops_core::analytics::{ConversationCounts, ConversationStats, MessageStats};
use omniops_core::conversation::Conversation;
use omniops_core::missing::ProductTally;
use omniops_core::shop::{CurrencyTotal, ScrapedInputs, ShopInputs};
use omniops_core::events::{Event, ExtractionEvent, PageEvent, ScrapeJobEvent, ShopEvent, ShopKind};
use crate::{ApiKeyRecord, BatchOutcome, DomainConfig, LiveChange, LiveKind, RecomputeReport, SessionFilter, UnpricedModel};
use omniops_core::clock::{floor_day, floor_hour, Micros, MICROS_PER_DAY};
use omniops_core::pricing::{PriceEntry, PriceTable};
use omniops_core::rollup::{Counters, DURATION_BOUNDS_MS, DURATION_BUCKETS};
use omniops_core::session::Session;
use omniops_core::telemetry::LiveSession;
use omniops_core::usage::TokenUsage;
use omniops_core::window::Window;
use sqlx::{Pool, QueryBuilder, Row, Transaction};
use std::collections::{HashMap, HashSet};

type Tx<'a> = Transaction<'a, DB>;

/// A write transaction. On SQLite it takes the write lock at once (`BEGIN IMMEDIATE`): a
/// deferred transaction that has read cannot upgrade once another connection committed
/// (SQLITE_BUSY_SNAPSHOT, e.g. the retention job), while an immediate one waits for the
/// lock under the busy timeout.
async fn begin_write(pool: &Pool<DB>) -> sqlx::Result<Tx<'static>> {
    if <DB as sqlx::Database>::NAME == "SQLite" {
        pool.begin_with("BEGIN IMMEDIATE").await
    } else {
        pool.begin().await
    }
}

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
    for (table, rows) in [("duration_rollup_hourly", &delta.durations_hourly), ("duration_rollup_daily", &delta.durations_daily)] {
        let rows: Vec<_> = rows.iter().collect();
        for chunk in rows.chunks(CHUNK) {
            let mut q = QueryBuilder::<DB>::new(format!("INSERT INTO {table} (bucket, domain, le_index, count) "));
            q.push_values(chunk, |mut b, ((bucket, domain, le_index), count)| {
                b.push_bind(*bucket).push_bind(domain.clone()).push_bind(*le_index).push_bind(**count);
            });
            q.push(format!(" ON CONFLICT (domain, bucket, le_index) DO UPDATE SET count = {table}.count + excluded.count"));
            q.build().execute(&mut **tx).await?;
        }
    }
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
    let mut tx = begin_write(pool).await?;
    let (ids, conversation_ids) = batch::ids_to_load(requests);
    let mut cache = cache;
    // Sessions taken from the cache go back only after a commit: on failure the store is the truth.
    let (mut loaded, missing) = match cache.as_deref_mut() {
        Some(cache) => cache.take(ids),
        None => (Vec::new(), ids),
    };
    loaded.extend(load_sessions(&mut tx, &missing).await?);
    let known: HashSet<String> = loaded.iter().map(|s| s.session_id.clone()).collect();
    let conversations = load_conversations(&mut tx, &conversation_ids).await?;
    let plan = batch::plan(requests, loaded, conversations, prices, || uuid::Uuid::now_v7().to_string());
    let content_delta = ContentDelta::of_plan(&plan);
    // Conversations that may now count as having found nothing: new ones (a session may have
    // ended before its conversation arrived) and those of sessions that found nothing.
    let mut found_nothing_candidates: HashSet<String> =
        plan.conversations.keys().filter(|id| !plan.conversations_before.contains_key(*id)).cloned().collect();
    let Plan { sessions, backfills, ended, rejections, conversations, messages, mut failed_searches, extractions, pages, scrape_jobs, shop, .. } =
        plan;

    let dirty: Vec<&Session> = sessions.values().filter(|(_, d)| *d).map(|(s, _)| s).collect();
    upsert_sessions(&mut tx, &dirty, now).await?;
    let inserted = insert_backfills(&mut tx, &backfills, now).await?;
    let changed: Vec<&Conversation> = conversations.values().filter(|(_, d)| *d).map(|(c, _)| c).collect();
    upsert_conversations(&mut tx, &changed).await?;
    insert_messages(&mut tx, &messages).await?;

    // Ended live sessions and newly inserted backfills count in the rollups.
    let mut delta = RollupDelta::default();
    let finished = ended.iter().filter_map(|id| sessions.get(id).map(|(s, _)| s));
    let finished = finished.chain(backfills.iter().filter(|s| inserted.contains(&s.session_id)));
    for session in finished {
        delta.add(session);
        if found_nothing(session) {
            found_nothing_candidates.extend(session.conversation_id.clone());
        }
    }
    for session in backfills.iter().filter(|s| inserted.contains(&s.session_id)) {
        failed_searches.extend(FailedSearch::from_backfill(session));
    }
    insert_failed_searches(&mut tx, &failed_searches).await?;

    let mut products = ProductDelta::default();
    products.add_failed_searches(&failed_searches);
    for m in &messages {
        let known_found_nothing = conversations.get(&m.event.conversation_id).is_some_and(|(c, _)| c.found_nothing);
        if let (Some(product), true) = (&m.facts.product, known_found_nothing) {
            products.add(&m.domain, product, &m.event.content, m.event.at, false);
        }
    }
    let candidates: Vec<String> = found_nothing_candidates.into_iter().collect();
    for (domain, product, text, at) in flag_found_nothing(&mut tx, &candidates).await? {
        products.add(&domain, &product, &text, at, false);
    }
    add_product_rollups(&mut tx, &products).await?;
    upsert_extractions(&mut tx, &extractions).await?;
    upsert_pages(&mut tx, &pages).await?;
    upsert_scrape_jobs(&mut tx, &scrape_jobs).await?;
    upsert_shop(&mut tx, &shop).await?;
    add_rollups(&mut tx, &delta).await?;
    add_content_rollups(&mut tx, &content_delta).await?;
    tx.commit().await?;

    let ended_ids: HashSet<&String> = ended.iter().collect();
    let live = sessions
        .values()
        .filter(|(_, dirty)| *dirty)
        .map(|(s, _)| LiveChange {
            kind: if ended_ids.contains(&s.session_id) {
                LiveKind::Ended
            } else if known.contains(&s.session_id) {
                LiveKind::Updated
            } else {
                LiveKind::Started
            },
            session_id: s.session_id.clone(),
            domain: s.domain.clone(),
            model: s.model.clone(),
            start_time: s.start_time,
            input_tokens: s.usage.input,
            output_tokens: s.usage.output,
            cost_nanos: s.cost_nanos,
            success: s.success,
        })
        .collect();
    let ended = ended.len();
    let backfilled = inserted.len();
    if let Some(cache) = cache {
        cache.keep(sessions.into_values().map(|(s, _)| s));
    }
    Ok(BatchOutcome { rejections, ended, backfilled, live })
}

const CONVERSATION_COLUMNS: &str = "id, domain, created_at, updated_at, metadata, first_user_message, \
    message_count, user_message_count, pending_count, pending_sum, last_user_answered, \
    last_user_negative, resolved, hits_es, hits_fr, hits_de, non_latin_letters, letters, language, message_ids, found_nothing";

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
        found_nothing: row.try_get("found_nothing")?,
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
                .push_bind(serde_json::to_string(&c.message_ids).unwrap_or_else(|_| "[]".into()))
                .push_bind(c.found_nothing);
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

/// Marks those of `ids` that have a session which searched and found nothing, unless already
/// marked, and returns the product questions of the newly marked ones (this batch's included):
/// (domain, product, text, time).
async fn flag_found_nothing(tx: &mut Tx<'_>, ids: &[String]) -> sqlx::Result<Vec<(String, String, String, Micros)>> {
    let mut questions = Vec::new();
    for chunk in ids.chunks(CHUNK) {
        let mut q = QueryBuilder::<DB>::new(
            "UPDATE conversations SET found_nothing = TRUE WHERE NOT found_nothing AND EXISTS (\
             SELECT 1 FROM chat_telemetry t WHERE t.conversation_id = conversations.id \
             AND t.end_time IS NOT NULL AND t.search_count > 0 AND t.total_results = 0) AND id IN (",
        );
        let mut list = q.separated(", ");
        for id in chunk {
            list.push_bind(id.clone());
        }
        q.push(") RETURNING id");
        let flagged: Vec<String> = q.build_query_scalar().fetch_all(&mut **tx).await?;
        if flagged.is_empty() {
            continue;
        }
        let mut q = QueryBuilder::<DB>::new(
            "SELECT domain, product, content, created_at FROM messages \
             WHERE role = 'user' AND product IS NOT NULL AND conversation_id IN (",
        );
        let mut list = q.separated(", ");
        for id in &flagged {
            list.push_bind(id.clone());
        }
        q.push(")");
        for row in q.build().fetch_all(&mut **tx).await? {
            questions.push((row.try_get(0)?, row.try_get(1)?, row.try_get(2)?, row.try_get(3)?));
        }
    }
    Ok(questions)
}

async fn add_product_counts(
    tx: &mut Tx<'_>,
    table: &str,
    rows: &HashMap<(String, Micros, String), ProductCounts>,
) -> sqlx::Result<()> {
    let rows: Vec<_> = rows.iter().collect();
    for chunk in rows.chunks(CHUNK) {
        let mut q = QueryBuilder::<DB>::new(format!(
            "INSERT INTO {table} (domain, bucket, product, requests, failed_searches, last_at) "
        ));
        q.push_values(chunk, |mut b, ((domain, bucket, product), c)| {
            b.push_bind(domain.clone())
                .push_bind(*bucket)
                .push_bind(product.clone())
                .push_bind(c.requests)
                .push_bind(c.failed_searches)
                .push_bind(c.last_at);
        });
        q.push(format!(
            " ON CONFLICT (domain, bucket, product) DO UPDATE SET requests = {table}.requests + excluded.requests, \
             failed_searches = {table}.failed_searches + excluded.failed_searches, \
             last_at = CASE WHEN excluded.last_at > {table}.last_at THEN excluded.last_at ELSE {table}.last_at END"
        ));
        q.build().execute(&mut **tx).await?;
    }
    Ok(())
}

async fn add_product_rollups(tx: &mut Tx<'_>, delta: &ProductDelta) -> sqlx::Result<()> {
    add_product_counts(tx, "product_rollup_hourly", &delta.hourly).await?;
    add_product_counts(tx, "product_rollup_daily", &delta.daily).await?;
    let examples: Vec<_> = delta.examples.iter().collect();
    for chunk in examples.chunks(CHUNK) {
        let mut q = QueryBuilder::<DB>::new("INSERT INTO product_examples (domain, product, text, last_at) ");
        q.push_values(chunk, |mut b, ((domain, product, text), at)| {
            b.push_bind(domain.clone()).push_bind(product.clone()).push_bind(text.clone()).push_bind(**at);
        });
        q.push(
            " ON CONFLICT (domain, product, text) DO UPDATE SET last_at = \
             CASE WHEN excluded.last_at > product_examples.last_at THEN excluded.last_at ELSE product_examples.last_at END",
        );
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
