// The write path of ingest batches: sessions, their ends and backfills, in one transaction
// with their rollup deltas.

use super::ingest_content::{upsert_extractions, upsert_pages, upsert_scrape_jobs, upsert_shop};
use super::ingest_conversations::{
    add_content_rollups, add_customer_hours, conversations_of_customers, insert_failed_searches,
    insert_messages, load_conversations, upsert_conversations,
};
use super::missing::{add_needs, flag_found_nothing};
use super::prices::first_unpriced;
use super::rollups::add_rollups;
use super::{DB, ROW_LOCKS};
use crate::batch::{found_nothing, ContentDelta, FailedSearch, LiveCache, Plan, RollupDelta};
use crate::{batch, BatchOutcome, LiveChange, LiveKind};
use omniops_core::clock::Micros;
use omniops_core::conversation::Conversation;
use omniops_core::needs::NeedItem;
use omniops_core::pricing::PriceTable;
use omniops_core::session::Session;
use sqlx::{Pool, QueryBuilder, Transaction};
use std::collections::{HashMap, HashSet};

pub(crate) type Tx<'a> = Transaction<'a, DB>;

/// A write transaction. On SQLite it takes the write lock at once (`BEGIN IMMEDIATE`): a
/// deferred transaction that has read cannot upgrade once another connection committed
/// (SQLITE_BUSY_SNAPSHOT, e.g. the retention job), while an immediate one waits for the
/// lock under the busy timeout.
pub(crate) async fn begin_write(pool: &Pool<DB>) -> sqlx::Result<Tx<'static>> {
    if <DB as sqlx::Database>::NAME == "SQLite" {
        pool.begin_with("BEGIN IMMEDIATE").await
    } else {
        pool.begin().await
    }
}

/// An ingest batch's transaction. On PostgreSQL its statements match the batch's ids
/// against stored rows, where probing each id in its index is always the right plan; but a
/// week's partition that grew since its last `ANALYZE` (a new week, or autovacuum off) led
/// the planner to sort both sides for a merge join, reading the whole partition for each
/// statement (live path 11 % slower at 300k sessions over 90 days). Repricing steps, which
/// match a slice's ids the same way, use it too.
pub(crate) async fn begin_batch(pool: &Pool<DB>) -> sqlx::Result<Tx<'static>> {
    if <DB as sqlx::Database>::NAME == "SQLite" {
        begin_write(pool).await
    } else {
        pool.begin_with("BEGIN; SET LOCAL enable_mergejoin = off; SET LOCAL enable_hashjoin = off")
            .await
    }
}

/// Rows per multi-row statement: 30 columns × 1,000 stays under both engines' bind limits.
/// Only full chunks keep their prepared statement (`persistent`): one of 1,000 rows takes
/// about a megabyte prepared, and a partial chunk's row count rarely comes back.
pub(crate) const CHUNK: usize = 1_000;

/// Rows of `select` (ending in `… IN (`) for every id, a chunk of ids per statement.
/// With `lock_by` (the id column), rows are locked for the rest of the transaction on
/// PostgreSQL, in id order: another instance's batch touching the same rows waits and then
/// sees them as this batch left them (e.g. a session ended by both is ended once).
pub(crate) async fn fetch_by_ids<T>(
    tx: &mut Tx<'_>,
    select: &str,
    ids: &[String],
    lock_by: Option<&str>,
    decode: fn(&<DB as sqlx::Database>::Row) -> sqlx::Result<T>,
) -> sqlx::Result<Vec<T>> {
    let mut found = Vec::with_capacity(ids.len());
    let mut ids: Vec<&String> = ids.iter().collect();
    ids.sort();
    for chunk in ids.chunks(CHUNK) {
        let mut q = QueryBuilder::<DB>::new(select);
        let mut list = q.separated(", ");
        for id in chunk {
            list.push_bind((*id).clone());
        }
        q.push(")");
        if let (Some(column), true) = (lock_by, ROW_LOCKS) {
            q.push(format!(" ORDER BY {column} FOR UPDATE"));
        }
        for row in q
            .build()
            .persistent(chunk.len() == CHUNK)
            .fetch_all(&mut **tx)
            .await?
        {
            found.push(decode(&row)?);
        }
    }
    Ok(found)
}

/// Applies one batch of ingest requests in one transaction: raw rows, event ids and
/// rollups commit together or not at all.
pub async fn apply_batch(
    pool: &Pool<DB>,
    requests: &[batch::Request<'_>],
    prices: &PriceTable,
    now: Micros,
    mut cache: Option<&mut LiveCache>,
) -> sqlx::Result<BatchOutcome> {
    // Another writer (an instance, or one of this instance's writers on PostgreSQL) may
    // create a session this batch planned as new: the batch is then planned again, and
    // finds it. Writers may also deadlock on rows both touch: the database rolls one back,
    // which plans again. Each loss means another writer committed, so a batch losing
    // `ATTEMPTS` times in a row takes many writers sending the same new sessions at once.
    const ATTEMPTS: usize = 10;
    for _ in 0..ATTEMPTS {
        match apply_once(pool, requests, prices, now, cache.as_deref_mut()).await {
            Ok(Some(outcome)) => return Ok(outcome),
            Ok(None) => {}
            Err(sqlx::Error::Database(e)) if matches!(e.code().as_deref(), Some("40P01")) => {}
            Err(e) => return Err(e),
        }
    }
    Err(sqlx::Error::Protocol(format!(
        "another writer created this batch's new sessions, or deadlocked with it, {ATTEMPTS} times in a row"
    )))
}

/// [`apply_batch`], or `None` when another writer created one of its new sessions first.
async fn apply_once(
    pool: &Pool<DB>,
    requests: &[batch::Request<'_>],
    prices: &PriceTable,
    now: Micros,
    cache: Option<&mut LiveCache>,
) -> sqlx::Result<Option<BatchOutcome>> {
    let mut tx = begin_batch(pool).await?;
    let (ids, conversation_ids) = batch::ids_to_load(requests);
    let mut cache = cache;
    // Sessions taken from the cache go back only after a commit: on failure the store is the truth.
    let (mut loaded, missing) = match cache.as_deref_mut() {
        Some(cache) => cache.take(ids),
        None => (Vec::new(), ids),
    };
    loaded.extend(super::rows::load_sessions(&mut tx, &missing).await?);
    let known: HashSet<String> = loaded.iter().map(|s| s.session_id.clone()).collect();
    // Stored sessions and where they start, as stored (PostgreSQL finds their week by it).
    let stored_starts: HashMap<String, Micros> = loaded
        .iter()
        .map(|s| (s.session_id.clone(), s.start_time))
        .collect();
    // A new conversation of a known customer may follow up (or be followed by) the
    // customer's others: those within 24 h are loaded too (README: analytics).
    let mut conversation_ids = conversation_ids;
    let customers = batch::customers_to_load(requests);
    conversation_ids.extend(conversations_of_customers(&mut tx, &customers).await?);
    conversation_ids.sort();
    conversation_ids.dedup();
    let conversations = load_conversations(&mut tx, &conversation_ids).await?;
    let plan = batch::plan(requests, loaded, conversations, prices, || {
        uuid::Uuid::now_v7().to_string()
    });
    let content_delta = ContentDelta::of_plan(&plan);
    // Conversations that may now count as having found nothing: new ones (a session may have
    // ended before its conversation arrived) and those of sessions that found nothing.
    let mut found_nothing_candidates: HashSet<String> = plan
        .conversations
        .keys()
        .filter(|id| !plan.conversations_before.contains_key(*id))
        .cloned()
        .collect();
    let plan_before: HashSet<String> = plan.conversations_before.keys().cloned().collect();
    let Plan {
        sessions,
        backfills,
        ended,
        settled,
        rejections,
        conversations,
        messages,
        mut failed_searches,
        extractions,
        pages,
        scrape_jobs,
        shop,
        ..
    } = plan;

    let (closed, dirty): (Vec<&Session>, Vec<&Session>) = sessions
        .values()
        .filter(|(_, d)| *d)
        .map(|(s, _)| s)
        .partition(|s| settled.contains(&s.session_id));
    if !super::rows::write_sessions(&mut tx, &dirty, &stored_starts, now).await? {
        return Ok(None);
    }
    super::rows::write_session_ends(&mut tx, &closed, &stored_starts).await?;
    let inserted = super::rows::insert_backfills(&mut tx, &backfills, now).await?;
    let changed: Vec<&Conversation> = conversations
        .values()
        .filter(|(_, d)| *d)
        .map(|(c, _)| c)
        .collect();
    upsert_conversations(&mut tx, &changed).await?;
    let customer_hours: Vec<(String, Micros, String)> = changed
        .iter()
        .filter(|c| !plan_before.contains(&c.id))
        .filter_map(|c| {
            let customer = c.customer.clone()?;
            Some((
                c.domain.clone(),
                omniops_core::clock::floor_hour(c.created_at),
                customer,
            ))
        })
        .collect();
    add_customer_hours(&mut tx, &customer_hours).await?;
    insert_messages(&mut tx, &messages).await?;

    // Ended live sessions and newly inserted backfills count in the rollups.
    let finished = ended
        .iter()
        .filter_map(|id| sessions.get(id).map(|(s, _)| s));
    let finished: Vec<&Session> = finished
        .chain(
            backfills
                .iter()
                .filter(|s| inserted.contains(&s.session_id)),
        )
        .collect();
    let delta = RollupDelta::of_sessions(finished.iter().copied());
    for session in finished {
        if found_nothing(session) {
            found_nothing_candidates.extend(session.conversation_id.clone());
        }
    }
    for session in backfills
        .iter()
        .filter(|s| inserted.contains(&s.session_id))
    {
        failed_searches.extend(FailedSearch::from_backfill(session));
    }
    insert_failed_searches(&mut tx, &failed_searches).await?;

    let candidates: Vec<String> = found_nothing_candidates.into_iter().collect();
    write_product_demand(
        &mut tx,
        &failed_searches,
        &messages,
        &conversations,
        &candidates,
    )
    .await?;
    upsert_extractions(&mut tx, &extractions).await?;
    upsert_pages(&mut tx, &pages).await?;
    upsert_scrape_jobs(&mut tx, &scrape_jobs).await?;
    upsert_shop(&mut tx, &shop).await?;
    add_rollups(&mut tx, &delta).await?;
    add_content_rollups(&mut tx, &content_delta).await?;
    let new_unpriced = new_unpriced(&sessions, &known, &backfills, &inserted);
    let unpriced = first_unpriced(&mut tx, &new_unpriced, now).await?;
    tx.commit().await?;

    let live = live_changes(&sessions, &known, &ended);
    let ended = ended.len();
    let backfilled = inserted.len();
    if let Some(cache) = cache {
        cache.keep(sessions.into_values().map(|(s, _)| s));
    }
    Ok(Some(BatchOutcome {
        rejections,
        ended,
        backfilled,
        live,
        unpriced,
    }))
}

/// The products asked for and not found, from this batch: failed searches, and questions
/// in conversations that found nothing (known now, or flagged by this batch), counted once
/// per need (README: analytics).
async fn write_product_demand(
    tx: &mut Transaction<'_, DB>,
    failed_searches: &[FailedSearch],
    messages: &[batch::NewMessage],
    conversations: &HashMap<String, (Conversation, bool)>,
    candidates: &[String],
) -> sqlx::Result<()> {
    let mut items: Vec<NeedItem> = failed_searches
        .iter()
        .filter_map(|f| {
            Some(NeedItem {
                domain: f.domain.clone(),
                key: f.need.clone(),
                product: f.product.clone()?,
                text: f.query.clone(),
                at: f.at,
                failed_search: true,
            })
        })
        .collect();
    for m in messages {
        let known_found_nothing = conversations
            .get(&m.event.conversation_id)
            .is_some_and(|(c, _)| c.found_nothing);
        if let (Some(product), true) = (&m.facts.product, known_found_nothing) {
            items.push(NeedItem {
                domain: m.domain.clone(),
                key: m.event.conversation_id.clone(),
                product: product.clone(),
                text: m.event.content.clone(),
                at: m.event.at,
                failed_search: false,
            });
        }
    }
    items.extend(flag_found_nothing(tx, candidates).await?);
    add_needs(tx, items).await
}

/// New sessions of a model without a price: the first per (model, domain) is announced.
fn new_unpriced(
    sessions: &HashMap<String, (Session, bool)>,
    known: &HashSet<String>,
    backfills: &[Session],
    inserted: &HashSet<String>,
) -> HashSet<(String, String)> {
    sessions
        .values()
        .filter(|(s, dirty)| *dirty && !known.contains(&s.session_id))
        .map(|(s, _)| s)
        .chain(
            backfills
                .iter()
                .filter(|s| inserted.contains(&s.session_id)),
        )
        .filter(|s| s.cost_nanos.is_none() && s.model != omniops_core::span::UNKNOWN_MODEL)
        .map(|s| (s.model.clone(), s.domain.clone()))
        .collect()
}

/// What the live stream announces of the batch's changed sessions.
fn live_changes(
    sessions: &HashMap<String, (Session, bool)>,
    known: &HashSet<String>,
    ended: &[String],
) -> Vec<LiveChange> {
    let ended_ids: HashSet<&String> = ended.iter().collect();
    sessions
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
        .collect()
}
