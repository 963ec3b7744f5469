//! Raw session rows on SQLite: one table, `session_id` unique, one writer at a time, so a
//! session is upserted (`ON CONFLICT`) and backfills check for stored ids first. The
//! PostgreSQL counterpart is `postgres_rows.rs`.

use super::ingest::{fetch_by_ids, Tx, CHUNK};
use super::retention::delete_in_slices;
use super::sessions::{session_from_row, SESSION_COLUMNS};
use super::DB;
use omniops_core::clock::Micros;
use omniops_core::session::{calls_to_json, Session};
use sqlx::{Pool, QueryBuilder, Row};
use std::collections::HashSet;

fn push_session(
    b: &mut sqlx::query_builder::Separated<'_, '_, DB, &'static str>,
    s: &Session,
    now: Micros,
) {
    let json =
        |v: &Vec<serde_json::Value>| serde_json::to_string(v).unwrap_or_else(|_| "[]".into());
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
        .push_bind(now)
        .push_bind(s.otlp.as_ref().map(|o| o.received_at))
        .push_bind(s.otlp.as_ref().and_then(|o| o.root_end))
        .push_bind(s.otlp.as_ref().and_then(|o| o.failure.clone()))
        .push_bind(calls_to_json(&s.calls))
        .push_bind(s.price.clone());
}

/// What a later event may change in a stored session.
const SESSION_UPDATE: &str = " ON CONFLICT (session_id) DO UPDATE SET end_time = excluded.end_time, \
    duration_ms = excluded.duration_ms, iterations = excluded.iterations, \
    search_count = excluded.search_count, total_results = excluded.total_results, \
    searches = excluded.searches, input_tokens = excluded.input_tokens, \
    cached_input_tokens = excluded.cached_input_tokens, \
    cache_write_tokens = excluded.cache_write_tokens, output_tokens = excluded.output_tokens, \
    reasoning_tokens = excluded.reasoning_tokens, cost_nanos = excluded.cost_nanos, \
    calls = excluded.calls, price_ref = excluded.price_ref, success = excluded.success, error = excluded.error, logs = excluded.logs, \
    last_event_at = excluded.last_event_at, event_ids = excluded.event_ids";

/// A span may also move a span-built session's start and name its model.
const SPAN_SESSION_UPDATE: &str = ", model = excluded.model, start_time = excluded.start_time, \
    metadata = excluded.metadata, otlp_received_at = excluded.otlp_received_at, \
    otlp_root_end = excluded.otlp_root_end, otlp_failure = excluded.otlp_failure";

async fn upsert_sessions(tx: &mut Tx<'_>, sessions: &[&Session], now: Micros) -> sqlx::Result<()> {
    // Span-built sessions update more columns; the rest keep the narrower (faster) update.
    let (from_spans, others): (Vec<&Session>, Vec<&Session>) =
        sessions.iter().partition(|s| s.otlp.is_some());
    for (group, wider) in [(others, false), (from_spans, true)] {
        for chunk in group.chunks(CHUNK) {
            let mut q =
                QueryBuilder::<DB>::new(format!("INSERT INTO chat_telemetry ({SESSION_COLUMNS}) "));
            q.push_values(chunk, |mut b, s| push_session(&mut b, s, now));
            q.push(SESSION_UPDATE);
            if wider {
                q.push(SPAN_SESSION_UPDATE);
            }
            q.build()
                .persistent(chunk.len() == CHUNK)
                .execute(&mut **tx)
                .await?;
        }
    }
    Ok(())
}

/// The stored sessions of `ids`.
pub(crate) async fn load_sessions(tx: &mut Tx<'_>, ids: &[String]) -> sqlx::Result<Vec<Session>> {
    let select = format!("SELECT {SESSION_COLUMNS} FROM chat_telemetry WHERE session_id IN (");
    fetch_by_ids(tx, &select, ids, Some("session_id"), session_from_row).await
}

/// Writes repriced sessions' cost, calls and price.
pub(crate) async fn write_prices(tx: &mut Tx<'_>, sessions: &[Session]) -> sqlx::Result<()> {
    for chunk in sessions.chunks(CHUNK) {
        let mut q = QueryBuilder::<DB>::new(
            "UPDATE chat_telemetry SET cost_nanos = v.column2, calls = v.column3, \
             price_ref = v.column4 FROM (",
        );
        q.push_values(chunk, |mut b, s| {
            b.push_bind(s.id.clone())
                .push_bind(s.cost_nanos)
                .push_bind(calls_to_json(&s.calls))
                .push_bind(s.price.clone());
        });
        q.push(") AS v WHERE chat_telemetry.id = v.column1");
        q.build()
            .persistent(chunk.len() == CHUNK)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// Writes the batch's changed sessions, new or stored, as upserts: the only writer cannot
/// race another, so this always succeeds (`true`).
pub(crate) async fn write_sessions(
    tx: &mut Tx<'_>,
    sessions: &[&Session],
    _known: &std::collections::HashMap<String, Micros>,
    now: Micros,
) -> sqlx::Result<bool> {
    upsert_sessions(tx, sessions, now).await?;
    Ok(true)
}

/// Writes only the end of sessions that changed in nothing else: a fraction of a full
/// upsert's binds, for span-built sessions that settle in bulk.
pub(crate) async fn write_session_ends(
    tx: &mut Tx<'_>,
    sessions: &[&Session],
    _stored_starts: &std::collections::HashMap<String, Micros>,
) -> sqlx::Result<()> {
    for chunk in sessions.chunks(CHUNK) {
        let mut q = QueryBuilder::<DB>::new(
            "UPDATE chat_telemetry SET end_time = v.column2, duration_ms = v.column3, \
            success = v.column4, error = v.column5 FROM (",
        );
        q.push_values(chunk, |mut b, s| {
            b.push_bind(s.session_id.clone())
                .push_bind(s.end_time)
                .push_bind(s.duration_ms())
                .push_bind(s.success)
                .push_bind(s.error.clone());
        });
        q.push(") AS v WHERE chat_telemetry.session_id = v.column1");
        q.build()
            .persistent(chunk.len() == CHUNK)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// Inserts finished sessions whose id is new; returns the ids actually inserted. This
/// transaction is the only writer: the ids already stored are read first (usually none), so
/// no row comes back per inserted session; on SQLite each returned row is a message between
/// threads.
pub(crate) async fn insert_backfills(
    tx: &mut Tx<'_>,
    sessions: &[Session],
    now: Micros,
) -> sqlx::Result<HashSet<String>> {
    let ids: Vec<String> = sessions.iter().map(|s| s.session_id.clone()).collect();
    let select = "SELECT session_id FROM chat_telemetry WHERE session_id IN (";
    let stored: HashSet<String> = fetch_by_ids(tx, select, &ids, None, |r| r.try_get(0))
        .await?
        .into_iter()
        .collect();
    let new: Vec<&Session> = sessions
        .iter()
        .filter(|s| !stored.contains(&s.session_id))
        .collect();
    for chunk in new.chunks(CHUNK) {
        let mut q =
            QueryBuilder::<DB>::new(format!("INSERT INTO chat_telemetry ({SESSION_COLUMNS}) "));
        q.push_values(chunk, |mut b, s| push_session(&mut b, s, now));
        q.build()
            .persistent(chunk.len() == CHUNK)
            .execute(&mut **tx)
            .await?;
    }
    Ok(new.into_iter().map(|s| s.session_id.clone()).collect())
}

/// Retention: deletes ended raw sessions that started before `cutoff`, a slice at a time
/// so that ingest is never blocked for long. Returns how many were deleted.
pub async fn delete_sessions_before(pool: &Pool<DB>, cutoff: Micros) -> sqlx::Result<u64> {
    delete_in_slices(
        pool,
        "DELETE FROM chat_telemetry WHERE id IN (SELECT id FROM chat_telemetry \
         WHERE start_time < $1 AND end_time IS NOT NULL LIMIT 5000)",
        cutoff,
    )
    .await
}

/// One table: no partitions to prepare.
pub async fn prepare_partitions(_pool: &Pool<DB>, _from: Micros, _to: Micros) -> sqlx::Result<u64> {
    Ok(0)
}

#[cfg(test)]
mod tests {
    /// Every rollup retention statement finds the old rows through an index: none reads
    /// its table whole, which SQLite's plan names `SCAN <table>` (a bare `bucket < $1` on
    /// a table keyed by domain did, under the write lock, every hour).
    #[tokio::test]
    async fn rollup_retention_reads_no_table_whole() {
        let db = crate::open::TestSqlite::open().await;
        let statements = crate::sqlite::retention::rollup_deletes();
        assert_eq!(statements.len(), 13);
        for statement in statements {
            assert_reads_no_table_whole(db.pool(), &statement).await;
        }
    }

    /// So does conversation retention: `updated_at < $1` read every conversation, and
    /// `last_at < $1` every failed query and product example, under the write lock.
    #[tokio::test]
    async fn conversation_retention_reads_no_table_whole() {
        use crate::sqlite::retention::{conversation_side_deletes, CONVERSATION_SLICE};
        let db = crate::open::TestSqlite::open().await;
        let statements = conversation_side_deletes();
        assert_eq!(statements.len(), 4);
        for statement in [CONVERSATION_SLICE.to_string()].iter().chain(&statements) {
            assert_reads_no_table_whole(db.pool(), statement).await;
        }
    }

    /// The plan of `statement` (`DELETE FROM <table> …`) searches its table through an
    /// index and never scans it.
    async fn assert_reads_no_table_whole(pool: &sqlx::SqlitePool, statement: &str) {
        let table = statement
            .split("DELETE FROM ")
            .nth(1)
            .and_then(|rest| rest.split(' ').next())
            .expect("a table");
        let plan = explain(pool, statement).await;
        assert!(
            plan.iter().any(|d| d.contains(&format!("SEARCH {table} "))),
            "{table}: {plan:?}"
        );
        let whole = format!("SCAN {table}");
        assert!(
            !plan
                .iter()
                .any(|d| d == &whole || d.starts_with(&format!("{whole} "))),
            "{table} is read whole: {plan:?}"
        );
    }

    /// A job's total reads the live sessions through their own index: through the model's,
    /// SQLite read every session of the model to find the few live ones (3.4 s for 1M, with
    /// the `PUT` waiting).
    #[tokio::test]
    async fn a_job_counts_live_sessions_through_their_index() {
        let db = crate::open::TestSqlite::open().await;
        let plan = explain(db.pool(), crate::sqlite::repricing::COUNT_JOB_SESSIONS).await;
        assert!(
            plan.iter()
                .any(|d| d.contains("chat_telemetry USING INDEX idx_chat_telemetry_live")),
            "{plan:?}"
        );
    }

    async fn explain(pool: &sqlx::SqlitePool, statement: &str) -> Vec<String> {
        use sqlx::Row;
        sqlx::query(&format!("EXPLAIN QUERY PLAN {statement}"))
            .bind(0i64)
            .fetch_all(pool)
            .await
            .expect("plan")
            .iter()
            .map(|row| row.get::<String, _>("detail"))
            .collect()
    }
}
