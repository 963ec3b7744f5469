//! Raw session rows on PostgreSQL, where `chat_telemetry` is partitioned by week (migration
//! 0018): a unique index cannot span partitions, so `chat_telemetry_keys` keeps each
//! session id once; rows are written as arrays (`UNNEST`), one statement per kind of write
//! whatever the batch's size; retention drops whole weeks.

use super::ingest::Tx;
use super::retention::delete_in_slices;
use super::sessions::{session_from_row, SESSION_COLUMNS};
use super::DB;
use omniops_core::clock::Micros;
use omniops_core::session::{calls_to_json, Session};
use sqlx::postgres::PgArguments;
use sqlx::query::Query;
use sqlx::Pool;
use std::collections::{HashMap, HashSet};

/// The element types of `SESSION_COLUMNS`, in order.
const SESSION_ARRAYS: &str = "UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], \
    $6::int8[], $7::int8[], $8::int8[], $9::int8[], $10::int8[], $11::int8[], $12::text[], \
    $13::int8[], $14::int8[], $15::int8[], $16::int8[], $17::int8[], $18::int8[], $19::bool[], \
    $20::text[], $21::text[], $22::text[], $23::int8[], $24::text[], $25::int8[], $26::int8[], \
    $27::int8[], $28::text[], $29::text[], $30::text[])";

/// What a later event may change in a stored session.
const UPDATED: &str = "end_time = v.end_time, duration_ms = v.duration_ms, \
    iterations = v.iterations, search_count = v.search_count, total_results = v.total_results, \
    searches = v.searches, input_tokens = v.input_tokens, \
    cached_input_tokens = v.cached_input_tokens, cache_write_tokens = v.cache_write_tokens, \
    output_tokens = v.output_tokens, reasoning_tokens = v.reasoning_tokens, \
    cost_nanos = v.cost_nanos, calls = v.calls, price_ref = v.price_ref, success = v.success, \
    error = v.error, logs = v.logs, last_event_at = v.last_event_at, event_ids = v.event_ids";

/// A span may also move a span-built session's start (to another week's partition) and
/// name its model.
const SPAN_UPDATED: &str = ", model = v.model, start_time = v.start_time, \
    metadata = v.metadata, otlp_received_at = v.otlp_received_at, \
    otlp_root_end = v.otlp_root_end, otlp_failure = v.otlp_failure";

/// Binds the sessions as one array per column of `SESSION_COLUMNS`.
fn bind_sessions<'q>(
    q: Query<'q, DB, PgArguments>,
    sessions: &[&Session],
    now: Micros,
) -> Query<'q, DB, PgArguments> {
    let json =
        |v: &Vec<serde_json::Value>| serde_json::to_string(v).unwrap_or_else(|_| "[]".into());
    let col =
        |f: &dyn Fn(&Session) -> Option<i64>| sessions.iter().map(|s| f(s)).collect::<Vec<_>>();
    let int = |f: &dyn Fn(&Session) -> i64| sessions.iter().map(|s| f(s)).collect::<Vec<_>>();
    let text = |f: &dyn Fn(&Session) -> String| sessions.iter().map(|s| f(s)).collect::<Vec<_>>();
    let opt_text =
        |f: &dyn Fn(&Session) -> Option<String>| sessions.iter().map(|s| f(s)).collect::<Vec<_>>();
    q.bind(text(&|s| s.id.clone()))
        .bind(text(&|s| s.session_id.clone()))
        .bind(text(&|s| s.model.clone()))
        .bind(text(&|s| s.domain.clone()))
        .bind(opt_text(&|s| s.conversation_id.clone()))
        .bind(int(&|s| s.start_time))
        .bind(col(&|s| s.end_time))
        .bind(col(&|s| s.duration_ms()))
        .bind(int(&|s| s.iterations))
        .bind(int(&|s| s.search_count))
        .bind(int(&|s| s.total_results))
        .bind(text(&|s| json(&s.searches)))
        .bind(int(&|s| s.usage.input))
        .bind(int(&|s| s.usage.cached_input))
        .bind(int(&|s| s.usage.cache_write))
        .bind(int(&|s| s.usage.output))
        .bind(int(&|s| s.usage.reasoning))
        .bind(col(&|s| s.cost_nanos))
        .bind(sessions.iter().map(|s| s.success).collect::<Vec<_>>())
        .bind(opt_text(&|s| s.error.clone()))
        .bind(text(&|s| json(&s.logs)))
        .bind(opt_text(&|s| s.metadata.as_ref().map(|m| m.to_string())))
        .bind(int(&|s| s.last_event_at))
        .bind(text(&|s| {
            serde_json::to_string(&s.event_ids).unwrap_or_else(|_| "[]".into())
        }))
        .bind(vec![now; sessions.len()])
        .bind(col(&|s| s.otlp.as_ref().map(|o| o.received_at)))
        .bind(col(&|s| s.otlp.as_ref().and_then(|o| o.root_end)))
        .bind(opt_text(&|s| {
            s.otlp.as_ref().and_then(|o| o.failure.clone())
        }))
        .bind(text(&|s| calls_to_json(&s.calls)))
        .bind(opt_text(&|s| s.price.clone()))
}

/// Rows per statement: arrays have no bind limit, this only bounds one statement's memory.
const ROWS: usize = 10_000;

async fn insert_rows(tx: &mut Tx<'_>, sessions: &[&Session], now: Micros) -> sqlx::Result<()> {
    let statement =
        format!("INSERT INTO chat_telemetry ({SESSION_COLUMNS}) SELECT * FROM {SESSION_ARRAYS}");
    for chunk in sessions.chunks(ROWS) {
        bind_sessions(sqlx::query(&statement), chunk, now)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// The stored sessions of `ids`, locked for the rest of the transaction in id order (another
/// instance's batch touching them waits, then sees them as this one left them). One array
/// parameter, so the statement is planned once: a list of binds would be planned again for
/// each batch size, and planning grows with the partitions.
pub(crate) async fn load_sessions(tx: &mut Tx<'_>, ids: &[String]) -> sqlx::Result<Vec<Session>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut sorted: Vec<&str> = ids.iter().map(String::as_str).collect();
    sorted.sort_unstable();
    let statement = format!(
        "SELECT {SESSION_COLUMNS} FROM chat_telemetry WHERE session_id = ANY($1) \
         ORDER BY session_id FOR UPDATE"
    );
    let mut found = Vec::with_capacity(ids.len());
    for chunk in sorted.chunks(ROWS) {
        for row in sqlx::query(&statement)
            .bind(chunk)
            .fetch_all(&mut **tx)
            .await?
        {
            found.push(session_from_row(&row)?);
        }
    }
    Ok(found)
}

/// Adds the keys of sessions about to be inserted; returns those that were new. Keys are
/// inserted in order, so two writers wait on each other without deadlock.
async fn claim_keys(tx: &mut Tx<'_>, ids: &[&str]) -> sqlx::Result<HashSet<String>> {
    let mut ids: Vec<&str> = ids.to_vec();
    ids.sort_unstable();
    let claimed: Vec<String> = sqlx::query_scalar(
        "INSERT INTO chat_telemetry_keys (session_id) SELECT * FROM UNNEST($1::text[]) \
         ON CONFLICT DO NOTHING RETURNING session_id",
    )
    .bind(ids)
    .fetch_all(&mut **tx)
    .await?;
    Ok(claimed.into_iter().collect())
}

/// Writes the batch's changed sessions: those in `known` (loaded, and locked, by this
/// transaction) are updated, the others inserted. `Ok(false)` when another instance
/// created one of the new sessions since the batch was planned: the caller rolls back and
/// plans again (the session is then loaded).
pub(crate) async fn write_sessions(
    tx: &mut Tx<'_>,
    sessions: &[&Session],
    known: &HashMap<String, Micros>,
    now: Micros,
) -> sqlx::Result<bool> {
    let (stored, new): (Vec<&Session>, Vec<&Session>) = sessions
        .iter()
        .partition(|s| known.contains_key(&s.session_id));
    if !new.is_empty() {
        let ids: Vec<&str> = new.iter().map(|s| s.session_id.as_str()).collect();
        if claim_keys(tx, &ids).await?.len() < ids.len() {
            return Ok(false);
        }
        insert_rows(tx, &new, now).await?;
    }
    // Span-built sessions update more columns, and may move to another week: through the
    // partitioned table. The rest are updated in their week's partition directly.
    let (from_spans, others): (Vec<&Session>, Vec<&Session>) =
        stored.into_iter().partition(|s| s.otlp.is_some());
    in_weeks(tx, &others, known, RowWrite::Update(now)).await?;
    update_rows(tx, "chat_telemetry", SPAN_UPDATED, &from_spans, now).await?;
    Ok(true)
}

/// Updates `sessions` in `table`; returns the rows changed.
async fn update_rows(
    tx: &mut Tx<'_>,
    table: &str,
    extra: &str,
    sessions: &[&Session],
    now: Micros,
) -> sqlx::Result<u64> {
    let statement = format!(
        "UPDATE {table} t SET {UPDATED}{extra} FROM {SESSION_ARRAYS} \
         AS v({SESSION_COLUMNS}) WHERE t.session_id = v.session_id"
    );
    update_in_chunks(tx, &statement, sessions, |q, chunk| {
        bind_sessions(q, chunk, now)
    })
    .await
}

/// One value per session: an array bound to `UNNEST`.
fn column<T>(sessions: &[&Session], value: impl Fn(&Session) -> T) -> Vec<T> {
    sessions.iter().map(|s| value(s)).collect()
}

/// Runs an `UPDATE … FROM UNNEST(arrays)` for `sessions`, [`ROWS`] at a time, with the
/// arrays `bind` binds for each chunk; returns the rows changed.
async fn update_in_chunks<'q>(
    tx: &mut Tx<'_>,
    statement: &'q str,
    sessions: &[&Session],
    bind: impl Fn(Query<'q, DB, PgArguments>, &[&Session]) -> Query<'q, DB, PgArguments>,
) -> sqlx::Result<u64> {
    let mut changed = 0;
    for chunk in sessions.chunks(ROWS) {
        changed += bind(sqlx::query(statement), chunk)
            .execute(&mut **tx)
            .await?
            .rows_affected();
    }
    Ok(changed)
}

/// What [`in_weeks`] writes of each session.
#[derive(Clone, Copy)]
enum RowWrite {
    /// Every column an update changes, stamped with this time.
    Update(Micros),
    /// Cost, calls and price (repricing).
    Prices,
    /// Only the end (span-built sessions settling in bulk).
    Ends,
}

impl RowWrite {
    async fn run(self, tx: &mut Tx<'_>, table: &str, sessions: &[&Session]) -> sqlx::Result<u64> {
        match self {
            RowWrite::Update(now) => update_rows(tx, table, "", sessions, now).await,
            RowWrite::Prices => write_price_rows(tx, table, sessions).await,
            RowWrite::Ends => write_ends(tx, table, sessions).await,
        }
    }
}

/// Writes stored sessions in their week's partition, found from their stored start: a
/// statement through the partitioned table opens every week's partition and its indexes
/// (131 µs against 71 µs per statement with 7 weeks), which dominated the live path. A
/// week without a partition keeps its rows in the default one (a week is only created while
/// the default holds none of its rows). Should a week's rows not all be found (a partition
/// dropped meanwhile), they are written through the partitioned table.
async fn in_weeks(
    tx: &mut Tx<'_>,
    sessions: &[&Session],
    stored_starts: &HashMap<String, Micros>,
    write: RowWrite,
) -> sqlx::Result<()> {
    for (table, group) in by_week(tx, sessions, stored_starts).await? {
        if write.run(tx, &table, &group).await? < group.len() as u64 {
            write.run(tx, "chat_telemetry", &group).await?;
        }
    }
    Ok(())
}

/// `sessions` grouped by the table holding each: its week's partition when that exists,
/// else the default partition.
async fn by_week<'s>(
    tx: &mut Tx<'_>,
    sessions: &[&'s Session],
    stored_starts: &HashMap<String, Micros>,
) -> sqlx::Result<HashMap<String, Vec<&'s Session>>> {
    let mut by_table: HashMap<String, Vec<&Session>> = HashMap::new();
    if sessions.is_empty() {
        return Ok(by_table);
    }
    let weeks: HashSet<String> = sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid \
         WHERE i.inhparent = 'chat_telemetry'::regclass",
    )
    .fetch_all(&mut **tx)
    .await?
    .into_iter()
    .collect();
    for s in sessions {
        let start = stored_starts
            .get(&s.session_id)
            .copied()
            .unwrap_or(s.start_time);
        let week = week_table(start);
        let table = if weeks.contains(&week) {
            week
        } else {
            "chat_telemetry_default".into()
        };
        by_table.entry(table).or_default().push(s);
    }
    Ok(by_table)
}

/// The name of the week partition holding a start time (as `chat_telemetry_add_week` names
/// it): the Monday 00:00 UTC of its week, e.g. `chat_telemetry_w20261130`.
fn week_table(start: Micros) -> String {
    const MONDAY: i64 = 4 * 86_400_000_000; // 1970-01-05 was the first Monday
    const WEEK: i64 = 7 * 86_400_000_000;
    let monday = (start - MONDAY).div_euclid(WEEK) * WEEK + MONDAY;
    let day = chrono::DateTime::from_timestamp_micros(monday)
        .map(|d| d.format("%Y%m%d").to_string())
        .unwrap_or_default();
    format!("chat_telemetry_w{day}")
}

/// Writes repriced sessions' cost, calls and price in their weeks' partitions, as arrays
/// (one prepared statement whatever the slice's size). Each was just loaded under its row
/// lock, so its start is the stored one.
pub(crate) async fn write_prices(tx: &mut Tx<'_>, sessions: &[Session]) -> sqlx::Result<()> {
    let sessions: Vec<&Session> = sessions.iter().collect();
    let starts: HashMap<String, Micros> = sessions
        .iter()
        .map(|s| (s.session_id.clone(), s.start_time))
        .collect();
    in_weeks(tx, &sessions, &starts, RowWrite::Prices).await
}

async fn write_price_rows(
    tx: &mut Tx<'_>,
    table: &str,
    sessions: &[&Session],
) -> sqlx::Result<u64> {
    let statement = format!(
        "UPDATE {table} t SET cost_nanos = v.cost_nanos, calls = v.calls, price_ref = v.price_ref \
         FROM UNNEST($1::text[], $2::int8[], $3::text[], $4::text[]) \
         AS v(session_id, cost_nanos, calls, price_ref) WHERE t.session_id = v.session_id"
    );
    update_in_chunks(tx, &statement, sessions, |q, chunk| {
        q.bind(column(chunk, |s| s.session_id.clone()))
            .bind(column(chunk, |s| s.cost_nanos))
            .bind(column(chunk, |s| calls_to_json(&s.calls)))
            .bind(column(chunk, |s| s.price.clone()))
    })
    .await
}

/// Writes only the end of sessions that changed in nothing else (span-built sessions that
/// settle in bulk), in their weeks' partitions, as arrays: for a long `VALUES` list the
/// planner would hash-join it against every week instead of probing its session index.
pub(crate) async fn write_session_ends(
    tx: &mut Tx<'_>,
    sessions: &[&Session],
    stored_starts: &HashMap<String, Micros>,
) -> sqlx::Result<()> {
    in_weeks(tx, sessions, stored_starts, RowWrite::Ends).await
}

async fn write_ends(tx: &mut Tx<'_>, table: &str, sessions: &[&Session]) -> sqlx::Result<u64> {
    let statement = format!(
        "UPDATE {table} t SET end_time = v.end_time, duration_ms = v.duration_ms, \
         success = v.success, error = v.error \
         FROM UNNEST($1::text[], $2::int8[], $3::int8[], $4::bool[], $5::text[]) \
         AS v(session_id, end_time, duration_ms, success, error) WHERE t.session_id = v.session_id"
    );
    update_in_chunks(tx, &statement, sessions, |q, chunk| {
        q.bind(column(chunk, |s| s.session_id.clone()))
            .bind(column(chunk, |s| s.end_time))
            .bind(column(chunk, |s| s.duration_ms()))
            .bind(column(chunk, |s| s.success))
            .bind(column(chunk, |s| s.error.clone()))
    })
    .await
}

/// Inserts finished sessions whose id is new; returns the ids actually inserted. A session
/// sent twice in one batch is inserted once.
pub(crate) async fn insert_backfills(
    tx: &mut Tx<'_>,
    sessions: &[Session],
    now: Micros,
) -> sqlx::Result<HashSet<String>> {
    if sessions.is_empty() {
        return Ok(HashSet::new());
    }
    let ids: Vec<&str> = sessions.iter().map(|s| s.session_id.as_str()).collect();
    let inserted = claim_keys(tx, &ids).await?;
    let mut pending: HashSet<&str> = inserted.iter().map(String::as_str).collect();
    let new: Vec<&Session> = sessions
        .iter()
        .filter(|s| pending.remove(s.session_id.as_str()))
        .collect();
    insert_rows(tx, &new, now).await?;
    Ok(inserted)
}

/// Retention: drops the weeks wholly before `cutoff` (README: Retention), then deletes the
/// older rows of the default partition, a slice at a time. Returns the sessions removed.
pub async fn delete_sessions_before(pool: &Pool<DB>, cutoff: Micros) -> sqlx::Result<u64> {
    let dropped: i64 = sqlx::query_scalar("SELECT chat_telemetry_drop_before($1)")
        .bind(cutoff)
        .fetch_one(pool)
        .await?;
    let deleted = delete_in_slices(
        pool,
        "WITH gone AS (DELETE FROM chat_telemetry_default WHERE id IN (SELECT id FROM \
         chat_telemetry_default WHERE start_time < $1 AND end_time IS NOT NULL LIMIT 5000) \
         RETURNING session_id) \
         DELETE FROM chat_telemetry_keys WHERE session_id IN (SELECT session_id FROM gone)",
        cutoff,
    )
    .await?;
    Ok(u64::try_from(dropped).unwrap_or(0) + deleted)
}

/// Creates the week partitions from the week of `from` to that of `to` that do not exist
/// yet; returns how many it created.
pub async fn prepare_partitions(pool: &Pool<DB>, from: Micros, to: Micros) -> sqlx::Result<u64> {
    let created: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FILTER (WHERE chat_telemetry_add_week(w)) FROM \
         generate_series(chat_telemetry_week($1), chat_telemetry_week($2), 604800000000) w",
    )
    .bind(from)
    .bind(to)
    .fetch_one(pool)
    .await?;
    Ok(u64::try_from(created).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::week_table;

    #[test]
    fn weeks_are_named_by_their_monday() {
        let at = |t: &str| omniops_core::clock::parse_rfc3339(t).expect("time");
        assert_eq!(
            week_table(at("2026-11-30T00:00:00Z")),
            "chat_telemetry_w20261130"
        );
        assert_eq!(
            week_table(at("2026-12-06T23:59:59Z")),
            "chat_telemetry_w20261130"
        );
        assert_eq!(
            week_table(at("2026-12-07T00:00:00Z")),
            "chat_telemetry_w20261207"
        );
        assert_eq!(
            week_table(at("2026-10-05T00:00:00Z")),
            "chat_telemetry_w20261005"
        );
    }
}
