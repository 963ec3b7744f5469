// Reads of conversations and messages: their rollups, their raw rows for comparison, and a
// conversation's messages.

use super::ingest_conversations::{CONVERSATION_COUNTS, MESSAGE_COUNTS};
use super::rollups::{rollup_window_query, split_sum, sums, wide_sum};
use super::DB;
use omniops_core::analytics::{ConversationCounts, ConversationStats, MessageStats};
use omniops_core::clock::Micros;
use omniops_core::window::Window;
use sqlx::{Pool, QueryBuilder, Row};

pub async fn message_stats(
    pool: &Pool<DB>,
    window: &Window,
    scope: &str,
) -> sqlx::Result<MessageStats> {
    let mut q = rollup_window_query(
        "message_rollup",
        &MESSAGE_COUNTS.join(", "),
        &sums(&MESSAGE_COUNTS),
        "",
        window,
        scope,
    );
    let row = q.build().fetch_one(pool).await?;
    let at = |i: usize| wide_sum(&row, 2 * i);
    Ok(MessageStats {
        messages: at(0)?,
        user_messages: at(1)?,
        positive: at(2)?,
        negative: at(3)?,
        response_ms_sum: at(4)?,
        responses: at(5)?,
        answers: at(6)?,
        contradicted: at(7)?,
    })
}

pub async fn conversation_counts_of_window(
    pool: &Pool<DB>,
    window: &Window,
    scope: &str,
) -> sqlx::Result<ConversationCounts> {
    let mut q = rollup_window_query(
        "conversation_rollup",
        &CONVERSATION_COUNTS.join(", "),
        &sums(&CONVERSATION_COUNTS),
        "",
        window,
        scope,
    );
    let row = q.build().fetch_one(pool).await?;
    let at = |i: usize| wide_sum(&row, 2 * i);
    let mut languages = [0; 5];
    for (i, l) in languages.iter_mut().enumerate() {
        *l = at(3 + i)?;
    }
    Ok(ConversationCounts {
        conversations: at(0)?,
        with_user_messages: at(1)?,
        resolved: at(2)?,
        languages,
        escalated: at(8)?,
        first_contact_resolved: at(9)?,
    })
}

pub async fn top_queries(
    pool: &Pool<DB>,
    window: &Window,
    scope: &str,
    limit: i64,
) -> sqlx::Result<Vec<(String, i64)>> {
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
    rows.iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect()
}

pub(crate) fn scope_filter(
    q: &mut QueryBuilder<'_, DB>,
    window: &Window,
    domain: &str,
    time_column: &str,
) {
    q.push(format!(" WHERE {time_column} >= "))
        .push_bind(window.start);
    q.push(format!(" AND {time_column} < "))
        .push_bind(window.end);
    if !domain.is_empty() {
        q.push(" AND domain = ").push_bind(domain.to_string());
    }
}

pub async fn raw_conversation_count(
    pool: &Pool<DB>,
    window: &Window,
    domain: &str,
) -> sqlx::Result<i64> {
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
    let mut q =
        QueryBuilder::<DB>::new("SELECT id, first_user_message, created_at FROM conversations");
    scope_filter(&mut q, window, domain, "created_at");
    q.push(" ORDER BY created_at DESC, id LIMIT ")
        .push_bind(limit)
        .push(" OFFSET ")
        .push_bind(offset);
    let rows = q.build().fetch_all(pool).await?;
    rows.iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
        .collect()
}

pub async fn raw_message_stats(
    pool: &Pool<DB>,
    window: &Window,
    domain: &str,
) -> sqlx::Result<MessageStats> {
    let mut q = QueryBuilder::<DB>::new(
        "SELECT CAST(COUNT(*) AS BIGINT), \
         CAST(COALESCE(SUM(CASE WHEN role = 'user' THEN 1 ELSE 0 END), 0) AS BIGINT), \
         CAST(COALESCE(SUM(CASE WHEN role = 'user' AND sentiment > 0 THEN 1 ELSE 0 END), 0) AS BIGINT), \
         CAST(COALESCE(SUM(CASE WHEN role = 'user' AND sentiment < 0 THEN 1 ELSE 0 END), 0) AS BIGINT), \
         CAST(COALESCE(SUM(responses), 0) AS BIGINT), \
         CAST(COALESCE(SUM(CASE WHEN role = 'assistant' AND responses > 0 THEN 1 ELSE 0 END), 0) AS BIGINT), \
         CAST(COALESCE(SUM(CASE WHEN role = 'user' AND contradicts THEN 1 ELSE 0 END), 0) AS BIGINT), ".to_string() + &split_sum("response_ms_sum") + " FROM messages",
    );
    scope_filter(&mut q, window, domain, "created_at");
    let row = q.build().fetch_one(pool).await?;
    Ok(MessageStats {
        messages: row.try_get(0)?,
        user_messages: row.try_get(1)?,
        positive: row.try_get(2)?,
        negative: row.try_get(3)?,
        responses: row.try_get(4)?,
        answers: row.try_get(5)?,
        contradicted: row.try_get(6)?,
        response_ms_sum: wide_sum(&row, 7)?,
    })
}

pub async fn raw_conversation_stats(
    pool: &Pool<DB>,
    window: &Window,
    domain: &str,
) -> sqlx::Result<ConversationStats> {
    let mut q = QueryBuilder::<DB>::new(
        "SELECT language, CAST(COUNT(*) AS BIGINT), \
         CAST(SUM(CASE WHEN resolved THEN 1 ELSE 0 END) AS BIGINT), \
         CAST(SUM(CASE WHEN escalated THEN 1 ELSE 0 END) AS BIGINT), \
         CAST(SUM(CASE WHEN resolved AND ((customer_id IS NOT NULL AND NOT followed_up) \
           OR (customer_id IS NULL AND user_message_count = 1)) THEN 1 ELSE 0 END) AS BIGINT) FROM conversations",
    );
    scope_filter(&mut q, window, domain, "created_at");
    q.push(" AND user_message_count > 0 GROUP BY language");
    let rows = q.build().fetch_all(pool).await?;
    let mut stats = ConversationStats::default();
    for row in &rows {
        let count: i64 = row.try_get(1)?;
        stats.with_user_messages += count;
        stats.resolved += row.try_get::<i64, _>(2)?;
        stats.escalated += row.try_get::<i64, _>(3)?;
        stats.first_contact_resolved += row.try_get::<i64, _>(4)?;
        stats.languages.push((row.try_get(0)?, count));
    }
    Ok(stats)
}

pub async fn raw_top_queries(
    pool: &Pool<DB>,
    window: &Window,
    domain: &str,
    limit: i64,
) -> sqlx::Result<Vec<(String, i64)>> {
    let mut q =
        QueryBuilder::<DB>::new("SELECT query, CAST(COUNT(*) AS BIGINT) AS n FROM messages");
    scope_filter(&mut q, window, domain, "created_at");
    q.push(" AND role = 'user' GROUP BY query ORDER BY n DESC, query LIMIT ")
        .push_bind(limit);
    let rows = q.build().fetch_all(pool).await?;
    rows.iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect()
}

/// Distinct queries of searches that found nothing, newest first. A window that ends now
/// reads each query's latest time; an older window groups the raw failed searches.
pub async fn failed_search_queries(
    pool: &Pool<DB>,
    window: &Window,
    domain: &str,
    limit: i64,
    now: Micros,
) -> sqlx::Result<Vec<String>> {
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
    let mut q =
        QueryBuilder::<DB>::new("SELECT query, MAX(created_at) AS last FROM failed_searches");
    scope_filter(&mut q, window, domain, "created_at");
    q.push(" GROUP BY query ORDER BY last DESC, query LIMIT ")
        .push_bind(limit);
    let rows = q.build().fetch_all(pool).await?;
    rows.iter().map(|r| r.try_get(0)).collect()
}

/// Per UTC day of the window (days with user messages only): (day, positive, negative,
/// user messages), from the hourly message rollup.
pub async fn sentiment_by_day(
    pool: &Pool<DB>,
    window: &Window,
    scope: &str,
) -> sqlx::Result<Vec<(Micros, i64, i64, i64)>> {
    let rows = sqlx::query(
        "SELECT bucket - bucket % 86400000000 AS day, CAST(SUM(positive) AS BIGINT), CAST(SUM(negative) AS BIGINT), \
         CAST(SUM(user_messages) AS BIGINT) FROM message_rollup_hourly \
         WHERE domain = $1 AND bucket >= $2 AND bucket < $3 GROUP BY bucket - bucket % 86400000000 \
         HAVING SUM(user_messages) > 0 ORDER BY day",
    )
    .bind(scope)
    .bind(window.start)
    .bind(window.end)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?)))
        .collect()
}

/// The first `limit` messages of a conversation: (role, content, time).
/// The first messages of a conversation of `domain`: a session links to a conversation by
/// id, and an id of another domain's shows nothing.
pub async fn conversation_messages(
    pool: &Pool<DB>,
    conversation_id: &str,
    domain: &str,
    limit: i64,
) -> sqlx::Result<Vec<(String, String, Micros)>> {
    let rows = sqlx::query(
        "SELECT role, content, created_at FROM messages WHERE conversation_id = $1 AND domain = $3 ORDER BY created_at, id LIMIT $2",
    )
    .bind(conversation_id)
    .bind(limit)
    .bind(domain)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
        .collect()
}

/// Distinct customers of the window's conversations (per domain; for all domains each
/// (domain, customer) once), from whole hours; `None` when none names one.
pub async fn distinct_customers(
    pool: &Pool<DB>,
    window: &Window,
    scope: &str,
) -> sqlx::Result<Option<i64>> {
    let count: i64 = sqlx::query_scalar(
        "SELECT CAST(COUNT(*) AS BIGINT) FROM (SELECT DISTINCT domain, customer_id FROM customer_hours \
         WHERE bucket >= $1 AND bucket < $2 AND ($3 = '' OR domain = $3)) c",
    )
    .bind(omniops_core::clock::floor_hour(window.start))
    .bind(window.end)
    .bind(scope)
    .fetch_one(pool)
    .await?;
    Ok((count > 0).then_some(count))
}
