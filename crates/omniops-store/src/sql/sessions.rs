// Sessions as stored and read back: the row, live sessions, the history of ended ones, and
// the sessions the reaper settles.

use super::DB;
use crate::SessionFilter;
use omniops_core::clock::Micros;
use omniops_core::session::{calls_from_json, Session};
use omniops_core::span::OtlpState;
use omniops_core::telemetry::LiveSession;
use omniops_core::usage::TokenUsage;
use omniops_core::window::Window;
use sqlx::{Pool, Row};

pub(crate) const SESSION_COLUMNS: &str =
    "id, session_id, model, domain, conversation_id, start_time, \
    end_time, duration_ms, iterations, search_count, total_results, searches, input_tokens, \
    cached_input_tokens, cache_write_tokens, output_tokens, reasoning_tokens, cost_nanos, \
    success, error, logs, metadata, last_event_at, event_ids, created_at, otlp_received_at, \
    otlp_root_end, otlp_failure, calls, price_ref";

pub(crate) fn json_list(text: &str) -> Vec<serde_json::Value> {
    serde_json::from_str(text).unwrap_or_default()
}

pub(crate) fn session_from_row(row: &<DB as sqlx::Database>::Row) -> sqlx::Result<Session> {
    let searches: String = row.try_get("searches")?;
    let logs: String = row.try_get("logs")?;
    let metadata: Option<String> = row.try_get("metadata")?;
    let event_ids: String = row.try_get("event_ids")?;
    let calls: String = row.try_get("calls")?;
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
        calls: calls_from_json(&calls).map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
        cost_nanos: row.try_get("cost_nanos")?,
        price: row.try_get("price_ref")?,
        success: row.try_get("success")?,
        error: row.try_get("error")?,
        logs: json_list(&logs),
        metadata: metadata.and_then(|m| serde_json::from_str(&m).ok()),
        last_event_at: row.try_get("last_event_at")?,
        event_ids: serde_json::from_str(&event_ids).unwrap_or_default(),
        otlp: match row.try_get::<Option<Micros>, _>("otlp_received_at")? {
            Some(received_at) => Some(OtlpState {
                received_at,
                root_end: row.try_get("otlp_root_end")?,
                failure: row.try_get("otlp_failure")?,
            }),
            None => None,
        },
    })
}

/// Ended sessions of a window and a [`SessionFilter`]: `$1`/`$2` the window, `$3` domain,
/// `$4` model, `$5` status ('' for any; a session without an outcome counts as failed, as in
/// the rollups).
pub(crate) const HISTORY_FILTER: &str =
    "start_time >= $1 AND start_time < $2 AND end_time IS NOT NULL \
    AND ($3 = '' OR domain = $3) AND ($4 = '' OR model = $4) \
    AND ($5 = '' OR ($5 = 'success') = (COALESCE(success, FALSE) = TRUE))";

/// Ended sessions that started in the window, newest first, and how many there are.
pub async fn sessions_in_window(
    pool: &Pool<DB>,
    window: &Window,
    filter: &SessionFilter,
    limit: i64,
    offset: i64,
    count: bool,
) -> sqlx::Result<(Vec<Session>, Option<i64>)> {
    let condition = format!("FROM chat_telemetry WHERE {HISTORY_FILTER}");
    let (domain, model, status) = (
        filter.domain.as_deref().unwrap_or(""),
        filter.model.as_deref().unwrap_or(""),
        filter.status.as_param(),
    );
    let total: Option<i64> = if count {
        Some(
            sqlx::query_scalar(&format!("SELECT CAST(COUNT(*) AS BIGINT) {condition}"))
                .bind(window.start)
                .bind(window.end)
                .bind(domain)
                .bind(model)
                .bind(status)
                .fetch_one(pool)
                .await?,
        )
    } else {
        None
    };
    let rows = sqlx::query(&format!(
        "SELECT {SESSION_COLUMNS} {condition} ORDER BY start_time DESC, session_id LIMIT $6 OFFSET $7"
    ))
    .bind(window.start)
    .bind(window.end)
    .bind(domain)
    .bind(model)
    .bind(status)
    .bind(limit)
    .bind(offset)
    .fetch_all(pool)
    .await?;
    let sessions = rows
        .iter()
        .map(session_from_row)
        .collect::<sqlx::Result<Vec<_>>>()?;
    Ok((sessions, total))
}

/// Ended sessions of the window older than `after` (start time, session id), newest first:
/// keyset pages for exports of any size.
pub async fn sessions_after(
    pool: &Pool<DB>,
    window: &Window,
    filter: &SessionFilter,
    after: Option<(Micros, String)>,
    limit: i64,
) -> sqlx::Result<Vec<Session>> {
    let (before_time, before_id) = after.unwrap_or((window.end, String::new()));
    let rows = sqlx::query(&format!(
        "SELECT {SESSION_COLUMNS} FROM chat_telemetry WHERE {HISTORY_FILTER} \
         AND (start_time < $6 OR (start_time = $6 AND session_id < $7)) \
         ORDER BY start_time DESC, session_id DESC LIMIT $8"
    ))
    .bind(window.start)
    .bind(window.end)
    .bind(filter.domain.as_deref().unwrap_or(""))
    .bind(filter.model.as_deref().unwrap_or(""))
    .bind(filter.status.as_param())
    .bind(before_time)
    .bind(before_id)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    rows.iter().map(session_from_row).collect()
}

/// A read of one domain, bound as `$1`, or of all (`""`), which binds nothing. PostgreSQL
/// plans a statement with parameters anew at its first five runs on each of the pool's 16
/// connections: planning the live sessions of all domains (every dashboard's default) over
/// every week's partition took 2 to 8 ms, more than running them. One without parameters is
/// planned once per connection.
pub(crate) struct Scope<'a>(pub &'a str);

impl<'a> Scope<'a> {
    /// The `domain` rollup rows of this scope carry (`''` = all domains).
    pub(crate) fn rollup_domain(&self) -> &'static str {
        if self.0.is_empty() {
            "''"
        } else {
            "$1"
        }
    }

    /// The condition that narrows raw rows to this scope, after a `WHERE`.
    pub(crate) fn raw_filter(&self) -> &'static str {
        if self.0.is_empty() {
            ""
        } else {
            " AND domain = $1"
        }
    }

    pub(crate) fn bind<'q>(
        &self,
        query: sqlx::query::Query<'q, DB, <DB as sqlx::Database>::Arguments<'q>>,
    ) -> sqlx::query::Query<'q, DB, <DB as sqlx::Database>::Arguments<'q>>
    where
        'a: 'q,
    {
        if self.0.is_empty() {
            query
        } else {
            query.bind(self.0)
        }
    }
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
    let scope = Scope(domain);
    let sql = format!(
        "SELECT session_id, model, domain, start_time, cost_nanos, input_tokens, output_tokens \
         FROM chat_telemetry WHERE end_time IS NULL{} ORDER BY start_time",
        scope.raw_filter()
    );
    let rows = scope.bind(sqlx::query(&sql)).fetch_all(&mut *tx).await?;
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
