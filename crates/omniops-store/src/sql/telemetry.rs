// Telemetry reads: rollup sums of a window, the trend, live sessions.

use super::analytics::rollup_window_query;
use super::ingest::counter_sums;
use super::ingest::counters_from_sums;
use super::ingest::session_from_row;
use super::ingest::split_sum;
use super::ingest::COUNTER_COLUMNS;
use super::ingest::SESSION_COLUMNS;
use super::DB;
use omniops_core::clock::Micros;
use omniops_core::rollup::Counters;
use omniops_core::rollup::DURATION_BOUNDS_MS;
use omniops_core::rollup::DURATION_BUCKETS;
use omniops_core::session::Session;
use omniops_core::telemetry::LiveSession;
use omniops_core::window::Window;
use sqlx::Pool;
use sqlx::QueryBuilder;
use sqlx::Row;

pub(crate) fn window_ranges(window: &Window) -> [(&'static str, Micros, Micros); 3] {
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
    let mut q = QueryBuilder::<DB>::new(format!("SELECT domain, model, {} FROM (", counter_sums()));
    let mut first = true;
    for (table, start, end) in window_ranges(window) {
        if start >= end {
            continue;
        }
        if !first {
            q.push(" UNION ALL ");
        }
        first = false;
        q.push(format!(
            "SELECT domain, model, {COUNTER_COLUMNS} FROM {table} WHERE bucket >= "
        ));
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
        .map(|row| {
            Ok((
                row.try_get(0)?,
                row.try_get(1)?,
                counters_from_sums(row, 2)?,
            ))
        })
        .collect()
}

/// The spec's approach, kept as a benchmark reference: sum the raw rows of the window.
pub async fn naive_window_sums(
    pool: &Pool<DB>,
    window: &Window,
    domain: &str,
) -> sqlx::Result<Vec<(String, String, Counters)>> {
    let sums = [
        "1",
        "CASE WHEN success THEN 1 ELSE 0 END",
        "CASE WHEN success THEN 0 ELSE 1 END",
        "CASE WHEN cost_nanos IS NULL THEN 1 ELSE 0 END",
        "input_tokens",
        "cached_input_tokens",
        "cache_write_tokens",
        "output_tokens",
        "reasoning_tokens",
        "COALESCE(cost_nanos, 0)",
        "duration_ms",
        "search_count",
        "iterations",
    ]
    .map(split_sum)
    .join(", ");
    let rows = sqlx::query(&format!(
        "SELECT domain, model, {sums} \
         FROM chat_telemetry WHERE start_time >= $1 AND start_time < $2 AND end_time IS NOT NULL \
         AND ($3 = '' OR domain = $3) GROUP BY domain, model"
    ))
    .bind(window.start)
    .bind(window.end)
    .bind(domain)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|row| {
            Ok((
                row.try_get(0)?,
                row.try_get(1)?,
                counters_from_sums(row, 2)?,
            ))
        })
        .collect()
}

/// Requests and cost per hour of the window (hours without sessions are absent), for all
/// models or one (`model` empty = all).
pub async fn trend(
    pool: &Pool<DB>,
    window: &Window,
    domain: &str,
    model: &str,
) -> sqlx::Result<Vec<(Micros, i64, i64)>> {
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
        sqlx::query("SET LOCAL enable_bitmapscan = off")
            .execute(&mut *tx)
            .await?;
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
    let row = sqlx::query(&format!(
        "SELECT {SESSION_COLUMNS} FROM chat_telemetry WHERE session_id = $1"
    ))
    .bind(session_id)
    .fetch_optional(pool)
    .await?;
    row.as_ref().map(session_from_row).transpose()
}

/// Domains with sessions since `since`, and configured ones: the dashboard's domain picker.
pub async fn known_domains(pool: &Pool<DB>, since: Micros) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar(
        "SELECT domain FROM rollup_daily WHERE bucket >= $1 AND model = '' AND domain <> '' \
         UNION SELECT domain FROM domain_config ORDER BY 1 LIMIT 1000",
    )
    .bind(since)
    .fetch_all(pool)
    .await
}

/// Ended sessions of the window per response-time bucket, from the duration rollups.
pub async fn duration_histogram(
    pool: &Pool<DB>,
    window: &Window,
    scope: &str,
) -> sqlx::Result<[i64; DURATION_BUCKETS]> {
    let mut q = rollup_window_query(
        "duration_rollup",
        "le_index, count",
        "le_index, CAST(SUM(count) AS BIGINT)",
        "GROUP BY le_index",
        window,
        scope,
    );
    histogram_from_rows(&q.build().fetch_all(pool).await?)
}

/// The same from raw sessions (for tests).
pub async fn raw_duration_histogram(
    pool: &Pool<DB>,
    window: &Window,
    domain: &str,
) -> sqlx::Result<[i64; DURATION_BUCKETS]> {
    let cases: String = DURATION_BOUNDS_MS
        .iter()
        .enumerate()
        .map(|(i, bound)| format!("WHEN (end_time - start_time) / 1000 <= {bound} THEN {i} "))
        .collect();
    let rows = sqlx::query(&format!(
        "SELECT CAST(CASE {cases}ELSE {} END AS BIGINT) AS le, CAST(COUNT(*) AS BIGINT) FROM chat_telemetry \
         WHERE end_time IS NOT NULL AND start_time >= $1 AND start_time < $2 AND ($3 = '' OR domain = $3) GROUP BY le",
        DURATION_BOUNDS_MS.len()
    ))
    .bind(window.start)
    .bind(window.end)
    .bind(domain)
    .fetch_all(pool)
    .await?;
    histogram_from_rows(&rows)
}

pub(crate) fn histogram_from_rows(
    rows: &[<DB as sqlx::Database>::Row],
) -> sqlx::Result<[i64; DURATION_BUCKETS]> {
    let mut counts = [0; DURATION_BUCKETS];
    for row in rows {
        let index: i64 = row.try_get(0)?;
        if let Some(slot) = usize::try_from(index).ok().and_then(|i| counts.get_mut(i)) {
            *slot += row.try_get::<i64, _>(1)?;
        }
    }
    Ok(counts)
}

/// Live sessions with no event since before `cutoff`: (session id, last event time,
/// whether it was built from spans).
pub async fn stale_live_sessions(
    pool: &Pool<DB>,
    cutoff: Micros,
    limit: i64,
) -> sqlx::Result<Vec<(String, Micros, bool)>> {
    let rows = sqlx::query(
        "SELECT session_id, last_event_at, otlp_received_at IS NOT NULL FROM chat_telemetry \
         WHERE end_time IS NULL AND last_event_at < $1 ORDER BY last_event_at LIMIT $2",
    )
    .bind(cutoff)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
        .collect()
}

/// Live span-built sessions whose root span has ended and whose latest span arrived
/// before `quiet_before`: ready to settle.
pub async fn settling_sessions(
    pool: &Pool<DB>,
    quiet_before: Micros,
    limit: i64,
) -> sqlx::Result<Vec<String>> {
    let rows = sqlx::query(
        "SELECT session_id FROM chat_telemetry WHERE end_time IS NULL AND otlp_root_end IS NOT NULL \
         AND otlp_received_at < $1 ORDER BY otlp_received_at LIMIT $2",
    )
    .bind(quiet_before)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    rows.iter().map(|r| r.try_get(0)).collect()
}
