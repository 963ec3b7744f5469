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
        "product_rollup_hourly",
        "product_rollup_daily",
        "duration_rollup_hourly",
        "duration_rollup_daily",
        "customer_hours",
    ] {
        deleted += sqlx::query(&format!("DELETE FROM {table} WHERE bucket < $1"))
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
