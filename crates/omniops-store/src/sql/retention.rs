// Retention: raw rows and rollups older than their retention, deleted a slice at a time.
use super::DB;
use omniops_core::clock::Micros;
use sqlx::Pool;

/// Runs `statement` (a DELETE of a limited slice, with the cutoff as `$1`) until it deletes
/// nothing: each slice is a short transaction, so writers are never held up for long.
pub(crate) async fn delete_in_slices(
    pool: &Pool<DB>,
    statement: &str,
    cutoff: Micros,
) -> sqlx::Result<u64> {
    let mut deleted = 0;
    loop {
        let n = sqlx::query(statement)
            .bind(cutoff)
            .execute(pool)
            .await?
            .rows_affected();
        deleted += n;
        if n == 0 {
            return Ok(deleted);
        }
    }
}

/// Rollup tables with an index led by `bucket`.
const BY_BUCKET: [&str; 3] = ["rollup_hourly", "rollup_daily", "customer_hours"];

/// Rollup tables keyed by (domain, bucket, …) alone.
const BY_DOMAIN: [&str; 10] = [
    "message_rollup_hourly",
    "message_rollup_daily",
    "conversation_rollup_hourly",
    "conversation_rollup_daily",
    "query_rollup_hourly",
    "query_rollup_daily",
    "product_rollup_hourly",
    "product_rollup_daily",
    "duration_rollup_hourly",
    "duration_rollup_daily",
];

/// The statements that delete rollup rows older than `$1`. A bare `bucket < $1` on a table
/// keyed by domain first read it whole while holding the write lock, every hour: 54 ms for
/// the 786k query rows of 10M sessions on SQLite, with ingest waiting. Its domains are
/// found by jumping through the key instead (a loose index scan), and each one's old
/// buckets read from its key.
pub(crate) fn rollup_deletes() -> Vec<String> {
    let by_bucket = BY_BUCKET
        .iter()
        .map(|table| format!("DELETE FROM {table} WHERE bucket < $1"));
    let by_domain = BY_DOMAIN.iter().map(|table| {
        format!(
            "WITH RECURSIVE d(domain) AS (SELECT MIN(domain) FROM {table} \
             UNION ALL SELECT (SELECT MIN(domain) FROM {table} WHERE domain > d.domain) \
             FROM d WHERE d.domain IS NOT NULL) \
             DELETE FROM {table} WHERE domain IN (SELECT domain FROM d) AND bucket < $1"
        )
    });
    by_bucket.chain(by_domain).collect()
}

pub async fn delete_rollups_before(pool: &Pool<DB>, cutoff: Micros) -> sqlx::Result<u64> {
    let mut deleted = 0;
    for statement in rollup_deletes() {
        deleted += sqlx::query(&statement)
            .bind(cutoff)
            .execute(pool)
            .await?
            .rows_affected();
    }
    // Fired alerts are history, kept as long as the totals they speak about.
    deleted += sqlx::query("DELETE FROM alert_events WHERE fired_at < $1")
        .bind(cutoff)
        .execute(pool)
        .await?
        .rows_affected();
    Ok(deleted)
}

/// Deletes conversations (and, by cascade, their messages) last active before `cutoff`,
/// and failed searches and product examples older than it: the same retention as raw sessions.
pub async fn delete_conversations_before(pool: &Pool<DB>, cutoff: Micros) -> sqlx::Result<u64> {
    let deleted = delete_in_slices(
        pool,
        "DELETE FROM conversations WHERE id IN (SELECT id FROM conversations WHERE updated_at < $1 LIMIT 1000)",
        cutoff,
    )
    .await?;
    for statement in [
        "DELETE FROM failed_searches WHERE created_at < $1",
        "DELETE FROM failed_queries WHERE last_at < $1",
        "DELETE FROM product_examples WHERE last_at < $1",
        "DELETE FROM product_needs WHERE first_at < $1",
        "DELETE FROM webhook_deliveries WHERE created_at < $1 AND status <> 'pending'",
    ] {
        sqlx::query(statement).bind(cutoff).execute(pool).await?;
    }
    Ok(deleted)
}
