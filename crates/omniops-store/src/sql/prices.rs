// Prices, and repricing stored sessions and rollups when they change.
use super::config::put_setting_in;
use super::ingest::{begin_write, Tx, CHUNK};
use super::rollups::{counters_from_row, saturating_add, COUNTER_COLUMNS};
use super::sessions::{session_from_row, Scope, SESSION_COLUMNS};
use super::{DB, ROW_LOCKS};
use crate::{UnpricedModel, DEFAULT_PRICES_SETTING};
use omniops_core::clock::{floor_day, floor_hour, Micros};
use omniops_core::limits::MAX_AHEAD_MICROS;
use omniops_core::pricing::{Origin, PriceEntry, PriceTable};
use omniops_core::session::Session;
use omniops_core::usage::TokenUsage;
use sqlx::{Pool, QueryBuilder, Row};
use std::collections::{HashMap, HashSet};

pub(crate) fn price_from_row(row: &<DB as sqlx::Database>::Row) -> Result<PriceEntry, String> {
    let get = |name: &str| -> Result<Option<String>, String> {
        row.try_get(name).map_err(|e| e.to_string())
    };
    let dec = |name: &str| -> Result<Option<rust_decimal::Decimal>, String> {
        get(name)?
            .map(|t| t.parse().map_err(|e| format!("{name}: {e}")))
            .transpose()
    };
    let required =
        |v: Option<rust_decimal::Decimal>, name: &str| v.ok_or_else(|| format!("{name} missing"));
    let effective = get("effective_from")?.unwrap_or_default();
    let origin = get("origin")?.unwrap_or_default();
    Ok(PriceEntry {
        model: get("model")?.unwrap_or_default(),
        aliases: serde_json::from_str(&get("aliases")?.unwrap_or_default()).unwrap_or_default(),
        pattern: get("pattern")?,
        input: required(dec("input")?, "input")?,
        cached_input: dec("cached_input")?,
        cache_write: dec("cache_write")?,
        cache_write_1h: dec("cache_write_1h")?,
        output: required(dec("output")?, "output")?,
        reasoning: dec("reasoning")?,
        tiers: serde_json::from_str(&get("tiers")?.unwrap_or_else(|| "[]".into()))
            .map_err(|e| format!("tiers: {e}"))?,
        effective_from: chrono::NaiveDate::parse_from_str(&effective, "%Y-%m-%d")
            .map_err(|e| e.to_string())?,
        source: get("source")?.unwrap_or_default(),
        origin: Origin::parse(&origin).ok_or_else(|| format!("origin `{origin}`"))?,
    })
}

pub(crate) const PRICE_COLUMNS: &str =
    "model, effective_from, aliases, pattern, input, cached_input, cache_write, \
    cache_write_1h, output, reasoning, tiers, source, origin, updated_at";

/// What an upsert of a price row may change.
pub(crate) const PRICE_UPDATE: &str = " ON CONFLICT (model, effective_from) DO UPDATE SET aliases = excluded.aliases, \
    pattern = excluded.pattern, input = excluded.input, cached_input = excluded.cached_input, \
    cache_write = excluded.cache_write, cache_write_1h = excluded.cache_write_1h, output = excluded.output, \
    reasoning = excluded.reasoning, tiers = excluded.tiers, source = excluded.source, origin = excluded.origin, \
    updated_at = excluded.updated_at";

pub(crate) async fn load_prices_with<'e, E>(executor: E) -> anyhow::Result<Vec<PriceEntry>>
where
    E: sqlx::Executor<'e, Database = DB>,
{
    let rows = sqlx::query(&format!(
        "SELECT {PRICE_COLUMNS} FROM model_prices ORDER BY model, effective_from"
    ))
    .fetch_all(executor)
    .await?;
    rows.iter()
        .map(|r| price_from_row(r).map_err(|e| anyhow::anyhow!("bad stored price: {e}")))
        .collect()
}

pub async fn load_prices(pool: &Pool<DB>) -> anyhow::Result<Vec<PriceEntry>> {
    load_prices_with(pool).await
}

/// Rows per price insert: 14 columns × 500.
pub(crate) const PRICE_CHUNK: usize = 500;

pub(crate) async fn insert_prices(
    tx: &mut Tx<'_>,
    entries: &[PriceEntry],
    conflict: &str,
    now: Micros,
) -> sqlx::Result<()> {
    let text = |d: Option<rust_decimal::Decimal>| d.map(|d| d.to_string());
    for chunk in entries.chunks(PRICE_CHUNK) {
        let mut q = QueryBuilder::<DB>::new(format!("INSERT INTO model_prices ({PRICE_COLUMNS}) "));
        q.push_values(chunk, |mut b, e| {
            b.push_bind(e.model.clone())
                .push_bind(e.effective_from.format("%Y-%m-%d").to_string())
                .push_bind(serde_json::to_string(&e.aliases).unwrap_or_else(|_| "[]".into()))
                .push_bind(e.pattern.clone())
                .push_bind(e.input.to_string())
                .push_bind(text(e.cached_input))
                .push_bind(text(e.cache_write))
                .push_bind(text(e.cache_write_1h))
                .push_bind(e.output.to_string())
                .push_bind(text(e.reasoning))
                .push_bind(serde_json::to_string(&e.tiers).unwrap_or_else(|_| "[]".into()))
                .push_bind(e.source.clone())
                .push_bind(e.origin.as_str())
                .push_bind(now);
        });
        q.push(conflict);
        q.build().execute(&mut **tx).await?;
    }
    Ok(())
}

/// Replaces the shipped default rows with `entries` (skipping models a user priced) and
/// records `fingerprint`, in one transaction.
pub async fn replace_default_prices(
    pool: &Pool<DB>,
    entries: &[PriceEntry],
    fingerprint: &str,
    now: Micros,
) -> sqlx::Result<()> {
    let mut tx = begin_write(pool).await?;
    let user: HashSet<String> = sqlx::query_scalar::<_, String>(
        "SELECT DISTINCT lower(model) FROM model_prices WHERE origin = 'user'",
    )
    .fetch_all(&mut *tx)
    .await?
    .into_iter()
    .collect();
    // A model a user priced keeps the defaults it had (they still price its sessions from
    // before the user's date): a release changes nothing of it.
    sqlx::query(
        "DELETE FROM model_prices WHERE origin = 'default' \
         AND lower(model) NOT IN (SELECT lower(model) FROM model_prices WHERE origin = 'user')",
    )
    .execute(&mut *tx)
    .await?;
    let shipped: Vec<PriceEntry> = entries
        .iter()
        .filter(|e| !user.contains(&e.model))
        .cloned()
        .collect();
    // An imported row for the same model and date stays.
    insert_prices(
        &mut tx,
        &shipped,
        " ON CONFLICT (model, effective_from) DO NOTHING",
        now,
    )
    .await?;
    put_setting_in(&mut tx, DEFAULT_PRICES_SETTING, fingerprint).await?;
    tx.commit().await
}

/// Stores a user's entry (replacing one of the same model and date).
pub async fn put_user_price(pool: &Pool<DB>, entry: &PriceEntry, now: Micros) -> sqlx::Result<()> {
    let mut tx = begin_write(pool).await?;
    insert_prices(&mut tx, std::slice::from_ref(entry), PRICE_UPDATE, now).await?;
    tx.commit().await
}

/// Stores imported entries; a row a user set is never replaced.
pub async fn put_imported_prices(
    pool: &Pool<DB>,
    entries: &[PriceEntry],
    now: Micros,
) -> sqlx::Result<()> {
    let mut tx = begin_write(pool).await?;
    let conflict = format!("{PRICE_UPDATE} WHERE model_prices.origin <> 'user'");
    insert_prices(&mut tx, entries, &conflict, now).await?;
    tx.commit().await
}

/// Distinct models of stored sessions and rollups (as sent), of one domain or all (`''`).
pub async fn stored_models(pool: &Pool<DB>, scope: &str) -> sqlx::Result<Vec<String>> {
    // `model || ''` keeps SQLite on the live-sessions index: a bare `model` lets it walk the
    // whole (model, start_time, id) index for the DISTINCT instead (a full scan).
    let scope = Scope(scope);
    let sql = format!(
        "SELECT DISTINCT model FROM rollup_daily WHERE domain = {} AND model <> '' \
         UNION SELECT DISTINCT model || '' FROM chat_telemetry WHERE end_time IS NULL{}",
        scope.rollup_domain(),
        scope.raw_filter()
    );
    let rows = scope.bind(sqlx::query(&sql)).fetch_all(pool).await?;
    rows.iter().map(|row| row.try_get(0)).collect()
}

/// Cost and unpriced-count changes per (hour, domain, model) pair row.
pub(crate) type CostDeltas = HashMap<(Micros, String, String), (i64, i64)>;

/// What one slice of repricing did.
pub(crate) struct SliceDone {
    /// Sessions read.
    pub seen: u64,
    /// Sessions whose cost or calls changed.
    pub changed: u64,
    /// The cursor of the next slice (`None` when this was the model's last).
    pub next: Option<(Micros, String)>,
    /// Changed sessions still live: caches holding them must drop them.
    pub live: Vec<String>,
}

/// Up to `slice` sessions of `model` after `cursor` (start time, id) priced again with
/// `table`; each ended session's change of cost goes to its rollup rows, so the rollups
/// stay the exact sum of their sessions. Only sessions stored by `stored_by` are read:
/// those stored after the price change were priced with it.
pub(crate) async fn reprice_slice(
    tx: &mut Tx<'_>,
    table: &PriceTable,
    model: &str,
    cursor: &(Micros, String),
    slice: i64,
    stored_by: Micros,
) -> anyhow::Result<SliceDone> {
    // A row-value comparison, so that both engines seek the (model, start_time, id) index
    // to the cursor: spelt with OR, PostgreSQL filters from the model's first session on,
    // and each slice took longer than the one before. The start bound ends the job even
    // while the model's sessions keep arriving: none stored by then starts later.
    let rows = sqlx::query(&format!(
        "SELECT {SESSION_COLUMNS} FROM chat_telemetry WHERE model = $1 \
         AND (start_time, id) > ($2, $3) AND start_time <= $5 AND created_at <= $6 \
         ORDER BY start_time, id LIMIT $4"
    ))
    .bind(model)
    .bind(cursor.0)
    .bind(&cursor.1)
    .bind(slice)
    .bind(stored_by.saturating_add(MAX_AHEAD_MICROS))
    .bind(stored_by)
    .fetch_all(&mut **tx)
    .await?;
    let mut sessions = rows
        .iter()
        .map(session_from_row)
        .collect::<sqlx::Result<Vec<_>>>()?;
    let last = sessions.last().map(|s| (s.start_time, s.id.clone()));
    if ROW_LOCKS {
        // Batches run beside this step on PostgreSQL: read the sessions this table changes
        // again under row locks (taken in the batches' order, by session id, so neither
        // waits on the other in a cycle), as the batch before left them. Those it leaves
        // as they are are not locked: a batch writing one meanwhile prices with the same
        // table. At the job's end, where the sessions stored since the change are read,
        // a step then takes no lock at all. A session that changed model was priced by
        // the batch that changed it.
        let stale: Vec<String> = sessions
            .iter()
            .filter(|s| repriced(s, table).is_some())
            .map(|s| s.session_id.clone())
            .collect();
        sessions = super::rows::load_sessions(tx, &stale).await?;
        sessions.retain(|s| s.model == model);
    }
    let mut changed: Vec<Session> = Vec::new();
    let mut deltas = CostDeltas::new();
    for before in sessions {
        let Some(session) = repriced(&before, table) else {
            continue;
        };
        if session.end_time.is_some() {
            let delta = deltas
                .entry((
                    floor_hour(session.start_time),
                    session.domain.clone(),
                    session.model.clone(),
                ))
                .or_default();
            delta.0 += session.cost_nanos.unwrap_or(0) - before.cost_nanos.unwrap_or(0);
            delta.1 +=
                i64::from(session.cost_nanos.is_none()) - i64::from(before.cost_nanos.is_none());
        }
        changed.push(session);
    }
    super::rows::write_prices(tx, &changed).await?;
    add_cost_deltas(tx, &deltas).await?;
    Ok(SliceDone {
        seen: rows.len() as u64,
        changed: changed.len() as u64,
        next: if rows.len() as i64 == slice {
            last
        } else {
            None
        },
        live: changed
            .iter()
            .filter(|s| s.end_time.is_none())
            .map(|s| s.session_id.clone())
            .collect(),
    })
}

/// `session` priced again with `table`, if that changes its cost, its price or its calls.
fn repriced(session: &Session, table: &PriceTable) -> Option<Session> {
    let mut after = session.clone();
    after.reprice(table);
    let same = after.cost_nanos == session.cost_nanos
        && after.price == session.price
        && after.calls == session.calls;
    (!same).then_some(after)
}

/// Rollup hours in [from, until) of `models` priced from their token sums at the base rates.
pub(crate) async fn reprice_buckets(
    tx: &mut Tx<'_>,
    table: &PriceTable,
    models: &[String],
    from: Micros,
    until: Micros,
) -> anyhow::Result<u64> {
    let mut deltas = CostDeltas::new();
    for model in models {
        let rows = sqlx::query(&format!(
            "SELECT bucket, domain, {COUNTER_COLUMNS} FROM rollup_hourly \
             WHERE model = $1 AND domain <> '' AND bucket >= $2 AND bucket < $3"
        ))
        .bind(model)
        .bind(from)
        .bind(until)
        .fetch_all(&mut **tx)
        .await?;
        for row in &rows {
            let bucket: Micros = row.try_get(0)?;
            let c = counters_from_row(row, 2)?;
            let usage = TokenUsage {
                input: c.input_tokens,
                cached_input: c.cached_input_tokens,
                cache_write: c.cache_write_tokens,
                output: c.output_tokens,
                reasoning: c.reasoning_tokens,
            };
            let (cost, unpriced) = match table.lookup(model, bucket) {
                Some(e) => (e.base_cost(&usage), 0),
                None => (0, c.requests),
            };
            if (cost, unpriced) != (c.cost_nanos, c.unpriced) {
                deltas.insert(
                    (bucket, row.try_get(1)?, model.clone()),
                    (cost - c.cost_nanos, unpriced - c.unpriced),
                );
            }
        }
    }
    let changed = deltas.len() as u64;
    add_cost_deltas(tx, &deltas).await?;
    Ok(changed)
}

/// Adds cost and unpriced-count changes of pair rows to them, to their all-domains and
/// all-models rows, hourly and daily.
pub(crate) async fn add_cost_deltas(tx: &mut Tx<'_>, deltas: &CostDeltas) -> sqlx::Result<()> {
    let mut rows: HashMap<(&str, Micros, &str, &str), (i64, i64)> = HashMap::new();
    for ((hour, domain, model), (cost, unpriced)) in deltas {
        for (table, bucket) in [("rollup_hourly", *hour), ("rollup_daily", floor_day(*hour))] {
            for (d, m) in [
                (domain.as_str(), model.as_str()),
                (domain.as_str(), ""),
                ("", model.as_str()),
                ("", ""),
            ] {
                let row = rows.entry((table, bucket, d, m)).or_default();
                row.0 += cost;
                row.1 += unpriced;
            }
        }
    }
    for table in ["rollup_hourly", "rollup_daily"] {
        let mut of_table: Vec<_> = rows.iter().filter(|((t, ..), _)| *t == table).collect();
        // In key order, as batches lock rollup rows ([`super::rollups::add_counters`]).
        of_table.sort_unstable_by_key(|((_, bucket, domain, model), _)| (*domain, *bucket, *model));
        for chunk in of_table.chunks(CHUNK) {
            let mut q = QueryBuilder::<DB>::new(format!(
                "UPDATE {table} SET cost_nanos = {}, unpriced = {} FROM (",
                saturating_add(&format!("{table}.cost_nanos"), "v.column4"),
                saturating_add(&format!("{table}.unpriced"), "v.column5")
            ));
            q.push_values(
                chunk,
                |mut b, ((_, bucket, domain, model), (cost, unpriced))| {
                    b.push_bind(*bucket)
                        .push_bind(domain.to_string())
                        .push_bind(model.to_string())
                        .push_bind(*cost)
                        .push_bind(*unpriced);
                },
            );
            q.push(format!(") AS v WHERE {table}.bucket = v.column1 AND {table}.domain = v.column2 AND {table}.model = v.column3"));
            q.build()
                .persistent(chunk.len() == CHUNK)
                .execute(&mut **tx)
                .await?;
        }
    }
    Ok(())
}

/// Models seen without a price, of one domain or all (`''`): ended sessions from the daily
/// rollups, and live ones (grouped by `model || ''` for the reason given at
/// [`stored_models`]).
pub async fn unpriced_models(pool: &Pool<DB>, scope: &str) -> sqlx::Result<Vec<UnpricedModel>> {
    let scope = Scope(scope);
    let sql = format!(
        "SELECT model, CAST(SUM(unpriced) AS BIGINT), MAX(bucket) FROM rollup_daily \
         WHERE unpriced > 0 AND domain = {} AND model <> '' GROUP BY model \
         UNION ALL SELECT model || '', CAST(COUNT(*) AS BIGINT), MAX(start_time) FROM chat_telemetry \
         WHERE end_time IS NULL AND cost_nanos IS NULL{} GROUP BY model || ''",
        scope.rollup_domain(),
        scope.raw_filter()
    );
    let rows = scope.bind(sqlx::query(&sql)).fetch_all(pool).await?;
    let mut by_model: HashMap<String, UnpricedModel> = HashMap::new();
    for row in &rows {
        let model: String = row.try_get(0)?;
        let sessions: i64 = row.try_get(1)?;
        let last: Micros = row.try_get(2)?;
        let entry = by_model.entry(model.clone()).or_insert(UnpricedModel {
            model,
            sessions: 0,
            last_seen: last,
        });
        entry.sessions += sessions;
        entry.last_seen = entry.last_seen.max(last);
    }
    let mut models: Vec<_> = by_model.into_values().collect();
    models.sort_by(|a, b| {
        b.sessions
            .cmp(&a.sessions)
            .then_with(|| a.model.cmp(&b.model))
    });
    Ok(models)
}

/// Records the (model, domain) pairs of new unpriced sessions; returns those seen for the
/// first time, which the live stream announces.
pub(crate) async fn first_unpriced(
    tx: &mut Tx<'_>,
    pairs: &HashSet<(String, String)>,
    now: Micros,
) -> sqlx::Result<Vec<(String, String)>> {
    let mut first = Vec::new();
    let pairs: Vec<_> = pairs.iter().collect();
    for chunk in pairs.chunks(CHUNK) {
        let mut q =
            QueryBuilder::<DB>::new("INSERT INTO unpriced_seen (model, domain, first_seen) ");
        q.push_values(chunk, |mut b, (model, domain)| {
            b.push_bind(model.clone())
                .push_bind(domain.clone())
                .push_bind(now);
        });
        q.push(" ON CONFLICT (model, domain) DO NOTHING RETURNING model, domain");
        for row in q
            .build()
            .persistent(chunk.len() == CHUNK)
            .fetch_all(&mut **tx)
            .await?
        {
            first.push((row.try_get(0)?, row.try_get(1)?));
        }
    }
    Ok(first)
}
